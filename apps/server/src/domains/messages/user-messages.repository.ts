import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import { qualifiedMessageColumns } from './message-columns.js';

/**
 * Bits of `user_messages.flags` (the Zulip UserMessage pattern). A bit never changes meaning;
 * new flags take new bits. STARRED marks starred/saved messages (domains/stars; starred_at set with it).
 */
export const MessageFlag = {
  MENTIONED: 1,
  STARRED: 2,
  /** On the thread parent's row: the user wrote the parent or replied in the thread. */
  THREAD_PARTICIPANT: 4,
} as const;

export interface FlagRow {
  user_id: string;
  message_id: string;
  cid: string;
  seq: number;
  flags: number;
}

/** "Is this bit set": written the same way as the partial index predicates of migration 0009. */
export const hasFlag = (flag: number) => sql<boolean>`user_messages.flags & ${sql.lit(flag)} <> 0`;

/**
 * Not written by a user `viewerId` blocked (as messagesRepository.page): a primary-key probe of
 * `blocks` per row. For queries that select from `messages`.
 */
export const notByBlocked = (appId: string, viewerId: string) =>
  sql<boolean>`not exists (select 1 from blocks b where b.app_id = ${appId} and b.user_id = ${viewerId} and b.target_id = messages.user_id)`;

/**
 * The user's `user_messages` rows with `flag` set, in channels they are still in (joined to their
 * membership).
 */
export function flaggedInChannels(db: Executor, appId: string, userId: string, flag: number) {
  return db
    .selectFrom('user_messages')
    .innerJoin('members', (j) =>
      j
        .onRef('members.app_id', '=', 'user_messages.app_id')
        .onRef('members.cid', '=', 'user_messages.cid')
        .onRef('members.user_id', '=', 'user_messages.user_id'),
    )
    .where('user_messages.app_id', '=', appId)
    .where('user_messages.user_id', '=', userId)
    .where(hasFlag(flag))
    .where('members.invite_rejected_at', 'is', null);
}

/** As flaggedInChannels, joined to the flagged messages. */
export function flaggedMessagesInChannels(db: Executor, appId: string, userId: string, flag: number) {
  return flaggedInChannels(db, appId, userId, flag).innerJoin('messages', (j) =>
    j
      .onRef('messages.app_id', '=', 'user_messages.app_id')
      .onRef('messages.id', '=', 'user_messages.message_id'),
  );
}

export const userMessagesRepository = {
  /**
   * Sets flags (OR) on (user, message) rows, creating them as needed, in one statement. Rows of
   * users that no longer exist are skipped (a thread parent's author may have been deleted).
   */
  async addFlags(db: Executor, appId: string, rows: FlagRow[]) {
    const merged = new Map<string, FlagRow>();
    for (const row of rows) {
      const key = `${row.user_id}\u0000${row.message_id}`;
      const seen = merged.get(key);
      merged.set(key, seen ? { ...seen, flags: seen.flags | row.flags } : row);
    }
    if (merged.size === 0) return;
    const list = [...merged.values()];
    await sql`
      insert into user_messages (app_id, user_id, message_id, cid, seq, flags)
      select ${appId}, v.user_id, v.message_id, v.cid, v.seq, v.flags
      from unnest(
        ${list.map((r) => r.user_id)}::text[], ${list.map((r) => r.message_id)}::uuid[],
        ${list.map((r) => r.cid)}::text[], ${list.map((r) => r.seq)}::int[], ${list.map((r) => r.flags)}::int[]
      ) as v(user_id, message_id, cid, seq, flags)
      where exists (select 1 from users u where u.app_id = ${appId} and u.id = v.user_id)
      on conflict (app_id, user_id, message_id) do update set flags = user_messages.flags | excluded.flags`.execute(
      db,
    );
  },

  /** Clears `flag` on a message for every user except `keep`. */
  async clearFlag(db: Executor, appId: string, messageId: string, flag: number, keep: string[] = []) {
    let q = db
      .updateTable('user_messages')
      .set({ flags: sql<number>`flags & ${sql.lit(~flag)}` })
      .where('app_id', '=', appId)
      .where('message_id', '=', messageId)
      .where(hasFlag(flag));
    if (keep.length) q = q.where('user_id', 'not in', keep);
    await q.execute();
  },

  /**
   * "My mentions", newest first: an index scan of user_messages_mentioned_idx, limited to
   * channels the user is still in, without messages of users they blocked. Returned as a query so tests can EXPLAIN exactly this.
   */
  mentionsQuery(
    db: Executor,
    appId: string,
    userId: string,
    opts: { cid?: string; beforeId?: string; unreadOnly: boolean; limit: number },
  ) {
    let q = flaggedMessagesInChannels(db, appId, userId, MessageFlag.MENTIONED)
      .select(qualifiedMessageColumns)
      .where('messages.deleted_at', 'is', null)
      .where(notByBlocked(appId, userId));
    if (opts.cid) q = q.where('user_messages.cid', '=', opts.cid);
    if (opts.beforeId) q = q.where('user_messages.message_id', '<', opts.beforeId);
    if (opts.unreadOnly)
      q = q.where(sql<boolean>`user_messages.seq > greatest(members.last_read_seq, members.cleared_seq)`);
    return q.orderBy('user_messages.message_id', 'desc').limit(opts.limit);
  },

  /** Unread mentions per channel: flagged rows above the member's read position, one query. */
  unreadMentionsQuery(db: Executor, appId: string, userId: string) {
    return flaggedInChannels(db, appId, userId, MessageFlag.MENTIONED)
      .select(['user_messages.cid', sql<number>`count(*)::int`.as('unread_mentions')])
      .where(sql<boolean>`user_messages.seq > greatest(members.last_read_seq, members.cleared_seq)`)
      .groupBy('user_messages.cid')
      .orderBy('user_messages.cid');
  },

  /**
   * Threads the user takes part in (THREAD_PARTICIPANT rows), most recent reply first, with the
   * user's read position and unread replies (live replies by others after it) in one query.
   * Limited to channels the user is still in. `parentIds` narrows to given threads.
   */
  threadsQuery(
    db: Executor,
    appId: string,
    userId: string,
    opts: { cid?: string; after?: { at: Date; id: string }; limit: number; parentIds?: string[] },
  ) {
    let q = flaggedMessagesInChannels(db, appId, userId, MessageFlag.THREAD_PARTICIPANT)
      .leftJoin('thread_reads', (j) =>
        j
          .onRef('thread_reads.app_id', '=', 'user_messages.app_id')
          .onRef('thread_reads.user_id', '=', 'user_messages.user_id')
          .onRef('thread_reads.parent_id', '=', 'user_messages.message_id'),
      )
      .select(qualifiedMessageColumns)
      .select([
        sql<number>`coalesce(thread_reads.last_read_seq, 0)`.as('last_read_seq'),
        'thread_reads.last_read_at',
        sql<number>`(select count(*)::int from messages r
          where r.app_id = messages.app_id and r.parent_id = messages.id
            and r.seq > coalesce(thread_reads.last_read_seq, 0)
            and r.deleted_at is null and r.user_id <> user_messages.user_id
            and not r.shadowed)`.as('unread_replies'),
      ])
      .where('messages.last_reply_at', 'is not', null);
    if (opts.cid) q = q.where('user_messages.cid', '=', opts.cid);
    if (opts.parentIds) q = q.where('user_messages.message_id', 'in', opts.parentIds);
    if (opts.after) {
      const { at, id } = opts.after;
      q = q.where(sql<boolean>`(messages.last_reply_at, messages.id) < (${at}::timestamptz, ${id}::uuid)`);
    }
    return q.orderBy('messages.last_reply_at', 'desc').orderBy('messages.id', 'desc').limit(opts.limit);
  },

  /**
   * Moves the user's read position in a thread forward (never back) to `seq`, or to the latest
   * reply when `seq` is null.
   */
  markThreadRead(
    db: Executor,
    appId: string,
    userId: string,
    parentId: string,
    seq: number | null,
    at: Date,
  ) {
    const target =
      seq ??
      sql<number>`(select coalesce(max(r.seq), 0) from messages r where r.app_id = ${appId} and r.parent_id = ${parentId})`;
    return db
      .insertInto('thread_reads')
      .values({
        app_id: appId,
        user_id: userId,
        parent_id: parentId,
        last_read_seq: target,
        last_read_at: at,
      })
      .onConflict((oc) =>
        oc.columns(['app_id', 'user_id', 'parent_id']).doUpdateSet({
          last_read_seq: sql<number>`greatest(thread_reads.last_read_seq, excluded.last_read_seq)`,
          last_read_at: at,
        }),
      )
      .returning(['last_read_seq', 'last_read_at'])
      .executeTakeFirstOrThrow();
  },
};
