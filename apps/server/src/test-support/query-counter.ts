import { AsyncLocalStorage } from 'node:async_hooks';
import type { DatabaseHandle } from '../platform/db.js';

/**
 * Records every SQL statement sent to the database (PGlite or a pg pool), including begin /
 * commit, so tests can pin the query count of hot paths and an N+1 fails loudly. It wraps the
 * driver's query function (instrumentation, not a mock: the queries still run). Only statements
 * issued from the async context of `during(work)` count: background work of the same server
 * (job polling, presence timers) never does.
 */
export interface QueryCounter {
  /** Runs `work` and returns the statements it sent, in order. */
  during(work: () => Promise<unknown>): Promise<string[]>;
}

export function queryCounter(database: DatabaseHandle): QueryCounter {
  const context = new AsyncLocalStorage<string[]>();
  const record = (text: unknown) => {
    context.getStore()?.push(String(text).replace(/\s+/g, ' ').trim());
  };
  if (database.pglite) {
    const pglite = database.pglite;
    const query = pglite.query.bind(pglite);
    pglite.query = ((sql: string, ...rest: unknown[]) => {
      record(sql);
      return (query as (...args: unknown[]) => unknown)(sql, ...rest);
    }) as typeof pglite.query;
  } else if (database.pool) {
    // Every query of kysely's pg driver goes through a client checked out from the pool.
    const wrapped = new WeakSet<object>();
    database.pool.on('acquire', (client) => {
      if (wrapped.has(client)) return;
      wrapped.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => {
        record(typeof config === 'string' ? config : (config as { text?: string })?.text);
        return query(config, ...rest);
      };
    });
  } else {
    throw new Error('queryCounter: unknown database kind');
  }
  return {
    async during(work) {
      const recording: string[] = [];
      await context.run(recording, work);
      return [...recording];
    },
  };
}
