import { z } from 'zod';
import { Cid, CustomData, IsoDate, UserId } from './common.js';

export const Attachment = z
  .object({
    type: z.enum(['image', 'video', 'audio', 'file', 'giphy', 'link', 'custom']),
    url: z.url().max(4096).optional(),
    title: z.string().max(500).optional(),
    text: z.string().max(2000).optional(),
    mime_type: z.string().max(200).optional(),
    file_size: z.number().int().min(0).optional(),
    width: z.number().int().min(0).optional(),
    height: z.number().int().min(0).optional(),
    thumb_url: z.url().max(4096).optional(),
    custom: CustomData.optional(),
  })
  .strict();
export type Attachment = z.infer<typeof Attachment>;

export const MessageType = z.enum(['regular', 'reply', 'system', 'deleted']);

export const Message = z.object({
  id: z.string(),
  cid: Cid,
  seq: z.number().int(),
  user_id: UserId,
  client_msg_id: z.string().nullable(),
  type: MessageType,
  text: z.string(),
  custom: CustomData,
  attachments: z.array(Attachment),
  mentioned_user_ids: z.array(UserId),
  parent_id: z.string().nullable(),
  reply_to_id: z.string().nullable(),
  show_in_channel: z.boolean(),
  created_at: IsoDate,
  updated_at: IsoDate,
  edited_at: IsoDate.nullable(),
  deleted_at: IsoDate.nullable(),
});
export type Message = z.infer<typeof Message>;

export const SendMessageBody = z
  .object({
    /** Client-generated id (e.g. a UUID): sending the same one twice returns the first message. */
    client_msg_id: z.string().min(1).max(100).optional(),
    text: z.string().max(20_000).default(''),
    custom: CustomData.optional(),
    attachments: z.array(Attachment).max(30).default([]),
    mentioned_user_ids: z.array(UserId).max(100).default([]),
    parent_id: z.uuid().optional(),
    reply_to_id: z.uuid().optional(),
    show_in_channel: z.boolean().default(false),
    /** Server-side calls send on behalf of this user. */
    user_id: UserId.optional(),
  })
  .strict();
export type SendMessageBody = z.infer<typeof SendMessageBody>;

export const UpdateMessageBody = z
  .object({
    text: z.string().max(20_000).optional(),
    custom: CustomData.optional(),
    attachments: z.array(Attachment).max(30).optional(),
    mentioned_user_ids: z.array(UserId).max(100).optional(),
    user_id: UserId.optional(),
  })
  .strict();

export const ListMessagesQuery = z
  .object({
    id_lt: z.uuid().optional(),
    id_gt: z.uuid().optional(),
    id_around: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(300).default(50),
    /** Server-side calls read as this user. */
    user_id: UserId.optional(),
  })
  .strict();

export const DeleteMessageQuery = z
  .object({
    hard: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    user_id: UserId.optional(),
  })
  .strict();

export const MessageParams = z.object({ message_id: z.uuid() }).strict();
export const ActingUserQuery = z.object({ user_id: UserId.optional() }).strict();

export const MessageResponse = z.object({ message: Message });
export const MessagesResponse = z.object({ messages: z.array(Message) });
