import type {
  AddMembersBody,
  ChannelResponse,
  ChannelsResponse,
  CreateChannelBody,
  ErrorBody,
  HideChannelBody,
  ListMessagesQuery,
  MarkReadBody,
  MemberResponse,
  MembersResponse,
  MessageResponse,
  MessagesResponse,
  PartialUpdateChannelBody,
  QueryChannelsBody,
  QueryUsersBody,
  RemoveMembersBody,
  SendMessageBody,
  TruncateChannelBody,
  UnreadCounts,
  UpdateChannelBody,
  UpdateMemberBody,
  UpdateMessageBody,
  UpsertUsersBody,
  UserResponse,
  UsersResponse,
} from '@parley/protocol';
import type { z } from 'zod';
import { ParleyApiError, ParleyNetworkError } from './errors.js';
import type { TokenManager } from './token.js';

/** What a caller sends: the schema's input (defaults optional). */
export type In<S extends z.ZodType> = z.input<S>;
/** What the server answers: the schema's output. */
export type Out<S extends z.ZodType> = z.output<S>;

type Query = Record<string, string | number | boolean | undefined>;

export interface RestOptions {
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  tokens: () => TokenManager | undefined;
}

const seg = encodeURIComponent;

/**
 * The typed REST layer: one method per route, bodies and answers typed from the protocol's zod
 * schemas. Adds the api key and the user token; on a 401 for an expired or invalid token it asks
 * the token provider for a new token once and repeats the request.
 */
export class RestClient {
  constructor(private readonly options: RestOptions) {}

  async request<T>(method: string, path: string, init: { query?: Query; body?: unknown } = {}): Promise<T> {
    const tokens = this.options.tokens();
    let token = tokens ? await tokens.get() : undefined;
    for (let attempt = 0; ; attempt++) {
      const response = await this.send(method, path, init, token);
      if (response.ok) return (await response.json()) as T;
      const body = await this.errorBody(response);
      const tokenProblem = body.code === 'AUTH_TOKEN_EXPIRED' || body.code === 'AUTH_TOKEN_INVALID';
      if (response.status === 401 && tokenProblem && tokens?.canRefresh && attempt === 0) {
        token = await tokens.refresh(token);
        continue;
      }
      throw new ParleyApiError(response.status, body);
    }
  }

  private async send(method: string, path: string, init: { query?: Query; body?: unknown }, token?: string) {
    const url = new URL(this.options.baseUrl.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(init.query ?? {}))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const headers: Record<string, string> = { 'x-api-key': this.options.apiKey };
    if (token) headers.authorization = `Bearer ${token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.options.fetch(url, {
        method,
        headers,
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      });
    } catch (cause) {
      throw new ParleyNetworkError(`${method} ${path} failed: ${(cause as Error)?.message ?? cause}`, {
        cause,
      });
    }
  }

  private async errorBody(response: Response): Promise<ErrorBody> {
    try {
      const body = (await response.json()) as ErrorBody;
      if (body && typeof body.code === 'string') return body;
    } catch {}
    return { code: response.status >= 500 ? 'INTERNAL' : 'VALIDATION_FAILED', message: response.statusText };
  }

  // ---- channels ----
  createChannel(body: In<typeof CreateChannelBody>) {
    return this.request<Out<typeof ChannelResponse>>('POST', '/channels', { body });
  }
  queryChannels(body: In<typeof QueryChannelsBody>) {
    return this.request<Out<typeof ChannelsResponse>>('POST', '/channels/query', { body });
  }
  getChannel(type: string, id: string) {
    return this.request<Out<typeof ChannelResponse>>('GET', `/channels/${seg(type)}/${seg(id)}`);
  }
  updateChannel(type: string, id: string, body: In<typeof UpdateChannelBody>) {
    return this.request<Out<typeof ChannelResponse>>('PUT', `/channels/${seg(type)}/${seg(id)}`, { body });
  }
  partialUpdateChannel(type: string, id: string, body: In<typeof PartialUpdateChannelBody>) {
    return this.request<Out<typeof ChannelResponse>>('PATCH', `/channels/${seg(type)}/${seg(id)}`, { body });
  }
  truncateChannel(type: string, id: string, body: In<typeof TruncateChannelBody> = {}) {
    return this.request<Out<typeof ChannelResponse>>('POST', `/channels/${seg(type)}/${seg(id)}/truncate`, {
      body,
    });
  }
  hideChannel(type: string, id: string, body: In<typeof HideChannelBody> = {}) {
    return this.request<{ ok: true }>('POST', `/channels/${seg(type)}/${seg(id)}/hide`, { body });
  }
  showChannel(type: string, id: string) {
    return this.request<{ ok: true }>('POST', `/channels/${seg(type)}/${seg(id)}/show`, { body: {} });
  }
  deleteChannel(type: string, id: string) {
    return this.request<{ channel: Out<typeof ChannelResponse>['channel']['channel'] }>(
      'DELETE',
      `/channels/${seg(type)}/${seg(id)}`,
    );
  }

  // ---- members ----
  addMembers(type: string, id: string, body: In<typeof AddMembersBody>) {
    return this.request<Out<typeof MembersResponse>>('POST', `/channels/${seg(type)}/${seg(id)}/members`, {
      body,
    });
  }
  removeMembers(type: string, id: string, body: In<typeof RemoveMembersBody>) {
    return this.request<{ ok: true }>('POST', `/channels/${seg(type)}/${seg(id)}/members/remove`, { body });
  }
  updateMember(type: string, id: string, userId: string, body: In<typeof UpdateMemberBody>) {
    return this.request<Out<typeof MemberResponse>>(
      'PATCH',
      `/channels/${seg(type)}/${seg(id)}/members/${seg(userId)}`,
      { body },
    );
  }

  // ---- messages ----
  listMessages(
    type: string,
    id: string,
    query: Omit<In<typeof ListMessagesQuery>, 'limit'> & { limit?: number } = {},
  ) {
    return this.request<Out<typeof MessagesResponse>>('GET', `/channels/${seg(type)}/${seg(id)}/messages`, {
      query,
    });
  }
  sendMessage(type: string, id: string, body: In<typeof SendMessageBody>) {
    return this.request<Out<typeof MessageResponse>>('POST', `/channels/${seg(type)}/${seg(id)}/messages`, {
      body,
    });
  }
  getMessage(messageId: string) {
    return this.request<Out<typeof MessageResponse>>('GET', `/messages/${seg(messageId)}`);
  }
  updateMessage(messageId: string, body: In<typeof UpdateMessageBody>) {
    return this.request<Out<typeof MessageResponse>>('PATCH', `/messages/${seg(messageId)}`, { body });
  }
  deleteMessage(messageId: string, opts: { hard?: boolean } = {}) {
    return this.request<Out<typeof MessageResponse>>('DELETE', `/messages/${seg(messageId)}`, {
      query: { hard: opts.hard ? 'true' : undefined },
    });
  }

  // ---- read state ----
  markRead(type: string, id: string, body: In<typeof MarkReadBody> = {}) {
    return this.request<UnreadCounts>('POST', `/channels/${seg(type)}/${seg(id)}/read`, { body });
  }
  markAllRead() {
    return this.request<UnreadCounts>('POST', '/channels/read', { body: {} });
  }
  unread() {
    return this.request<UnreadCounts>('GET', '/unread');
  }

  // ---- users ----
  getUser(userId: string) {
    return this.request<Out<typeof UserResponse>>('GET', `/users/${seg(userId)}`);
  }
  upsertUsers(body: In<typeof UpsertUsersBody>) {
    return this.request<Out<typeof UsersResponse>>('POST', '/users', { body });
  }
  queryUsers(body: In<typeof QueryUsersBody>) {
    return this.request<Out<typeof UsersResponse>>('POST', '/users/query', { body });
  }
}
