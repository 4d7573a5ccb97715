import { describe, expect, it } from 'vitest';
import { byApp, ReadBatcher } from './read-batcher.js';

interface Row {
  id: string;
  n: number;
}

/** A batcher over an in-memory table that records every batch it was asked to load. */
function tableBatcher(rows: Row[], maxBatch?: number) {
  const batches: string[][] = [];
  const batcher = new ReadBatcher<string, Row>(
    async (keys) => {
      batches.push([...keys]);
      return new Map(rows.filter((row) => keys.includes(row.id)).map((row) => [row.id, row]));
    },
    (key) => key,
    undefined,
    maxBatch,
  );
  return { batcher, batches };
}

describe('ReadBatcher', () => {
  it('loads the reads of one turn of the event loop in one batch, and a later read in the next', async () => {
    const { batcher, batches } = tableBatcher([
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
    ]);
    const [a, b, missing] = await Promise.all([batcher.load('a'), batcher.load('b'), batcher.load('zz')]);
    expect(a).toEqual({ id: 'a', n: 1 });
    expect(b).toEqual({ id: 'b', n: 2 });
    expect(missing).toBeUndefined();
    expect(batches).toEqual([['a', 'b', 'zz']]);

    expect(await batcher.load('b')).toEqual({ id: 'b', n: 2 });
    expect(batches).toEqual([['a', 'b', 'zz'], ['b']]);
  });

  it('asks for a key once per batch and gives every caller its own object', async () => {
    const { batcher, batches } = tableBatcher([{ id: 'a', n: 1 }]);
    const [first, second] = await Promise.all([batcher.load('a'), batcher.load('a')]);
    expect(batches).toEqual([['a']]);
    expect(first).toEqual(second);
    first!.n = 99;
    expect(second!.n).toBe(1);
  });

  it('sends a full batch at once and the rest in the next', async () => {
    const { batcher, batches } = tableBatcher([], 2);
    await Promise.all(['a', 'b', 'c'].map((key) => batcher.load(key)));
    expect(batches).toEqual([['a', 'b'], ['c']]);
  });

  it('rejects every read of a failed batch and recovers for the next', async () => {
    let fail = true;
    const batcher = new ReadBatcher<string, Row>(
      async (keys) => {
        if (fail) throw new Error('database down');
        return new Map(keys.map((id) => [id, { id, n: 0 }]));
      },
      (key) => key,
    );
    const results = await Promise.allSettled([batcher.load('a'), batcher.load('b')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toEqual(new Error('database down'));
    fail = false;
    expect(await batcher.load('a')).toEqual({ id: 'a', n: 0 });
  });

  it('rejects when the loader throws before returning a promise', async () => {
    const batcher = new ReadBatcher<string, Row>(
      () => {
        throw new Error('bad key');
      },
      (key) => key,
    );
    await expect(batcher.load('a')).rejects.toThrow('bad key');
  });
});

describe('ReadBatcher groups', () => {
  it('loads each app apart, and one app waiting on a slow query does not hold up another', async () => {
    const batches: string[][] = [];
    let releaseSlow: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const batcher = new ReadBatcher<{ appId: string; id: string }, { app: string }>(
      async (keys) => {
        batches.push(keys.map((key) => `${key.appId}/${key.id}`));
        if (keys[0]!.appId === 'slow') await slow;
        return new Map(keys.map((key) => [`${key.appId}/${key.id}`, { app: key.appId }]));
      },
      (key) => `${key.appId}/${key.id}`,
      byApp,
    );
    const slowRead = batcher.load({ appId: 'slow', id: '1' });
    const fast = await Promise.all([
      batcher.load({ appId: 'fast', id: '1' }),
      batcher.load({ appId: 'fast', id: '2' }),
    ]);
    expect(fast).toEqual([{ app: 'fast' }, { app: 'fast' }]);
    expect(batches).toEqual([['slow/1'], ['fast/1', 'fast/2']]);
    releaseSlow();
    expect(await slowRead).toEqual({ app: 'slow' });
  });
});
