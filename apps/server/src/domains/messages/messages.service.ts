import type {
  Attachment,
  ListMessagesQuery,
  Message,
  SendMessageBody,
  UpdateMessageBody,
} from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Executor } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { uuidv7 } from '../../platform/ids.js';
import { checkCustomSize } from '../../platform/limits.js';
import { authorize, can } from '../channels/channels.policy.js';
import { channelsRepository } from '../channels/channels.repository.js';
import { type ChannelAccess, type ChannelsService, subjectOf } from '../channels/channels.service.js';
import { membersRepository } from '../members/members.repository.js';
import { messagesRepository } from './messages.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toMessageDto(row: MessageRow): Message {
  return {
    id: row.id,
    cid: row.cid,
    seq: row.seq,
    user_id: row.user_id,
    client_msg_id: row.client_msg_id,
    type: row.type as Message['type'],
    text: row.text,
    custom: row.custom as Record<string, unknown>,
    attachments: row.attachments as Attachment[],
    mentioned_user_ids: row.mentioned_user_ids,
    parent_id: row.parent_id,
    reply_to_id: row.reply_to_id,
    show_in_channel: row.show_in_channel,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    edited_at: iso(row.edited_at),
    deleted_at: iso(row.deleted_at),
  };
}

/** Text length is counted in characters (code points), so an emoji counts once. */
function checkLength(text: string, max: number) {
  const length = text.length > max ? [...text].length : text.length;
  if (length > max) {
    throw new AppError('MESSAGE_TOO_LONG', `the text is ${length} characters; the limit is ${max}`, {
      field: 'text',
    });
  }
}

/** Thrown inside the send transaction to roll it back when the client_msg_id already exists. */
class DuplicateSend extends Error {}

export class MessagesService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  /**
   * Sends a message. Idempotent on (channel, user, client_msg_id): a repeat returns the first
   * message with `created: false` and emits nothing. Checks, in order: membership and bans,
   * freeze, slow mode, length, thread/quote targets; then takes the next seq and inserts.
   */
  async send(
    ctx: RequestContext,
    cid: string,
    body: SendMessageBody,
  ): Promise<{ message: Message; created: boolean }> {
    const userId = actingUserId(ctx, body.user_id);
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    if (body.client_msg_id) {
      const existing = await messagesRepository.findByClientId(
        this.db,
        ctx.app.id,
        cid,
        userId,
        body.client_msg_id,
      );
      if (existing) {
        await this.channels.access(this.db, ctx, cid, 'read', userId);
        return { message: toMessageDto(existing), created: false };
      }
    }
    try {
      const row = await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
        const access = await this.channels.access(tx, ctx, cid, 'send', userId);
        await this.checkSendRules(tx, ctx, access, userId, body);
        const next = await channelsRepository.nextSeq(tx, ctx.app.id, cid, new Date());
        const now = next.created_at;
        const { last_seq } = next;
        const inserted = await messagesRepository.insert(tx, ctx.app.id, {
          id: uuidv7(now.getTime()),
          cid,
          seq: last_seq,
          user_id: userId,
          client_msg_id: body.client_msg_id ?? null,
          type: body.parent_id ? 'reply' : 'regular',
          text: body.text,
          custom: body.custom ?? {},
          attachments: body.attachments,
          mentioned_user_ids: [...new Set(body.mentioned_user_ids)],
          parent_id: body.parent_id ?? null,
          reply_to_id: body.reply_to_id ?? null,
          show_in_channel: body.parent_id ? body.show_in_channel : false,
          created_at: now,
        });
        if (!inserted) throw new DuplicateSend();
        await membersRepository.unhideAll(tx, ctx.app.id, cid);
        events.record('message.new', { cid, message: toMessageDto(inserted) });
        return inserted;
      });
      return { message: toMessageDto(row), created: true };
    } catch (error) {
      if (!(error instanceof DuplicateSend)) throw error;
      const existing = await messagesRepository.findByClientId(
        this.db,
        ctx.app.id,
        cid,
        userId,
        body.client_msg_id!,
      );
      return { message: toMessageDto(existing!), created: false };
    }
  }

  private async checkSendRules(
    tx: Executor,
    ctx: RequestContext,
    access: ChannelAccess,
    userId: string,
    body: SendMessageBody,
  ) {
    const { channel, config } = access;
    const subject = subjectOf(ctx, access);
    if (channel.frozen && !can('send_when_frozen', subject)) throw new AppError('CHANNEL_FROZEN');
    checkLength(body.text, config.max_message_length);
    if (body.text.trim() === '' && body.attachments.length === 0)
      throw new AppError('MESSAGE_EMPTY', undefined, { field: 'text' });
    const slowMode = channel.slow_mode_seconds ?? config.slow_mode_seconds;
    if (slowMode > 0 && !can('skip_slow_mode', subject)) {
      const since = new Date(Date.now() - slowMode * 1000);
      const last = await messagesRepository.lastByUserSince(tx, ctx.app.id, channel.cid, userId, since);
      if (last) {
        const retry = Math.max(
          1,
          Math.ceil((last.created_at.getTime() + slowMode * 1000 - Date.now()) / 1000),
        );
        throw new AppError('SLOW_MODE', `slow mode: wait ${retry}s before sending again`, {
          retry_after_seconds: retry,
        });
      }
    }
    if (body.parent_id) {
      if (!config.replies)
        throw new AppError('FORBIDDEN', 'replies are off for this channel type', { field: 'parent_id' });
      const parent = await this.requireSameChannelMessage(
        tx,
        ctx.app.id,
        channel.cid,
        body.parent_id,
        'parent_id',
      );
      if (parent.parent_id)
        throw new AppError('VALIDATION_FAILED', 'threads do not nest: reply to the thread parent', {
          field: 'parent_id',
        });
    }
    if (body.reply_to_id) {
      if (!config.quotes)
        throw new AppError('FORBIDDEN', 'quoted replies are off for this channel type', {
          field: 'reply_to_id',
        });
      await this.requireSameChannelMessage(tx, ctx.app.id, channel.cid, body.reply_to_id, 'reply_to_id');
    }
  }

  private async requireSameChannelMessage(
    db: Executor,
    appId: string,
    cid: string,
    id: string,
    field: string,
  ) {
    const target = await messagesRepository.find(db, appId, id);
    if (!target || target.cid !== cid) {
      throw new AppError('MESSAGE_NOT_FOUND', `message ${id} does not exist in this channel`, { field });
    }
    return target;
  }

  async get(ctx: RequestContext, id: string, userId?: string): Promise<Message> {
    const row = await this.findRow(ctx, id);
    await this.channels.access(this.db, ctx, row.cid, 'read', optionalActingUserId(ctx, userId));
    return toMessageDto(row);
  }

  /** Cursor pagination by message id (never offset): latest, before, after or around a message. */
  async list(
    ctx: RequestContext,
    cid: string,
    query: z.output<typeof ListMessagesQuery>,
  ): Promise<Message[]> {
    const cursors = (['id_lt', 'id_gt', 'id_around'] as const).filter((k) => query[k] !== undefined);
    if (cursors.length > 1) {
      throw new AppError('VALIDATION_FAILED', 'use at most one of id_lt, id_gt, id_around', {
        field: `query.${cursors[1]}`,
      });
    }
    const access = await this.channels.access(this.db, ctx, cid, 'read', query.user_id);
    const window = { afterSeq: access.membership?.cleared_seq ?? 0, after: access.channel.truncated_at };
    const seqOf = async (id: string, field: string) =>
      (await this.requireSameChannelMessage(this.db, ctx.app.id, cid, id, `query.${field}`)).seq;
    const page = (direction: 'before' | 'after', seq: number | null, limit: number, inclusive = false) =>
      messagesRepository.page(this.db, ctx.app.id, cid, window, { direction, seq, limit, inclusive });

    let rows: MessageRow[];
    if (query.id_lt) rows = await page('before', await seqOf(query.id_lt, 'id_lt'), query.limit);
    else if (query.id_gt) rows = await page('after', await seqOf(query.id_gt, 'id_gt'), query.limit);
    else if (query.id_around) {
      const seq = await seqOf(query.id_around, 'id_around');
      const before = Math.floor(query.limit / 2);
      const [older, newer] = await Promise.all([
        before > 0 ? page('before', seq, before) : Promise.resolve([]),
        page('after', seq, query.limit - before, true),
      ]);
      rows = [...older, ...newer];
    } else rows = await page('before', null, query.limit);
    return rows.map(toMessageDto);
  }

  async update(ctx: RequestContext, id: string, body: z.output<typeof UpdateMessageBody>): Promise<Message> {
    const userId = optionalActingUserId(ctx, body.user_id);
    const current = await this.findRow(ctx, id);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, current.cid, 'read', userId);
      const own = userId === current.user_id;
      authorize(own ? 'edit_own_message' : 'edit_any_message', subjectOf(ctx, access));
      if (current.deleted_at) throw new AppError('MESSAGE_DELETED');
      if (body.text !== undefined) checkLength(body.text, access.config.max_message_length);
      const text = body.text ?? current.text;
      const attachments = body.attachments ?? (current.attachments as unknown[]);
      if (text.trim() === '' && attachments.length === 0)
        throw new AppError('MESSAGE_EMPTY', undefined, { field: 'text' });
      if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
      const row = await messagesRepository.update(tx, ctx.app.id, id, {
        text,
        attachments: JSON.stringify(attachments),
        ...(body.custom ? { custom: JSON.stringify(body.custom) } : {}),
        ...(body.mentioned_user_ids ? { mentioned_user_ids: [...new Set(body.mentioned_user_ids)] } : {}),
        edited_at: new Date(),
      });
      const dto = toMessageDto(row!);
      events.record('message.updated', { cid: current.cid, message: dto });
      return dto;
    });
  }

  /** Soft delete leaves a tombstone (id and seq kept, content cleared); hard delete removes the row. */
  async delete(ctx: RequestContext, id: string, hard: boolean, requestedUserId?: string): Promise<Message> {
    const userId = optionalActingUserId(ctx, requestedUserId);
    const current = await this.findRow(ctx, id);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, current.cid, 'read', userId);
      const subject = subjectOf(ctx, access);
      authorize(userId === current.user_id ? 'delete_own_message' : 'delete_any_message', subject);
      if (hard) {
        authorize('hard_delete_message', subject);
        await messagesRepository.delete(tx, ctx.app.id, id);
        const dto = toMessageDto(current);
        events.record('message.deleted', { cid: current.cid, message: dto, hard: true });
        return dto;
      }
      const row = await messagesRepository.update(tx, ctx.app.id, id, {
        type: 'deleted',
        text: '',
        attachments: '[]',
        custom: '{}',
        mentioned_user_ids: [],
        deleted_at: current.deleted_at ?? new Date(),
      });
      const dto = toMessageDto(row!);
      events.record('message.deleted', { cid: current.cid, message: dto, hard: false });
      return dto;
    });
  }

  private async findRow(ctx: RequestContext, id: string): Promise<MessageRow> {
    const row = await messagesRepository.find(this.db, ctx.app.id, id);
    if (!row) throw new AppError('MESSAGE_NOT_FOUND');
    return row;
  }
}
