import { type Kysely, sql } from 'kysely';

/**
 * The moderation columns other domains read, created first so every reader agrees on them:
 * - users.shadow_banned: the user's new messages are marked `shadowed`.
 * - messages.shadowed: visible only to its author (lists, search, events, unread counts, push and
 *   sync all filter `not shadowed or user_id = viewer`).
 * - channel_mutes: a user muted a channel (no push/email except mentions; unread counts still count).
 * - user_mutes: a user muted another user (no push/email for that user's messages).
 * A null expires_at means "until unmuted".
 */
export async function up(db: Kysely<unknown>) {
  await sql`alter table users add column shadow_banned boolean not null default false`.execute(db);
  await sql`alter table messages add column shadowed boolean not null default false`.execute(db);
  await sql`
    create table channel_mutes (
      app_id text not null,
      user_id text not null,
      cid text not null,
      expires_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (app_id, user_id, cid),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  await sql`create index channel_mutes_by_channel_idx on channel_mutes (app_id, cid)`.execute(db);
  await sql`
    create table user_mutes (
      app_id text not null,
      user_id text not null,
      target_id text not null,
      expires_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (app_id, user_id, target_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, target_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  await sql`create index user_mutes_by_target_idx on user_mutes (app_id, target_id)`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table user_mutes`.execute(db);
  await sql`drop table channel_mutes`.execute(db);
  await sql`alter table messages drop column shadowed`.execute(db);
  await sql`alter table users drop column shadow_banned`.execute(db);
}
