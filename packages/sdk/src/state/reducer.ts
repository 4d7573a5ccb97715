import type { Channel, ChannelState, Member, Message } from '@parley/protocol';
import type { Action } from './actions.js';
import {
  type ChannelEntry,
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
      return putPage(state, action.cid, action.messages, action.page, action.limit);
    case 'rest/message':
      return putMessage(state, action.message, true);
    case 'local/message.patch':
      return putMessage(state, action.message, false);
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
      return reorderQueries(putPending(state, action.message), action.message.cid);
    case 'local/message.failed':
      return updatePending(state, action.cid, action.client_msg_id, (m) => ({
        ...m,
        status: 'failed',
        error: action.error,
      }));
    case 'local/message.discard':
      return updateList(state, action.cid, (list) => {
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
    case 'message.new':
      return putMessage(state, action.message, true);
    case 'message.updated':
      return putMessage(state, action.message, false);
    case 'message.deleted':
      if (!action.hard) return putMessage(state, action.message, false);
      return updateList(state, action.cid, (list) => {
        if (!list.byId[action.message.id]) return list;
        const byId = { ...list.byId };
        delete byId[action.message.id];
        return { ...list, byId, ids: orderIds(byId) };
      });
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
      return updateList(next, action.cid, (list) => {
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
        next = updateList(next, action.cid, (list) => {
          const byId = Object.fromEntries(Object.entries(list.byId).filter(([, m]) => m.status !== 'sent'));
          return { ...list, byId, ids: orderIds(byId), hasOlder: false };
        });
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
    case 'user.updated':
    case 'user.banned':
    case 'user.unbanned':
    case 'user.deleted':
      return { ...state, users: { ...state.users, [action.user.id]: action.user } };
    case 'user.tokens_revoked':
      return state;
    default:
      return state;
  }
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
  const next = setUnread({ ...state, channels, messages, typing }, cid, 0);
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

function updateList(
  state: ParleyState,
  cid: string,
  change: (list: MessageList) => MessageList,
): ParleyState {
  const list = state.messages[cid];
  if (!list) return state;
  const next = change(list);
  return next === list ? state : { ...state, messages: { ...state.messages, [cid]: next } };
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
function putMessage(state: ParleyState, message: Message, isNew: boolean): ParleyState {
  if (!isNew) return putInList(state, message, false);
  const next = clearTyping(bumpChannel(state, message), message.cid, message.user_id);
  return reorderQueries(putInList(next, message, true), message.cid);
}

function putInList(state: ParleyState, message: Message, isNew: boolean): ParleyState {
  const list = state.messages[message.cid];
  if (!list || !inChannelList(message)) return state;
  const existing = list.byId[message.id];
  const pending = findPending(list, message);
  if (existing) {
    if (existing.updated_at > message.updated_at) return state;
  } else if (!pending && (!isNew || list.hasNewer)) return state;
  const byId = { ...list.byId };
  if (pending) delete byId[pending.id];
  byId[message.id] = confirmed(message);
  return { ...state, messages: { ...state.messages, [message.cid]: { ...list, byId, ids: orderIds(byId) } } };
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

function putPending(state: ParleyState, message: LocalMessage): ParleyState {
  const list = state.messages[message.cid] ?? emptyList();
  const existing = list.byId[message.id];
  if (existing?.status === 'sent') return state;
  if (Object.values(list.byId).some((m) => m.status === 'sent' && m.client_msg_id === message.client_msg_id))
    return state;
  const updated: LocalMessage = { ...(existing ?? message), status: message.status };
  if (message.status === 'sending') delete updated.error;
  else if (message.error) updated.error = message.error;
  const byId = { ...list.byId, [message.id]: updated };
  return { ...state, messages: { ...state.messages, [message.cid]: { ...list, byId, ids: orderIds(byId) } } };
}

function updatePending(
  state: ParleyState,
  cid: string,
  clientMsgId: string,
  change: (m: LocalMessage) => LocalMessage,
): ParleyState {
  return updateList(state, cid, (list) => {
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
  cid: string,
  page: Message[],
  kind: 'latest' | 'older' | 'newer',
  limit: number,
): ParleyState {
  const list = state.messages[cid] ?? emptyList();
  const visible = page.filter(inChannelList);
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
  return {
    ...state,
    messages: { ...state.messages, [cid]: { ids: orderIds(byId), byId, hasOlder, hasNewer } },
  };
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
  for (const [cid, cached] of Object.entries(cache.messages)) {
    if (messages[cid]) continue;
    const byId: Record<string, LocalMessage> = {};
    for (const m of cached) byId[m.id] = confirmed(m);
    messages[cid] = { ids: orderIds(byId), byId, hasOlder: cache.hasOlder[cid] ?? true, hasNewer: false };
  }
  const users = { ...next.users };
  for (const user of cache.users) users[user.id] ??= user;
  const queries = { ...cache.queries, ...next.queries };
  next = { ...next, channels, messages, users, queries, unread: cache.unread ?? next.unread };
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
  return next;
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
