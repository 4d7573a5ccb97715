import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * PGlite is single-process: two processes opening one data dir would corrupt it. The first
 * process takes a pid lock (created exclusively, so two processes starting at once cannot both
 * win); a second one is refused with a clear message. A lock left by a process that died is
 * taken over. Returns the function that releases the lock.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(path.resolve(dataDir), 'parley.pid');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0)
        throw lockError(dataDir, file, error);
    }
    const holder = readPid(file);
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new Error(
        `${dataDir} is in use by process ${holder}. Embedded PGlite allows one process per data dir: stop it, use another PARLEY_DATA_DIR, or set DATABASE_URL.`,
      );
    }
    rmSync(file, { force: true }); // stale: its process is gone
  }
  return () => {
    if (readPid(file) === process.pid) rmSync(file, { force: true });
  };
}

function readPid(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

function lockError(dataDir: string, file: string, error: unknown): Error {
  const holder = readPid(file);
  if (holder && holder !== process.pid && isAlive(holder)) {
    return new Error(`${dataDir} is in use by process ${holder} (it started at the same moment).`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
