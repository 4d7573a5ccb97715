import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>) {
  await sql`
    create table channel_types (
      app_id text not null references apps(id) on delete cascade,
      name text not null,
      config jsonb not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, name)
    )`.execute(db);
  await sql`
    create table channels (
      app_id text not null,
      cid text not null,
      type text not null,
      id text not null,
      name text,
      image text,
      custom jsonb not null default '{}',
      created_by text,
      frozen boolean not null default false,
      slow_mode_seconds integer,
      distinct_key text,
      member_count integer not null default 0,
      last_message_at timestamptz,
      last_seq integer not null default 0,
      truncated_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, cid),
      foreign key (app_id, type) references channel_types (app_id, name) on delete restrict
    )`.execute(db);
  await sql`create unique index channels_distinct_key_idx on channels (app_id, distinct_key) where distinct_key is not null`.execute(
    db,
  );
  await sql`create index channels_app_last_message_idx on channels (app_id, last_message_at desc nulls last)`.execute(
    db,
  );
  await sql`create index channels_app_type_idx on channels (app_id, type)`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table channels`.execute(db);
  await sql`drop table channel_types`.execute(db);
}
