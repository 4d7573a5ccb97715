import { type Kysely, sql } from 'kysely';

/**
 * Moderation (ADR 0010):
 * - bans: the one record of app-wide (cid null) and channel bans, timed (expires_at) or permanent.
 *   A ban is in force while `expires_at is null or expires_at > now()`: expiry needs no job.
 *   Existing users.banned and members.banned flags are copied in. users.banned / ban_expires_at /
 *   ban_reason stay as a copy of the app-wide ban (the auth path reads the user row anyway);
 *   members.banned is no longer read (membership reads compute it from bans), so removing a member
 *   no longer lifts a channel ban and a non-member can be banned.
 * - blocks: a user blocked another user (their DMs are refused, their messages hidden).
 * - flags: reports of a message or a user, with a review status (the moderation queue).
 * - blocklists: per-app word lists with a behaviour (block, flag, mask).
 * - moderation_audit_log: every moderator action, written in the action's transaction.
 * - a partial index on shadowed messages for unread-count arithmetic.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table bans (
      app_id text not null,
      id text not null,
      user_id text not null,
      cid text,
      reason text,
      banned_by text,
      expires_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (app_id, id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  await sql`create unique index bans_app_wide_key on bans (app_id, user_id) where cid is null`.execute(db);
  await sql`create unique index bans_channel_key on bans (app_id, user_id, cid) where cid is not null`.execute(
    db,
  );
  await sql`create index bans_by_channel_idx on bans (app_id, cid, created_at)`.execute(db);

  await sql`
    insert into bans (app_id, id, user_id, cid, reason, banned_by, expires_at, created_at)
    select app_id, gen_random_uuid()::text, id, null, ban_reason, null, ban_expires_at, updated_at
    from users where banned`.execute(db);
  await sql`
    insert into bans (app_id, id, user_id, cid, reason, banned_by, expires_at, created_at)
    select app_id, gen_random_uuid()::text, user_id, cid, null, null, null, updated_at
    from members where banned`.execute(db);

  await sql`
    create table blocks (
      app_id text not null,
      user_id text not null,
      target_id text not null,
      created_at timestamptz not null default now(),
      primary key (app_id, user_id, target_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, target_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  await sql`create index blocks_by_target_idx on blocks (app_id, target_id)`.execute(db);

  await sql`
    create table flags (
      app_id text not null,
      id text not null,
      target_type text not null check (target_type in ('message', 'user')),
      message_id uuid,
      cid text,
      target_user_id text not null,
      flagged_by text,
      reason text not null,
      status text not null default 'open' check (status in ('open', 'dismissed', 'message_removed', 'user_banned')),
      reviewed_by text,
      reviewed_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (app_id, id),
      foreign key (app_id, target_user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  // One open report per reporter and target; the queue walks open flags newest first.
  await sql`create unique index flags_open_message_key on flags (app_id, flagged_by, message_id) where status = 'open' and message_id is not null`.execute(
    db,
  );
  await sql`create unique index flags_open_user_key on flags (app_id, flagged_by, target_user_id) where status = 'open' and target_type = 'user'`.execute(
    db,
  );
  await sql`create index flags_queue_idx on flags (app_id, status, id)`.execute(db);
  await sql`create index flags_by_message_idx on flags (app_id, message_id) where message_id is not null`.execute(
    db,
  );

  await sql`
    create table blocklists (
      app_id text not null references apps (id) on delete cascade,
      name text not null,
      words text[] not null,
      behavior text not null check (behavior in ('block', 'flag', 'mask')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, name)
    )`.execute(db);

  await sql`
    create table moderation_audit_log (
      app_id text not null references apps (id) on delete cascade,
      id text not null,
      action text not null,
      actor_id text,
      target_user_id text,
      cid text,
      message_id text,
      details jsonb not null default '{}',
      created_at timestamptz not null default now(),
      primary key (app_id, id)
    )`.execute(db);

  // Unread counts subtract others' shadowed messages after the read position: a small index.
  await sql`create index messages_shadowed_idx on messages (app_id, cid, seq) where shadowed`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop index messages_shadowed_idx`.execute(db);
  await sql`drop table moderation_audit_log`.execute(db);
  await sql`drop table blocklists`.execute(db);
  await sql`drop table flags`.execute(db);
  await sql`drop table blocks`.execute(db);
  await sql`drop table bans`.execute(db);
}
