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

export const membersRepository = {
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
      .execute();
  },

  find(db: Executor, appId: string, cid: string, userId: string) {
    return db
      .selectFrom('members')
      .selectAll()
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  },

  list(db: Executor, appId: string, cid: string, limit: number, offset = 0) {
    return db
      .selectFrom('members')
      .selectAll()
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .orderBy('created_at')
      .orderBy('user_id')
      .limit(limit)
      .offset(offset)
      .execute();
  },

  /** The first `limit` members of each channel, in one query (no N+1 in QueryChannels). */
  async listForChannels(db: Executor, appId: string, cids: string[], limit: number): Promise<MemberRow[]> {
    if (cids.length === 0 || limit === 0) return [];
    const ranked = db
      .selectFrom('members')
      .selectAll()
      .select(sql<number>`row_number() over (partition by cid order by created_at, user_id)`.as('rank'))
      .where('app_id', '=', appId)
      .where('cid', 'in', cids)
      .as('ranked');
    const rows = await db.selectFrom(ranked).selectAll().where('rank', '<=', limit).execute();
    return rows.map(({ rank: _rank, ...row }) => row as MemberRow);
  },

  /** The viewer's own membership in each of these channels, in one query. */
  findForUser(db: Executor, appId: string, userId: string, cids: string[]) {
    if (cids.length === 0) return Promise.resolve([] as MemberRow[]);
    return db
      .selectFrom('members')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('cid', 'in', cids)
      .execute();
  },

  update(db: Executor, appId: string, cid: string, userId: string, patch: MemberPatch) {
    return db
      .updateTable('members')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirst();
  },

  /** A new message makes a hidden channel visible again for every member who hid it. */
  async unhideAll(db: Executor, appId: string, cid: string) {
    await db
      .updateTable('members')
      .set({ hidden: false })
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('hidden', '=', true)
      .execute();
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
