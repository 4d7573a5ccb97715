import { z } from 'zod';
import { Channel, Member } from './channels.js';
import { Cid, UserId } from './common.js';
import { Draft, Reminder, ScheduledMessage } from './message-features.js';
import { Message, Reaction } from './messages.js';
import { Ban, ChannelMute, Flag, UserMute } from './moderation.js';
import { PollEventShape, PollVote } from './polls.js';
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
  /**
   * `thread_parent`: for a thread reply, the parent with its updated reply_count / participants.
   * `shadowed`: the author is shadow-banned; realtime sends the event to the author alone (without
   * this field), webhooks receive it with the field so the backend can tell. Absent otherwise.
   */
  'message.new': z.object({
    cid: Cid,
    message: Message,
    thread_parent: Message.optional(),
    shadowed: z.literal(true).optional(),
  }),
  'message.updated': z.object({ cid: Cid, message: Message, shadowed: z.literal(true).optional() }),
  'message.deleted': z.object({
    cid: Cid,
    message: Message,
    hard: z.boolean(),
    thread_parent: Message.optional(),
    shadowed: z.literal(true).optional(),
  }),
  /** Reaction events carry the message with its updated counts and latest reactions. */
  'reaction.new': z.object({
    cid: Cid,
    user_id: UserId,
    message: Message,
    reaction: Reaction,
    shadowed: z.literal(true).optional(),
  }),
  'reaction.updated': z.object({
    cid: Cid,
    user_id: UserId,
    message: Message,
    reaction: Reaction,
    shadowed: z.literal(true).optional(),
  }),
  'reaction.deleted': z.object({
    cid: Cid,
    user_id: UserId,
    message: Message,
    reaction: Reaction,
    shadowed: z.literal(true).optional(),
  }),
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
  /** To the user's own channel: they marked a channel unread from `first_unread_message_id` on. */
  'notification.mark_unread': z.object({
    cid: Cid,
    user_id: UserId,
    last_read_seq: z.number().int(),
    first_unread_message_id: z.string(),
    unread_messages: z.number().int(),
    ...UnreadCountsShape,
  }),
  /** To the channel when its type has delivery_events: the member received messages up to this seq. */
  'message.delivered': z.object({
    cid: Cid,
    user_id: UserId,
    last_delivered_seq: z.number().int(),
    last_delivered_message_id: z.string().nullable(),
    last_delivered_at: z.string(),
  }),
  /** To the user's own channel (other devices): a message was starred or unstarred. */
  'notification.message_starred': z.object({
    cid: Cid,
    user_id: UserId,
    message_id: z.string(),
    starred: z.boolean(),
    starred_at: z.string().nullable(),
  }),
  /** To the user's own channel: a draft was saved (other devices show it). */
  'draft.updated': z.object({ cid: Cid, user_id: UserId, draft: Draft }),
  /** To the user's own channel: a draft was deleted. */
  'draft.deleted': z.object({ cid: Cid, user_id: UserId, parent_id: z.string().nullable() }),
  /** To the user's own channel: a reminder was set or changed. */
  'reminder.updated': z.object({ cid: Cid, user_id: UserId, reminder: Reminder }),
  /** To the user's own channel: a reminder was cancelled. */
  'reminder.deleted': z.object({ cid: Cid, user_id: UserId, message_id: z.string() }),
  /** To the user's own channel when a reminder's time has come, with the message it is about. */
  'notification.reminder_due': z.object({ cid: Cid, user_id: UserId, reminder: Reminder, message: Message }),
  /** To the author's own channel: a scheduled message was created, changed, sent or failed. */
  'scheduled_message.updated': z.object({ cid: Cid, user_id: UserId, scheduled_message: ScheduledMessage }),
  /** To the author's own channel: a scheduled message was cancelled. */
  'scheduled_message.deleted': z.object({ cid: Cid, user_id: UserId, scheduled_message_id: z.string() }),
  /** Moderation (docs/guides/moderation.md). Mutes go to the muting user's own channel only. */
  'notification.user_muted': z.object({ user_id: UserId, mute: UserMute }),
  'notification.user_unmuted': z.object({ user_id: UserId, target_id: UserId }),
  'notification.channel_muted': z.object({ cid: Cid, user_id: UserId, mute: ChannelMute }),
  'notification.channel_unmuted': z.object({ cid: Cid, user_id: UserId }),
  'notification.user_blocked': z.object({ user_id: UserId, target_id: UserId }),
  'notification.user_unblocked': z.object({ user_id: UserId, target_id: UserId }),
  /** A channel ban: to the channel and the banned user's own channel (app-wide bans are user.banned). */
  'member.banned': z.object({ cid: Cid, user_id: UserId, ban: Ban }),
  'member.unbanned': z.object({ cid: Cid, user_id: UserId }),
  /** Backend-only (webhooks): a report, and its review. */
  'flag.created': z.object({ flag: Flag }),
  'flag.reviewed': z.object({ flag: Flag, action: z.enum(['dismiss', 'remove_message', 'ban_user']) }),
  /** Backend-only (webhooks): a moderator shadow-banned a user or lifted it. */
  'user.shadow_banned': z.object({ user_id: UserId, shadow_banned: z.boolean() }),
  /** Polls (docs/guides/polls-and-commands.md): to the channel of the poll's message; own_votes empty. */
  'poll.updated': z.object(PollEventShape),
  'poll.closed': z.object(PollEventShape),
  'poll.vote_casted': z.object({ ...PollEventShape, vote: PollVote }),
  /** With enforce_unique_vote (or a new answer): `vote` replaced `removed_vote`. */
  'poll.vote_changed': z.object({ ...PollEventShape, vote: PollVote, removed_vote: PollVote }),
  'poll.vote_removed': z.object({ ...PollEventShape, vote: PollVote }),
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
