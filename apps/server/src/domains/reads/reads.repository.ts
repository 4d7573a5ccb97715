import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';

export interface UnreadRow {
  cid: string;
  unread_count: number;
  last_read_seq: number;
  last_read_at: Date | null;
}

export const readsRepository = {
  /**
   * Moves the member's read position forward only (never back: a late mark-read from another
   * device must not resurrect unread messages). Returns the row, or undefined if not a member.
   */
  markRead(db: Executor, appId: string, cid: string, userId: string, seq: number, at: Date) {
    return db
      .updateTable('members')
      .set({ last_read_seq: sql<number>`greatest(last_read_seq, ${seq})`, last_read_at: at, updated_at: at })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .returning(['last_read_seq', 'last_read_at'])
      .executeTakeFirst();
  },

  /** Marks every channel of the user read, up to each channel's last seq. One statement. */
  async markAllRead(db: Executor, appId: string, userId: string, at: Date) {
    await sql`
      update members m set last_read_seq = c.last_seq, last_read_at = ${at}, updated_at = ${at}
      from channels c
      where m.app_id = ${appId} and m.user_id = ${userId}
        and c.app_id = m.app_id and c.cid = m.cid and m.last_read_seq < c.last_seq`.execute(db);
  },

  /**
   * Unread counts for every channel of a user in one indexed query: seq arithmetic on the member
   * row (last_seq − max(last_read_seq, cleared_seq)), no row per message per member.
   */
  async unreadCounts(db: Executor, appId: string, userId: string): Promise<UnreadRow[]> {
    const result = await sql<UnreadRow>`
      select m.cid,
             greatest(0, c.last_seq - greatest(m.last_read_seq, m.cleared_seq))::int as unread_count,
             m.last_read_seq, m.last_read_at
      from members m
      join channels c on c.app_id = m.app_id and c.cid = m.cid
      where m.app_id = ${appId} and m.user_id = ${userId}
        and m.invite_rejected_at is null
      order by m.cid`.execute(db);
    return result.rows;
  },
};
