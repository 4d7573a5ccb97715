import type { Config } from './config.js';
import { lockDataDir } from './data-dir-lock.js';
import { type DatabaseHandle, openDatabase } from './db.js';
import { migrateToLatest } from './migrate.js';

/** Opens the configured database (locking an embedded data dir) and applies pending migrations. */
export async function openMigratedDatabase(config: Config): Promise<DatabaseHandle & { unlock: () => void }> {
  const unlock = config.DATABASE_URL ? () => {} : lockDataDir(config.PARLEY_DATA_DIR);
  try {
    const database = await openDatabase(config);
    await migrateToLatest(database.db);
    return { ...database, unlock };
  } catch (error) {
    unlock();
    throw error;
  }
}
