import { sql } from 'kysely';
import type { Executor, Tx } from '../../platform/db.js';
import type { MemberRow } from '../../platform/db.types.js';

/** A row to append to the event log (see migration 0012). */
export interface LogEntry {
  type: string;
  cid: string | null;
  user_id: string | null;
  only_user_id: string | null;
  audience: string[] | null;
  payload: Record<string, unknown>;
}

export interface LoggedEvent {
  seq: string;
  type: string;
  cid: string | null;
  user_id: string | null;
  only_user_id: string | null;
  payload: Record<string, unknown>;
}

/** An instant as text with microseconds, in UTC (the sync cursor). */
const cursorText = (expr: ReturnType<typeof sql>) =>
  sql<string>`to_char(${expr} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const syncRepository = {
  /** Every membership row of the user (any channel type; the policy decides what they may read). */
  membershipsOf(db: Executor, appId: string, userId: string): Promise<MemberRow[]> {
    return db
      .selectFrom('members')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .execute();
  },

  /** The users `userId` blocked (their messages are hidden for them; blocks' primary key). */
  async blockedBy(db: Executor, appId: string, userId: string): Promise<Set<string>> {
    const rows = await db
      .selectFrom('blocks')
      .select('target_id')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .execute();
    return new Set(rows.map((r) => r.target_id));
  },

  /**
   * Appends the entries with the app's next seqs, in one statement. The upsert of the app's head
   * row locks it until commit, so transactions that log events commit one after the other in seq
   * order. logged_at is strictly increasing per app and never before the events' created_at.
   * Returns the last seq taken and the log time.
   */
  async append(tx: Tx, appId: string, entries: LogEntry[], notBefore: string) {
    const count = entries.length;
    const { rows } = await sql<{ seq: string; logged_at: Date }>`
      with head as (
        insert into event_log_heads as h (app_id, last_seq, last_logged_at)
        values (${appId}, ${count}, greatest(clock_timestamp(), ${notBefore}::timestamptz))
        on conflict (app_id) do update set
          last_seq = h.last_seq + ${count},
          last_logged_at = greatest(
            clock_timestamp(), h.last_logged_at + interval '1 microsecond', ${notBefore}::timestamptz)
        returning last_seq, last_logged_at
      )
      insert into event_log (app_id, seq, type, cid, user_id, only_user_id, audience, payload, logged_at)
      select ${appId}, head.last_seq - ${count} + e.ord, e.value->>'type', e.value->>'cid', e.value->>'user_id',
             e.value->>'only_user_id',
             case when jsonb_typeof(e.value->'audience') = 'array'
                  then array(select jsonb_array_elements_text(e.value->'audience')) end,
             e.value->'payload', head.last_logged_at
        from head, jsonb_array_elements(${JSON.stringify(entries)}::jsonb) with ordinality as e(value, ord)
      returning seq::text as seq, logged_at`.execute(tx);
    const last = rows.reduce((max, r) => (BigInt(r.seq) > max ? BigInt(r.seq) : max), 0n);
    return { lastSeq: last, loggedAt: rows[0]!.logged_at };
  },

  /** Shadowed messages among `ids`, with their authors. */
  async shadowedAuthors(tx: Tx, appId: string, ids: string[]) {
    const rows = await tx
      .selectFrom('messages')
      .select(['id', 'user_id'])
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .where('shadowed', '=', true)
      .execute();
    return new Map(rows.map((r) => [r.id, r.user_id]));
  },

  /** The members of channels deleted in this transaction (remembered by a BEFORE DELETE trigger). */
  async deletedChannelMembers(tx: Tx): Promise<Record<string, string[]>> {
    const { rows } = await sql<{ value: string | null }>`
      select current_setting('parley.deleted_channel_members', true) as value`.execute(tx);
    const value = rows[0]?.value;
    return value ? (JSON.parse(value) as Record<string, string[]>) : {};
  },

  /**
   * Deletes up to `batch` events logged before `before` and moves pruned_through past them.
   * Bounded so the write that triggers it stays fast; later writes continue.
   */
  async prune(tx: Tx, appId: string, before: Date, batch: number) {
    const { rows } = await sql<{ newest: Date | null }>`
      with gone as (
        delete from event_log
         where app_id = ${appId}
           and seq in (select seq from event_log where app_id = ${appId} and logged_at < ${before}
                       order by seq limit ${batch})
        returning logged_at)
      select max(logged_at) as newest from gone`.execute(tx);
    const newest = rows[0]?.newest;
    if (newest) {
      await sql`update event_log_heads set pruned_through = greatest(pruned_through, ${newest})
                where app_id = ${appId}`.execute(tx);
    }
    return newest ?? null;
  },

  /** The head as seen now, and how `since` compares with the retention window and the pruned part. */
  async head(db: Executor, appId: string, since: string, maxAgeDays: number) {
    const { rows } = await sql<{
      last_seq: string | null;
      cursor: string;
      too_old: boolean;
      pruned: boolean;
    }>`
      select h.last_seq::text as last_seq,
             ${cursorText(sql`greatest(coalesce(h.last_logged_at, '-infinity'), ${since}::timestamptz)`)} as cursor,
             ${since}::timestamptz < now() - make_interval(days => ${maxAgeDays}) as too_old,
             coalesce(${since}::timestamptz < h.pruned_through, false) as pruned
        from (select 1) one
        left join event_log_heads h on h.app_id = ${appId}`.execute(db);
    return rows[0]!;
  },

  /** The first seq logged after `since`, up to `lastSeq` (null when nothing was). */
  async firstSeqAfter(db: Executor, appId: string, since: string, lastSeq: string) {
    const { rows } = await sql<{ seq: string | null }>`
      select min(seq)::text as seq from event_log
       where app_id = ${appId} and logged_at > ${since}::timestamptz and seq <= ${lastSeq}`.execute(db);
    return rows[0]?.seq ?? null;
  },

  /**
   * Channels with events about the user in the range (membership changes, their own events) and
   * channels deleted while the user was a member.
   */
  async cidsAboutUser(db: Executor, appId: string, userId: string, fromSeq: string, toSeq: string) {
    const { rows } = await sql<{ cid: string }>`
      select distinct cid from event_log
       where app_id = ${appId} and seq between ${fromSeq} and ${toSeq} and cid is not null
         and (user_id = ${userId} or (type = 'channel.deleted' and ${userId} = any(audience)))`.execute(db);
    return rows.map((r) => r.cid);
  },

  /**
   * The events in [fromSeq, toSeq] of these channels, those only for this user, and channel
   * deletions the user was a member at; in seq order, at most `limit`.
   */
  async candidates(
    db: Executor,
    appId: string,
    userId: string,
    cids: string[],
    range: { fromSeq: string; toSeq: string },
    limit: number,
  ): Promise<LoggedEvent[]> {
    const { rows } = await sql<LoggedEvent>`
      select seq::text as seq, type, cid, user_id, only_user_id, payload
        from event_log
       where app_id = ${appId}
         and seq between ${range.fromSeq} and ${range.toSeq}
         and (cid = any(${cids}::text[])
              or only_user_id = ${userId}
              or (cid is null and user_id = ${userId})
              or (user_id = ${userId} and type in ('member.added', 'member.removed'))
              or (type = 'channel.deleted' and ${userId} = any(audience)))
       order by seq
       limit ${limit}`.execute(db);
    return rows;
  },
};
