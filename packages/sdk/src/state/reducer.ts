import type { Channel, ChannelState, Member, Message, Reaction, Thread } from '@parley/protocol';
import type { Action } from './actions.js';
import {
  type ChannelEntry,
  draftKey,
  initialState,
  type LocalMessage,
  type MessageList,
  type ParleyState,
  type QueryState,
  type UnreadState,
} from './types.js';

/**
 * The only way the state changes. Pure: no clock, no I/O, no mutation of its inputs. REST answers,
 * realtime events and local optimistic actions all go through here, so applying the events that
 * followed a fetch to the state of that fetch gives the state of a fresh fetch (see reducer.test.ts).
 *
 * Idempotent for server data: an event applied twice (recovered publications that overlap a
 * refetch) leaves the state as applying it once. Confirmed messages are last-writer-wins on
 * `updated_at`, so a stale copy never replaces a newer one.
 */
export function reduce(state: ParleyState, action: Action): ParleyState {
  switch (action.type) {
    case 'local/reset':
      return initialState(action.userId);
    case 'local/hydrate':
      return hydrate(state, action.cache);
    case 'rest/channels':
      return action.channels.reduce(putChannelState, state);
    case 'rest/query': {
      const next = action.channels.reduce(putChannelState, state);
      const fetched = action.channels.map((c) => c.channel.cid);
      const previous = action.offset > 0 ? (state.queries[action.key]?.cids ?? []) : [];
      const cids = [...previous.filter((cid) => !fetched.includes(cid)), ...fetched];
      const query: QueryState = { cids, sort: action.sort, complete: action.channels.length < action.limit };
      return { ...next, queries: { ...next.queries, [action.key]: query } };
    }
    case 'rest/messages':
      return putPage(state, action.cid, action.messages, action.page, action.limit, action.around);
    case 'rest/message':
      return putMessage(state, action.message, true);
    case 'local/message.patch': {
      const patch = action.message;
      return mapMessage(state, patch.cid, patch.id, (m) =>
        m.updated_at > patch.updated_at ? m : { ...m, ...patch },
      );
    }
    case 'rest/replies':
      return putPage(state, thread(action.parent_id), action.messages, action.page, action.limit);
    case 'rest/threads': {
      let next = action.threads.reduce(putThread, state);
      const fetched = action.threads.map((t) => t.parent.id);
      const previous = action.append ? (state.threadList?.ids ?? []) : [];
      const ids = [...previous.filter((id) => !fetched.includes(id)), ...fetched];
      next = { ...next, threadList: { ids, next: action.next } };
      return next;
    }
    case 'rest/thread':
      return putThread(state, action.thread);
    case 'rest/mentions': {
      const previous = action.append ? (state.mentions?.messages ?? []) : [];
      const fetched = new Set(action.messages.map((m) => m.id));
      const messages = [...previous.filter((m) => !fetched.has(m.id)), ...action.messages];
      return { ...state, mentions: { messages, hasOlder: action.messages.length >= action.limit } };
    }
    case 'local/reactions.own':
      return mapMessage(state, action.cid, action.message_id, (m) => withOwnReactions(m, action.own));
    case 'local/thread.read': {
      const current = state.threads[action.parent_id];
      if (!current) return state;
      const replies = state.replies[action.parent_id];
      const seqs = replies ? Object.values(replies.byId).map((m) => m.seq) : [];
      const last_read_seq = Math.max(current.last_read_seq, ...seqs);
      return putThreadState(state, { ...current, unread_replies: 0, last_read_seq, last_read_at: action.at });
    }
    case 'rest/unread': {
      const channels: Record<string, number> = {};
      for (const c of action.counts.channels) channels[c.cid] = c.unread_count;
      return {
        ...state,
        unread: {
          total_unread_count: action.counts.total_unread_count,
          unread_channels: action.counts.unread_channels,
          channels,
        },
      };
    }
    case 'rest/users': {
      const users = { ...state.users };
      for (const user of action.users) users[user.id] = user;
      return { ...state, users };
    }
    case 'local/message.sending':
      return reorderQueries(putPending(state, action.message, action.replace), action.message.cid);
    case 'local/uploads': {
      if (!action.files && !state.uploads[action.client_msg_id]) return state;
      const uploads = { ...state.uploads, [action.client_msg_id]: action.files! };
      if (!action.files) delete uploads[action.client_msg_id];
      return { ...state, uploads };
    }
    case 'local/upload': {
      const files = state.uploads[action.client_msg_id];
      if (!files?.[action.index]) return state;
      const changed = files.map((f, i) => {
        if (i !== action.index) return f;
        const { error: _e, ...rest } = f;
        return { ...rest, ...action.change };
      });
      return { ...state, uploads: { ...state.uploads, [action.client_msg_id]: changed } };
    }
    case 'local/message.failed':
      return updatePending(state, action.cid, action.client_msg_id, (m) => ({
        ...m,
        status: 'failed',
        error: action.error,
      }));
    case 'local/message.discard':
      return updateLists(state, action.cid, (list) => {
        const pending = list.byId[action.client_msg_id];
        if (!pending || pending.status === 'sent') return list;
        const byId = { ...list.byId };
        delete byId[action.client_msg_id];
        return { ...list, byId, ids: orderIds(byId) };
      });
    case 'local/mark_read': {
      const entry = state.channels[action.cid];
      if (!entry?.membership) return state;
      const read = (m: Member): Member => ({
        ...m,
        last_read_seq: Math.max(m.last_read_seq, entry.channel.last_seq),
        last_read_at: action.at,
      });
      const next = updateMember(state, action.cid, entry.membership.user_id, read);
      return setUnread(next, action.cid, 0);
    }
    case 'local/typing.clear':
      return clearTyping(state, action.cid, action.user_id);
    case 'local/channel.forget':
      return forgetChannel(state, action.cid);

    // ---- server events ----
    case 'message.new': {
      if (isBlocked(state, action.message)) return state;
      const next = putMessage(state, action.message, true, true);
      return action.thread_parent ? threadReply(next, action.message, action.thread_parent) : next;
    }
    case 'message.updated':
      if (isBlocked(state, action.message)) return state;
      return putMessage(state, action.message, false, true);
    case 'message.deleted': {
      const next = action.hard
        ? forgetThread(removeMessage(state, action.cid, action.message.id), action.message.id)
        : putMessage(state, action.message, false, true);
      return action.thread_parent ? threadReplyGone(next, action.message, action.thread_parent) : next;
    }
    case 'reaction.new':
    case 'reaction.updated':
    case 'reaction.deleted': {
      const mine = action.user_id === state.userId;
      const { reaction } = action;
      return mapMessage(state, action.cid, action.message.id, (m) => {
        if (m.updated_at > action.message.updated_at) return m;
        let own = m.own_reactions ?? [];
        if (mine) {
          own = own.filter((r) => r.type !== reaction.type);
          if (action.type !== 'reaction.deleted') own = [reaction, ...own];
        }
        return { ...m, ...action.message, own_reactions: own };
      });
    }
    case 'rest/poll': {
      const { poll } = action;
      return mapMessage(state, action.cid, action.message_id, (m) =>
        m.poll && m.poll.updated_at > poll.updated_at ? m : { ...m, poll_id: poll.id, poll },
      );
    }
    case 'poll.updated':
    case 'poll.closed':
    case 'poll.vote_casted':
    case 'poll.vote_changed':
    case 'poll.vote_removed': {
      // Events carry empty own_votes (they go to everyone): keep the user's, and follow their votes.
      const { poll } = action;
      const vote = 'vote' in action ? action.vote : undefined;
      const removed = action.type === 'poll.vote_changed' ? action.removed_vote : undefined;
      return mapMessage(state, action.cid, action.message_id, (m) => {
        if (m.poll && m.poll.updated_at > poll.updated_at) return m;
        let own = m.poll?.own_votes ?? [];
        if (vote && vote.user_id !== null && vote.user_id === state.userId) {
          own = own.filter((v) => v.id !== vote.id && v.id !== removed?.id);
          if (action.type !== 'poll.vote_removed') own = [vote, ...own];
        }
        return { ...m, poll_id: poll.id, poll: { ...poll, own_votes: own } };
      });
    }
    case 'notification.mention': {
      if (!state.mentions || action.user_id !== state.userId || isBlocked(state, action.message))
        return state;
      if (state.mentions.messages.some((m) => m.id === action.message.id)) return state;
      const messages = [action.message, ...state.mentions.messages];
      return { ...state, mentions: { ...state.mentions, messages } };
    }
    case 'notification.thread_read': {
      const current = state.threads[action.parent_id];
      if (!current || action.user_id !== state.userId || current.last_read_seq > action.last_read_seq)
        return state;
      // Exact when the replies are loaded (the thread is open); otherwise the read reached the end.
      const replies = state.replies[action.parent_id];
      const unread = replies
        ? Object.values(replies.byId).filter(
            (m) =>
              m.status === 'sent' &&
              m.seq > action.last_read_seq &&
              m.user_id !== state.userId &&
              m.deleted_at === null,
          ).length
        : 0;
      return putThreadState(state, {
        ...current,
        unread_replies: unread,
        last_read_seq: action.last_read_seq,
        last_read_at: action.last_read_at,
      });
    }
    case 'channel.created':
    case 'channel.updated': {
      const entry = state.channels[action.cid];
      if (!entry) {
        if (action.type === 'channel.updated') return state;
        const created: ChannelEntry = {
          channel: action.channel,
          config: null,
          members: {},
          membership: null,
        };
        return { ...state, channels: { ...state.channels, [action.cid]: created } };
      }
      if (entry.channel.updated_at > action.channel.updated_at) return state;
      return reorderQueries(putEntry(state, { ...entry, channel: action.channel }), action.cid);
    }
    case 'channel.truncated': {
      const entry = state.channels[action.cid];
      const next = entry ? putEntry(state, { ...entry, channel: action.channel }) : state;
      const truncatedAt = action.channel.truncated_at;
      if (!truncatedAt) return next;
      return updateLists(next, action.cid, (list) => {
        const byId: Record<string, LocalMessage> = {};
        let removed = false;
        for (const [id, m] of Object.entries(list.byId)) {
          if (m.status === 'sent' && m.created_at <= truncatedAt) removed = true;
          else byId[id] = m;
        }
        return removed ? { ...list, byId, ids: orderIds(byId), hasOlder: false } : list;
      });
    }
    case 'channel.deleted':
      return forgetChannel(state, action.cid);
    case 'channel.hidden':
    case 'channel.visible': {
      const hidden = action.type === 'channel.hidden';
      let next = updateMember(state, action.cid, action.user_id, (m) => ({ ...m, hidden }));
      if (action.type === 'channel.hidden' && action.clear_history && action.user_id === state.userId) {
        next = updateLists(next, action.cid, (list) => {
          const byId = Object.fromEntries(Object.entries(list.byId).filter(([, m]) => m.status !== 'sent'));
          return { ...list, byId, ids: orderIds(byId), hasOlder: false };
        });
        // The server counts unread after max(last_read_seq, cleared_seq): nothing is unread now.
        next = setUnread(next, action.cid, 0);
      }
      return next;
    }
    case 'member.added':
    case 'notification.added_to_channel':
      return addMember(state, action.cid, action.member);
    case 'member.updated':
    case 'notification.invited':
    case 'notification.invite_accepted':
    case 'notification.invite_rejected':
      return addMember(state, action.cid, action.member);
    case 'member.removed':
    case 'notification.removed_from_channel': {
      if (action.user_id === state.userId) return forgetChannel(state, action.cid);
      const entry = state.channels[action.cid];
      if (!entry) return state;
      const known = entry.members[action.user_id] !== undefined;
      const complete = Object.keys(entry.members).length >= entry.channel.member_count;
      if (!known && complete) return state;
      const members = { ...entry.members };
      delete members[action.user_id];
      const member_count = Math.max(0, entry.channel.member_count - 1);
      return putEntry(state, { ...entry, members, channel: { ...entry.channel, member_count } });
    }
    case 'message.read': {
      const next = updateMember(state, action.cid, action.user_id, (m) => ({
        ...m,
        last_read_seq: Math.max(m.last_read_seq, action.last_read_seq),
        last_read_at: action.last_read_at,
        updated_at: action.last_read_at,
        // Reading counts as delivery: the server moves the delivered position along with it.
        ...(action.last_read_seq > (m.last_delivered_seq ?? 0)
          ? { last_delivered_seq: action.last_read_seq, last_delivered_at: action.last_read_at }
          : {}),
      }));
      return action.user_id === state.userId ? recountUnread(next, action.cid) : next;
    }
    case 'notification.mark_read': {
      if (action.user_id !== state.userId) return state;
      const channels = action.cid
        ? { ...state.unread.channels, [action.cid]: 0 }
        : Object.fromEntries(Object.keys(state.unread.channels).map((cid) => [cid, 0]));
      return {
        ...state,
        unread: {
          total_unread_count: action.total_unread_count,
          unread_channels: action.unread_channels,
          channels,
        },
      };
    }
    case 'notification.mark_unread': {
      // The user marked the channel unread from a message on (here or on another device).
      if (action.user_id !== state.userId) return state;
      const next = updateMember(state, action.cid, action.user_id, (m) => ({
        ...m,
        last_read_seq: action.last_read_seq,
      }));
      return {
        ...next,
        unread: {
          total_unread_count: action.total_unread_count,
          unread_channels: action.unread_channels,
          channels: { ...next.unread.channels, [action.cid]: action.unread_messages },
        },
      };
    }
    case 'typing.start': {
      if (action.user_id === state.userId) return state;
      const entry = { user_id: action.user_id, parent_id: action.parent_id, at: action.created_at };
      return {
        ...state,
        typing: { ...state.typing, [action.cid]: { ...state.typing[action.cid], [action.user_id]: entry } },
      };
    }
    case 'typing.stop':
      return clearTyping(state, action.cid, action.user_id);
    case 'user.presence': {
      const presence = {
        ...state.presence,
        [action.user_id]: { online: action.online, last_active_at: action.last_active_at },
      };
      const user = state.users[action.user_id];
      const users = user
        ? { ...state.users, [user.id]: { ...user, last_active_at: action.last_active_at } }
        : state.users;
      return { ...state, presence, users };
    }
    case 'local/message.remove':
      return removeMessage(state, action.cid, action.message_id);
    case 'rest/online': {
      const online = action.user_ids.filter((id) => !state.presence[id]?.online);
      if (online.length === 0) return state;
      const presence = { ...state.presence };
      for (const id of online)
        presence[id] = { online: true, last_active_at: state.presence[id]?.last_active_at ?? null };
      return { ...state, presence };
    }
    case 'user.updated':
    case 'user.banned':
    case 'user.unbanned':
    case 'user.deleted':
      return { ...state, users: { ...state.users, [action.user.id]: action.user } };
    case 'user.tokens_revoked':
      return state;

    // ---- the user's own lists: blocks, mutes, drafts, reminders, scheduled messages, stars ----
    case 'rest/blocks':
      return hideBlocked({ ...state, blocks: byKey(action.blocks, (b) => b.target_id) });
    case 'notification.user_blocked':
      if (action.user_id !== state.userId) return state;
      return hideBlocked({
        ...state,
        blocks: {
          ...state.blocks,
          [action.target_id]: {
            user_id: action.user_id,
            target_id: action.target_id,
            created_at: action.created_at,
          },
        },
      });
    case 'notification.user_unblocked':
      // The target's messages come back with the next fetch of a list (the server hid them in lists too).
      return action.user_id === state.userId ? remove(state, 'blocks', action.target_id) : state;
    case 'rest/mutes':
      return {
        ...state,
        userMutes: byKey(action.user_mutes, (m) => m.target_id),
        channelMutes: byKey(action.channel_mutes, (m) => m.cid),
      };
    case 'notification.user_muted':
      return mine(state, action) ? put(state, 'userMutes', action.mute.target_id, action.mute) : state;
    case 'notification.user_unmuted':
      return mine(state, action) ? remove(state, 'userMutes', action.target_id) : state;
    case 'notification.channel_muted':
      return mine(state, action) ? put(state, 'channelMutes', action.cid, action.mute) : state;
    case 'notification.channel_unmuted':
      return mine(state, action) ? remove(state, 'channelMutes', action.cid) : state;
    case 'rest/drafts':
      return action.drafts.reduce((next, d) => putDraft(next, d), state);
    case 'draft.updated':
      return mine(state, action) ? putDraft(state, action.draft) : state;
    case 'draft.deleted':
      return mine(state, action) ? remove(state, 'drafts', draftKey(action.cid, action.parent_id)) : state;
    case 'rest/reminders':
      return action.reminders.reduce((next, r) => putNewer(next, 'reminders', r.message_id, r), state);
    case 'reminder.updated':
    case 'notification.reminder_due':
      return mine(state, action)
        ? putNewer(state, 'reminders', action.reminder.message_id, action.reminder)
        : state;
    case 'reminder.deleted':
      return mine(state, action) ? remove(state, 'reminders', action.message_id) : state;
    case 'rest/scheduled':
      return action.scheduled_messages.reduce(
        (next, m) => putNewer(next, 'scheduledMessages', m.id, m),
        state,
      );
    case 'scheduled_message.updated':
      return mine(state, action)
        ? putNewer(state, 'scheduledMessages', action.scheduled_message.id, action.scheduled_message)
        : state;
    case 'scheduled_message.deleted':
      return mine(state, action) ? remove(state, 'scheduledMessages', action.scheduled_message_id) : state;
    case 'local/removed':
      return remove(state, action.what, action.key);
    case 'rest/star':
    case 'notification.message_starred': {
      if (action.type === 'notification.message_starred' && !mine(state, action)) return state;
      return action.starred_at
        ? put(state, 'starred', action.message_id, action.starred_at)
        : remove(state, 'starred', action.message_id);
    }
    case 'message.delivered':
      return updateMember(state, action.cid, action.user_id, (m) =>
        (m.last_delivered_seq ?? 0) >= action.last_delivered_seq
          ? m
          : {
              ...m,
              last_delivered_seq: action.last_delivered_seq,
              last_delivered_at: action.last_delivered_at,
            },
      );
    default:
      return state;
  }
}

function removeMessage(state: ParleyState, cid: string, messageId: string): ParleyState {
  return updateLists(state, cid, (list) => {
    if (!list.byId[messageId]) return list;
    const byId = { ...list.byId };
    delete byId[messageId];
    return { ...list, byId, ids: orderIds(byId) };
  });
}

// ---- the user's own lists ----

type Keyed =
  | 'blocks'
  | 'userMutes'
  | 'channelMutes'
  | 'drafts'
  | 'reminders'
  | 'scheduledMessages'
  | 'starred';

const mine = (state: ParleyState, event: { user_id: string }) => event.user_id === state.userId;

const byKey = <T>(items: T[], key: (item: T) => string): Record<string, T> =>
  Object.fromEntries(items.map((item) => [key(item), item]));

function put<K extends Keyed>(state: ParleyState, what: K, key: string, value: ParleyState[K][string]) {
  if (state[what][key] === value) return state;
  return { ...state, [what]: { ...state[what], [key]: value } };
}

function remove(state: ParleyState, what: Keyed, key: string): ParleyState {
  if (!(key in state[what])) return state;
  const { [key]: _gone, ...rest } = state[what];
  return { ...state, [what]: rest };
}

/** Last writer wins on `updated_at` (events and REST answers can arrive in any order). */
function putNewer<K extends 'drafts' | 'reminders' | 'scheduledMessages'>(
  state: ParleyState,
  what: K,
  key: string,
  value: ParleyState[K][string],
): ParleyState {
  const current = state[what][key];
  return current && current.updated_at > value.updated_at ? state : put(state, what, key, value);
}

const putDraft = (state: ParleyState, d: import('@parley/protocol').Draft) =>
  putNewer(state, 'drafts', draftKey(d.cid, d.parent_id), d);

/** A message by a user the connected user blocked (their own messages never are). */
const isBlocked = (state: ParleyState, m: Message) => m.user_id !== state.userId && m.user_id in state.blocks;

/** Removes the confirmed messages of blocked users from every loaded list (and the mentions). */
function hideBlocked(state: ParleyState): ParleyState {
  const drop = (list: MessageList): MessageList => {
    const ids = list.ids.filter((id) => !isBlocked(state, list.byId[id]!));
    if (ids.length === list.ids.length) return list;
    const byId: Record<string, LocalMessage> = {};
    for (const id of ids) byId[id] = list.byId[id]!;
    return { ...list, ids, byId };
  };
  const each = (lists: Record<string, MessageList>) => {
    let changed = false;
    const next: Record<string, MessageList> = {};
    for (const [key, list] of Object.entries(lists)) {
      next[key] = drop(list);
      changed ||= next[key] !== list;
    }
    return changed ? next : lists;
  };
  const kept = state.mentions?.messages.filter((m) => !isBlocked(state, m));
  const mentions =
    state.mentions && kept!.length < state.mentions.messages.length
      ? { ...state.mentions, messages: kept! }
      : state.mentions;
  const messages = each(state.messages);
  const replies = each(state.replies);
  if (messages === state.messages && replies === state.replies && mentions === state.mentions) return state;
  return { ...state, messages, replies, mentions };
}

// ---- channels ----

function putEntry(state: ParleyState, entry: ChannelEntry): ParleyState {
  return { ...state, channels: { ...state.channels, [entry.channel.cid]: entry } };
}

function putChannelState(state: ParleyState, cs: ChannelState): ParleyState {
  const members: Record<string, Member> = {};
  for (const m of cs.members) members[m.user_id] = m;
  return putEntry(state, { channel: cs.channel, config: cs.config, members, membership: cs.membership });
}

function forgetChannel(state: ParleyState, cid: string): ParleyState {
  const { [cid]: _c, ...channels } = state.channels;
  const { [cid]: _m, ...messages } = state.messages;
  const { [cid]: _t, ...typing } = state.typing;
  const gone = new Set(
    Object.values(state.threads)
      .filter((t) => t.cid === cid)
      .map((t) => t.parent.id),
  );
  const replies = Object.fromEntries(
    Object.entries(state.replies).filter(([parentId, list]) => !gone.has(parentId) && listCid(list) !== cid),
  );
  const threads = Object.fromEntries(Object.entries(state.threads).filter(([id]) => !gone.has(id)));
  const threadList = state.threadList && {
    ...state.threadList,
    ids: state.threadList.ids.filter((id) => !gone.has(id)),
  };
  const mentions = state.mentions && {
    ...state.mentions,
    messages: state.mentions.messages.filter((m) => m.cid !== cid),
  };
  const next = setUnread(
    { ...state, channels, messages, typing, replies, threads, threadList, mentions },
    cid,
    0,
  );
  const { [cid]: _u, ...unreadChannels } = next.unread.channels;
  const queries: Record<string, QueryState> = {};
  for (const [key, q] of Object.entries(next.queries))
    queries[key] = q.cids.includes(cid) ? { ...q, cids: q.cids.filter((c) => c !== cid) } : q;
  return { ...next, queries, unread: { ...next.unread, channels: unreadChannels } };
}

function addMember(state: ParleyState, cid: string, member: Member): ParleyState {
  const entry = state.channels[cid];
  if (!entry) return state;
  const isNew = entry.members[member.user_id] === undefined;
  const complete = Object.keys(entry.members).length >= entry.channel.member_count;
  const current = entry.members[member.user_id];
  if (current && current.updated_at > member.updated_at) return state;
  const channel =
    isNew && complete ? { ...entry.channel, member_count: entry.channel.member_count + 1 } : entry.channel;
  const membership = member.user_id === state.userId ? member : entry.membership;
  return putEntry(state, {
    ...entry,
    channel,
    members: { ...entry.members, [member.user_id]: member },
    membership,
  });
}

function updateMember(state: ParleyState, cid: string, userId: string, change: (m: Member) => Member) {
  const entry = state.channels[cid];
  if (!entry) return state;
  const current = entry.members[userId];
  const members = current ? { ...entry.members, [userId]: change(current) } : entry.members;
  const membership =
    entry.membership && entry.membership.user_id === userId ? change(entry.membership) : entry.membership;
  if (members === entry.members && membership === entry.membership) return state;
  return putEntry(state, { ...entry, members, membership });
}

// ---- unread ----

function setUnread(state: ParleyState, cid: string, count: number): ParleyState {
  const before = state.unread.channels[cid] ?? 0;
  if (before === count && (count === 0 || cid in state.unread.channels)) return state;
  const unread: UnreadState = {
    total_unread_count: Math.max(0, state.unread.total_unread_count - before + count),
    unread_channels: Math.max(0, state.unread.unread_channels - (before > 0 ? 1 : 0) + (count > 0 ? 1 : 0)),
    channels: { ...state.unread.channels, [cid]: count },
  };
  return { ...state, unread };
}

/** The server's formula: messages after the member's read position. */
function recountUnread(state: ParleyState, cid: string): ParleyState {
  const entry = state.channels[cid];
  if (!entry?.membership) return state;
  return setUnread(state, cid, Math.max(0, entry.channel.last_seq - entry.membership.last_read_seq));
}

// ---- messages ----

const emptyList = (): MessageList => ({ ids: [], byId: {}, hasOlder: true, hasNewer: false });

/** Confirmed messages by seq, then unconfirmed ones in the order they were sent. */
export function orderIds(byId: Record<string, LocalMessage>): string[] {
  return Object.values(byId)
    .sort((a, b) => {
      const pa = a.status === 'sent' ? 0 : 1;
      const pb = b.status === 'sent' ? 0 : 1;
      if (pa !== pb) return pa - pb;
      if (pa === 0) return a.seq - b.seq;
      return a.created_at === b.created_at
        ? a.id.localeCompare(b.id)
        : a.created_at.localeCompare(b.created_at);
    })
    .map((m) => m.id);
}

/** Which list: a channel's main list (by cid) or a thread's replies (by parent id). */
type ListRef = { kind: 'channel' | 'thread'; key: string };
const channelList = (cid: string): ListRef => ({ kind: 'channel', key: cid });
const thread = (parentId: string): ListRef => ({ kind: 'thread', key: parentId });

/** The lists a message belongs in: its channel's (top level, or shown in the channel) and its thread's. */
function refsOf(m: Message): ListRef[] {
  const refs: ListRef[] = [];
  if (inChannelList(m)) refs.push(channelList(m.cid));
  if (m.parent_id) refs.push(thread(m.parent_id));
  return refs;
}

const getList = (state: ParleyState, ref: ListRef): MessageList | undefined =>
  ref.kind === 'channel' ? state.messages[ref.key] : state.replies[ref.key];

function setList(state: ParleyState, ref: ListRef, list: MessageList): ParleyState {
  return ref.kind === 'channel'
    ? { ...state, messages: { ...state.messages, [ref.key]: list } }
    : { ...state, replies: { ...state.replies, [ref.key]: list } };
}

function updateAt(state: ParleyState, ref: ListRef, change: (list: MessageList) => MessageList): ParleyState {
  const list = getList(state, ref);
  if (!list) return state;
  const next = change(list);
  return next === list ? state : setList(state, ref, next);
}

/** The channel a reply list belongs to (undefined while it is empty). */
const listCid = (list: MessageList): string | undefined => {
  for (const id of list.ids) return list.byId[id]!.cid;
  return undefined;
};

/** Every loaded list of a channel: its main list and its threads' reply lists. */
function listsOf(state: ParleyState, cid: string): ListRef[] {
  const refs = state.messages[cid] ? [channelList(cid)] : [];
  for (const [parentId, list] of Object.entries(state.replies))
    if (listCid(list) === cid || state.threads[parentId]?.cid === cid) refs.push(thread(parentId));
  return refs;
}

/** Changes every loaded list of the channel (main list and threads). */
function updateLists(
  state: ParleyState,
  cid: string,
  change: (list: MessageList) => MessageList,
): ParleyState {
  return listsOf(state, cid).reduce((next, ref) => updateAt(next, ref, change), state);
}

/** An event's copy of a message (own reactions and poll votes empty) with the user's own from `known`. */
function keepOwn(message: Message, known: Message): Message {
  let next = message;
  if (known.own_reactions) next = { ...next, own_reactions: known.own_reactions };
  if (next.poll && known.poll?.id === next.poll.id)
    next = { ...next, poll: { ...next.poll, own_votes: known.poll.own_votes } };
  return next;
}

/** Changes one confirmed message wherever it is kept: lists, thread parents, mentions. */
function mapMessage(
  state: ParleyState,
  cid: string,
  id: string,
  change: <M extends Message>(m: M) => M,
): ParleyState {
  let next = updateLists(state, cid, (list) => {
    const current = list.byId[id];
    if (current?.status !== 'sent') return list;
    const changed = change(current);
    return changed === current ? list : { ...list, byId: { ...list.byId, [id]: changed } };
  });
  const t = next.threads[id];
  if (t) {
    const parent = change(t.parent);
    if (parent !== t.parent) next = putThreadState(next, { ...t, parent });
  }
  if (next.mentions?.messages.some((m) => m.id === id)) {
    const messages = next.mentions.messages.map((m) => (m.id === id ? change(m) : m));
    next = { ...next, mentions: { ...next.mentions, messages } };
  }
  return next;
}

// ---- reactions ----

/**
 * The protocol's LATEST_REACTIONS_LIMIT. Restated (a test pins it to the protocol's) because the
 * SDK imports only types from @parley/protocol: a value import would pull zod into every bundle.
 */
export const LATEST_REACTIONS = 10;

/**
 * The message with the connected user's own reactions set to `own`: counts and scores move by
 * the difference, and the latest reactions gain the new ones and lose the removed ones.
 */
export function withOwnReactions<M extends Message>(m: M, own: Reaction[]): M {
  const before = m.own_reactions ?? [];
  const counts = { ...(m.reaction_counts ?? {}) };
  const scores = { ...(m.reaction_scores ?? {}) };
  for (const r of before) {
    counts[r.type] = (counts[r.type] ?? 0) - 1;
    scores[r.type] = (scores[r.type] ?? 0) - r.score;
  }
  for (const r of own) {
    counts[r.type] = (counts[r.type] ?? 0) + 1;
    scores[r.type] = (scores[r.type] ?? 0) + r.score;
  }
  for (const type of Object.keys(counts)) {
    if (counts[type]! <= 0) {
      delete counts[type];
      delete scores[type];
    }
  }
  const userId = own[0]?.user_id ?? before[0]?.user_id;
  const ownTypes = new Map(own.map((r) => [r.type, r]));
  const latest = (m.latest_reactions ?? []).filter((r) => r.user_id !== userId || ownTypes.has(r.type));
  const known = new Set(latest.filter((r) => r.user_id === userId).map((r) => r.type));
  const added = own.filter((r) => !known.has(r.type));
  const latest_reactions = [
    ...added,
    ...latest.map((r) => (r.user_id === userId ? ownTypes.get(r.type)! : r)),
  ].slice(0, LATEST_REACTIONS);
  return { ...m, own_reactions: own, reaction_counts: counts, reaction_scores: scores, latest_reactions };
}

// ---- threads ----

function putThreadState(state: ParleyState, t: Thread): ParleyState {
  return { ...state, threads: { ...state.threads, [t.parent.id]: t } };
}

/** A thread from the server: its state, and its parent wherever the parent is shown. */
function putThread(state: ParleyState, t: Thread): ParleyState {
  const next = putThreadState(state, t);
  return mapMessage(next, t.cid, t.parent.id, (m) =>
    m.updated_at > t.parent.updated_at ? m : { ...m, ...t.parent },
  );
}

function forgetThread(state: ParleyState, parentId: string): ParleyState {
  if (!state.threads[parentId] && !state.replies[parentId]) return state;
  const { [parentId]: _t, ...threads } = state.threads;
  const { [parentId]: _r, ...replies } = state.replies;
  const threadList = state.threadList && {
    ...state.threadList,
    ids: state.threadList.ids.filter((id) => id !== parentId),
  };
  return { ...state, threads, replies, threadList };
}

/** The event's copy of a thread parent (new counts and participants), where the parent is shown. */
function putParent(state: ParleyState, parent: Message): ParleyState {
  return mapMessage(state, parent.cid, parent.id, (m) =>
    m.updated_at > parent.updated_at ? m : { ...m, ...parent, own_reactions: m.own_reactions ?? [] },
  );
}

/**
 * A new reply: the parent's counters, and the user's thread (unread replies, read position, list
 * order). Counted once: only a parent copy with a later last_reply_at than the known one is new.
 */
function threadReply(state: ParleyState, reply: Message, parent: Message): ParleyState {
  const current = state.threads[parent.id];
  const next = putParent(state, parent);
  const mine = reply.user_id === state.userId;
  const participant = mine || (parent.thread_participants ?? []).includes(state.userId ?? '');
  if (!current && !(participant && next.threadList)) return next;
  const newer =
    !current ||
    (parent.last_reply_at ?? '') > (current.parent.last_reply_at ?? '') ||
    !current.parent.last_reply_at;
  if (!newer) return next;
  const base: Thread = current
    ? { ...current, parent: next.threads[parent.id]?.parent ?? parent }
    : { cid: parent.cid, parent, unread_replies: 0, last_read_seq: 0, last_read_at: null };
  const updated: Thread = mine
    ? { ...base, unread_replies: 0, last_read_seq: reply.seq, last_read_at: reply.created_at }
    : { ...base, unread_replies: base.unread_replies + 1 };
  let result = putThreadState(next, updated);
  if (result.threadList) {
    const ids = [parent.id, ...result.threadList.ids.filter((id) => id !== parent.id)];
    result = { ...result, threadList: { ...result.threadList, ids } };
  }
  return result;
}

/** A reply was deleted: the parent's counters, and one unread reply fewer if it was unread. */
function threadReplyGone(state: ParleyState, reply: Message, parent: Message): ParleyState {
  const current = state.threads[parent.id];
  const next = putParent(state, parent);
  if (!current) return next;
  const fewer = (parent.reply_count ?? 0) < (current.parent.reply_count ?? 0);
  const unread =
    fewer &&
    reply.user_id !== state.userId &&
    reply.seq > current.last_read_seq &&
    current.unread_replies > 0;
  const t = next.threads[parent.id]!;
  return unread ? putThreadState(next, { ...t, unread_replies: t.unread_replies - 1 }) : next;
}

/** Messages of the channel's main list (top level, or thread replies also shown in the channel). */
const inChannelList = (m: Message) => m.parent_id === null || m.show_in_channel;

const confirmed = (m: Message): LocalMessage => ({ ...m, status: 'sent' });

function findPending(list: MessageList, message: Message): LocalMessage | undefined {
  if (!message.client_msg_id) return undefined;
  const pending = list.byId[message.client_msg_id];
  return pending && pending.status !== 'sent' && pending.user_id === message.user_id ? pending : undefined;
}

/**
 * A confirmed message from the server (an event, or the answer to a send). `isNew`: it may be
 * a message the channel did not have (message.new, send ack); updates and deletions of messages
 * outside the loaded window are ignored.
 */
function putMessage(state: ParleyState, message: Message, isNew: boolean, fromEvent = false): ParleyState {
  if (!isNew) return putInList(state, message, false, fromEvent);
  const next = clearTyping(bumpChannel(state, message), message.cid, message.user_id);
  return reorderQueries(putInList(next, message, true, fromEvent), message.cid);
}

/**
 * Puts a confirmed message into the lists it belongs in. Events go to everyone, so their
 * own_reactions are empty: a copy from an event keeps the user's own reactions already known.
 */
function putInList(state: ParleyState, message: Message, isNew: boolean, fromEvent: boolean): ParleyState {
  return refsOf(message).reduce(
    (next, ref) =>
      updateAt(next, ref, (list) => {
        const existing = list.byId[message.id];
        const pending = findPending(list, message);
        if (existing) {
          if (existing.updated_at > message.updated_at) return list;
        } else if (!pending && (!isNew || list.hasNewer)) return list;
        const byId = { ...list.byId };
        if (pending) delete byId[pending.id];
        byId[message.id] = confirmed(fromEvent && existing ? keepOwn(message, existing) : message);
        return { ...list, byId, ids: orderIds(byId) };
      }),
    state,
  );
}

/** A new message moves the channel's last seq and time forward (as the server's nextSeq does). */
function bumpChannel(state: ParleyState, message: Message): ParleyState {
  const entry = state.channels[message.cid];
  if (!entry || message.seq <= entry.channel.last_seq) return state;
  const channel: Channel = {
    ...entry.channel,
    last_seq: message.seq,
    last_message_at: maxIso(entry.channel.last_message_at, message.created_at),
    updated_at: maxIso(entry.channel.updated_at, message.created_at)!,
  };
  const unhide = (m: Member) => (m.hidden ? { ...m, hidden: false } : m);
  const members = Object.fromEntries(Object.entries(entry.members).map(([id, m]) => [id, unhide(m)]));
  const membership = entry.membership && unhide(entry.membership);
  const next = putEntry(state, { ...entry, channel, members, membership });
  return recountUnread(next, message.cid);
}

const maxIso = (a: string | null, b: string) => (a === null || b > a ? b : a);

function putPending(state: ParleyState, message: LocalMessage, replace = false): ParleyState {
  let next = state;
  for (const ref of refsOf(message)) {
    const list = getList(next, ref) ?? emptyList();
    const existing = list.byId[message.id];
    if (existing?.status === 'sent') continue;
    if (
      Object.values(list.byId).some((m) => m.status === 'sent' && m.client_msg_id === message.client_msg_id)
    )
      continue;
    const updated: LocalMessage = { ...(replace ? message : (existing ?? message)), status: message.status };
    if (message.status === 'sending') delete updated.error;
    else if (message.error) updated.error = message.error;
    const byId = { ...list.byId, [message.id]: updated };
    next = setList(next, ref, { ...list, byId, ids: orderIds(byId) });
  }
  return next;
}

function updatePending(
  state: ParleyState,
  cid: string,
  clientMsgId: string,
  change: (m: LocalMessage) => LocalMessage,
): ParleyState {
  return updateLists(state, cid, (list) => {
    const pending = list.byId[clientMsgId];
    if (!pending || pending.status === 'sent') return list;
    return { ...list, byId: { ...list.byId, [clientMsgId]: change(pending) } };
  });
}

/**
 * A page from GET /channels/{type}/{id}/messages. The page is the truth for the range it covers:
 * `latest` replaces everything from its first message on (and everything, when it is the whole
 * history); `older`/`newer` extend the loaded window without gaps (cursor = the window's edge).
 */
function putPage(
  state: ParleyState,
  where: string | ListRef,
  page: Message[],
  kind: 'latest' | 'older' | 'newer' | 'around',
  limit: number,
  around?: string,
): ParleyState {
  const ref = typeof where === 'string' ? channelList(where) : where;
  const list = getList(state, ref) ?? emptyList();
  const visible = page.filter(ref.kind === 'channel' ? inChannelList : (m) => m.parent_id === ref.key);
  const sent = Object.values(list.byId).filter((m) => m.status === 'sent');
  const pending = Object.values(list.byId).filter((m) => m.status !== 'sent');
  const byClientId = new Set(visible.map((m) => m.client_msg_id).filter(Boolean));
  const keptPending = pending.filter((m) => !byClientId.has(m.client_msg_id));
  let keep: LocalMessage[];
  let hasOlder = list.hasOlder;
  let hasNewer = list.hasNewer;
  const full = page.length >= limit;
  if (kind === 'latest') {
    hasNewer = false;
    const first = visible[0];
    if (!full || !first) {
      keep = [];
      hasOlder = false;
    } else {
      // Keep the older part of the window only if it reaches the page (no gap between them).
      const touches = sent.some((m) => m.seq >= first.seq) && sent.some((m) => m.seq < first.seq);
      keep = touches ? sent.filter((m) => m.seq < first.seq) : [];
      hasOlder = touches ? list.hasOlder : true;
    }
  } else if (kind === 'around') {
    // The server answers floor(limit / 2) messages before the target and the rest from it on.
    const at = page.findIndex((m) => m.id === around);
    const before = Math.floor(limit / 2);
    keep = [];
    hasOlder = at < 0 || at >= before;
    hasNewer = at < 0 || page.length - at >= limit - before;
  } else if (kind === 'older') {
    keep = sent;
    hasOlder = full;
  } else {
    keep = sent;
    hasNewer = full;
  }
  const byId: Record<string, LocalMessage> = {};
  for (const m of keep) byId[m.id] = m;
  for (const m of visible) {
    const current = byId[m.id];
    byId[m.id] = current && current.updated_at > m.updated_at ? current : confirmed(m);
  }
  for (const m of keptPending) byId[m.id] = m;
  return setList(state, ref, { ids: orderIds(byId), byId, hasOlder, hasNewer });
}

function clearTyping(state: ParleyState, cid: string, userId: string): ParleyState {
  const users = state.typing[cid];
  if (!users?.[userId]) return state;
  const { [userId]: _gone, ...rest } = users;
  const typing = { ...state.typing };
  if (Object.keys(rest).length > 0) typing[cid] = rest;
  else delete typing[cid];
  return { ...state, typing };
}

// ---- cache ----

function hydrate(state: ParleyState, cache: import('../stores/types.js').CachedState): ParleyState {
  let next = state;
  const channels = { ...next.channels };
  for (const entry of cache.channels) if (!channels[entry.channel.cid]) channels[entry.channel.cid] = entry;
  const messages = { ...next.messages };
  for (const [cid, cached] of Object.entries(cache.messages))
    messages[cid] ??= cachedList(cached, cache.hasOlder[cid] ?? true);
  // A store written before records existed may leave them out.
  const r: Partial<typeof cache.records> = cache.records ?? {};
  const replies = { ...next.replies };
  for (const [parentId, cached] of Object.entries(r.replies ?? {}))
    replies[parentId] ??= cachedList(cached.messages, cached.hasOlder);
  const users = { ...next.users };
  for (const user of cache.users) users[user.id] ??= user;
  const queries = { ...cache.queries, ...next.queries };
  next = { ...next, channels, messages, users, queries, unread: cache.unread ?? next.unread, replies };
  // The user's lists and threads: what the state already has wins over the cache.
  next = {
    ...next,
    threads: { ...r.threads, ...next.threads },
    threadList: next.threadList ?? r.threadList?.[''] ?? null,
    mentions: next.mentions ?? r.mentions?.[''] ?? null,
    blocks: { ...r.blocks, ...next.blocks },
    userMutes: { ...r.userMutes, ...next.userMutes },
    channelMutes: { ...r.channelMutes, ...next.channelMutes },
    drafts: { ...r.drafts, ...next.drafts },
    reminders: { ...r.reminders, ...next.reminders },
    scheduledMessages: { ...r.scheduledMessages, ...next.scheduledMessages },
    starred: { ...r.starred, ...next.starred },
  };
  for (const item of cache.outbox) {
    next = putPending(
      next,
      pendingMessage(
        item.cid,
        next.userId ?? '',
        item.body,
        item.created_at,
        item.failed ? 'failed' : 'sending',
        item.error,
      ),
    );
  }
  return hideBlocked(next);
}

/** A cached list of confirmed messages as the state keeps it (the cache holds the newest ones). */
function cachedList(cached: Message[], hasOlder: boolean): MessageList {
  const byId: Record<string, LocalMessage> = {};
  for (const m of cached) byId[m.id] = confirmed(m);
  return { ids: orderIds(byId), byId, hasOlder, hasNewer: false };
}

/** The local stand-in shown for a message until the server confirms it (its id is the client_msg_id). */
export function pendingMessage(
  cid: string,
  userId: string,
  body: import('../stores/types.js').OutboxItem['body'],
  createdAt: string,
  status: 'sending' | 'failed' = 'sending',
  error?: { code: string; message: string },
): LocalMessage {
  return {
    id: body.client_msg_id,
    cid,
    seq: 0,
    user_id: userId,
    client_msg_id: body.client_msg_id,
    type: body.parent_id ? 'reply' : 'regular',
    text: body.text ?? '',
    custom: body.custom ?? {},
    attachments: body.attachments ?? [],
    mentioned_user_ids: body.mentioned_user_ids ?? [],
    parent_id: body.parent_id ?? null,
    reply_to_id: body.reply_to_id ?? null,
    show_in_channel: body.show_in_channel ?? false,
    created_at: createdAt,
    updated_at: createdAt,
    edited_at: null,
    deleted_at: null,
    status,
    ...(error ? { error } : {}),
  };
}

// ---- channel lists ----

/** When the channel last had activity, counting messages still being sent (for list order). */
export function activityAt(state: ParleyState, cid: string): string | null {
  let at = state.channels[cid]?.channel.last_message_at ?? null;
  const list = state.messages[cid];
  if (list) for (const m of Object.values(list.byId)) if (m.status !== 'sent') at = maxIso(at, m.created_at);
  return at;
}

const sortable: Record<string, (state: ParleyState, cid: string) => string | number | null> = {
  last_message_at: activityAt,
  updated_at: (s, cid) => s.channels[cid]?.channel.updated_at ?? null,
  created_at: (s, cid) => s.channels[cid]?.channel.created_at ?? null,
  member_count: (s, cid) => s.channels[cid]?.channel.member_count ?? null,
  name: (s, cid) => s.channels[cid]?.channel.name ?? null,
  cid: (_s, cid) => cid,
};

/** Re-sorts the channel lists that contain `cid` by their sort (stable: ties keep the server order). */
function reorderQueries(state: ParleyState, cid: string): ParleyState {
  let queries: Record<string, QueryState> | undefined;
  for (const [key, query] of Object.entries(state.queries)) {
    if (!query.cids.includes(cid)) continue;
    const keys = query.sort.map((s) => ({ get: sortable[s.field], direction: s.direction }));
    if (keys.length === 0 || keys.some((k) => !k.get)) continue;
    const sorted = [...query.cids].sort((a, b) => {
      for (const { get, direction } of keys) {
        const va = get!(state, a);
        const vb = get!(state, b);
        if (va === vb) continue;
        if (va === null) return 1; // nulls last, whatever the direction
        if (vb === null) return -1;
        return (va < vb ? -1 : 1) * direction;
      }
      return 0;
    });
    if (sorted.every((c, i) => c === query.cids[i])) continue;
    queries ??= { ...state.queries };
    queries[key] = { ...query, cids: sorted };
  }
  return queries ? { ...state, queries } : state;
}
