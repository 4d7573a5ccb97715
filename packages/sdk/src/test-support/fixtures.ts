import type { Channel, ChannelState, Member, Message } from '@parley/protocol';
import { reduce } from '../state/reducer.js';
import { initialState, type ParleyState, type ServerEvent } from '../state/types.js';

/** Server-shaped objects for unit tests of the reducers (shapes from the protocol types). */
const T0 = Date.parse('2025-01-01T00:00:00.000Z');
export const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

export const CID = 'messaging:general';

export function channel(over: Partial<Channel> = {}): Channel {
  return {
    cid: CID,
    type: 'messaging',
    id: 'general',
    name: 'General',
    image: null,
    custom: {},
    created_by: 'alice',
    frozen: false,
    slow_mode_seconds: null,
    member_count: 2,
    last_message_at: null,
    last_seq: 0,
    truncated_at: null,
    created_at: at(0),
    updated_at: at(0),
    ...over,
  };
}

export function member(userId: string, over: Partial<Member> = {}): Member {
  return {
    user_id: userId,
    role: 'member',
    invited: false,
    invite_accepted_at: null,
    invite_rejected_at: null,
    banned: false,
    last_read_seq: 0,
    last_read_at: null,
    hidden: false,
    created_at: at(0),
    updated_at: at(0),
    ...over,
  };
}

/** Message `seq` of the channel, created at second `seq * 10`, by bob unless told. */
export function message(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `00000000-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    cid: CID,
    seq,
    user_id: 'bob',
    client_msg_id: null,
    type: 'regular',
    text: `message ${seq}`,
    custom: {},
    attachments: [],
    mentioned_user_ids: [],
    parent_id: null,
    reply_to_id: null,
    show_in_channel: false,
    created_at: at(seq * 10),
    updated_at: at(seq * 10),
    edited_at: null,
    deleted_at: null,
    ...over,
  };
}

export const messages = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => message(from + i));

/** The channel as GET /channels/{type}/{id} answers after `messageCount` messages. */
export function channelState(opts: {
  channel?: Partial<Channel>;
  members?: Member[];
  me?: string;
  lastRead?: number;
}): ChannelState {
  const members = opts.members ?? [member('alice', { role: 'owner' }), member('bob')];
  const me = opts.me ?? 'alice';
  const withRead = members.map((m) =>
    m.user_id === me && opts.lastRead !== undefined ? { ...m, last_read_seq: opts.lastRead } : m,
  );
  return {
    channel: channel({ member_count: members.length, ...opts.channel }),
    config: {
      typing_events: true,
      read_events: true,
      connect_events: true,
      reactions: true,
      replies: true,
      quotes: true,
      uploads: true,
      url_enrichment: true,
      search: true,
      mutes: true,
      public_read: false,
      max_message_length: 5000,
      slow_mode_seconds: 0,
      commands: [],
    },
    members: withRead,
    membership: withRead.find((m) => m.user_id === me) ?? null,
  };
}

/** The state a client has right after fetching the channel and its latest messages. */
export function fetched(cs: ChannelState, page: Message[], limit = 30, userId = 'alice'): ParleyState {
  let state = reduce(initialState(userId), { type: 'rest/channels', channels: [cs] });
  state = reduce(state, {
    type: 'rest/messages',
    cid: cs.channel.cid,
    messages: page,
    page: 'latest',
    limit,
  });
  return state;
}

let eventCounter = 0;
/** A server event as the gateway publishes it. */
export function event<E extends ServerEvent>(
  type: E['type'],
  payload: Omit<E, 'id' | 'type' | 'app_id' | 'created_at'>,
  createdAt = at(1000),
): E {
  return { id: `event-${++eventCounter}`, type, app_id: 'app', created_at: createdAt, ...payload } as E;
}

export const applyAll = (state: ParleyState, events: ServerEvent[]) => events.reduce(reduce, state);

/** The parts of the state that a fetch of one channel determines. */
export const channelView = (state: ParleyState, cid = CID) => ({
  channel: state.channels[cid],
  messages: state.messages[cid] && {
    list: state.messages[cid].ids.map((id) => state.messages[cid]!.byId[id]),
    hasOlder: state.messages[cid].hasOlder,
    hasNewer: state.messages[cid].hasNewer,
  },
});

/** The parts of the state the persistent cache keeps besides channels and messages. */
export const cachedSlices = (s: ParleyState) => ({
  replies: s.replies,
  threads: s.threads,
  threadList: s.threadList,
  mentions: s.mentions,
  blocks: s.blocks,
  userMutes: s.userMutes,
  channelMutes: s.channelMutes,
  drafts: s.drafts,
  reminders: s.reminders,
  scheduledMessages: s.scheduledMessages,
  starred: s.starred,
});
