import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-support/harness.js';
import { eventually } from '../test-support/webhook-receiver.js';
import { idempotentJobId, type JobRun } from './boss.js';

/**
 * The job system's contract (jobs/boss.ts) on the real database: jobs commit with the transaction
 * that sends them, idempotency keys enqueue once, queues carry the retry policy, and `stop()`
 * lets a running job finish. Workers of this server are off, so the test runs its own handler.
 */
let server: TestServer;
const uuid = () => crypto.randomUUID();

const jobCount = async (where: { id?: string; delivery_id?: string }) => {
  const { db } = server.database;
  const res = where.id
    ? await sql<{ n: number | string }>`select count(*) as n from pgboss.job where id = ${where.id}`.execute(
        db,
      )
    : await sql<{ n: number | string }>`
        select count(*) as n from pgboss.job where data->>'delivery_id' = ${where.delivery_id}`.execute(db);
  return Number(res.rows[0]!.n);
};

const jobState = async (id: string) => {
  const res = await sql<{ state: string }>`
    select state from pgboss.job where id = ${id}
    union all select state from pgboss.archive where id = ${id}`.execute(server.database.db);
  return res.rows[0]?.state;
};

beforeAll(async () => {
  server = await createTestServer({
    JOBS_WORKERS: 'false',
    JOBS_POLL_INTERVAL_MS: '500',
    JOBS_CONCURRENCY: '1',
    WEBHOOK_RETRY_LIMIT: '5',
    WEBHOOK_RETRY_DELAY_SECONDS: '7',
    WEBHOOK_TIMEOUT_MS: '4000',
  });
});
afterAll(() => server?.close());

describe('the job system', () => {
  it('creates each queue with its retry policy (backoff with jitter) and a dead-letter queue', async () => {
    const res = await sql<Record<string, unknown>>`
      select name, retry_limit, retry_delay, retry_backoff, expire_seconds, dead_letter
      from pgboss.queue where name like 'webhook.deliver%' order by name`.execute(server.database.db);
    expect(res.rows).toEqual([
      {
        name: 'webhook.deliver',
        retry_limit: 5,
        retry_delay: 7,
        retry_backoff: true,
        expire_seconds: 4 + 3,
        dead_letter: 'webhook.deliver.dead',
      },
      {
        name: 'webhook.deliver.dead',
        retry_limit: 0,
        retry_delay: null,
        retry_backoff: null,
        expire_seconds: null,
        dead_letter: null,
      },
    ]);
  });

  it('commits a job with the transaction that sends it, and never for one that rolls back', async () => {
    const { db } = server.database;
    const jobs = server.parley.jobs;
    const kept = uuid();
    const dropped = uuid();
    await db.transaction().execute(async (tx) => {
      await jobs.send(tx, 'webhook.deliver', { app_id: 'a', delivery_id: kept });
    });
    await expect(
      db.transaction().execute(async (tx) => {
        await jobs.send(tx, 'webhook.deliver', { app_id: 'a', delivery_id: dropped });
        const inside = await sql<{ n: number | string }>`
          select count(*) as n from pgboss.job where data->>'delivery_id' = ${dropped}`.execute(tx);
        expect(Number(inside.rows[0]!.n)).toBe(1); // the write's transaction sees its job
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await jobCount({ delivery_id: kept })).toBe(1);
    expect(await jobCount({ delivery_id: dropped })).toBe(0);
  });

  it('enqueues a job once per idempotency key (and per explicit id)', async () => {
    const { db } = server.database;
    const jobs = server.parley.jobs;
    const data = { app_id: 'a', delivery_id: uuid() };
    for (let i = 0; i < 3; i++) {
      await jobs.send(db, 'webhook.deliver', data, { idempotencyKey: `key-${data.delivery_id}` });
    }
    const id = idempotentJobId('webhook.deliver', `key-${data.delivery_id}`);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await jobCount({ id })).toBe(1);
    expect(await jobCount({ delivery_id: data.delivery_id })).toBe(1);
    const explicit = uuid();
    await jobs.sendMany(db, 'webhook.deliver', [
      { id: explicit, data: { app_id: 'a', delivery_id: uuid() } },
      { id: explicit, data: { app_id: 'a', delivery_id: uuid() } },
    ]);
    expect(await jobCount({ id: explicit })).toBe(1);
  });

  it('refuses a payload that does not match the job map', async () => {
    await expect(
      server.parley.jobs.send(server.database.db, 'webhook.deliver', {
        app_id: 'a',
        delivery_id: 'not-a-uuid',
      }),
    ).rejects.toThrow();
  });

  it('stops gracefully: a running job finishes and is completed, nothing is fetched after', async () => {
    const jobs = server.parley.jobs;
    const { db } = server.database;
    // Jobs left by the tests above are not this test's business.
    await sql`delete from pgboss.job where name = 'webhook.deliver'`.execute(db);
    const seen: JobRun<'webhook.deliver'>[] = [];
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finished = false;
    await jobs.work('webhook.deliver', async (job) => {
      seen.push(job);
      release();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql`select 1`.execute(db); // the database is still there at the end of the job
      finished = true;
    });
    const first = uuid();
    await jobs.send(db, 'webhook.deliver', { app_id: 'a', delivery_id: first }, { id: first });
    jobs.wake('webhook.deliver');
    await started;
    await jobs.stop();
    expect(finished).toBe(true);
    expect(seen.map((j) => j.id)).toEqual([first]);
    expect(seen[0]).toMatchObject({ attempt: 1, final: false, data: { app_id: 'a', delivery_id: first } });
    expect(await eventually(async () => jobState(first))).toBe('completed');
    // Stopped: a new job stays queued.
    const later = uuid();
    await jobs.send(db, 'webhook.deliver', { app_id: 'a', delivery_id: later }, { id: later });
    jobs.wake('webhook.deliver');
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await jobState(later)).toBe('created');
    expect(seen).toHaveLength(1);
  });
});
