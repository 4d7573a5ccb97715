import type {
  Block,
  CreateReminderBody,
  Draft,
  Message,
  PutDraftBody,
  ScheduledMessage,
  SendMessageBody,
  SortSpec,
  Thread,
  UnreadMentions,
  UpdateScheduledMessageBody,
  UserInput,
} from '@parley/protocol';
import type { z } from 'zod';
import { ChannelHandle, type ChannelHost } from './channel.js';
import { Emitter } from './emitter.js';
import { isRetryable, ParleyApiError } from './errors.js';
import { FileMessages, type FileToSend } from './file-messages.js';
import { Outbox } from './outbox.js';
import {
  Connection,
  type ConnectionState,
  channelTopic,
  type SubscriptionStatus,
  userTopic,
} from './realtime/connection.js';
import { RestClient } from './rest.js';
import { Store } from './state/store.js';
import {
  draftKey,
  type ParleyState,
  type PresenceEntry,
  type ServerEvent,
  type ServerEventName,
  type ServerEventOf,
} from './state/types.js';
import { MemoryStore } from './stores/memory.js';
import { Persister } from './stores/persister.js';
import type { OutboxItem, PersistentStore, StreamPosition, TopicPosition } from './stores/types.js';
import { restSync, type SyncSource } from './sync.js';
import { TokenManager, type TokenOrProvider } from './token.js';

export interface ParleyClientOptions {
  /** The server's HTTP address, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** The realtime endpoint; defaults to `baseUrl` with ws(s):// and `/connection/websocket`. */
  wsUrl?: string;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** A WebSocket constructor where there is no global one (Node 20: the WebSocket class of the `ws` package). */
  WebSocket?: unknown;
  /** Where the cache and the outbox live (default: memory). */
  store?: PersistentStore;
  /**
   * How to catch up when realtime recovery fails (default: the server's POST /sync; when it
   * answers resync_required or fails, the channels are refetched). `refetchOnly` skips /sync.
   */
  sync?: SyncSource;
  /** Messages per page when a channel is (re)loaded. */
  messageLimit?: number;
  /** Reconnect backoff bounds in ms (jitter is applied by the realtime client). */
  reconnect?: { minDelay?: number; maxDelay?: number };
}

export interface ConnectionChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** Why the connection closed, for `disconnected`. */
  code?: number;
  reason?: string;
}

type EventListeners = { [K in ServerEventName]: (event: ServerEventOf<K>) => void };

/** Everything `client.on` can listen to: every server event by name, plus the client's own. */
export type ClientEvents = EventListeners & {
  /** Every server event, after the store applied it. */
  event: (event: ServerEvent) => void;
  'connection.changed': (change: ConnectionChange) => void;
  'connection.connecting': (change: ConnectionChange) => void;
  'connection.connected': (change: ConnectionChange) => void;
  'connection.offline': (change: ConnectionChange) => void;
  'connection.recovering': (change: ConnectionChange) => void;
  'connection.disconnected': (change: ConnectionChange) => void;
  /** A background task failed (a refetch, a cache write). */
  error: (error: unknown) => void;
};

export type Sort = z.input<typeof SortSpec>;

export interface QueryChannelsOptions {
  /** Subscribe to each channel's events (default true). */
  watch?: boolean;
  limit?: number;
  offset?: number;
  member_limit?: number;
}

/** The user to connect as: at least the id; other fields are written to the server. */
export type ConnectUser = Pick<UserInput, 'id'> & Partial<Omit<UserInput, 'id' | 'role' | 'banned'>>;

/** How long a typing indicator lasts without a new typing.start (the server stops it after 6 s). */
const TYPING_TIMEOUT_MS = 7000;

/** The client for one app and one user at a time. See docs/guides/sdk.md. */
export class ParleyClient {
  readonly store = new Store();
  readonly rest: RestClient;
  private readonly options: ParleyClientOptions;
  private readonly persistent: PersistentStore;
  private readonly sync: SyncSource;
  private readonly emitter = new Emitter<ClientEvents>();
  private session: Session | undefined;

  constructor(
    readonly apiKey: string,
    options: ParleyClientOptions,
  ) {
    this.options = options;
    this.persistent = options.store ?? new MemoryStore();
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchImpl) throw new Error('no fetch available: pass options.fetch');
    this.rest = new RestClient({
      baseUrl: options.baseUrl,
      apiKey,
      fetch: fetchImpl,
      tokens: () => this.session?.tokens,
    });
    this.sync = options.sync ?? restSync(this.rest);
  }

  get userId(): string | undefined {
    return this.session?.userId;
  }

  get connectionState(): ConnectionState {
    return this.session?.connection.connectionState ?? 'disconnected';
  }

  /** Listens to a server event (typed by the EventMap) or a client event; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(name: K, listener: ClientEvents[K]): () => void {
    return this.emitter.on(name, listener);
  }

  off<K extends keyof ClientEvents>(name: K, listener: ClientEvents[K]): void {
    this.emitter.off(name, listener);
  }

  /**
   * Connects as `user`. Cached data is in the store when this resolves; it resolves when the
   * realtime connection is up, or as soon as it failed once (offline: the client keeps retrying
   * and the outbox waits). Rejects when the server refuses the user or the token for good.
   * `token` is the user's JWT, or a function returning a fresh one (called again on expiry).
   */
  async connectUser(user: ConnectUser, token: TokenOrProvider): Promise<void> {
    if (this.session)
      throw new Error(`already connected as ${this.session.userId}: call disconnectUser() first`);
    const session = new Session(this, user.id, new TokenManager(token));
    this.session = session;
    try {
      await session.start();
    } catch (error) {
      if (this.session === session) this.session = undefined;
      await session.stop();
      throw error;
    }
    const { id: _id, ...fields } = user;
    if (Object.keys(fields).length > 0) {
      try {
        const { users } = await this.rest.upsertUsers({ users: [user] });
        this.store.dispatch({ type: 'rest/users', users });
      } catch (error) {
        if (!isRetryable(error)) throw error;
      }
    }
  }

  /** Disconnects and forgets the user's state in memory; the persistent cache and outbox stay. */
  async disconnectUser(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.stop();
    this.store.dispatch({ type: 'local/reset', userId: null });
  }

  /** A handle on one channel (the same object for the same channel while connected). */
  channel(type: string, id: string): ChannelHandle {
    return this.requireSession().channel(type, id);
  }

  /**
   * Queries the user's channels (a Stream-style filter and sort), stores them as one list and,
   * with `watch` (the default), subscribes to their events. Offline, answers from the cache when
   * the same query was made before, and runs it again once connected.
   */
  async queryChannels(
    filter: Record<string, unknown> = {},
    sort: Sort = [{ field: 'last_message_at', direction: -1 }],
    options: QueryChannelsOptions = {},
  ): Promise<ChannelHandle[]> {
    return this.requireSession().queryChannels(filter, sort, options);
  }

  /** The key under which a query's list is kept in `store.getState().queries`. */
  queryKey(filter: Record<string, unknown> = {}, sort: Sort = [{ field: 'last_message_at', direction: -1 }]) {
    return queryKey(filter, sort);
  }

  /**
   * Loads the first page of the threads the user takes part in (most recent reply first) into
   * `store.getState().threadList` / `threads`; `loadMoreThreads` appends the next page.
   */
  async queryThreads(options: { cid?: string; limit?: number } = {}): Promise<Thread[]> {
    const session = this.requireSession();
    session.threadQuery = options;
    const { threads, next } = await this.rest.listThreads(options);
    this.store.dispatch({ type: 'rest/threads', threads, next, append: false });
    return threads;
  }

  /** The next page of the thread list; resolves with [] at the end. */
  async loadMoreThreads(): Promise<Thread[]> {
    const session = this.requireSession();
    const cursor = this.store.getState().threadList?.next;
    if (!cursor) return [];
    const { threads, next } = await this.rest.listThreads({ ...session.threadQuery, next: cursor });
    this.store.dispatch({ type: 'rest/threads', threads, next, append: true });
    return threads;
  }

  /**
   * Loads the newest messages that mention the user into `store.getState().mentions` (kept current
   * by notification.mention); `loadOlderMentions` pages back.
   */
  async queryMentions(
    options: { cid?: string; limit?: number; unread_only?: boolean } = {},
  ): Promise<Message[]> {
    const session = this.requireSession();
    session.mentionQuery = options;
    const limit = options.limit ?? 25;
    const { messages } = await this.rest.listMentions({ ...options, limit });
    this.store.dispatch({ type: 'rest/mentions', messages, append: false, limit });
    return messages;
  }

  async loadOlderMentions(): Promise<Message[]> {
    const session = this.requireSession();
    const mentions = this.store.getState().mentions;
    const last = mentions?.messages.at(-1);
    if (!mentions?.hasOlder || !last) return [];
    const limit = session.mentionQuery.limit ?? 25;
    const { messages } = await this.rest.listMentions({ ...session.mentionQuery, limit, id_lt: last.id });
    this.store.dispatch({ type: 'rest/mentions', messages, append: true, limit });
    return messages;
  }

  /** Unread mentions per channel (mentions after the user's read position). */
  unreadMentions(): Promise<UnreadMentions> {
    return this.rest.unreadMentions();
  }

  // ---- the user's own lists (kept current by the events of the user's channel) ----

  /** Blocks a user: their messages leave the lists at once, and later ones never enter the store. */
  async blockUser(targetId: string): Promise<Block> {
    const { block } = await this.rest.blockUser({ target_id: targetId });
    this.setBlocks((blocks) => [...blocks.filter((b) => b.target_id !== targetId), block]);
    return block;
  }

  /** Unblocks a user (their older messages come back when a list is fetched again). */
  async unblockUser(targetId: string): Promise<void> {
    await this.rest.unblockUser({ target_id: targetId });
    this.setBlocks((blocks) => blocks.filter((b) => b.target_id !== targetId));
  }

  private setBlocks(change: (blocks: Block[]) => Block[]) {
    this.store.dispatch({ type: 'rest/blocks', blocks: change(Object.values(this.store.getState().blocks)) });
  }

  /** Pins a message in its channel (until `expires_at`, or until unpinned). */
  async pinMessage(messageId: string, options: { expires_at?: string } = {}): Promise<Message> {
    return this.patched(await this.rest.pinMessage(messageId, options));
  }

  async unpinMessage(messageId: string): Promise<Message> {
    return this.patched(await this.rest.unpinMessage(messageId));
  }

  /** A server copy of a message, applied where the message is loaded (not added where it is not). */
  private patched({ message }: { message: Message }): Message {
    this.store.dispatch({ type: 'local/message.patch', message });
    return message;
  }

  /** Stars (or with `starred: false` unstars) a message for the user: `state.starred`. */
  async starMessage(messageId: string, starred = true): Promise<void> {
    const answer = await (starred ? this.rest.starMessage(messageId) : this.rest.unstarMessage(messageId));
    this.store.dispatch({ type: 'rest/star', message_id: messageId, starred_at: answer.starred_at });
  }

  /** Sets (or moves) the user's reminder about a message: `state.reminders[messageId]`. */
  async setReminder(messageId: string, body: Omit<z.input<typeof CreateReminderBody>, 'user_id'>) {
    const exists = this.store.getState().reminders[messageId]?.delivered_at === null;
    const { reminder } = exists
      ? await this.rest.updateReminder(messageId, body)
      : await this.rest.createReminder(messageId, body);
    this.store.dispatch({ type: 'rest/reminders', reminders: [reminder] });
    return reminder;
  }

  async cancelReminder(messageId: string): Promise<void> {
    await this.rest.cancelReminder(messageId);
    this.store.dispatch({ type: 'local/removed', what: 'reminders', key: messageId });
  }

  /** Loads the user's reminders (upcoming by default) into `state.reminders`. */
  async loadReminders(query: Parameters<RestClient['listReminders']>[0] = {}) {
    const before = this.store.getState().reminders;
    const page = await this.rest.listReminders(query);
    this.store.dispatch({ type: 'rest/reminders', reminders: page.reminders });
    const ids = page.reminders.map((r) => r.message_id);
    const status = query.status ?? 'upcoming';
    this.dropMissing('reminders', before, query, page, ids, (r) =>
      status === 'all' ? true : (r.delivered_at === null) === (status === 'upcoming'),
    );
    return page;
  }

  /** Loads the user's scheduled messages into `state.scheduledMessages` (schedule with `channel.scheduleMessage`). */
  async loadScheduledMessages(query: Parameters<RestClient['listScheduledMessages']>[0] = {}) {
    const before = this.store.getState().scheduledMessages;
    const page = await this.rest.listScheduledMessages(query);
    this.store.dispatch({ type: 'rest/scheduled', scheduled_messages: page.scheduled_messages });
    const ids = page.scheduled_messages.map((m) => m.id);
    this.dropMissing(
      'scheduledMessages',
      before,
      query,
      page,
      ids,
      (m) => (!query.cid || m.cid === query.cid) && (!query.status || m.status === query.status),
    );
    return page;
  }

  async updateScheduledMessage(
    id: string,
    body: Omit<z.input<typeof UpdateScheduledMessageBody>, 'user_id'>,
  ): Promise<ScheduledMessage> {
    const { scheduled_message } = await this.rest.updateScheduledMessage(id, body);
    this.store.dispatch({ type: 'rest/scheduled', scheduled_messages: [scheduled_message] });
    return scheduled_message;
  }

  async cancelScheduledMessage(id: string): Promise<void> {
    await this.rest.cancelScheduledMessage(id);
    this.store.dispatch({ type: 'local/removed', what: 'scheduledMessages', key: id });
  }

  /** Loads the user's drafts into `state.drafts` (by `draftKey(cid, parent_id)`). */
  async loadDrafts(query: Parameters<RestClient['listDrafts']>[0] = {}) {
    const before = this.store.getState().drafts;
    const page = await this.rest.listDrafts(query);
    this.store.dispatch({ type: 'rest/drafts', drafts: page.drafts });
    const keys = page.drafts.map((d) => draftKey(d.cid, d.parent_id));
    this.dropMissing('drafts', before, query, page, keys, (d) => !query.cid || d.cid === query.cid);
    return page;
  }

  /**
   * The server wins over the cache: after a complete answer (one page, no cursor) for the user,
   * entries in its scope that were known before the request (restored from the cache, say),
   * are unchanged since and are not in the answer were deleted elsewhere.
   */
  private dropMissing<K extends 'drafts' | 'reminders' | 'scheduledMessages'>(
    what: K,
    before: ParleyState[K],
    query: { next?: string; user_id?: string },
    page: { next: string | null },
    answered: string[],
    inScope: (value: ParleyState[K][string]) => boolean,
  ) {
    if (query.next || page.next !== null || (query.user_id && query.user_id !== this.session?.userId)) return;
    const now: Record<string, unknown> = this.store.getState()[what];
    for (const [key, value] of Object.entries(before) as [string, ParleyState[K][string]][])
      if (now[key] === value && !answered.includes(key) && inScope(value))
        this.store.dispatch({ type: 'local/removed', what, key });
  }

  /** Saves the draft of a channel (or of a thread in it, with `parent_id`). */
  async saveDraft(cid: string, body: Omit<z.input<typeof PutDraftBody>, 'user_id'>): Promise<Draft> {
    const { type, id } = splitCid(cid);
    const { draft } = await this.rest.saveDraft(type, id, body);
    this.store.dispatch({ type: 'rest/drafts', drafts: [draft] });
    return draft;
  }

  async deleteDraft(cid: string, parentId?: string): Promise<void> {
    const { type, id } = splitCid(cid);
    await this.rest.deleteDraft(type, id, parentId ? { parent_id: parentId } : {});
    this.store.dispatch({ type: 'local/removed', what: 'drafts', key: draftKey(cid, parentId) });
  }

  /**
   * A user's presence as far as the client knows it: from user.presence events of watched
   * channels and `channel.queryPresence()`; offline with the stored last activity otherwise.
   */
  presence(userId: string): PresenceEntry {
    const state = this.store.getState();
    return (
      state.presence[userId] ?? { online: false, last_active_at: state.users[userId]?.last_active_at ?? null }
    );
  }

  /** Calls `listener` whenever a user's presence changes; returns the unsubscribe function. */
  onPresence(userId: string, listener: (presence: PresenceEntry) => void): () => void {
    return this.store.select(
      (s) => s.presence[userId],
      () => listener(this.presence(userId)),
      {
        fireImmediately: false,
      },
    );
  }

  /** Sends a failed message again (a message with files uploads the files not uploaded yet). */
  retryMessage(clientMsgId: string): Promise<Message> {
    return this.requireSession().retryMessage(clientMsgId);
  }

  /** Removes a failed message from the outbox and the message list (a message with files: see `cancelUpload`). */
  async discardMessage(clientMsgId: string): Promise<void> {
    const session = this.requireSession();
    if (!session.files.cancel(clientMsgId)) await session.outbox.discard(clientMsgId);
  }

  /**
   * Cancels the uploads of a message sent with files: they stop, files already uploaded are
   * deleted, the message leaves the list and its send rejects with `ParleyUploadCancelledError`.
   * False when its files are no longer uploading (the message is in the outbox by then).
   */
  cancelUpload(clientMsgId: string): boolean {
    return this.session?.files.cancel(clientMsgId) ?? false;
  }

  /** Messages not yet confirmed by the server, in send order. */
  get outbox(): OutboxItem[] {
    return this.session?.outbox.pending ?? [];
  }

  /** Writes pending cache changes now (tests; before a page unload). */
  flush(): Promise<void> {
    return this.session?.persister.flush() ?? Promise.resolve();
  }

  /** @internal */
  get _internals() {
    return { options: this.options, persistent: this.persistent, sync: this.sync, emitter: this.emitter };
  }

  private requireSession(): Session {
    if (!this.session) throw new Error('call connectUser() first');
    return this.session;
  }
}

export function queryKey(filter: Record<string, unknown>, sort: Sort): string {
  return JSON.stringify({ filter: canonical(filter), sort: sort.map((s) => [s.field, s.direction ?? -1]) });
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}

function uuid(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const splitCid = (cid: string) => {
  const at = cid.indexOf(':');
  return { type: cid.slice(0, at), id: cid.slice(at + 1) };
};

interface WatchedQuery {
  filter: Record<string, unknown>;
  sort: Sort;
  options: QueryChannelsOptions;
  stale: boolean;
}

/** One connected user: realtime link, persistence, outbox and what is being watched. */
class Session implements ChannelHost {
  readonly connection: Connection;
  readonly persister: Persister;
  readonly outbox: Outbox;
  readonly files: FileMessages;
  readonly store: Store;
  readonly rest: RestClient;
  private readonly emitter: Emitter<ClientEvents>;
  private readonly handles = new Map<string, ChannelHandle>();
  /** Watched channels, and whether their messages are loaded too. */
  private readonly watched = new Map<string, { messages: boolean }>();
  /** Watched channels whose data still has to be (re)loaded once the network is back. */
  private readonly needsLoad = new Set<string>();
  private readonly watchInFlight = new Set<string>();
  private readonly loading = new Map<string, Promise<void>>();
  /** Events held back while their channel is being fetched (applied after the fetch). */
  private readonly held = new Map<string, ServerEvent[]>();
  private readonly queries = new Map<string, WatchedQuery>();
  private readonly pendingReads = new Map<string, string | undefined>();
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private unsubscribeStore: (() => void) | undefined;
  threadQuery: { cid?: string; limit?: number } = {};
  mentionQuery: { cid?: string; limit?: number; unread_only?: boolean } = {};
  /** Per realtime topic: stream position and the time of the last applied event (persisted). */
  private readonly positions = new Map<string, TopicPosition>();
  /** Channels whose first subscribe resumed from a saved position: settles once caught up. */
  private readonly resumed = new Map<string, Promise<void>>();
  private catchUpBatch: { since: Map<string, string | undefined>; done: Promise<void> } | undefined;
  private stopped = false;
  private requeryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly client: ParleyClient,
    readonly userId: string,
    readonly tokens: TokenManager,
  ) {
    this.store = client.store;
    this.rest = client.rest;
    const { options, persistent, emitter } = client._internals;
    this.emitter = emitter;
    this.store.dispatch({ type: 'local/reset', userId });
    this.persister = new Persister(persistent, userId, this.store.getState(), (e) =>
      emitter.emit('error', e),
    );
    this.outbox = new Outbox({
      store: this.store,
      userId,
      now: () => this.now(),
      send: async (item) => {
        const { type, id } = splitCid(item.cid);
        return (await this.rest.sendMessage(type, id, item.body)).message;
      },
      persist: (change) => {
        this.persister.add({
          ...(change.put ? { putOutbox: change.put } : {}),
          ...(change.delete ? { deleteOutbox: change.delete } : {}),
        });
        return this.persister.flush();
      },
    });
    this.files = new FileMessages({
      store: this.store,
      userId,
      upload: (cid, data, opts) => {
        const { type, id } = splitCid(cid);
        return this.rest.uploadFile(type, id, data, opts);
      },
      deleteUpload: (cid, uploadId) => {
        const { type, id } = splitCid(cid);
        return this.rest.deleteUpload(type, id, uploadId);
      },
      enqueue: (item) => this.outbox.add(item),
      online: () => this.connection.connectionState === 'connected',
    });
    const base =
      options.wsUrl ?? `${options.baseUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/connection/websocket`;
    const url = `${base}${base.includes('?') ? '&' : '?'}api_key=${encodeURIComponent(client.apiKey)}`;
    this.connection = new Connection({
      url,
      tokens,
      websocket: options.WebSocket,
      minReconnectDelay: options.reconnect?.minDelay,
      maxReconnectDelay: options.reconnect?.maxDelay,
      hooks: {
        onEvent: (event, topic) => this.receive(event, topic),
        onPosition: (topic, position) => this.savePosition(topic, position),
        onState: (state, detail) => this.onState(state, detail),
        onSubscribed: (topic, status) => this.onSubscribed(topic, status),
        onUnsubscribed: (topic) => {
          if (topic.startsWith('chat:channel:')) this.unwatchChannel(topic.slice('chat:channel:'.length));
        },
      },
    });
  }

  private previousState: ConnectionState = 'disconnected';
  private markUserLoaded!: () => void;
  /** Settles once the user's own state (unread counts, blocks, mutes) was first loaded, or failed to. */
  private readonly userLoaded = new Promise<void>((resolve) => (this.markUserLoaded = resolve));

  async start(): Promise<void> {
    const { persistent } = this.client._internals;
    const cache = await persistent.load(this.userId);
    this.store.dispatch({ type: 'local/hydrate', cache });
    for (const [topic, position] of Object.entries(cache.positions)) this.positions.set(topic, position);
    this.outbox.load(cache.outbox);
    for (const item of cache.outbox) this.lastNow = Math.max(this.lastNow, Date.parse(item.created_at));
    // What came from the cache is already stored: only later changes are written.
    this.persister.update(this.store.getState());
    await this.persister.flush();
    this.unsubscribeStore = this.store.subscribe((state) => this.persister.update(state));

    // The token first: a provider is called now, so a failure rejects connectUser.
    try {
      await this.tokens.get();
    } catch (error) {
      if (!isRetryable(error)) throw error;
    }
    const outcome = new Promise<void>((resolve, reject) => {
      const offState = this.emitter.on('connection.changed', (change) => {
        if (change.state === 'connected' || change.state === 'offline') done();
        else if (change.state === 'disconnected')
          done(new Error(`realtime connection refused: ${change.code} ${change.reason}`));
      });
      const timer = setTimeout(() => done(), 10_000);
      const done = (error?: Error) => {
        offState();
        clearTimeout(timer);
        error ? reject(error) : resolve();
      };
    });
    void this.connection.watch(userTopic(this.userId), this.savedPosition(userTopic(this.userId)));
    this.connection.connect();
    await outcome;
    // Online: the user's blocks (and mutes, unread counts) are known before any channel is
    // watched, so a blocked user's message never shows, not even for a moment.
    if (this.connection.connectionState === 'connected') {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.userLoaded, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
    this.outbox.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.outbox.stop();
    this.files.stop();
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    if (this.requeryTimer) clearTimeout(this.requeryTimer);
    this.connection.disconnect();
    this.unsubscribeStore?.();
    await this.persister.flush();
  }

  private lastNow = 0;

  /** Client time, strictly increasing: queued messages keep the order they were written in. */
  now(): string {
    this.lastNow = Math.max(Date.now(), this.lastNow + 1);
    return new Date(this.lastNow).toISOString();
  }

  channel(type: string, id: string): ChannelHandle {
    const cid = `${type}:${id}`;
    let handle = this.handles.get(cid);
    if (!handle) {
      handle = new ChannelHandle(this, type, id);
      this.handles.set(cid, handle);
    }
    return handle;
  }

  // ---- ChannelHost ----

  realtime(): Connection {
    return this.connection;
  }

  async watchChannel(cid: string, opts: { messages: boolean }): Promise<void> {
    const current = this.watched.get(cid);
    this.watched.set(cid, { messages: (current?.messages ?? false) || opts.messages });
    this.needsLoad.add(cid);
    this.watchInFlight.add(cid);
    try {
      await this.connection.watch(channelTopic(cid), this.savedPosition(channelTopic(cid)));
      // Resumed from a position saved before a reload: recovery (or /sync) caught the cache up.
      const resumed = this.resumed.get(cid);
      if (resumed && this.isCached(cid)) {
        await resumed;
        this.needsLoad.delete(cid);
        return;
      }
      await this.load(cid);
    } catch (error) {
      // Offline with a cache: show the cache now, load when the connection is back.
      if (isRetryable(error) && this.store.getState().channels[cid]) return;
      throw error;
    } finally {
      this.watchInFlight.delete(cid);
    }
  }

  unwatchChannel(cid: string): void {
    this.watched.delete(cid);
    this.needsLoad.delete(cid);
    this.resumed.delete(cid);
    this.connection.unwatch(channelTopic(cid));
    if (this.positions.delete(channelTopic(cid)))
      this.persister.add({ positions: { [channelTopic(cid)]: null } });
  }

  queueMessage(cid: string, input: z.input<typeof SendMessageBody>, files?: FileToSend[]): Promise<Message> {
    const clientMsgId = input.client_msg_id ?? uuid();
    const item: OutboxItem = {
      client_msg_id: clientMsgId,
      cid,
      body: { ...input, client_msg_id: clientMsgId },
      created_at: this.now(),
      failed: false,
    };
    return files?.length ? this.files.send(item, files) : this.outbox.add(item);
  }

  retryMessage(clientMsgId: string): Promise<Message> {
    return this.files.retry(clientMsgId) ?? this.outbox.retry(clientMsgId);
  }

  async loadPage(cid: string, page: 'older' | 'newer', limit: number): Promise<Message[]> {
    const list = this.store.getState().messages[cid];
    const sent = list ? list.ids.map((id) => list.byId[id]!).filter((m) => m.status === 'sent') : [];
    const edge = page === 'older' ? sent[0] : sent[sent.length - 1];
    if (page === 'older' && list && !list.hasOlder) return [];
    if (page === 'newer' && list && !list.hasNewer) return [];
    const { type, id } = splitCid(cid);
    const query = edge ? { [page === 'older' ? 'id_lt' : 'id_gt']: edge.id, limit } : { limit };
    const { messages } = await this.rest.listMessages(type, id, query);
    this.store.dispatch({ type: 'rest/messages', cid, messages, page: edge ? page : 'latest', limit });
    return messages;
  }

  async loadReplies(
    cid: string,
    parentId: string,
    page: 'latest' | 'older' | 'newer',
    limit: number,
  ): Promise<Message[]> {
    const list = this.store.getState().replies[parentId];
    const sent = list ? list.ids.map((id) => list.byId[id]!).filter((m) => m.status === 'sent') : [];
    const edge = page === 'older' ? sent[0] : page === 'newer' ? sent[sent.length - 1] : undefined;
    if (page === 'older' && list && !list.hasOlder) return [];
    if (page === 'newer' && list && !list.hasNewer) return [];
    const query = edge ? { [page === 'older' ? 'id_lt' : 'id_gt']: edge.id, limit } : { limit };
    const { messages } = await this.rest.listReplies(parentId, query);
    if (messages.some((m) => m.cid !== cid)) throw new Error(`message ${parentId} is not in ${cid}`);
    this.store.dispatch({
      type: 'rest/replies',
      parent_id: parentId,
      messages,
      page: edge ? (page as 'older' | 'newer') : 'latest',
      limit,
    });
    return messages;
  }

  async markRead(cid: string, messageId?: string): Promise<void> {
    this.store.dispatch({ type: 'local/mark_read', cid, at: this.now() });
    const { type, id } = splitCid(cid);
    try {
      const counts = await this.rest.markRead(type, id, messageId ? { message_id: messageId } : {});
      this.pendingReads.delete(cid);
      this.store.dispatch({ type: 'rest/unread', counts });
    } catch (error) {
      if (!isRetryable(error)) throw error;
      this.pendingReads.set(cid, messageId); // sent again once the connection is back
    }
  }

  async queryChannels(filter: Record<string, unknown>, sort: Sort, options: QueryChannelsOptions) {
    const key = queryKey(filter, sort);
    const limit = options.limit ?? 20;
    const offset = options.offset ?? 0;
    const watch = options.watch ?? true;
    if (offset === 0) this.queries.set(key, { filter, sort, options, stale: false });
    await this.fetchQuery(key, filter, sort, options, limit, offset);
    const cids = this.store.getState().queries[key]?.cids ?? [];
    if (watch) {
      const fresh = cids.filter((cid) => !this.watched.has(cid));
      for (const cid of cids) if (!this.watched.has(cid)) this.watched.set(cid, { messages: false });
      // Events between the query and the subscriptions going live would be lost: wait for the
      // subscriptions, then read the query once more to pick up anything that happened meanwhile.
      await Promise.all(
        cids.map((cid) => this.connection.watch(channelTopic(cid), this.savedPosition(channelTopic(cid)))),
      );
      if (fresh.length > 0 && this.connection.connectionState === 'connected') {
        await this.fetchQuery(key, filter, sort, options, limit, offset);
      }
    }
    return cids.map((cid) => {
      const { type, id } = splitCid(cid);
      return this.channel(type, id);
    });
  }

  private async fetchQuery(
    key: string,
    filter: Record<string, unknown>,
    sort: Sort,
    options: QueryChannelsOptions,
    limit: number,
    offset: number,
  ) {
    try {
      const { channels } = await this.rest.queryChannels({
        filter,
        sort,
        limit,
        offset,
        ...(options.member_limit !== undefined ? { member_limit: options.member_limit } : {}),
      });
      this.store.dispatch({
        type: 'rest/query',
        key,
        sort: sort.map((s) => ({ field: s.field, direction: s.direction ?? -1 })),
        channels,
        offset,
        limit,
      });
    } catch (error) {
      const cached = this.store.getState().queries[key];
      if (!isRetryable(error) || !cached) throw error;
      const query = this.queries.get(key);
      if (query) query.stale = true;
    }
  }

  // ---- loading ----

  /** Fetches a watched channel (and its latest messages); events that arrive meanwhile wait. */
  private load(cid: string): Promise<void> {
    const inFlight = this.loading.get(cid);
    if (inFlight) return inFlight;
    const run = async () => {
      this.held.set(cid, this.held.get(cid) ?? []);
      try {
        const { type, id } = splitCid(cid);
        const withMessages =
          this.watched.get(cid)?.messages ?? this.store.getState().messages[cid] !== undefined;
        const limit = this.client._internals.options.messageLimit ?? 30;
        const [channel, page] = await Promise.all([
          this.rest.getChannel(type, id),
          withMessages ? this.rest.listMessages(type, id, { limit }) : Promise.resolve(undefined),
        ]);
        if (this.stopped) return;
        this.store.dispatch({ type: 'rest/channels', channels: [channel.channel] });
        if (page)
          this.store.dispatch({ type: 'rest/messages', cid, messages: page.messages, page: 'latest', limit });
        this.needsLoad.delete(cid);
      } catch (error) {
        if (error instanceof ParleyApiError && (error.status === 403 || error.status === 404)) {
          // No longer visible to this user: forget it.
          this.store.dispatch({ type: 'local/channel.forget', cid });
          this.unwatchChannel(cid);
        }
        throw error;
      } finally {
        const held = this.held.get(cid) ?? [];
        this.held.delete(cid);
        this.loading.delete(cid);
        for (const event of held) this.apply(event);
        const position = this.positions.get(channelTopic(cid));
        if (position?.epoch) this.persister.add({ positions: { [channelTopic(cid)]: position } });
      }
    };
    const promise = run();
    this.loading.set(cid, promise);
    return promise;
  }

  /**
   * After realtime recovery failed: one sync for every channel that lost its history in the same
   * reconnect (batched for a moment), else a refetch. Resolves when the channel is caught up.
   */
  private catchUp(cid: string): Promise<void> {
    let batch = this.catchUpBatch;
    if (!batch) {
      const since = new Map<string, string | undefined>();
      const done = new Promise<void>((resolve) => setTimeout(resolve, 20)).then(() => {
        this.catchUpBatch = undefined;
        return this.runCatchUp(since);
      });
      batch = { since, done };
      this.catchUpBatch = batch;
    }
    // Where the channel was complete, taken now: live events of the new subscription (our own
    // replayed sends, others' messages) may move the position on before the batch runs, and a
    // sync from there would skip what was missed before them.
    batch.since.set(cid, this.positions.get(channelTopic(cid))?.at);
    return batch.done;
  }

  private async runCatchUp(since: Map<string, string | undefined>): Promise<void> {
    const cids = [...since.keys()];
    if (this.stopped || cids.length === 0) return;
    const { sync } = this.client._internals;
    // Sync from the oldest point any of these channels was known to be complete at.
    const times = [...since.values()];
    let refetchFrom: string | undefined;
    if (times.every((t): t is string => t !== undefined)) {
      const from = [...times].sort()[0]!; // ISO times: the earliest sorts first
      try {
        const answer = await sync.sync({ since: from, cids });
        if ('events' in answer) {
          for (const event of answer.events) this.receive(event);
          if (answer.last_sync_at) for (const cid of cids) this.syncedAt(cid, answer.last_sync_at);
          return;
        }
        refetchFrom = answer.last_sync_at;
      } catch (error) {
        // Offline again, or a server without /sync: refetching is always right.
        if (
          !this.stopped &&
          !isRetryable(error) &&
          !(error instanceof ParleyApiError && error.status === 404)
        )
          this.emitter.emit('error', error);
      }
    }
    await Promise.all(cids.map((cid) => this.refetch(cid)));
    if (refetchFrom) for (const cid of cids) this.syncedAt(cid, refetchFrom);
  }

  /** Loads a channel again, with the replies of its open threads. */
  private async refetch(cid: string): Promise<void> {
    await this.load(cid);
    const limit = this.client._internals.options.messageLimit ?? 30;
    const open = Object.entries(this.store.getState().replies).filter(([, list]) =>
      list.ids.some((id) => list.byId[id]!.cid === cid),
    );
    await Promise.all(open.map(([parentId]) => this.loadReplies(cid, parentId, 'latest', limit)));
  }

  private syncedAt(cid: string, at: string) {
    const topic = channelTopic(cid);
    const position = this.positions.get(topic);
    if (!position) return;
    const next = { ...position, at };
    this.positions.set(topic, next);
    this.persister.add({ positions: { [topic]: next } });
  }

  /** A saved stream position to resume a topic from (only for a topic not subscribed yet). */
  private savedPosition(topic: string): StreamPosition | undefined {
    if (this.connection.isWatching(topic)) return undefined;
    const saved = this.positions.get(topic);
    return saved?.epoch ? { offset: saved.offset, epoch: saved.epoch } : undefined;
  }

  private savePosition(topic: string, position: StreamPosition) {
    const next: TopicPosition = { ...this.positions.get(topic), ...position };
    this.positions.set(topic, next);
    // While its channel loads, the topic's events wait (held): so does saving the position.
    if (!this.held.has(topic.slice('chat:channel:'.length)))
      this.persister.add({ positions: { [topic]: next } });
  }

  /** The channel (and its messages, when watched with them) is in the store already. */
  private isCached(cid: string): boolean {
    const state = this.store.getState();
    return state.channels[cid] !== undefined && (!this.watched.get(cid)?.messages || cid in state.messages);
  }

  /** The user's unread counts, blocks and mutes (on connect, and when the user's topic was not recovered). */
  private async refreshUser(): Promise<void> {
    const [counts, { blocks }, mutes] = await Promise.all([
      this.rest.unread(),
      this.rest.listBlocks(),
      this.rest.listMutes(),
    ]);
    if (this.stopped) return;
    this.store.dispatch({ type: 'rest/unread', counts });
    this.store.dispatch({ type: 'rest/blocks', blocks });
    this.store.dispatch({ type: 'rest/mutes', ...mutes });
  }

  private requery(onlyStale: boolean) {
    for (const query of this.queries.values()) {
      if (onlyStale && !query.stale) continue;
      query.stale = false;
      this.queryChannels(query.filter, query.sort, { ...query.options, offset: 0 }).catch((error) => {
        query.stale = true;
        this.emitter.emit('error', error);
      });
    }
  }

  // ---- realtime ----

  private onSubscribed(topic: string, status: SubscriptionStatus) {
    const background = (p: Promise<void>) =>
      p.catch((error) => {
        if (!this.stopped) this.emitter.emit('error', error);
      });
    if (topic === userTopic(this.userId)) {
      if (status.unrecovered) this.requery(false);
      return background(this.refreshUser()).finally(this.markUserLoaded);
    }
    const cid = topic.slice('chat:channel:'.length);
    if (status.unrecovered) {
      const caughtUp = background(this.catchUp(cid));
      if (status.first) this.resumed.set(cid, caughtUp);
      return caughtUp;
    }
    if (status.first && status.wasRecovering && this.isCached(cid)) {
      // Recovered from a saved position: the missed events follow this callback.
      this.resumed.set(cid, Promise.resolve());
      if (!this.watchInFlight.has(cid)) this.needsLoad.delete(cid);
      return;
    }
    if (this.needsLoad.has(cid) && !this.watchInFlight.has(cid)) return background(this.load(cid));
  }

  private onState(state: ConnectionState, detail?: { code: number; reason: string }) {
    const change: ConnectionChange = { state, previous: this.previousState, ...(detail ?? {}) };
    this.previousState = state;
    if (state === 'connected' || state === 'recovering') {
      this.outbox.kick(true);
      this.files.kick();
      for (const [cid, messageId] of this.pendingReads) void this.markRead(cid, messageId).catch(() => {});
      this.requery(true);
    }
    this.emitter.emit('connection.changed', change);
    this.emitter.emit(`connection.${state}`, change);
  }

  /** Ids of the latest events applied: one that comes again (recovery, /sync overlap) is skipped. */
  private readonly seen = new Set<string>();

  private receive(event: ServerEvent, topic?: string) {
    // By type and id: the user-channel copy of member.added keeps its id under another name.
    // Ephemeral events (typing, presence) have no id and are never replayed: never skipped.
    if (event.id) {
      const key = `${event.type} ${event.id}`;
      if (this.seen.has(key)) return;
      this.seen.add(key);
      if (this.seen.size > 2000) this.seen.delete(this.seen.values().next().value!);
    }
    if (topic) {
      // Noted now, persisted with the position that follows (same publication).
      const position = this.positions.get(topic) ?? { offset: -1, epoch: '' };
      this.positions.set(topic, { ...position, at: event.created_at });
    }
    const cid = 'cid' in event ? event.cid : null;
    const held = cid ? this.held.get(cid) : undefined;
    if (held) held.push(event);
    else this.apply(event);
  }

  private apply(event: ServerEvent) {
    if (this.stopped) return;
    this.store.dispatch(event);
    switch (event.type) {
      case 'typing.start': {
        const key = `${event.cid}\n${event.user_id}`;
        clearTimeout(this.typingTimers.get(key));
        this.typingTimers.set(
          key,
          setTimeout(() => {
            this.typingTimers.delete(key);
            this.store.dispatch({ type: 'local/typing.clear', cid: event.cid, user_id: event.user_id });
          }, TYPING_TIMEOUT_MS),
        );
        break;
      }
      case 'notification.added_to_channel':
        if (event.member.user_id === this.userId) this.scheduleRequery();
        break;
      case 'member.removed':
      case 'notification.removed_from_channel':
        if (event.user_id === this.userId) this.unwatchChannel(event.cid);
        break;
      case 'channel.deleted':
        this.unwatchChannel(event.cid);
        break;
    }
    this.emitter.emit(event.type, event as never);
    this.emitter.emit('event', event);
  }

  private scheduleRequery() {
    if (this.requeryTimer) return;
    this.requeryTimer = setTimeout(() => {
      this.requeryTimer = undefined;
      this.requery(false);
    }, 50);
  }
}
