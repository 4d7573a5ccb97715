import type { Message } from '@parley/protocol';
import type { MentionsState, MessageList, ParleyState, ThreadListState } from '../state/types.js';
import {
  type CacheBatch,
  type CachedList,
  type PersistentStore,
  RECORD_KINDS,
  type RecordChange,
  type RecordKind,
} from './types.js';

/** How many of each channel's newest messages the cache keeps. */
export const CACHED_MESSAGES_PER_CHANNEL = 100;
/** How many of a thread's newest replies the cache keeps. */
export const CACHED_REPLIES_PER_THREAD = 50;
/** How many threads' replies the cache keeps: those with the latest replies. */
export const CACHED_REPLY_THREADS = 20;
/** How many threads of the thread list (its first ones) the cache keeps. */
export const CACHED_THREADS = 50;
/** How many of the newest mentions the cache keeps. */
export const CACHED_MENTIONS = 50;

/**
 * Writes what changed in the state to the persistent store: coalesced (one batch per tick of
 * changes), in order, by comparing references of the immutable state (no deep diff).
 */
export class Persister {
  private base: ParleyState;
  private current: ParleyState;
  private extra: CacheBatch = {};
  private timer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: PersistentStore,
    private readonly userId: string,
    state: ParleyState,
    private readonly onError: (error: unknown) => void,
  ) {
    this.base = state;
    this.current = state;
  }

  /** Notes a new state; it is written shortly. */
  update(state: ParleyState): void {
    this.current = state;
    this.schedule();
  }

  /** Adds changes that are not in the state (the outbox), written with the next batch. */
  add(batch: CacheBatch): void {
    this.extra = merge(this.extra, batch);
    this.schedule();
  }

  /** Writes everything noted so far; resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = merge(diff(this.base, this.current), this.extra);
    this.base = this.current;
    this.extra = {};
    if (Object.keys(batch).length > 0) {
      this.chain = this.chain.then(
        () => this.store.write(this.userId, batch),
        () => this.store.write(this.userId, batch),
      );
      this.chain.catch(this.onError);
    }
    return this.chain.catch(() => {});
  }

  private schedule() {
    this.timer ??= setTimeout(() => void this.flush(), 20);
  }
}

function merge(a: CacheBatch, b: CacheBatch): CacheBatch {
  // A later outbox change of a message supersedes an earlier one (stores delete before they put).
  const later = new Set([...(b.putOutbox ?? []).map((i) => i.client_msg_id), ...(b.deleteOutbox ?? [])]);
  a = {
    ...a,
    ...(a.putOutbox ? { putOutbox: a.putOutbox.filter((i) => !later.has(i.client_msg_id)) } : {}),
    ...(a.deleteOutbox ? { deleteOutbox: a.deleteOutbox.filter((id) => !later.has(id)) } : {}),
  };
  const out: CacheBatch = { ...a };
  for (const key of ['putChannels', 'deleteChannels', 'putUsers', 'putOutbox', 'deleteOutbox'] as const) {
    const values = [...((a[key] as unknown[]) ?? []), ...((b[key] as unknown[]) ?? [])];
    if (values.length > 0) (out as Record<string, unknown>)[key] = values;
  }
  if (a.messages || b.messages) out.messages = { ...a.messages, ...b.messages };
  if (a.queries || b.queries) out.queries = { ...a.queries, ...b.queries };
  if (a.positions || b.positions) out.positions = { ...a.positions, ...b.positions };
  if (a.records || b.records) out.records = [...(a.records ?? []), ...(b.records ?? [])];
  if (b.unread) out.unread = b.unread;
  return out;
}

/** The cache changes that turn `before` into `after`. */
export function diff(before: ParleyState, after: ParleyState): CacheBatch {
  const batch: CacheBatch = {};
  if (before === after) return batch;
  if (before.channels !== after.channels) {
    const put = Object.values(after.channels).filter((e) => before.channels[e.channel.cid] !== e);
    const gone = Object.keys(before.channels).filter((cid) => !after.channels[cid]);
    if (put.length) batch.putChannels = put;
    if (gone.length) batch.deleteChannels = gone;
  }
  if (before.messages !== after.messages) {
    const messages: NonNullable<CacheBatch['messages']> = {};
    for (const [cid, list] of Object.entries(after.messages)) {
      if (before.messages[cid] !== list) messages[cid] = cachedList(list, CACHED_MESSAGES_PER_CHANNEL);
    }
    for (const cid of Object.keys(before.messages))
      if (!after.messages[cid] && after.channels[cid]) messages[cid] = { messages: [], hasOlder: true };
    if (Object.keys(messages).length) batch.messages = messages;
  }
  if (before.users !== after.users) {
    const put = Object.values(after.users).filter((u) => before.users[u.id] !== u);
    if (put.length) batch.putUsers = put;
  }
  if (before.queries !== after.queries) {
    const queries: NonNullable<CacheBatch['queries']> = {};
    for (const [key, q] of Object.entries(after.queries)) if (before.queries[key] !== q) queries[key] = q;
    for (const key of Object.keys(before.queries)) if (!after.queries[key]) queries[key] = null;
    if (Object.keys(queries).length) batch.queries = queries;
  }
  if (before.unread !== after.unread) batch.unread = after.unread;
  const records = recordChanges(before, after);
  if (records.length) batch.records = records;
  return batch;
}

/** The newest confirmed messages of a list (unconfirmed ones live in the outbox). */
function cachedList(list: MessageList, limit: number): CachedList {
  const sent: Message[] = [];
  for (const id of list.ids) {
    const m = list.byId[id]!;
    if (m.status !== 'sent') continue;
    const { status: _s, error: _e, ...message } = m;
    sent.push(message);
  }
  const kept = sent.slice(-limit);
  return { messages: kept, hasOlder: list.hasOlder || kept.length < sent.length };
}

/** Parent ids of the reply lists the cache keeps: the threads with the latest replies. */
function cachedReplyThreads(state: ParleyState): string[] {
  const latest = (list: MessageList) => list.byId[list.ids.at(-1) ?? '']?.created_at ?? '';
  return Object.keys(state.replies)
    .map((parentId) => [parentId, latest(state.replies[parentId]!)] as const)
    .sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0))
    .slice(0, CACHED_REPLY_THREADS)
    .map(([parentId]) => parentId);
}

const pick = <T>(from: Record<string, T>, keys: string[]): Record<string, T> => {
  const out: Record<string, T> = {};
  for (const key of keys) if (from[key]) out[key] = from[key];
  return out;
};

/**
 * The state's values that the cache keeps as records, by kind and key, within their bounds: the
 * replies of the threads with the latest replies, the threads of the thread list's first page(s)
 * and of those replies, the thread list, the mentions, and the user's own lists whole.
 */
function recordSource(s: ParleyState): { [K in RecordKind]: Record<string, unknown> } {
  const replies = pick(s.replies, cachedReplyThreads(s));
  const threadIds = [...(s.threadList?.ids.slice(0, CACHED_THREADS) ?? []), ...Object.keys(replies)];
  return {
    replies,
    threads: pick(s.threads, threadIds),
    threadList: s.threadList ? { '': s.threadList } : {},
    mentions: s.mentions ? { '': s.mentions } : {},
    blocks: s.blocks,
    userMutes: s.userMutes,
    channelMutes: s.channelMutes,
    drafts: s.drafts,
    reminders: s.reminders,
    scheduledMessages: s.scheduledMessages,
    starred: s.starred,
  };
}

/** A state value as its record: cut to its bound, filed under its channel where that applies. */
function toRecord(kind: RecordKind, key: string, value: unknown, s: ParleyState): RecordChange {
  let cid: string | undefined;
  if (kind === 'replies') {
    const list = value as MessageList;
    cid = s.threads[key]?.cid ?? list.byId[list.ids[0] ?? '']?.cid;
    value = cachedList(list, CACHED_REPLIES_PER_THREAD);
  } else if (kind === 'threadList') {
    // A longer list is cut, and without its cursor (it points after its last page): `queryThreads`
    // loads it again.
    const list = value as ThreadListState;
    if (list.ids.length > CACHED_THREADS) value = { ids: list.ids.slice(0, CACHED_THREADS), next: null };
  } else if (kind === 'mentions') {
    const { messages, hasOlder } = value as MentionsState;
    value = {
      messages: messages.slice(0, CACHED_MENTIONS),
      hasOlder: hasOlder || messages.length > CACHED_MENTIONS,
    };
  } else if (kind === 'threads' || kind === 'drafts') {
    // Threads and drafts go with their channel when it leaves the cache.
    cid = (value as { cid: string }).cid;
  }
  return { kind, key, value, ...(cid ? { cid } : {}) } as RecordChange;
}

/** Records to put where the value changed (by reference), to delete where it left (or fell out of a bound). */
function recordChanges(before: ParleyState, after: ParleyState): RecordChange[] {
  const was = recordSource(before);
  const now = recordSource(after);
  const changes: RecordChange[] = [];
  for (const kind of RECORD_KINDS) {
    const a = was[kind];
    const b = now[kind];
    if (a === b) continue;
    for (const [key, value] of Object.entries(b))
      if (a[key] !== value) changes.push(toRecord(kind, key, value, after));
    for (const key of Object.keys(a)) if (!(key in b)) changes.push({ kind, key, value: null });
  }
  return changes;
}
