import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { ChannelRow, MemberRow } from '../../platform/db.types.js';

export interface NewChannel {
  cid: string;
  type: string;
  id: string;
  name: string | null;
  image: string | null;
  custom: Record<string, unknown>;
  created_by: string | null;
  frozen: boolean;
  slow_mode_seconds: number | null;
  distinct_key: string | null;
}

export interface ChannelPatch {
  name?: string | null;
  image?: string | null;
  custom?: Record<string, unknown>;
  frozen?: boolean;
  slow_mode_seconds?: number | null;
}

/** What `claimSeqForSend` returns: the channel after the seq was taken, the sender's membership, the seq. */
export interface ClaimedSeq {
  channel: ChannelRow;
  membership: MemberRow | undefined;
  last_seq: number;
  created_at: Date;
}

/** A channel row joined with one member's columns, prefixed `m_` (null when not a member). */
type ChannelWithMemberRow = ChannelRow & {
  m_user_id: string | null;
  m_role: string;
  m_invited: boolean;
  m_invite_accepted_at: Date | null;
  m_invite_rejected_at: Date | null;
  m_last_read_seq: number;
  m_last_read_at: Date | null;
  m_hidden: boolean;
  m_cleared_seq: number;
  m_last_delivered_seq: number;
  m_last_delivered_at: Date | null;
  m_created_at: Date;
  m_updated_at: Date;
  m_banned: boolean;
};

/**
 * The member columns of a `members m` join, prefixed, with the channel ban computed from `bans`
 * like every member read (members.repository.ts: the stored members.banned is not read).
 */
const membershipColumns = (appId: string) => sql`
  m.user_id as m_user_id, m.role as m_role, m.invited as m_invited,
  m.invite_accepted_at as m_invite_accepted_at, m.invite_rejected_at as m_invite_rejected_at,
  m.last_read_seq as m_last_read_seq, m.last_read_at as m_last_read_at, m.hidden as m_hidden,
  m.cleared_seq as m_cleared_seq, m.last_delivered_seq as m_last_delivered_seq,
  m.last_delivered_at as m_last_delivered_at, m.created_at as m_created_at, m.updated_at as m_updated_at,
  exists (select 1 from bans b where b.app_id = ${appId} and b.cid = m.cid and b.user_id = m.user_id
    and (b.expires_at is null or b.expires_at > now())) as m_banned`;

function splitMembership(row: ChannelWithMemberRow): {
  channel: ChannelRow;
  membership: MemberRow | undefined;
} {
  const {
    m_user_id,
    m_role,
    m_invited,
    m_invite_accepted_at,
    m_invite_rejected_at,
    m_last_read_seq,
    m_last_read_at,
    m_hidden,
    m_cleared_seq,
    m_last_delivered_seq,
    m_last_delivered_at,
    m_created_at,
    m_updated_at,
    m_banned,
    ...channel
  } = row;
  const membership: MemberRow | undefined =
    m_user_id === null
      ? undefined
      : {
          app_id: channel.app_id,
          cid: channel.cid,
          user_id: m_user_id,
          role: m_role,
          invited: m_invited,
          invite_accepted_at: m_invite_accepted_at,
          invite_rejected_at: m_invite_rejected_at,
          banned: m_banned,
          last_read_seq: m_last_read_seq,
          last_read_at: m_last_read_at,
          hidden: m_hidden,
          cleared_seq: m_cleared_seq,
          last_delivered_seq: m_last_delivered_seq,
          last_delivered_at: m_last_delivered_at,
          created_at: m_created_at,
          updated_at: m_updated_at,
        };
  return { channel, membership };
}

/** Each (cid, user) pair's channel and the user's membership and ban, in the order of `pairs`. */
async function findPairs(
  db: Executor,
  appId: string,
  pairs: readonly { cid: string; user_id: string | null }[],
  suffix: RawBuilder<unknown>,
): Promise<({ channel: ChannelRow; membership: MemberRow | undefined } | undefined)[]> {
  const result = await sql<ChannelWithMemberRow & { pair: number | string }>`
    select v.pair, c.*, ${membershipColumns(appId)}
    from unnest(${pairs.map((p) => p.cid)}::text[], ${pairs.map((p) => p.user_id)}::text[])
      with ordinality as v(cid, user_id, pair)
    join channels c on c.app_id = ${appId} and c.cid = v.cid
    left join members m on m.app_id = ${appId} and m.cid = v.cid and m.user_id = v.user_id
    ${suffix}
  `.execute(db);
  const found: ({ channel: ChannelRow; membership: MemberRow | undefined } | undefined)[] = pairs.map(
    () => undefined,
  );
  for (const { pair, ...row } of result.rows) found[Number(pair) - 1] = splitMembership(row);
  return found;
}

export const channelsRepository = {
  /**
   * Inserts unless the cid or distinct key exists; returns undefined on conflict. Timestamps come
   * from here at millisecond precision, as the API shows them, so `created_at: { $gt: c.created_at }`
   * never matches `c` itself.
   */
  async insert(db: Executor, appId: string, channel: NewChannel): Promise<ChannelRow | undefined> {
    const now = new Date();
    return db
      .insertInto('channels')
      .values({
        ...channel,
        app_id: appId,
        custom: JSON.stringify(channel.custom),
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  },

  find(db: Executor, appId: string, cid: string) {
    return db
      .selectFrom('channels')
      .selectAll()
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .executeTakeFirst();
  },

  findByDistinctKey(db: Executor, appId: string, key: string) {
    return db
      .selectFrom('channels')
      .selectAll()
      .where('app_id', '=', appId)
      .where('distinct_key', '=', key)
      .executeTakeFirst();
  },

  update(db: Executor, appId: string, cid: string, patch: ChannelPatch) {
    const { custom, ...rest } = patch;
    return db
      .updateTable('channels')
      .set({ ...rest, ...(custom ? { custom: JSON.stringify(custom) } : {}), updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .returningAll()
      .executeTakeFirst();
  },

  async delete(db: Executor, appId: string, cid: string) {
    await db.deleteFrom('channels').where('app_id', '=', appId).where('cid', '=', cid).execute();
  },

  /**
   * Takes the next per-channel sequence number and the message's timestamp. The row lock this
   * takes also serialises concurrent sends to one channel until the transaction ends, which keeps
   * seq gap-free. The timestamp never goes back within a channel and is always after the last
   * truncation, so "created after truncated_at" is exactly "sent after the truncate".
   */
  /**
   * The send path's one statement before the insert (ADR 0015). It
   * - takes the channel's next seq (the row lock serialises sends, ADR 0003) and the message's
   *   created_at: `at`, but never before the last message nor at or before the truncation;
   * - makes the channel visible again for every member who hid it;
   * - returns the channel row (after the update) with the sender's membership and channel ban.
   * A `shadowed` message (shadow-banned author, ADR 0010) takes a seq and a time but leaves
   * last_message_at and updated_at alone and unhides the channel for its author only: nobody else
   * sees it, so the channel must not move up in other members' lists.
   * Undefined when the channel does not exist. Callers check the sender's rights on the result and
   * roll the transaction back when they are missing, which undoes the seq and the unhide.
   */
  async claimSeqForSend(
    db: Executor,
    appId: string,
    cid: string,
    userId: string | undefined,
    at: Date,
    opts: { shadowed: boolean },
  ): Promise<ClaimedSeq | undefined> {
    const stamp = sql`greatest(${at}::timestamptz, last_message_at, truncated_at + interval '1 millisecond')`;
    const setLastMessage = opts.shadowed ? sql`` : sql`, last_message_at = ${stamp}, updated_at = ${stamp}`;
    const unhideOnly = opts.shadowed ? sql`and user_id = ${userId ?? null}` : sql``;
    const result = await sql<ChannelWithMemberRow & { seq_created_at: Date | string }>`
      with ch as (
        update channels set last_seq = last_seq + 1 ${setLastMessage}
        where app_id = ${appId} and cid = ${cid}
        returning *, ${stamp} as seq_created_at
      ), unhidden as (
        update members set hidden = false
        where app_id = ${appId} and cid = ${cid} and hidden ${unhideOnly} and exists (select 1 from ch)
      )
      select ch.*, ${membershipColumns(appId)}
      from ch left join members m on m.app_id = ${appId} and m.cid = ${cid} and m.user_id = ${userId ?? null}
    `.execute(db);
    const row = result.rows[0];
    if (!row) return undefined;
    const { seq_created_at, ...rest } = row;
    const { channel, membership } = splitMembership(rest);
    return { channel, membership, last_seq: channel.last_seq, created_at: new Date(seq_created_at) };
  },

  /**
   * Group commit (ADR 0016): locks the channels of a batch of sends, always in cid order so that
   * two processes' batches cannot deadlock, and returns each (channel, sender) pair with the
   * sender's membership and ban. Pairs whose channel does not exist are absent.
   */
  lockForBatch(db: Executor, appId: string, pairs: readonly { cid: string; user_id: string }[]) {
    return findPairs(db, appId, pairs, sql`order by c.cid for update of c`);
  },

  /**
   * `findWithMembership` for many (channel, user) pairs in one statement (batched reads, ADR 0017);
   * a pair without a user reads no membership. Pairs whose channel does not exist are absent.
   */
  findManyWithMembership(
    db: Executor,
    appId: string,
    pairs: readonly { cid: string; user_id: string | null }[],
  ) {
    return findPairs(db, appId, pairs, sql``);
  },

  /**
   * Group commit (ADR 0016): takes `count` seqs in each channel (its rows are already locked by
   * lockForBatch) and unhides the channels for members who hid them. Returns each channel's last
   * seq and the batch's created_at in it (never before its last message nor its truncation).
   */
  async claimSeqsForBatch(
    db: Executor,
    appId: string,
    counts: readonly { cid: string; count: number }[],
    at: Date,
  ): Promise<Map<string, { last_seq: number; created_at: Date }>> {
    const stamp = sql`greatest(${at}::timestamptz, c.last_message_at, c.truncated_at + interval '1 millisecond')`;
    const result = await sql<{ cid: string; last_seq: number; created_at: Date | string }>`
      with v(cid, n) as (
        select * from unnest(${counts.map((c) => c.cid)}::text[], ${counts.map((c) => c.count)}::int[])
      ), ch as (
        update channels c set last_seq = c.last_seq + v.n, last_message_at = ${stamp}, updated_at = ${stamp}
        from v where c.app_id = ${appId} and c.cid = v.cid
        returning c.cid, c.last_seq, c.last_message_at as created_at
      ), unhidden as (
        update members set hidden = false
        where app_id = ${appId} and cid in (select cid from ch) and hidden
      )
      select * from ch
    `.execute(db);
    return new Map(
      result.rows.map((r) => [r.cid, { last_seq: r.last_seq, created_at: new Date(r.created_at) }]),
    );
  },

  /**
   * The channel with `userId`'s membership and channel ban in one round trip (every
   * channel-scoped request starts here: ChannelsService.access). Undefined when the channel does
   * not exist; `membership` undefined when the user is not a member or no user is given.
   */
  async findWithMembership(
    db: Executor,
    appId: string,
    cid: string,
    userId: string | undefined,
  ): Promise<{ channel: ChannelRow; membership: MemberRow | undefined } | undefined> {
    const result = await sql<ChannelWithMemberRow>`
      select c.*, ${membershipColumns(appId)}
      from channels c
      left join members m on m.app_id = c.app_id and m.cid = c.cid and m.user_id = ${userId ?? null}
      where c.app_id = ${appId} and c.cid = ${cid}
    `.execute(db);
    const row = result.rows[0];
    return row ? splitMembership(row) : undefined;
  },

  /**
   * Marks the channel truncated now: messages created at or before truncated_at are hidden. Never
   * earlier than the last message, so a message that committed first is always hidden.
   */
  truncate(db: Executor, appId: string, cid: string, at: Date) {
    return db
      .updateTable('channels')
      .set({ truncated_at: sql<Date>`greatest(${at}::timestamptz, last_message_at)`, updated_at: at })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async refreshMemberCount(db: Executor, appId: string, cid: string) {
    await db
      .updateTable('channels')
      .set({
        // Everyone on the member list except users who turned their invite down.
        member_count: sql<number>`(select count(*)::int from members m where m.app_id = ${appId} and m.cid = ${cid} and m.invite_rejected_at is null)`,
      })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .execute();
  },

  /**
   * Channels matching `where`, visible to `viewerId` when given (a member, or a public-read type),
   * ordered and paged. One query.
   */
  query(
    db: Executor,
    appId: string,
    opts: {
      where: RawBuilder<boolean>;
      orderBy: RawBuilder<unknown>;
      limit: number;
      offset: number;
      viewerId?: string;
      publicTypes: string[];
    },
  ): Promise<ChannelRow[]> {
    let q = db
      .selectFrom('channels')
      .selectAll('channels')
      .where('channels.app_id', '=', appId)
      .where(opts.where);
    if (opts.viewerId !== undefined) {
      const viewer = opts.viewerId;
      q = q.where((eb) =>
        eb.or([
          eb.exists(
            eb
              .selectFrom('members as vm')
              .select(sql`1`.as('one'))
              .where('vm.app_id', '=', appId)
              .where('vm.user_id', '=', viewer)
              .whereRef('vm.cid', '=', 'channels.cid')
              .where('vm.invite_rejected_at', 'is', null),
          ),
          ...(opts.publicTypes.length ? [eb('channels.type', 'in', opts.publicTypes)] : []),
        ]),
      );
    }
    return q.orderBy(sql`${opts.orderBy}`).limit(opts.limit).offset(opts.offset).execute();
  },
};
