import type { Draft, Thread } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type { OutboxItem, PersistentStore } from '../stores/types.js';
import { emptyCache } from '../stores/types.js';
import { at, channelState, message, messages } from './fixtures.js';

const outboxItem = (n: number, at: string): OutboxItem => ({
  client_msg_id: `c-${n}`,
  cid: 'messaging:general',
  body: { client_msg_id: `c-${n}`, text: `queued ${n}` },
  created_at: at,
  failed: false,
});

const CID_MAIN = 'messaging:general';
const OTHER = 'messaging:other';

const draft = (cid: string, text: string, parent_id: string | null = null): Draft => ({
  cid,
  parent_id,
  reply_to_id: null,
  text,
  attachments: [],
  custom: { mood: 'unsure', tags: ['a', 'b'] },
  mentioned_user_ids: ['bob'],
  created_at: at(1),
  updated_at: at(2),
});

const thread = (parent = message(1)): Thread => ({
  cid: parent.cid,
  parent: { ...parent, reply_count: 2, last_reply_at: at(30) },
  unread_replies: 1,
  last_read_seq: 2,
  last_read_at: at(20),
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
      await store.write('alice', {
        putOutbox: [outboxItem(1, '2025-01-01T00:00:01.000Z')],
        records: [{ kind: 'drafts', key: CID_MAIN, cid: CID_MAIN, value: draft(CID_MAIN, 'gone') }],
      });
      await store.write('bob', {
        putOutbox: [outboxItem(2, '2025-01-01T00:00:01.000Z')],
        records: [{ kind: 'starred', key: 'm1', value: at(3) }],
      });
      await store.clear('alice');
      expect(await store.load('alice')).toEqual(emptyCache());
      const bob = await store.load('bob');
      expect(bob.outbox).toHaveLength(1);
      expect(bob.records.starred).toEqual({ m1: at(3) });
      await store.close();
    });

    it('gives back records of every kind, per user, structurally equal', async () => {
      const store = await open();
      const parent = message(1);
      const replies = [message(2, { parent_id: parent.id }), message(3, { parent_id: parent.id })];
      const block = { user_id: 'alice', target_id: 'mallory', created_at: at(4) };
      const userMute = { user_id: 'alice', target_id: 'carol', expires_at: null, created_at: at(5) };
      const channelMute = { user_id: 'alice', cid: OTHER, expires_at: at(900), created_at: at(5) };
      const reminder = {
        message_id: parent.id,
        cid: CID_MAIN,
        user_id: 'alice',
        remind_at: at(3600),
        note: null,
        delivered_at: null,
        created_at: at(6),
        updated_at: at(6),
      };
      const scheduled = {
        id: 'sched-1',
        cid: CID_MAIN,
        user_id: 'alice',
        send_at: at(7200),
        text: 'later',
        attachments: [],
        custom: {},
        mentioned_user_ids: [],
        parent_id: null,
        reply_to_id: null,
        show_in_channel: false,
        status: 'scheduled' as const,
        message_id: null,
        error: null,
        created_at: at(7),
        updated_at: at(7),
      };
      await store.write('alice', {
        records: [
          { kind: 'replies', key: parent.id, cid: CID_MAIN, value: { messages: replies, hasOlder: false } },
          { kind: 'threads', key: parent.id, cid: CID_MAIN, value: thread(parent) },
          { kind: 'threadList', key: '', value: { ids: [parent.id], next: 'cursor-1' } },
          { kind: 'mentions', key: '', value: { messages: [replies[1]!], hasOlder: true } },
          { kind: 'blocks', key: 'mallory', value: block },
          { kind: 'userMutes', key: 'carol', value: userMute },
          { kind: 'channelMutes', key: OTHER, value: channelMute },
          { kind: 'drafts', key: CID_MAIN, cid: CID_MAIN, value: draft(CID_MAIN, 'half a thought') },
          { kind: 'reminders', key: parent.id, value: reminder },
          { kind: 'scheduledMessages', key: 'sched-1', value: scheduled },
          { kind: 'starred', key: parent.id, value: at(8) },
        ],
      });
      const cached = await store.load('alice');
      expect(cached.records).toEqual({
        replies: { [parent.id]: { messages: replies, hasOlder: false } },
        threads: { [parent.id]: thread(parent) },
        threadList: { '': { ids: [parent.id], next: 'cursor-1' } },
        mentions: { '': { messages: [replies[1]], hasOlder: true } },
        blocks: { mallory: block },
        userMutes: { carol: userMute },
        channelMutes: { [OTHER]: channelMute },
        drafts: { [CID_MAIN]: draft(CID_MAIN, 'half a thought') },
        reminders: { [parent.id]: reminder },
        scheduledMessages: { 'sched-1': scheduled },
        starred: { [parent.id]: at(8) },
      });
      expect((await store.load('bob')).records).toEqual(emptyCache().records);
      await store.close();
    });

    it('applies record changes in order: within a batch and across batches the last one wins', async () => {
      const store = await open();
      await store.write('alice', {
        records: [
          { kind: 'starred', key: 'm1', value: at(1) },
          { kind: 'starred', key: 'm1', value: null },
          { kind: 'starred', key: 'm2', value: null },
          { kind: 'starred', key: 'm2', value: at(2) },
          { kind: 'drafts', key: CID_MAIN, value: draft(CID_MAIN, 'first') },
          { kind: 'drafts', key: CID_MAIN, value: draft(CID_MAIN, 'second') },
          // The same key in another kind is another record.
          { kind: 'reminders', key: 'm2', value: null },
        ],
      });
      await store.write('alice', { records: [{ kind: 'starred', key: 'm3', value: at(3) }] });
      await store.write('alice', {
        records: [
          { kind: 'starred', key: 'm3', value: null },
          { kind: 'drafts', key: CID_MAIN, value: draft(CID_MAIN, 'third') },
        ],
      });
      const cached = await store.load('alice');
      expect(cached.records.starred).toEqual({ m2: at(2) });
      expect(cached.records.drafts[CID_MAIN]?.text).toBe('third');
      await store.close();
    });

    it('deleting a channel drops the records filed under it, before the rest of the batch', async () => {
      const store = await open();
      const parent = message(1);
      const otherParent = message(9, { cid: OTHER });
      await store.write('alice', {
        records: [
          { kind: 'replies', key: parent.id, cid: CID_MAIN, value: { messages: [], hasOlder: false } },
          { kind: 'threads', key: parent.id, cid: CID_MAIN, value: thread(parent) },
          { kind: 'drafts', key: CID_MAIN, cid: CID_MAIN, value: draft(CID_MAIN, 'channel') },
          {
            kind: 'drafts',
            key: `${CID_MAIN}/${parent.id}`,
            cid: CID_MAIN,
            value: draft(CID_MAIN, 'thread', parent.id),
          },
          { kind: 'replies', key: otherParent.id, cid: OTHER, value: { messages: [], hasOlder: true } },
          { kind: 'drafts', key: OTHER, cid: OTHER, value: draft(OTHER, 'other channel') },
          // Not filed under a channel: stays.
          { kind: 'starred', key: parent.id, value: at(1) },
          // Filed, then put again without a channel: no longer filed.
          { kind: 'starred', key: 'refiled', cid: CID_MAIN, value: at(2) },
          { kind: 'starred', key: 'refiled', value: at(2) },
        ],
      });
      await store.write('alice', {
        deleteChannels: [CID_MAIN],
        // Put in the same batch: applied after the deletion, so it stays.
        records: [{ kind: 'drafts', key: `${CID_MAIN}/new`, cid: CID_MAIN, value: draft(CID_MAIN, 'new') }],
      });
      const cached = await store.load('alice');
      expect(Object.keys(cached.records.replies)).toEqual([otherParent.id]);
      expect(cached.records.threads).toEqual({});
      expect(Object.keys(cached.records.drafts).sort()).toEqual([`${CID_MAIN}/new`, OTHER]);
      expect(cached.records.starred).toEqual({ [parent.id]: at(1), refiled: at(2) });
      await store.close();
    });

    it('applies a batch whole or not at all: a value it cannot store leaves the cache as it was', async () => {
      const store = await open();
      const cs = channelState({});
      const entry = { channel: cs.channel, config: cs.config, members: {}, membership: null };
      await store.write('alice', { records: [{ kind: 'starred', key: 'm1', value: at(1) }] });
      const before = await store.load('alice');
      // Neither structured-cloneable (the function) nor JSON (the bigint): no store can keep it.
      const unstorable = { ...draft(CID_MAIN, 'bad'), custom: { f: () => 1, n: 1n } } as unknown as Draft;
      await expect(
        store.write('alice', {
          putChannels: [entry],
          putOutbox: [outboxItem(1, '2025-01-01T00:00:01.000Z')],
          records: [
            { kind: 'starred', key: 'm1', value: null },
            { kind: 'drafts', key: CID_MAIN, value: draft(CID_MAIN, 'fine') },
            { kind: 'drafts', key: `${CID_MAIN}/x`, value: unstorable },
          ],
        }),
      ).rejects.toThrow();
      expect(await store.load('alice')).toEqual(before);
      await store.close();
    });
  });
}
