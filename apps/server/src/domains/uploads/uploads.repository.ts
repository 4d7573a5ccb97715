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
 * Whether the uploader's draft or pending scheduled message in that channel carries it (not sent
 * yet, but about to be): by their primary key / user index, (app_id, user_id, …).
 */
const inPending = sql<boolean>`(
  exists (
    select 1 from drafts d
    where d.app_id = uploads.app_id and d.user_id = uploads.user_id and d.cid = uploads.cid
      and d.attachments @> jsonb_build_array(jsonb_build_object('upload_id', uploads.id::text)))
  or exists (
    select 1 from scheduled_messages s
    where s.app_id = uploads.app_id and s.user_id = uploads.user_id and s.cid = uploads.cid
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
  ): Promise<UploadRow> {
    return db
      .updateTable('uploads')
      .set({ ...set, completed_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
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

  /** Uploads whose bytes never finished (the process died mid-upload) or whose removal failed. */
  stale(db: Executor, pendingBefore: Date, limit: number): Promise<UploadKeys[]> {
    return db
      .selectFrom('uploads')
      .select(keyColumns)
      .where((eb) =>
        eb.or([
          eb('deleted_at', 'is not', null),
          eb.and([eb('completed_at', 'is', null), eb('created_at', '<', pendingBefore)]),
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
   * Stored uploads created before `before` not yet seen attached to a message, oldest first,
   * after the keyset `after`; each says whether a message, or a draft / scheduled message, has it.
   */
  unreferenced(
    db: Executor,
    before: Date,
    after: { created_at: Date; id: string } | undefined,
    limit: number,
  ): Promise<(UploadKeys & { created_at: Date; in_message: boolean; in_pending: boolean })[]> {
    let q = db
      .selectFrom('uploads')
      .select([...keyColumns, 'created_at'])
      .select([inMessage.as('in_message'), inPending.as('in_pending')])
      .where('referenced_at', 'is', null)
      .where('completed_at', 'is not', null)
      .where('deleted_at', 'is', null)
      .where('created_at', '<', before);
    if (after)
      q = q.where(sql<boolean>`(created_at, id) > (${after.created_at}::timestamptz, ${after.id}::uuid)`);
    return q.orderBy('created_at').orderBy('id').limit(limit).execute();
  },

  markReferenced(db: Executor, appId: string, ids: string[]) {
    if (ids.length === 0) return Promise.resolve();
    return db
      .updateTable('uploads')
      .set({ referenced_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .execute();
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
