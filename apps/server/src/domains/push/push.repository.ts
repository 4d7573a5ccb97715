import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { PushDevicesTable, PushNotificationsTable } from '../../platform/db.types.js';
import type { NotifyLevel } from './notify-rules.js';

export interface DeviceRow {
  app_id: string;
  id: string;
  user_id: string;
  provider: PushDevicesTable['provider'];
  token: string;
  p256dh: string | null;
  auth: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface PreferencesRow {
  level: NotifyLevel;
  dnd_start: string | null;
  dnd_end: string | null;
  dnd_tz: string | null;
  snooze_until: Date | null;
  deliver_after_dnd: boolean;
}

/** Everything the notify rules need to know about one recipient of a message (one query). */
export interface RecipientFactsRow extends Partial<PreferencesRow> {
  user_id: string;
  channel_level: NotifyLevel | null;
  channel_muted: boolean;
  sender_muted: boolean;
}

export interface MessageForPush {
  id: string;
  cid: string;
  seq: number;
  user_id: string;
  type: string;
  text: string;
  shadowed: boolean;
  deleted_at: Date | null;
  parent_id: string | null;
  mentioned_user_ids: string[];
  mentioned_channel: boolean;
  distinct_key: string | null;
  member_count: number;
}

export interface PendingPushRow {
  message_id: string;
  cid: string;
  parent_id: string | null;
  created_at: Date;
  text: string | null;
  sender_id: string | null;
  sender_name: string | null;
  channel_name: string | null;
  /** Why this row must not be pushed any more, or null. */
  stale: 'deleted' | 'read' | 'left' | null;
}

export type NewPushNotification = Pick<
  PushNotificationsTable,
  'app_id' | 'user_id' | 'message_id' | 'cid' | 'parent_id' | 'deliver_after'
>;

export const pushRepository = {
  // ---- devices ----

  /**
   * Registers a device for a user. The same (provider, token) registered again — by the same user
   * or, after a sign-in on a shared browser, another user of the app — moves to that user.
   */
  upsertDevice(
    db: Executor,
    row: Pick<DeviceRow, 'app_id' | 'id' | 'user_id' | 'provider' | 'token' | 'p256dh' | 'auth'>,
  ): Promise<DeviceRow> {
    const now = new Date();
    return db
      .insertInto('push_devices')
      .values({ ...row, created_at: now, updated_at: now })
      .onConflict((oc) =>
        oc.columns(['app_id', 'provider', 'token']).doUpdateSet({
          user_id: row.user_id,
          p256dh: row.p256dh,
          auth: row.auth,
          updated_at: now,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow() as Promise<DeviceRow>;
  },

  listDevices(db: Executor, appId: string, userId: string): Promise<DeviceRow[]> {
    return db
      .selectFrom('push_devices')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute() as Promise<DeviceRow[]>;
  },

  async countDevices(db: Executor, appId: string, userId: string): Promise<number> {
    const row = await db
      .selectFrom('push_devices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  async deleteDevice(db: Executor, appId: string, userId: string, id: string): Promise<boolean> {
    const result = await db
      .deleteFrom('push_devices')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  },

  /** Removes devices a provider reported as gone (expired subscription, unknown id). */
  async deleteDevicesById(db: Executor, appId: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await db
      .deleteFrom('push_devices')
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  },

  async appHasDevices(db: Executor, appId: string): Promise<boolean> {
    const row = await db
      .selectFrom('push_devices')
      .select('id')
      .where('app_id', '=', appId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  },

  findUser(db: Executor, appId: string, userId: string) {
    return db
      .selectFrom('users')
      .select(['id', 'deleted_at'])
      .where('app_id', '=', appId)
      .where('id', '=', userId)
      .executeTakeFirst();
  },

  async channelExists(db: Executor, appId: string, cid: string): Promise<boolean> {
    const row = await db
      .selectFrom('channels')
      .select('cid')
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .executeTakeFirst();
    return row !== undefined;
  },

  // ---- preferences ----

  findPreferences(db: Executor, appId: string, userId: string): Promise<PreferencesRow | undefined> {
    return db
      .selectFrom('push_preferences')
      .select(['level', 'dnd_start', 'dnd_end', 'dnd_tz', 'snooze_until', 'deliver_after_dnd'])
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  },

  async channelLevels(db: Executor, appId: string, userId: string): Promise<Record<string, NotifyLevel>> {
    const rows = await db
      .selectFrom('push_channel_preferences')
      .select(['cid', 'level'])
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .orderBy('cid')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.cid, r.level]));
  },

  async savePreferences(
    db: Executor,
    appId: string,
    userId: string,
    patch: Partial<PreferencesRow>,
  ): Promise<void> {
    const now = new Date();
    await db
      .insertInto('push_preferences')
      .values({
        app_id: appId,
        user_id: userId,
        ...patch,
        level: patch.level ?? 'all',
        deliver_after_dnd: patch.deliver_after_dnd ?? false,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['app_id', 'user_id']).doUpdateSet({ ...patch, updated_at: now }))
      .execute();
  },

  async setChannelLevel(db: Executor, appId: string, userId: string, cid: string, level: NotifyLevel | null) {
    if (level === null) {
      await db
        .deleteFrom('push_channel_preferences')
        .where('app_id', '=', appId)
        .where('user_id', '=', userId)
        .where('cid', '=', cid)
        .execute();
      return;
    }
    await db
      .insertInto('push_channel_preferences')
      .values({ app_id: appId, user_id: userId, cid, level })
      .onConflict((oc) => oc.columns(['app_id', 'user_id', 'cid']).doUpdateSet({ level }))
      .execute();
  },

  // ---- the rules' facts ----

  findMessage(db: Executor, appId: string, messageId: string): Promise<MessageForPush | undefined> {
    return db
      .selectFrom('messages as m')
      .innerJoin('channels as c', (join) =>
        join.onRef('c.app_id', '=', 'm.app_id').onRef('c.cid', '=', 'm.cid'),
      )
      .select([
        'm.id',
        'm.cid',
        'm.seq',
        'm.user_id',
        'm.type',
        'm.text',
        'm.shadowed',
        'm.deleted_at',
        'm.parent_id',
        'm.mentioned_user_ids',
        'm.mentioned_channel',
        'c.distinct_key',
        'c.member_count',
      ])
      .where('m.app_id', '=', appId)
      .where('m.id', '=', messageId)
      .executeTakeFirst() as Promise<MessageForPush | undefined>;
  },

  /**
   * The members of a channel other than the sender (not banned from it, invite not pending or
   * rejected) with their push preferences, the channel's level, and whether they muted the channel
   * or muted/blocked the sender (unexpired mutes only). One query for the whole channel.
   */
  async recipientFacts(
    db: Executor,
    appId: string,
    cid: string,
    senderId: string,
  ): Promise<RecipientFactsRow[]> {
    const result = await sql<RecipientFactsRow>`
      select mb.user_id,
             p.level, p.dnd_start, p.dnd_end, p.dnd_tz, p.snooze_until, p.deliver_after_dnd,
             cp.level as channel_level,
             exists (select 1 from channel_mutes cm
                     where cm.app_id = mb.app_id and cm.user_id = mb.user_id and cm.cid = mb.cid
                       and (cm.expires_at is null or cm.expires_at > now())) as channel_muted,
             (exists (select 1 from user_mutes um
                      where um.app_id = mb.app_id and um.user_id = mb.user_id and um.target_id = ${senderId}
                        and (um.expires_at is null or um.expires_at > now()))
              or exists (select 1 from blocks b
                         where b.app_id = mb.app_id and b.user_id = mb.user_id and b.target_id = ${senderId}))
               as sender_muted
      from members mb
      join users u on u.app_id = mb.app_id and u.id = mb.user_id
      left join push_preferences p on p.app_id = mb.app_id and p.user_id = mb.user_id
      left join push_channel_preferences cp
             on cp.app_id = mb.app_id and cp.user_id = mb.user_id and cp.cid = mb.cid
      where mb.app_id = ${appId} and mb.cid = ${cid} and mb.user_id <> ${senderId}
        and not mb.banned and mb.invite_rejected_at is null
        and not (mb.invited and mb.invite_accepted_at is null)
        and u.deleted_at is null
      order by mb.user_id`.execute(db);
    return result.rows;
  },

  // ---- the per-(user, message) queue ----

  /** Inserts rows that are not there yet; returns the ones inserted (a retried job inserts none). */
  async insertPending(db: Executor, rows: readonly NewPushNotification[]): Promise<NewPushNotification[]> {
    if (rows.length === 0) return [];
    const inserted = await db
      .insertInto('push_notifications')
      .values(rows.map((r) => ({ ...r, status: 'pending' as const })))
      .onConflict((oc) => oc.columns(['app_id', 'user_id', 'message_id']).doNothing())
      .returning(['user_id', 'message_id', 'deliver_after'])
      .execute();
    const keys = new Set(inserted.map((r) => `${r.user_id}\u0000${r.message_id}`));
    return rows.filter((r) => keys.has(`${r.user_id}\u0000${r.message_id}`));
  },

  /**
   * Claims the user's pushes that are due for bundle `bundleId` (status sending), and returns them
   * with what the push shows. A retry of the same bundle gets the rows it had claimed before.
   */
  async claimDue(
    db: Executor,
    appId: string,
    userId: string,
    bundleId: string,
    now: Date,
  ): Promise<PendingPushRow[]> {
    await db
      .updateTable('push_notifications')
      .set({ status: 'sending', bundle_id: bundleId })
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('deliver_after', 'is', null), eb('deliver_after', '<=', now)]))
      .execute();
    const result = await sql<PendingPushRow>`
      select pn.message_id, pn.cid, pn.parent_id, pn.created_at,
             m.text, m.user_id as sender_id, su.name as sender_name, c.name as channel_name,
             case when m.id is null or m.deleted_at is not null or m.type = 'deleted' then 'deleted'
                  when mb.user_id is null then 'left'
                  when m.parent_id is null and m.seq <= greatest(mb.last_read_seq, mb.cleared_seq) then 'read'
                  else null end as stale
      from push_notifications pn
      left join messages m on m.app_id = pn.app_id and m.cid = pn.cid and m.id = pn.message_id
      left join users su on su.app_id = m.app_id and su.id = m.user_id
      left join channels c on c.app_id = pn.app_id and c.cid = pn.cid
      left join members mb on mb.app_id = pn.app_id and mb.cid = pn.cid and mb.user_id = pn.user_id
      where pn.app_id = ${appId} and pn.user_id = ${userId}
        and pn.status = 'sending' and pn.bundle_id = ${bundleId}
      order by pn.created_at, pn.message_id`.execute(db);
    return result.rows;
  },

  async hasDuePending(db: Executor, appId: string, userId: string, now: Date): Promise<boolean> {
    const row = await db
      .selectFrom('push_notifications')
      .select('message_id')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('deliver_after', 'is', null), eb('deliver_after', '<=', now)]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  },

  /** Puts due pending rows back to wait until `until` (do-not-disturb with deliver-after). */
  async postpone(db: Executor, appId: string, userId: string, now: Date, until: Date) {
    await db
      .updateTable('push_notifications')
      .set({ deliver_after: until })
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('deliver_after', 'is', null), eb('deliver_after', '<=', now)]))
      .execute();
  },

  /** Drops the user's due pending rows (do-not-disturb without deliver-after). */
  async dropDue(db: Executor, appId: string, userId: string, now: Date, reason: string) {
    await db
      .updateTable('push_notifications')
      .set({ status: 'dropped', reason })
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('deliver_after', 'is', null), eb('deliver_after', '<=', now)]))
      .execute();
  },

  async finish(
    db: Executor,
    appId: string,
    userId: string,
    messageIds: readonly string[],
    status: 'sent' | 'dropped',
    reason: string | null,
  ) {
    if (messageIds.length === 0) return;
    await db
      .updateTable('push_notifications')
      .set({ status, reason, sent_at: status === 'sent' ? new Date() : null })
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('message_id', 'in', messageIds)
      .execute();
  },

  /** Forgets finished rows older than `before` (they only guarded against pushing twice). */
  async pruneFinished(db: Executor, appId: string, userId: string, before: Date) {
    await db
      .deleteFrom('push_notifications')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('status', 'in', ['sent', 'dropped'])
      .where('created_at', '<', before)
      .execute();
  },

  /** The user's push rows (tests, support). */
  listNotifications(db: Executor, appId: string, userId: string) {
    return db
      .selectFrom('push_notifications')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
  },
};
