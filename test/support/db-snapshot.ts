import { type Kysely, sql } from 'kysely';
import type { Database } from '../../apps/server/src/platform/db.types.js';

/** Tables with an `app_id` column: tenant data. Read from the catalog so new tables are covered. */
async function tenantTables(db: Kysely<Database>): Promise<string[]> {
  const tables = await sql<{ table_name: string }>`
    select distinct table_name from information_schema.columns
    where column_name = 'app_id' and table_schema = current_schema()
    order by table_name`.execute(db);
  return tables.rows.map((t) => t.table_name);
}

/**
 * Every row of one app (its `apps` row and its rows in every tenant table), each as JSON, sorted.
 * Two equal snapshots mean nothing of the app was inserted, updated or deleted in between.
 */
export async function snapshotOfApp(db: Kysely<Database>, appId: string): Promise<Record<string, string[]>> {
  const snapshot: Record<string, string[]> = {};
  for (const table of await tenantTables(db)) {
    const rows = await sql<Record<string, unknown>>`
      select * from ${sql.table(table)} where app_id = ${appId}`.execute(db);
    snapshot[table] = rows.rows.map((r) => JSON.stringify(r)).sort();
  }
  const app = await sql<Record<string, unknown>>`select * from apps where id = ${appId}`.execute(db);
  snapshot.apps = app.rows.map((r) => JSON.stringify(r));
  return snapshot;
}

/** Row counts of `apps` and every tenant table, across all apps. */
export async function rowCounts(db: Kysely<Database>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['apps', ...(await tenantTables(db))]) {
    const res = await sql<{ n: string | number }>`select count(*) as n from ${sql.table(table)}`.execute(db);
    counts[table] = Number(res.rows[0]!.n);
  }
  return counts;
}
