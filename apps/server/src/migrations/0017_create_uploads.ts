import { type Kysely, sql } from 'kysely';

/**
 * File uploads (domains/uploads, docs/guides/uploads.md):
 * - uploads: one row per stored file. The row is written before the bytes (`completed_at` null
 *   while they stream in), so a process that dies mid-upload leaves a row the cleanup job finds,
 *   never bytes nobody knows about. `deleted_at` marks an upload whose bytes are being removed
 *   (its URLs stop working at once; the job retries a removal that failed).
 *   No foreign key to channels or apps on purpose: a cascade would drop the row and orphan the
 *   stored bytes. The `upload.cleanup` job deletes the bytes and rows of channels that are gone.
 * - upload_url_keys: one random HMAC key per app that signs the capability URLs of its files.
 *   Not derived from the api secret, so rotating the secret does not break every file link that
 *   messages already hold.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table uploads (
      app_id text not null,
      id uuid not null,
      cid text not null,
      user_id text,
      name text not null,
      mime_type text not null,
      file_size bigint not null,
      storage_key text not null,
      thumb_key text,
      thumb_size integer,
      width integer,
      height integer,
      blurhash text,
      completed_at timestamptz,
      referenced_at timestamptz,
      deleted_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (app_id, id)
    )`.execute(db);
  // The channel's uploads (cleanup of deleted channels joins on it).
  await sql`create index uploads_channel_idx on uploads (app_id, cid, created_at)`.execute(db);
  // The cleanup job's work list: uploads not yet seen attached to a message, oldest first.
  await sql`create index uploads_unreferenced_idx on uploads (created_at) where referenced_at is null`.execute(
    db,
  );
  await sql`
    create table upload_url_keys (
      app_id text primary key references apps (id) on delete cascade,
      key bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table upload_url_keys`.execute(db);
  await sql`drop table uploads`.execute(db);
}
