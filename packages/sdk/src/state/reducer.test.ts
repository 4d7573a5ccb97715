import type { ParleyEvent } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import {
  applyAll,
  at,
  CID,
  channelState,
  channelView,
  event,
  fetched,
  member,
  message,
  messages,
} from '../test-support/fixtures.js';
import { pendingMessage, reduce } from './reducer.js';
import { selectMessages, selectQueryChannels, selectTyping } from './selectors.js';
import { initialState, type ParleyState } from './types.js';

type E<N extends ParleyEvent['type']> = ParleyEvent<N>;

/**
 * "Old state + events = fresh fetch": the state a client had after fetching, with the events the
 * server published since applied, equals the state of a client that fetched afterwards.
 */
function expectEventsToMatchRefetch(before: ParleyState, events: ParleyEvent[], after: ParleyState) {
  const live = applyAll(before, events);
  expect(channelView(live)).toEqual(channelView(after));
  // Applying the same events again (recovered publications that overlap) changes nothing.
  expect(channelView(applyAll(live, events))).toEqual(channelView(after));
}

describe('reduce: old state + events = fresh fetch', () => {
  it('message.new appends and moves the channel’s seq, time and the unread count', () => {
    const before = fetched(
      channelState({ channel: { last_seq: 2, last_message_at: at(20), updated_at: at(20) }, lastRead: 2 }),
      messages(1, 2),
    );
    const m3 = message(3);
    const after = fetched(
      channelState({ channel: { last_seq: 3, last_message_at: at(30), updated_at: at(30) }, lastRead: 2 }),
      messages(1, 3),
    );
    expectEventsToMatchRefetch(
      before,
      [event<E<'message.new'>>('message.new', { cid: CID, message: m3 })],
      after,
    );
    expect(applyAll(before, [event('message.new', { cid: CID, message: m3 })]).unread).toEqual({
      total_unread_count: 1,
      unread_channels: 1,
      channels: { [CID]: 1 },
    });
  });

  it('message.updated replaces the message, and an older copy never overwrites a newer one', () => {
    const cs = channelState({ channel: { last_seq: 2 } });
    const before = fetched(cs, messages(1, 2));
    const edited = message(2, { text: 'edited', updated_at: at(99), edited_at: at(99) });
    const after = fetched(cs, [message(1), edited]);
    expectEventsToMatchRefetch(before, [event('message.updated', { cid: CID, message: edited })], after);
    const stale = reduce(applyAll(before, [event('message.updated', { cid: CID, message: edited })]), {
      type: 'rest/message',
      message: message(2),
    });
    expect(selectMessages(stale, CID)[1]!.text).toBe('edited');
  });

  it('message.deleted: a soft delete leaves the tombstone, a hard delete removes the message', () => {
    const cs = channelState({ channel: { last_seq: 3 } });
    const before = fetched(cs, messages(1, 3));
    const tombstone = message(2, { type: 'deleted', text: '', deleted_at: at(50), updated_at: at(50) });
    expectEventsToMatchRefetch(
      before,
      [event('message.deleted', { cid: CID, message: tombstone, hard: false })],
      fetched(cs, [message(1), tombstone, message(3)]),
    );
    expectEventsToMatchRefetch(
      before,
      [event('message.deleted', { cid: CID, message: message(2), hard: true })],
      fetched(cs, [message(1), message(3)]),
    );
  });

  it('member.added and member.removed change the members and the count', () => {
    const alice = member('alice', { role: 'owner' });
    const bob = member('bob');
    const carol = member('carol', { created_at: at(5), updated_at: at(5) });
    const before = fetched(channelState({ members: [alice, bob] }), []);
    expectEventsToMatchRefetch(
      before,
      [event('member.added', { cid: CID, member: carol })],
      fetched(channelState({ members: [alice, bob, carol] }), []),
    );
    expectEventsToMatchRefetch(
      before,
      [event('member.removed', { cid: CID, user_id: 'bob' })],
      fetched(channelState({ members: [alice] }), []),
    );
    expectEventsToMatchRefetch(
      before,
      [
        event('member.added', { cid: CID, member: carol }),
        event('member.removed', { cid: CID, user_id: 'carol' }),
      ],
      before,
    );
  });

  it('member.removed for the connected user forgets the channel (a refetch would be refused)', () => {
    const before = fetched(channelState({}), messages(1, 2));
    const after = applyAll(before, [event('member.removed', { cid: CID, user_id: 'alice' })]);
    expect(after.channels[CID]).toBeUndefined();
    expect(after.messages[CID]).toBeUndefined();
  });

  it('channel.updated replaces the channel', () => {
    const before = fetched(channelState({}), messages(1, 1));
    const renamed = channelState({ channel: { name: 'Renamed', updated_at: at(70) } });
    expectEventsToMatchRefetch(
      before,
      [event('channel.updated', { cid: CID, channel: renamed.channel })],
      fetched(renamed, messages(1, 1)),
    );
  });

  it('channel.truncated hides the messages created up to the truncation', () => {
    const cs = channelState({ channel: { last_seq: 4 } });
    const before = fetched(cs, messages(1, 4));
    const truncated = channelState({ channel: { last_seq: 4, truncated_at: at(25), updated_at: at(25) } });
    expectEventsToMatchRefetch(
      before,
      [event('channel.truncated', { cid: CID, channel: truncated.channel })],
      fetched(truncated, messages(3, 4)),
    );
  });

  it('a sequence of mixed events matches the fetch after all of them', () => {
    const cs = channelState({
      channel: { last_seq: 2, last_message_at: at(20), updated_at: at(20) },
      lastRead: 2,
    });
    const before = fetched(cs, messages(1, 2));
    const m3 = message(3);
    const m4 = message(4, { user_id: 'alice' });
    const edited = message(3, { text: 'fixed', updated_at: at(45), edited_at: at(45) });
    const carol = member('carol', { created_at: at(41), updated_at: at(41) });
    const events: ParleyEvent[] = [
      event('message.new', { cid: CID, message: m3 }),
      event('member.added', { cid: CID, member: carol }),
      event('message.new', { cid: CID, message: m4 }),
      event('message.updated', { cid: CID, message: edited }),
      event('message.deleted', { cid: CID, message: message(1), hard: true }),
    ];
    const after = fetched(
      channelState({
        channel: { last_seq: 4, last_message_at: at(40), updated_at: at(40) },
        members: [member('alice', { role: 'owner' }), member('bob'), carol],
        lastRead: 2,
      }),
      [message(2), edited, m4],
    );
    expectEventsToMatchRefetch(before, events, after);
  });
});

describe('reduce: optimistic sends', () => {
  const cs = channelState({
    channel: { last_seq: 1, last_message_at: at(10), updated_at: at(10) },
    lastRead: 1,
  });
  const body = { client_msg_id: 'c0ffee00-0000-4000-8000-000000000001', text: 'hi' };
  const local = pendingMessage(CID, 'alice', body, at(15));

  it('shows the message at once as sending, last, then replaces it with the server’s on ack', () => {
    let state = reduce(fetched(cs, messages(1, 1)), { type: 'local/message.sending', message: local });
    expect(selectMessages(state, CID).map((m) => [m.text, m.status])).toEqual([
      ['message 1', 'sent'],
      ['hi', 'sending'],
    ]);
    const confirmed = message(2, { user_id: 'alice', client_msg_id: body.client_msg_id, text: 'hi' });
    // The realtime copy can come before the REST answer, or after: either way one message.
    const viaEvent = reduce(state, event('message.new', { cid: CID, message: confirmed }));
    state = reduce(viaEvent, { type: 'rest/message', message: confirmed });
    expect(selectMessages(state, CID).map((m) => [m.id, m.status])).toEqual([
      [message(1).id, 'sent'],
      [confirmed.id, 'sent'],
    ]);
    expect(channelView(state)).toEqual(
      channelView(
        fetched(
          channelState({
            channel: { last_seq: 2, last_message_at: at(20), updated_at: at(20) },
            lastRead: 1,
          }),
          [message(1), confirmed],
        ),
      ),
    );
  });

  it('failed → retry → sending, and a late duplicate of the pending message is ignored', () => {
    let state = reduce(fetched(cs, messages(1, 1)), { type: 'local/message.sending', message: local });
    state = reduce(state, {
      type: 'local/message.failed',
      cid: CID,
      client_msg_id: body.client_msg_id,
      error: { code: 'FORBIDDEN', message: 'no' },
    });
    expect(selectMessages(state, CID)[1]).toMatchObject({ status: 'failed', error: { code: 'FORBIDDEN' } });
    state = reduce(state, { type: 'local/message.sending', message: local });
    expect(selectMessages(state, CID)[1]!.status).toBe('sending');
    expect(selectMessages(state, CID)[1]!.error).toBeUndefined();
    state = reduce(state, { type: 'local/message.discard', cid: CID, client_msg_id: body.client_msg_id });
    expect(selectMessages(state, CID)).toHaveLength(1);
  });

  it('a pending message survives a refetch of the latest page', () => {
    let state = reduce(fetched(cs, messages(1, 1)), { type: 'local/message.sending', message: local });
    state = reduce(state, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(1, 1),
      page: 'latest',
      limit: 30,
    });
    expect(selectMessages(state, CID).map((m) => m.status)).toEqual(['sent', 'sending']);
  });
});

describe('reduce: pagination', () => {
  const cs = channelState({ channel: { last_seq: 100 } });

  it('extends the window older and newer without gaps or duplicates', () => {
    let state = fetched(cs, messages(71, 100), 30);
    expect(state.messages[CID]!.hasOlder).toBe(true);
    state = reduce(state, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(41, 70),
      page: 'older',
      limit: 30,
    });
    state = reduce(state, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(1, 40),
      page: 'older',
      limit: 50,
    });
    const seqs = selectMessages(state, CID).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(state.messages[CID]!.hasOlder).toBe(false);
  });

  it('keeps a cached older part that touches the new latest page, and drops one that does not', () => {
    const cached = fetched(cs, messages(61, 90), 30);
    const touching = reduce(cached, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(71, 100),
      page: 'latest',
      limit: 30,
    });
    expect(selectMessages(touching, CID).map((m) => m.seq)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 61),
    );
    const old = fetched(cs, messages(1, 30), 30);
    const gap = reduce(old, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(71, 100),
      page: 'latest',
      limit: 30,
    });
    expect(selectMessages(gap, CID).map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 71));
    expect(gap.messages[CID]!.hasOlder).toBe(true);
  });

  it('does not append live messages to a window that stops before the latest', () => {
    let state = fetched(cs, messages(71, 100), 30);
    state = reduce(state, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(1, 10),
      page: 'latest',
      limit: 30,
    });
    const jumped = {
      ...state,
      messages: { ...state.messages, [CID]: { ...state.messages[CID]!, hasNewer: true } },
    };
    const next = reduce(jumped, event('message.new', { cid: CID, message: message(101) }));
    expect(selectMessages(next, CID).map((m) => m.seq)).not.toContain(101);
    expect(next.channels[CID]!.channel.last_seq).toBe(101);
  });
});

describe('reduce: lists, read state, typing, presence', () => {
  it('reorders channel lists at once when a message is sent or arrives', () => {
    const a = channelState({ channel: { cid: 'messaging:a', id: 'a', last_message_at: at(50) } });
    const b = channelState({ channel: { cid: 'messaging:b', id: 'b', last_message_at: at(40) } });
    let state = reduce(initialState('alice'), {
      type: 'rest/query',
      key: 'q',
      sort: [{ field: 'last_message_at', direction: -1 }],
      channels: [a, b],
      offset: 0,
      limit: 20,
    });
    expect(state.queries.q!.cids).toEqual(['messaging:a', 'messaging:b']);
    const local = pendingMessage('messaging:b', 'alice', { client_msg_id: 'x-1', text: 'up' }, at(60));
    state = reduce(state, { type: 'local/message.sending', message: local });
    expect(state.queries.q!.cids).toEqual(['messaging:b', 'messaging:a']);
    state = reduce(
      state,
      event('message.new', {
        cid: 'messaging:a',
        message: message(1, { cid: 'messaging:a', created_at: at(70) }),
      }),
    );
    expect(selectQueryChannels(state, 'q').map((c) => c.channel.cid)).toEqual(['messaging:a', 'messaging:b']);
  });

  it('message.read moves read positions; notification.mark_read sets the counts', () => {
    let state = fetched(channelState({ channel: { last_seq: 5 }, lastRead: 1 }), []);
    state = reduce(state, {
      type: 'rest/unread',
      counts: {
        total_unread_count: 4,
        unread_channels: 1,
        channels: [{ cid: CID, unread_count: 4, last_read_seq: 1, last_read_at: null }],
      },
    });
    state = reduce(
      state,
      event('message.read', {
        cid: CID,
        user_id: 'bob',
        last_read_seq: 5,
        last_read_message_id: null,
        last_read_at: at(60),
      }),
    );
    expect(state.channels[CID]!.members.bob).toMatchObject({
      last_read_seq: 5,
      last_read_at: at(60),
      updated_at: at(60),
    });
    expect(state.unread.channels[CID]).toBe(4);
    state = reduce(
      state,
      event('message.read', {
        cid: CID,
        user_id: 'alice',
        last_read_seq: 3,
        last_read_message_id: null,
        last_read_at: at(61),
      }),
    );
    expect(state.unread).toEqual({ total_unread_count: 2, unread_channels: 1, channels: { [CID]: 2 } });
    state = reduce(
      state,
      event('notification.mark_read', {
        cid: null,
        user_id: 'alice',
        total_unread_count: 0,
        unread_channels: 0,
      }),
    );
    expect(state.unread).toEqual({ total_unread_count: 0, unread_channels: 0, channels: { [CID]: 0 } });
  });

  it('local mark read clears the count at once', () => {
    let state = fetched(channelState({ channel: { last_seq: 5 }, lastRead: 1 }), []);
    state = reduce(state, {
      type: 'rest/unread',
      counts: {
        total_unread_count: 4,
        unread_channels: 1,
        channels: [{ cid: CID, unread_count: 4, last_read_seq: 1, last_read_at: null }],
      },
    });
    state = reduce(state, { type: 'local/mark_read', cid: CID, at: at(90) });
    expect(state.unread.total_unread_count).toBe(0);
    expect(state.channels[CID]!.membership!.last_read_seq).toBe(5);
  });

  it('tracks typing of others (not the connected user) until stop, a message or a timeout', () => {
    let state = fetched(channelState({}), []);
    state = reduce(state, event('typing.start', { cid: CID, user_id: 'alice', parent_id: null }));
    expect(selectTyping(state, CID)).toEqual([]);
    state = reduce(state, event('typing.start', { cid: CID, user_id: 'bob', parent_id: null }));
    expect(selectTyping(state, CID).map((t) => t.user_id)).toEqual(['bob']);
    expect(selectTyping(state, CID)).toBe(selectTyping(state, CID));
    expect(reduce(state, event('typing.stop', { cid: CID, user_id: 'bob', parent_id: null })).typing).toEqual(
      {},
    );
    expect(reduce(state, event('message.new', { cid: CID, message: message(1) })).typing).toEqual({});
    expect(reduce(state, { type: 'local/typing.clear', cid: CID, user_id: 'bob' }).typing).toEqual({});
  });

  it('user.presence updates presence and the user', () => {
    const state = reduce(
      initialState('alice'),
      event('user.presence', { user_id: 'bob', online: true, last_active_at: at(5) }),
    );
    expect(state.presence.bob).toEqual({ online: true, last_active_at: at(5) });
  });

  it('never mutates its input', () => {
    const before = fetched(channelState({ channel: { last_seq: 2 } }), messages(1, 2));
    const frozen = structuredClone(before);
    applyAll(before, [
      event('message.new', { cid: CID, message: message(3) }),
      event('member.removed', { cid: CID, user_id: 'bob' }),
      event('channel.truncated', {
        cid: CID,
        channel: { ...before.channels[CID]!.channel, truncated_at: at(100) },
      }),
    ]);
    expect(before).toEqual(frozen);
  });
});
