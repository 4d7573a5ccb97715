/**
 * Coalesces point reads made in the same turn of the event loop into one query (ADR 0017). A
 * storm of realtime connects or API requests otherwise costs the database one statement per read
 * (parse, plan, a round trip, a socket write on both sides); here a read waits until the current
 * I/O phase has been processed (`setImmediate`) and goes out with every other read of that phase.
 * Under light load a batch holds one key and the wait is a fraction of a millisecond.
 *
 * Only for reads outside a transaction: a batch runs on the root database handle, so it sees
 * everything committed before it runs — never less than a direct read at the time of the call.
 * Every caller gets its own row object (a shallow copy when several asked for the same key), so a
 * caller that changes its row does not change another's.
 */
export class ReadBatcher<K, V extends object> {
  private pending = new Map<string, { key: K; waiters: Waiter<V>[] }>();
  private scheduled = false;

  constructor(
    /**
     * Loads the keys of one group (one app): the map is keyed by `keyOf`; keys it leaves out
     * resolve as `undefined`. Each group loads and resolves on its own, so a slow tenant's query
     * does not hold up another's reads.
     */
    private readonly loadMany: (keys: K[]) => Promise<Map<string, V>>,
    private readonly keyOf: (key: K) => string,
    private readonly groupOf: (key: K) => string = () => '',
    private readonly maxBatch = 256,
  ) {}

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const id = this.keyOf(key);
      let entry = this.pending.get(id);
      if (!entry) {
        entry = { key, waiters: [] };
        this.pending.set(id, entry);
      }
      entry.waiters.push({ resolve, reject });
      if (this.pending.size >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush() {
    if (this.pending.size === 0) return;
    const groups = new Map<string, Map<string, { key: K; waiters: Waiter<V>[] }>>();
    for (const [id, entry] of this.pending) {
      const group = this.groupOf(entry.key);
      let entries = groups.get(group);
      if (!entries) {
        entries = new Map();
        groups.set(group, entries);
      }
      entries.set(id, entry);
    }
    this.pending = new Map();
    for (const entries of groups.values()) this.loadGroup(entries);
  }

  private loadGroup(batch: Map<string, { key: K; waiters: Waiter<V>[] }>) {
    let loading: Promise<Map<string, V>>;
    try {
      loading = this.loadMany([...batch.values()].map((entry) => entry.key));
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading.then(
      (found) => {
        for (const [id, { waiters }] of batch) {
          const value = found.get(id);
          waiters.forEach((waiter, i) => {
            waiter.resolve(value && i > 0 ? { ...value } : value);
          });
        }
      },
      (error: unknown) => {
        for (const { waiters } of batch.values()) for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}

interface Waiter<V> {
  resolve: (value: V | undefined) => void;
  reject: (error: unknown) => void;
}

/** Batched reads of one app's rows: the group of a key is its app. */
export const byApp = (key: { appId: string }) => key.appId;
