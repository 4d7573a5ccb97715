import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { ReminderRow } from '../../platform/db.types.js';

export const remindersRepository = {
  /** Inserts a reminder; undefined when the user already has one for this message. */
  insert(
    db: Executor,
    appId: string,
    r: { user_id: string; message_id: string; cid: string; remind_at: Date; note: string | null },
  ) {
    return db
      .insertInto('reminders')
      .values({ ...r, app_id: appId })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  },

  findForUpdate(db: Executor, appId: string, userId: string, messageId: string) {
    return db
      .selectFrom('reminders')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('message_id', '=', messageId)
      .forUpdate()
      .executeTakeFirst();
  },

  update(db: Executor, appId: string, userId: string, messageId: string, patch: Record<string, unknown>) {
    return db
      .updateTable('reminders')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('message_id', '=', messageId)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async delete(db: Executor, appId: string, userId: string, messageId: string) {
    const row = await db
      .deleteFrom('reminders')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('message_id', '=', messageId)
      .returningAll()
      .executeTakeFirst();
    return row;
  },

  /** The user's reminders by remind_at (reminders_by_user_idx), after an optional cursor. */
  list(
    db: Executor,
    appId: string,
    userId: string,
    opts: { status: 'upcoming' | 'delivered' | 'all'; after?: { at: Date; id: string }; limit: number },
  ): Promise<ReminderRow[]> {
    let q = db.selectFrom('reminders').selectAll().where('app_id', '=', appId).where('user_id', '=', userId);
    if (opts.status === 'upcoming') q = q.where('delivered_at', 'is', null);
    if (opts.status === 'delivered') q = q.where('delivered_at', 'is not', null);
    if (opts.after) {
      const { at, id } = opts.after;
      q = q.where(sql<boolean>`(remind_at, message_id) > (${at}::timestamptz, ${id}::uuid)`);
    }
    return q.orderBy('remind_at').orderBy('message_id').limit(opts.limit).execute();
  },
};
