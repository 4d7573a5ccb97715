import type {
  Attachment,
  ListScheduledMessagesQuery,
  ScheduledMessage,
  ScheduleMessageBody,
  UpdateScheduledMessageBody,
} from '@parley/protocol';
import type { z } from 'zod';
import type { JobSystem } from '../../jobs/boss.js';
import type { JobData } from '../../jobs/job-map.js';
import { userContext } from '../../platform/acting-user.js';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import { decodeCursor, encodeCursor, uuidKey } from '../../platform/cursor.js';
import type { Db, Executor } from '../../platform/db.js';
import type { ScheduledMessageRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { futureTime } from '../../platform/future-time.js';
import { uuidv7 } from '../../platform/ids.js';
import { checkCustomSize } from '../../platform/limits.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { messagesRepository } from '../messages/messages.repository.js';
import type { MessagesService } from '../messages/messages.service.js';
import { scheduledMessagesRepository } from './scheduled-messages.repository.js';

export function toScheduledMessageDto(row: ScheduledMessageRow): ScheduledMessage {
  return {
    id: row.id,
    cid: row.cid,
    user_id: row.user_id,
    send_at: row.send_at.toISOString(),
    text: row.text,
    attachments: row.attachments as Attachment[],
    custom: row.custom as Record<string, unknown>,
    mentioned_user_ids: row.mentioned_user_ids,
    parent_id: row.parent_id,
    reply_to_id: row.reply_to_id,
    show_in_channel: row.show_in_channel,
    status: row.status as ScheduledMessage['status'],
    message_id: row.message_id,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The client_msg_id a scheduled message is sent with: a retried job finds the message it sent. */
export const scheduledClientMsgId = (id: string) => `scheduled:${id}`;

/**
 * "Send later": a message kept until send_at, then sent by a `scheduled_message.send` job (enqueued
 * in the same transaction) through MessagesService.send as the author, so every rule of a normal
 * send applies at send time (membership, bans, freeze, slow mode, length, thread and quote targets,
 * mentions). If the send is refused, the schedule is marked `failed` with the error's code and
 * message, and the author's devices hear scheduled_message.updated. Obvious mistakes are refused
 * when scheduling: send_at in the past, a text over the channel's limit, a channel the author may
 * not send in, thread/quote targets outside the channel.
 */
export class ScheduledMessagesService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly jobs: JobSystem,
    private readonly channels: ChannelsService,
    private readonly messages: () => MessagesService,
  ) {}

  async create(ctx: RequestContext, cid: string, body: ScheduleMessageBody): Promise<ScheduledMessage> {
    const userId = actingUserId(ctx, body.user_id);
    const sendAt = futureTime(body.send_at, 'send_at');
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.checkContent(tx, ctx, cid, userId, body);
      const row = await scheduledMessagesRepository.insert(tx, ctx.app.id, {
        id: uuidv7(),
        user_id: userId,
        cid,
        send_at: sendAt,
        text: body.text,
        attachments: body.attachments,
        custom: body.custom ?? {},
        mentioned_user_ids: body.mentioned_user_ids,
        parent_id: body.parent_id ?? null,
        reply_to_id: body.reply_to_id ?? null,
        show_in_channel: body.parent_id ? body.show_in_channel : false,
      });
      await this.schedule(tx, ctx.app.id, row);
      const dto = toScheduledMessageDto(row);
      events.record('scheduled_message.updated', { cid, user_id: userId, scheduled_message: dto });
      return dto;
    });
  }

  async update(
    ctx: RequestContext,
    id: string,
    body: z.output<typeof UpdateScheduledMessageBody>,
  ): Promise<ScheduledMessage> {
    const userId = actingUserId(ctx, body.user_id);
    const sendAt = body.send_at ? futureTime(body.send_at, 'send_at') : undefined;
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const current = await this.own(tx, ctx, id, userId);
      if (current.status !== 'scheduled') {
        throw new AppError('SCHEDULED_MESSAGE_DONE', `the scheduled message is ${current.status}`, {
          status: current.status,
        });
      }
      const next = {
        text: body.text ?? current.text,
        attachments: body.attachments ?? (current.attachments as Attachment[]),
        mentioned_user_ids: body.mentioned_user_ids ?? current.mentioned_user_ids,
      };
      await this.checkContent(tx, ctx, current.cid, userId, {
        ...next,
        ...(current.parent_id ? { parent_id: current.parent_id } : {}),
        ...(current.reply_to_id ? { reply_to_id: current.reply_to_id } : {}),
      });
      const row = await scheduledMessagesRepository.update(tx, ctx.app.id, id, {
        text: next.text,
        attachments: JSON.stringify(next.attachments),
        mentioned_user_ids: next.mentioned_user_ids,
        ...(body.custom ? { custom: JSON.stringify(body.custom) } : {}),
        ...(sendAt ? { send_at: sendAt } : {}),
      });
      if (sendAt) await this.schedule(tx, ctx.app.id, row);
      const dto = toScheduledMessageDto(row);
      events.record('scheduled_message.updated', { cid: row.cid, user_id: userId, scheduled_message: dto });
      return dto;
    });
  }

  /** Cancels (or forgets a sent or failed) scheduled message: the row goes, its job becomes a no-op. */
  async delete(ctx: RequestContext, id: string, requestedUserId?: string): Promise<void> {
    const userId = actingUserId(ctx, requestedUserId);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const current = await this.own(tx, ctx, id, userId);
      await scheduledMessagesRepository.delete(tx, ctx.app.id, id);
      events.record('scheduled_message.deleted', {
        cid: current.cid,
        user_id: userId,
        scheduled_message_id: id,
      });
    });
  }

  async get(ctx: RequestContext, id: string, requestedUserId?: string): Promise<ScheduledMessage> {
    const userId = actingUserId(ctx, requestedUserId);
    return toScheduledMessageDto(await this.own(this.db, ctx, id, userId));
  }

  async list(ctx: RequestContext, query: z.output<typeof ListScheduledMessagesQuery>) {
    const userId = actingUserId(ctx, query.user_id);
    let after: { at: Date; id: string } | undefined;
    if (query.next) {
      const { at, keys } = decodeCursor(query.next, 1);
      after = { at, id: uuidKey(keys[0]) };
    }
    const rows = await scheduledMessagesRepository.list(this.db, ctx.app.id, userId, {
      ...(query.cid ? { cid: query.cid } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(after ? { after } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      scheduled_messages: page.map(toScheduledMessageDto),
      next: rows.length > query.limit && last ? encodeCursor(last.send_at, last.id) : null,
    };
  }

  /**
   * The `scheduled_message.send` job. Sends through the normal path as the author; on a refusal
   * (an AppError: removed from the channel, banned, frozen, deleted thread parent, …) marks the
   * schedule failed with the reason. Other errors throw, so the job is retried; the derived
   * client_msg_id makes the retried send return the message already sent.
   */
  async sendDue(data: JobData<'scheduled_message.send'>): Promise<void> {
    const row = await scheduledMessagesRepository.findForUpdate(this.db, data.app_id, data.id);
    if (row?.status !== 'scheduled' || row.send_at.getTime() !== new Date(data.send_at).getTime()) return;
    let outcome: { message_id: string } | { code: string; message: string };
    const ctx = await userContext(this.db, data.app_id, row.user_id);
    if (!ctx) {
      outcome = { code: 'USER_DELETED', message: 'the author no longer exists' };
    } else {
      try {
        const { message } = await this.messages().send(ctx, row.cid, {
          client_msg_id: scheduledClientMsgId(row.id),
          text: row.text,
          attachments: row.attachments as Attachment[],
          custom: row.custom as Record<string, unknown>,
          mentioned_user_ids: row.mentioned_user_ids,
          ...(row.parent_id ? { parent_id: row.parent_id } : {}),
          ...(row.reply_to_id ? { reply_to_id: row.reply_to_id } : {}),
          show_in_channel: row.show_in_channel,
        });
        outcome = { message_id: message.id };
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        outcome = { code: error.code, message: error.message };
      }
    }
    await inTransaction(this.db, this.bus, data.app_id, async (tx, events) => {
      const current = await scheduledMessagesRepository.findForUpdate(tx, data.app_id, data.id);
      // Cancelled or rescheduled while sending: a message that went out stays sent, nothing else to do.
      if (current?.status !== 'scheduled') return;
      const updated = await scheduledMessagesRepository.update(
        tx,
        data.app_id,
        data.id,
        'message_id' in outcome
          ? { status: 'sent', message_id: outcome.message_id, error_code: null, error_message: null }
          : { status: 'failed', error_code: outcome.code, error_message: outcome.message },
      );
      events.record('scheduled_message.updated', {
        cid: updated.cid,
        user_id: updated.user_id,
        scheduled_message: toScheduledMessageDto(updated),
      });
    });
  }

  private async own(db: Executor, ctx: RequestContext, id: string, userId: string) {
    const row = await scheduledMessagesRepository.findForUpdate(db, ctx.app.id, id);
    // Someone else's schedule is as invisible as a missing one.
    if (!row || row.user_id !== userId) throw new AppError('SCHEDULED_MESSAGE_NOT_FOUND');
    return row;
  }

  /** The checks a send would make that do not depend on the time of sending. */
  private async checkContent(
    tx: Executor,
    ctx: RequestContext,
    cid: string,
    userId: string,
    body: { text: string; attachments: unknown[]; parent_id?: string; reply_to_id?: string },
  ) {
    const access = await this.channels.access(tx, ctx, cid, 'send', userId);
    const max = access.config.max_message_length;
    const length = body.text.length > max ? [...body.text].length : body.text.length;
    if (length > max) {
      throw new AppError('MESSAGE_TOO_LONG', `the text is ${length} characters; the limit is ${max}`, {
        field: 'text',
      });
    }
    if (body.text.trim() === '' && body.attachments.length === 0)
      throw new AppError('MESSAGE_EMPTY', undefined, { field: 'text' });
    if (body.parent_id && !access.config.replies)
      throw new AppError('FORBIDDEN', 'replies are off for this channel type', { field: 'parent_id' });
    const ids = [body.parent_id, body.reply_to_id].filter((id): id is string => id !== undefined);
    if (ids.length === 0) return;
    const found = await messagesRepository.findMany(tx, ctx.app.id, [...new Set(ids)]);
    for (const [id, field] of [
      [body.parent_id, 'parent_id'],
      [body.reply_to_id, 'reply_to_id'],
    ] as const) {
      if (!id) continue;
      const row = found.find((m) => m.id === id);
      if (!row || row.cid !== cid || (row.shadowed && row.user_id !== userId)) {
        throw new AppError('MESSAGE_NOT_FOUND', `message ${id} does not exist in this channel`, { field });
      }
      if (row.deleted_at) throw new AppError('MESSAGE_DELETED', `message ${id} was deleted`, { field });
      if (field === 'parent_id' && row.parent_id) {
        throw new AppError('THREAD_NESTED', 'threads do not nest: reply to the thread parent', {
          field,
          parent_id: row.parent_id,
        });
      }
    }
  }

  private async schedule(tx: Executor, appId: string, row: ScheduledMessageRow) {
    const sendAt = row.send_at.toISOString();
    await this.jobs.send(
      tx,
      'scheduled_message.send',
      { app_id: appId, id: row.id, send_at: sendAt },
      { startAfter: row.send_at, idempotencyKey: `${appId}\u0000${row.id}\u0000${sendAt}` },
    );
  }
}
