import { Dexie } from 'dexie';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { at, CID, channelState, messages } from '../test-support/fixtures.js';
import { persistentStoreContract } from '../test-support/store.contract.js';
import { DexieStore } from './dexie.js';
import type { OutboxItem } from './types.js';

let n = 0;
// A fresh IndexedDB per store: the browser implementation, faked in memory for Node.
persistentStoreContract(
  'DexieStore (fake-indexeddb)',
  async () => new DexieStore({ name: `parley-test-${++n}`, indexedDB: new IDBFactory(), IDBKeyRange }),
);

describe('DexieStore: a database written by an older SDK', () => {
  it('opens a version 2 database, keeps its channels, messages, outbox and positions, and adds records', async () => {
    const indexedDB = new IDBFactory();
    const name = 'parley-v2';
    // The schema as SDK versions before the records table declared it, with data in it.
    const old = new Dexie(name, { indexedDB, IDBKeyRange });
    old.version(1).stores({
      channels: '[userId+cid], userId',
      messages: '[userId+cid], userId',
      users: '[userId+id], userId',
      queries: '[userId+key], userId',
      unread: 'userId',
      outbox: '[userId+client_msg_id], userId, [userId+created_at]',
    });
    old.version(2).stores({ positions: '[userId+topic], userId' });
    const cs = channelState({ channel: { last_seq: 3 } });
    const entry = { channel: cs.channel, config: cs.config, members: {}, membership: cs.membership };
    const item: OutboxItem = {
      client_msg_id: 'c-1',
      cid: CID,
      body: { client_msg_id: 'c-1', text: 'queued before the update' },
      created_at: at(1),
      failed: false,
    };
    await old.table('channels').put({ userId: 'alice', cid: CID, entry });
    await old.table('messages').put({ userId: 'alice', cid: CID, messages: messages(1, 3), hasOlder: false });
    await old
      .table('outbox')
      .put({ userId: 'alice', client_msg_id: 'c-1', created_at: item.created_at, item });
    await old
      .table('positions')
      .put({ userId: 'alice', topic: 'chat:user:alice', position: { offset: 4, epoch: 'e' } });
    old.close();

    const store = new DexieStore({ name, indexedDB, IDBKeyRange });
    const cached = await store.load('alice');
    expect(cached.channels).toEqual([entry]);
    expect(cached.messages[CID]).toEqual(messages(1, 3));
    expect(cached.hasOlder[CID]).toBe(false);
    expect(cached.outbox).toEqual([item]);
    expect(cached.positions).toEqual({ 'chat:user:alice': { offset: 4, epoch: 'e' } });
    expect(cached.records.drafts).toEqual({});

    await store.write('alice', { records: [{ kind: 'starred', key: 'm1', value: at(2) }] });
    await store.close();
    const reopened = new DexieStore({ name, indexedDB, IDBKeyRange });
    const again = await reopened.load('alice');
    expect(again.records.starred).toEqual({ m1: at(2) });
    expect(again.outbox).toEqual([item]);
    await reopened.close();
  });
});
