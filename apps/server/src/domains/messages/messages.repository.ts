import type { Executor } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';

export interface NewMessageRow {
  id: string;
  cid: string;
  seq: number;
  user_id: string;
  client_msg_id: string | null;
  type: string;
  text: string;
  custom: Record<string, unknown>;
  attachments: unknown[];
  mentioned_user_ids: string[];
  parent_id: string | null;
  reply_to_id: string | null;
  show_in_channel: boolean;
  created_at: Date;
}

export interface MessageWindow {
  /** Only messages with seq above this (member's cleared history). */
  afterSeq: number;
  /** Only messages created after this (channel truncation). */
  after: Date | null;
}

export const messagesRepository = {
  /** Returns undefined when (channel, user, client_msg_id) already exists: the caller returns that one. */
  insert(db: Executor, appId: string, m: NewMessageRow): Promise<MessageRow | undefined> {
    return db
      .insertInto('messages')
      .values({
        ...m,
        app_id: appId,
        custom: JSON.stringify(m.custom),
        attachments: JSON.stringify(m.attachments),
        updated_at: m.created_at,
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  },

  find(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('messages')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  findByClientId(db: Executor, appId: string, cid: string, userId: string, clientMsgId: string) {
    return db
      .selectFrom('messages')
      .selectAll()
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .where('client_msg_id', '=', clientMsgId)
      .executeTakeFirst();
  },

  lastByUserSince(db: Executor, appId: string, cid: string, userId: string, since: Date) {
    return db
      .selectFrom('messages')
      .select(['created_at'])
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .where('created_at', '>', since)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  },

  /**
   * A page of channel-visible messages (top level, or thread replies also sent to the channel),
   * strictly before or after `seq`, in ascending seq order.
   */
  async page(
    db: Executor,
    appId: string,
    cid: string,
    window: MessageWindow,
    opts: { direction: 'before' | 'after'; seq: number | null; inclusive?: boolean; limit: number },
  ): Promise<MessageRow[]> {
    let q = db
      .selectFrom('messages')
      .selectAll()
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('seq', '>', window.afterSeq)
      .where((eb) => eb.or([eb('parent_id', 'is', null), eb('show_in_channel', '=', true)]));
    if (window.after) q = q.where('created_at', '>', window.after);
    if (opts.seq !== null) {
      const op = opts.direction === 'before' ? (opts.inclusive ? '<=' : '<') : opts.inclusive ? '>=' : '>';
      q = q.where('seq', op, opts.seq);
    }
    const rows = await q
      .orderBy('seq', opts.direction === 'before' ? 'desc' : 'asc')
      .limit(opts.limit)
      .execute();
    return opts.direction === 'before' ? rows.reverse() : rows;
  },

  update(db: Executor, appId: string, id: string, patch: Record<string, unknown>) {
    return db
      .updateTable('messages')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },

  async delete(db: Executor, appId: string, id: string) {
    await db.deleteFrom('messages').where('app_id', '=', appId).where('id', '=', id).execute();
  },
};
