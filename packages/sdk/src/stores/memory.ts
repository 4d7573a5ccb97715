import type { CacheBatch, CachedState, PersistentStore, RecordKind } from './types.js';
import { emptyCache } from './types.js';

const clone = <T>(value: T): T => structuredClone(value);

/** One user's cache as a whole, with the channel each filed record belongs to (by `recordId`). */
export interface CacheSnapshot {
  cache: CachedState;
  filed: Record<string, string>;
}

const recordId = (kind: RecordKind, key: string) => `${kind}\n${key}`;

/**
 * Keeps the cache in memory: for Node, tests, and apps that want no persistence. A client created
 * again on the same MemoryStore instance (same process) sees what the previous one cached.
 */
export class MemoryStore implements PersistentStore {
  private readonly users = new Map<string, CacheSnapshot>();

  async load(userId: string): Promise<CachedState> {
    const snapshot = this.users.get(userId);
    if (!snapshot) return emptyCache();
    const copy = clone(snapshot.cache);
    copy.outbox.sort((a, b) => a.created_at.localeCompare(b.created_at));
    return copy;
  }

  async write(userId: string, batch: CacheBatch): Promise<void> {
    // Build the next version fully before swapping it in: all or nothing.
    const next = clone(this.users.get(userId) ?? { cache: emptyCache(), filed: {} });
    applyBatch(next, clone(batch));
    this.users.set(userId, next);
  }

  async clear(userId: string): Promise<void> {
    this.users.delete(userId);
  }

  async close(): Promise<void> {}
}

/** Applies a batch to a snapshot, in the order the PersistentStore contract gives. */
export function applyBatch(snapshot: CacheSnapshot, batch: CacheBatch): void {
  const { cache: state, filed } = snapshot;
  const gone = new Set(batch.deleteChannels ?? []);
  for (const cid of gone) {
    state.channels = state.channels.filter((c) => c.channel.cid !== cid);
    delete state.messages[cid];
    delete state.hasOlder[cid];
  }
  for (const [id, cid] of Object.entries(filed)) {
    if (!gone.has(cid)) continue;
    const [kind, key] = id.split('\n') as [RecordKind, string];
    delete state.records[kind][key];
    delete filed[id];
  }
  for (const entry of batch.putChannels ?? []) {
    const at = state.channels.findIndex((c) => c.channel.cid === entry.channel.cid);
    if (at >= 0) state.channels[at] = entry;
    else state.channels.push(entry);
  }
  for (const [cid, value] of Object.entries(batch.messages ?? {})) {
    state.messages[cid] = value.messages;
    state.hasOlder[cid] = value.hasOlder;
  }
  for (const user of batch.putUsers ?? []) {
    const at = state.users.findIndex((u) => u.id === user.id);
    if (at >= 0) state.users[at] = user;
    else state.users.push(user);
  }
  for (const [key, query] of Object.entries(batch.queries ?? {})) {
    if (query) state.queries[key] = query;
    else delete state.queries[key];
  }
  if (batch.unread) state.unread = batch.unread;
  for (const [topic, position] of Object.entries(batch.positions ?? {})) {
    if (position) state.positions[topic] = position;
    else delete state.positions[topic];
  }
  const deleted = new Set(batch.deleteOutbox ?? []);
  state.outbox = state.outbox.filter((item) => !deleted.has(item.client_msg_id));
  for (const item of batch.putOutbox ?? []) {
    const at = state.outbox.findIndex((o) => o.client_msg_id === item.client_msg_id);
    if (at >= 0) state.outbox[at] = item;
    else state.outbox.push(item);
  }
  for (const change of batch.records ?? []) {
    const records: Record<string, unknown> = state.records[change.kind];
    const id = recordId(change.kind, change.key);
    delete filed[id];
    if (change.value === null) {
      delete records[change.key];
      continue;
    }
    records[change.key] = change.value;
    if (change.cid !== undefined) filed[id] = change.cid;
  }
}
