import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertValidKey,
  type ByteRange,
  type FileStorage,
  StorageError,
  type StoredObject,
} from './storage.js';

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException)?.code === 'ENOENT';

/**
 * Files under one directory (`PARLEY_DATA_DIR/uploads` by default). Writes go to `.tmp/` first
 * and are renamed into place after an fsync, so a crash or an aborted body never leaves a partial
 * file under a real key (rename is atomic within one file system; `.tmp` is inside the root).
 */
export class DiskStorage implements FileStorage {
  readonly kind = 'disk' as const;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The file of a key; refuses anything that would resolve outside the root. */
  pathOf(key: string): string {
    assertValidKey(key);
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`storage key escapes the root: ${key}`);
    return path;
  }

  async removeStalePartials(before: Date): Promise<number> {
    const tmpDir = join(this.root, '.tmp');
    let names: string[];
    try {
      names = await readdir(tmpDir);
    } catch (error) {
      if (isMissing(error)) return 0;
      throw new StorageError(`cannot list ${tmpDir}: ${(error as Error).message}`);
    }
    let removed = 0;
    for (const name of names) {
      if (!name.endsWith('.part')) continue;
      const path = join(tmpDir, name);
      try {
        if ((await stat(path)).mtime >= before) continue;
        await unlink(path);
        removed++;
      } catch (error) {
        // Renamed into place or removed by its upload meanwhile: nothing to do.
        if (!isMissing(error)) throw new StorageError(`cannot remove ${path}: ${(error as Error).message}`);
      }
    }
    return removed;
  }

  async put(key: string, body: Readable, _meta: { contentType: string; size: number }): Promise<void> {
    const target = this.pathOf(key);
    const tmpDir = join(this.root, '.tmp');
    const tmp = join(tmpDir, `${randomBytes(12).toString('hex')}.part`);
    try {
      await mkdir(tmpDir, { recursive: true });
      await mkdir(dirname(target), { recursive: true });
    } catch (error) {
      body.destroy();
      throw new StorageError(`cannot create upload directories: ${(error as Error).message}`);
    }
    try {
      await pipeline(body, createWriteStream(tmp, { flags: 'wx' }));
      const handle = await open(tmp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      // The body's own failure (abort, limit) is passed through as is: it is not a store failure.
      if (body.errored) throw body.errored;
      throw new StorageError(`cannot write ${key}: ${(error as Error).message}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<StoredObject | undefined> {
    const path = this.pathOf(key);
    try {
      const { size } = await stat(path);
      const body = createReadStream(path, range ? { start: range.start, end: range.end } : {});
      return { body, size };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new StorageError(`cannot read ${key}: ${(error as Error).message}`);
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.pathOf(key))).size };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new StorageError(`cannot stat ${key}: ${(error as Error).message}`);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw new StorageError(`cannot delete ${key}: ${(error as Error).message}`);
    }
    // Drop the upload's directory once it is empty (best effort; another variant may remain).
    await rmdir(dirname(path)).catch(() => {});
  }
}
