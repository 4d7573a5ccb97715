import { z } from 'zod';
import { Channel, Member } from './channels.js';
import { Cid, UserId } from './common.js';
import { Message, Reaction } from './messages.js';
import { UnreadCountsShape } from './reads.js';
import { User } from './users.js';

/**
 * Every domain event, by name → payload schema. Services emit these after commit; the realtime
 * gateway, webhooks, push and the SDK's reducers all consume the same shapes.
 */
export const EventMap = {
  'user.updated': z.object({ user: User }),
  'user.deleted': z.object({ user: User, hard: z.boolean() }),
  'user.banned': z.object({ user: User }),
  'user.unbanned': z.object({ user: User }),
  'user.tokens_revoked': z.object({ user_id: UserId, before: z.string() }),
  'channel.created': z.object({ cid: Cid, channel: Channel }),
  'channel.updated': z.object({ cid: Cid, channel: Channel }),
  'channel.truncated': z.object({ cid: Cid, channel: Channel }),
  'channel.deleted': z.object({ cid: Cid, channel: Channel }),
  'channel.hidden': z.object({ cid: Cid, user_id: UserId, clear_history: z.boolean() }),
  'channel.visible': z.object({ cid: Cid, user_id: UserId }),
  'member.added': z.object({ cid: Cid, member: Member }),
  'member.updated': z.object({ cid: Cid, member: Member }),
  'member.removed': z.object({ cid: Cid, user_id: UserId }),
  /** To the added user's private channel (chat:user:{id}), alongside member.added on the channel. */
  'notification.added_to_channel': z.object({ cid: Cid, member: Member }),
  /** To the removed user's private channel, alongside member.removed on the channel. */
  'notification.removed_from_channel': z.object({ cid: Cid, user_id: UserId }),
  'notification.invited': z.object({ cid: Cid, member: Member }),
  'notification.invite_accepted': z.object({ cid: Cid, member: Member }),
  'notification.invite_rejected': z.object({ cid: Cid, member: Member }),
  /** `thread_parent`: for a thread reply, the parent with its updated reply_count / participants. */
  'message.new': z.object({ cid: Cid, message: Message, thread_parent: Message.optional() }),
  'message.updated': z.object({ cid: Cid, message: Message }),
  'message.deleted': z.object({
    cid: Cid,
    message: Message,
    hard: z.boolean(),
    thread_parent: Message.optional(),
  }),
  /** Reaction events carry the message with its updated counts and latest reactions. */
  'reaction.new': z.object({ cid: Cid, user_id: UserId, message: Message, reaction: Reaction }),
  'reaction.updated': z.object({ cid: Cid, user_id: UserId, message: Message, reaction: Reaction }),
  'reaction.deleted': z.object({ cid: Cid, user_id: UserId, message: Message, reaction: Reaction }),
  /** To the mentioned user's own channel, whether or not they muted the channel. */
  'notification.mention': z.object({ cid: Cid, user_id: UserId, message: Message }),
  /** To the reader's own channel (other devices): their new read position in a thread. */
  'notification.thread_read': z.object({
    cid: Cid,
    user_id: UserId,
    parent_id: z.string(),
    last_read_seq: z.number().int(),
    last_read_at: z.string(),
  }),
  'message.read': z.object({
    cid: Cid,
    user_id: UserId,
    last_read_seq: z.number().int(),
    last_read_message_id: z.string().nullable(),
    last_read_at: z.string(),
  }),
  /** To the reader's own channel: their new unread counts after a mark-read. */
  'notification.mark_read': z.object({ cid: Cid.nullable(), user_id: UserId, ...UnreadCountsShape }),
  'typing.start': z.object({ cid: Cid, user_id: UserId, parent_id: z.string().nullable() }),
  'typing.stop': z.object({ cid: Cid, user_id: UserId, parent_id: z.string().nullable() }),
  'user.presence': z.object({ user_id: UserId, online: z.boolean(), last_active_at: z.string().nullable() }),
} as const;

export type EventName = keyof typeof EventMap;
export type EventPayload<N extends EventName> = z.infer<(typeof EventMap)[N]>;

/** What consumers receive: the payload plus its name, app and time. */
export type ParleyEvent<N extends EventName = EventName> = {
  [K in N]: { id: string; type: K; app_id: string; created_at: string } & EventPayload<K>;
}[N];

export const EVENT_NAMES = Object.keys(EventMap) as EventName[];
