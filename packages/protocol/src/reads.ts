import { z } from 'zod';
import { Cid, UserId } from './common.js';

export const ChannelUnread = z.object({
  cid: Cid,
  unread_count: z.number().int(),
  last_read_seq: z.number().int(),
  last_read_at: z.string().nullable(),
  /** Mentions of the user after their read position (always present in server answers). */
  unread_mentions: z.number().int().optional(),
});

export const UnreadCountsShape = {
  total_unread_count: z.number().int(),
  unread_channels: z.number().int(),
  /** Unread mentions over all channels (always present in server answers). */
  total_unread_mentions: z.number().int().optional(),
};

export const UnreadCounts = z.object({ ...UnreadCountsShape, channels: z.array(ChannelUnread) });
export type UnreadCounts = z.infer<typeof UnreadCounts>;

export const MarkReadBody = z
  .object({
    /** Mark read up to and including this message; omit for "everything so far". */
    message_id: z.uuid().optional(),
    /** Server-side calls mark read for this user. */
    user_id: UserId.optional(),
  })
  .strict();

export const MarkAllReadBody = z.object({ user_id: UserId.optional() }).strict();
export const UnreadQuery = z.object({ user_id: UserId.optional() }).strict();

export const MarkUnreadBody = z
  .object({
    /** This message and everything after it become unread. */
    message_id: z.uuid(),
    user_id: UserId.optional(),
  })
  .strict();

/** Most channels one mark-delivered call may name. */
export const MAX_DELIVERED_CHANNELS = 100;

export const MarkDeliveredBody = z
  .object({
    /** Per channel: delivered up to and including `message_id`, or everything so far when omitted. */
    channels: z
      .array(z.object({ cid: Cid, message_id: z.uuid().optional() }).strict())
      .min(1)
      .max(MAX_DELIVERED_CHANNELS),
    user_id: UserId.optional(),
  })
  .strict();

export const ChannelDelivered = z.object({
  cid: Cid,
  last_delivered_seq: z.number().int(),
  last_delivered_at: z.string().nullable(),
});
export const MarkDeliveredResponse = z.object({ channels: z.array(ChannelDelivered) });

/** One member's receipt for a message: when they read (or received) up to it or beyond. */
export const Receipt = z.object({ user_id: UserId, at: z.string().nullable() });
export const ReadByResponse = z.object({
  message_id: z.string(),
  /** Members (other than the author) whose read position is at or after the message. */
  read_by: z.array(Receipt),
  /** Members (other than the author) who received it (delivered or read); empty when delivery events are off. */
  delivered_to: z.array(Receipt),
  /** Members other than the author. */
  member_count: z.number().int(),
});
