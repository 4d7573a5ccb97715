import { createHash } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import PgBoss from 'pg-boss';
import client from 'prom-client';
import type { Config } from '../platform/config.js';
import type { DatabaseHandle, Executor } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { deadLetterQueue, JOB_NAMES, type JobData, JobMap, type JobName } from './job-map.js';

type Rows = Record<string, unknown>[];

/** What pg-boss needs of a database: run SQL text, with or without parameters. */
interface BossDb {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: Rows }>;
}

/**
 * pg-boss's SQL on a Kysely executor: inside a transaction, a job is inserted by the write's own
 * transaction (the outbox), so it commits or rolls back with the write.
 */
export function executorAdapter(executor: Executor): BossDb {
  return {
    async executeSql(text, values = []) {
      const result = await executor.executeQuery(CompiledQuery.raw(text, values));
      return { rows: result.rows as Rows };
    },
  };
}

/**
 * pg-boss's own queries (polling, completing, maintenance) on our database.
 *
 * - PGlite is one connection: a query sent to it while a Kysely transaction holds it would run
 *   *inside* that transaction. So every pg-boss query takes a lease through Kysely
 *   (`db.connection()`), the same queue every Kysely query and transaction waits in; multi-statement
 *   text (schema installation, maintenance) runs with PGlite's `exec` under that lease.
 * - Postgres: the pool Kysely uses (no second pool).
 *
 * Every query is tracked, so `drain()` can wait for the ones pg-boss fires without awaiting them
 * (it does not await `complete`/`fail` after a handler) before the database is closed.
 */
class BossDatabase implements BossDb {
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  constructor(private readonly database: DatabaseHandle) {}

  executeSql(text: string, values?: unknown[]) {
    if (this.closed) return Promise.reject(new Error('the job system is stopped'));
    const query = this.run(text, values);
    this.pending.add(query);
    query.then(
      () => this.pending.delete(query),
      () => this.pending.delete(query),
    );
    return query;
  }

  get idle() {
    return this.pending.size === 0;
  }

  close() {
    this.closed = true;
  }

  private async run(text: string, values?: unknown[]): Promise<{ rows: Rows }> {
    const { pglite, pool, db } = this.database;
    if (pglite) {
      return db.connection().execute(async (conn) => {
        if (values && values.length > 0) {
          const result = await conn.executeQuery(CompiledQuery.raw(text, values));
          return { rows: result.rows as Rows };
        }
        try {
          const results = await pglite.exec(text);
          return { rows: (results.at(-1)?.rows ?? []) as Rows };
        } catch (error) {
          // A failed `begin; ...; commit;` script leaves its transaction open on the one connection.
          if (pglite.isInTransaction()) await pglite.exec('rollback');
          throw error;
        }
      });
    }
    if (!pool) throw new Error('no database pool for the job system');
    return pool.query(text, values as unknown[]) as Promise<{ rows: Rows }>;
  }
}

export interface QueuePolicy {
  /** Retries after the first attempt; then the job goes to its dead-letter queue. */
  retryLimit: number;
  /** Base delay before a retry; doubled per retry with random jitter (pg-boss `retryBackoff`). */
  retryDelaySeconds: number;
  /** A job running longer than this (e.g. its worker died) is failed by maintenance and retried. */
  expireInSeconds: number;
  /**
   * pg-boss queue policy. `short`: at most one *waiting* job per singleton key (a job sent with the
   * key of a job still waiting is dropped): debouncing, e.g. one push bundle per user.
   */
  policy?: 'standard' | 'short';
}

export interface JobRun<N extends JobName> {
  id: string;
  data: JobData<N>;
  /** 1 for the first attempt. */
  attempt: number;
  /** No retry follows if this attempt fails: the job goes to the dead-letter queue. */
  final: boolean;
}

export interface SendOptions {
  /** The job's id. Enqueuing the same id twice (per job name) enqueues one job. */
  id?: string;
  /** Derives the job id from a key: the same key (per job name) is enqueued once. */
  idempotencyKey?: string;
  /** Run no earlier than this many seconds from now (delayed jobs: emails after a delay, ...). */
  startAfterSeconds?: number;
  /** Run no earlier than this time (reminders, scheduled messages); wins over startAfterSeconds. */
  startAfter?: Date;
  /** With a `short` queue: dropped if a job with this key is still waiting (debounce). */
  singletonKey?: string;
}

/** A stable UUID (version 8, name-based) for an idempotency key. */
export function idempotentJobId(name: string, key: string): string {
  const hex = createHash('sha256').update(`${name}\u0000${key}`).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Durable jobs on pg-boss, in the same database as everything else.
 *
 * Contract:
 * - `send`/`sendMany` insert through the executor they are given: called with a transaction, the
 *   job exists if and only if that transaction commits. They never take a connection of their own.
 * - A job runs at least once: a handler that throws, times out or whose process dies is retried
 *   (exponential backoff with jitter) up to its queue's limit, then moved to `<name>.dead`. Handlers
 *   must therefore be idempotent, or make their effect deduplicable (webhooks carry the event id).
 * - `stop()` stops fetching, lets running jobs finish within JOBS_SHUTDOWN_TIMEOUT_MS (the rest are
 *   failed, so retried later), and returns once pg-boss sends no more queries: then the database
 *   may be closed.
 */
export class JobSystem {
  readonly boss: PgBoss;
  private readonly adapter: BossDatabase;
  private readonly workerIds = new Map<string, string[]>();
  private running = 0;
  private started = false;
  private stopped = false;

  constructor(
    private readonly config: Pick<
      Config,
      | 'JOBS_POLL_INTERVAL_MS'
      | 'JOBS_CONCURRENCY'
      | 'JOBS_MAINTENANCE_INTERVAL_SECONDS'
      | 'JOBS_SHUTDOWN_TIMEOUT_MS'
    >,
    database: DatabaseHandle,
    private readonly logger: Logger,
    private readonly metrics: Metrics['jobs'] & { registry?: client.Registry },
  ) {
    this.adapter = new BossDatabase(database);
    this.boss = new PgBoss({
      db: this.adapter as unknown as PgBoss.Db,
      // No cron schedules yet: the timekeeper would only add polling.
      schedule: false,
      supervise: true,
      migrate: true,
      maintenanceIntervalSeconds: config.JOBS_MAINTENANCE_INTERVAL_SECONDS,
      pollingIntervalSeconds: config.JOBS_POLL_INTERVAL_MS / 1000,
    });
    this.boss.on('error', (err) => this.logger.error({ err }, 'job system error'));
    const queues = () => JOB_NAMES.flatMap((name) => [name, deadLetterQueue(name)]);
    const self = this;
    new client.Gauge({
      name: 'parley_jobs_queued',
      help: 'Jobs waiting to run (created or waiting for a retry), by queue; <job>.dead holds dead letters',
      labelNames: ['queue'] as const,
      registers: metrics.registry ? [metrics.registry] : [],
      async collect() {
        if (!self.started || self.stopped) return;
        for (const queue of queues()) {
          try {
            this.set({ queue }, await self.queueSize(queue));
          } catch {
            // the database is going away: keep the last value
          }
        }
      },
    });
  }

  /** Installs (or migrates) pg-boss's schema and creates every queue with its dead-letter queue. */
  async start(policies: Record<JobName, QueuePolicy>) {
    if (this.started) return;
    await this.boss.start();
    for (const name of JOB_NAMES) {
      const policy = policies[name];
      const dead = deadLetterQueue(name);
      await this.boss.createQueue(dead, { name: dead, retryLimit: 0 });
      const options = {
        name,
        retryLimit: policy.retryLimit,
        retryDelay: policy.retryDelaySeconds,
        retryBackoff: true,
        expireInSeconds: policy.expireInSeconds,
        deadLetter: dead,
        ...(policy.policy ? { policy: policy.policy } : {}),
      };
      await this.boss.createQueue(name, options);
      // createQueue keeps an existing queue as it was: apply changed settings.
      await this.boss.updateQueue(name, options);
    }
    this.started = true;
  }

  /** Enqueues one job through `executor` (pass the write's transaction). */
  async send<N extends JobName>(executor: Executor, name: N, data: JobData<N>, options: SendOptions = {}) {
    await this.sendMany(executor, name, [{ data, ...options }]);
  }

  /** Enqueues several jobs of one kind in one statement through `executor`. */
  async sendMany<N extends JobName>(
    executor: Executor,
    name: N,
    jobs: ({ data: JobData<N> } & SendOptions)[],
  ): Promise<void> {
    if (jobs.length === 0) return;
    const schema = JobMap[name];
    await this.boss.insert(
      jobs.map((job) => ({
        name,
        data: schema.parse(job.data) as object,
        ...(job.id
          ? { id: job.id }
          : job.idempotencyKey
            ? { id: idempotentJobId(name, job.idempotencyKey) }
            : {}),
        ...(job.startAfterSeconds ? { startAfter: new Date(Date.now() + job.startAfterSeconds * 1000) } : {}),
        ...(job.startAfter ? { startAfter: job.startAfter } : {}),
        ...(job.singletonKey ? { singletonKey: job.singletonKey } : {}),
      })),
      { db: executorAdapter(executor) as unknown as PgBoss.Db },
    );
  }

  /**
   * Runs `handler` for jobs of `name` in this process, JOBS_CONCURRENCY at a time. A handler that
   * throws fails the attempt: it is retried, or dead-lettered after the last one.
   */
  async work<N extends JobName>(name: N, handler: (job: JobRun<N>) => Promise<void>) {
    const schema = JobMap[name];
    const ids: string[] = [];
    for (let i = 0; i < this.config.JOBS_CONCURRENCY; i++) {
      let workerId = '';
      workerId = await this.boss.work<JobData<N>>(
        name,
        {
          includeMetadata: true,
          batchSize: 1,
          pollingIntervalSeconds: this.config.JOBS_POLL_INTERVAL_MS / 1000,
        },
        async ([job]) => {
          if (!job) return;
          this.running++;
          const timer = this.metrics.duration.startTimer({ job: name });
          const final = job.retryCount >= job.retryLimit;
          try {
            await handler({
              id: job.id,
              data: schema.parse(job.data) as JobData<N>,
              attempt: job.retryCount + 1,
              final,
            });
            this.metrics.completed.inc({ job: name });
          } catch (error) {
            this.metrics.failed.inc({ job: name });
            (final ? this.metrics.deadLettered : this.metrics.retried).inc({ job: name });
            this.logger.warn(
              { err: error, job: name, job_id: job.id, attempt: job.retryCount + 1, final },
              final ? 'job failed for the last time: dead-lettered' : 'job failed: will retry',
            );
            throw error;
          } finally {
            timer();
            this.running--;
            // A worker found work: look again at once instead of sleeping a polling interval.
            this.boss.notifyWorker(workerId);
          }
        },
      );
      ids.push(workerId);
    }
    this.workerIds.set(name, [...(this.workerIds.get(name) ?? []), ...ids]);
  }

  /** Wakes this process's idle workers of `name` (call after committing new jobs). */
  wake(name: JobName) {
    for (const id of this.workerIds.get(name) ?? []) this.boss.notifyWorker(id);
  }

  /** Jobs of a queue that wait to run (created, or waiting for a retry). */
  async queueSize(queue: string): Promise<number> {
    return this.boss.getQueueSize(queue);
  }

  async stop() {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    const timeout = this.config.JOBS_SHUTDOWN_TIMEOUT_MS;
    const deadline = Date.now() + timeout + 500;
    await this.boss.stop({ graceful: true, wait: true, close: false, timeout });
    // pg-boss fires its last complete/fail queries without awaiting them, and a fetch already under
    // way may still hand out a job: wait until nothing runs and no query is left for two checks.
    let quiet = 0;
    while (quiet < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      quiet = this.running === 0 && this.adapter.idle ? quiet + 1 : 0;
    }
    this.adapter.close();
  }
}

/** Builds the job system of one process (nothing runs until `start`). */
export function createJobSystem(config: Config, database: DatabaseHandle, logger: Logger, metrics: Metrics) {
  return new JobSystem(config, database, logger, { ...metrics.jobs, registry: metrics.registry });
}
