import type { CreateReminderBody, ListRemindersQuery, Reminder, UpdateReminderBody } from '@parley/protocol';
import type { z } from 'zod';
import type { JobSystem } from '../../jobs/boss.js';
import type { JobData } from '../../jobs/job-map.js';
import { userContext } from '../../platform/acting-user.js';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import { decodeCursor, encodeCursor, uuidKey } from '../../platform/cursor.js';
import type { Db, Executor } from '../../platform/db.js';
import type { ReminderRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { futureTime } from '../../platform/future-time.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { enrichOne } from '../messages/messages.dto.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { remindersRepository } from './reminders.repository.js';

export function toReminderDto(row: ReminderRow): Reminder {
  return {
    message_id: row.message_id,
    cid: row.cid,
    user_id: row.user_id,
    remind_at: row.remind_at.toISOString(),
    note: row.note,
    delivered_at: row.delivered_at ? row.delivered_at.toISOString() : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

type ReminderTime = Pick<z.output<typeof CreateReminderBody>, 'remind_at' | 'remind_in_seconds'>;

/** remind_at or remind_in_seconds (exactly one) → a time in the future. */
function remindTime(body: ReminderTime): Date | undefined {
  if (body.remind_at !== undefined && body.remind_in_seconds !== undefined) {
    throw new AppError('VALIDATION_FAILED', 'give remind_at or remind_in_seconds, not both', {
      field: 'remind_in_seconds',
    });
  }
  if (body.remind_at !== undefined) return futureTime(body.remind_at, 'remind_at');
  if (body.remind_in_seconds !== undefined) return new Date(Date.now() + body.remind_in_seconds * 1000);
  return undefined;
}

/**
 * "Remind me about this message at/in …" (Slack's and Stream's reminders): one reminder per user
 * per message. Setting or moving one enqueues a `reminder.due` job for remind_at in the same
 * transaction; the job carries the time it was set for, so a moved or cancelled reminder turns
 * older jobs into no-ops. When due, notification.reminder_due goes to the user's own channel
 * with the message, if the user may still read it.
 */
export class RemindersService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly jobs: JobSystem,
    private readonly channels: ChannelsService,
  ) {}

  async create(ctx: RequestContext, messageId: string, body: z.output<typeof CreateReminderBody>) {
    const userId = actingUserId(ctx, body.user_id);
    const at = remindTime(body);
    if (!at) {
      throw new AppError('VALIDATION_FAILED', 'give remind_at or remind_in_seconds', { field: 'remind_at' });
    }
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const message = await messagesRepository.find(tx, ctx.app.id, messageId);
      if (!message || (message.shadowed && message.user_id !== userId))
        throw new AppError('MESSAGE_NOT_FOUND');
      await this.channels.access(tx, ctx, message.cid, 'read', userId);
      if (message.deleted_at) throw new AppError('MESSAGE_DELETED');
      const row = await remindersRepository.insert(tx, ctx.app.id, {
        user_id: userId,
        message_id: message.id,
        cid: message.cid,
        remind_at: at,
        note: body.note ?? null,
      });
      if (!row) throw new AppError('REMINDER_EXISTS', undefined, { field: 'message_id' });
      await this.schedule(tx, ctx.app.id, row);
      const reminder = toReminderDto(row);
      events.record('reminder.updated', { cid: row.cid, user_id: userId, reminder });
      return reminder;
    });
  }

  /** Moves (a new time re-arms a delivered reminder) or re-notes a reminder. */
  async update(ctx: RequestContext, messageId: string, body: z.output<typeof UpdateReminderBody>) {
    const userId = actingUserId(ctx, body.user_id);
    const at = remindTime(body);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const current = await remindersRepository.findForUpdate(tx, ctx.app.id, userId, messageId);
      if (!current) throw new AppError('REMINDER_NOT_FOUND', undefined, { field: 'message_id' });
      const row = await remindersRepository.update(tx, ctx.app.id, userId, messageId, {
        ...(at ? { remind_at: at, delivered_at: null } : {}),
        ...(body.note !== undefined ? { note: body.note } : {}),
      });
      if (at) await this.schedule(tx, ctx.app.id, row);
      const reminder = toReminderDto(row);
      events.record('reminder.updated', { cid: row.cid, user_id: userId, reminder });
      return reminder;
    });
  }

  /** Cancels a reminder: its row goes, so its job finds nothing to do. */
  async delete(ctx: RequestContext, messageId: string, requestedUserId?: string) {
    const userId = actingUserId(ctx, requestedUserId);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const row = await remindersRepository.delete(tx, ctx.app.id, userId, messageId);
      if (!row) throw new AppError('REMINDER_NOT_FOUND', undefined, { field: 'message_id' });
      events.record('reminder.deleted', { cid: row.cid, user_id: userId, message_id: messageId });
    });
  }

  async list(ctx: RequestContext, query: z.output<typeof ListRemindersQuery>) {
    const userId = actingUserId(ctx, query.user_id);
    let after: { at: Date; id: string } | undefined;
    if (query.next) {
      const { at, keys } = decodeCursor(query.next, 1);
      after = { at, id: uuidKey(keys[0]) };
    }
    const rows = await remindersRepository.list(this.db, ctx.app.id, userId, {
      status: query.status,
      ...(after ? { after } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      reminders: page.map(toReminderDto),
      next: rows.length > query.limit && last ? encodeCursor(last.remind_at, last.message_id) : null,
    };
  }

  /**
   * The `reminder.due` job: delivers the reminder if it is still set for this time and not yet
   * delivered; otherwise does nothing (moved, cancelled, or a repeated run).
   */
  async deliverDue(data: JobData<'reminder.due'>): Promise<void> {
    await inTransaction(this.db, this.bus, data.app_id, async (tx, events) => {
      const row = await remindersRepository.findForUpdate(tx, data.app_id, data.user_id, data.message_id);
      if (!row || row.delivered_at || row.remind_at.getTime() !== new Date(data.remind_at).getTime()) return;
      const delivered = await remindersRepository.update(tx, data.app_id, data.user_id, data.message_id, {
        delivered_at: new Date(),
      });
      const message = await messagesRepository.find(tx, data.app_id, data.message_id);
      const ctx = await userContext(tx, data.app_id, data.user_id);
      if (!message || !ctx) return;
      try {
        await this.channels.access(tx, ctx, message.cid, 'read', data.user_id);
      } catch (error) {
        if (error instanceof AppError) return; // no longer allowed to read: the reminder lapses quietly
        throw error;
      }
      events.record('notification.reminder_due', {
        cid: row.cid,
        user_id: data.user_id,
        reminder: toReminderDto(delivered),
        message: await enrichOne(tx, data.app_id, message, data.user_id),
      });
    });
  }

  private async schedule(tx: Executor, appId: string, row: ReminderRow) {
    const remindAt = row.remind_at.toISOString();
    await this.jobs.send(
      tx,
      'reminder.due',
      { app_id: appId, user_id: row.user_id, message_id: row.message_id, remind_at: remindAt },
      {
        startAfter: row.remind_at,
        idempotencyKey: `${appId}\u0000${row.user_id}\u0000${row.message_id}\u0000${remindAt}`,
      },
    );
  }
}
