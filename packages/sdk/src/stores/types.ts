import type {
  Block,
  ChannelMute,
  Draft,
  Message,
  Reminder,
  ScheduledMessage,
  SendMessageBody,
  Thread,
  User,
  UserMute,
} from '@parley/protocol';
import type { z } from 'zod';
import type {
  ChannelEntry,
  MentionsState,
  QueryState,
  ThreadListState,
  UnreadState,
} from '../state/types.js';

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

/** A list of confirmed messages as the cache keeps it: the newest ones, ascending by seq. */
export interface CachedList {
  messages: Message[];
  /** Older messages exist before the cached ones. */
  hasOlder: boolean;
}

/**
 * The value of a record of each kind: the cached slices of the client state besides channels,
 * messages, users, queries, unread counts and positions. Keyed like the state slice of the same
 * name; `threadList` and `mentions` are single records under the key `''`.
 */
export interface CachedRecords {
  /** A thread's newest confirmed replies, by parent message id. */
  replies: CachedList;
  /** The user's threads (read position, unread replies), by parent message id. */
  threads: Thread;
  threadList: ThreadListState;
  /** The newest mentions of the user. */
  mentions: MentionsState;
  /** The user's blocks by target id, mutes by target id / cid. */
  blocks: Block;
  userMutes: UserMute;
  channelMutes: ChannelMute;
  /** Drafts by `draftKey(cid, parent_id)`. */
  drafts: Draft;
  /** Reminders by message id, scheduled messages by id. */
  reminders: Reminder;
  scheduledMessages: ScheduledMessage;
  /** When the user starred a message (ISO), by message id. */
  starred: string;
}

export type RecordKind = keyof CachedRecords;

/** Every record kind (what `emptyCache()` has, and the order hydration reads them in). */
export const RECORD_KINDS: readonly RecordKind[] = [
  'replies',
  'threads',
  'threadList',
  'mentions',
  'blocks',
  'userMutes',
  'channelMutes',
  'drafts',
  'reminders',
  'scheduledMessages',
  'starred',
];

/**
 * Puts (or with `value: null` deletes) the record of `kind` under `key`. `cid` files the record
 * under a channel: `deleteChannels` removes it with the channel.
 */
export type RecordChange = {
  [K in RecordKind]: { kind: K; key: string; cid?: string; value: CachedRecords[K] | null };
}[RecordKind];

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
  /** Records by kind, then key (every kind present, possibly empty). */
  records: { [K in RecordKind]: Record<string, CachedRecords[K]> };
}

/** One atomic change to the cache. Absent fields are left as they are. */
export interface CacheBatch {
  putChannels?: ChannelEntry[];
  /** Forget these channels, with their messages and the records filed under them (`cid`). */
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
  /** Record changes, applied in list order (a later change of the same kind and key wins). */
  records?: RecordChange[];
}

/**
 * Where the SDK keeps its cache and outbox between runs: memory (Node, tests), IndexedDB via
 * Dexie (browsers, `@parley/sdk/dexie`), or SQLite (a React Native adapter implements this).
 *
 * Contract every implementation guarantees:
 * - Data is partitioned by `userId`: `load(a)` never returns what was written for `b`.
 * - `write` applies the whole batch or nothing (a batch that fails, e.g. on a value it cannot
 *   store, leaves the cache as it was and rejects); once it resolves, `load` returns the batch's
 *   data (also after the process or page restarted, for durable stores). Batches apply in call
 *   order. Within a batch, `deleteChannels` (with the records filed under those channels) and
 *   `deleteOutbox` apply before everything else; `records` apply in list order.
 * - `load` returns `emptyCache()` (not an error) for a user with nothing cached; `outbox` comes back
 *   in `created_at` order, and each channel's `messages` ascending by seq.
 * - Stored values come back structurally equal to what was written (JSON-compatible values only).
 * - Records are opaque values keyed by (kind, key): a store needs no knowledge of their shape
 *   (one SQLite table `(user_id, kind, key, cid, value)` implements them).
 * - `clear(userId)` removes everything of that user, outbox and records included.
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
    records: Object.fromEntries(RECORD_KINDS.map((kind) => [kind, {}])) as CachedState['records'],
  };
}
