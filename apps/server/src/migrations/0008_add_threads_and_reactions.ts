import { type Kysely, sql } from 'kysely';

/**
 * Thread counters and reaction counters live on the message row (updated in the transaction that
 * changes them), so a page of messages carries them without extra queries. Reactions are one row
 * per (message, user, type): the primary key makes concurrent identical adds collapse into one.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    alter table messages
      add column reply_count integer not null default 0,
      add column thread_participants text[] not null default '{}',
      add column last_reply_at timestamptz,
      add column reaction_counts jsonb not null default '{}',
      add column reaction_scores jsonb not null default '{}',
      add column mentioned_channel boolean not null default false,
      add column mentioned_here boolean not null default false`.execute(db);
  // Replies of a thread in seq order (pagination, unread replies after a read position).
  await sql`create index messages_thread_seq_idx on messages (app_id, parent_id, seq) where parent_id is not null`.execute(
    db,
  );
  await sql`
    create table reactions (
      app_id text not null,
      message_id uuid not null references messages (id) on delete cascade,
      user_id text not null,
      type text not null,
      score integer not null default 1 check (score >= 1),
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (app_id, message_id, user_id, type)
    )`.execute(db);
  // Latest reactions of a message, and the cursor walk of GET /messages/:id/reactions.
  await sql`create index reactions_message_latest_idx on reactions (app_id, message_id, created_at desc, user_id desc, type desc)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table reactions`.execute(db);
  await sql`drop index messages_thread_seq_idx`.execute(db);
  await sql`
    alter table messages
      drop column reply_count,
      drop column thread_participants,
      drop column last_reply_at,
      drop column reaction_counts,
      drop column reaction_scores,
      drop column mentioned_channel,
      drop column mentioned_here`.execute(db);
}
