/**
 * How long a process may go on using a per-app setting it read from the database (api key, channel
 * type config, webhook endpoints, whether the app has push devices). A change made through this
 * process is seen here at once (the writer calls `delete`); other processes see it within this
 * bound. ADR 0015 lists what is cached and why the bound is acceptable for each.
 */
export const SHORT_CACHE_MS = 5_000;

/**
 * A small read-through cache for values read on hot paths. Entries expire after `ttlMs`; beyond
 * `maxEntries` the oldest entry is dropped (insertion order), so a flood of distinct keys (api keys
 * that do not exist are never stored) cannot grow it without bound.
 */
export class ShortCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  /** Bumped by every invalidation: a load that was under way during one does not store its value. */
  private generation = 0;

  constructor(
    private readonly ttlMs = SHORT_CACHE_MS,
    private readonly maxEntries = 10_000,
  ) {}

  /** The cached value, or `load()`'s, which is then remembered. A rejected load is not cached. */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const generation = this.generation;
    const value = await load();
    if (generation !== this.generation) return value;
    this.entries.delete(key);
    this.entries.set(key, { value, at: Date.now() });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  /** Forgets `key`; call it after the write that changed the value has committed. */
  delete(key: string): void {
    this.generation++;
    this.entries.delete(key);
  }

  /** Drops every key that starts with `prefix` (e.g. all channel types of one app). */
  deletePrefix(prefix: string): void {
    this.generation++;
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}
