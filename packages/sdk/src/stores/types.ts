import type { Message, SendMessageBody, User } from '@parley/protocol';
import type { z } from 'zod';
import type { ChannelEntry, QueryState, UnreadState } from '../state/types.js';

/** A message waiting to be sent: replayed in `created_at` order, idempotent by client_msg_id. */
export interface OutboxItem {
  client_msg_id: string;
  cid: string;
  body: z.input<typeof SendMessageBody> & { client_msg_id: string };
  /** When the user sent it (ISO, client clock); orders the replay. */
  created_at: string;
  /** A permanent error stopped it: it waits for `retry()` instead of being replayed. */
  failed: boolean;
  error?: { code: string; message: string };
}

/** Where a realtime subscription is in its stream: recovery resumes from here after a reload. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/**
 * What the client has applied of one topic: its stream position (for realtime recovery) and the
 * created_at of its last applied event, or the last_sync_at of a sync that covered it (where a
 * POST /sync for this topic starts when recovery fails).
 */
export interface TopicPosition extends StreamPosition {
  at?: string;
}

/** Everything a persistent store keeps for one user. */
export interface CachedState {
  channels: ChannelEntry[];
  /** The cached (confirmed) messages of each channel, ascending by seq. */
  messages: Record<string, Message[]>;
  /** Whether older messages exist before the cached ones, by cid. */
  hasOlder: Record<string, boolean>;
  users: User[];
  queries: Record<string, QueryState>;
  unread: UnreadState | null;
  outbox: OutboxItem[];
  /** Positions by realtime topic, written with the state they reflect. */
  positions: Record<string, TopicPosition>;
}

/** One atomic change to the cache. Absent fields are left as they are. */
export interface CacheBatch {
  putChannels?: ChannelEntry[];
  /** Forget these channels, with their messages. */
  deleteChannels?: string[];
  /** Replace the cached messages of these channels. */
  messages?: Record<string, { messages: Message[]; hasOlder: boolean }>;
  putUsers?: User[];
  /** Replace (or with null remove) these channel queries. */
  queries?: Record<string, QueryState | null>;
  unread?: UnreadState;
  putOutbox?: OutboxItem[];
  deleteOutbox?: string[];
  /** Set (or with null forget) positions by topic. */
  positions?: Record<string, TopicPosition | null>;
}

/**
 * Where the SDK keeps its cache and outbox between runs: memory (Node, tests), IndexedDB via
 * Dexie (browsers, `@parley/sdk/dexie`), or SQLite (a React Native adapter implements this).
 *
 * Contract every implementation guarantees:
 * - Data is partitioned by `userId`: `load(a)` never returns what was written for `b`.
 * - `write` applies the whole batch or nothing; once it resolves, `load` returns the batch's data
 *   (also after the process or page restarted, for durable stores). Batches apply in call order.
 * - `load` returns `emptyCache()` (not an error) for a user with nothing cached; `outbox` comes back
 *   in `created_at` order, and each channel's `messages` ascending by seq.
 * - Stored values come back structurally equal to what was written (JSON-compatible values only).
 * - `clear(userId)` removes everything of that user, outbox included.
 */
export interface PersistentStore {
  load(userId: string): Promise<CachedState>;
  write(userId: string, batch: CacheBatch): Promise<void>;
  clear(userId: string): Promise<void>;
  close(): Promise<void>;
}

export function emptyCache(): CachedState {
  return {
    channels: [],
    messages: {},
    hasOlder: {},
    users: [],
    queries: {},
    unread: null,
    outbox: [],
    positions: {},
  };
}
