import {
  type Attachment,
  BUILTIN_COMMANDS,
  type BuiltinCommand,
  type Command,
  CommandAnswer,
  type CommandRequest,
  type CreateCommandBody,
  GIPHY_ACTION_FIELD,
  type Message,
  type MessageActionBody,
  type SendMessageBody,
  type UpdateCommandBody,
} from '@parley/protocol';
import type { Config } from '../../platform/config.js';
import { actingUserId, type RequestContext, requireServer } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db.js';
import type { CommandPreviewRow, CommandRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import { randomToken, uuidv7 } from '../../platform/ids.js';
import { OutboundTimeoutError, outboundRequest } from '../../platform/outbound.js';
import type { ChannelAccess, ChannelsService } from '../channels/channels.service.js';
import type { MessagesService } from '../messages/messages.service.js';
import type { ModerationService } from '../moderation/moderation.service.js';
import { usersRepository } from '../users/users.repository.js';
import { signWebhook, WEBHOOK_HEADERS } from '../webhooks/webhooks.signing.js';
import { type Gif, searchGif } from './commands.giphy.js';
import { commandsRepository } from './commands.repository.js';

/** How long an ephemeral preview (e.g. /giphy) can still be sent, shuffled or cancelled. */
export const PREVIEW_TTL_MS = 60 * 60 * 1000;

const BUILTINS: Record<BuiltinCommand, { description: string; args: string; set: string }> = {
  giphy: { description: 'Post a random gif to the channel', args: '[text]', set: 'fun_set' },
  mute: { description: 'Mute a user', args: '[@username]', set: 'moderation_set' },
  unmute: { description: 'Unmute a user', args: '[@username]', set: 'moderation_set' },
  ban: { description: 'Ban a user from this channel', args: '[@username] [text]', set: 'moderation_set' },
  unban: { description: 'Unban a user from this channel', args: '[@username]', set: 'moderation_set' },
};

const isBuiltin = (name: string): name is BuiltinCommand =>
  (BUILTIN_COMMANDS as readonly string[]).includes(name);

/** `/name args…` at the very start of a text; the name as in a channel type's `commands`. */
export function parseCommand(text: string): { name: string; args: string } | undefined {
  const match = /^\/([a-z0-9_-]{1,64})(?:[ \t\n]+([\s\S]*))?$/.exec(text);
  if (!match) return undefined;
  return { name: match[1]!, args: (match[2] ?? '').trim() };
}

/** The preview state of /giphy: the search and which result is shown. */
interface GiphyState {
  kind: 'giphy';
  query: string;
  offset: number;
  gif: Gif;
}

/** The preview state of a custom command: what its URL answered last. */
interface CustomState {
  kind: 'custom';
  text: string;
  attachments: Attachment[];
  custom?: Record<string, unknown> | undefined;
}

type PreviewState = GiphyState | CustomState;

function builtinDto(name: BuiltinCommand): Command {
  return { name, ...BUILTINS[name], builtin: true, url: null, created_at: null, updated_at: null };
}

function toCommandDto(row: CommandRow, showUrl = true): Command {
  return {
    name: row.name,
    description: row.description,
    args: row.args,
    set: row.set,
    builtin: false,
    url: showUrl ? row.url : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function giphyAttachment(state: GiphyState, withActions: boolean): Attachment {
  return {
    type: 'giphy',
    title: state.query,
    url: state.gif.url,
    thumb_url: state.gif.url,
    width: state.gif.width,
    height: state.gif.height,
    custom: { giphy_id: state.gif.id, giphy_title: state.gif.title },
    ...(withActions
      ? {
          actions: [
            { name: GIPHY_ACTION_FIELD, text: 'Send', value: 'send', style: 'primary', type: 'button' },
            { name: GIPHY_ACTION_FIELD, text: 'Shuffle', value: 'shuffle', style: 'default', type: 'button' },
            { name: GIPHY_ACTION_FIELD, text: 'Cancel', value: 'cancel', style: 'default', type: 'button' },
          ],
        }
      : {}),
  };
}

/** An ephemeral message: shown to its user only, never stored in the channel (seq 0). */
function ephemeral(
  p: { id: string; cid: string; user_id: string; parent_id: string | null; created_at: Date },
  text: string,
  attachments: Attachment[],
  extra: { custom?: Record<string, unknown> | undefined; deleted?: boolean } = {},
): Message {
  const at = p.created_at.toISOString();
  return {
    id: p.id,
    cid: p.cid,
    seq: 0,
    user_id: p.user_id,
    client_msg_id: null,
    type: 'ephemeral',
    text,
    custom: extra.custom ?? {},
    attachments,
    mentioned_user_ids: [],
    parent_id: p.parent_id,
    reply_to_id: null,
    show_in_channel: false,
    created_at: at,
    updated_at: new Date().toISOString(),
    edited_at: null,
    deleted_at: extra.deleted ? new Date().toISOString() : null,
  };
}

function previewMessage(row: CommandPreviewRow, state: PreviewState, text: string): Message {
  if (state.kind === 'giphy') return ephemeral(row, text, [giphyAttachment(state, true)]);
  return ephemeral(row, state.text, state.attachments, { custom: state.custom });
}

/** The target of /mute @bob, /ban @bob spamming…: the first word, with or without the @. */
function targetOf(name: string, args: string): { target: string; rest: string } {
  const match = /^@?([A-Za-z0-9@_.\-=]{1,128})(?:\s+([\s\S]*))?$/.exec(args);
  if (!match) {
    throw new AppError('COMMAND_ARGS_INVALID', `usage: /${name} ${BUILTINS[name as BuiltinCommand].args}`, {
      field: 'text',
    });
  }
  return { target: match[1]!, rest: (match[2] ?? '').trim() };
}

export type CommandResult = { message: Message; created: boolean };

/**
 * Slash commands. A message whose text starts with `/name` runs the command when `name` is in its
 * channel type's `commands`; otherwise it is sent as plain text (as Stream does). Built-ins:
 * /giphy (an ephemeral preview with Send / Shuffle / Cancel), /mute, /unmute, /ban, /unban
 * (through ModerationService, with its permission checks). Custom commands POST a signed
 * CommandRequest to their URL (or the app's `settings.commands_url`) with a time limit and turn
 * the answer into a message (sent, or an ephemeral preview). A failing or slow handler answers
 * COMMAND_WEBHOOK_FAILED (502) or COMMAND_WEBHOOK_TIMEOUT (504) and sends nothing.
 */
export class CommandsService {
  constructor(
    private readonly db: Db,
    readonly bus: EventBus,
    private readonly channels: ChannelsService,
    private readonly messages: () => MessagesService,
    private readonly moderation: () => ModerationService,
    private readonly config: Config,
  ) {}

  // ---- custom command definitions (server side) ----

  async list(ctx: RequestContext): Promise<Command[]> {
    requireServer(ctx);
    const custom = await commandsRepository.list(this.db, ctx.app.id);
    return [...BUILTIN_COMMANDS.map(builtinDto), ...custom.map((c) => toCommandDto(c))];
  }

  async get(ctx: RequestContext, name: string): Promise<Command> {
    requireServer(ctx);
    if (isBuiltin(name)) return builtinDto(name);
    return toCommandDto(await this.row(ctx, name));
  }

  async create(ctx: RequestContext, body: CreateCommandBody): Promise<{ command: Command; secret: string }> {
    requireServer(ctx);
    if (isBuiltin(body.name))
      throw new AppError('COMMAND_EXISTS', `/${body.name} is a built-in command`, { field: 'name' });
    const secret = `cmdsec_${randomToken(32)}`;
    try {
      const row = await commandsRepository.insert(this.db, ctx.app.id, {
        name: body.name,
        description: body.description,
        args: body.args,
        set: body.set,
        url: body.url,
        secret,
      });
      return { command: toCommandDto(row), secret };
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('COMMAND_EXISTS', undefined, { field: 'name' });
      throw error;
    }
  }

  async update(
    ctx: RequestContext,
    name: string,
    body: UpdateCommandBody,
  ): Promise<{ command: Command; secret?: string }> {
    requireServer(ctx);
    if (isBuiltin(name))
      throw new AppError('FORBIDDEN', `/${name} is a built-in command`, { field: 'command_name' });
    const secret = body.rotate_secret ? `cmdsec_${randomToken(32)}` : undefined;
    const row = await commandsRepository.update(this.db, ctx.app.id, name, {
      ...(body.description !== undefined ? { description: body.description } : {}),
      ...(body.args !== undefined ? { args: body.args } : {}),
      ...(body.set !== undefined ? { set: body.set } : {}),
      ...(body.url !== undefined ? { url: body.url } : {}),
      ...(secret ? { secret } : {}),
    });
    if (!row) throw new AppError('COMMAND_NOT_FOUND', undefined, { field: 'command_name' });
    return { command: toCommandDto(row), ...(secret ? { secret } : {}) };
  }

  async delete(ctx: RequestContext, name: string): Promise<void> {
    requireServer(ctx);
    if (isBuiltin(name))
      throw new AppError('FORBIDDEN', `/${name} is a built-in command`, { field: 'command_name' });
    if (!(await commandsRepository.delete(this.db, ctx.app.id, name)))
      throw new AppError('COMMAND_NOT_FOUND', undefined, { field: 'command_name' });
  }

  /**
   * The commands enabled in a channel (its type's `commands`, in that order) for whoever may read
   * it; names that are neither built in nor defined are left out. User callers do not see URLs.
   */
  async forChannel(ctx: RequestContext, cid: string, userId?: string): Promise<Command[]> {
    const access = await this.channels.access(this.db, ctx, cid, 'read', userId);
    const names = access.config.commands;
    const custom = new Map(
      (
        await commandsRepository.findMany(
          this.db,
          ctx.app.id,
          names.filter((n) => !isBuiltin(n)),
        )
      ).map((c) => [c.name, c]),
    );
    return names.flatMap((name) => {
      if (isBuiltin(name)) return [builtinDto(name)];
      const row = custom.get(name);
      return row ? [toCommandDto(row, ctx.actor.kind === 'server')] : [];
    });
  }

  // ---- running commands ----

  /**
   * POST /channels/:type/:id/messages: runs the command the text starts with, or sends the message
   * as usual. `created` is true when a message was stored in the channel.
   */
  async send(ctx: RequestContext, cid: string, body: SendMessageBody): Promise<CommandResult> {
    const parsed = body.text.startsWith('/') ? parseCommand(body.text) : undefined;
    if (!parsed || body.poll_id) return this.messages().send(ctx, cid, body);
    const userId = actingUserId(ctx, body.user_id);
    const access = await this.channels.access(this.db, ctx, cid, 'send', userId);
    if (!access.config.commands.includes(parsed.name)) return this.messages().send(ctx, cid, body);
    const parentId = body.parent_id ?? null;
    switch (parsed.name) {
      case 'giphy':
        return { message: await this.startGiphy(ctx, access, userId, parsed.args, parentId), created: false };
      case 'mute':
      case 'unmute':
      case 'ban':
      case 'unban':
        return {
          message: await this.runModeration(ctx, access, userId, parsed.name, parsed.args, parentId),
          created: false,
        };
    }
    const command = await commandsRepository.find(this.db, ctx.app.id, parsed.name);
    if (!command) {
      throw new AppError(
        'COMMAND_NOT_FOUND',
        `/${parsed.name} is enabled for this channel type but not defined`,
        {
          field: 'text',
        },
      );
    }
    const answer = await this.callHandler(ctx, command, {
      type: 'command',
      command: command.name,
      args: parsed.args,
      cid,
      user: await this.userOf(ctx, userId),
      message: { text: body.text, parent_id: parentId },
      form_data: null,
      preview_id: null,
    });
    return this.applyAnswer(ctx, cid, userId, body, command, parsed.args, answer, undefined);
  }

  /**
   * POST /messages/:id/action: a button of an ephemeral preview. /giphy: `image_action` = send
   * (the gif is sent to the channel: 201), shuffle (the next result: 200) or cancel (the preview
   * goes away: 200 with deleted_at set). Custom commands: the form data goes to the command URL,
   * whose answer is applied like the first one.
   */
  async action(ctx: RequestContext, previewId: string, body: MessageActionBody): Promise<CommandResult> {
    const userId = actingUserId(ctx, body.user_id);
    const preview = await commandsRepository.findPreview(this.db, ctx.app.id, previewId);
    // Previews are private: someone else's is as unknown as a message that does not exist.
    if (!preview || preview.user_id !== userId) throw new AppError('MESSAGE_NOT_FOUND');
    const access = await this.channels.access(this.db, ctx, preview.cid, 'send', userId);
    const state = preview.state as unknown as PreviewState;
    if (state.kind === 'giphy') return this.giphyAction(ctx, access, userId, preview, state, body.form_data);
    const command = await commandsRepository.find(this.db, ctx.app.id, preview.command);
    if (!command) throw new AppError('COMMAND_NOT_FOUND', `/${preview.command} no longer exists`);
    const answer = await this.callHandler(ctx, command, {
      type: 'command',
      command: command.name,
      args: preview.args,
      cid: preview.cid,
      user: await this.userOf(ctx, userId),
      message: { text: `/${preview.command} ${preview.args}`.trim(), parent_id: preview.parent_id },
      form_data: body.form_data,
      preview_id: preview.id,
    });
    return this.applyAnswer(
      ctx,
      preview.cid,
      userId,
      { text: '', attachments: [], mentioned_user_ids: [], show_in_channel: false, ...parentOf(preview) },
      command,
      preview.args,
      answer,
      preview,
    );
  }

  private async startGiphy(
    ctx: RequestContext,
    access: ChannelAccess,
    userId: string,
    query: string,
    parentId: string | null,
  ): Promise<Message> {
    if (!query) throw new AppError('COMMAND_ARGS_INVALID', 'usage: /giphy [text]', { field: 'text' });
    const gif = await searchGif(this.config, query, 0);
    if (!gif) throw new AppError('GIPHY_NO_RESULTS', `GIPHY found nothing for "${query}"`, { field: 'text' });
    const state: GiphyState = { kind: 'giphy', query, offset: 0, gif };
    const now = new Date();
    const row = await commandsRepository.insertPreview(this.db, ctx.app.id, {
      id: uuidv7(now.getTime()),
      cid: access.channel.cid,
      user_id: userId,
      command: 'giphy',
      args: query,
      parent_id: parentId,
      state,
      expires_at: new Date(now.getTime() + PREVIEW_TTL_MS),
      created_at: now,
    });
    return previewMessage(row, state, `/giphy ${query}`);
  }

  private async giphyAction(
    ctx: RequestContext,
    access: ChannelAccess,
    userId: string,
    preview: CommandPreviewRow,
    state: GiphyState,
    form: Record<string, string>,
  ): Promise<CommandResult> {
    const text = `/giphy ${state.query}`;
    switch (form[GIPHY_ACTION_FIELD]) {
      case 'send': {
        // The preview's id makes the send idempotent: a double press sends one message.
        const sent = await this.messages().send(ctx, access.channel.cid, {
          text: '',
          attachments: [giphyAttachment(state, false)],
          mentioned_user_ids: [],
          show_in_channel: false,
          client_msg_id: `preview:${preview.id}`,
          user_id: userId,
          ...parentOf(preview),
        });
        await commandsRepository.deletePreview(this.db, ctx.app.id, preview.id);
        return sent;
      }
      case 'shuffle': {
        let offset = state.offset + 1;
        let gif = await searchGif(this.config, state.query, offset);
        if (!gif) {
          offset = 0; // past the last result: start again
          gif = await searchGif(this.config, state.query, 0);
        }
        if (!gif) throw new AppError('GIPHY_NO_RESULTS');
        const next: GiphyState = { ...state, offset, gif };
        const row = await commandsRepository.updatePreview(this.db, ctx.app.id, preview.id, next);
        return { message: previewMessage(row, next, text), created: false };
      }
      case 'cancel':
        await commandsRepository.deletePreview(this.db, ctx.app.id, preview.id);
        return { message: ephemeral(preview, text, [], { deleted: true }), created: false };
      default:
        throw new AppError(
          'MESSAGE_ACTION_INVALID',
          `${GIPHY_ACTION_FIELD} must be send, shuffle or cancel`,
          {
            field: `form_data.${GIPHY_ACTION_FIELD}`,
          },
        );
    }
  }

  private async runModeration(
    ctx: RequestContext,
    access: ChannelAccess,
    userId: string,
    name: 'mute' | 'unmute' | 'ban' | 'unban',
    args: string,
    parentId: string | null,
  ): Promise<Message> {
    const { target, rest } = targetOf(name, args);
    const cid = access.channel.cid;
    const moderation = this.moderation();
    let text: string;
    switch (name) {
      case 'mute':
        await moderation.muteUser(ctx, { target_id: target, user_id: userId });
        text = `You muted @${target}.`;
        break;
      case 'unmute':
        await moderation.unmuteUser(ctx, { target_id: target, user_id: userId });
        text = `You unmuted @${target}.`;
        break;
      case 'ban':
        await moderation.ban(ctx, {
          target_id: target,
          cid,
          user_id: userId,
          ...(rest ? { reason: rest } : {}),
        });
        text = `@${target} was banned from this channel.`;
        break;
      case 'unban':
        await moderation.unban(ctx, { target_id: target, cid, user_id: userId });
        text = `@${target} was unbanned in this channel.`;
        break;
    }
    return ephemeral(
      { id: uuidv7(), cid, user_id: userId, parent_id: parentId, created_at: new Date() },
      text,
      [],
      {
        custom: { command: name, target_id: target },
      },
    );
  }

  /** Turns a handler's answer into a sent message, a (new or updated) preview, or a cancelled one. */
  private async applyAnswer(
    ctx: RequestContext,
    cid: string,
    userId: string,
    body: SendMessageBody,
    command: CommandRow,
    args: string,
    answer: CommandAnswer,
    preview: CommandPreviewRow | undefined,
  ): Promise<CommandResult> {
    const { message } = answer;
    const text = `/${command.name} ${args}`.trim();
    const now = new Date();
    const target = preview ?? {
      id: uuidv7(now.getTime()),
      cid,
      user_id: userId,
      parent_id: body.parent_id ?? null,
      created_at: now,
    };
    if (message.type === 'cancel') {
      if (preview) await commandsRepository.deletePreview(this.db, ctx.app.id, preview.id);
      return { message: ephemeral(target, text, [], { deleted: true }), created: false };
    }
    if (message.type === 'ephemeral') {
      const state: CustomState = {
        kind: 'custom',
        text: message.text,
        attachments: message.attachments,
        custom: message.custom,
      };
      const row = preview
        ? await commandsRepository.updatePreview(this.db, ctx.app.id, preview.id, state)
        : await commandsRepository.insertPreview(this.db, ctx.app.id, {
            ...target,
            command: command.name,
            args,
            state,
            expires_at: new Date(now.getTime() + PREVIEW_TTL_MS),
          });
      return { message: previewMessage(row, state, text), created: false };
    }
    const sent = await this.messages().send(ctx, cid, {
      ...body,
      ...(preview ? { client_msg_id: `preview:${preview.id}` } : {}),
      text: message.text,
      attachments: message.attachments.map(({ actions: _actions, ...a }) => a),
      ...(message.custom ? { custom: message.custom } : {}),
      user_id: userId,
    });
    if (preview) await commandsRepository.deletePreview(this.db, ctx.app.id, preview.id);
    return sent;
  }

  /** POSTs the signed request to the command's URL and validates the answer. */
  private async callHandler(
    ctx: RequestContext,
    command: CommandRow,
    request: CommandRequest,
  ): Promise<CommandAnswer> {
    const url = command.url ?? (ctx.app.settings as { commands_url?: string | null }).commands_url ?? null;
    if (!url) throw new AppError('COMMAND_NOT_CONFIGURED', undefined, { command: command.name });
    const body = JSON.stringify(request);
    const timestamp = Math.floor(Date.now() / 1000);
    const failed = (reason: string, extra: Record<string, unknown> = {}) =>
      new AppError('COMMAND_WEBHOOK_FAILED', `/${command.name} failed: ${reason}`, {
        command: command.name,
        reason,
        ...extra,
      });
    let res: Awaited<ReturnType<typeof outboundRequest>>;
    try {
      res = await outboundRequest({
        url,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Parley-Commands/1',
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(command.secret, timestamp, body),
          'X-Parley-Command': command.name,
        },
        body,
        timeoutMs: this.config.COMMAND_TIMEOUT_MS,
        allowPrivate: this.config.OUTBOUND_ALLOW_PRIVATE,
      });
    } catch (error) {
      if (error instanceof OutboundTimeoutError) {
        throw new AppError(
          'COMMAND_WEBHOOK_TIMEOUT',
          `/${command.name} did not answer within ${this.config.COMMAND_TIMEOUT_MS} ms`,
          { command: command.name, timeout_ms: this.config.COMMAND_TIMEOUT_MS },
        );
      }
      throw failed((error as Error).message);
    }
    if (res.status < 200 || res.status >= 300)
      throw failed(`the handler answered ${res.status}`, { status: res.status });
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch {
      throw failed('the answer is not JSON');
    }
    const parsed = CommandAnswer.safeParse(json);
    if (!parsed.success) {
      throw failed('the answer is not a command answer', {
        issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    return parsed.data;
  }

  private async userOf(ctx: RequestContext, userId: string) {
    if (ctx.actor.kind === 'user' && ctx.actor.user.id === userId)
      return { id: userId, name: ctx.actor.user.name };
    const user = await usersRepository.find(this.db, ctx.app.id, userId);
    return { id: userId, name: user?.name ?? null };
  }

  private async row(ctx: RequestContext, name: string): Promise<CommandRow> {
    const row = await commandsRepository.find(this.db, ctx.app.id, name);
    if (!row) throw new AppError('COMMAND_NOT_FOUND', undefined, { field: 'command_name' });
    return row;
  }
}

const parentOf = (preview: Pick<CommandPreviewRow, 'parent_id'>) =>
  preview.parent_id ? { parent_id: preview.parent_id } : {};
