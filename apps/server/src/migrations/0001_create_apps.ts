import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>) {
  await sql`
    create table apps (
      id text primary key,
      name text not null unique,
      api_key text not null unique,
      secret_hash bytea not null,
      previous_secret_hash bytea,
      previous_secret_expires_at timestamptz,
      webhook_url text,
      settings jsonb not null default '{}',
      limits jsonb not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table apps`.execute(db);
}
