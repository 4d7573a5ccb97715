import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>) {
  await sql`
    create table messages (
      app_id text not null,
      id uuid not null primary key,
      cid text not null,
      seq integer not null,
      user_id text not null,
      client_msg_id text,
      type text not null default 'regular',
      text text not null default '',
      custom jsonb not null default '{}',
      attachments jsonb not null default '[]',
      mentioned_user_ids text[] not null default '{}',
      parent_id uuid,
      reply_to_id uuid,
      show_in_channel boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      edited_at timestamptz,
      deleted_at timestamptz,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  // Pagination walks (app, channel, id) both ways; seq is unique per channel.
  await sql`create unique index messages_channel_id_idx on messages (app_id, cid, id)`.execute(db);
  await sql`create unique index messages_channel_seq_idx on messages (app_id, cid, seq)`.execute(db);
  // Idempotent sends: one row per (app, channel, user, client_msg_id).
  await sql`create unique index messages_client_msg_id_idx on messages (app_id, cid, user_id, client_msg_id) where client_msg_id is not null`.execute(
    db,
  );
  await sql`create index messages_parent_idx on messages (app_id, parent_id, id) where parent_id is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table messages`.execute(db);
}
