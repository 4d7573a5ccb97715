import type { Draft, ParleyEvent, Reminder, ScheduledMessage } from '@parley/protocol';
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
import { reduce } from './reducer.js';
import { selectMessages } from './selectors.js';
import { draftKey, initialState } from './types.js';

type E<N extends ParleyEvent['type']> = ParleyEvent<N>;

/** Reducers for the user's own lists (blocks, mutes, drafts, reminders, scheduled messages, stars), receipts and presence. */

const members = [member('alice', { role: 'owner' }), member('bob'), member('carol')];
const group = channelState({
  members,
  channel: { member_count: 3, last_seq: 3, last_message_at: at(30), updated_at: at(30) },
});
const ids = (state: ReturnType<typeof fetched>) => selectMessages(state, CID).map((m) => m.seq);

describe('blocked users', () => {
  const page = [
    message(1, { user_id: 'bob' }),
    message(2, { user_id: 'carol' }),
    message(3, { user_id: 'bob' }),
  ];

  it('rest/blocks removes the blocked user’s loaded messages and their mentions', () => {
    let state = fetched(group, page);
    state = reduce(state, {
      type: 'rest/mentions',
      messages: [page[0]!, page[1]!],
      append: false,
      limit: 25,
    });
    state = reduce(state, {
      type: 'rest/blocks',
      blocks: [{ user_id: 'alice', target_id: 'bob', created_at: at(0) }],
    });
    expect(ids(state)).toEqual([2]);
    expect(state.mentions?.messages.map((m) => m.seq)).toEqual([2]);
    expect(Object.keys(state.blocks)).toEqual(['bob']);
    // Loading the same blocks again (every reconnect) leaves the lists as they are.
    const again = reduce(state, { type: 'rest/blocks', blocks: Object.values(state.blocks) });
    expect(again.messages).toBe(state.messages);
    expect(again.mentions).toBe(state.mentions);
  });

  it('message.new / message.updated / notification.mention from a blocked user never enter the store', () => {
    const blocked = reduce(fetched(group, page.slice(1, 2)), {
      type: 'rest/blocks',
      blocks: [{ user_id: 'alice', target_id: 'bob', created_at: at(0) }],
    });
    const withMentions = reduce(blocked, { type: 'rest/mentions', messages: [], append: false, limit: 25 });
    const m4 = message(4, { user_id: 'bob' });
    const after = applyAll(withMentions, [
      event<E<'message.new'>>('message.new', { cid: CID, message: m4 }),
      event<E<'message.updated'>>('message.updated', {
        cid: CID,
        message: { ...page[0]!, text: 'edited', updated_at: at(100) },
      }),
      event<E<'notification.mention'>>('notification.mention', { cid: CID, user_id: 'alice', message: m4 }),
    ]);
    expect(after).toBe(withMentions);
    // carol's messages still arrive
    const m5 = message(5, { user_id: 'carol' });
    expect(ids(reduce(after, event<E<'message.new'>>('message.new', { cid: CID, message: m5 })))).toEqual([
      2, 5,
    ]);
  });

  it('the user’s own messages are never hidden, and blocks are per user', () => {
    const state = reduce(fetched(group, [message(1, { user_id: 'alice' })]), {
      type: 'rest/blocks',
      blocks: [{ user_id: 'alice', target_id: 'alice', created_at: at(0) }],
    });
    expect(ids(state)).toEqual([1]);
    // bob blocking carol (another user's event) does not touch alice's state
    const other = event<E<'notification.user_blocked'>>('notification.user_blocked', {
      user_id: 'bob',
      target_id: 'carol',
    });
    expect(reduce(state, other)).toBe(state);
  });

  it('notification.user_blocked hides at once; user_unblocked lets new messages in again', () => {
    let state = fetched(group, page);
    state = reduce(
      state,
      event<E<'notification.user_blocked'>>('notification.user_blocked', {
        user_id: 'alice',
        target_id: 'bob',
      }),
    );
    expect(ids(state)).toEqual([2]);
    expect(state.blocks.bob?.target_id).toBe('bob');
    state = reduce(
      state,
      event<E<'notification.user_unblocked'>>('notification.user_unblocked', {
        user_id: 'alice',
        target_id: 'bob',
      }),
    );
    expect(state.blocks).toEqual({});
    const m4 = message(4, { user_id: 'bob' });
    expect(ids(reduce(state, event<E<'message.new'>>('message.new', { cid: CID, message: m4 })))).toEqual([
      2, 4,
    ]);
  });

  it('thread replies of a blocked user are removed from the open thread too', () => {
    const parent = message(1, { user_id: 'carol' });
    const reply = message(2, { user_id: 'bob', parent_id: parent.id, type: 'reply' });
    let state = fetched(group, [parent]);
    state = reduce(state, {
      type: 'rest/replies',
      parent_id: parent.id,
      messages: [reply],
      page: 'latest',
      limit: 30,
    });
    expect(state.replies[parent.id]?.ids).toEqual([reply.id]);
    state = reduce(state, {
      type: 'rest/blocks',
      blocks: [{ user_id: 'alice', target_id: 'bob', created_at: at(0) }],
    });
    expect(state.replies[parent.id]?.ids).toEqual([]);
  });
});

describe('mutes', () => {
  it('rest/mutes replaces; notification.* add and remove the user’s own mutes only', () => {
    const userMute = { user_id: 'alice', target_id: 'bob', expires_at: null, created_at: at(0) };
    const channelMute = { user_id: 'alice', cid: CID, expires_at: null, created_at: at(0) };
    let state = reduce(initialState('alice'), {
      type: 'rest/mutes',
      user_mutes: [userMute],
      channel_mutes: [],
    });
    expect(Object.keys(state.userMutes)).toEqual(['bob']);
    state = reduce(
      state,
      event<E<'notification.channel_muted'>>('notification.channel_muted', {
        cid: CID,
        user_id: 'alice',
        mute: channelMute,
      }),
    );
    expect(state.channelMutes[CID]).toEqual(channelMute);
    const carol = { ...userMute, target_id: 'carol' };
    state = reduce(
      state,
      event<E<'notification.user_muted'>>('notification.user_muted', { user_id: 'alice', mute: carol }),
    );
    expect(Object.keys(state.userMutes).sort()).toEqual(['bob', 'carol']);
    const foreign = event<E<'notification.user_muted'>>('notification.user_muted', {
      user_id: 'bob',
      mute: { ...userMute, user_id: 'bob', target_id: 'dave' },
    });
    expect(reduce(state, foreign)).toBe(state);
    state = applyAll(state, [
      event<E<'notification.user_unmuted'>>('notification.user_unmuted', {
        user_id: 'alice',
        target_id: 'bob',
      }),
      event<E<'notification.channel_unmuted'>>('notification.channel_unmuted', {
        cid: CID,
        user_id: 'alice',
      }),
    ]);
    expect(Object.keys(state.userMutes)).toEqual(['carol']);
    expect(state.channelMutes).toEqual({});
  });
});

describe('drafts, reminders, scheduled messages, stars', () => {
  const draft = (over: Partial<Draft> = {}): Draft => ({
    cid: CID,
    parent_id: null,
    reply_to_id: null,
    text: 'hello',
    attachments: [],
    custom: {},
    mentioned_user_ids: [],
    created_at: at(0),
    updated_at: at(10),
    ...over,
  });

  it('drafts by channel and thread; the later update wins in any order; deletion by key', () => {
    const newer = draft({ text: 'newer', updated_at: at(20) });
    const inThread = draft({ parent_id: 'p1', text: 'reply draft' });
    let state = applyAll(initialState('alice'), [
      event<E<'draft.updated'>>('draft.updated', { cid: CID, user_id: 'alice', draft: newer }),
      event<E<'draft.updated'>>('draft.updated', { cid: CID, user_id: 'alice', draft: inThread }),
    ]);
    // A REST page with an older copy does not win.
    state = reduce(state, { type: 'rest/drafts', drafts: [draft()] });
    expect(state.drafts[draftKey(CID)]?.text).toBe('newer');
    expect(state.drafts[draftKey(CID, 'p1')]?.text).toBe('reply draft');
    state = reduce(
      state,
      event<E<'draft.deleted'>>('draft.deleted', { cid: CID, user_id: 'alice', parent_id: 'p1' }),
    );
    expect(Object.keys(state.drafts)).toEqual([CID]);
    state = reduce(state, { type: 'local/removed', what: 'drafts', key: CID });
    expect(state.drafts).toEqual({});
  });

  it('reminders: set, due (delivered_at), cancelled', () => {
    const m = message(1);
    const reminder: Reminder = {
      message_id: m.id,
      cid: CID,
      user_id: 'alice',
      remind_at: at(60),
      note: 'call back',
      delivered_at: null,
      created_at: at(0),
      updated_at: at(0),
    };
    let state = reduce(initialState('alice'), { type: 'rest/reminders', reminders: [reminder] });
    const due = { ...reminder, delivered_at: at(60), updated_at: at(60) };
    state = reduce(
      state,
      event<E<'notification.reminder_due'>>('notification.reminder_due', {
        cid: CID,
        user_id: 'alice',
        reminder: due,
        message: m,
      }),
    );
    expect(state.reminders[m.id]?.delivered_at).toBe(at(60));
    // A stale reminder.updated (recovered late) does not undo it.
    const stale = reduce(
      state,
      event<E<'reminder.updated'>>('reminder.updated', { cid: CID, user_id: 'alice', reminder }),
    );
    expect(stale).toBe(state);
    state = reduce(
      state,
      event<E<'reminder.deleted'>>('reminder.deleted', { cid: CID, user_id: 'alice', message_id: m.id }),
    );
    expect(state.reminders).toEqual({});
  });

  it('scheduled messages: created, sent, cancelled', () => {
    const scheduled: ScheduledMessage = {
      id: 's1',
      cid: CID,
      user_id: 'alice',
      send_at: at(100),
      text: 'later',
      attachments: [],
      custom: {},
      mentioned_user_ids: [],
      parent_id: null,
      reply_to_id: null,
      show_in_channel: false,
      status: 'scheduled',
      message_id: null,
      error: null,
      created_at: at(0),
      updated_at: at(0),
    };
    let state = reduce(initialState('alice'), { type: 'rest/scheduled', scheduled_messages: [scheduled] });
    const sent = { ...scheduled, status: 'sent' as const, message_id: 'm1', updated_at: at(100) };
    state = reduce(
      state,
      event<E<'scheduled_message.updated'>>('scheduled_message.updated', {
        cid: CID,
        user_id: 'alice',
        scheduled_message: sent,
      }),
    );
    expect(state.scheduledMessages.s1?.status).toBe('sent');
    state = reduce(state, { type: 'rest/scheduled', scheduled_messages: [scheduled] });
    expect(state.scheduledMessages.s1?.status).toBe('sent');
    const deleted: E<'scheduled_message.deleted'> = {
      id: 'event-1',
      scheduled_message_id: 's1',
      type: 'scheduled_message.deleted',
      app_id: 'app',
      created_at: at(200),
      cid: CID,
      user_id: 'alice',
    };
    state = reduce(state, deleted);
    expect(state.scheduledMessages).toEqual({});
  });

  it('stars from REST and from the user’s other devices', () => {
    let state = reduce(initialState('alice'), { type: 'rest/star', message_id: 'm1', starred_at: at(5) });
    state = reduce(
      state,
      event<E<'notification.message_starred'>>('notification.message_starred', {
        cid: CID,
        user_id: 'alice',
        message_id: 'm2',
        starred: true,
        starred_at: at(6),
      }),
    );
    expect(state.starred).toEqual({ m1: at(5), m2: at(6) });
    state = reduce(
      state,
      event<E<'notification.message_starred'>>('notification.message_starred', {
        cid: CID,
        user_id: 'alice',
        message_id: 'm1',
        starred: false,
        starred_at: null,
      }),
    );
    expect(state.starred).toEqual({ m2: at(6) });
  });
});

describe('receipts, pins, previews, presence', () => {
  it('message.delivered moves a member’s delivered position forward only (= a fresh fetch)', () => {
    const before = fetched(group, messages(1, 3));
    const delivered = (seq: number) =>
      event<E<'message.delivered'>>('message.delivered', {
        cid: CID,
        user_id: 'bob',
        last_delivered_seq: seq,
        last_delivered_message_id: message(seq).id,
        last_delivered_at: at(seq * 10 + 1),
      });
    const after = fetched(
      channelState({
        members: members.map((m) =>
          m.user_id === 'bob' ? { ...m, last_delivered_seq: 3, last_delivered_at: at(31) } : m,
        ),
        channel: group.channel,
      }),
      messages(1, 3),
    );
    const live = applyAll(before, [delivered(3), delivered(2)]);
    expect(channelView(live)).toEqual(channelView(after));
  });

  it('a pin arrives as message.updated with the pin fields', () => {
    const before = fetched(group, messages(1, 3));
    const pinned = { ...message(2), pinned: true, pinned_at: at(40), pinned_by: 'alice', updated_at: at(40) };
    const live = reduce(
      before,
      event<E<'message.updated'>>('message.updated', { cid: CID, message: pinned }),
    );
    expect(selectMessages(live, CID)[1]).toMatchObject({ pinned: true, pinned_by: 'alice' });
  });

  it('local/message.remove takes an ephemeral preview out of the list', () => {
    const preview = { ...message(0), id: 'preview-1', type: 'ephemeral' as const, seq: 0 };
    let state = fetched(group, messages(1, 3));
    state = reduce(state, { type: 'rest/message', message: preview });
    expect(selectMessages(state, CID).map((m) => m.id)).toContain('preview-1');
    state = reduce(state, { type: 'local/message.remove', cid: CID, message_id: 'preview-1' });
    expect(selectMessages(state, CID).map((m) => m.id)).not.toContain('preview-1');
  });

  it('rest/online marks users online and keeps their last activity; user.presence takes over', () => {
    let state = reduce(
      initialState('alice'),
      event<E<'user.presence'>>('user.presence', { user_id: 'bob', online: false, last_active_at: at(5) }),
    );
    state = reduce(state, { type: 'rest/online', user_ids: ['bob', 'carol'] });
    expect(state.presence).toEqual({
      bob: { online: true, last_active_at: at(5) },
      carol: { online: true, last_active_at: null },
    });
    expect(reduce(state, { type: 'rest/online', user_ids: ['bob'] })).toBe(state);
    state = reduce(
      state,
      event<E<'user.presence'>>('user.presence', { user_id: 'carol', online: false, last_active_at: at(9) }),
    );
    expect(state.presence.carol).toEqual({ online: false, last_active_at: at(9) });
  });
});
