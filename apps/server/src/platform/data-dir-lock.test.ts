import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDataDir } from './data-dir-lock.js';

const dirs: string[] = [];
const newDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-lock-'));
  dirs.push(dir);
  return path.join(dir, 'data');
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('lockDataDir', () => {
  it('creates the data dir, writes our pid, and removes it on release', () => {
    const dir = newDir();
    const release = lockDataDir(dir);
    const file = path.join(dir, 'parley.pid');
    expect(readFileSync(file, 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a data dir locked by a live process, naming it', async () => {
    const dir = newDir();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      lockDataDir(dir)();
      writeFileSync(path.join(dir, 'parley.pid'), String(other.pid));
      expect(() => lockDataDir(dir)).toThrow(`is in use by process ${other.pid}`);
      // The refused attempt leaves the holder's lock alone.
      expect(readFileSync(path.join(dir, 'parley.pid'), 'utf8')).toBe(String(other.pid));
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a process that is gone', () => {
    const dir = newDir();
    lockDataDir(dir)();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(path.join(dir, 'parley.pid'), String(dead));
    const release = lockDataDir(dir);
    expect(readFileSync(path.join(dir, 'parley.pid'), 'utf8')).toBe(String(process.pid));
    release();
  });

  it('does not remove a lock another process took after ours was released', () => {
    const dir = newDir();
    const release = lockDataDir(dir);
    writeFileSync(path.join(dir, 'parley.pid'), '999999999');
    release();
    expect(readFileSync(path.join(dir, 'parley.pid'), 'utf8')).toBe('999999999');
  });
});
