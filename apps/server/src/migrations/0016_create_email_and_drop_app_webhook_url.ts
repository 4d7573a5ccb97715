import { type Kysely, sql } from 'kysely';

/**
 * Email, webhook housekeeping, and one way to configure webhooks:
 * - email_preferences: a user's address and which emails they want (offline mentions, digest);
 *   `unsubscribed_at` is set by the unsubscribe link for "no email at all".
 * - email_sends: one row per email sent, keyed by what it is about (a mention, a digest window),
 *   so a retried job does not send the same email again once it is recorded.
 * - webhook_deliveries (created_at): the retention job deletes old log rows by age.
 * - apps.webhook_url is dropped: it was stored and shown but never delivered to; webhook endpoints
 *   (POST /webhooks, migration 0007) are the only way to receive events.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table email_preferences (
      app_id text not null,
      user_id text not null,
      email text,
      mentions boolean not null default true,
      digest boolean not null default true,
      unsubscribed_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, user_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  await sql`
    create table email_sends (
      app_id text not null references apps (id) on delete cascade,
      key text not null,
      user_id text not null,
      kind text not null,
      created_at timestamptz not null default now(),
      primary key (app_id, key)
    )`.execute(db);
  await sql`create index webhook_deliveries_created_idx on webhook_deliveries (created_at)`.execute(db);
  await sql`alter table apps drop column webhook_url`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`alter table apps add column webhook_url text`.execute(db);
  await sql`drop index webhook_deliveries_created_idx`.execute(db);
  await sql`drop table email_sends`.execute(db);
  await sql`drop table email_preferences`.execute(db);
}
