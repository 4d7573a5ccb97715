import { z } from 'zod';
import { CustomData, IsoDate, UserId } from './common.js';
import { Attachment, Message } from './messages.js';

/** Built-in commands every app has; a custom command may not take one of these names. */
export const BUILTIN_COMMANDS = ['giphy', 'mute', 'unmute', 'ban', 'unban'] as const;
export type BuiltinCommand = (typeof BUILTIN_COMMANDS)[number];

/** A command name, as typed after the slash and as listed in a channel type's `commands`. */
export const CommandName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_-]+$/, 'command names are lower-case letters, digits, _ and -');

/** The form field a preview's action buttons set (Stream's `image_action` for /giphy). */
export const GIPHY_ACTION_FIELD = 'image_action';

export const Command = z.object({
  name: CommandName,
  description: z.string(),
  /** Help text for the arguments, e.g. `[text]` or `@user reason`. */
  args: z.string(),
  /** A group name clients may use to sort commands (e.g. `fun_set`, `moderation_set`). */
  set: z.string(),
  /** Built-ins run on the server; custom commands call `url` (or the app's commands_url). */
  builtin: z.boolean(),
  /** Custom commands: where the command request is sent; null = the app's `settings.commands_url`. */
  url: z.string().nullable(),
  created_at: IsoDate.nullable(),
  updated_at: IsoDate.nullable(),
});
export type Command = z.infer<typeof Command>;

const CommandFields = {
  description: z.string().max(500),
  args: z.string().max(200),
  set: z.string().max(64),
  url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .nullable(),
};

export const CreateCommandBody = z
  .object({
    name: CommandName,
    description: CommandFields.description.default(''),
    args: CommandFields.args.default(''),
    set: CommandFields.set.default(''),
    url: CommandFields.url.default(null),
  })
  .strict();
export type CreateCommandBody = z.output<typeof CreateCommandBody>;

export const UpdateCommandBody = z
  .object({
    description: CommandFields.description.optional(),
    args: CommandFields.args.optional(),
    set: CommandFields.set.optional(),
    url: CommandFields.url.optional(),
    /** Issue a new signing secret (answered once, like on create). */
    rotate_secret: z.boolean().default(false),
  })
  .strict();
export type UpdateCommandBody = z.output<typeof UpdateCommandBody>;

export const CommandParams = z.object({ command_name: CommandName }).strict();
export const CommandResponse = z.object({ command: Command });
/** Create (and secret rotation) answer the signing secret once: `X-Parley-Signature` uses it. */
export const CommandWithSecretResponse = z.object({ command: Command, secret: z.string().optional() });
export const CommandsResponse = z.object({ commands: z.array(Command) });

export const MessageActionBody = z
  .object({
    /** The preview's buttons: for /giphy `{"image_action": "send" | "shuffle" | "cancel"}`. */
    form_data: z.record(z.string().max(64), z.string().max(1000)),
    user_id: UserId.optional(),
  })
  .strict();
export type MessageActionBody = z.output<typeof MessageActionBody>;

/** The answer of POST /messages/:id/action: the preview, the sent message, or a cancelled preview. */
export const MessageActionResponse = z.object({ message: Message });

/**
 * What Parley POSTs to a custom command's URL (signed like webhooks: `X-Parley-Timestamp`,
 * `X-Parley-Signature: v1=HMAC-SHA256(command secret, timestamp + "." + body)`).
 */
export const CommandRequest = z.object({
  type: z.literal('command'),
  command: CommandName,
  args: z.string(),
  cid: z.string(),
  user: z.object({ id: UserId, name: z.string().nullable() }),
  /** The message as typed (text starting with /command). */
  message: z.object({ text: z.string(), parent_id: z.string().nullable() }),
  /** Set when a preview button was pressed (POST /messages/:id/action). */
  form_data: z.record(z.string(), z.string()).nullable(),
  /** The preview being acted on, when form_data is set. */
  preview_id: z.string().nullable(),
});
export type CommandRequest = z.infer<typeof CommandRequest>;

/**
 * What the command URL answers (2xx, JSON). `regular` sends the message to the channel as the
 * user; `ephemeral` shows it only to the user (a preview; attachments may carry `actions` buttons,
 * which call the URL again with `form_data`); `cancel` drops the preview.
 */
export const CommandAnswer = z.object({
  message: z
    .object({
      type: z.enum(['regular', 'ephemeral', 'cancel']).default('regular'),
      text: z.string().max(20_000).default(''),
      attachments: z.array(Attachment).max(30).default([]),
      custom: CustomData.optional(),
    })
    .strict(),
});
export type CommandAnswer = z.output<typeof CommandAnswer>;
