import { type Kysely, sql } from 'kysely';

/**
 * Push notifications (docs/guides/push.md):
 * - push_devices: where a user's pushes go (a Web Push subscription, a OneSignal subscription id,
 *   an APNs/FCM token); one row per (provider, token) per app.
 * - push_preferences / push_channel_preferences: level (all, mentions, none), per-channel levels,
 *   do-not-disturb schedule and snooze.
 * - push_notifications: one row per (user, message) that passed the rules: the idempotency key of
 *   the push pipeline (a retried job never pushes twice) and the queue a bundle is built from.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table push_devices (
      app_id text not null,
      id uuid not null,
      user_id text not null,
      provider text not null check (provider in ('web_push', 'onesignal', 'apns', 'fcm')),
      token text not null,
      p256dh text,
      auth text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, id),
      unique (app_id, provider, token),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  await sql`create index push_devices_by_user_idx on push_devices (app_id, user_id)`.execute(db);
  await sql`
    create table push_preferences (
      app_id text not null,
      user_id text not null,
      level text not null default 'all' check (level in ('all', 'mentions', 'none')),
      dnd_start text,
      dnd_end text,
      dnd_tz text,
      snooze_until timestamptz,
      deliver_after_dnd boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, user_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  await sql`
    create table push_channel_preferences (
      app_id text not null,
      user_id text not null,
      cid text not null,
      level text not null check (level in ('all', 'mentions', 'none')),
      created_at timestamptz not null default now(),
      primary key (app_id, user_id, cid),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  await sql`
    create table push_notifications (
      app_id text not null,
      user_id text not null,
      message_id uuid not null,
      cid text not null,
      parent_id uuid,
      status text not null check (status in ('pending', 'sending', 'sent', 'dropped')),
      bundle_id uuid,
      reason text,
      deliver_after timestamptz,
      created_at timestamptz not null default now(),
      sent_at timestamptz,
      primary key (app_id, user_id, message_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid, message_id) references messages (app_id, cid, id) on delete cascade
    )`.execute(db);
  await sql`
    create index push_notifications_pending_idx on push_notifications (app_id, user_id, created_at)
    where status = 'pending'`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table push_notifications`.execute(db);
  await sql`drop table push_channel_preferences`.execute(db);
  await sql`drop table push_preferences`.execute(db);
  await sql`drop table push_devices`.execute(db);
}
