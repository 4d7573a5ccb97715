import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type Broker,
  type ClientInfo,
  MAX_HISTORY_LIMIT,
  type Publication,
  type StreamPosition,
  UnrecoverablePositionError,
} from './broker.js';
import { jsonCodec } from './codec.json.js';
import {
  type Codec,
  type Command,
  type Disconnect,
  DisconnectCode,
  ErrorCode,
  type HistoryRequest,
  methodOf,
  type ProtocolError,
  protocolError,
  type Reply,
  type SubscribeRequest,
  UnsubscribeCode,
} from './protocol.js';

export const GATEWAY_PATH = '/connection/websocket';
const SERVER_VERSION = 'parley-0.1.0';
/** Broker channel for node-to-node control messages (disconnect a user everywhere, ...). */
export const CONTROL_CHANNEL = '__parley_control';

export interface GatewayOptions {
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** Close connections that send no connect command within this time. */
  staleMs: number;
  /** Close connections this long after their token expired without a refresh. */
  expiredGraceMs: number;
  maxPayloadBytes: number;
  maxSubscriptionsPerConnection: number;
  /** A client whose socket buffers more than this is too slow and gets disconnected (3008). */
  maxBufferedBytes: number;
  /** Commands per second per connection (burst = 2×), beyond which the connection closes (3013). */
  commandsPerSecond: number;
  historySize: number;
  historyTtlSeconds: number;
}

export const DEFAULT_GATEWAY_OPTIONS: GatewayOptions = {
  pingIntervalMs: 25_000,
  pongTimeoutMs: 10_000,
  staleMs: 15_000,
  expiredGraceMs: 25_000,
  maxPayloadBytes: 64 * 1024,
  maxSubscriptionsPerConnection: 512,
  maxBufferedBytes: 4 * 1024 * 1024,
  commandsPerSecond: 200,
  historySize: 300,
  historyTtlSeconds: 600,
};

/** A failure the authorizer reports: an error reply, or closing the connection. */
export class GatewayError extends Error {
  constructor(
    readonly error?: ProtocolError,
    readonly disconnect?: Disconnect,
  ) {
    super(error?.message ?? disconnect?.reason ?? 'gateway error');
  }
  static reply(code: number, message: string) {
    return new GatewayError(protocolError(code, message));
  }
  static close(disconnect: Disconnect) {
    return new GatewayError(undefined, disconnect);
  }
}

export interface ConnectGrant {
  appId: string;
  userId: string;
  /** Token expiry (ms since epoch); the client must refresh before it. */
  expiresAt?: number;
  connInfo?: unknown;
  /** Whatever the authorizer wants back on later calls for this session (e.g. the app row). */
  state?: unknown;
}

export interface SubscribeGrant {
  chanInfo?: unknown;
  /** Track this subscriber in the channel's presence. */
  presence: boolean;
}

/**
 * The chat rules behind the protocol: who may connect, subscribe, call which rpc. The gateway
 * knows nothing about chat; realtime.service.ts implements this with the domain services.
 */
export interface GatewayAuthorizer {
  connect(request: {
    apiKey: string | undefined;
    token: string | undefined;
    data: unknown;
  }): Promise<ConnectGrant>;
  refresh(session: SessionView, token: string | undefined): Promise<{ expiresAt?: number }>;
  subscribe(session: SessionView, channel: string): Promise<SubscribeGrant>;
  rpc(session: SessionView, method: string, data: unknown): Promise<unknown>;
  onConnected?(session: SessionView): void;
  onDisconnected?(session: SessionView): void;
  /** A subscription is live (after its reply); its end calls onUnsubscribed. */
  onSubscribed?(session: SessionView, channel: string): void;
  onUnsubscribed?(session: SessionView, channel: string): void;
}

export interface GatewayMetrics {
  connections: { inc(): void; dec(): void };
  subscriptions: { inc(): void; dec(): void };
  publications: { inc(): void };
  delivered: { inc(n?: number): void };
  dropped: { inc(n?: number): void };
  slowDisconnects: { inc(): void };
}

export interface SessionView {
  readonly id: string;
  readonly appId: string;
  readonly userId: string;
  readonly state: unknown;
  readonly channels: ReadonlySet<string>;
}

interface Subscription {
  channel: string;
  key: string;
  session: Session;
  /** Publications that arrive while the subscribe reply is being built; null once live. */
  pending: { publication: Publication; epoch: string }[] | null;
  offset: number;
  epoch: string;
  presence: boolean;
  joinLeave: boolean;
  info: ClientInfo;
}

/** Marks a command whose reply was already enqueued by its handler. */
const REPLIED = Symbol('replied');

const brokerKey = (appId: string, channel: string) => `${appId}/${channel}`;

class Session implements SessionView {
  readonly id = randomUUID();
  appId = '';
  userId = '';
  phase: 'connecting' | 'connected' | 'closed' = 'connecting';
  expiresAt: number | undefined;
  connInfo: unknown;
  state: unknown;
  readonly subs = new Map<string, Subscription>();
  queue: Promise<void> = Promise.resolve();
  out: (string | Buffer)[] = [];
  flushScheduled = false;
  pongTimer: NodeJS.Timeout | undefined;
  pingTimer: NodeJS.Timeout | undefined;
  staleTimer: NodeJS.Timeout | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  tokens: number;
  tokensAt = Date.now();

  constructor(
    readonly ws: WebSocket,
    readonly codec: Codec,
    readonly apiKey: string | undefined,
    burst: number,
  ) {
    this.tokens = burst;
  }

  get channels(): ReadonlySet<string> {
    return new Set(this.subs.keys());
  }
}

/**
 * Server side of the Centrifugo client protocol v2 over `ws` (JSON wire format): connect,
 * subscribe with history and recovery, presence, rpc, refresh, pings, server-side unsubscribes
 * and disconnects. Commands of one connection are processed strictly in order.
 */
export class Gateway {
  private readonly wss: WebSocketServer;
  private readonly options: GatewayOptions;
  /** Local subscribers by broker key. */
  private readonly hub = new Map<string, Set<Subscription>>();
  private readonly sessionsByUser = new Map<string, Set<Session>>();
  private readonly sessions = new Set<Session>();
  private controlHandler: ((data: unknown) => void) | undefined;
  /** Optional wire formats besides JSON (set by codec.protobuf.ts when available). */
  readonly codecs: { protobuf?: Codec } = {};
  private closing = false;

  constructor(
    private readonly broker: Broker,
    private readonly authorizer: GatewayAuthorizer,
    private readonly metrics: GatewayMetrics,
    private readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
    options: Partial<GatewayOptions> = {},
  ) {
    this.options = { ...DEFAULT_GATEWAY_OPTIONS, ...options };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxPayloadBytes,
      perMessageDeflate: false,
      // Echo the subprotocol the client asked for (native SDKs send centrifuge-protobuf).
      handleProtocols: (protocols) =>
        protocols.has('centrifuge-protobuf') && this.codecs.protobuf
          ? 'centrifuge-protobuf'
          : protocols.has('centrifuge-json')
            ? 'centrifuge-json'
            : false,
    });
  }

  async start(onControl: (data: unknown) => void) {
    this.controlHandler = onControl;
    await this.broker.start({
      onPublication: (key, publication, epoch) => this.deliver(key, publication, epoch),
      onJoin: (key, info) => this.deliverJoinLeave(key, 'join', info),
      onLeave: (key, info) => this.deliverJoinLeave(key, 'leave', info),
    });
    await this.broker.subscribe(CONTROL_CHANNEL);
  }

  /** Takes over WebSocket upgrades on GATEWAY_PATH of an HTTP server. */
  attach(server: Server) {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname !== GATEWAY_PATH || this.closing) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      const codec = this.codecFor(request, url);
      if (!codec) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nunsupported protocol format');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) =>
        this.accept(ws, codec, url.searchParams.get('api_key') ?? undefined),
      );
    });
  }

  /** JSON unless the client asks for Protobuf (subprotocol `centrifuge-protobuf` or `?format=protobuf`). */
  private codecFor(request: IncomingMessage, url: URL): Codec | undefined {
    const protocols = String(request.headers['sec-websocket-protocol'] ?? '');
    const format = url.searchParams.get('format') ?? url.searchParams.get('cf_protocol');
    const wantsProtobuf = /(^|,\s*)centrifuge-protobuf(\s*,|$)/.test(protocols) || format === 'protobuf';
    if (!wantsProtobuf) return jsonCodec;
    return this.codecs.protobuf;
  }

  /** Publishes to a channel of an app: stored in history (with an offset) unless ephemeral. */
  async publish(
    appId: string,
    channel: string,
    data: unknown,
    options: { ephemeral?: boolean } = {},
  ): Promise<StreamPosition | undefined> {
    this.metrics.publications.inc();
    const key = brokerKey(appId, channel);
    if (options.ephemeral) {
      await this.broker.publishEphemeral(key, data);
      return undefined;
    }
    return this.broker.publish(key, data, {
      historySize: this.options.historySize,
      historyTtlSeconds: this.options.historyTtlSeconds,
    });
  }

  /** Sends a control message to every node (including this one). */
  async publishControl(data: unknown) {
    await this.broker.publishEphemeral(CONTROL_CHANNEL, data);
  }

  /** Closes every local connection of a user (other nodes do the same on the control message). */
  disconnectUserLocally(appId: string, userId: string, disconnect: Disconnect) {
    for (const session of this.sessionsByUser.get(`${appId}/${userId}`) ?? [])
      this.closeSession(session, disconnect);
  }

  /** Ends a user's local subscriptions to a channel with an unsubscribe push. */
  unsubscribeUserLocally(appId: string, userId: string, channel: string, code: number, reason: string) {
    for (const session of this.sessionsByUser.get(`${appId}/${userId}`) ?? []) {
      const sub = session.subs.get(channel);
      if (!sub) continue;
      void this.removeSubscription(sub);
      this.enqueue(session, session.codec.encodeReply({ push: { channel, unsubscribe: { code, reason } } }));
    }
  }

  /** Local sessions, for presence decisions (e.g. "is this user online on this node"). */
  localSessionCount(appId: string, userId: string) {
    return this.sessionsByUser.get(`${appId}/${userId}`)?.size ?? 0;
  }

  get connectionCount() {
    return this.sessions.size;
  }

  /** Graceful shutdown: clients get 3001 and reconnect (to another node). */
  async close() {
    this.closing = true;
    for (const session of [...this.sessions]) this.closeSession(session, DisconnectCode.SHUTDOWN);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await this.broker.close();
  }

  // ---- connection lifecycle ----

  private accept(ws: WebSocket, codec: Codec, apiKey: string | undefined) {
    const session = new Session(ws, codec, apiKey, this.options.commandsPerSecond * 2);
    this.sessions.add(session);
    this.metrics.connections.inc();
    session.staleTimer = setTimeout(() => {
      if (session.phase === 'connecting') this.closeSession(session, DisconnectCode.STALE);
    }, this.options.staleMs);
    ws.on('message', (data, isBinary) => this.onFrame(session, data as Buffer, isBinary));
    ws.on('close', () => this.cleanup(session));
    ws.on('error', () => this.closeSession(session, DisconnectCode.WRITE_ERROR));
  }

  private onFrame(session: Session, data: Buffer, isBinary: boolean) {
    if (session.phase === 'closed') return;
    let commands: Command[];
    try {
      commands = session.codec.decodeCommands(data, isBinary);
    } catch {
      this.closeSession(session, DisconnectCode.BAD_REQUEST);
      return;
    }
    if (!this.takeTokens(session, commands.length)) {
      this.closeSession(session, DisconnectCode.TOO_MANY_REQUESTS);
      return;
    }
    for (const command of commands) {
      session.queue = session.queue
        .then(() => (session.phase === 'closed' ? undefined : this.handle(session, command)))
        .catch((error) => {
          if (error instanceof GatewayError && error.disconnect)
            return this.closeSession(session, error.disconnect);
          this.log.error({ err: error }, 'realtime command failed');
          this.closeSession(session, DisconnectCode.INTERNAL);
        });
    }
  }

  private takeTokens(session: Session, count: number): boolean {
    const now = Date.now();
    const burst = this.options.commandsPerSecond * 2;
    session.tokens = Math.min(
      burst,
      session.tokens + ((now - session.tokensAt) / 1000) * this.options.commandsPerSecond,
    );
    session.tokensAt = now;
    session.tokens -= count;
    return session.tokens >= 0;
  }

  private async handle(session: Session, command: Command) {
    if (typeof command !== 'object' || command === null) throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    const method = methodOf(command);
    const id = command.id;
    if (id !== undefined && (!Number.isInteger(id) || id < 0))
      throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    if (!method) {
      // An empty command is the client's pong (we are lenient about unsolicited ones).
      if (id) throw GatewayError.close(DisconnectCode.BAD_REQUEST);
      this.onPong(session);
      return;
    }
    if (method === 'send') return; // async messages: nothing to do, and no reply
    if (!id) throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    if (method !== 'connect' && session.phase !== 'connected')
      throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    if (method === 'connect' && session.phase !== 'connecting')
      throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    try {
      // A connect with an expired token gets error 109 as a reply (the client refreshes its token).
      if (method === 'connect')
        return this.reply(session, id, 'connect', await this.connect(session, command.connect!));
      const result = await this.dispatch(session, id, method, command);
      if (result !== REPLIED) this.reply(session, id, method, result);
    } catch (error) {
      if (error instanceof GatewayError && error.error) {
        this.enqueue(session, session.codec.encodeReply({ id, error: error.error }));
        return;
      }
      throw error;
    }
  }

  private dispatch(
    session: Session,
    id: number,
    method: string,
    command: Command,
  ): Promise<Reply | typeof REPLIED> | Reply {
    switch (method) {
      case 'subscribe':
        return this.subscribe(session, id, command.subscribe!);
      case 'unsubscribe':
        return this.unsubscribe(session, requireChannel(command.unsubscribe));
      case 'presence':
        return this.presence(session, requireChannel(command.presence));
      case 'presence_stats':
        return this.presenceStats(session, requireChannel(command.presence_stats));
      case 'history':
        return this.history(session, command.history!);
      case 'rpc':
        return this.rpc(session, command.rpc!);
      case 'refresh':
        return this.refresh(session, command.refresh!);
      case 'ping':
        return {};
      case 'publish':
        throw GatewayError.reply(ErrorCode.PERMISSION_DENIED, 'send messages through the REST API');
      case 'sub_refresh':
        throw GatewayError.reply(ErrorCode.NOT_AVAILABLE, 'subscription tokens are not used');
      default:
        throw GatewayError.reply(ErrorCode.METHOD_NOT_FOUND, 'method not found');
    }
  }

  private async connect(session: Session, request: NonNullable<Command['connect']>): Promise<Reply> {
    if (typeof request !== 'object' || request === null) throw GatewayError.close(DisconnectCode.BAD_REQUEST);
    const data = request.data as { api_key?: unknown } | undefined;
    const apiKey = session.apiKey ?? (typeof data?.api_key === 'string' ? data.api_key : undefined);
    const grant = await this.authorizer.connect({ apiKey, token: request.token, data: request.data });
    if (session.phase === 'closed') return {};
    clearTimeout(session.staleTimer);
    session.phase = 'connected';
    session.appId = grant.appId;
    session.userId = grant.userId;
    session.connInfo = grant.connInfo;
    session.state = grant.state;
    this.setExpiry(session, grant.expiresAt);
    const userKey = `${grant.appId}/${grant.userId}`;
    let set = this.sessionsByUser.get(userKey);
    if (!set) {
      set = new Set();
      this.sessionsByUser.set(userKey, set);
    }
    set.add(session);
    this.schedulePing(session);
    this.authorizer.onConnected?.(session);
    return {
      client: session.id,
      version: SERVER_VERSION,
      ping: Math.round(this.options.pingIntervalMs / 1000),
      pong: true,
      ...this.expiryFields(session),
    };
  }

  private async refresh(session: Session, request: { token?: string }): Promise<Reply> {
    const { expiresAt } = await this.authorizer.refresh(session, request?.token);
    this.setExpiry(session, expiresAt);
    return { client: session.id, version: SERVER_VERSION, ...this.expiryFields(session) };
  }

  private expiryFields(session: Session) {
    if (!session.expiresAt) return {};
    return { expires: true, ttl: Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000)) };
  }

  private setExpiry(session: Session, expiresAt: number | undefined) {
    clearTimeout(session.expiryTimer);
    session.expiresAt = expiresAt;
    if (!expiresAt) return;
    session.expiryTimer = setTimeout(
      () => this.closeSession(session, DisconnectCode.EXPIRED),
      Math.max(0, expiresAt - Date.now()) + this.options.expiredGraceMs,
    );
    session.expiryTimer.unref();
  }

  // ---- subscriptions, history, presence ----

  /** Replies itself: the reply must go out before any live publication of the channel. */
  private async subscribe(session: Session, id: number, request: SubscribeRequest): Promise<typeof REPLIED> {
    const channel = requireChannel(request);
    if (session.subs.has(channel))
      throw GatewayError.reply(ErrorCode.ALREADY_SUBSCRIBED, 'already subscribed');
    if (session.subs.size >= this.options.maxSubscriptionsPerConnection) {
      throw GatewayError.reply(ErrorCode.LIMIT_EXCEEDED, 'too many subscriptions');
    }
    if (request.recover) requirePosition(request.offset, request.epoch);
    const grant = await this.authorizer.subscribe(session, channel);
    if (session.phase === 'closed') return REPLIED;
    const key = brokerKey(session.appId, channel);
    const sub: Subscription = {
      channel,
      key,
      session,
      pending: [],
      offset: 0,
      epoch: '',
      presence: grant.presence,
      joinLeave: request.join_leave === true,
      info: {
        user: session.userId,
        client: session.id,
        ...(session.connInfo !== undefined ? { conn_info: session.connInfo } : {}),
        ...(grant.chanInfo !== undefined ? { chan_info: grant.chanInfo } : {}),
      },
    };
    session.subs.set(channel, sub);
    this.metrics.subscriptions.inc();
    let local = this.hub.get(key);
    if (!local) {
      local = new Set();
      this.hub.set(key, local);
      await this.broker.subscribe(key);
    }
    local.add(sub);

    let result: Reply;
    try {
      result = await this.positionAndRecovery(sub, request);
    } catch (error) {
      await this.removeSubscription(sub);
      throw error;
    }
    // The client's position after this reply: the last recovered publication, or the stream top.
    sub.offset =
      (result.publications as { offset: number }[] | undefined)?.at(-1)?.offset ?? (result.offset as number);
    this.reply(session, id, 'subscribe', result);
    // Live publications that raced the history read: deliver only those past that position.
    const raced = sub.pending ?? [];
    sub.pending = null;
    for (const { publication, epoch } of raced) {
      if (publication.offset === 0 || publication.offset > sub.offset)
        this.deliverTo(sub, publication, epoch);
    }
    if (grant.presence) {
      await this.broker.addPresence(key, session.id, sub.info);
      await this.broker.publishJoin(key, sub.info);
    }
    if (session.subs.get(channel) === sub) this.authorizer.onSubscribed?.(session, channel);
    return REPLIED;
  }

  /** Centrifugo's recovery rules: all missed publications or none, never a partial recovery. */
  private async positionAndRecovery(sub: Subscription, request: SubscribeRequest): Promise<Reply> {
    const wantsRecovery = request.recover === true;
    const since = { offset: request.offset ?? 0, epoch: request.epoch ?? '' };
    let position: StreamPosition;
    let publications: Publication[] = [];
    let recovered = false;
    try {
      const history = await this.broker.history(
        sub.key,
        wantsRecovery ? { since, limit: MAX_HISTORY_LIMIT + 1 } : { limit: 0 },
      );
      position = history.position;
      if (wantsRecovery) {
        publications = history.publications;
        recovered =
          publications.length === 0
            ? position.offset === since.offset
            : publications[0]!.offset === since.offset + 1 && publications.at(-1)!.offset === position.offset;
        if (publications.length > MAX_HISTORY_LIMIT) recovered = false;
      }
    } catch (error) {
      if (!(error instanceof UnrecoverablePositionError)) throw error;
      position = error.current;
    }
    // Flag bit 2 (`rejectUnrecovered`, clients with getState): an error instead of a fresh position.
    if (wantsRecovery && !recovered && typeof request.flag === 'number' && request.flag & 2)
      throw GatewayError.reply(ErrorCode.UNRECOVERABLE_POSITION, 'unrecoverable position');
    sub.epoch = position.epoch;
    const result: Reply = {
      recoverable: true,
      positioned: true,
      epoch: position.epoch,
      offset: position.offset,
    };
    if (wantsRecovery) {
      result.was_recovering = true;
      if (recovered) {
        result.recovered = true;
        if (publications.length) result.publications = publications.map(wirePublication);
        result.offset = since.offset;
      }
    }
    return result;
  }

  private async unsubscribe(session: Session, channel: string): Promise<Reply> {
    const sub = session.subs.get(channel);
    if (sub) await this.removeSubscription(sub);
    return {};
  }

  private async removeSubscription(sub: Subscription) {
    const { session, key } = sub;
    if (session.subs.get(sub.channel) !== sub) return;
    session.subs.delete(sub.channel);
    this.metrics.subscriptions.dec();
    if (sub.pending === null) this.authorizer.onUnsubscribed?.(session, sub.channel);
    const local = this.hub.get(key);
    local?.delete(sub);
    if (local && local.size === 0) {
      this.hub.delete(key);
      await this.broker.unsubscribe(key).catch(() => {});
    }
    if (sub.presence) {
      await this.broker.removePresence(key, session.id).catch(() => {});
      await this.broker.publishLeave(key, sub.info).catch(() => {});
    }
  }

  private requireSubscribed(session: Session, channel: string): Subscription {
    const sub = session.subs.get(channel);
    if (!sub) throw GatewayError.reply(ErrorCode.PERMISSION_DENIED, 'subscribe to the channel first');
    return sub;
  }

  private async presence(session: Session, channel: string): Promise<Reply> {
    const sub = this.requireSubscribed(session, channel);
    return { presence: await this.broker.presence(sub.key) };
  }

  private async presenceStats(session: Session, channel: string): Promise<Reply> {
    const sub = this.requireSubscribed(session, channel);
    const stats = await this.broker.presenceStats(sub.key);
    return { num_clients: stats.numClients, num_users: stats.numUsers };
  }

  private async history(session: Session, request: HistoryRequest): Promise<Reply> {
    const sub = this.requireSubscribed(session, requireChannel(request));
    const limit = request.limit ?? 0;
    if (!Number.isInteger(limit) || limit < -1) throw GatewayError.reply(ErrorCode.BAD_REQUEST, 'bad limit');
    if (request.since !== undefined && (typeof request.since !== 'object' || Array.isArray(request.since)))
      throw GatewayError.reply(ErrorCode.BAD_REQUEST, 'bad since');
    const since = request.since ? requirePosition(request.since.offset, request.since.epoch) : undefined;
    if (request.reverse && since && since.offset === 0)
      throw GatewayError.reply(ErrorCode.BAD_REQUEST, 'bad since');
    try {
      const result = await this.broker.history(sub.key, {
        limit,
        ...(since ? { since } : {}),
        reverse: request.reverse === true,
      });
      return {
        ...(result.publications.length ? { publications: result.publications.map(wirePublication) } : {}),
        epoch: result.position.epoch,
        offset: result.position.offset,
      };
    } catch (error) {
      if (error instanceof UnrecoverablePositionError) {
        throw GatewayError.reply(ErrorCode.UNRECOVERABLE_POSITION, 'unrecoverable position');
      }
      throw error;
    }
  }

  private async rpc(session: Session, request: { method?: string; data?: unknown }): Promise<Reply> {
    if (typeof request?.method !== 'string' || request.method === '') {
      throw GatewayError.reply(ErrorCode.METHOD_NOT_FOUND, 'rpc needs a method');
    }
    const data = await this.authorizer.rpc(session, request.method, request.data);
    return data === undefined ? {} : { data };
  }

  // ---- delivery ----

  private deliver(key: string, publication: Publication, epoch: string) {
    if (key === CONTROL_CHANNEL) {
      this.controlHandler?.(publication.data);
      return;
    }
    const local = this.hub.get(key);
    if (!local) return;
    // Encode once per wire format, not once per subscriber.
    const encoded = new Map<Codec, string | Buffer>();
    for (const sub of local) {
      if (sub.pending) {
        sub.pending.push({ publication, epoch });
        continue;
      }
      const codec = sub.session.codec;
      let bytes = encoded.get(codec);
      if (bytes === undefined) {
        bytes = codec.encodeReply({ push: { channel: sub.channel, pub: wirePublication(publication) } });
        encoded.set(codec, bytes);
      }
      this.deliverTo(sub, publication, epoch, bytes);
    }
  }

  private deliverTo(sub: Subscription, publication: Publication, epoch: string, encoded?: string | Buffer) {
    if (publication.offset > 0) {
      if (epoch !== sub.epoch || publication.offset !== sub.offset + 1) {
        if (publication.offset <= sub.offset && epoch === sub.epoch) return; // already delivered
        // A gap or a new stream: make the client resubscribe and recover from its position.
        this.metrics.dropped.inc();
        void this.removeSubscription(sub);
        this.enqueue(
          sub.session,
          sub.session.codec.encodeReply({
            push: {
              channel: sub.channel,
              unsubscribe: { code: UnsubscribeCode.INSUFFICIENT_STATE, reason: 'insufficient state' },
            },
          }),
        );
        return;
      }
      sub.offset = publication.offset;
    }
    this.metrics.delivered.inc();
    this.enqueue(
      sub.session,
      encoded ??
        sub.session.codec.encodeReply({ push: { channel: sub.channel, pub: wirePublication(publication) } }),
    );
  }

  private deliverJoinLeave(key: string, kind: 'join' | 'leave', info: ClientInfo) {
    const local = this.hub.get(key);
    if (!local) return;
    for (const sub of local) {
      if (!sub.joinLeave || sub.pending || sub.session.id === info.client) continue;
      this.enqueue(
        sub.session,
        sub.session.codec.encodeReply({ push: { channel: sub.channel, [kind]: { info } } }),
      );
    }
  }

  private reply(session: Session, id: number, method: string, result: Reply) {
    this.enqueue(session, session.codec.encodeReply({ id, [method]: result }));
  }

  private enqueue(session: Session, encoded: string | Buffer) {
    if (session.phase === 'closed') return;
    session.out.push(encoded);
    if (!session.flushScheduled) {
      session.flushScheduled = true;
      setImmediate(() => this.flush(session));
    }
  }

  private flush(session: Session) {
    session.flushScheduled = false;
    if (session.phase === 'closed' || session.out.length === 0) return;
    if (session.ws.bufferedAmount > this.options.maxBufferedBytes) {
      this.metrics.slowDisconnects.inc();
      this.metrics.dropped.inc(session.out.length);
      session.out = []; // dropped: closeSession must not try to flush them again
      this.closeSession(session, DisconnectCode.SLOW);
      return;
    }
    const frame = session.codec.frame(session.out);
    session.out = [];
    session.ws.send(frame);
  }

  // ---- pings, closing ----

  private schedulePing(session: Session) {
    session.pingTimer = setInterval(() => {
      if (session.phase !== 'connected') return;
      this.enqueue(session, session.codec.ping);
      // The deadline runs from the first unanswered ping: later pings must not push it back.
      session.pongTimer ??= setTimeout(
        () => this.closeSession(session, DisconnectCode.NO_PONG),
        this.options.pongTimeoutMs,
      );
      for (const sub of session.subs.values()) {
        if (sub.presence) void this.broker.addPresence(sub.key, session.id, sub.info).catch(() => {});
      }
    }, this.options.pingIntervalMs);
  }

  private onPong(session: Session) {
    clearTimeout(session.pongTimer);
    session.pongTimer = undefined;
  }

  private closeSession(session: Session, disconnect: Disconnect) {
    if (session.phase === 'closed') return;
    // Flush what is queued (e.g. an unsubscribe push) before the close frame.
    if (session.out.length) this.flush(session);
    session.phase = 'closed';
    session.ws.close(disconnect.code, disconnect.reason);
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => session.ws.terminate(), 5_000).unref();
    this.cleanup(session);
  }

  private cleanup(session: Session) {
    if (!this.sessions.delete(session)) return;
    session.phase = 'closed';
    this.metrics.connections.dec();
    clearTimeout(session.staleTimer);
    clearTimeout(session.pongTimer);
    clearTimeout(session.expiryTimer);
    clearInterval(session.pingTimer);
    for (const sub of [...session.subs.values()]) void this.removeSubscription(sub);
    if (session.userId) {
      const key = `${session.appId}/${session.userId}`;
      const set = this.sessionsByUser.get(key);
      set?.delete(session);
      if (set?.size === 0) this.sessionsByUser.delete(key);
      this.authorizer.onDisconnected?.(session);
    }
  }
}

function requireChannel(request: { channel?: unknown } | undefined): string {
  const channel = request?.channel;
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > 255) {
    throw GatewayError.reply(ErrorCode.BAD_REQUEST, 'bad channel');
  }
  return channel;
}

/** A client's stream position: offset a non-negative safe integer, epoch a string; else 107. */
function requirePosition(offset: unknown, epoch: unknown): StreamPosition {
  if (offset !== undefined && (!Number.isSafeInteger(offset) || (offset as number) < 0))
    throw GatewayError.reply(ErrorCode.BAD_REQUEST, 'offset must be a non-negative integer');
  if (epoch !== undefined && typeof epoch !== 'string')
    throw GatewayError.reply(ErrorCode.BAD_REQUEST, 'epoch must be a string');
  return { offset: (offset as number | undefined) ?? 0, epoch: (epoch as string | undefined) ?? '' };
}

function wirePublication(p: Publication): Reply {
  return {
    data: p.data,
    ...(p.offset > 0 ? { offset: p.offset } : {}),
    ...(p.info ? { info: p.info } : {}),
    ...(p.tags ? { tags: p.tags } : {}),
  };
}
