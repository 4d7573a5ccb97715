import {
  LATEST_REACTIONS_LIMIT,
  type Message,
  type ParleyEvent,
  type Poll,
  type Reaction,
  type Thread,
} from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import {
  applyAll,
  at,
  CID,
  channelState,
  event,
  fetched,
  message,
  messages,
} from '../test-support/fixtures.js';
import { LATEST_REACTIONS, pendingMessage, reduce, withOwnReactions } from './reducer.js';
import { selectMentions, selectMessage, selectMessages, selectReplies, selectThreads } from './selectors.js';
import type { ParleyState } from './types.js';

type E<N extends ParleyEvent['type']> = ParleyEvent<N>;

const parent = (over: Partial<Message> = {}) =>
  message(1, {
    user_id: 'alice',
    reply_count: 0,
    thread_participants: ['alice'],
    last_reply_at: null,
    own_reactions: [],
    reaction_counts: {},
    reaction_scores: {},
    latest_reactions: [],
    ...over,
  });
const P = parent().id;
const reply = (seq: number, over: Partial<Message> = {}) =>
  message(seq, { parent_id: P, type: 'reply', ...over });

const thread = (over: Partial<Thread> = {}): Thread => ({
  cid: CID,
  parent: parent(),
  unread_replies: 0,
  last_read_seq: 0,
  last_read_at: null,
  ...over,
});

const reaction = (userId: string, type: string, seconds: number, score = 1): Reaction => ({
  message_id: P,
  user_id: userId,
  type,
  score,
  created_at: at(seconds),
  updated_at: at(seconds),
});

/** A client (alice) that fetched the channel, a thread's replies and the thread list. */
function withThread(replies: Message[], t: Thread): ParleyState {
  let state = fetched(channelState({ channel: { last_seq: replies.length + 1 } }), [t.parent]);
  state = reduce(state, { type: 'rest/replies', parent_id: P, messages: replies, page: 'latest', limit: 30 });
  return reduce(state, { type: 'rest/threads', threads: [t], next: null, append: false });
}

/** The parts of the state a thread fetch determines. */
const threadView = (state: ParleyState) => ({
  replies: selectReplies(state, P),
  thread: state.threads[P],
  parentInChannel: state.messages[CID]?.byId[P],
  list: state.threadList,
});

describe('reduce: threads', () => {
  it('replies go to the thread, not the channel list; the parent and the thread follow (old state + events = refetch)', () => {
    const before = withThread(
      [reply(2)],
      thread({ parent: parent({ reply_count: 1, last_reply_at: at(20) }) }),
    );
    const r3 = reply(3);
    const p3 = parent({ reply_count: 2, last_reply_at: at(30), thread_participants: ['alice', 'bob'] });
    const events = [event<E<'message.new'>>('message.new', { cid: CID, message: r3, thread_parent: p3 })];
    const live = applyAll(before, events);
    const after = withThread([reply(2), r3], thread({ parent: p3, unread_replies: 1 }));
    expect(threadView(live)).toEqual(threadView(after));
    expect(threadView(applyAll(live, events))).toEqual(threadView(after)); // idempotent
    expect(selectMessages(live, CID).map((m) => m.id)).toEqual([P]);
    expect(live.messages[CID]!.byId[P]!.reply_count).toBe(2);
  });

  it('a reply shown in the channel goes to both lists', () => {
    const before = withThread([], thread());
    const r2 = reply(2, { show_in_channel: true });
    const live = reduce(before, event('message.new', { cid: CID, message: r2, thread_parent: parent() }));
    expect(selectMessages(live, CID).map((m) => m.id)).toEqual([P, r2.id]);
    expect(selectReplies(live, P).map((m) => m.id)).toEqual([r2.id]);
  });

  it('the user’s own reply shows at once in the thread only, and moves their read position', () => {
    const before = withThread([reply(2)], thread({ unread_replies: 1 }));
    const pending = pendingMessage(
      CID,
      'alice',
      { client_msg_id: 'c-1', text: 'mine', parent_id: P },
      at(50),
    );
    let state = reduce(before, { type: 'local/message.sending', message: pending });
    expect(selectReplies(state, P).map((m) => [m.text, m.status])).toEqual([
      ['message 2', 'sent'],
      ['mine', 'sending'],
    ]);
    expect(selectMessages(state, CID).map((m) => m.id)).toEqual([P]);
    const confirmed = reply(3, { user_id: 'alice', client_msg_id: 'c-1', text: 'mine' });
    state = reduce(
      state,
      event('message.new', {
        cid: CID,
        message: confirmed,
        thread_parent: parent({ reply_count: 2, last_reply_at: confirmed.created_at }),
      }),
    );
    expect(selectReplies(state, P).map((m) => [m.id, m.status])).toEqual([
      [reply(2).id, 'sent'],
      [confirmed.id, 'sent'],
    ]);
    expect(state.threads[P]).toMatchObject({ unread_replies: 0, last_read_seq: 3 });
  });

  it('pages replies older and newer without gaps or duplicates', () => {
    let state = fetched(channelState({ channel: { last_seq: 10 } }), [parent()]);
    const all = messages(2, 10).map((m) => ({ ...m, parent_id: P, type: 'reply' as const }));
    state = reduce(state, {
      type: 'rest/replies',
      parent_id: P,
      messages: all.slice(5),
      page: 'latest',
      limit: 4,
    });
    expect(state.replies[P]!.hasOlder).toBe(true);
    state = reduce(state, {
      type: 'rest/replies',
      parent_id: P,
      messages: all.slice(1, 5),
      page: 'older',
      limit: 4,
    });
    state = reduce(state, {
      type: 'rest/replies',
      parent_id: P,
      messages: all.slice(0, 1),
      page: 'older',
      limit: 4,
    });
    expect(state.replies[P]!.hasOlder).toBe(false);
    expect(selectReplies(state, P).map((m) => m.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('notification.thread_read and a local read clear the unread replies; the list reorders on a reply', () => {
    const other = thread({
      parent: message(5, { id: 'other-parent', user_id: 'alice', last_reply_at: at(40) }),
    });
    let state = withThread([reply(2), reply(3)], thread({ unread_replies: 2 }));
    state = reduce(state, {
      type: 'rest/threads',
      threads: [other, state.threads[P]!],
      next: 'n',
      append: false,
    });
    expect(selectThreads(state).map((t) => t.parent.id)).toEqual(['other-parent', P]);
    state = reduce(
      state,
      event('message.new', {
        cid: CID,
        message: reply(4),
        thread_parent: parent({ reply_count: 3, last_reply_at: at(40) }),
      }),
    );
    expect(selectThreads(state).map((t) => [t.parent.id, t.unread_replies])).toEqual([
      [P, 3],
      ['other-parent', 0],
    ]);
    const read = reduce(
      state,
      event('notification.thread_read', {
        cid: CID,
        user_id: 'alice',
        parent_id: P,
        last_read_seq: 3,
        last_read_at: at(60),
      }),
    );
    expect(read.threads[P]).toMatchObject({ unread_replies: 1, last_read_seq: 3 });
    const local = reduce(state, { type: 'local/thread.read', parent_id: P, at: at(70) });
    expect(local.threads[P]).toMatchObject({ unread_replies: 0, last_read_seq: 4, last_read_at: at(70) });
  });

  it('a hard-deleted parent takes its thread with it', () => {
    const state = withThread([reply(2)], thread());
    const gone = reduce(state, event('message.deleted', { cid: CID, message: parent(), hard: true }));
    expect(gone.replies[P]).toBeUndefined();
    expect(gone.threads[P]).toBeUndefined();
    expect(gone.threadList?.ids).toEqual([]);
  });
});

describe('reduce: reactions', () => {
  const base = (own: Reaction[] = [], counts: Record<string, number> = {}, latest: Reaction[] = []) =>
    fetched(channelState({ channel: { last_seq: 1 } }), [
      parent({
        own_reactions: own,
        reaction_counts: counts,
        reaction_scores: counts,
        latest_reactions: latest,
      }),
    ]);
  const view = (state: ParleyState) => {
    const m = selectMessage(state, CID, P)!;
    return {
      own: m.own_reactions?.map((r) => r.type),
      counts: m.reaction_counts,
      scores: m.reaction_scores,
      latest: m.latest_reactions?.map((r) => `${r.user_id}:${r.type}`),
    };
  };

  it('an optimistic toggle moves counts, own and latest reactions; setting the old own reactions undoes it', () => {
    const bobLike = reaction('bob', 'like', 1);
    const before = base([], { like: 1 }, [bobLike]);
    const mine = reaction('alice', 'like', 5);
    const added = reduce(before, { type: 'local/reactions.own', cid: CID, message_id: P, own: [mine] });
    expect(view(added)).toEqual({
      own: ['like'],
      counts: { like: 2 },
      scores: { like: 2 },
      latest: ['alice:like', 'bob:like'],
    });
    const undone = reduce(added, { type: 'local/reactions.own', cid: CID, message_id: P, own: [] });
    expect(view(undone)).toEqual(view(before));
  });

  it('enforce_unique: replacing the own reaction moves one count to the other type', () => {
    const love = reaction('alice', 'love', 1);
    const before = base([love], { love: 1 }, [love]);
    const like = reaction('alice', 'like', 5);
    const after = reduce(before, { type: 'local/reactions.own', cid: CID, message_id: P, own: [like] });
    expect(view(after)).toEqual({
      own: ['like'],
      counts: { like: 1 },
      scores: { like: 1 },
      latest: ['alice:like'],
    });
  });

  it('reaction events take the server counts and keep (or update) the user’s own reactions', () => {
    const mine = reaction('alice', 'like', 5);
    const before = base([mine], { like: 1 }, [mine]);
    const bobs = reaction('bob', 'love', 6);
    const fromServer = parent({
      reaction_counts: { like: 1, love: 1 },
      reaction_scores: { like: 1, love: 1 },
      latest_reactions: [bobs, mine],
      own_reactions: [], // events go to everyone
      updated_at: at(100),
    });
    const events = [
      event<E<'reaction.new'>>('reaction.new', {
        cid: CID,
        user_id: 'bob',
        message: fromServer,
        reaction: bobs,
      }),
    ];
    const live = applyAll(before, events);
    expect(view(live)).toEqual({
      own: ['like'],
      counts: { like: 1, love: 1 },
      scores: { like: 1, love: 1 },
      latest: ['bob:love', 'alice:like'],
    });
    expect(applyAll(live, events)).toEqual(live);
    // The user's own reaction, removed on another device.
    const gone = parent({
      reaction_counts: { love: 1 },
      reaction_scores: { love: 1 },
      latest_reactions: [bobs],
      updated_at: at(101),
    });
    const removed = reduce(
      live,
      event('reaction.deleted', { cid: CID, user_id: 'alice', message: gone, reaction: mine }),
    );
    expect(view(removed)).toEqual({
      own: [],
      counts: { love: 1 },
      scores: { love: 1 },
      latest: ['bob:love'],
    });
  });

  it('keeps as many latest reactions as the server does', () => {
    expect(LATEST_REACTIONS).toBe(LATEST_REACTIONS_LIMIT);
  });

  it('withOwnReactions counts scores above 1', () => {
    const m = withOwnReactions(parent(), [reaction('alice', 'clap', 1, 5)]);
    expect(m.reaction_counts).toEqual({ clap: 1 });
    expect(m.reaction_scores).toEqual({ clap: 5 });
  });
});

describe('reduce: mentions', () => {
  it('lists mentions newest first, adds live ones once, and pages older', () => {
    let state = fetched(channelState({}), []);
    const m = (seq: number) => message(seq, { mentioned_user_ids: ['alice'] });
    state = reduce(state, { type: 'rest/mentions', messages: [m(5), m(4)], append: false, limit: 2 });
    expect(state.mentions?.hasOlder).toBe(true);
    const live = event<E<'notification.mention'>>('notification.mention', {
      cid: CID,
      user_id: 'alice',
      message: m(6),
    });
    state = applyAll(state, [live, live]);
    state = reduce(state, { type: 'rest/mentions', messages: [m(3)], append: true, limit: 2 });
    expect(selectMentions(state).map((x) => x.seq)).toEqual([6, 5, 4, 3]);
    expect(state.mentions?.hasOlder).toBe(false);
    // Mentions of someone else (another user's channel) are not ours.
    const other = reduce(state, event('notification.mention', { cid: CID, user_id: 'bob', message: m(7) }));
    expect(other).toBe(state);
  });
});

describe('reduce: a jump (page around a message)', () => {
  it('replaces the window; older and newer pages then extend it without gaps', () => {
    let state = fetched(channelState({ channel: { last_seq: 60 } }), messages(51, 60), 10);
    const page = messages(15, 24); // 5 before message 20, 5 from it on
    state = reduce(state, {
      type: 'rest/messages',
      cid: CID,
      messages: page,
      page: 'around',
      limit: 10,
      around: message(20).id,
    });
    expect(selectMessages(state, CID).map((m) => m.seq)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect([state.messages[CID]!.hasOlder, state.messages[CID]!.hasNewer]).toEqual([true, true]);
    // A live message is not appended to a window in the past.
    const live = reduce(state, event('message.new', { cid: CID, message: message(61) }));
    expect(selectMessages(live, CID).at(-1)?.seq).toBe(24);
    state = reduce(state, {
      type: 'rest/messages',
      cid: CID,
      messages: messages(25, 30),
      page: 'newer',
      limit: 10,
    });
    expect(state.messages[CID]!.hasNewer).toBe(false);
    expect(selectMessages(state, CID).map((m) => m.seq)).toEqual(
      Array.from({ length: 16 }, (_, i) => 15 + i),
    );
  });

  it('near the start: no older messages', () => {
    const state = reduce(fetched(channelState({}), [], 10), {
      type: 'rest/messages',
      cid: CID,
      messages: messages(1, 8),
      page: 'around',
      limit: 10,
      around: message(2).id,
    });
    expect([state.messages[CID]!.hasOlder, state.messages[CID]!.hasNewer]).toEqual([false, true]);
  });
});

describe('reduce: polls', () => {
  const poll = (over: Partial<Poll> = {}): Poll => ({
    id: 'poll-1',
    name: 'Lunch?',
    description: null,
    voting_visibility: 'public',
    enforce_unique_vote: true,
    max_votes_allowed: null,
    allow_user_suggested_options: false,
    allow_answers: false,
    is_closed: false,
    options: [
      { id: 'o1', text: 'pizza', custom: {}, suggested_by: null },
      { id: 'o2', text: 'sushi', custom: {}, suggested_by: null },
    ],
    vote_count: 0,
    answers_count: 0,
    vote_counts_by_option: {},
    latest_votes_by_option: {},
    latest_answers: [],
    own_votes: [],
    created_by_id: 'bob',
    message_id: P,
    cid: CID,
    custom: {},
    closed_at: null,
    created_at: at(1),
    updated_at: at(1),
    ...over,
  });
  const vote = (id: string, option: string, userId: string, seconds: number) => ({
    id,
    poll_id: 'poll-1',
    option_id: option,
    is_answer: false,
    answer_text: null,
    user_id: userId,
    created_at: at(seconds),
    updated_at: at(seconds),
  });

  it('poll events take the counts and keep the user’s own votes, following their own changes', () => {
    let state = fetched(channelState({ channel: { last_seq: 1 } }), [
      parent({ poll_id: 'poll-1', poll: poll() }),
    ]);
    const mine = vote('v1', 'o1', 'alice', 2);
    state = reduce(state, {
      type: 'rest/poll',
      cid: CID,
      message_id: P,
      poll: poll({ vote_count: 1, vote_counts_by_option: { o1: 1 }, own_votes: [mine], updated_at: at(2) }),
    });
    const bobs = vote('v2', 'o2', 'bob', 3);
    state = reduce(
      state,
      event('poll.vote_casted', {
        cid: CID,
        message_id: P,
        vote: bobs,
        poll: poll({ vote_count: 2, vote_counts_by_option: { o1: 1, o2: 1 }, updated_at: at(3) }),
      }),
    );
    expect(selectMessage(state, CID, P)?.poll).toMatchObject({ vote_count: 2, own_votes: [mine] });
    const changed = vote('v3', 'o2', 'alice', 4);
    state = reduce(
      state,
      event('poll.vote_changed', {
        cid: CID,
        message_id: P,
        vote: changed,
        removed_vote: mine,
        poll: poll({ vote_count: 2, vote_counts_by_option: { o2: 2 }, updated_at: at(4) }),
      }),
    );
    expect(selectMessage(state, CID, P)?.poll).toMatchObject({
      vote_counts_by_option: { o2: 2 },
      own_votes: [changed],
    });
    // A stale copy never wins.
    const stale = reduce(
      state,
      event('poll.updated', { cid: CID, message_id: P, poll: poll({ updated_at: at(3) }) }),
    );
    expect(stale).toEqual(state);
  });
});

describe('reduce: mark unread', () => {
  it('notification.mark_unread moves the read position back and sets the counts', () => {
    const state = fetched(channelState({ channel: { last_seq: 5 }, lastRead: 5 }), messages(1, 5));
    const next = reduce(
      state,
      event('notification.mark_unread', {
        cid: CID,
        user_id: 'alice',
        last_read_seq: 2,
        first_unread_message_id: message(3).id,
        unread_messages: 3,
        total_unread_count: 3,
        unread_channels: 1,
      }),
    );
    expect(next.channels[CID]?.membership?.last_read_seq).toBe(2);
    expect(next.unread).toEqual({ total_unread_count: 3, unread_channels: 1, channels: { [CID]: 3 } });
    const other = event('notification.mark_unread', {
      cid: CID,
      user_id: 'bob',
      last_read_seq: 0,
      first_unread_message_id: message(1).id,
      unread_messages: 5,
      total_unread_count: 5,
      unread_channels: 1,
    });
    expect(reduce(state, other)).toBe(state);
  });
});
