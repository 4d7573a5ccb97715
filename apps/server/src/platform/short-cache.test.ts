import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ShortCache } from './short-cache.js';

describe('ShortCache', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A loader that counts its calls and returns the value it is told to. */
  const loader = () => {
    const calls = { count: 0, value: 'a' };
    const load = async () => {
      calls.count++;
      return calls.value;
    };
    return { calls, load };
  };

  it('loads once within the time to live, again after it', async () => {
    const cache = new ShortCache<string>(1000);
    const { calls, load } = loader();
    expect(await cache.get('k', load)).toBe('a');
    calls.value = 'b';
    vi.advanceTimersByTime(999);
    expect(await cache.get('k', load)).toBe('a');
    expect(calls.count).toBe(1);
    vi.advanceTimersByTime(1);
    expect(await cache.get('k', load)).toBe('b');
    expect(calls.count).toBe(2);
  });

  it('forgets a key at once on delete, and keys by prefix', async () => {
    const cache = new ShortCache<string>(60_000);
    const { calls, load } = loader();
    await cache.get('app1/messaging', load);
    await cache.get('app1/team', load);
    await cache.get('app2/messaging', load);
    calls.value = 'b';
    cache.delete('app1/messaging');
    expect(await cache.get('app1/messaging', load)).toBe('b');
    cache.deletePrefix('app1/');
    expect(await cache.get('app1/team', load)).toBe('b');
    expect(await cache.get('app2/messaging', load)).toBe('a');
  });

  it('does not cache a failed load', async () => {
    const cache = new ShortCache<string>(60_000);
    await expect(cache.get('k', () => Promise.reject(new Error('no such key')))).rejects.toThrow(
      'no such key',
    );
    expect(await cache.get('k', async () => 'found')).toBe('found');
  });

  it('does not store a value whose load was under way when the key was invalidated', async () => {
    const cache = new ShortCache<string>(60_000);
    let finish!: (value: string) => void;
    const slow = cache.get('k', () => new Promise<string>((resolve) => (finish = resolve)));
    cache.delete('k'); // the write committed while the old value was being read
    finish('old');
    expect(await slow).toBe('old'); // the caller that asked first still gets its answer
    expect(await cache.get('k', async () => 'new')).toBe('new');
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const cache = new ShortCache<string>(60_000, 2);
    const { calls, load } = loader();
    await cache.get('one', load);
    await cache.get('two', load);
    await cache.get('three', load);
    expect(calls.count).toBe(3);
    await cache.get('three', load);
    await cache.get('two', load);
    expect(calls.count).toBe(3);
    await cache.get('one', load);
    expect(calls.count).toBe(4);
  });
});
