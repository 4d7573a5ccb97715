import { type Kysely, sql } from 'kysely';

/**
 * Polls, their options and votes; custom slash commands; and the ephemeral command previews
 * (/giphy's Send / Shuffle / Cancel) a user acts on.
 *
 * - A poll is created on its own (POST /polls) and sent once with a message: `messages.poll_id`
 *   points at it, and `polls.(cid, message_id)` back at the message, so a hard-deleted message (or
 *   channel) takes its poll and votes with it.
 * - Vote counters live on the poll row (updated in the vote's transaction, under the poll's row
 *   lock), so a page of messages carries results without counting votes.
 * - Unique indexes make votes idempotent: one vote per (poll, user, option), one answer per
 *   (poll, user).
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table polls (
      app_id text not null references apps (id) on delete cascade,
      id uuid not null,
      created_by text not null,
      name text not null,
      description text,
      voting_visibility text not null default 'public',
      enforce_unique_vote boolean not null default false,
      max_votes_allowed integer,
      allow_user_suggested_options boolean not null default false,
      allow_answers boolean not null default false,
      is_closed boolean not null default false,
      closed_at timestamptz,
      custom jsonb not null default '{}',
      vote_count integer not null default 0,
      answers_count integer not null default 0,
      vote_counts_by_option jsonb not null default '{}',
      cid text,
      message_id uuid,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, id),
      foreign key (app_id, cid, message_id) references messages (app_id, cid, id) on delete cascade
    )`.execute(db);
  await sql`create unique index polls_message_idx on polls (app_id, message_id) where message_id is not null`.execute(
    db,
  );
  await sql`
    create table poll_options (
      app_id text not null,
      poll_id uuid not null,
      id uuid not null,
      position integer not null,
      text text not null,
      custom jsonb not null default '{}',
      suggested_by text,
      created_at timestamptz not null default now(),
      primary key (app_id, poll_id, id),
      foreign key (app_id, poll_id) references polls (app_id, id) on delete cascade
    )`.execute(db);
  await sql`create unique index poll_options_text_idx on poll_options (app_id, poll_id, lower(text))`.execute(
    db,
  );
  await sql`
    create table poll_votes (
      app_id text not null,
      poll_id uuid not null,
      id uuid not null,
      user_id text not null,
      option_id uuid,
      answer_text text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, id),
      foreign key (app_id, poll_id) references polls (app_id, id) on delete cascade,
      foreign key (app_id, poll_id, option_id) references poll_options (app_id, poll_id, id) on delete cascade,
      check ((option_id is null) <> (answer_text is null))
    )`.execute(db);
  await sql`create unique index poll_votes_option_idx on poll_votes (app_id, poll_id, user_id, option_id) where option_id is not null`.execute(
    db,
  );
  await sql`create unique index poll_votes_answer_idx on poll_votes (app_id, poll_id, user_id) where option_id is null`.execute(
    db,
  );
  // Latest votes per option and latest answers (newest first).
  await sql`create index poll_votes_latest_idx on poll_votes (app_id, poll_id, option_id, created_at desc)`.execute(
    db,
  );
  await sql`alter table messages add column poll_id uuid`.execute(db);

  await sql`
    create table commands (
      app_id text not null references apps (id) on delete cascade,
      name text not null,
      description text not null default '',
      args text not null default '',
      set text not null default '',
      url text,
      -- The HMAC key of command requests: kept as is because signing needs it; shown once.
      secret text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, name)
    )`.execute(db);
  await sql`
    create table command_previews (
      app_id text not null,
      id uuid not null,
      cid text not null,
      user_id text not null,
      command text not null,
      args text not null,
      parent_id uuid,
      -- What the preview shows (the ephemeral message's text and attachments) and command state
      -- (e.g. the GIPHY result offset for Shuffle).
      state jsonb not null default '{}',
      expires_at timestamptz not null,
      created_at timestamptz not null default now(),
      primary key (app_id, id),
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade
    )`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table command_previews`.execute(db);
  await sql`drop table commands`.execute(db);
  await sql`alter table messages drop column poll_id`.execute(db);
  await sql`drop table poll_votes`.execute(db);
  await sql`drop table poll_options`.execute(db);
  await sql`drop table polls`.execute(db);
}
