import { type Kysely, sql } from 'kysely';

/**
 * The Zulip UserMessage pattern: one row per (user, message) only for messages that matter to
 * that user beyond plain reading, with a flags bitmask (MENTIONED = 1, STARRED = 2,
 * THREAD_PARTICIPANT = 4; see user-messages.repository.ts). Partial indexes per flag make "my
 * mentions", "unread mentions per channel" and "my threads" index lookups. Plain unread counts
 * stay seq arithmetic on members; `seq` here is the message's channel seq for that comparison.
 *
 * thread_reads: a user's read position in one thread (channel seq of the last reply read).
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table user_messages (
      app_id text not null,
      user_id text not null,
      message_id uuid not null references messages (id) on delete cascade,
      cid text not null,
      seq integer not null,
      flags integer not null default 0,
      created_at timestamptz not null default now(),
      primary key (app_id, user_id, message_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  await sql`create index user_messages_mentioned_idx on user_messages (app_id, user_id, message_id desc) where flags & 1 <> 0`.execute(
    db,
  );
  await sql`create index user_messages_unread_mentions_idx on user_messages (app_id, user_id, cid, seq) where flags & 1 <> 0`.execute(
    db,
  );
  await sql`create index user_messages_threads_idx on user_messages (app_id, user_id, message_id) where flags & 4 <> 0`.execute(
    db,
  );
  await sql`
    create table thread_reads (
      app_id text not null,
      user_id text not null,
      parent_id uuid not null references messages (id) on delete cascade,
      last_read_seq integer not null default 0,
      last_read_at timestamptz not null,
      primary key (app_id, user_id, parent_id),
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table thread_reads`.execute(db);
  await sql`drop table user_messages`.execute(db);
}
