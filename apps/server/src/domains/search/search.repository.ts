import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';

/** Marks the highlighted words in ts_headline output (private-use characters, removed from the text first). */
export const HIGHLIGHT_START = '\uE000';
export const HIGHLIGHT_STOP = '\uE001';

export type SearchOrder = 'relevance' | 'newest' | 'oldest';

/** Where the previous page ended: its last row's rank or created_at, and its id. */
export type SearchCursor =
  | { sort: 'relevance'; rank: number; id: string }
  | { sort: 'newest' | 'oldest'; at: string; id: string };

export interface SearchFilter {
  /** The text search configuration of the query (the app's search language). */
  config: string;
  query: string;
  viewerId: string;
  cids: string[];
  authorId?: string;
  hasAttachments?: boolean;
  createdAfter?: string;
  createdBefore?: string;
  parentId?: string;
  isReply?: boolean;
  sort: SearchOrder;
  cursor?: SearchCursor;
  limit: number;
}

export interface SearchHit {
  id: string;
  rank: number;
  created_at: string;
  headline: string;
}

const tsquery = (f: SearchFilter) => sql`websearch_to_tsquery(${f.config}::regconfig, ${f.query})`;

/**
 * The search statement (also EXPLAINed by the test that checks the GIN index is used). Messages of
 * the given channels matching the query, that the viewer may see: not deleted, not someone else's
 * shadowed message, not by a user the viewer blocked, after the viewer's cleared_seq (when they
 * are a member: `cids` may name public-read channels they have not joined) and the channel's
 * truncation. The caller decides which channels the viewer may read.
 */
export function searchStatement(appId: string, f: SearchFilter): RawBuilder<SearchHit> {
  const q = tsquery(f);
  const rank = sql`ts_rank(m.search_vector, ${q})`;
  const where = [
    sql`m.app_id = ${appId}`,
    sql`m.cid = any(${f.cids}::text[])`,
    sql`m.search_vector @@ ${q}`,
    sql`m.deleted_at is null`,
    sql`(not m.shadowed or m.user_id = ${f.viewerId})`,
    // Users the viewer blocked (as messagesRepository.page; blocks' primary key).
    sql`not exists (select 1 from blocks b where b.app_id = ${appId} and b.user_id = ${f.viewerId} and b.target_id = m.user_id)`,
  ];
  if (f.authorId !== undefined) where.push(sql`m.user_id = ${f.authorId}`);
  if (f.hasAttachments !== undefined)
    where.push(
      f.hasAttachments
        ? sql`jsonb_array_length(m.attachments) > 0`
        : sql`jsonb_array_length(m.attachments) = 0`,
    );
  if (f.createdAfter !== undefined) where.push(sql`m.created_at >= ${f.createdAfter}::timestamptz`);
  if (f.createdBefore !== undefined) where.push(sql`m.created_at < ${f.createdBefore}::timestamptz`);
  if (f.parentId !== undefined) where.push(sql`m.parent_id = ${f.parentId}::uuid`);
  if (f.isReply !== undefined)
    where.push(f.isReply ? sql`m.parent_id is not null` : sql`m.parent_id is null`);
  const c = f.cursor;
  if (c?.sort === 'relevance')
    where.push(sql`(${rank} < ${c.rank}::real or (${rank} = ${c.rank}::real and m.id < ${c.id}::uuid))`);
  else if (c?.sort === 'newest')
    where.push(sql`(m.created_at, m.id) < (${c.at}::timestamptz, ${c.id}::uuid)`);
  else if (c?.sort === 'oldest')
    where.push(sql`(m.created_at, m.id) > (${c.at}::timestamptz, ${c.id}::uuid)`);
  const order = (prefix: string) => {
    const p = sql.raw(prefix);
    return f.sort === 'relevance'
      ? sql`${p}rank desc, ${p}id desc`
      : f.sort === 'newest'
        ? sql`${p}created_at desc, ${p}id desc`
        : sql`${p}created_at asc, ${p}id asc`;
  };
  const options = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_STOP}, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "`;
  // `hits`: the matching messages of the channels, found through the GIN index (materialized, so
  // the planner does not turn it into a walk over every message of the user's channels); then
  // the viewer's cleared history and the channels' truncation; the page is chosen before
  // ts_headline (costly) runs, on its rows only.
  return sql<SearchHit>`
    with hits as materialized (
      select m.id, m.cid, m.seq, m.text, m.created_at, ${rank} as rank
        from messages m
       where ${sql.join(where, sql` and `)}
    )
    select p.id, p.rank,
           to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at,
           ts_headline(${f.config}::regconfig, translate(p.text, ${HIGHLIGHT_START + HIGHLIGHT_STOP}, ''),
                       ${q}, ${options}) as headline
      from (
        select h.id, h.text, h.created_at, h.rank
          from hits h
          join channels c on c.app_id = ${appId} and c.cid = h.cid
          left join members mem on mem.app_id = ${appId} and mem.cid = h.cid and mem.user_id = ${f.viewerId}
         where h.seq > coalesce(mem.cleared_seq, 0) and (c.truncated_at is null or h.created_at > c.truncated_at)
         order by ${order('h.')}
         limit ${f.limit}
      ) p
     order by ${order('p.')}`;
}

export const searchRepository = {
  async search(db: Executor, appId: string, f: SearchFilter): Promise<SearchHit[]> {
    const { rows } = await searchStatement(appId, f).execute(db);
    return rows.map((r) => ({ ...r, rank: Number(r.rank) }));
  },

  /**
   * Re-indexes up to `limit` messages of the app after `after` in (cid, id) order (an index range
   * of messages_channel_id_idx): those not yet on `config` get `text = text`, which runs the
   * search trigger (it reads the app's current search_language). Returns the last row looked at
   * (null when there was none), how many rows were looked at and how many were re-indexed.
   */
  async reindexBatch(
    tx: Executor,
    appId: string,
    config: string,
    after: { cid: string; id: string } | null,
    limit: number,
  ): Promise<{ last: { cid: string; id: string } | null; scanned: number; updated: number }> {
    const from = after ? sql`and (cid, id) > (${after.cid}, ${after.id}::uuid)` : sql``;
    const { rows } = await sql<{
      last_cid: string | null;
      last_id: string | null;
      scanned: number;
      updated: number;
    }>`
      with batch as materialized (
        select cid, id, search_config from messages
         where app_id = ${appId} ${from}
         order by cid, id
         limit ${limit}
      ), reindexed as (
        update messages m set text = m.text
          from batch b
         where m.app_id = ${appId} and m.cid = b.cid and m.id = b.id
           and b.search_config is distinct from ${config}::regconfig
        returning m.id
      ), last as (select cid, id from batch order by cid desc, id desc limit 1)
      select (select cid from last) as last_cid, (select id::text from last) as last_id,
             (select count(*)::int from batch) as scanned,
             (select count(*)::int from reindexed) as updated`.execute(tx);
    const row = rows[0]!;
    return {
      last: row.last_cid && row.last_id ? { cid: row.last_cid, id: row.last_id } : null,
      scanned: row.scanned,
      updated: row.updated,
    };
  },

  /** The name of the text search configuration, if the database has it. */
  async textSearchConfig(db: Executor, name: string): Promise<string | null> {
    const { rows } = await sql<{ cfgname: string }>`
      select cfgname from pg_catalog.pg_ts_config where cfgname = ${name} limit 1`.execute(db);
    return rows[0]?.cfgname ?? null;
  },
};
