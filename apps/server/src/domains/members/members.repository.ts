import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { MemberRow } from '../../platform/db.types.js';

export interface NewMember {
  user_id: string;
  role: string;
  invited?: boolean;
}

export interface MemberPatch {
  role?: string;
  banned?: boolean;
  hidden?: boolean;
  cleared_seq?: number;
  invite_accepted_at?: Date | null;
  invite_rejected_at?: Date | null;
}

/**
 * Whether the member is banned from the channel: a ban in `bans` that has not expired (migration
 * 0011). The stored members.banned column is not read: a ban outlives membership, so it lives in
 * `bans`, and every member read computes `banned` from there.
 */
const channelBanned = sql<boolean>`exists (select 1 from bans b where b.app_id = members.app_id and b.cid = members.cid and b.user_id = members.user_id and (b.expires_at is null or b.expires_at > now()))`;

type WithBan = MemberRow & { channel_banned: boolean };
const withBan = ({ channel_banned, ...row }: WithBan): MemberRow => ({ ...row, banned: channel_banned });

export const membersRepository = {
  /** Up to `limit` channel ids of each user, in one statement (presence fan-out, ADR 0017). */
  async cidsOfUsers(db: Executor, appId: string, userIds: readonly string[], limit: number) {
    const result = await sql<{ user_id: string; cid: string }>`
      select u.user_id, m.cid
      from unnest(${[...userIds]}::text[]) as u(user_id)
      cross join lateral (
        select cid from members where app_id = ${appId} and user_id = u.user_id limit ${limit}
      ) m
    `.execute(db);
    return result.rows;
  },

  /** Adds members that are not there yet; returns only the rows it created. */
  insertMany(db: Executor, appId: string, cid: string, members: NewMember[]): Promise<MemberRow[]> {
    if (members.length === 0) return Promise.resolve([]);
    const now = new Date();
    return db
      .insertInto('members')
      .values(
        members.map((m) => ({
          app_id: appId,
          cid,
          user_id: m.user_id,
          role: m.role,
          invited: m.invited ?? false,
          updated_at: now,
        })),
      )
      .onConflict((oc) => oc.columns(['app_id', 'cid', 'user_id']).doNothing())
      .returningAll()
      .returning(channelBanned.as('channel_banned'))
      .execute()
      .then((rows) => rows.map(withBan));
  },

  async find(db: Executor, appId: string, cid: string, userId: string): Promise<MemberRow | undefined> {
    const row = await db
      .selectFrom('members')
      .selectAll()
      .select(channelBanned.as('channel_banned'))
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row && withBan(row);
  },

  async list(db: Executor, appId: string, cid: string, limit: number, offset = 0): Promise<MemberRow[]> {
    const rows = await db
      .selectFrom('members')
      .selectAll()
      .select(channelBanned.as('channel_banned'))
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .orderBy('created_at')
      .orderBy('user_id')
      .limit(limit)
      .offset(offset)
      .execute();
    return rows.map(withBan);
  },

  /** The first `limit` members of each channel, in one query (no N+1 in QueryChannels). */
  async listForChannels(db: Executor, appId: string, cids: string[], limit: number): Promise<MemberRow[]> {
    if (cids.length === 0 || limit === 0) return [];
    const ranked = db
      .selectFrom('members')
      .selectAll()
      .select(sql<number>`row_number() over (partition by cid order by created_at, user_id)`.as('rank'))
      .select(channelBanned.as('channel_banned'))
      .where('app_id', '=', appId)
      .where('cid', 'in', cids)
      .as('ranked');
    const rows = await db.selectFrom(ranked).selectAll().where('rank', '<=', limit).execute();
    return rows.map(({ rank: _rank, ...row }) => withBan(row as WithBan));
  },

  /** The viewer's own membership in each of these channels, in one query. */
  async findForUser(db: Executor, appId: string, userId: string, cids: string[]): Promise<MemberRow[]> {
    if (cids.length === 0) return [];
    const rows = await db
      .selectFrom('members')
      .selectAll()
      .select(channelBanned.as('channel_banned'))
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('cid', 'in', cids)
      .execute();
    return rows.map(withBan);
  },

  async update(
    db: Executor,
    appId: string,
    cid: string,
    userId: string,
    patch: MemberPatch,
  ): Promise<MemberRow | undefined> {
    const row = await db
      .updateTable('members')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .returningAll()
      .returning(channelBanned.as('channel_banned'))
      .executeTakeFirst();
    return row && withBan(row);
  },

  deleteMany(db: Executor, appId: string, cid: string, userIds: string[]) {
    return db
      .deleteFrom('members')
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', 'in', userIds)
      .returningAll()
      .execute();
  },
};
