import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { ChannelRow } from '../../platform/db.types.js';

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
   * Takes the channel's next seq (the row lock serialises sends, ADR 0003) and the message's
   * created_at: `at`, but never before the last message nor at or before the truncation. A
   * `shadowed` message (shadow-banned author, ADR 0010) takes a seq and a time but leaves
   * last_message_at and updated_at alone: nobody else sees it, so the channel must not move up in
   * other members' channel lists. The returned time is computed from the row either way (one statement).
   */
  nextSeq(db: Executor, appId: string, cid: string, at: Date, opts: { shadowed?: boolean } = {}) {
    const stamp = sql<Date>`greatest(${at}::timestamptz, last_message_at, truncated_at + interval '1 millisecond')`;
    return db
      .updateTable('channels')
      .set((eb) =>
        opts.shadowed
          ? { last_seq: eb('last_seq', '+', 1) }
          : { last_seq: eb('last_seq', '+', 1), last_message_at: stamp, updated_at: stamp },
      )
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .returning(['last_seq', stamp.as('created_at')])
      .executeTakeFirstOrThrow()
      .then((row) => ({ last_seq: row.last_seq, created_at: new Date(row.created_at) }));
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
