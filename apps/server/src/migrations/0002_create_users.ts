import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>) {
  await sql`
    create table users (
      app_id text not null references apps(id) on delete cascade,
      id text not null,
      name text,
      image text,
      role text not null default 'user' check (role in ('user', 'admin', 'moderator', 'guest')),
      custom jsonb not null default '{}',
      banned boolean not null default false,
      ban_expires_at timestamptz,
      ban_reason text,
      deleted_at timestamptz,
      last_active_at timestamptz,
      tokens_revoked_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, id)
    )`.execute(db);
  await sql`create index users_app_created_idx on users (app_id, created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table users`.execute(db);
}
