import type { Member, Message, Thread } from '@parley/protocol';
import type { ChannelEntry, FileUpload, LocalMessage, ParleyState, TypingEntry } from './types.js';

// Selectors return the same array until its inputs change, so UI bindings can compare by ===.
const messagesMemo = new WeakMap<object, LocalMessage[]>();
const typingMemo = new WeakMap<object, Map<string | null, TypingEntry[]>>();
const queryMemo = new WeakMap<object, { channels: object; value: ChannelEntry[] }>();
const threadsMemo = new WeakMap<object, { threads: object; value: Thread[] }>();

export const selectChannel = (state: ParleyState, cid: string): ChannelEntry | undefined =>
  state.channels[cid];

/** The channel's loaded messages in display order. */
export function selectMessages(state: ParleyState, cid: string): LocalMessage[] {
  const list = state.messages[cid];
  if (!list) return [];
  let value = messagesMemo.get(list);
  if (!value) {
    value = list.ids.map((id) => list.byId[id]!);
    messagesMemo.set(list, value);
  }
  return value;
}

/** A thread's loaded replies in display order (oldest first; unconfirmed ones last). */
export function selectReplies(state: ParleyState, parentId: string): LocalMessage[] {
  const list = state.replies[parentId];
  if (!list) return [];
  let value = messagesMemo.get(list);
  if (!value) {
    value = list.ids.map((id) => list.byId[id]!);
    messagesMemo.set(list, value);
  }
  return value;
}

/** One message wherever it is loaded: the channel's list, a thread, a thread parent, the mentions. */
export function selectMessage(state: ParleyState, cid: string, id: string): LocalMessage | undefined {
  const inChannel = state.messages[cid]?.byId[id];
  if (inChannel) return inChannel;
  for (const list of Object.values(state.replies)) {
    const m = list.byId[id];
    if (m && m.cid === cid) return m;
  }
  const parent: Message | undefined =
    state.threads[id]?.parent ?? state.mentions?.messages.find((m) => m.id === id);
  return parent && parent.cid === cid ? { ...parent, status: 'sent' } : undefined;
}

/** The loaded thread list in order (most recent reply first). */
export function selectThreads(state: ParleyState): Thread[] {
  const list = state.threadList;
  if (!list) return [];
  const memo = threadsMemo.get(list);
  if (memo && memo.threads === state.threads) return memo.value;
  const value = list.ids.map((id) => state.threads[id]).filter((t): t is Thread => t !== undefined);
  threadsMemo.set(list, { threads: state.threads, value });
  return value;
}

/** Unread replies over all known threads. */
export const selectUnreadThreads = (state: ParleyState): number =>
  Object.values(state.threads).reduce((n, t) => n + (t.unread_replies > 0 ? 1 : 0), 0);

/** Loaded messages that mention the user, newest first. */
export const selectMentions = (state: ParleyState): Message[] => state.mentions?.messages ?? [];

export const selectUnreadCount = (state: ParleyState, cid: string): number => state.unread.channels[cid] ?? 0;

export const selectTotalUnread = (state: ParleyState): number => state.unread.total_unread_count;

/** Who is typing in the channel (or in one thread of it), the connected user excluded. */
export function selectTyping(state: ParleyState, cid: string, parentId: string | null = null): TypingEntry[] {
  const users = state.typing[cid];
  if (!users) return [];
  let byParent = typingMemo.get(users);
  if (!byParent) {
    byParent = new Map();
    typingMemo.set(users, byParent);
  }
  let value = byParent.get(parentId);
  if (!value) {
    value = Object.values(users).filter((t) => t.parent_id === parentId);
    byParent.set(parentId, value);
  }
  return value;
}

/** Members' read positions in the channel, by user id. */
export function selectReadState(
  state: ParleyState,
  cid: string,
): Record<string, Pick<Member, 'last_read_seq' | 'last_read_at'>> {
  const entry = state.channels[cid];
  if (!entry) return {};
  return Object.fromEntries(
    Object.values(entry.members).map((m) => [
      m.user_id,
      { last_read_seq: m.last_read_seq, last_read_at: m.last_read_at },
    ]),
  );
}

/** The channels of a query, in list order. */
export function selectQueryChannels(state: ParleyState, key: string): ChannelEntry[] {
  const query = state.queries[key];
  if (!query) return [];
  const memo = queryMemo.get(query);
  if (memo && memo.channels === state.channels) return memo.value;
  const value = query.cids
    .map((cid) => state.channels[cid])
    .filter((c): c is ChannelEntry => c !== undefined);
  queryMemo.set(query, { channels: state.channels, value });
  return value;
}

const noUploads: FileUpload[] = [];

/** The files of a message sent with files while they upload (by client_msg_id; [] when none). */
export const selectUploads = (state: ParleyState, clientMsgId: string): FileUpload[] =>
  state.uploads[clientMsgId] ?? noUploads;

/** How far a message's uploads are, from 0 to 1 (bytes over all its files; 1 when none are left). */
export function selectUploadProgress(state: ParleyState, clientMsgId: string): number {
  let loaded = 0;
  let total = 0;
  for (const f of selectUploads(state, clientMsgId)) {
    loaded += f.loaded;
    total += f.total;
  }
  return total > 0 ? loaded / total : 1;
}

export const selectOnline = (state: ParleyState, userId: string): boolean =>
  state.presence[userId]?.online ?? false;
