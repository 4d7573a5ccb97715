import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { ScheduledMessageRow } from '../../platform/db.types.js';

export interface NewScheduledMessage {
  id: string;
  user_id: string;
  cid: string;
  send_at: Date;
  text: string;
  attachments: unknown[];
  custom: Record<string, unknown>;
  mentioned_user_ids: string[];
  parent_id: string | null;
  reply_to_id: string | null;
  show_in_channel: boolean;
}

export const scheduledMessagesRepository = {
  insert(db: Executor, appId: string, m: NewScheduledMessage) {
    return db
      .insertInto('scheduled_messages')
      .values({
        ...m,
        app_id: appId,
        attachments: JSON.stringify(m.attachments),
        custom: JSON.stringify(m.custom),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  findForUpdate(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('scheduled_messages')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
  },

  update(db: Executor, appId: string, id: string, patch: Record<string, unknown>) {
    return db
      .updateTable('scheduled_messages')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async delete(db: Executor, appId: string, id: string) {
    await db.deleteFrom('scheduled_messages').where('app_id', '=', appId).where('id', '=', id).execute();
  },

  /** The user's scheduled messages by send_at (scheduled_messages_by_user_idx). */
  list(
    db: Executor,
    appId: string,
    userId: string,
    opts: { cid?: string; status?: string; after?: { at: Date; id: string }; limit: number },
  ): Promise<ScheduledMessageRow[]> {
    let q = db
      .selectFrom('scheduled_messages')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId);
    if (opts.cid) q = q.where('cid', '=', opts.cid);
    if (opts.status) q = q.where('status', '=', opts.status);
    if (opts.after) {
      const { at, id } = opts.after;
      q = q.where(sql<boolean>`(send_at, id) > (${at}::timestamptz, ${id}::uuid)`);
    }
    return q.orderBy('send_at').orderBy('id').limit(opts.limit).execute();
  },
};
