import { type Kysely, sql } from 'kysely';

/**
 * Message features on top of messages and read state (issue #6):
 * - message_edits: every edit keeps the replaced text (who edited, when) for moderators.
 * - members.last_delivered_seq / last_delivered_at: per-member delivered position (receipts);
 *   with last_read_seq it answers "read by" / "delivered to" for a message by seq comparison.
 * - messages.pinned_at / pinned_by / pin_expires_at, with a partial index for the pinned list.
 * - user_messages.starred_at and a partial index for "my starred" (STARRED = 2).
 * - drafts: one per user per channel or thread (thread_key = parent id, or '' for the channel).
 * - reminders: one per user per message; a pg-boss job at remind_at delivers it.
 * - scheduled_messages: sent at send_at by a pg-boss job through the normal send path.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table message_edits (
      app_id text not null,
      id uuid primary key,
      message_id uuid not null references messages (id) on delete cascade,
      cid text not null,
      edited_by text,
      text text not null,
      attachments jsonb not null default '[]',
      version_created_at timestamptz not null,
      edited_at timestamptz not null
    )`.execute(db);
  await sql`create index message_edits_by_message_idx on message_edits (app_id, message_id, id)`.execute(db);

  await sql`alter table members add column last_delivered_seq integer not null default 0`.execute(db);
  await sql`alter table members add column last_delivered_at timestamptz`.execute(db);

  await sql`alter table messages add column pinned_at timestamptz`.execute(db);
  await sql`alter table messages add column pinned_by text`.execute(db);
  await sql`alter table messages add column pin_expires_at timestamptz`.execute(db);
  await sql`create index messages_pinned_idx on messages (app_id, cid, pinned_at desc, id desc) where pinned_at is not null`.execute(
    db,
  );

  await sql`alter table user_messages add column starred_at timestamptz`.execute(db);
  await sql`create index user_messages_starred_idx on user_messages (app_id, user_id, starred_at desc, message_id desc) where flags & 2 <> 0`.execute(
    db,
  );

  await sql`
    create table drafts (
      app_id text not null,
      user_id text not null,
      cid text not null,
      thread_key text not null default '',
      parent_id uuid references messages (id) on delete cascade,
      reply_to_id uuid,
      text text not null,
      attachments jsonb not null default '[]',
      custom jsonb not null default '{}',
      mentioned_user_ids text[] not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, user_id, cid, thread_key),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  await sql`create index drafts_by_user_idx on drafts (app_id, user_id, updated_at desc)`.execute(db);

  await sql`
    create table reminders (
      app_id text not null,
      user_id text not null,
      message_id uuid not null references messages (id) on delete cascade,
      cid text not null,
      remind_at timestamptz not null,
      note text,
      delivered_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, user_id, message_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  await sql`create index reminders_by_user_idx on reminders (app_id, user_id, remind_at, message_id)`.execute(
    db,
  );

  await sql`
    create table scheduled_messages (
      app_id text not null,
      id uuid primary key,
      user_id text not null,
      cid text not null,
      send_at timestamptz not null,
      text text not null default '',
      attachments jsonb not null default '[]',
      custom jsonb not null default '{}',
      mentioned_user_ids text[] not null default '{}',
      parent_id uuid,
      reply_to_id uuid,
      show_in_channel boolean not null default false,
      status text not null default 'scheduled',
      message_id uuid,
      error_code text,
      error_message text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade,
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
  await sql`create index scheduled_messages_by_user_idx on scheduled_messages (app_id, user_id, send_at, id)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table scheduled_messages`.execute(db);
  await sql`drop table reminders`.execute(db);
  await sql`drop table drafts`.execute(db);
  await sql`drop index user_messages_starred_idx`.execute(db);
  await sql`alter table user_messages drop column starred_at`.execute(db);
  await sql`drop index messages_pinned_idx`.execute(db);
  await sql`alter table messages drop column pin_expires_at`.execute(db);
  await sql`alter table messages drop column pinned_by`.execute(db);
  await sql`alter table messages drop column pinned_at`.execute(db);
  await sql`alter table members drop column last_delivered_at`.execute(db);
  await sql`alter table members drop column last_delivered_seq`.execute(db);
  await sql`drop table message_edits`.execute(db);
}
