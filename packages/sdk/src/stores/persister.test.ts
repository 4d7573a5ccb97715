import type { Draft, Message, Reminder, Thread } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { reduce } from '../state/reducer.js';
import { initialState, type ParleyState, type ServerEvent } from '../state/types.js';
import {
  applyAll,
  at,
  CID,
  cachedSlices,
  channelState,
  event,
  fetched,
  message,
  messages,
} from '../test-support/fixtures.js';
import { MemoryStore } from './memory.js';
import {
  CACHED_MENTIONS,
  CACHED_MESSAGES_PER_CHANNEL,
  CACHED_REPLIES_PER_THREAD,
  CACHED_REPLY_THREADS,
  CACHED_THREADS,
  diff,
  Persister,
} from './persister.js';
import { emptyCache } from './types.js';

describe('Persister: what the cache keeps comes back the same after a restart', () => {
  it('writes the changed parts, and hydrating the cache restores channels, messages, lists and counts', async () => {
    let state = fetched(channelState({ channel: { last_seq: 3 }, lastRead: 1 }), messages(1, 3));
    state = reduce(state, {
      type: 'rest/query',
      key: 'q',
      sort: [{ field: 'last_message_at', direction: -1 }],
      channels: [channelState({ channel: { last_seq: 3 }, lastRead: 1 })],
      offset: 0,
      limit: 20,
    });
    state = reduce(state, {
      type: 'rest/unread',
      counts: {
        total_unread_count: 2,
        unread_channels: 1,
        channels: [{ cid: CID, unread_count: 2, last_read_seq: 1, last_read_at: null }],
      },
    });
    const store = new MemoryStore();
    const persister = new Persister(store, 'alice', initialState('alice'), (e) => {
      throw e;
    });
    persister.update(state);
    await persister.flush();
    const restored = reduce(initialState('alice'), {
      type: 'local/hydrate',
      cache: await store.load('alice'),
    });
    expect(restored.channels).toEqual(state.channels);
    expect(restored.messages).toEqual(state.messages);
    expect(restored.queries).toEqual(state.queries);
    expect(restored.unread).toEqual(state.unread);

    // Only what changed is written next time.
    const next = reduce(state, event('message.new', { cid: CID, message: message(4) }));
    const batch = diff(state, next);
    expect(Object.keys(batch).sort()).toEqual(['messages', 'putChannels', 'unread']);
    expect(batch.messages?.[CID]?.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('keeps the newest messages of a long channel and remembers there are older ones', () => {
    const n = CACHED_MESSAGES_PER_CHANNEL + 20;
    const state = fetched(channelState({ channel: { last_seq: n } }), messages(1, n), n + 1);
    expect(state.messages[CID]!.hasOlder).toBe(false);
    const batch = diff(initialState('alice'), state);
    expect(batch.messages?.[CID]?.messages).toHaveLength(CACHED_MESSAGES_PER_CHANNEL);
    expect(batch.messages?.[CID]?.messages[0]?.seq).toBe(21);
    expect(batch.messages?.[CID]?.hasOlder).toBe(true);
  });

  it('does not cache unconfirmed messages with the channel (they live in the outbox)', () => {
    const state = reduce(fetched(channelState({}), []), {
      type: 'local/message.sending',
      message: {
        ...message(0, { id: 'c-1', client_msg_id: 'c-1', user_id: 'alice', created_at: at(1) }),
        status: 'sending',
      },
    });
    expect(diff(initialState('alice'), state).messages?.[CID]?.messages).toEqual([]);
  });
});

describe('Persister: threads, mentions and the user’s own lists survive a restart', () => {
  const parentOf = (seq: number, cid = CID) =>
    message(seq, {
      cid,
      user_id: 'alice',
      reply_count: 0,
      thread_participants: ['alice'],
      last_reply_at: null,
    });
  const repliesTo = (parent: Message, from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) =>
      message(from + i, { cid: parent.cid, parent_id: parent.id, type: 'reply' }),
    );
  /** The state after a page of `parent`'s replies was fetched. */
  const withReplies = (state: ParleyState, parent: Message, messages: Message[], limit = 30) =>
    reduce(state, { type: 'rest/replies', parent_id: parent.id, messages, page: 'latest', limit });
  const threadOf = (parent: Message, over: Partial<Thread> = {}): Thread => ({
    cid: parent.cid,
    parent,
    unread_replies: 1,
    last_read_seq: 0,
    last_read_at: null,
    ...over,
  });
  const draft = (cid: string, text: string, parent_id: string | null = null): Draft => ({
    cid,
    parent_id,
    reply_to_id: null,
    text,
    attachments: [],
    custom: {},
    mentioned_user_ids: [],
    created_at: at(1),
    updated_at: at(1),
  });
  const reminder = (m: Message): Reminder => ({
    message_id: m.id,
    cid: m.cid,
    user_id: 'alice',
    remind_at: at(3600),
    note: 'call back',
    delivered_at: null,
    created_at: at(2),
    updated_at: at(2),
  });

  /** What a client has after opening a thread, the thread list and mentions, and loading its lists. */
  function loaded(): ParleyState {
    const parent = parentOf(1);
    let state = fetched(channelState({ channel: { last_seq: 4 } }), [parent]);
    state = withReplies(state, parent, repliesTo(parent, 2, 4));
    state = reduce(state, { type: 'rest/threads', threads: [threadOf(parent)], next: 'c1', append: false });
    state = reduce(state, { type: 'rest/mentions', messages: [message(3)], append: false, limit: 25 });
    state = reduce(state, {
      type: 'rest/blocks',
      blocks: [{ user_id: 'alice', target_id: 'mallory', created_at: at(0) }],
    });
    state = reduce(state, {
      type: 'rest/mutes',
      user_mutes: [{ user_id: 'alice', target_id: 'carol', expires_at: null, created_at: at(0) }],
      channel_mutes: [{ user_id: 'alice', cid: CID, expires_at: null, created_at: at(0) }],
    });
    state = reduce(state, {
      type: 'rest/drafts',
      drafts: [draft(CID, 'half a thought'), draft(CID, 'a reply', parent.id)],
    });
    state = reduce(state, { type: 'rest/reminders', reminders: [reminder(parent)] });
    return reduce(state, { type: 'rest/star', message_id: parent.id, starred_at: at(5) });
  }

  async function restart(state: ParleyState, store = new MemoryStore()): Promise<ParleyState> {
    const persister = new Persister(store, 'alice', initialState('alice'), (e) => {
      throw e;
    });
    persister.update(state);
    await persister.flush();
    return reduce(initialState('alice'), { type: 'local/hydrate', cache: await store.load('alice') });
  }

  it('restores the same state the server loads, and later events apply on top as on the loaded one', async () => {
    const state = loaded();
    const restored = await restart(state);
    expect(cachedSlices(restored)).toEqual(cachedSlices(state));

    const parent = state.threads[parentOf(1).id]!.parent;
    const events = [
      event('message.new', {
        cid: CID,
        message: repliesTo(parent, 5, 5)[0]!,
        thread_parent: { ...parent, reply_count: 4, last_reply_at: at(50) },
      }),
      event('draft.deleted', { cid: CID, user_id: 'alice', parent_id: null }),
      event('notification.user_unblocked', { user_id: 'alice', target_id: 'mallory' }),
      event('notification.mention', { cid: CID, user_id: 'alice', message: message(5) }),
    ] as ServerEvent[];
    expect(cachedSlices(applyAll(restored, events))).toEqual(cachedSlices(applyAll(state, events)));
    expect(Object.keys(applyAll(restored, events).drafts)).toEqual([`${CID}/${parent.id}`]);
  });

  it('writes only the records that changed, and deletes the ones that went', () => {
    const state = loaded();
    const next = reduce(state, { type: 'local/removed', what: 'drafts', key: CID });
    expect(diff(state, next)).toEqual({ records: [{ kind: 'drafts', key: CID, value: null }] });
    const starred = reduce(next, { type: 'rest/star', message_id: 'm2', starred_at: at(9) });
    expect(diff(next, starred).records).toEqual([{ kind: 'starred', key: 'm2', value: at(9) }]);
    expect(diff(starred, starred)).toEqual({});
  });

  it('keeps blocked users’ messages out after a restart', async () => {
    const cache = emptyCache();
    const cs = channelState({ channel: { last_seq: 2 } });
    cache.channels = [{ channel: cs.channel, config: cs.config, members: {}, membership: cs.membership }];
    cache.messages[CID] = [message(1, { user_id: 'mallory' }), message(2, { user_id: 'bob' })];
    cache.records.blocks.mallory = { user_id: 'alice', target_id: 'mallory', created_at: at(0) };
    cache.records.mentions[''] = { messages: [message(1, { user_id: 'mallory' })], hasOlder: false };
    const restored = reduce(initialState('alice'), { type: 'local/hydrate', cache });
    expect(restored.messages[CID]!.ids).toEqual([message(2).id]);
    expect(restored.mentions?.messages).toEqual([]);
    // And a live message of theirs never enters.
    const live = reduce(
      restored,
      event('message.new', { cid: CID, message: message(3, { user_id: 'mallory' }) }),
    );
    expect(live.messages).toBe(restored.messages);
  });

  it('bounds what it keeps: replies per thread, threads with replies, the thread list, mentions', async () => {
    const parents = Array.from({ length: CACHED_REPLY_THREADS + 2 }, (_, i) => parentOf(1000 + i));
    let state = fetched(channelState({ channel: { last_seq: 5000 } }), parents, 100);
    // The first thread is long; each later one has a later reply than the one before.
    const long = repliesTo(parents[0]!, 1, CACHED_REPLIES_PER_THREAD + 10);
    state = withReplies(state, parents[0]!, long, 200);
    parents.slice(1).forEach((p, i) => {
      state = withReplies(state, p, repliesTo(p, 2000 + i, 2000 + i));
    });
    const threads = Array.from({ length: CACHED_THREADS + 5 }, (_, i) => threadOf(parentOf(3000 + i)));
    state = reduce(state, { type: 'rest/threads', threads, next: 'c2', append: false });
    const many = Array.from({ length: CACHED_MENTIONS + 5 }, (_, i) => message(4000 - i));
    state = reduce(state, { type: 'rest/mentions', messages: many, append: false, limit: 100 });

    const restored = await restart(state);
    // The threads with the latest replies: the long (oldest) one and the next oldest are dropped.
    expect(Object.keys(restored.replies).sort()).toEqual(
      parents
        .slice(2)
        .map((p) => p.id)
        .sort(),
    );
    expect(restored.threadList).toEqual({
      ids: threads.slice(0, CACHED_THREADS).map((t) => t.parent.id),
      next: null,
    });
    expect(Object.keys(restored.threads).sort()).toEqual(restored.threadList!.ids.slice().sort());
    expect(restored.mentions?.messages).toEqual(many.slice(0, CACHED_MENTIONS));
    expect(restored.mentions?.hasOlder).toBe(true);

    // A long thread keeps its newest replies and knows there are older ones.
    const one = await restart(withReplies(fetched(channelState({}), [parents[0]!]), parents[0]!, long, 200));
    const list = one.replies[parents[0]!.id]!;
    expect(list.ids).toEqual(long.slice(-CACHED_REPLIES_PER_THREAD).map((m) => m.id));
    expect(list.hasOlder).toBe(true);
  });

  it('evicts the reply list of a thread that fell out of the bound', () => {
    const parents = Array.from({ length: CACHED_REPLY_THREADS + 1 }, (_, i) => parentOf(1000 + i));
    let state = fetched(channelState({ channel: { last_seq: 5000 } }), parents, 100);
    parents.slice(0, CACHED_REPLY_THREADS).forEach((p, i) => {
      state = withReplies(state, p, repliesTo(p, 2000 + i, 2000 + i));
    });
    const last = parents.at(-1)!;
    const next = withReplies(state, last, repliesTo(last, 2900, 2900));
    expect(diff(state, next).records?.map((r) => [r.kind, r.key, r.value === null])).toEqual([
      ['replies', last.id, false],
      ['replies', parents[0]!.id, true],
    ]);
  });

  it('forgetting a channel drops its replies, threads and drafts from the cache', async () => {
    const store = new MemoryStore();
    const state = loaded();
    const persister = new Persister(store, 'alice', initialState('alice'), (e) => {
      throw e;
    });
    persister.update(state);
    await persister.flush();
    persister.update(
      reduce(state, event('channel.deleted', { cid: CID, channel: state.channels[CID]!.channel })),
    );
    await persister.flush();
    const cache = await store.load('alice');
    expect(cache.channels).toEqual([]);
    expect(cache.records.replies).toEqual({});
    expect(cache.records.threads).toEqual({});
    expect(cache.records.drafts).toEqual({});
    // The lists that are not about one channel stay.
    expect(Object.keys(cache.records.blocks)).toEqual(['mallory']);
    expect(Object.keys(cache.records.starred)).toEqual([parentOf(1).id]);
  });
});
