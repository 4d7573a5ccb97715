import type {
  Block,
  Channel,
  ChannelMute,
  ChannelTypeConfig,
  Draft,
  Member,
  Message,
  ParleyEvent,
  Reminder,
  ScheduledMessage,
  SortSpec,
  Thread,
  User,
  UserMute,
} from '@parley/protocol';
import type { z } from 'zod';

/**
 * Events the realtime gateway publishes under a name of their own: the user-channel copies of
 * member.added / member.removed. Derived from the EventMap, never restated.
 */
export type AddedToChannelEvent = Omit<ParleyEvent<'member.added'>, 'type'> & {
  type: 'notification.added_to_channel';
};
export type RemovedFromChannelEvent = Omit<ParleyEvent<'member.removed'>, 'type'> & {
  type: 'notification.removed_from_channel';
};
/** Every event the SDK receives from the server. */
export type ServerEvent = ParleyEvent | AddedToChannelEvent | RemovedFromChannelEvent;
export type ServerEventName = ServerEvent['type'];
export type ServerEventOf<N extends ServerEventName> = Extract<ServerEvent, { type: N }>;

/** `sending` until the server acknowledges (matched by client_msg_id), then `sent`; `failed` can be retried. */
export type MessageStatus = 'sending' | 'sent' | 'failed';

export type LocalMessage = Message & {
  status: MessageStatus;
  /** Why a `failed` message failed (the server's error code and message). */
  error?: { code: string; message: string };
};

export interface ChannelEntry {
  channel: Channel;
  /** The channel type's configuration; null until the channel was fetched over REST. */
  config: ChannelTypeConfig | null;
  /** Members by user id (the first ones the server returned, kept current by member events). */
  members: Record<string, Member>;
  /** The connected user's own membership, or null when not a member. */
  membership: Member | null;
}

export interface MessageList {
  /** Ids in display order: confirmed messages by seq, then unconfirmed local ones in send order. */
  ids: string[];
  byId: Record<string, LocalMessage>;
  /** Older messages exist before the first loaded one. */
  hasOlder: boolean;
  /** The loaded window stops before the latest message, so live messages are not appended to it. */
  hasNewer: boolean;
}

export interface TypingEntry {
  user_id: string;
  parent_id: string | null;
  /** When the typing.start event was created (server time). */
  at: string;
}

export interface PresenceEntry {
  online: boolean;
  last_active_at: string | null;
}

export interface UnreadState {
  total_unread_count: number;
  unread_channels: number;
  /** Unread messages by cid, as the server counts them (last_seq − last_read_seq). */
  channels: Record<string, number>;
}

export interface QueryState {
  /** Channels in list order. */
  cids: string[];
  sort: z.output<typeof SortSpec>;
  /** The server returned fewer than asked: there is no next page. */
  complete: boolean;
}

/** The whole client state: normalised, immutable, changed only by `reduce`. */
export interface ParleyState {
  userId: string | null;
  users: Record<string, User>;
  channels: Record<string, ChannelEntry>;
  messages: Record<string, MessageList>;
  typing: Record<string, Record<string, TypingEntry>>;
  presence: Record<string, PresenceEntry>;
  unread: UnreadState;
  queries: Record<string, QueryState>;
  /** Thread replies by parent message id (loaded with `channel.loadReplies`), kept current by events. */
  replies: Record<string, MessageList>;
  /** Threads the user takes part in, by parent message id: the parent, unread replies, read position. */
  threads: Record<string, Thread>;
  /** The thread list (GET /threads) in order, most recent reply first; null until loaded. */
  threadList: ThreadListState | null;
  /** Messages that mention the user, newest first (GET /mentions + notification.mention); null until loaded. */
  mentions: MentionsState | null;
  /**
   * Users the connected user blocked, by id (loaded on connect, kept current by
   * notification.user_blocked/unblocked). Their messages are kept out of every list.
   */
  blocks: Record<string, Block>;
  /** The user's user mutes by target id, and channel mutes by cid (loaded on connect). */
  userMutes: Record<string, UserMute>;
  channelMutes: Record<string, ChannelMute>;
  /** The user's drafts by `draftKey(cid, parent_id)` (loaded with `loadDrafts`, kept current by draft.*). */
  drafts: Record<string, Draft>;
  /** The user's reminders by message id (loaded with `loadReminders`, kept current by reminder.* events). */
  reminders: Record<string, Reminder>;
  /** The user's scheduled messages by id (`loadScheduledMessages`, scheduled_message.* events). */
  scheduledMessages: Record<string, ScheduledMessage>;
  /** When the user starred a message, by message id (star/unstar, notification.message_starred). */
  starred: Record<string, string>;
  /**
   * The files of messages sent with files, by client_msg_id, while they upload (gone once the
   * message is handed to the outbox). Memory only: never part of the persistent cache.
   */
  uploads: Record<string, FileUpload[]>;
}

/** One file of a message being sent with files (`channel.sendMessage({ files })`). */
export interface FileUpload {
  name: string;
  mime_type: string;
  /** Bytes sent so far, and the file's size. */
  loaded: number;
  total: number;
  /** `queued`: waiting for a free upload slot, or for the network after a failure (`error` says why). */
  state: 'queued' | 'uploading' | 'done' | 'failed' | 'cancelled';
  error?: { code: string; message: string };
}

/** The key of a draft in `state.drafts`: the channel, or the thread within it. */
export const draftKey = (cid: string, parentId?: string | null) => (parentId ? `${cid}/${parentId}` : cid);

export interface ThreadListState {
  /** Parent message ids. */
  ids: string[];
  /** The cursor of the next page, or null at the end. */
  next: string | null;
}

export interface MentionsState {
  messages: Message[];
  /** Older mentions exist before the last loaded one. */
  hasOlder: boolean;
}

export function initialState(userId: string | null = null): ParleyState {
  return {
    userId,
    users: {},
    channels: {},
    messages: {},
    typing: {},
    presence: {},
    unread: { total_unread_count: 0, unread_channels: 0, channels: {} },
    queries: {},
    replies: {},
    threads: {},
    threadList: null,
    mentions: null,
    blocks: {},
    userMutes: {},
    channelMutes: {},
    drafts: {},
    reminders: {},
    scheduledMessages: {},
    starred: {},
    uploads: {},
  };
}
