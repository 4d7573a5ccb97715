import { describe, expect, it } from 'vitest';
import type { OutboxItem, PersistentStore } from '../stores/types.js';
import { emptyCache } from '../stores/types.js';
import { channelState, message, messages } from './fixtures.js';

const outboxItem = (n: number, at: string): OutboxItem => ({
  client_msg_id: `c-${n}`,
  cid: 'messaging:general',
  body: { client_msg_id: `c-${n}`, text: `queued ${n}` },
  created_at: at,
  failed: false,
});

/** The PersistentStore contract (see stores/types.ts); every implementation runs it. */
export function persistentStoreContract(name: string, open: () => Promise<PersistentStore>) {
  describe(`${name}: PersistentStore contract`, () => {
    it('returns an empty cache for an unknown user', async () => {
      const store = await open();
      expect(await store.load('nobody')).toEqual(emptyCache());
      await store.close();
    });

    it('gives back what was written, per user, structurally equal', async () => {
      const store = await open();
      const cs = channelState({ channel: { last_seq: 3 } });
      const entry = {
        channel: cs.channel,
        config: cs.config,
        members: { alice: cs.members[0]! },
        membership: cs.membership,
      };
      const query = {
        cids: [cs.channel.cid],
        sort: [{ field: 'last_message_at', direction: -1 as const }],
        complete: true,
      };
      const unread = { total_unread_count: 2, unread_channels: 1, channels: { [cs.channel.cid]: 2 } };
      await store.write('alice', {
        putChannels: [entry],
        messages: { [cs.channel.cid]: { messages: messages(1, 3), hasOlder: false } },
        queries: { q1: query },
        unread,
        putOutbox: [outboxItem(2, '2025-01-01T00:00:02.000Z'), outboxItem(1, '2025-01-01T00:00:01.000Z')],
      });
      const cached = await store.load('alice');
      expect(cached.channels).toEqual([entry]);
      expect(cached.messages[cs.channel.cid]).toEqual(messages(1, 3));
      expect(cached.hasOlder[cs.channel.cid]).toBe(false);
      expect(cached.queries).toEqual({ q1: query });
      expect(cached.unread).toEqual(unread);
      expect(cached.outbox.map((o) => o.client_msg_id)).toEqual(['c-1', 'c-2']);
      expect(await store.load('bob')).toEqual(emptyCache());
      await store.close();
    });

    it('replaces, deletes and applies batches in order', async () => {
      const store = await open();
      const cs = channelState({});
      const entry = { channel: cs.channel, config: cs.config, members: {}, membership: null };
      await store.write('alice', {
        putChannels: [entry],
        messages: { [cs.channel.cid]: { messages: messages(1, 2), hasOlder: true } },
        putOutbox: [outboxItem(1, '2025-01-01T00:00:01.000Z')],
        queries: { q: { cids: [], sort: [], complete: false } },
      });
      await store.write('alice', {
        messages: { [cs.channel.cid]: { messages: [message(2)], hasOlder: true } },
        deleteOutbox: ['c-1'],
        queries: { q: null },
      });
      let cached = await store.load('alice');
      expect(cached.messages[cs.channel.cid]).toEqual([message(2)]);
      expect(cached.outbox).toEqual([]);
      expect(cached.queries).toEqual({});
      await store.write('alice', { deleteChannels: [cs.channel.cid] });
      cached = await store.load('alice');
      expect(cached.channels).toEqual([]);
      expect(cached.messages).toEqual({});
      await store.close();
    });

    it('keeps stream positions, and forgets a position set to null', async () => {
      const store = await open();
      await store.write('alice', {
        positions: {
          'chat:channel:a': { offset: 3, epoch: 'e1' },
          'chat:user:alice': { offset: 9, epoch: 'e2', at: '2025-01-01T00:00:05.000Z' },
        },
      });
      await store.write('alice', { positions: { 'chat:channel:a': { offset: 4, epoch: 'e1' } } });
      let cached = await store.load('alice');
      expect(cached.positions).toEqual({
        'chat:channel:a': { offset: 4, epoch: 'e1' },
        'chat:user:alice': { offset: 9, epoch: 'e2', at: '2025-01-01T00:00:05.000Z' },
      });
      await store.write('alice', { positions: { 'chat:user:alice': null } });
      cached = await store.load('alice');
      expect(Object.keys(cached.positions)).toEqual(['chat:channel:a']);
      expect((await store.load('bob')).positions).toEqual({});
      await store.clear('alice');
      expect(await store.load('alice')).toEqual(emptyCache());
      await store.close();
    });

    it('clear removes everything of one user only', async () => {
      const store = await open();
      await store.write('alice', { putOutbox: [outboxItem(1, '2025-01-01T00:00:01.000Z')] });
      await store.write('bob', { putOutbox: [outboxItem(2, '2025-01-01T00:00:01.000Z')] });
      await store.clear('alice');
      expect((await store.load('alice')).outbox).toEqual([]);
      expect((await store.load('bob')).outbox).toHaveLength(1);
      await store.close();
    });
  });
}
