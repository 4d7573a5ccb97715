import { Centrifuge, type SubscribedContext, type Subscription } from 'centrifuge';
import type { ServerEvent } from '../state/types.js';
import type { StreamPosition } from '../stores/types.js';
import type { TokenManager } from '../token.js';

/**
 * `connecting`: first attempt; `connected`: live and up to date; `offline`: the connection was lost
 * and the client is retrying (with backoff and jitter); `recovering`: reconnected, catching up on
 * what was missed; `disconnected`: not connected and not trying (before connectUser, after
 * disconnectUser, or after the server refused the user for good).
 */
export type ConnectionState = 'connecting' | 'connected' | 'offline' | 'recovering' | 'disconnected';

export const channelTopic = (cid: string) => `chat:channel:${cid}`;
export const userTopic = (userId: string) => `chat:user:${userId}`;

export interface SubscriptionStatus {
  /** The subscription came back after a reconnect without its missed publications. */
  unrecovered: boolean;
  /** First time subscribed since watch(). */
  first: boolean;
  /** The subscribe resumed from a position (a reconnect, or a position persisted before a reload). */
  wasRecovering: boolean;
}

export interface ConnectionHooks {
  onEvent(event: ServerEvent, topic: string): void;
  onState(state: ConnectionState, detail?: { code: number; reason: string }): void;
  /**
   * A subscription became live. The returned promise (a refetch, usually) delays `connected`
   * after a reconnect until it settles, so `recovering` lasts until the state is caught up.
   */
  onSubscribed(topic: string, status: SubscriptionStatus): Promise<void> | void;
  /** The server ended a subscription (not allowed, removed from the channel). */
  onUnsubscribed(topic: string, code: number, reason: string): void;
  /** The subscription's stream position moved (called after onEvent for the same publication). */
  onPosition?(topic: string, position: StreamPosition): void;
}

export interface ConnectionOptions {
  url: string;
  tokens: TokenManager;
  websocket?: unknown;
  hooks: ConnectionHooks;
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
}

/**
 * The realtime link: one `centrifuge` client (its reconnect backoff with jitter, ping handling
 * and token refresh) plus positioned, recoverable subscriptions. Adds the SDK's connection states
 * and reports unrecoverable subscriptions so the client can catch up another way.
 */
export class Connection {
  readonly centrifuge: Centrifuge;
  private everConnected = false;
  private failed = false;
  private state: ConnectionState = 'disconnected';
  /** Topics still to come back (and catch up) before a reconnect counts as `connected`. */
  private catchingUp = new Set<string>();
  private readonly firstSubscribe = new Set<string>();
  private readonly positions = new Map<string, StreamPosition>();

  /** The token the realtime client last used (the REST layer may have a newer one). */
  private token = '';

  constructor(private readonly options: ConnectionOptions) {
    this.centrifuge = new Centrifuge(options.url, {
      // Called on error 109 (expired), before the token's ttl runs out, and when there is none.
      getToken: async () => {
        this.token = this.token ? await options.tokens.refresh(this.token) : await options.tokens.get();
        return this.token;
      },
      ...(options.websocket ? { websocket: options.websocket } : {}),
      minReconnectDelay: options.minReconnectDelay ?? 500,
      maxReconnectDelay: options.maxReconnectDelay ?? 20_000,
    });
    const c = this.centrifuge;
    c.on('connecting', () => this.setState(this.everConnected || this.failed ? 'offline' : 'connecting'));
    // A first attempt that fails means offline too (not "still connecting").
    c.on('error', (ctx) => {
      if ((ctx.type === 'transport' || ctx.type === 'connect') && this.state === 'connecting') {
        this.failed = true;
        this.setState('offline');
      }
    });
    c.on('connected', () => {
      const reconnect = this.everConnected;
      this.everConnected = true;
      if (!reconnect) return this.setState('connected');
      this.catchingUp = new Set(Object.keys(c.subscriptions()));
      this.setState(this.catchingUp.size > 0 ? 'recovering' : 'connected');
    });
    c.on('disconnected', (ctx) => this.setState('disconnected', { code: ctx.code, reason: ctx.reason }));
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  connect(): void {
    this.token = this.options.tokens.current ?? '';
    this.centrifuge.setToken(this.token);
    this.centrifuge.connect();
  }

  disconnect(): void {
    this.centrifuge.disconnect();
  }

  /**
   * Subscribes to a topic (idempotent). Resolves when the subscription is live, or at once when
   * the client is not connected (it subscribes as soon as it is). With `since` (a position saved
   * before a reload), the first subscribe recovers what was published after it.
   */
  watch(topic: string, since?: StreamPosition): Promise<void> {
    const existing = this.centrifuge.getSubscription(topic);
    if (existing) return existing.state === 'subscribed' ? Promise.resolve() : this.whenLive(existing);
    const sub = this.centrifuge.newSubscription(topic, {
      positioned: true,
      recoverable: true,
      ...(since ? { since } : {}),
    });
    this.firstSubscribe.add(topic);
    if (since) this.positions.set(topic, since);
    sub.on('publication', (ctx) => {
      const data = ctx.data as ServerEvent | undefined;
      if (data && typeof data.type === 'string') this.options.hooks.onEvent(data, topic);
      const known = this.positions.get(topic);
      if (ctx.offset !== undefined && known)
        this.setPosition(topic, { offset: ctx.offset, epoch: known.epoch });
    });
    sub.on('subscribed', (ctx) => this.subscribed(topic, ctx));
    sub.on('unsubscribed', (ctx) => {
      this.done(topic);
      if (ctx.code !== 0) this.options.hooks.onUnsubscribed(topic, ctx.code, ctx.reason);
    });
    const live = this.whenLive(sub);
    sub.subscribe();
    return live;
  }

  unwatch(topic: string): void {
    const sub = this.centrifuge.getSubscription(topic);
    if (!sub) return;
    sub.unsubscribe();
    this.centrifuge.removeSubscription(sub);
    this.firstSubscribe.delete(topic);
    this.positions.delete(topic);
    this.done(topic);
  }

  isWatching(topic: string): boolean {
    return this.centrifuge.getSubscription(topic) !== null;
  }

  /** The users whose clients are subscribed to a topic now (the subscription must be live). */
  async presence(topic: string): Promise<string[]> {
    const sub = this.centrifuge.getSubscription(topic);
    if (!sub) throw new Error(`not watching ${topic}`);
    const { clients } = await sub.presence();
    return [...new Set(Object.values(clients).map((c) => c.user))];
  }

  async rpc<T = unknown>(method: string, data: unknown): Promise<T> {
    const result = await this.centrifuge.rpc(method, data);
    return result.data as T;
  }

  private whenLive(sub: Subscription): Promise<void> {
    if (this.state !== 'connected' && this.state !== 'recovering') return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        sub.off('subscribed', finish);
        sub.off('unsubscribed', finish);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(finish, 10_000);
      sub.on('subscribed', finish);
      sub.on('unsubscribed', finish);
    });
  }

  private subscribed(topic: string, ctx: SubscribedContext) {
    const first = this.firstSubscribe.delete(topic);
    const status = {
      unrecovered: ctx.wasRecovering && !ctx.recovered,
      first,
      wasRecovering: ctx.wasRecovering,
    };
    if (ctx.streamPosition) this.setPosition(topic, ctx.streamPosition);
    let result: Promise<void> | void;
    try {
      result = this.options.hooks.onSubscribed(topic, status);
    } catch {
      result = undefined;
    }
    if (result) void result.catch(() => {}).finally(() => this.done(topic));
    else this.done(topic);
  }

  private setPosition(topic: string, position: StreamPosition) {
    const known = this.positions.get(topic);
    if (known && known.offset === position.offset && known.epoch === position.epoch) return;
    this.positions.set(topic, { offset: position.offset, epoch: position.epoch });
    this.options.hooks.onPosition?.(topic, { offset: position.offset, epoch: position.epoch });
  }

  private done(topic: string) {
    if (!this.catchingUp.delete(topic)) return;
    if (this.catchingUp.size === 0 && this.state === 'recovering') this.setState('connected');
  }

  private setState(state: ConnectionState, detail?: { code: number; reason: string }) {
    if (state === this.state) return;
    this.state = state;
    this.options.hooks.onState(state, detail);
  }
}
