import { LATEST_REACTIONS_LIMIT } from '@parley/protocol';
import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { MessageRow, ReactionRow } from '../../platform/db.types.js';
import { messageColumns } from '../messages/message-columns.js';
import { nextUpdatedAt } from '../messages/messages.repository.js';

export interface ReactionCursor {
  created_at: Date;
  user_id: string;
  type: string;
}

/** The order of latest reactions and of the reaction list: created_at, user_id, type, descending. */
export function newestFirst(a: ReactionRow, b: ReactionRow): number {
  const t = b.created_at.getTime() - a.created_at.getTime();
  if (t !== 0) return t;
  if (a.user_id !== b.user_id) return a.user_id < b.user_id ? 1 : -1;
  return a.type === b.type ? 0 : a.type < b.type ? 1 : -1;
}

export const reactionsRepository = {
  forUser(db: Executor, appId: string, messageId: string, userId: string) {
    return db
      .selectFrom('reactions')
      .selectAll()
      .where('app_id', '=', appId)
      .where('message_id', '=', messageId)
      .where('user_id', '=', userId)
      .execute();
  },

  /**
   * Adds the reaction, or sets the score of the existing one (the primary key makes concurrent
   * identical adds one row). `inserted` tells which happened.
   */
  async upsert(
    db: Executor,
    appId: string,
    r: { message_id: string; user_id: string; type: string; score: number; at: Date },
  ): Promise<ReactionRow & { inserted: boolean }> {
    const row = await db
      .insertInto('reactions')
      .values({
        app_id: appId,
        message_id: r.message_id,
        user_id: r.user_id,
        type: r.type,
        score: r.score,
        created_at: r.at,
        updated_at: r.at,
      })
      .onConflict((oc) =>
        oc
          .columns(['app_id', 'message_id', 'user_id', 'type'])
          .doUpdateSet({ score: r.score, updated_at: r.at }),
      )
      .returningAll()
      .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
      .executeTakeFirstOrThrow();
    return row;
  },

  /** Deletes the user's reactions of the given types (all but `except` when types is null). */
  delete(
    db: Executor,
    appId: string,
    messageId: string,
    userId: string,
    opts: { types: string[] } | { except: string },
  ) {
    let q = db
      .deleteFrom('reactions')
      .where('app_id', '=', appId)
      .where('message_id', '=', messageId)
      .where('user_id', '=', userId);
    q = 'types' in opts ? q.where('type', 'in', opts.types) : q.where('type', '<>', opts.except);
    return q.returningAll().execute();
  },

  async deleteAllForMessage(db: Executor, appId: string, messageId: string) {
    await db
      .deleteFrom('reactions')
      .where('app_id', '=', appId)
      .where('message_id', '=', messageId)
      .execute();
  },

  /**
   * Recomputes the message's reaction_counts and reaction_scores from its reactions (not by
   * increments: whatever happened before, the counters equal the rows), and moves updated_at. The caller holds the
   * message row lock, so concurrent reactions on one message apply one after the other.
   */
  refreshCounts(db: Executor, appId: string, messageId: string): Promise<MessageRow> {
    return db
      .updateTable('messages')
      .set({
        reaction_counts: sql<string>`coalesce((select jsonb_object_agg(g.type, g.n) from (select type, count(*)::int as n from reactions where app_id = ${appId} and message_id = ${messageId} group by type) g), '{}'::jsonb)`,
        reaction_scores: sql<string>`coalesce((select jsonb_object_agg(g.type, g.s) from (select type, sum(score)::int as s from reactions where app_id = ${appId} and message_id = ${messageId} group by type) g), '{}'::jsonb)`,
        updated_at: nextUpdatedAt,
      })
      .where('app_id', '=', appId)
      .where('id', '=', messageId)
      .returning(messageColumns)
      .executeTakeFirstOrThrow();
  },

  /**
   * For a page of messages, in one query: each message's latest reactions (an index walk of at
   * most LATEST_REACTIONS_LIMIT rows per message) and the viewer's own reactions.
   */
  async forMessages(
    db: Executor,
    appId: string,
    messageIds: string[],
    viewerId: string | undefined,
  ): Promise<{ latest: ReactionRow[]; own: ReactionRow[] }> {
    const latest = sql`
      select 'latest' as kind, r.app_id, r.message_id, r.user_id, r.type, r.score, r.created_at, r.updated_at
      from unnest(${messageIds}::uuid[]) as m(id)
      cross join lateral (
        select * from reactions x
        where x.app_id = ${appId} and x.message_id = m.id
        order by x.created_at desc, x.user_id desc, x.type desc
        limit ${sql.lit(LATEST_REACTIONS_LIMIT)}
      ) r`;
    const own = sql`
      select 'own' as kind, r.app_id, r.message_id, r.user_id, r.type, r.score, r.created_at, r.updated_at
      from reactions r
      where r.app_id = ${appId} and r.message_id = any(${messageIds}::uuid[]) and r.user_id = ${viewerId ?? null}`;
    const query = viewerId ? sql`${latest} union all ${own}` : latest;
    const { rows } = await sql<ReactionRow & { kind: 'latest' | 'own' }>`${query}`.execute(db);
    const result = { latest: [] as ReactionRow[], own: [] as ReactionRow[] };
    rows.sort(newestFirst);
    for (const { kind, ...row } of rows) result[kind].push(row);
    return result;
  },

  /** A page of a message's reactions, newest first, after `cursor`. */
  list(
    db: Executor,
    appId: string,
    messageId: string,
    opts: { type?: string; cursor?: ReactionCursor; limit: number },
  ) {
    let q = db
      .selectFrom('reactions')
      .selectAll()
      .where('app_id', '=', appId)
      .where('message_id', '=', messageId);
    if (opts.type) q = q.where('type', '=', opts.type);
    if (opts.cursor) {
      const c = opts.cursor;
      q = q.where(
        sql<boolean>`(created_at, user_id, type) < (${c.created_at}::timestamptz, ${c.user_id}::text, ${c.type}::text)`,
      );
    }
    return q
      .orderBy('created_at', 'desc')
      .orderBy('user_id', 'desc')
      .orderBy('type', 'desc')
      .limit(opts.limit)
      .execute();
  },
};
