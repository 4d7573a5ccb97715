import { z } from 'zod';
import { Cid, CustomData, IsoDate, UserId } from './common.js';
import { Poll } from './polls.js';

/**
 * A button of an ephemeral command preview (e.g. /giphy's Send, Shuffle, Cancel). Posting
 * `{ form_data: { [name]: value } }` to `/messages/:id/action` runs it.
 */
export const MessageAction = z
  .object({
    name: z.string().max(64),
    text: z.string().max(200),
    value: z.string().max(1000),
    style: z.enum(['primary', 'default']).optional(),
    type: z.literal('button').optional(),
  })
  .strict();
export type MessageAction = z.infer<typeof MessageAction>;

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
    /** A compact placeholder of an image (blurha.sh), shown while it loads; set by uploads. */
    blurhash: z.string().max(100).optional(),
    /**
     * The upload (POST /channels/:type/:id/uploads) this attachment serves. A send or edit checks
     * that it exists in the app and marks it used, so the cleanup of unused uploads keeps it.
     */
    upload_id: z.uuid().optional(),
    custom: CustomData.optional(),
    /** Buttons of an ephemeral command preview (/giphy's Send, Shuffle, Cancel; POST /messages/:id/action). */
    actions: z.array(MessageAction).max(10).optional(),
  })
  .strict();
export type Attachment = z.infer<typeof Attachment>;

/** `ephemeral`: a command preview shown only to its sender (never stored in the channel; seq 0). */
export const MessageType = z.enum(['regular', 'reply', 'system', 'deleted', 'ephemeral']);

/** Longest reaction type (shortcode or emoji sequence), in characters. */
export const REACTION_TYPE_MAX_LENGTH = 64;
/** Most reactions one user may leave on one message. */
export const MAX_REACTIONS_PER_USER_PER_MESSAGE = 25;
/** How many of a message's latest reactions ride along with it. */
export const LATEST_REACTIONS_LIMIT = 10;
/** Characters of a quoted message's text embedded in the quoting message. */
export const QUOTE_EXCERPT_LENGTH = 200;

const shortcode = /^(?::[A-Za-z0-9_+-]{1,62}:|[A-Za-z0-9_+-]{1,64})$/;
// One emoji sequence: pictographs, regional-indicator flags or keycaps, joined by ZWJ, with
// variation selectors and skin-tone modifiers. Nothing else (no letters, spaces or markup).
const emoji =
  /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[#*0-9]\uFE0F?\u20E3)(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[\u200D\uFE0F\u20E3]|\p{Emoji_Modifier}|[\u{E0020}-\u{E007F}])*$/u;

/**
 * A reaction type: an emoji shortcode (`like`, `+1`, `:+1:`, custom names like `party_parrot`)
 * or one unicode emoji sequence (`👍`, `👍🏽`, `🏳️‍🌈`). Types are opaque: `:+1:` and `+1` differ.
 */
export const ReactionType = z
  .string()
  .min(1)
  .refine((t) => [...t].length <= REACTION_TYPE_MAX_LENGTH, {
    message: `a reaction type is at most ${REACTION_TYPE_MAX_LENGTH} characters`,
  })
  .refine((t) => shortcode.test(t) || emoji.test(t), {
    message:
      'a reaction type is an emoji shortcode (letters, digits, _ + -, optionally in colons) or an emoji',
  });

export const Reaction = z
  .object({
    message_id: z.string(),
    user_id: UserId,
    type: z.string(),
    /** 1 for a plain reaction; higher for "clap"-style counters (the latest score given wins). */
    score: z.number().int(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .meta({ id: 'Reaction' });
export type Reaction = z.infer<typeof Reaction>;

/** The message a quoted reply points at, embedded so clients need no extra fetch. */
export const QuotedMessage = z
  .object({
    id: z.string(),
    /** Null only when the quoted message was hard-deleted. */
    user_id: UserId.nullable(),
    /** At most QUOTE_EXCERPT_LENGTH characters (longer texts end with …); empty once deleted. */
    text: z.string(),
    deleted: z.boolean(),
  })
  .meta({ id: 'QuotedMessage' });
export type QuotedMessage = z.infer<typeof QuotedMessage>;

export const Message = z
  .object({
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
    // The fields below are always present in server answers and events. They are optional in the
    // schema only so that messages built on the client (optimistic sends) need not invent them.
    /** Thread parents: live (not deleted) replies. */
    reply_count: z.number().int().optional(),
    /** Thread parents: the parent's author and everyone who replied, in order of first reply. */
    thread_participants: z.array(UserId).optional(),
    /** Thread parents: when the latest live reply was sent. */
    last_reply_at: IsoDate.nullable().optional(),
    /** Present (non-null) when reply_to_id is set. */
    quoted_message: QuotedMessage.nullable().optional(),
    /** The text used @channel (every member is mentioned); only owners, moderators and admins may. */
    mentioned_channel: z.boolean().optional(),
    /** The text used @here (members are mentioned; clients may narrow it to who is online). */
    mentioned_here: z.boolean().optional(),
    /** Reactions per type. */
    reaction_counts: z.record(z.string(), z.number().int()).optional(),
    /** Sum of scores per type (equals the count unless scores above 1 were given). */
    reaction_scores: z.record(z.string(), z.number().int()).optional(),
    /** The viewer's own reactions. Always empty in events (they go to everyone); see reaction.* events. */
    own_reactions: z.array(Reaction).optional(),
    /** The latest reactions, newest first, at most LATEST_REACTIONS_LIMIT. */
    latest_reactions: z.array(Reaction).optional(),
    /** Pinned in its channel (a pin whose pin_expires_at has passed is not pinned). */
    pinned: z.boolean().optional(),
    pinned_at: IsoDate.nullable().optional(),
    pinned_by: UserId.nullable().optional(),
    pin_expires_at: IsoDate.nullable().optional(),
    /** The poll sent with this message (see POST /polls), with its results. */
    poll_id: z.string().nullable().optional(),
    poll: Poll.nullable().optional(),
  })
  .meta({ id: 'Message' });
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
    /** A poll created with POST /polls by the sender, not yet sent: the message carries it. */
    poll_id: z.uuid().optional(),
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

// ---- threads ----

export const Thread = z.object({
  cid: Cid,
  /** The thread's parent message, with reply_count, thread_participants and last_reply_at. */
  parent: Message,
  /** Live replies by others after the user's thread read position. */
  unread_replies: z.number().int(),
  /** Channel seq of the last reply the user has read (0 = none). */
  last_read_seq: z.number().int(),
  last_read_at: IsoDate.nullable(),
});
export type Thread = z.infer<typeof Thread>;

export const ListThreadsQuery = z
  .object({
    /** Only threads in this channel. */
    cid: Cid.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    /** The `next` of the previous page. */
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const ThreadsResponse = z.object({ threads: z.array(Thread), next: z.string().nullable() });
export const ThreadResponse = z.object({ thread: Thread });
export const MarkThreadReadBody = z
  .object({
    /** Mark read up to and including this reply; omit for every reply so far. */
    message_id: z.uuid().optional(),
    user_id: UserId.optional(),
  })
  .strict();

// ---- mentions ----

export const ListMentionsQuery = z
  .object({
    cid: Cid.optional(),
    /** Older than this message (the feed is newest first). */
    id_lt: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    /** Only mentions after the user's read position in their channel. */
    unread_only: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    user_id: UserId.optional(),
  })
  .strict();
export const UnreadMentionsQuery = z.object({ user_id: UserId.optional() }).strict();
export const UnreadMentions = z.object({
  total_unread_mentions: z.number().int(),
  channels: z.array(z.object({ cid: Cid, unread_mentions: z.number().int() })),
});
export type UnreadMentions = z.infer<typeof UnreadMentions>;

// ---- reactions ----

export const SendReactionBody = z
  .object({
    type: ReactionType,
    score: z.number().int().min(1).max(1_000_000).default(1),
    /** Replace the user's other reactions on this message (one reaction per user). */
    enforce_unique: z.boolean().default(false),
    user_id: UserId.optional(),
  })
  .strict();
export type SendReactionBody = z.output<typeof SendReactionBody>;
export const ReactionParams = z.object({ message_id: z.uuid(), reaction_type: ReactionType }).strict();
export const ListReactionsQuery = z
  .object({
    type: ReactionType.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    next: z.string().max(500).optional(),
    user_id: UserId.optional(),
  })
  .strict();
export const ReactionResponse = z.object({ message: Message, reaction: Reaction });
export const ReactionsResponse = z.object({ reactions: z.array(Reaction), next: z.string().nullable() });
