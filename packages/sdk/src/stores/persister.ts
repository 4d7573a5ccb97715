import type { Message } from '@parley/protocol';
import type { ParleyState } from '../state/types.js';
import type { CacheBatch, PersistentStore } from './types.js';

/** How many of each channel's newest messages the cache keeps. */
export const CACHED_MESSAGES_PER_CHANNEL = 100;

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
      if (before.messages[cid] === list) continue;
      const sent: Message[] = [];
      for (const id of list.ids) {
        const m = list.byId[id]!;
        if (m.status !== 'sent') continue;
        const { status: _s, error: _e, ...message } = m;
        sent.push(message);
      }
      const kept = sent.slice(-CACHED_MESSAGES_PER_CHANNEL);
      messages[cid] = { messages: kept, hasOlder: list.hasOlder || kept.length < sent.length };
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
  return batch;
}
