import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';

export interface UnreadRow {
  cid: string;
  unread_count: number;
  unread_mentions: number;
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
      .set({
        last_read_seq: sql<number>`greatest(last_read_seq, ${seq})`,
        last_read_at: at,
        // What was read was delivered.
        last_delivered_seq: sql<number>`greatest(last_delivered_seq, ${seq})`,
        last_delivered_at: sql<Date>`case when last_delivered_seq < ${seq} then ${at}::timestamptz else last_delivered_at end`,
        updated_at: at,
      })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .returning(['last_read_seq', 'last_read_at'])
      .executeTakeFirst();
  },

  /** Marks every channel of the user read, up to each channel's last seq. One statement. */
  async markAllRead(db: Executor, appId: string, userId: string, at: Date) {
    await sql`
      update members m set last_read_seq = c.last_seq, last_read_at = ${at}, updated_at = ${at},
        last_delivered_seq = greatest(m.last_delivered_seq, c.last_seq),
        last_delivered_at = case when m.last_delivered_seq < c.last_seq then ${at}::timestamptz else m.last_delivered_at end
      from channels c
      where m.app_id = ${appId} and m.user_id = ${userId}
        and c.app_id = m.app_id and c.cid = m.cid and m.last_read_seq < c.last_seq`.execute(db);
  },

  /**
   * Moves the read position back to just before a message (mark unread): unlike markRead it may
   * go backwards. Returns undefined if not a member.
   */
  markUnread(db: Executor, appId: string, cid: string, userId: string, seq: number, at: Date) {
    return db
      .updateTable('members')
      .set({ last_read_seq: seq, last_read_at: at, updated_at: at })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .returning(['last_read_seq', 'last_read_at'])
      .executeTakeFirst();
  },

  /** The user's memberships in `cids`, with each channel's type and last seq (mark delivered). */
  membershipsIn(db: Executor, appId: string, userId: string, cids: string[]) {
    return db
      .selectFrom('members')
      .innerJoin('channels', (j) =>
        j.onRef('channels.app_id', '=', 'members.app_id').onRef('channels.cid', '=', 'members.cid'),
      )
      .selectAll('members')
      .select(['channels.type', 'channels.last_seq'])
      .where('members.app_id', '=', appId)
      .where('members.user_id', '=', userId)
      .where('members.cid', 'in', cids)
      .execute();
  },

  /**
   * Moves delivered positions forward (never back) for several channels in one statement; returns
   * only the rows that moved.
   */
  async markDelivered(
    db: Executor,
    appId: string,
    userId: string,
    positions: { cid: string; seq: number }[],
    at: Date,
  ): Promise<{ cid: string; last_delivered_seq: number; last_delivered_at: Date | null }[]> {
    if (positions.length === 0) return [];
    const result = await sql<{ cid: string; last_delivered_seq: number; last_delivered_at: Date | null }>`
      update members m set last_delivered_seq = v.seq, last_delivered_at = ${at}, updated_at = ${at}
      from unnest(${positions.map((p) => p.cid)}::text[], ${positions.map((p) => p.seq)}::int[]) as v(cid, seq)
      where m.app_id = ${appId} and m.user_id = ${userId} and m.cid = v.cid and m.last_delivered_seq < v.seq
      returning m.cid, m.last_delivered_seq, m.last_delivered_at`.execute(db);
    return result.rows;
  },

  /** Members of a channel other than `exceptUserId` with their read and delivered positions (read-by lists). */
  receipts(db: Executor, appId: string, cid: string, exceptUserId: string) {
    return db
      .selectFrom('members')
      .select(['user_id', 'last_read_seq', 'last_read_at', 'last_delivered_seq', 'last_delivered_at'])
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '<>', exceptUserId)
      .where('invite_rejected_at', 'is', null)
      .where((eb) => eb.or([eb('invited', '=', false), eb('invite_accepted_at', 'is not', null)]))
      .orderBy('user_id')
      .execute();
  },

  /**
   * Unread counts for every channel of a user in one indexed query: seq arithmetic on the member
   * row (last_seq − max(last_read_seq, cleared_seq)), no row per message per member. Unread
   * mentions per channel come from the same query: MENTIONED user_messages rows above the read
   * position (an index range of user_messages_unread_mentions_idx per channel). Others' shadowed
   * messages above the read position are subtracted (migration 0011's partial index).
   */
  async unreadCounts(db: Executor, appId: string, userId: string): Promise<UnreadRow[]> {
    const result = await sql<UnreadRow>`
      select m.cid,
             greatest(0, c.last_seq - greatest(m.last_read_seq, m.cleared_seq)
               -- others' shadowed messages never count (messages_shadowed_idx: a short range scan)
               - (select count(*) from messages s
                   where s.app_id = m.app_id and s.cid = m.cid and s.shadowed
                     and s.seq > greatest(m.last_read_seq, m.cleared_seq) and s.user_id <> m.user_id)
             )::int as unread_count,
             m.last_read_seq, m.last_read_at,
             (select count(*)::int from user_messages um
               where um.app_id = m.app_id and um.user_id = m.user_id and um.cid = m.cid
                 and um.flags & 1 <> 0 and um.seq > greatest(m.last_read_seq, m.cleared_seq)) as unread_mentions
      from members m
      join channels c on c.app_id = m.app_id and c.cid = m.cid
      where m.app_id = ${appId} and m.user_id = ${userId}
        and m.invite_rejected_at is null
      order by m.cid`.execute(db);
    return result.rows;
  },
};
