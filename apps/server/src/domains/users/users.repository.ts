import type { RawBuilder } from 'kysely';
import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { UserRow } from '../../platform/db.types.js';

export interface UserWrite {
  id: string;
  name?: string | null;
  image?: string | null;
  role?: string;
  custom?: Record<string, unknown>;
  banned?: boolean;
  invisible?: boolean;
  ban_expires_at?: Date | null;
  ban_reason?: string | null;
}

export const usersRepository = {
  find(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('users')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  findMany(db: Executor, appId: string, ids: readonly string[]) {
    if (ids.length === 0) return Promise.resolve([] as UserRow[]);
    // `= any(array)`: one statement text whatever the number of ids.
    return db
      .selectFrom('users')
      .selectAll()
      .where('app_id', '=', appId)
      .where(sql<boolean>`id = any(${[...ids]}::text[])`)
      .execute();
  },

  /** Insert or overwrite the given fields; fields left undefined keep their stored value. */
  upsert(db: Executor, appId: string, user: UserWrite): Promise<UserRow> {
    const now = new Date();
    const values = {
      app_id: appId,
      id: user.id,
      name: user.name ?? null,
      image: user.image ?? null,
      role: user.role ?? 'user',
      custom: JSON.stringify(user.custom ?? {}),
      banned: user.banned ?? false,
      invisible: user.invisible ?? false,
      ban_expires_at: user.ban_expires_at ?? null,
      ban_reason: user.ban_reason ?? null,
      updated_at: now,
    };
    return db
      .insertInto('users')
      .values(values)
      .onConflict((oc) =>
        oc.columns(['app_id', 'id']).doUpdateSet((eb) => ({
          ...(user.name !== undefined ? { name: eb.ref('excluded.name') } : {}),
          ...(user.image !== undefined ? { image: eb.ref('excluded.image') } : {}),
          ...(user.role !== undefined ? { role: eb.ref('excluded.role') } : {}),
          ...(user.custom !== undefined ? { custom: eb.ref('excluded.custom') } : {}),
          ...(user.banned !== undefined ? { banned: eb.ref('excluded.banned') } : {}),
          ...(user.invisible !== undefined ? { invisible: eb.ref('excluded.invisible') } : {}),
          ...(user.ban_expires_at !== undefined ? { ban_expires_at: eb.ref('excluded.ban_expires_at') } : {}),
          ...(user.ban_reason !== undefined ? { ban_reason: eb.ref('excluded.ban_reason') } : {}),
          deleted_at: null,
          updated_at: now,
        })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /** Creates the user if missing (first sight of a valid token); never changes an existing one. */
  async ensure(db: Executor, appId: string, id: string): Promise<UserRow> {
    await db
      .insertInto('users')
      .values({
        app_id: appId,
        id,
        role: 'user',
        custom: '{}',
        name: null,
        image: null,
        updated_at: new Date(),
      })
      .onConflict((oc) => oc.columns(['app_id', 'id']).doNothing())
      .execute();
    return (await usersRepository.find(db, appId, id))!;
  },

  update(db: Executor, appId: string, id: string, patch: Record<string, unknown>) {
    return db
      .updateTable('users')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },

  query(
    db: Executor,
    appId: string,
    opts: {
      where: RawBuilder<boolean>;
      orderBy: RawBuilder<unknown>;
      limit: number;
      offset: number;
      includeDeleted: boolean;
    },
  ) {
    let q = db.selectFrom('users').selectAll().where('app_id', '=', appId).where(opts.where);
    if (!opts.includeDeleted) q = q.where('deleted_at', 'is', null);
    return q.orderBy(sql`${opts.orderBy}`).limit(opts.limit).offset(opts.offset).execute();
  },

  /**
   * Messages keep their author id (a tombstone author); memberships go with the user (FK cascade),
   * so the member counts of the user's channels are recomputed in the same transaction.
   * Returns the cids the user was a member of.
   */
  async hardDelete(db: Executor, appId: string, id: string): Promise<string[]> {
    const memberships = await db
      .selectFrom('members')
      .select('cid')
      .where('app_id', '=', appId)
      .where('user_id', '=', id)
      .execute();
    await db.deleteFrom('users').where('app_id', '=', appId).where('id', '=', id).execute();
    if (memberships.length > 0) {
      await db
        .updateTable('channels')
        .set({
          member_count: sql<number>`(select count(*)::int from members m where m.app_id = channels.app_id and m.cid = channels.cid)`,
        })
        .where('app_id', '=', appId)
        .where(
          'cid',
          'in',
          memberships.map((m) => m.cid),
        )
        .execute();
    }
    return memberships.map((m) => m.cid);
  },
};
