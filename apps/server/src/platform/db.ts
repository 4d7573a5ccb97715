import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Config } from './config.js';
import type { Database } from './db.types.js';
import { PGliteDialect } from './pglite-dialect.js';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: repositories accept both. */
export type Executor = Db | Tx;

export interface DatabaseHandle {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** For pg-boss and tests that need raw SQL on the same database. */
  pglite?: PGlite;
  pool?: pg.Pool;
  close(): Promise<void>;
}

// int8 (count(*), sums) as JS numbers: our counters stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

export async function openDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'PARLEY_DATA_DIR' | 'DATABASE_POOL_SIZE'>,
  options: { inMemory?: boolean } = {},
): Promise<DatabaseHandle> {
  if (config.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE });
    // An idle client dying (Postgres restart, dropped connection) must not crash the process: the pool
    // discards it and opens a new one on the next query.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', pool, close: () => db.destroy() };
  }
  let dataDir: string | undefined;
  if (!options.inMemory) {
    dataDir = path.resolve(config.PARLEY_DATA_DIR, 'pgdata');
    mkdirSync(dataDir, { recursive: true });
  }
  const pglite = await PGlite.create(dataDir ? { dataDir } : {});
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return { db, kind: 'pglite', pglite, close: () => db.destroy() };
}

export async function pingDatabase(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

/** Postgres unique-violation, the same code on PGlite and real Postgres. */
export const isUniqueViolation = (error: unknown, constraint?: string) =>
  typeof error === 'object' &&
  error !== null &&
  (error as { code?: string }).code === '23505' &&
  (!constraint || (error as { constraint?: string }).constraint === constraint);
