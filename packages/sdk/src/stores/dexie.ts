import type { Message, User } from '@parley/protocol';
import { Dexie, type Table } from 'dexie';
import type { ChannelEntry, QueryState, UnreadState } from '../state/types.js';
import {
  type CacheBatch,
  type CachedState,
  emptyCache,
  type OutboxItem,
  type PersistentStore,
  type RecordChange,
  type RecordKind,
  type TopicPosition,
} from './types.js';

interface ChannelRow {
  userId: string;
  cid: string;
  entry: ChannelEntry;
}
interface MessagesRow {
  userId: string;
  cid: string;
  messages: Message[];
  hasOlder: boolean;
}
interface UserRow {
  userId: string;
  id: string;
  user: User;
}
interface QueryRow {
  userId: string;
  key: string;
  query: QueryState;
}
interface UnreadRow {
  userId: string;
  unread: UnreadState;
}
interface PositionRow {
  userId: string;
  topic: string;
  position: TopicPosition;
}
interface RecordRow {
  userId: string;
  kind: RecordKind;
  key: string;
  /** The channel the record is filed under (absent: none; the row is then not in the cid index). */
  cid?: string;
  value: NonNullable<RecordChange['value']>;
}
interface OutboxRow {
  userId: string;
  client_msg_id: string;
  created_at: string;
  item: OutboxItem;
}

class ParleyDatabase extends Dexie {
  channels!: Table<ChannelRow, [string, string]>;
  messages!: Table<MessagesRow, [string, string]>;
  users!: Table<UserRow, [string, string]>;
  queries!: Table<QueryRow, [string, string]>;
  unread!: Table<UnreadRow, string>;
  outbox!: Table<OutboxRow, [string, string]>;
  positions!: Table<PositionRow, [string, string]>;
  records!: Table<RecordRow, [string, string, string]>;

  constructor(name: string, options?: { indexedDB?: IDBFactory; IDBKeyRange?: typeof IDBKeyRange }) {
    super(name, options);
    this.version(1).stores({
      channels: '[userId+cid], userId',
      messages: '[userId+cid], userId',
      users: '[userId+id], userId',
      queries: '[userId+key], userId',
      unread: 'userId',
      outbox: '[userId+client_msg_id], userId, [userId+created_at]',
    });
    // Stream positions, so recovery (and /sync) work after a page reload.
    this.version(2).stores({ positions: '[userId+topic], userId' });
    // Threads, replies, mentions and the user's lists as keyed records. Only a table is added:
    // the rows of versions 1 and 2 stay as they are, so no upgrade function is needed.
    this.version(3).stores({ records: '[userId+kind+key], userId, [userId+cid]' });
  }

  get all() {
    return [
      this.channels,
      this.messages,
      this.users,
      this.queries,
      this.unread,
      this.outbox,
      this.positions,
      this.records,
    ];
  }
}

/** Record changes in bulk: only the last change of each (kind, key) counts, as if applied in order. */
async function writeRecords(db: ParleyDatabase, userId: string, changes: RecordChange[]) {
  const last = new Map<string, RecordChange>();
  for (const change of changes) last.set(`${change.kind}\n${change.key}`, change);
  const puts: RecordRow[] = [];
  const deletes: [string, string, string][] = [];
  for (const { kind, key, cid, value } of last.values()) {
    if (value === null) deletes.push([userId, kind, key]);
    else puts.push({ userId, kind, key, value, ...(cid !== undefined ? { cid } : {}) });
  }
  if (deletes.length) await db.records.bulkDelete(deletes);
  if (puts.length) await db.records.bulkPut(puts);
}

export interface DexieStoreOptions {
  /** The IndexedDB database name (default `parley`). */
  name?: string;
  /** An IndexedDB implementation where there is no global one (tests: fake-indexeddb). */
  indexedDB?: IDBFactory;
  IDBKeyRange?: typeof IDBKeyRange;
}

/**
 * The browser cache: IndexedDB through Dexie. One row per channel, per channel's cached messages
 * (the newest ones, replaced together), per user, per query, per outbox message and per record;
 * each batch is one read-write transaction, so a batch lands whole or not at all.
 */
export class DexieStore implements PersistentStore {
  private readonly db: ParleyDatabase;

  constructor(options: DexieStoreOptions = {}) {
    const deps =
      options.indexedDB && options.IDBKeyRange
        ? { indexedDB: options.indexedDB, IDBKeyRange: options.IDBKeyRange }
        : undefined;
    this.db = new ParleyDatabase(options.name ?? 'parley', deps);
  }

  async load(userId: string): Promise<CachedState> {
    const db = this.db;
    return db.transaction('r', db.all, async () => {
      const cache = emptyCache();
      for (const row of await db.positions.where('userId').equals(userId).toArray())
        cache.positions[row.topic] = row.position;
      cache.channels = (await db.channels.where('userId').equals(userId).toArray()).map((r) => r.entry);
      for (const row of await db.messages.where('userId').equals(userId).toArray()) {
        cache.messages[row.cid] = row.messages;
        cache.hasOlder[row.cid] = row.hasOlder;
      }
      cache.users = (await db.users.where('userId').equals(userId).toArray()).map((r) => r.user);
      for (const row of await db.queries.where('userId').equals(userId).toArray())
        cache.queries[row.key] = row.query;
      cache.unread = (await db.unread.get(userId))?.unread ?? null;
      for (const row of await db.records.where('userId').equals(userId).toArray()) {
        const records: Record<string, unknown> | undefined = cache.records[row.kind];
        if (records) records[row.key] = row.value;
      }
      cache.outbox = (
        await db.outbox
          .where('[userId+created_at]')
          .between([userId, Dexie.minKey], [userId, Dexie.maxKey])
          .toArray()
      ).map((r) => r.item);
      return cache;
    });
  }

  async write(userId: string, batch: CacheBatch): Promise<void> {
    const db = this.db;
    await db.transaction('rw', db.all, async () => {
      for (const [topic, position] of Object.entries(batch.positions ?? {})) {
        if (position) await db.positions.put({ userId, topic, position });
        else await db.positions.delete([userId, topic]);
      }
      const gone = batch.deleteChannels ?? [];
      if (gone.length) {
        await db.channels.bulkDelete(gone.map((cid) => [userId, cid] as [string, string]));
        await db.messages.bulkDelete(gone.map((cid) => [userId, cid] as [string, string]));
        await db.records
          .where('[userId+cid]')
          .anyOf(gone.map((cid) => [userId, cid]))
          .delete();
      }
      if (batch.putChannels?.length)
        await db.channels.bulkPut(
          batch.putChannels.map((entry) => ({ userId, cid: entry.channel.cid, entry })),
        );
      const messages = Object.entries(batch.messages ?? {});
      if (messages.length)
        await db.messages.bulkPut(
          messages.map(([cid, v]) => ({ userId, cid, messages: v.messages, hasOlder: v.hasOlder })),
        );
      if (batch.putUsers?.length)
        await db.users.bulkPut(batch.putUsers.map((user) => ({ userId, id: user.id, user })));
      for (const [key, query] of Object.entries(batch.queries ?? {})) {
        if (query) await db.queries.put({ userId, key, query });
        else await db.queries.delete([userId, key]);
      }
      if (batch.unread) await db.unread.put({ userId, unread: batch.unread });
      await writeRecords(db, userId, batch.records ?? []);
      if (batch.deleteOutbox?.length)
        await db.outbox.bulkDelete(batch.deleteOutbox.map((id) => [userId, id] as [string, string]));
      if (batch.putOutbox?.length)
        await db.outbox.bulkPut(
          batch.putOutbox.map((item) => ({
            userId,
            client_msg_id: item.client_msg_id,
            created_at: item.created_at,
            item,
          })),
        );
    });
  }

  async clear(userId: string): Promise<void> {
    const db = this.db;
    await db.transaction('rw', db.all, async () => {
      for (const table of [
        db.channels,
        db.messages,
        db.users,
        db.queries,
        db.outbox,
        db.positions,
        db.records,
      ] as Table<unknown, unknown>[])
        await table.where('userId').equals(userId).delete();
      await db.unread.delete(userId);
    });
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Deletes the whole database (all users). */
  async destroy(): Promise<void> {
    await this.db.delete();
  }
}
