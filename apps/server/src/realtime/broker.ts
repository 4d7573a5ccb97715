/**
 * The realtime broker: fan-out of publications between server nodes, per-channel history with
 * stream positions, and presence. Two implementations share this contract and one contract test
 * suite (broker.contract.ts): broker.memory.ts (one process) and broker.redis.ts (many processes).
 *
 * Contract every implementation guarantees:
 * - `publish` appends to the channel's stream and returns the new position. Offsets start at 1 and
 *   increase by exactly 1 per publication in a channel; the epoch names one incarnation of the
 *   stream and changes whenever the stream is recreated (expired, lost on restart, removed).
 * - Every node that called `subscribe(channel)` receives each publication of that channel exactly
 *   once via `handler.onPublication`, in offset order. Publications made before `subscribe`
 *   resolved may or may not be delivered: callers read history for those.
 * - `history` returns publications in ascending offset order, strictly after `since.offset`
 *   (or strictly before it, newest first, with `reverse`), at most `limit` (limit 0 → position
 *   only). A `since.epoch` different from the current epoch throws UnrecoverablePositionError.
 * - Presence entries expire `presenceTtlSeconds` after their last `addPresence` unless refreshed;
 *   `presenceStats` counts clients and distinct users.
 * - `publishEphemeral` delivers like `publish` (in order with it, per node) with offset 0 and no
 *   history: it never advances or breaks the stream position.
 * - Channel names are opaque strings (callers prefix them with the app id for tenancy).
 * - A failed call rejects; nothing is partially applied.
 */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface ClientInfo {
  user: string;
  client: string;
  conn_info?: unknown;
  chan_info?: unknown;
}

export interface Publication {
  offset: number;
  data: unknown;
  info?: ClientInfo;
  tags?: Record<string, string>;
}

export interface HistoryOptions {
  since?: StreamPosition;
  /** 0 → position only; -1 → everything kept (capped by the implementation). */
  limit: number;
  reverse?: boolean;
}

export interface HistoryResult {
  publications: Publication[];
  position: StreamPosition;
}

export interface PublishOptions {
  /** Keep at most this many publications in the channel's history (0 → no history, offsets still advance). */
  historySize: number;
  /** Drop the channel's history (and start a new epoch) after this long without a publication. */
  historyTtlSeconds: number;
  info?: ClientInfo;
  tags?: Record<string, string>;
}

export interface BrokerHandler {
  onPublication(channel: string, publication: Publication, epoch: string): void;
  onJoin(channel: string, info: ClientInfo): void;
  onLeave(channel: string, info: ClientInfo): void;
}

export interface Broker {
  /** Starts delivering to `handler`; call once before anything else. */
  start(handler: BrokerHandler): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, data: unknown, options: PublishOptions): Promise<StreamPosition>;
  /**
   * Delivers to subscribers on every node without touching the stream: no offset, no history
   * (typing indicators). Positioned clients ignore publications without an offset, so ephemeral
   * traffic never breaks recovery.
   */
  publishEphemeral(channel: string, data: unknown, info?: ClientInfo): Promise<void>;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  history(channel: string, options: HistoryOptions): Promise<HistoryResult>;
  removeHistory(channel: string): Promise<void>;

  addPresence(channel: string, clientId: string, info: ClientInfo): Promise<void>;
  removePresence(channel: string, clientId: string): Promise<void>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  presenceStats(channel: string): Promise<{ numClients: number; numUsers: number }>;

  close(): Promise<void>;
}

export class UnrecoverablePositionError extends Error {
  constructor(readonly current: StreamPosition) {
    super('unrecoverable position');
  }
}

/** Largest history page any call returns (Centrifugo's default cap). */
export const MAX_HISTORY_LIMIT = 300;
