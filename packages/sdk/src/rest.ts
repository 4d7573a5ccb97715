import type {
  AddMembersBody,
  BlockResponse,
  BlocksResponse,
  BlockUserBody,
  CastVoteBody,
  ChannelMuteResponse,
  ChannelResponse,
  ChannelsResponse,
  CreateChannelBody,
  CreatePollBody,
  CreateReminderBody,
  DeleteUploadResponse,
  Device,
  DraftQuery,
  DraftResponse,
  DraftsResponse,
  EmailPreferences,
  ErrorBody,
  FlagBody,
  FlagResponse,
  HideChannelBody,
  ListDraftsQuery,
  ListMentionsQuery,
  ListMessagesQuery,
  ListReactionsQuery,
  ListRemindersQuery,
  ListScheduledMessagesQuery,
  ListThreadsQuery,
  MarkDeliveredBody,
  MarkDeliveredResponse,
  MarkReadBody,
  MarkThreadReadBody,
  MarkUnreadBody,
  MemberResponse,
  MembersResponse,
  MessageActionBody,
  MessageActionResponse,
  MessageEditsResponse,
  MessageResponse,
  MessagesResponse,
  MuteChannelBody,
  MutesResponse,
  MuteUserBody,
  PagedMessagesResponse,
  PartialUpdateChannelBody,
  PinMessageBody,
  PinnedMessagesQuery,
  PollOptionResponse,
  PollResponse,
  PollVoteResponse,
  PushClientConfig,
  PushPreferences,
  PutDraftBody,
  QueryChannelsBody,
  QueryUsersBody,
  ReactionResponse,
  ReactionsResponse,
  ReadByResponse,
  RegisterDeviceBody,
  ReminderResponse,
  RemindersResponse,
  RemoveMembersBody,
  ScheduledMessageResponse,
  ScheduledMessagesResponse,
  ScheduleMessageBody,
  SearchBody,
  SearchResponse,
  SendMessageBody,
  SendReactionBody,
  StarResponse,
  StarredMessagesQuery,
  StarredMessagesResponse,
  SuggestPollOptionBody,
  SyncBody,
  SyncResponse,
  ThreadResponse,
  ThreadsResponse,
  TruncateChannelBody,
  UnmuteChannelBody,
  UnmuteUserBody,
  UnreadCounts,
  UnreadMentions,
  UpdateChannelBody,
  UpdateEmailPreferencesBody,
  UpdateMemberBody,
  UpdateMessageBody,
  UpdatePollBody,
  UpdatePushPreferencesBody,
  UpdateReminderBody,
  UpdateScheduledMessageBody,
  UpsertUsersBody,
  UserMuteResponse,
  UserResponse,
  UsersResponse,
} from '@parley/protocol';
import type { z } from 'zod';
import { ParleyApiError, ParleyNetworkError } from './errors.js';
import type { TokenManager } from './token.js';
import { type UploadData, type UploadOptions, uploadFile } from './uploads.js';

/** What a caller sends: the schema's input (defaults optional). */
export type In<S extends z.ZodType> = z.input<S>;
/** What the server answers: the schema's output. */
export type Out<S extends z.ZodType> = z.output<S>;

type Query = Record<string, string | number | boolean | undefined>;
/** A paged list query: `limit` optional (the schema's default applies). */
type Paged<S extends z.ZodType> = Omit<In<S>, 'limit'> & { limit?: number };
type Ok = { ok: true };

/** What `call` needs of an HTTP answer: a fetch `Response`, or the SDK's wrapper of an XMLHttpRequest. */
export type ResponseLike = Pick<Response, 'ok' | 'status' | 'statusText' | 'json'>;

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
    return this.call<T>((headers) => this.send(method, path, init, headers));
  }

  /**
   * Runs one HTTP exchange with the app's and the user's credentials (`send` gets the headers):
   * a 2xx answer's JSON is the result, an error answer becomes a `ParleyApiError`, and a 401 for
   * an expired or invalid token gets a fresh token and one more `send`. Every route goes through
   * here, uploads over XMLHttpRequest too.
   */
  async call<T>(send: (headers: Record<string, string>) => Promise<ResponseLike>): Promise<T> {
    const tokens = this.options.tokens();
    let token = tokens ? await tokens.get() : undefined;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'x-api-key': this.options.apiKey };
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await send(headers);
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

  /** The absolute URL of a route, with its query string (undefined values left out). */
  url(path: string, query: Query = {}): URL {
    const url = new URL(this.options.baseUrl.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(key, String(value));
    return url;
  }

  /** The fetch implementation the client was given (or the global one). */
  get fetch(): typeof fetch {
    return this.options.fetch;
  }

  private async send(
    method: string,
    path: string,
    init: { query?: Query; body?: unknown },
    headers: Record<string, string>,
  ) {
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.options.fetch(this.url(path, init.query), {
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

  private async errorBody(response: ResponseLike): Promise<ErrorBody> {
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

  // ---- uploads ----
  /** Uploads a file to the channel (progress, cancel: `options`); send `attachment` in a message. */
  uploadFile(type: string, id: string, data: UploadData, options?: UploadOptions) {
    return uploadFile(this, type, id, data, options);
  }
  /** Deletes an upload (its file and thumbnail; its URLs stop working). */
  deleteUpload(type: string, id: string, uploadId: string) {
    return this.request<Out<typeof DeleteUploadResponse>>(
      'DELETE',
      `/channels/${seg(type)}/${seg(id)}/uploads/${seg(uploadId)}`,
    );
  }

  // ---- threads ----
  /** A thread's replies, oldest first, with the same cursors as a channel's messages. */
  listReplies(
    parentId: string,
    query: Omit<In<typeof ListMessagesQuery>, 'limit'> & { limit?: number } = {},
  ) {
    return this.request<Out<typeof MessagesResponse>>('GET', `/messages/${seg(parentId)}/replies`, { query });
  }
  /** The threads the user takes part in, most recent reply first (`next` pages on). */
  listThreads(query: Omit<In<typeof ListThreadsQuery>, 'limit'> & { limit?: number } = {}) {
    return this.request<Out<typeof ThreadsResponse>>('GET', '/threads', { query });
  }
  markThreadRead(parentId: string, body: In<typeof MarkThreadReadBody> = {}) {
    return this.request<Out<typeof ThreadResponse>>('POST', `/threads/${seg(parentId)}/read`, { body });
  }

  // ---- mentions ----
  /** Messages that mention the user, newest first. */
  listMentions(
    query: Omit<In<typeof ListMentionsQuery>, 'limit' | 'unread_only'> & {
      limit?: number;
      unread_only?: boolean;
    } = {},
  ) {
    const { unread_only, ...rest } = query;
    return this.request<Out<typeof MessagesResponse>>('GET', '/mentions', {
      query: { ...rest, ...(unread_only !== undefined ? { unread_only: String(unread_only) } : {}) },
    });
  }
  unreadMentions() {
    return this.request<Out<typeof UnreadMentions>>('GET', '/mentions/unread');
  }

  // ---- reactions ----
  sendReaction(messageId: string, body: In<typeof SendReactionBody>) {
    return this.request<Out<typeof ReactionResponse>>('POST', `/messages/${seg(messageId)}/reactions`, {
      body,
    });
  }
  deleteReaction(messageId: string, type: string) {
    return this.request<Out<typeof ReactionResponse>>(
      'DELETE',
      `/messages/${seg(messageId)}/reactions/${seg(type)}`,
    );
  }
  listReactions(
    messageId: string,
    query: Omit<In<typeof ListReactionsQuery>, 'limit'> & { limit?: number } = {},
  ) {
    return this.request<Out<typeof ReactionsResponse>>('GET', `/messages/${seg(messageId)}/reactions`, {
      query,
    });
  }

  // ---- sync ----
  /** The events since `last_sync_at` (or `resync_required`): catching up after lost realtime history. */
  sync(body: In<typeof SyncBody>) {
    return this.request<Out<typeof SyncResponse>>('POST', '/sync', { body });
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

  // ---- polls ----
  createPoll(body: In<typeof CreatePollBody>) {
    return this.request<Out<typeof PollResponse>>('POST', '/polls', { body });
  }
  getPoll(pollId: string) {
    return this.request<Out<typeof PollResponse>>('GET', `/polls/${seg(pollId)}`);
  }
  updatePoll(pollId: string, body: In<typeof UpdatePollBody>) {
    return this.request<Out<typeof PollResponse>>('PATCH', `/polls/${seg(pollId)}`, { body });
  }
  suggestPollOption(pollId: string, body: In<typeof SuggestPollOptionBody>) {
    return this.request<Out<typeof PollOptionResponse>>('POST', `/polls/${seg(pollId)}/options`, { body });
  }
  castPollVote(messageId: string, pollId: string, body: In<typeof CastVoteBody>) {
    return this.request<Out<typeof PollVoteResponse>>(
      'POST',
      `/messages/${seg(messageId)}/polls/${seg(pollId)}/vote`,
      { body },
    );
  }
  removePollVote(messageId: string, pollId: string, voteId: string) {
    return this.request<Out<typeof PollVoteResponse>>(
      'DELETE',
      `/messages/${seg(messageId)}/polls/${seg(pollId)}/vote/${seg(voteId)}`,
    );
  }

  // ---- search ----
  /** Full-text search over the messages of the channels the user can read (`next` pages on). */
  search(body: In<typeof SearchBody>) {
    return this.request<Out<typeof SearchResponse>>('POST', '/search', { body });
  }

  // ---- drafts ----
  getDraft(type: string, id: string, query: In<typeof DraftQuery> = {}) {
    return this.request<Out<typeof DraftResponse>>('GET', `/channels/${seg(type)}/${seg(id)}/draft`, {
      query,
    });
  }
  saveDraft(type: string, id: string, body: In<typeof PutDraftBody>) {
    return this.request<Out<typeof DraftResponse>>('PUT', `/channels/${seg(type)}/${seg(id)}/draft`, {
      body,
    });
  }
  deleteDraft(type: string, id: string, query: In<typeof DraftQuery> = {}) {
    return this.request<{ ok: true }>('DELETE', `/channels/${seg(type)}/${seg(id)}/draft`, { query });
  }
  listDrafts(query: Omit<In<typeof ListDraftsQuery>, 'limit'> & { limit?: number } = {}) {
    return this.request<Out<typeof DraftsResponse>>('GET', '/drafts', { query });
  }

  // ---- mute, block, flag ----
  listMutes() {
    return this.request<Out<typeof MutesResponse>>('GET', '/moderation/mutes');
  }
  muteUser(body: In<typeof MuteUserBody>) {
    return this.request<Out<typeof UserMuteResponse>>('POST', '/moderation/mute-user', { body });
  }
  unmuteUser(body: In<typeof UnmuteUserBody>) {
    return this.request<{ ok: true }>('POST', '/moderation/unmute-user', { body });
  }
  muteChannel(body: In<typeof MuteChannelBody>) {
    return this.request<Out<typeof ChannelMuteResponse>>('POST', '/moderation/mute-channel', { body });
  }
  unmuteChannel(body: In<typeof UnmuteChannelBody>) {
    return this.request<{ ok: true }>('POST', '/moderation/unmute-channel', { body });
  }
  listBlocks() {
    return this.request<Out<typeof BlocksResponse>>('GET', '/moderation/blocks');
  }
  blockUser(body: In<typeof BlockUserBody>) {
    return this.request<Out<typeof BlockResponse>>('POST', '/moderation/block', { body });
  }
  unblockUser(body: In<typeof BlockUserBody>) {
    return this.request<{ ok: true }>('POST', '/moderation/unblock', { body });
  }
  /** Flags a message (`message_id`) or a user (`target_id`) for the moderators. */
  flag(body: In<typeof FlagBody>) {
    return this.request<Out<typeof FlagResponse>>('POST', '/moderation/flag', { body });
  }

  // ---- edit history, message actions ----
  /** The versions an edited message replaced, oldest first. */
  messageEdits(messageId: string) {
    return this.request<Out<typeof MessageEditsResponse>>('GET', `/messages/${seg(messageId)}/edits`);
  }
  /** Presses a button of an ephemeral preview (for /giphy: `{ image_action: 'send' | 'shuffle' | 'cancel' }`). */
  messageAction(messageId: string, body: In<typeof MessageActionBody>) {
    return this.request<Out<typeof MessageActionResponse>>('POST', `/messages/${seg(messageId)}/action`, {
      body,
    });
  }

  // ---- pins, stars ----
  pinMessage(messageId: string, body: In<typeof PinMessageBody> = {}) {
    return this.request<Out<typeof MessageResponse>>('POST', `/messages/${seg(messageId)}/pin`, { body });
  }
  unpinMessage(messageId: string) {
    return this.request<Out<typeof MessageResponse>>('DELETE', `/messages/${seg(messageId)}/pin`);
  }
  /** The channel's pinned messages, most recently pinned first (`next` pages on). */
  pinnedMessages(type: string, id: string, query: Paged<typeof PinnedMessagesQuery> = {}) {
    return this.request<Out<typeof PagedMessagesResponse>>(
      'GET',
      `/channels/${seg(type)}/${seg(id)}/pinned`,
      {
        query,
      },
    );
  }
  starMessage(messageId: string) {
    return this.request<Out<typeof StarResponse>>('POST', `/messages/${seg(messageId)}/star`, { body: {} });
  }
  unstarMessage(messageId: string) {
    return this.request<Out<typeof StarResponse>>('DELETE', `/messages/${seg(messageId)}/star`);
  }
  /** The user's starred messages, most recently starred first (`next` pages on). */
  starredMessages(query: Paged<typeof StarredMessagesQuery> = {}) {
    return this.request<Out<typeof StarredMessagesResponse>>('GET', '/starred', { query });
  }

  // ---- reminders ----
  createReminder(messageId: string, body: In<typeof CreateReminderBody>) {
    return this.request<Out<typeof ReminderResponse>>('POST', `/messages/${seg(messageId)}/reminder`, {
      body,
    });
  }
  updateReminder(messageId: string, body: In<typeof UpdateReminderBody>) {
    return this.request<Out<typeof ReminderResponse>>('PATCH', `/messages/${seg(messageId)}/reminder`, {
      body,
    });
  }
  cancelReminder(messageId: string) {
    return this.request<Ok>('DELETE', `/messages/${seg(messageId)}/reminder`);
  }
  listReminders(query: Paged<typeof ListRemindersQuery> = {}) {
    return this.request<Out<typeof RemindersResponse>>('GET', '/reminders', { query });
  }

  // ---- scheduled messages ----
  scheduleMessage(type: string, id: string, body: In<typeof ScheduleMessageBody>) {
    return this.request<Out<typeof ScheduledMessageResponse>>(
      'POST',
      `/channels/${seg(type)}/${seg(id)}/scheduled-messages`,
      { body },
    );
  }
  listScheduledMessages(query: Paged<typeof ListScheduledMessagesQuery> = {}) {
    return this.request<Out<typeof ScheduledMessagesResponse>>('GET', '/scheduled-messages', { query });
  }
  getScheduledMessage(scheduledId: string) {
    return this.request<Out<typeof ScheduledMessageResponse>>(
      'GET',
      `/scheduled-messages/${seg(scheduledId)}`,
    );
  }
  updateScheduledMessage(scheduledId: string, body: In<typeof UpdateScheduledMessageBody>) {
    return this.request<Out<typeof ScheduledMessageResponse>>(
      'PATCH',
      `/scheduled-messages/${seg(scheduledId)}`,
      { body },
    );
  }
  cancelScheduledMessage(scheduledId: string) {
    return this.request<Ok>('DELETE', `/scheduled-messages/${seg(scheduledId)}`);
  }

  // ---- receipts, mark unread ----
  /** Marks channels delivered (up to `message_id`, or everything so far). */
  markDelivered(body: In<typeof MarkDeliveredBody>) {
    return this.request<Out<typeof MarkDeliveredResponse>>('POST', '/channels/delivered', { body });
  }
  /** Which members read (and received) a message. */
  readBy(messageId: string) {
    return this.request<Out<typeof ReadByResponse>>('GET', `/messages/${seg(messageId)}/read-by`);
  }
  /** Marks `message_id` and everything after it unread. */
  markUnread(type: string, id: string, body: In<typeof MarkUnreadBody>) {
    return this.request<UnreadCounts>('POST', `/channels/${seg(type)}/${seg(id)}/unread`, { body });
  }

  // ---- push, email ----
  pushConfig() {
    return this.request<Out<typeof PushClientConfig>>('GET', '/push/config');
  }
  /** Registers a Web Push subscription, a OneSignal subscription id or an APNs/FCM token (again: updates it). */
  registerDevice(body: In<typeof RegisterDeviceBody>) {
    return this.request<{ device: Out<typeof Device> }>('POST', '/devices', { body });
  }
  listDevices() {
    return this.request<{ devices: Out<typeof Device>[] }>('GET', '/devices');
  }
  deleteDevice(deviceId: string) {
    return this.request<Ok>('DELETE', `/devices/${seg(deviceId)}`);
  }
  pushPreferences() {
    return this.request<{ preferences: Out<typeof PushPreferences> }>('GET', '/push/preferences');
  }
  updatePushPreferences(body: In<typeof UpdatePushPreferencesBody>) {
    return this.request<{ preferences: Out<typeof PushPreferences> }>('PATCH', '/push/preferences', { body });
  }
  emailPreferences() {
    return this.request<{ preferences: Out<typeof EmailPreferences> }>('GET', '/email/preferences');
  }
  updateEmailPreferences(body: In<typeof UpdateEmailPreferencesBody>) {
    return this.request<{ preferences: Out<typeof EmailPreferences> }>('PUT', '/email/preferences', { body });
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
