import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>) {
  await sql`
    create table members (
      app_id text not null,
      cid text not null,
      user_id text not null,
      role text not null default 'member' check (role in ('owner', 'moderator', 'member')),
      invited boolean not null default false,
      invite_accepted_at timestamptz,
      invite_rejected_at timestamptz,
      banned boolean not null default false,
      last_read_seq integer not null default 0,
      last_read_at timestamptz,
      hidden boolean not null default false,
      cleared_seq integer not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (app_id, cid, user_id),
      foreign key (app_id, cid) references channels (app_id, cid) on delete cascade,
      foreign key (app_id, user_id) references users (app_id, id) on delete cascade
    )`.execute(db);
  // "My channels" is the hot lookup: by user first.
  await sql`create index members_app_user_idx on members (app_id, user_id, cid)`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table members`.execute(db);
}
