import { type Kysely, sql } from 'kysely';

/**
 * Search and sync (see docs/guides/search-and-sync.md and ADR "event log for /sync").
 *
 * Search: messages.search_config (the text search configuration the row was indexed with: the
 * app's `search_language` when the message was written, `simple` when that is not a configuration
 * the database has) and messages.search_vector, both set by a BEFORE trigger on insert and on
 * changes of `text`. A stored per-row config keeps the expression immutable (no lookup of app
 * settings inside an index expression); a GIN index serves `search_vector @@ tsquery`.
 *
 * Sync: event_log holds every durable domain event (not typing or presence) for 30 days, written
 * in the transaction of the write that caused it (EventBus.onCommitting). `seq` is per app,
 * assigned under the row lock of the app's event_log_heads row, which is taken at the end of the
 * transaction and held until commit: seq order is commit order, and `logged_at` (strictly
 * increasing per app) can serve as the client's cursor. `pruned_through`: events logged at or
 * before it may be gone (older syncs must refetch).
 *
 * channels_remember_members: channel deletion cascades to members, so a BEFORE DELETE trigger
 * remembers the members (in a transaction-local setting) for the log to know who may see the
 * channel.deleted event.
 */
export async function up(db: Kysely<unknown>) {
  await sql`alter table messages add column search_config regconfig`.execute(db);
  await sql`alter table messages add column search_vector tsvector`.execute(db);
  await sql`
    create function messages_search_vector() returns trigger language plpgsql as $$
    declare
      cfg regconfig;
    begin
      select c.oid::regconfig into cfg
        from apps a
        join pg_catalog.pg_ts_config c on c.cfgname = coalesce(a.settings->>'search_language', 'english')
       where a.id = new.app_id
       limit 1;
      new.search_config := coalesce(cfg, 'pg_catalog.simple'::regconfig);
      new.search_vector := to_tsvector(new.search_config, coalesce(new.text, ''));
      return new;
    end
    $$`.execute(db);
  await sql`
    create trigger messages_search_vector before insert or update of text on messages
    for each row execute function messages_search_vector()`.execute(db);
  // Index the messages that already exist.
  await sql`update messages set text = text`.execute(db);
  await sql`create index messages_search_idx on messages using gin (search_vector)`.execute(db);

  await sql`
    create table event_log_heads (
      app_id text primary key references apps (id) on delete cascade,
      last_seq bigint not null default 0,
      last_logged_at timestamptz not null default '-infinity',
      pruned_through timestamptz not null default '-infinity'
    )`.execute(db);
  // Apps that existed before the log: their earlier history is not in it.
  await sql`
    insert into event_log_heads (app_id, last_logged_at, pruned_through)
    select id, now(), now() from apps`.execute(db);
  await sql`
    create table event_log (
      app_id text not null references apps (id) on delete cascade,
      seq bigint not null,
      type text not null,
      cid text,
      user_id text,
      only_user_id text,
      audience text[],
      payload jsonb not null,
      logged_at timestamptz not null,
      primary key (app_id, seq)
    )`.execute(db);
  await sql`create index event_log_by_cid_idx on event_log (app_id, cid, seq) where cid is not null`.execute(
    db,
  );
  await sql`create index event_log_by_user_idx on event_log (app_id, user_id, seq) where user_id is not null`.execute(
    db,
  );
  await sql`create index event_log_by_time_idx on event_log (app_id, logged_at)`.execute(db);

  await sql`
    create function channels_remember_members() returns trigger language plpgsql as $$
    declare
      known jsonb := coalesce(nullif(current_setting('parley.deleted_channel_members', true), ''), '{}')::jsonb;
    begin
      perform set_config(
        'parley.deleted_channel_members',
        (known || jsonb_build_object(
          old.app_id || ' ' || old.cid,
          (select coalesce(jsonb_agg(m.user_id), '[]'::jsonb) from members m
            where m.app_id = old.app_id and m.cid = old.cid)
        ))::text,
        true);
      return old;
    end
    $$`.execute(db);
  await sql`
    create trigger channels_remember_members before delete on channels
    for each row execute function channels_remember_members()`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop trigger channels_remember_members on channels`.execute(db);
  await sql`drop function channels_remember_members()`.execute(db);
  await sql`drop table event_log`.execute(db);
  await sql`drop table event_log_heads`.execute(db);
  await sql`drop index messages_search_idx`.execute(db);
  await sql`drop trigger messages_search_vector on messages`.execute(db);
  await sql`drop function messages_search_vector()`.execute(db);
  await sql`alter table messages drop column search_vector`.execute(db);
  await sql`alter table messages drop column search_config`.execute(db);
}
