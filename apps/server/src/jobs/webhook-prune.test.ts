import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhooksRepository } from '../domains/webhooks/webhooks.repository.js';
import { uuidv7 } from '../platform/ids.js';
import { createTestServer, type TestServer } from '../test-support/harness.js';
import { eventually } from '../test-support/webhook-receiver.js';
import { pruneDay, webhookPruneHandler } from './webhook-prune.js';

/** The delivery-log retention job on a real database. */
let server: TestServer;

beforeAll(async () => {
  server = await createTestServer({ WEBHOOK_LOG_RETENTION_DAYS: '30', JOBS_POLL_INTERVAL_MS: '500' });
});
afterAll(async () => {
  await server?.close();
});

describe('webhook.prune', () => {
  it('is queued once per day when workers start, and runs', async () => {
    await eventually(async () => {
      const { rows } = await sql<{ state: string; data: { day: string } }>`
        select state, data from pgboss.job where name = 'webhook.prune'`.execute(server.database.db);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.data.day).toBe(pruneDay());
      expect(rows[0]!.state).toBe('completed');
    }, 20_000);
  });

  it('deletes finished deliveries older than the retention, keeps recent and unfinished ones', async () => {
    const app = await server.createApp();
    const hook = await app.server.post('/webhooks', {
      url: 'https://example.com/h',
      events: ['*'],
      active: false,
    });
    expect(hook.status).toBe(201);
    const db = server.database.db;
    const old = new Date(Date.now() - 31 * 86_400_000);
    const recent = new Date(Date.now() - 29 * 86_400_000);
    const rows = [
      { name: 'old succeeded', status: 'succeeded', created_at: old },
      { name: 'old failed', status: 'failed', created_at: old },
      { name: 'old retrying', status: 'retrying', created_at: old },
      { name: 'old pending', status: 'pending', created_at: old },
      { name: 'recent succeeded', status: 'succeeded', created_at: recent },
    ].map((r) => ({ ...r, id: uuidv7() }));
    await webhooksRepository.insertDeliveries(
      db,
      rows.map((r) => ({
        app_id: app.id,
        id: r.id,
        webhook_id: hook.body.webhook.id,
        event_id: uuidv7(),
        event_type: 'user.updated',
        body: '{}',
      })),
    );
    for (const r of rows) {
      await sql`update webhook_deliveries set status = ${r.status}, created_at = ${r.created_at} where id = ${r.id}`.execute(
        db,
      );
    }
    await webhookPruneHandler({
      db,
      config: { WEBHOOK_LOG_RETENTION_DAYS: 30 },
      logger: server.parley.http.log as never,
    })({ id: 'test', data: { day: pruneDay() }, attempt: 1, final: false });
    const { rows: left } = await sql<{ id: string }>`
      select id from webhook_deliveries where app_id = ${app.id}`.execute(db);
    const names = rows.filter((r) => left.some((l) => l.id === r.id)).map((r) => r.name);
    expect(names.sort()).toEqual(['old pending', 'old retrying', 'recent succeeded']);
  });
});
