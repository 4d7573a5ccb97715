import { z } from 'zod';
import { Cid, CustomData, IsoDate, UserId } from './common.js';
import { Attachment, Message } from './messages.js';

// ---- edit history ----

/** One replaced version of a message: the text (and attachments) it had before an edit. */
export const MessageEdit = z.object({
  id: z.string(),
  message_id: z.string(),
  /** Who made the edit; null for a server-side call acting as nobody. */
  edited_by: UserId.nullable(),
  /** The text before this edit. */
  text: z.string(),
  attachments: z.array(Attachment),
  /** When the replaced version was written (the message's creation or the previous edit). */
  version_created_at: IsoDate,
  edited_at: IsoDate,
});
export type MessageEdit = z.infer<typeof MessageEdit>;
export const MessageEditsResponse = z.object({ edits: z.array(MessageEdit) });

// ---- pins ----

export const PinMessageBody = z
  .object({
    /** The pin lapses at this time (ISO 8601, in the future); omit to pin until unpinned. */
    expires_at: z.iso.datetime({ offset: true }).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const PinnedMessagesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(25),
    /** The `next` of the previous page. */
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const PagedMessagesResponse = z.object({ messages: z.array(Message), next: z.string().nullable() });

// ---- starred ----

export const StarMessageBody = z.object({ user_id: UserId.optional() }).strict();
export const StarredMessage = z.object({ message: Message, starred_at: IsoDate });
export const StarredMessagesQuery = z
  .object({
    cid: Cid.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const StarredMessagesResponse = z.object({
  starred: z.array(StarredMessage),
  next: z.string().nullable(),
});
export const StarResponse = z.object({
  message_id: z.string(),
  starred: z.boolean(),
  starred_at: IsoDate.nullable(),
});

// ---- drafts ----

export const Draft = z.object({
  cid: Cid,
  /** The thread the draft is a reply in; null for the channel itself. */
  parent_id: z.string().nullable(),
  reply_to_id: z.string().nullable(),
  text: z.string(),
  attachments: z.array(Attachment),
  custom: CustomData,
  mentioned_user_ids: z.array(UserId),
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type Draft = z.infer<typeof Draft>;
export const DraftQuery = z.object({ parent_id: z.uuid().optional(), user_id: UserId.optional() }).strict();
export const PutDraftBody = z
  .object({
    /** At most the channel type's max_message_length characters. */
    text: z.string().max(20_000).default(''),
    parent_id: z.uuid().optional(),
    reply_to_id: z.uuid().optional(),
    attachments: z.array(Attachment).max(30).default([]),
    custom: CustomData.optional(),
    mentioned_user_ids: z.array(UserId).max(100).default([]),
    user_id: UserId.optional(),
  })
  .strict();
export type PutDraftBody = z.output<typeof PutDraftBody>;
export const ListDraftsQuery = z
  .object({
    cid: Cid.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const DraftResponse = z.object({ draft: Draft });
export const DraftsResponse = z.object({ drafts: z.array(Draft), next: z.string().nullable() });

// ---- reminders ----

/** Longest reminder note, in characters. */
export const REMINDER_NOTE_MAX_LENGTH = 500;
/** A reminder or scheduled message may be at most this far ahead. */
export const MAX_SCHEDULE_AHEAD_DAYS = 366;

export const Reminder = z.object({
  message_id: z.string(),
  cid: Cid,
  user_id: UserId,
  remind_at: IsoDate,
  note: z.string().nullable(),
  /** When the reminder went off (notification.reminder_due); null while upcoming. */
  delivered_at: IsoDate.nullable(),
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type Reminder = z.infer<typeof Reminder>;

const reminderTime = {
  /** When to remind (ISO 8601, in the future). Give this or remind_in_seconds. */
  remind_at: z.iso.datetime({ offset: true }).optional(),
  /** "Remind me in …": seconds from now. */
  remind_in_seconds: z
    .number()
    .int()
    .min(1)
    .max(MAX_SCHEDULE_AHEAD_DAYS * 86_400)
    .optional(),
};
export const CreateReminderBody = z
  .object({
    ...reminderTime,
    note: z.string().max(REMINDER_NOTE_MAX_LENGTH).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const UpdateReminderBody = CreateReminderBody;
export const ReminderQuery = z.object({ user_id: UserId.optional() }).strict();
export const ListRemindersQuery = z
  .object({
    /** upcoming (not yet delivered, soonest first), delivered, or all (by remind_at). */
    status: z.enum(['upcoming', 'delivered', 'all']).default('upcoming'),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const ReminderResponse = z.object({ reminder: Reminder });
export const RemindersResponse = z.object({ reminders: z.array(Reminder), next: z.string().nullable() });

// ---- scheduled messages ----

export const ScheduledMessageStatus = z.enum(['scheduled', 'sent', 'failed']);
export const ScheduledMessage = z.object({
  id: z.string(),
  cid: Cid,
  user_id: UserId,
  send_at: IsoDate,
  text: z.string(),
  attachments: z.array(Attachment),
  custom: CustomData,
  mentioned_user_ids: z.array(UserId),
  parent_id: z.string().nullable(),
  reply_to_id: z.string().nullable(),
  show_in_channel: z.boolean(),
  status: ScheduledMessageStatus,
  /** The sent message, once status is `sent`. */
  message_id: z.string().nullable(),
  /** Why sending failed (an error code of ErrorCodes and its message), once status is `failed`. */
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type ScheduledMessage = z.infer<typeof ScheduledMessage>;

export const ScheduleMessageBody = z
  .object({
    /** When to send (ISO 8601, in the future, at most MAX_SCHEDULE_AHEAD_DAYS ahead). */
    send_at: z.iso.datetime({ offset: true }),
    text: z.string().max(20_000).default(''),
    custom: CustomData.optional(),
    attachments: z.array(Attachment).max(30).default([]),
    mentioned_user_ids: z.array(UserId).max(100).default([]),
    parent_id: z.uuid().optional(),
    reply_to_id: z.uuid().optional(),
    show_in_channel: z.boolean().default(false),
    user_id: UserId.optional(),
  })
  .strict();
export type ScheduleMessageBody = z.output<typeof ScheduleMessageBody>;
export const UpdateScheduledMessageBody = z
  .object({
    send_at: z.iso.datetime({ offset: true }).optional(),
    text: z.string().max(20_000).optional(),
    custom: CustomData.optional(),
    attachments: z.array(Attachment).max(30).optional(),
    mentioned_user_ids: z.array(UserId).max(100).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const ScheduledMessageParams = z.object({ scheduled_message_id: z.uuid() }).strict();
export const ListScheduledMessagesQuery = z
  .object({
    cid: Cid.optional(),
    status: ScheduledMessageStatus.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const ScheduledMessageResponse = z.object({ scheduled_message: ScheduledMessage });
export const ScheduledMessagesResponse = z.object({
  scheduled_messages: z.array(ScheduledMessage),
  next: z.string().nullable(),
});
