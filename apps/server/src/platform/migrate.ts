import { Migrator } from 'kysely';
import { migrations } from '../migrations/index.js';
import type { Db } from './db.js';

const migrator = (db: Db) => new Migrator({ db, provider: { getMigrations: async () => migrations } });

/** Applies every pending migration; throws with the failing migration's name on error. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`Migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).map((r) => r.migrationName);
}

/** True when every known migration has been applied (readiness check). */
export async function migrationsAreCurrent(db: Db): Promise<boolean> {
  const list = await migrator(db).getMigrations();
  return list.every((m) => m.executedAt !== undefined);
}
