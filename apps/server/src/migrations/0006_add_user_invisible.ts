import { type Kysely, sql } from 'kysely';

/** Invisible users appear offline: no presence announcements, no channel presence entries. */
export async function up(db: Kysely<unknown>) {
  await sql`alter table users add column invisible boolean not null default false`.execute(db);
}

export async function down(db: Kysely<unknown>) {
  await sql`alter table users drop column invisible`.execute(db);
}
