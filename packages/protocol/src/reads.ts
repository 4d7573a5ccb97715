import { z } from 'zod';
import { Cid, UserId } from './common.js';

export const ChannelUnread = z.object({
  cid: Cid,
  unread_count: z.number().int(),
  last_read_seq: z.number().int(),
  last_read_at: z.string().nullable(),
});

export const UnreadCountsShape = {
  total_unread_count: z.number().int(),
  unread_channels: z.number().int(),
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
