import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { executorAdapter } from '../../jobs/boss.js';
import { inTransaction } from '../../platform/events.js';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import {
  eventually,
  loadDocumentedSnippet,
  type Receiver,
  type Snippet,
  startReceiver,
} from '../../test-support/webhook-receiver.js';

/**
 * Webhooks end to end: real database (PGlite or Postgres), real pg-boss workers, a real HTTP
 * receiver on 127.0.0.1 that verifies every request with the snippet of docs/webhooks.md.
 */
let server: TestServer;
let app: TestApp;
let other: TestApp;
let snippet: Snippet;
let receiver: Receiver;
let alice: ApiClient;

const RETRY_LIMIT = 1;

interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  response_status: number | null;
  latency_ms: number | null;
  error: string | null;
  redelivery_of: string | null;
  completed_at: string | null;
}

const created: { client: TestApp; id: string }[] = [];

/** Creates an endpoint pointing at `pathname` of the receiver and registers its secret there. */
async function endpoint(pathname: string, events: string[], client: TestApp = app) {
  const res = await client.server.post('/webhooks', { url: receiver.url(pathname), events });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  receiver.secrets.set(pathname, res.body.webhook.secret);
  created.push({ client, id: res.body.webhook.id });
  return res.body.webhook as { id: string; secret: string };
}

// Each test's endpoints go away with it, so later tests' events do not reach them.
afterEach(async () => {
  for (const { client, id } of created.splice(0)) await client.server.delete(`/webhooks/${id}`);
});

async function deliveries(webhookId: string, client: TestApp = app): Promise<Delivery[]> {
  const res = await client.server.get(`/webhooks/${webhookId}/deliveries?limit=100`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.deliveries;
}

/** Waits until every delivery of the endpoint has finished (succeeded or failed) and returns them. */
async function settled(webhookId: string, count: number, timeoutMs = 20_000) {
  return eventually(async () => {
    const list = await deliveries(webhookId);
    expect(list).toHaveLength(count);
    for (const d of list) expect(['succeeded', 'failed'], JSON.stringify(d)).toContain(d.status);
    return list;
  }, timeoutMs);
}

async function send(cid: string, text: string, extra: Record<string, unknown> = {}) {
  const [type, id] = cid.split(':');
  const res = await alice.post(`/channels/${type}/${id}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as { id: string };
}

async function channel(id: string) {
  const res = await alice.post('/channels', { type: 'messaging', id, members: ['bob'] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return `messaging:${id}`;
}

const jobsFor = async (deliveryIds: string[]) => {
  if (deliveryIds.length === 0) return 0;
  const res = await sql<{ n: number | string }>`
    select count(*) as n from pgboss.job
    where name = 'webhook.deliver' and data->>'delivery_id' in (${sql.join(deliveryIds)})`.execute(
    server.database.db,
  );
  return Number(res.rows[0]!.n);
};

beforeAll(async () => {
  snippet = await loadDocumentedSnippet();
  receiver = await startReceiver(snippet);
  server = await createTestServer({
    JOBS_POLL_INTERVAL_MS: '500',
    JOBS_MAINTENANCE_INTERVAL_SECONDS: '1',
    JOBS_CONCURRENCY: '4',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_RETRY_LIMIT: String(RETRY_LIMIT),
    WEBHOOK_RETRY_DELAY_SECONDS: '1',
  });
  app = await server.createApp();
  other = await server.createApp();
  expect((await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] })).status).toBe(200);
  alice = await app.as('alice');
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('webhook endpoints (CRUD)', () => {
  it('shows the secret once, lists, updates and deletes endpoints', async () => {
    const created = await app.server.post('/webhooks', {
      url: 'https://example.com/hook',
      events: ['message.*', 'member.added', 'message.*'],
      description: 'crud',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const hook = created.body.webhook;
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(hook.events).toEqual(['message.*', 'member.added']);
    expect(hook.active).toBe(true);

    const got = await app.server.get(`/webhooks/${hook.id}`);
    expect(got.status).toBe(200);
    expect(got.body.webhook).toEqual({ ...hook, secret: undefined, updated_at: got.body.webhook.updated_at });
    expect(JSON.stringify(got.body)).not.toContain(hook.secret);
    const list = await app.server.get('/webhooks');
    expect(list.body.webhooks.map((w: { id: string }) => w.id)).toContain(hook.id);
    expect(JSON.stringify(list.body)).not.toContain(hook.secret);

    const patched = await app.server.patch(`/webhooks/${hook.id}`, { events: ['*'], active: false });
    expect(patched.status).toBe(200);
    expect(patched.body.webhook).toMatchObject({
      events: ['*'],
      active: false,
      url: 'https://example.com/hook',
    });

    expect((await app.server.delete(`/webhooks/${hook.id}`)).status).toBe(200);
    const gone = await app.server.get(`/webhooks/${hook.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('WEBHOOK_NOT_FOUND');
    expect((await app.server.delete(`/webhooks/${hook.id}`)).status).toBe(404);
  });

  it('refuses bad URLs, unknown events, unknown fields and user callers', async () => {
    for (const body of [
      { url: 'ftp://example.com/x', events: ['*'] },
      { url: 'javascript:alert(1)', events: ['*'] },
      { url: 'not a url', events: ['*'] },
      { url: 'https://example.com', events: [] },
      { url: 'https://example.com', events: ['message.nope'] },
      { url: 'https://example.com', events: ['nothing.*'] },
      { url: 'https://example.com', events: ['*'], secret: 'mine' },
    ]) {
      const res = await app.server.post('/webhooks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    }
    expect((await app.server.get('/webhooks/not-a-uuid')).status).toBe(400);
    const asUser = await alice.post('/webhooks', { url: 'https://example.com', events: ['*'] });
    expect(asUser.status).toBe(403);
    expect(asUser.body.code).toBe('AUTH_SERVER_ONLY');
    expect((await alice.get('/webhooks')).status).toBe(403);
  });

  it('keeps apps apart: B cannot see, change, delete or redeliver A’s endpoints', async () => {
    const hook = await endpoint('/isolation', ['message.new']);
    const cid = await channel('isolation');
    await send(cid, 'for isolation');
    const [delivery] = await settled(hook.id, 1);
    expect((await other.server.get('/webhooks')).body.webhooks).toEqual([]);
    const calls = [
      other.server.get(`/webhooks/${hook.id}`),
      other.server.patch(`/webhooks/${hook.id}`, { url: 'https://evil.example.com' }),
      other.server.delete(`/webhooks/${hook.id}`),
      other.server.get(`/webhooks/${hook.id}/deliveries`),
      other.server.post(`/webhooks/${hook.id}/deliveries/${delivery!.id}/redeliver`),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('WEBHOOK_NOT_FOUND');
    }
    // B's own endpoint cannot reach A's delivery through its id either.
    const mine = await endpoint('/isolation-b', ['message.new'], other);
    const cross = await other.server.post(`/webhooks/${mine.id}/deliveries/${delivery!.id}/redeliver`);
    expect(cross.status).toBe(404);
    expect(cross.body.code).toBe('WEBHOOK_DELIVERY_NOT_FOUND');
    expect((await app.server.get(`/webhooks/${hook.id}`)).body.webhook.url).toBe(receiver.url('/isolation'));
    expect(await deliveries(hook.id)).toHaveLength(1);
    expect(await deliveries(mine.id, other)).toEqual([]);
  });
});

describe('delivery', () => {
  it('signs the event so that the documented snippet verifies it, and rejects forgeries and replays', async () => {
    const hook = await endpoint('/signed', ['message.new']);
    const cid = await channel('signed');
    const message = await send(cid, 'signed hello');
    const [delivery] = await settled(hook.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1, response_status: 200, error: null });
    expect(delivery!.latency_ms).toBeGreaterThanOrEqual(0);

    const arrival = receiver.arrivals.find((a) => a.path === '/signed')!;
    expect(arrival.error).toBeUndefined();
    const event = arrival.event!;
    expect(event).toMatchObject({ type: 'message.new', app_id: app.id, cid, message: { id: message.id } });
    expect(Object.keys(event).slice(0, 4)).toEqual(['id', 'type', 'created_at', 'app_id']);
    expect(arrival.headers['x-parley-event-id']).toBe(event.id);
    expect(arrival.headers['x-parley-event-type']).toBe('message.new');
    expect(arrival.headers['x-parley-delivery-id']).toBe(delivery!.id);
    expect(arrival.headers['content-type']).toBe('application/json');
    expect(delivery!.event_id).toBe(event.id);
    const timestamp = Number(arrival.headers['x-parley-timestamp']);
    expect(arrival.headers['x-parley-signature']).toBe(
      `v1=${createHmac('sha256', hook.secret).update(`${timestamp}.${arrival.body}`).digest('hex')}`,
    );

    const { headers, body } = arrival;
    const verify =
      (h = headers, b = body, secret = hook.secret, now = timestamp * 1000) =>
      () =>
        snippet.verifyParleyWebhook(secret, h, b, now);
    expect(verify()()).toEqual(JSON.parse(body));
    expect(verify(headers, body.replace('signed hello', 'forged hello'))).toThrow('bad signature');
    expect(verify(headers, body, 'whsec_wrong')).toThrow('bad signature');
    expect(verify({ ...headers, 'x-parley-timestamp': String(timestamp + 1) })).toThrow('bad signature');
    expect(verify({ ...headers, 'x-parley-signature': undefined })).toThrow('bad signature');
    // A captured request replayed 6 minutes later is refused, even with its valid signature.
    expect(verify(headers, body, hook.secret, (timestamp + 6 * 60) * 1000)).toThrow('possible replay');
    expect(verify(headers, body, hook.secret, (timestamp + 4 * 60) * 1000)()).toMatchObject({ id: event.id });
    // Dedup: the same event id is processed once.
    expect(snippet.firstDelivery(`/signed ${event.id}`)).toBe(false);
    expect(snippet.firstDelivery(`/elsewhere ${event.id}`)).toBe(true);
  });

  it('delivers each event only to endpoints whose filter matches', async () => {
    const onlyNew = await endpoint('/filter-new', ['message.new']);
    const channels = await endpoint('/filter-channels', ['channel.*']);
    const everything = await endpoint('/filter-all', ['*']);
    const paused = await endpoint('/filter-paused', ['*']);
    expect((await app.server.patch(`/webhooks/${paused.id}`, { active: false })).status).toBe(200);

    const cid = await channel('filters'); // channel.created, member.added ×2
    const message = await send(cid, 'filtered'); // message.new
    expect((await alice.patch(`/messages/${message.id}`, { text: 'edited' })).status).toBe(200); // message.updated
    expect((await app.server.patch('/channels/messaging/filters', { set: { name: 'F' } })).status).toBe(200);

    const types = async (hook: { id: string }, count: number) =>
      (await settled(hook.id, count)).map((d) => d.event_type).sort();
    expect(await types(onlyNew, 1)).toEqual(['message.new']);
    expect(await types(channels, 2)).toEqual(['channel.created', 'channel.updated']);
    const all = await types(everything, 6);
    expect(all).toEqual(
      [
        'channel.created',
        'channel.updated',
        'member.added',
        'member.added',
        'message.new',
        'message.updated',
      ].sort(),
    );
    expect(await deliveries(paused.id)).toEqual([]);
    // What the receiver got matches the log, one request per delivery.
    const got = (p: string) =>
      receiver
        .processed(p)
        .map((a) => a.event!.type)
        .sort();
    expect(got('/filter-new')).toEqual(['message.new']);
    expect(got('/filter-channels')).toEqual(['channel.created', 'channel.updated']);
    expect(got('/filter-all')).toEqual(all);
    expect(receiver.arrivals.filter((a) => a.path === '/filter-paused')).toEqual([]);
  });

  it('retries a 5xx with backoff and delivers once', async () => {
    receiver.behave.set('/flaky', (n) => (n === 1 ? 503 : 'ok'));
    const hook = await endpoint('/flaky', ['message.new']);
    const cid = await channel('flaky');
    await send(cid, 'try again');
    const [delivery] = await settled(hook.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2, response_status: 200, error: null });
    const arrivals = receiver.arrivals.filter((a) => a.path === '/flaky');
    expect(arrivals).toHaveLength(2);
    expect(arrivals[0]!.headers['x-parley-event-id']).toBe(arrivals[1]!.headers['x-parley-event-id']);
    expect(receiver.processed('/flaky')).toHaveLength(1);
    const metrics = (await app.server.get('/metrics')).body as string;
    expect(metrics).toMatch(/parley_jobs_retried_total\{job="webhook.deliver"\} [1-9]/);
    expect(metrics).toMatch(/parley_jobs_completed_total\{job="webhook.deliver"\} [1-9]/);
  });

  it('gives up after the retry limit: failed in the log, job in the dead-letter queue; redelivery sends it again', async () => {
    receiver.behave.set('/down', 'fail');
    const deadBefore = await server.parley.jobs.queueSize('webhook.deliver.dead');
    const hook = await endpoint('/down', ['message.new']);
    const cid = await channel('down');
    await send(cid, 'nobody home');
    const [delivery] = await settled(hook.id, 1, 30_000);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: RETRY_LIMIT + 1,
      response_status: 500,
      error: 'HTTP 500: receiver is down',
    });
    expect(delivery!.completed_at).not.toBeNull();
    expect(receiver.arrivals.filter((a) => a.path === '/down')).toHaveLength(RETRY_LIMIT + 1);
    // The worker records the failure before pg-boss moves the job to the dead-letter queue, so
    // the queue may lag the log by a moment.
    await eventually(async () =>
      expect(await server.parley.jobs.queueSize('webhook.deliver.dead')).toBe(deadBefore + 1),
    );
    const dead = await sql<{ data: { delivery_id: string } }>`
      select data from pgboss.job where name = 'webhook.deliver.dead'`.execute(server.database.db);
    expect(dead.rows.map((r) => r.data.delivery_id)).toContain(delivery!.id);
    const metrics = (await app.server.get('/metrics')).body as string;
    expect(metrics).toMatch(/parley_jobs_dead_lettered_total\{job="webhook.deliver"\} [1-9]/);
    expect(metrics).toMatch(/parley_jobs_queued\{queue="webhook.deliver.dead"\} [1-9]/);

    // The receiver is back: a manual redelivery sends the same event (same id and body) again.
    receiver.behave.set('/down', 'ok');
    const res = await app.server.post(`/webhooks/${hook.id}/deliveries/${delivery!.id}/redeliver`);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.delivery).toMatchObject({
      status: 'pending',
      redelivery_of: delivery!.id,
      event_id: delivery!.event_id,
    });
    const list = await settled(hook.id, 2);
    expect(list[0]).toMatchObject({ id: res.body.delivery.id, status: 'succeeded', attempts: 1 });
    const processed = receiver.processed('/down');
    expect(processed).toHaveLength(1);
    expect(processed[0]!.event!.id).toBe(delivery!.event_id);
    expect(processed[0]!.body).toBe(receiver.arrivals.find((a) => a.path === '/down')!.body);
    // Unknown delivery ids are 404s.
    const unknown = await app.server.post(`/webhooks/${hook.id}/deliveries/${crypto.randomUUID()}/redeliver`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('WEBHOOK_DELIVERY_NOT_FOUND');
  });

  it('sends one message.new for a message sent twice with the same client_msg_id', async () => {
    const hook = await endpoint('/idempotent', ['message.new']);
    const cid = await channel('idempotent');
    const first = await send(cid, 'once', { client_msg_id: 'c-1' });
    const again = await alice.post('/channels/messaging/idempotent/messages', {
      text: 'once',
      client_msg_id: 'c-1',
    });
    expect(again.status).toBeLessThan(300);
    expect(again.body.message.id).toBe(first.id);
    await send(cid, 'a marker sent after the repeat');
    const list = await settled(hook.id, 2);
    const ids = receiver.processed('/idempotent').map((a) => (a.event!.message as { id: string }).id);
    expect(ids.filter((id) => id === first.id)).toHaveLength(1);
    expect(list.map((d) => d.event_type)).toEqual(['message.new', 'message.new']);
  });

  it('lists the delivery log newest first, with a cursor and a status filter', async () => {
    const hook = await endpoint('/paging', ['message.new']);
    const cid = await channel('paging');
    for (const text of ['p1', 'p2', 'p3']) await send(cid, text);
    const all = await settled(hook.id, 3);
    expect(all.map((d) => d.id)).toEqual([...all.map((d) => d.id)].sort().reverse());
    const page = await app.server.get(`/webhooks/${hook.id}/deliveries?limit=2`);
    expect(page.body.deliveries.map((d: Delivery) => d.id)).toEqual(all.slice(0, 2).map((d) => d.id));
    const next = await app.server.get(`/webhooks/${hook.id}/deliveries?limit=2&id_lt=${all[1]!.id}`);
    expect(next.body.deliveries.map((d: Delivery) => d.id)).toEqual([all[2]!.id]);
    const failed = await app.server.get(`/webhooks/${hook.id}/deliveries?status=failed`);
    expect(failed.body.deliveries).toEqual([]);
    expect((await app.server.get(`/webhooks/${hook.id}/deliveries?limit=0`)).status).toBe(400);
  });
});

describe('the outbox', () => {
  it('enqueues nothing for a rolled-back write, and both rows and job for a committed one', async () => {
    const hook = await endpoint('/outbox', ['channel.updated']);
    const cid = await channel('outbox');
    const { channel: dto } = (await app.server.get('/channels/messaging/outbox')).body;
    const { db } = server.database;
    const bus = server.parley.bus;
    let rolledBackEventId = '';
    await expect(
      inTransaction(db, bus, app.id, async (_tx, events) => {
        events.record('channel.updated', { cid, channel: dto });
        rolledBackEventId = events.events[0]!.id;
        throw new Error('the write fails after recording its event');
      }),
    ).rejects.toThrow('the write fails');
    let committedEventId = '';
    await inTransaction(db, bus, app.id, async (_tx, events) => {
      events.record('channel.updated', { cid, channel: dto });
      committedEventId = events.events[0]!.id;
    });
    const [delivery] = await settled(hook.id, 1);
    expect(delivery!.event_id).toBe(committedEventId);
    expect(await jobsFor([delivery!.id])).toBe(1);
    const rolledBack = await sql<{ n: number | string }>`
      select count(*) as n from webhook_deliveries where event_id = ${rolledBackEventId}`.execute(db);
    expect(Number(rolledBack.rows[0]!.n)).toBe(0);
    const anyJob = await sql<{ n: number | string }>`
      select count(*) as n from pgboss.job where data::text like ${`%${rolledBackEventId}%`}`.execute(db);
    expect(Number(anyJob.rows[0]!.n)).toBe(0);
    expect(receiver.processed('/outbox').map((a) => a.event!.id)).toEqual([committedEventId]);
  });

  it('keeps writes working when another process deleted or disabled a cached endpoint', async () => {
    const gone = await endpoint('/gone', ['message.new']);
    const off = await endpoint('/off', ['message.new']);
    const kept = await endpoint('/kept', ['message.new']);
    const cid = await channel('stale-endpoints');
    await send(cid, 'caches the three endpoints'); // this process now remembers all three
    const { db } = server.database;
    // Another process changes them: rows change, this process's cache does not hear of it.
    await sql`delete from webhook_endpoints where id = ${gone.id}`.execute(db);
    await sql`update webhook_endpoints set active = false where id = ${off.id}`.execute(db);
    created.splice(
      created.findIndex((c) => c.id === gone.id),
      1,
    );
    const after = await send(cid, 'sent while the cache is stale');
    const keptLog = await settled(kept.id, 2);
    expect(keptLog.map((d) => d.event_type)).toEqual(['message.new', 'message.new']);
    expect(await deliveries(off.id)).toHaveLength(1); // only the message before it was disabled
    const toGone = await sql<{ n: number | string }>`
      select count(*) as n from webhook_deliveries where webhook_id = ${gone.id}`.execute(db);
    expect(Number(toGone.rows[0]!.n)).toBe(0);
    expect(receiver.processed('/kept').some((a) => JSON.stringify(a.event).includes(after.id))).toBe(true);
  });

  it('records the same event twice as one delivery and one job (idempotency key)', async () => {
    const hook = await endpoint('/twice', ['channel.updated']);
    const cid = await channel('twice');
    const { channel: dto } = (await app.server.get('/channels/messaging/twice')).body;
    const { db } = server.database;
    const services = server.parley.services;
    const event = {
      id: crypto.randomUUID(),
      type: 'channel.updated' as const,
      app_id: app.id,
      created_at: new Date().toISOString(),
      cid,
      channel: dto,
    };
    for (let i = 0; i < 2; i++) {
      await db.transaction().execute((tx) => services.webhooks.enqueueDeliveries(tx, [event], () => {}));
    }
    server.parley.jobs.wake('webhook.deliver');
    const [delivery] = await settled(hook.id, 1);
    expect(await jobsFor([delivery!.id])).toBe(1);
    expect(receiver.arrivals.filter((a) => a.path === '/twice')).toHaveLength(1);
  });

  it('never lets a pg-boss query see (or join) an open transaction, under concurrent writes', async () => {
    const { db } = server.database;
    const jobs = server.parley.jobs;
    const queue = 'webhook.deliver.dead';
    const before = await jobs.queueSize(queue);
    // A transaction inserts a job and, while it is open, pg-boss counts the queue: the count must
    // not include the uncommitted job (on PGlite's single connection it would, if pg-boss's query
    // ran inside our transaction instead of waiting for its lease).
    let seen: Promise<number> | undefined;
    await expect(
      db.transaction().execute(async (tx) => {
        await jobs.boss.insert([{ name: queue, data: { probe: true } }], {
          db: executorAdapter(tx) as never,
        });
        seen = jobs.queueSize(queue);
        await sql`select pg_sleep(0.05)`.execute(tx);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await seen).toBe(before);
    expect(await jobs.queueSize(queue)).toBe(before);

    // Load: 40 concurrent sends from two users while the workers poll, fetch and complete jobs.
    const hook = await endpoint('/load', ['message.new']);
    const cid = await channel('load');
    const bob = await app.as('bob');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? bob : alice).post('/channels/messaging/load/messages', { text: `load ${i}` }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(201));
    const list = await settled(hook.id, 40, 30_000);
    expect(list.map((d) => d.status)).toEqual(Array(40).fill('succeeded'));
    // At least once, and exactly once after dedup by event id.
    expect(receiver.arrivals.filter((a) => a.path === '/load').length).toBeGreaterThanOrEqual(40);
    expect(receiver.processed('/load')).toHaveLength(40);
    expect(new Set(receiver.processed('/load').map((a) => a.event!.id)).size).toBe(40);
    expect(receiver.processed('/load').every((a) => a.event!.cid === cid)).toBe(true);
  });
});
