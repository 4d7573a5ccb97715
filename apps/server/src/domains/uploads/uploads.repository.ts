import { type Insertable, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { UploadRow, UploadsTable } from '../../platform/db.types.js';

/** What the cleanup job needs of an upload to remove it. */
export type UploadKeys = Pick<UploadRow, 'app_id' | 'id' | 'storage_key' | 'thumb_key'>;

const keyColumns = ['app_id', 'id', 'storage_key', 'thumb_key'] as const;

/**
 * Whether a message of the upload's channel carries it as an attachment ({"upload_id": id}).
 * `messages_channel_id_idx (app_id, cid, id)` narrows to the channel; containment filters the rest.
 */
const inMessage = sql<boolean>`exists (
  select 1 from messages m
  where m.app_id = uploads.app_id and m.cid = uploads.cid
    and m.attachments @> jsonb_build_array(jsonb_build_object('upload_id', uploads.id::text)))`;

/**
 * Whether a draft or pending scheduled message in the upload's channel carries it (not sent yet,
 * but about to be). Matched by app and channel, not by uploader: a server-side upload has no user,
 * and anyone may attach an upload they were given. No index leads with (app_id, cid) on these
 * tables: their primary key / user index narrow to the app, and the job runs hourly over few rows.
 */
const inPending = sql<boolean>`(
  exists (
    select 1 from drafts d
    where d.app_id = uploads.app_id and d.cid = uploads.cid
      and d.attachments @> jsonb_build_array(jsonb_build_object('upload_id', uploads.id::text)))
  or exists (
    select 1 from scheduled_messages s
    where s.app_id = uploads.app_id and s.cid = uploads.cid
      and s.status = 'scheduled'
      and s.attachments @> jsonb_build_array(jsonb_build_object('upload_id', uploads.id::text))))`;

export const uploadsRepository = {
  /** The upload row, written before its bytes (completed_at null until they are stored). */
  insert(db: Executor, row: Insertable<UploadsTable>) {
    return db.insertInto('uploads').values(row).execute();
  },

  complete(
    db: Executor,
    appId: string,
    id: string,
    set: Pick<UploadRow, 'mime_type' | 'thumb_key' | 'thumb_size' | 'width' | 'height' | 'blurhash'>,
  ): Promise<UploadRow | undefined> {
    // Not when the cleanup job has given up on the upload meanwhile (it is removing the bytes).
    return db
      .updateTable('uploads')
      .set({ ...set, completed_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .where('completed_at', 'is', null)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
  },

  /**
   * Marks uploads as carried by a message, in the transaction of the send or edit that attaches
   * them; returns the ids that are live (stored, not deleted) in the app. The row lock this takes
   * orders it against the cleanup job's conditional delete: whichever commits first wins, and a
   * send never keeps a link to bytes that are being removed.
   */
  async claimForMessage(db: Executor, appId: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await db
      .updateTable('uploads')
      .set({ referenced_at: sql<Date>`coalesce(referenced_at, now())` })
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .where('completed_at', 'is not', null)
      .where('deleted_at', 'is', null)
      .returning('id')
      .execute();
    return rows.map((row) => row.id);
  },

  /** A live (stored, not deleted) upload. */
  findLive(db: Executor, appId: string, id: string): Promise<UploadRow | undefined> {
    return db
      .selectFrom('uploads')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .where('completed_at', 'is not', null)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  },

  /** Marks an upload deleted (its URLs stop working); returns its keys, or undefined if already gone. */
  markDeleted(db: Executor, appId: string, id: string): Promise<UploadKeys | undefined> {
    return db
      .updateTable('uploads')
      .set({ deleted_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returning(keyColumns)
      .executeTakeFirst();
  },

  remove(db: Executor, appId: string, id: string) {
    return db.deleteFrom('uploads').where('app_id', '=', appId).where('id', '=', id).execute();
  },

  // ---- the cleanup job (platform maintenance across apps) ----

  /**
   * Uploads whose removal failed, and uploads whose bytes never finished: pending past twice their
   * own deadline (`deadlineSeconds` + file_size / `minBytesPerSecond`, which the service enforces
   * on every upload in progress), so an honest upload still streaming is never taken.
   */
  stale(
    db: Executor,
    now: Date,
    pending: { deadlineSeconds: number; minBytesPerSecond: number },
    limit: number,
  ): Promise<UploadKeys[]> {
    const deadline = sql<Date>`${now}::timestamptz - make_interval(secs => 2 * (${pending.deadlineSeconds}::float8 + file_size::float8 / ${pending.minBytesPerSecond}::float8))`;
    return db
      .selectFrom('uploads')
      .select(keyColumns)
      .where((eb) =>
        eb.or([
          eb('deleted_at', 'is not', null),
          eb.and([eb('completed_at', 'is', null), eb('created_at', '<', deadline)]),
        ]),
      )
      .limit(limit)
      .execute();
  },

  /** Uploads of channels that no longer exist (deleted channel, deleted app). */
  ofMissingChannels(db: Executor, limit: number): Promise<UploadKeys[]> {
    return db
      .selectFrom('uploads')
      .select(keyColumns)
      .where('deleted_at', 'is', null)
      .where(
        sql<boolean>`not exists (select 1 from channels c where c.app_id = uploads.app_id and c.cid = uploads.cid)`,
      )
      .limit(limit)
      .execute();
  },

  /**
   * The cleanup job's work list: stored, live uploads created before `before` not yet seen in a
   * message, oldest first, after the keyset `after`. Only candidates: the decision is taken by
   * `deleteUnreferenced` and `markSeenInMessages`.
   */
  unreferencedCandidates(
    db: Executor,
    before: Date,
    after: { created_at: Date; id: string } | undefined,
    limit: number,
  ): Promise<{ app_id: string; id: string; created_at: Date }[]> {
    let q = db
      .selectFrom('uploads')
      .select(['app_id', 'id', 'created_at'])
      .where('referenced_at', 'is', null)
      .where('completed_at', 'is not', null)
      .where('deleted_at', 'is', null)
      .where('created_at', '<', before);
    if (after)
      q = q.where(sql<boolean>`(created_at, id) > (${after.created_at}::timestamptz, ${after.id}::uuid)`);
    return q.orderBy('created_at').orderBy('id').limit(limit).execute();
  },

  /**
   * Marks deleted, in one conditional statement, those of the uploads that are still unreferenced,
   * live, and carried by no message, draft or scheduled message; returns exactly those. The row
   * lock orders it against `claimForMessage` in a send: a send that committed first has set
   * referenced_at (re-checked here on the locked row), one that comes after finds deleted_at set.
   */
  async deleteUnreferenced(db: Executor, appId: string, ids: readonly string[]): Promise<UploadKeys[]> {
    if (ids.length === 0) return [];
    return db
      .updateTable('uploads')
      .set({ deleted_at: sql<Date>`now()` })
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .where('referenced_at', 'is', null)
      .where('completed_at', 'is not', null)
      .where('deleted_at', 'is', null)
      .where(sql<boolean>`not ${inMessage}`)
      .where(sql<boolean>`not ${inPending}`)
      .returning(keyColumns)
      .execute();
  },

  /**
   * Marks as referenced those of the uploads a message carries (sent before sends marked them
   * themselves), so the job does not check them again; returns how many.
   */
  async markSeenInMessages(db: Executor, appId: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await db
      .updateTable('uploads')
      .set({ referenced_at: sql<Date>`coalesce(referenced_at, now())` })
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .where('referenced_at', 'is', null)
      .where('deleted_at', 'is', null)
      .where(inMessage)
      .returning('id')
      .execute();
    return rows.length;
  },

  // ---- URL signing keys ----

  findUrlKey(db: Executor, appId: string): Promise<Buffer | undefined> {
    return db
      .selectFrom('upload_url_keys')
      .select('key')
      .where('app_id', '=', appId)
      .executeTakeFirst()
      .then((r) => r?.key);
  },

  /** Stores `key` as the app's URL key unless one exists; returns the app's key either way. */
  async ensureUrlKey(db: Executor, appId: string, key: Buffer): Promise<Buffer> {
    await db
      .insertInto('upload_url_keys')
      .values({ app_id: appId, key })
      .onConflict((oc) => oc.column('app_id').doNothing())
      .execute();
    const stored = await uploadsRepository.findUrlKey(db, appId);
    if (!stored) throw new Error(`no upload URL key for app ${appId}`);
    return stored;
  },
};
