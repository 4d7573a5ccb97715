import { type ExpressionBuilder, type Selectable, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { AuditRow, BanRow, BlocklistRow, Database, ModerationFlagRow } from '../../platform/db.types.js';
import { uuidv7 } from '../../platform/ids.js';

/** A mute, block or ban is in force while it has no expiry or the expiry is still ahead. */
const inForce = sql<boolean>`(expires_at is null or expires_at > now())`;

export interface NewBan {
  user_id: string;
  cid: string | null;
  reason: string | null;
  banned_by: string | null;
  expires_at: Date | null;
}

export interface NewAuditEntry {
  action: string;
  actor_id: string | null;
  target_user_id?: string | null;
  cid?: string | null;
  message_id?: string | null;
  details?: Record<string, unknown>;
}

export type FlagWithCount = ModerationFlagRow & { flag_count: number };

/** Open flags on the same target as `flags` (the message, or the user for user flags). */
const flagCount = sql<number>`(select count(*)::int from flags o
  where o.app_id = flags.app_id and o.status = 'open'
    and (case when flags.message_id is not null then o.message_id = flags.message_id
              else o.target_type = 'user' and o.target_user_id = flags.target_user_id end))`;

/**
 * A user's own rows, one per key: user mutes and blocks (keyed by the target user), channel mutes
 * (keyed by the channel). The mute tables have the same shape but for the key.
 */
const USER_MUTES = { table: 'user_mutes', key: 'target_id' } as const;
const CHANNEL_MUTES = { table: 'channel_mutes', key: 'cid' } as const;
const BLOCKS = { table: 'blocks', key: 'target_id' } as const;
type MuteList = typeof USER_MUTES | typeof CHANNEL_MUTES;
type OwnList = MuteList | typeof BLOCKS;
type MuteRow<L extends MuteList> = Selectable<Database[L['table']]>;

function upsertMute<L extends MuteList>(
  db: Executor,
  list: L,
  appId: string,
  userId: string,
  key: string,
  expiresAt: Date | null,
): Promise<MuteRow<L>> {
  return db
    .insertInto(list.table as MuteList['table'])
    .values({ app_id: appId, user_id: userId, [list.key]: key, expires_at: expiresAt } as never)
    .onConflict((oc) => oc.columns(['app_id', 'user_id', list.key]).doUpdateSet({ expires_at: expiresAt }))
    .returningAll()
    .executeTakeFirstOrThrow() as Promise<MuteRow<L>>;
}

/** Deletes the user's row with that key; whether there was one. */
async function deleteOwn(db: Executor, list: OwnList, appId: string, userId: string, key: string) {
  const rows = await db
    .deleteFrom(list.table)
    .where('app_id', '=', appId)
    .where('user_id', '=', userId)
    .where(list.key, '=', key)
    .returning(list.key)
    .execute();
  return rows.length > 0;
}

/** The user's mutes in force, oldest first. */
function listMutes<L extends MuteList>(
  db: Executor,
  list: L,
  appId: string,
  userId: string,
): Promise<MuteRow<L>[]> {
  return db
    .selectFrom(list.table as MuteList['table'])
    .selectAll()
    .where('app_id', '=', appId)
    .where('user_id', '=', userId)
    .where(inForce)
    .orderBy('created_at')
    .orderBy(list.key as MuteList['key'])
    .execute() as Promise<MuteRow<L>[]>;
}

/** Flags on the same target as `flag`: its message, or the user for user flags. */
function sameTarget(flag: { message_id: string | null; target_user_id: string }) {
  return (eb: ExpressionBuilder<Database, 'flags'>) =>
    flag.message_id !== null
      ? eb('message_id', '=', flag.message_id)
      : eb.and([eb('target_type', '=', 'user'), eb('target_user_id', '=', flag.target_user_id)]);
}

export const moderationRepository = {
  // ---- mutes ----

  upsertUserMute(db: Executor, appId: string, userId: string, targetId: string, expiresAt: Date | null) {
    return upsertMute(db, USER_MUTES, appId, userId, targetId, expiresAt);
  },

  deleteUserMute(db: Executor, appId: string, userId: string, targetId: string) {
    return deleteOwn(db, USER_MUTES, appId, userId, targetId);
  },

  listUserMutes(db: Executor, appId: string, userId: string) {
    return listMutes(db, USER_MUTES, appId, userId);
  },

  upsertChannelMute(db: Executor, appId: string, userId: string, cid: string, expiresAt: Date | null) {
    return upsertMute(db, CHANNEL_MUTES, appId, userId, cid, expiresAt);
  },

  deleteChannelMute(db: Executor, appId: string, userId: string, cid: string) {
    return deleteOwn(db, CHANNEL_MUTES, appId, userId, cid);
  },

  listChannelMutes(db: Executor, appId: string, userId: string) {
    return listMutes(db, CHANNEL_MUTES, appId, userId);
  },

  // ---- blocks ----

  insertBlock(db: Executor, appId: string, userId: string, targetId: string) {
    return db
      .insertInto('blocks')
      .values({ app_id: appId, user_id: userId, target_id: targetId })
      .onConflict((oc) => oc.columns(['app_id', 'user_id', 'target_id']).doUpdateSet({ user_id: userId }))
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  deleteBlock(db: Executor, appId: string, userId: string, targetId: string) {
    return deleteOwn(db, BLOCKS, appId, userId, targetId);
  },

  listBlocks(db: Executor, appId: string, userId: string) {
    return db
      .selectFrom('blocks')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('target_id')
      .execute();
  },

  /** Whether another member of the channel blocked `senderId` (used for distinct channels, DMs). */
  async blockedByMemberOf(
    db: Executor,
    appId: string,
    cid: string,
    senderId: string,
  ): Promise<string | null> {
    const row = await db
      .selectFrom('blocks')
      .innerJoin('members', (j) =>
        j
          .onRef('members.app_id', '=', 'blocks.app_id')
          .onRef('members.user_id', '=', 'blocks.user_id')
          .on('members.cid', '=', cid),
      )
      .select('blocks.user_id')
      .where('blocks.app_id', '=', appId)
      .where('blocks.target_id', '=', senderId)
      .limit(1)
      .executeTakeFirst();
    return row?.user_id ?? null;
  },

  // ---- bans ----

  /** Replaces any ban of the user at the same place (the app, or the channel). */
  async putBan(db: Executor, appId: string, ban: NewBan): Promise<BanRow> {
    await moderationRepository.deleteBan(db, appId, ban.user_id, ban.cid);
    return db
      .insertInto('bans')
      .values({ app_id: appId, id: uuidv7(), ...ban })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /** Removes the ban (in force or expired); returns it, or undefined when there was none. */
  deleteBan(db: Executor, appId: string, userId: string, cid: string | null) {
    return db
      .deleteFrom('bans')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where((eb) => (cid === null ? eb('cid', 'is', null) : eb('cid', '=', cid)))
      .returningAll()
      .executeTakeFirst();
  },

  /** The ban in force at that place, if any. */
  activeBan(db: Executor, appId: string, userId: string, cid: string | null) {
    return db
      .selectFrom('bans')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where((eb) => (cid === null ? eb('cid', 'is', null) : eb('cid', '=', cid)))
      .where(inForce)
      .executeTakeFirst();
  },

  /** Bans in force, newest first (ids are UUIDv7, so id order is time order). */
  queryBans(
    db: Executor,
    appId: string,
    opts: { cid?: string; appWide?: boolean; targetId?: string; idLt?: string; limit: number },
  ) {
    let q = db.selectFrom('bans').selectAll().where('app_id', '=', appId).where(inForce);
    if (opts.cid !== undefined) q = q.where('cid', '=', opts.cid);
    if (opts.appWide === true) q = q.where('cid', 'is', null);
    if (opts.appWide === false) q = q.where('cid', 'is not', null);
    if (opts.targetId !== undefined) q = q.where('user_id', '=', opts.targetId);
    if (opts.idLt !== undefined) q = q.where('id', '<', opts.idLt);
    return q.orderBy('id', 'desc').limit(opts.limit).execute();
  },

  // ---- shadow bans ----

  setShadowBanned(db: Executor, appId: string, userId: string, value: boolean) {
    return db
      .updateTable('users')
      .set({ shadow_banned: value, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', userId)
      .returning(['id', 'shadow_banned'])
      .executeTakeFirst();
  },

  // ---- flags ----

  /** One open flag per reporter and target: a repeat returns the open one (created = false). */
  async insertFlag(
    db: Executor,
    appId: string,
    flag: {
      target_type: 'message' | 'user';
      message_id: string | null;
      cid: string | null;
      target_user_id: string;
      flagged_by: string | null;
      reason: string;
    },
  ): Promise<{ row: FlagWithCount; created: boolean }> {
    const inserted = await db
      .insertInto('flags')
      .values({ app_id: appId, id: uuidv7(), ...flag })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted)
      return { row: (await moderationRepository.findFlag(db, appId, inserted.id))!, created: true };
    let q = db
      .selectFrom('flags')
      .selectAll()
      .select(flagCount.as('flag_count'))
      .where('app_id', '=', appId)
      .where('status', '=', 'open');
    q =
      flag.flagged_by === null
        ? q.where('flagged_by', 'is', null)
        : q.where('flagged_by', '=', flag.flagged_by);
    q = q.where(sameTarget(flag));
    return { row: (await q.executeTakeFirstOrThrow()) as FlagWithCount, created: false };
  },

  findFlag(db: Executor, appId: string, id: string): Promise<FlagWithCount | undefined> {
    return db
      .selectFrom('flags')
      .selectAll()
      .select(flagCount.as('flag_count'))
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst() as Promise<FlagWithCount | undefined>;
  },

  queryFlags(
    db: Executor,
    appId: string,
    opts: {
      status: string;
      targetType?: string;
      cid?: string;
      targetId?: string;
      idLt?: string;
      limit: number;
    },
  ): Promise<FlagWithCount[]> {
    let q = db
      .selectFrom('flags')
      .selectAll()
      .select(flagCount.as('flag_count'))
      .where('app_id', '=', appId)
      .where('status', '=', opts.status);
    if (opts.targetType !== undefined) q = q.where('target_type', '=', opts.targetType);
    if (opts.cid !== undefined) q = q.where('cid', '=', opts.cid);
    if (opts.targetId !== undefined) q = q.where('target_user_id', '=', opts.targetId);
    if (opts.idLt !== undefined) q = q.where('id', '<', opts.idLt);
    return q.orderBy('id', 'desc').limit(opts.limit).execute() as Promise<FlagWithCount[]>;
  },

  /** Closes every open flag on the same target as `flag` (the reviewed one included). */
  async closeFlags(
    db: Executor,
    appId: string,
    flag: ModerationFlagRow,
    status: string,
    reviewedBy: string | null,
  ): Promise<FlagWithCount[]> {
    const at = new Date();
    const q = db
      .updateTable('flags')
      .set({ status, reviewed_by: reviewedBy, reviewed_at: at })
      .where('app_id', '=', appId)
      .where('status', '=', 'open')
      .where(sameTarget(flag));
    const rows = await q.returningAll().execute();
    return rows
      .map((r) => ({ ...r, flag_count: 0 }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  },

  // ---- blocklists ----

  insertBlocklist(db: Executor, appId: string, b: { name: string; words: string[]; behavior: string }) {
    return db
      .insertInto('blocklists')
      .values({ app_id: appId, ...b, updated_at: new Date() })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  },

  findBlocklist(db: Executor, appId: string, name: string) {
    return db
      .selectFrom('blocklists')
      .selectAll()
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .executeTakeFirst();
  },

  /** The named blocklists (unknown names are skipped). */
  findBlocklists(db: Executor, appId: string, names: string[]): Promise<BlocklistRow[]> {
    if (names.length === 0) return Promise.resolve([]);
    return db
      .selectFrom('blocklists')
      .selectAll()
      .where('app_id', '=', appId)
      .where('name', 'in', names)
      .orderBy('name')
      .execute();
  },

  listBlocklists(db: Executor, appId: string) {
    return db.selectFrom('blocklists').selectAll().where('app_id', '=', appId).orderBy('name').execute();
  },

  updateBlocklist(db: Executor, appId: string, name: string, patch: { words?: string[]; behavior?: string }) {
    return db
      .updateTable('blocklists')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
  },

  deleteBlocklist(db: Executor, appId: string, name: string) {
    return db
      .deleteFrom('blocklists')
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
  },

  // ---- audit log ----

  async audit(db: Executor, appId: string, entry: NewAuditEntry): Promise<void> {
    await db
      .insertInto('moderation_audit_log')
      .values({
        app_id: appId,
        id: uuidv7(),
        action: entry.action,
        actor_id: entry.actor_id,
        target_user_id: entry.target_user_id ?? null,
        cid: entry.cid ?? null,
        message_id: entry.message_id ?? null,
        details: JSON.stringify(entry.details ?? {}),
      })
      .execute();
  },

  queryAudit(
    db: Executor,
    appId: string,
    opts: { action?: string; targetId?: string; idLt?: string; limit: number },
  ): Promise<AuditRow[]> {
    let q = db.selectFrom('moderation_audit_log').selectAll().where('app_id', '=', appId);
    if (opts.action !== undefined) q = q.where('action', '=', opts.action);
    if (opts.targetId !== undefined) q = q.where('target_user_id', '=', opts.targetId);
    if (opts.idLt !== undefined) q = q.where('id', '<', opts.idLt);
    return q.orderBy('id', 'desc').limit(opts.limit).execute();
  },
};
