import { Cid, MarkReadBody, type ParleyEvent } from '@parley/protocol';
import { decodeJwt } from 'jose';
import { membersRepository } from '../domains/members/members.repository.js';
import { moderationRepository } from '../domains/moderation/moderation.repository.js';
import { usersRepository } from '../domains/users/users.repository.js';
import { isBanned } from '../domains/users/users.service.js';
import type { RequestContext } from '../platform/context.js';
import type { Db } from '../platform/db.js';
import type { AppRow, UserRow } from '../platform/db.types.js';
import { AppError } from '../platform/errors.js';
import type { EventBus } from '../platform/events.js';
import type { Logger } from '../platform/logger.js';
import { byApp, ReadBatcher } from '../platform/read-batcher.js';
import type { Services } from '../server.js';
import type { Broker } from './broker.js';
import { protobufCodec } from './codec.protobuf.js';
import {
  type ConnectGrant,
  Gateway,
  GatewayError,
  type GatewayMetrics,
  type GatewayOptions,
  type SessionView,
  type SubscribeGrant,
} from './gateway.js';
import { type Disconnect, DisconnectCode, ErrorCode, UnsubscribeCode } from './protocol.js';
import { BrokerChannelWatchers } from './watchers.js';

/** Realtime channel names: one per chat channel, one private per user. */
export const channelTopic = (cid: string) => `chat:channel:${cid}`;
export const userTopic = (userId: string) => `chat:user:${userId}`;

/** Clients may send typing.start at most this often; the server stops typing after TYPING_EXPIRY_MS. */
const TYPING_THROTTLE_MS = 2_000;
const TYPING_EXPIRY_MS = 6_000;
/** A user's online/offline change is announced to at most this many of their channels. */
const PRESENCE_FANOUT_LIMIT = 500;
/** Presence and watcher entries refreshed at once (one pipelined Redis write per chunk). */
const PRESENCE_REFRESH_CHUNK = 100;
/**
 * How long a session reuses the user row it read instead of reading it again for a subscribe or
 * an rpc. A client sends its connect and its subscribes together, so one read serves them all;
 * bans and deletions do not wait for it: they close or unsubscribe sessions through their events.
 */
const SESSION_USER_REUSE_MS = 2_000;

/** What a realtime session carries (SessionView.state): its app and the last read of its user. */
interface SessionState {
  app: AppRow;
  user: UserRow;
  userReadAt: number;
}
const stateOf = (session: SessionView) => session.state as SessionState;

type ControlMessage =
  | { kind: 'disconnect'; appId: string; userId: string; disconnect: Disconnect }
  | { kind: 'unsubscribe'; appId: string; userId: string; channel: string; code: number; reason: string };

/**
 * The chat layer of the realtime gateway: authenticates connections with the same user tokens as
 * the REST API, authorizes subscriptions with the channel policy, turns domain events into
 * publications (after commit), and handles typing, mark-read and presence.
 */
export class RealtimeService {
  readonly gateway: Gateway;
  private readonly sessions = new Map<string, { app: AppRow; view: SessionView }>();
  /** Invisible flag of users with sessions on this node (app/user → invisible). */
  private readonly invisible = new Map<string, boolean>();
  private readonly typing = new Map<string, { lastStart: number; timer: NodeJS.Timeout }>();
  private presenceTimer: NodeJS.Timeout | undefined;
  private unsubscribeBus: (() => void) | undefined;
  /** Who watches which chat channel (push skips them); see watchers.ts. */
  readonly watchers: BrokerChannelWatchers;
  /** Watch entries are added and removed in order per session and channel. */
  private readonly watchQueue = new Map<string, Promise<void>>();
  /** The channels a user's presence goes to: users coming online together share one query (ADR 0017). */
  private readonly channelsOfUser = new ReadBatcher<{ appId: string; userId: string }, { cids: string[] }>(
    async (keys) => {
      const appId = keys[0]!.appId;
      const found = new Map(keys.map((key) => [`${appId}/${key.userId}`, { cids: [] as string[] }]));
      const ids = keys.map((key) => key.userId);
      for (const row of await membersRepository.cidsOfUsers(this.db, appId, ids, PRESENCE_FANOUT_LIMIT))
        found.get(`${appId}/${row.user_id}`)!.cids.push(row.cid);
      return found;
    },
    (key) => `${key.appId}/${key.userId}`,
    byApp,
  );

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly services: Services,
    private readonly broker: Broker,
    metrics: GatewayMetrics,
    private readonly logger: Logger,
    options: Partial<GatewayOptions> = {},
  ) {
    this.gateway = new Gateway(
      broker,
      {
        connect: (request) => this.connect(request),
        refresh: (session, token) => this.refresh(session, token),
        subscribe: (session, channel) => this.subscribe(session, channel),
        rpc: (session, method, data) => this.rpc(session, method, data),
        onConnected: (session) =>
          void this.onConnected(session).catch((err) => this.logger.warn({ err }, 'presence failed')),
        onDisconnected: (session) =>
          void this.onDisconnected(session).catch((err) => this.logger.warn({ err }, 'presence failed')),
        onSubscribed: (session, channel) => this.watch(session, channel, true),
        onUnsubscribed: (session, channel) => this.watch(session, channel, false),
      },
      metrics,
      logger,
      options,
    );
    this.gateway.codecs.protobuf = protobufCodec;
    this.watchers = new BrokerChannelWatchers(broker);
  }

  async start() {
    await this.gateway.start((data) => this.onControl(data as ControlMessage));
    this.unsubscribeBus = this.bus.subscribe((event) => this.onEvent(event));
    this.presenceTimer = setInterval(() => void this.refreshUserPresence(), 25_000).unref();
  }

  async close() {
    this.unsubscribeBus?.();
    clearInterval(this.presenceTimer);
    for (const { timer } of this.typing.values()) clearTimeout(timer);
    await this.gateway.close();
  }

  // ---- authorizer ----

  private async connect(request: {
    apiKey: string | undefined;
    token: string | undefined;
  }): Promise<ConnectGrant> {
    if (!request.apiKey) throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    if (!request.token) throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    let app: AppRow;
    try {
      app = await this.services.apps.resolveApiKey(request.apiKey);
    } catch {
      throw GatewayError.close(DisconnectCode.INVALID_TOKEN);
    }
    const { user, expiresAt } = await this.verify(app, request.token);
    const state: SessionState = { app, user, userReadAt: Date.now() };
    return { appId: app.id, userId: user.id, state, ...(expiresAt ? { expiresAt } : {}) };
  }

  private async refresh(session: SessionView, token: string | undefined): Promise<{ expiresAt?: number }> {
    if (!token) throw GatewayError.close(DisconnectCode.INVALID_TOKEN);
    try {
      const state = stateOf(session);
      const { user, expiresAt } = await this.verify(state.app, token);
      if (user.id !== session.userId) throw GatewayError.close(DisconnectCode.INVALID_TOKEN);
      state.user = user;
      state.userReadAt = Date.now();
      return expiresAt ? { expiresAt } : {};
    } catch (error) {
      if (error instanceof GatewayError && error.error?.code === ErrorCode.TOKEN_EXPIRED) {
        throw GatewayError.close(DisconnectCode.EXPIRED);
      }
      throw error;
    }
  }

  /** Same token rules as REST (auth.service): HS256 with the app secret, revocation, deletion. */
  private async verify(app: AppRow, token: string): Promise<{ user: UserRow; expiresAt?: number }> {
    try {
      const actor = await this.services.auth.actorFromToken(app, token);
      if (actor.kind !== 'user') throw GatewayError.close(DisconnectCode.INVALID_TOKEN);
      // Consistent with the 4501 kick on ban: a banned user cannot open a realtime session.
      if (isBanned(actor.user)) throw GatewayError.close(DisconnectCode.BANNED);
      const { exp } = decodeJwt(token);
      return { user: actor.user, ...(exp ? { expiresAt: exp * 1000 } : {}) };
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      if (error instanceof AppError) {
        if (error.code === 'AUTH_TOKEN_EXPIRED')
          throw GatewayError.reply(ErrorCode.TOKEN_EXPIRED, 'token expired');
        if (error.code === 'USER_DELETED') throw GatewayError.close(DisconnectCode.USER_DELETED);
        throw GatewayError.close(DisconnectCode.INVALID_TOKEN);
      }
      throw error;
    }
  }

  private async subscribe(session: SessionView, channel: string): Promise<SubscribeGrant> {
    if (channel.startsWith('chat:user:')) {
      if (channel !== userTopic(session.userId))
        throw GatewayError.reply(ErrorCode.PERMISSION_DENIED, 'permission denied');
      return { presence: false };
    }
    const ctx = await this.contextOf(session);
    if (!channel.startsWith('chat:channel:'))
      throw GatewayError.reply(ErrorCode.UNKNOWN_CHANNEL, 'unknown channel');
    const cid = channel.slice('chat:channel:'.length);
    if (!/^[a-z0-9_-]{1,64}:[A-Za-z0-9_\-!]{1,128}$/.test(cid)) {
      throw GatewayError.reply(ErrorCode.UNKNOWN_CHANNEL, 'unknown channel');
    }
    try {
      const access = await this.services.channels.access(this.db, ctx, cid, 'read', session.userId);
      // A channel ban also keeps a non-member out of a public channel's live feed.
      const banned =
        access.membership?.banned ??
        (await moderationRepository.activeBan(this.db, ctx.app.id, session.userId, cid)) !== undefined;
      if (banned) throw GatewayError.reply(ErrorCode.PERMISSION_DENIED, 'banned from this channel');
      const user = ctx.actor.kind === 'user' ? ctx.actor.user : undefined;
      return { presence: access.config.connect_events && !user?.invisible };
    } catch (error) {
      throw toGatewayError(error);
    }
  }

  private async rpc(session: SessionView, method: string, data: unknown): Promise<unknown> {
    const ctx = await this.contextOf(session);
    const params = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    // rpc data bypasses the REST schemas: check what reaches SQL the same way (else a 3004).
    const cid = Cid.safeParse(params.cid).success ? (params.cid as string) : undefined;
    try {
      switch (method) {
        case 'typing.start':
        case 'typing.stop': {
          if (!cid) throw new AppError('VALIDATION_FAILED', 'cid is required', { field: 'cid' });
          if (
            params.parent_id !== undefined &&
            params.parent_id !== null &&
            !UUID.test(String(params.parent_id))
          ) {
            throw new AppError('VALIDATION_FAILED', 'parent_id must be a message id', { field: 'parent_id' });
          }
          const parentId = typeof params.parent_id === 'string' ? params.parent_id : null;
          await this.typingRpc(ctx, session.userId, cid, parentId, method === 'typing.start');
          return undefined;
        }
        case 'mark_read': {
          if (!cid) throw new AppError('VALIDATION_FAILED', 'cid is required', { field: 'cid' });
          if (!MarkReadBody.shape.message_id.safeParse(params.message_id).success)
            throw new AppError('VALIDATION_FAILED', 'message_id must be a message id', {
              field: 'message_id',
            });
          const messageId = typeof params.message_id === 'string' ? params.message_id : undefined;
          return await this.services.reads.markRead(ctx, cid, { ...(messageId ? { messageId } : {}) });
        }
        default:
          throw GatewayError.reply(ErrorCode.METHOD_NOT_FOUND, `unknown rpc method ${method}`);
      }
    } catch (error) {
      throw toGatewayError(error);
    }
  }

  private async contextOf(session: SessionView): Promise<RequestContext> {
    const state = stateOf(session);
    if (Date.now() - state.userReadAt >= SESSION_USER_REUSE_MS) {
      const user = await usersRepository.find(this.db, state.app.id, session.userId);
      if (!user || user.deleted_at) throw GatewayError.close(DisconnectCode.USER_DELETED);
      state.user = user;
      state.userReadAt = Date.now();
    }
    return { app: state.app, actor: { kind: 'user', user: state.user } };
  }

  // ---- typing ----

  private async typingRpc(
    ctx: RequestContext,
    userId: string,
    cid: string,
    parentId: string | null,
    start: boolean,
  ) {
    const access = await this.services.channels.access(this.db, ctx, cid, 'send', userId);
    if (!access.config.typing_events)
      throw new AppError('FORBIDDEN', 'typing events are off for this channel type');
    const key = `${ctx.app.id}/${cid}/${userId}/${parentId ?? ''}`;
    const current = this.typing.get(key);
    if (!start) {
      if (!current) return;
      this.stopTyping(key, ctx.app.id, cid, userId, parentId);
      return;
    }
    const now = Date.now();
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => this.stopTyping(key, ctx.app.id, cid, userId, parentId), TYPING_EXPIRY_MS);
    timer.unref();
    const throttled = current !== undefined && now - current.lastStart < TYPING_THROTTLE_MS;
    this.typing.set(key, { lastStart: throttled ? current.lastStart : now, timer });
    if (!throttled)
      await this.publishEphemeral(ctx.app.id, 'typing.start', cid, {
        cid,
        user_id: userId,
        parent_id: parentId,
      });
  }

  private stopTyping(key: string, appId: string, cid: string, userId: string, parentId: string | null) {
    const current = this.typing.get(key);
    if (!current) return;
    clearTimeout(current.timer);
    this.typing.delete(key);
    void this.publishEphemeral(appId, 'typing.stop', cid, { cid, user_id: userId, parent_id: parentId });
  }

  private async publishEphemeral(
    appId: string,
    type: 'typing.start' | 'typing.stop',
    cid: string,
    payload: object,
  ) {
    const event = { type, app_id: appId, created_at: new Date().toISOString(), ...payload };
    await this.gateway.publish(appId, channelTopic(cid), event, { ephemeral: true });
  }

  // ---- presence ----

  private async onConnected(session: SessionView) {
    const { app, user } = stateOf(session);
    this.sessions.set(session.id, { app, view: session });
    this.invisible.set(`${session.appId}/${session.userId}`, user.invisible === true);
    if (user.invisible) return;
    const key = presenceKey(session.appId, session.userId);
    await this.broker.addPresence(key, session.id, { user: session.userId, client: session.id });
    const stats = await this.broker.presenceStats(key);
    if (stats.numClients === 1) await this.announcePresence(session.appId, session.userId, true, user);
  }

  private async onDisconnected(session: SessionView) {
    this.sessions.delete(session.id);
    const userKey = `${session.appId}/${session.userId}`;
    const invisible = this.invisible.get(userKey);
    if (this.gateway.localSessionCount(session.appId, session.userId) === 0) this.invisible.delete(userKey);
    if (invisible) {
      await usersRepository.update(this.db, session.appId, session.userId, { last_active_at: new Date() });
      return;
    }
    const key = presenceKey(session.appId, session.userId);
    await this.broker.removePresence(key, session.id);
    const stats = await this.broker.presenceStats(key);
    if (stats.numClients === 0) {
      await usersRepository.update(this.db, session.appId, session.userId, { last_active_at: new Date() });
      await this.announcePresence(session.appId, session.userId, false);
    }
  }

  /** Tells every channel the user belongs to that they came online or went offline. */
  private async announcePresence(appId: string, userId: string, online: boolean, known?: UserRow) {
    const user = known ?? (await usersRepository.find(this.db, appId, userId));
    if (!user) return;
    const cids = (await this.channelsOfUser.load({ appId, userId }))?.cids ?? [];
    const event = {
      type: 'user.presence',
      app_id: appId,
      created_at: new Date().toISOString(),
      user_id: userId,
      online,
      last_active_at: user.last_active_at?.toISOString() ?? null,
    };
    for (const cid of cids) await this.gateway.publish(appId, channelTopic(cid), event, { ephemeral: true });
  }

  /** A user who turns invisible goes offline for everyone at once, and back online when visible again. */
  private async onUserUpdated(appId: string, userId: string, invisible: boolean) {
    // The user's sessions here read the changed row on their next subscribe or rpc.
    for (const { view } of this.sessions.values())
      if (view.appId === appId && view.userId === userId) stateOf(view).userReadAt = 0;
    const userKey = `${appId}/${userId}`;
    const before = this.invisible.get(userKey);
    if (before === undefined || before === invisible) return;
    this.invisible.set(userKey, invisible);
    const key = presenceKey(appId, userId);
    const local = [...this.sessions].filter(([, s]) => s.view.appId === appId && s.view.userId === userId);
    for (const [sessionId] of local) {
      if (invisible) await this.broker.removePresence(key, sessionId);
      else await this.broker.addPresence(key, sessionId, { user: userId, client: sessionId });
    }
    const stats = await this.broker.presenceStats(key);
    if (invisible && stats.numClients === 0) await this.announcePresence(appId, userId, false);
    if (!invisible && stats.numClients === local.length) await this.announcePresence(appId, userId, true);
  }

  /** Tracks a session's chat-channel subscriptions in the watchers set (for push). */
  private watch(session: SessionView, channel: string, on: boolean) {
    if (!channel.startsWith('chat:channel:')) return;
    const cid = channel.slice('chat:channel:'.length);
    const key = `${session.id}/${channel}`;
    const previous = this.watchQueue.get(key) ?? Promise.resolve();
    const next = previous
      .then(() =>
        on
          ? this.watchers.add(session.appId, cid, session.id, session.userId)
          : this.watchers.remove(session.appId, cid, session.id),
      )
      .catch((err) => this.logger.warn({ err }, 'channel watchers update failed'))
      .finally(() => {
        if (this.watchQueue.get(key) === next) this.watchQueue.delete(key);
      });
    this.watchQueue.set(key, next);
  }

  /**
   * Refreshes this node's presence and watcher entries before their TTL runs out. In chunks of
   * concurrent calls rather than one awaited call per entry: with Redis, a chunk goes out as one
   * pipelined write, so 10,000 sessions cost a few dozen round trips instead of 20,000; between
   * chunks other work runs.
   */
  private async refreshUserPresence() {
    // Checked again when a chunk runs: a session that left (or unsubscribed, or turned invisible)
    // since the refresh began must not get its entry back for another TTL.
    const live = (sessionId: string) => this.sessions.has(sessionId);
    const refreshes: (() => Promise<void>)[] = [];
    for (const [sessionId, { view }] of this.sessions) {
      for (const channel of view.channels) {
        if (!channel.startsWith('chat:channel:')) continue;
        const cid = channel.slice('chat:channel:'.length);
        refreshes.push(async () => {
          if (live(sessionId) && view.channels.has(channel))
            await this.watchers.add(view.appId, cid, view.id, view.userId);
        });
      }
      const key = presenceKey(view.appId, view.userId);
      refreshes.push(async () => {
        if (live(sessionId) && !this.invisible.get(`${view.appId}/${view.userId}`))
          await this.broker.addPresence(key, sessionId, { user: view.userId, client: sessionId });
      });
    }
    for (let i = 0; i < refreshes.length; i += PRESENCE_REFRESH_CHUNK) {
      await Promise.all(
        refreshes.slice(i, i + PRESENCE_REFRESH_CHUNK).map((refresh) => refresh().catch(() => {})),
      );
      // The memory broker answers at once, in microtasks: without this the whole refresh (tens of
      // milliseconds with 10,000 sessions) would run as one task and stall every socket meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  // ---- events → publications ----

  private onEvent(event: ParleyEvent) {
    void this.route(event).catch((err) =>
      this.logger.error({ err, event: event.type }, 'realtime publish failed'),
    );
  }

  private async route(event: ParleyEvent) {
    const appId = event.app_id;
    const toChannel = (cid: string, data: unknown = event) =>
      this.gateway.publish(appId, channelTopic(cid), data);
    const toUser = (userId: string, data: unknown = event) =>
      this.gateway.publish(appId, userTopic(userId), data);
    // A shadowed message (shadow-banned author) and reactions on it reach its author alone, without
    // the marker.
    if (
      (event.type === 'message.new' ||
        event.type === 'message.updated' ||
        event.type === 'message.deleted' ||
        event.type === 'reaction.new' ||
        event.type === 'reaction.updated' ||
        event.type === 'reaction.deleted') &&
      event.shadowed
    ) {
      const { shadowed: _shadowed, ...visible } = event;
      await toUser(event.message.user_id, visible);
      return;
    }
    switch (event.type) {
      case 'message.new':
        await toChannel(event.cid);
        this.clearTypingOnMessage(appId, event.cid, event.message.user_id, event.message.parent_id);
        return;
      case 'message.updated':
      case 'message.deleted':
      case 'reaction.new':
      case 'reaction.updated':
      case 'reaction.deleted':
      case 'channel.updated':
      case 'channel.truncated':
      case 'poll.updated':
      case 'poll.closed':
      case 'poll.vote_casted':
      case 'poll.vote_changed':
      case 'poll.vote_removed':
        return void (await toChannel(event.cid));
      case 'channel.deleted':
        await toChannel(event.cid);
        return;
      case 'member.added':
        await toChannel(event.cid);
        await toUser(event.member.user_id, { ...event, type: 'notification.added_to_channel' });
        return;
      case 'member.updated':
        await toChannel(event.cid);
        if (event.member.banned)
          await this.controlUnsubscribe(appId, event.member.user_id, event.cid, 'banned from channel');
        return;
      case 'member.removed':
        await toChannel(event.cid);
        await toUser(event.user_id, { ...event, type: 'notification.removed_from_channel' });
        await this.controlUnsubscribe(appId, event.user_id, event.cid, 'removed from channel');
        return;
      case 'notification.invited':
      case 'notification.invite_accepted':
      case 'notification.invite_rejected':
        return void (await toUser(event.member.user_id));
      case 'channel.hidden':
      case 'channel.visible':
      case 'notification.mark_read':
      case 'notification.mention':
      case 'notification.thread_read':
      case 'notification.mark_unread':
      case 'notification.message_starred':
      case 'notification.reminder_due':
      case 'draft.updated':
      case 'draft.deleted':
      case 'reminder.updated':
      case 'reminder.deleted':
      case 'scheduled_message.updated':
      case 'scheduled_message.deleted':
        return void (await toUser(event.user_id));
      case 'message.delivered': {
        const config = await this.services.channelTypes.config(this.db, appId, event.cid.split(':')[0]!);
        if (config.delivery_events !== false) await toChannel(event.cid);
        return;
      }
      case 'message.read': {
        const config = await this.services.channelTypes.config(this.db, appId, event.cid.split(':')[0]!);
        if (config.read_events) await toChannel(event.cid);
        return;
      }
      case 'user.updated':
        return this.onUserUpdated(appId, event.user.id, event.user.invisible);
      case 'user.banned':
        return this.controlDisconnect(appId, event.user.id, DisconnectCode.BANNED);
      case 'notification.user_muted':
      case 'notification.user_unmuted':
      case 'notification.channel_muted':
      case 'notification.channel_unmuted':
      case 'notification.user_blocked':
      case 'notification.user_unblocked':
        return void (await toUser(event.user_id));
      case 'member.banned':
        await toChannel(event.cid);
        await toUser(event.user_id);
        await this.controlUnsubscribe(appId, event.user_id, event.cid, 'banned from channel');
        return;
      case 'member.unbanned':
        await toChannel(event.cid);
        await toUser(event.user_id);
        return;
      case 'user.deleted':
        return this.controlDisconnect(appId, event.user.id, DisconnectCode.USER_DELETED);
      case 'user.tokens_revoked':
        return this.controlDisconnect(appId, event.user_id, DisconnectCode.INVALID_TOKEN);
      default:
        return;
    }
  }

  private clearTypingOnMessage(appId: string, cid: string, userId: string, parentId: string | null) {
    const key = `${appId}/${cid}/${userId}/${parentId ?? ''}`;
    if (this.typing.has(key)) this.stopTyping(key, appId, cid, userId, parentId);
  }

  private controlDisconnect(appId: string, userId: string, disconnect: Disconnect) {
    return this.gateway.publishControl({
      kind: 'disconnect',
      appId,
      userId,
      disconnect,
    } satisfies ControlMessage);
  }

  private controlUnsubscribe(appId: string, userId: string, cid: string, reason: string) {
    return this.gateway.publishControl({
      kind: 'unsubscribe',
      appId,
      userId,
      channel: channelTopic(cid),
      code: UnsubscribeCode.SERVER,
      reason,
    } satisfies ControlMessage);
  }

  private onControl(message: ControlMessage) {
    if (message.kind === 'disconnect') {
      this.gateway.disconnectUserLocally(message.appId, message.userId, message.disconnect);
    } else if (message.kind === 'unsubscribe') {
      this.gateway.unsubscribeUserLocally(
        message.appId,
        message.userId,
        message.channel,
        message.code,
        message.reason,
      );
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The broker presence channel of a user (online = at least one client in it). */
export const presenceKey = (appId: string, userId: string) => `${appId}/__user:${userId}`;

/** Domain errors become protocol errors: 103 for permissions, 102 for unknown things, else the HTTP status. */
function toGatewayError(error: unknown): unknown {
  if (error instanceof GatewayError || !(error instanceof AppError)) return error;
  if (error.status === 403)
    return GatewayError.reply(ErrorCode.PERMISSION_DENIED, `${error.code}: ${error.message}`);
  if (error.code === 'CHANNEL_NOT_FOUND')
    return GatewayError.reply(ErrorCode.UNKNOWN_CHANNEL, `${error.code}: ${error.message}`);
  if (error.status === 429)
    return GatewayError.reply(ErrorCode.TOO_MANY_REQUESTS, `${error.code}: ${error.message}`);
  if (error.status >= 400 && error.status < 500)
    return GatewayError.reply(error.status, `${error.code}: ${error.message}`);
  return error;
}
