import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../apps/server/src/platform/config.js';
import { createLogger } from '../apps/server/src/platform/logger.js';
import { MemoryBroker } from '../apps/server/src/realtime/broker.memory.js';
import { type BuildOptions, buildServer, type Parley } from '../apps/server/src/server.js';
import {
  ADMIN_TOKEN,
  type ApiClient,
  apiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../apps/server/src/test-support/harness.js';

/**
 * Per-app and per-user rate limits (429 RATE_LIMITED + Retry-After). Each test uses its own app,
 * so counters never clash, in memory or in a shared Redis (REDIS_URL, passed by the harness).
 */

let server: TestServer;
let admin: ApiClient;

async function appWithLimits(limits: {
  app_requests_per_minute?: number;
  user_requests_per_minute?: number;
}) {
  const app = await server.createApp();
  const res = await admin.patch(`/admin/apps/${app.id}`, { limits });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.app.limits).toMatchObject(limits);
  return app;
}

function expectLimited(res: { status: number; body: any; headers: Record<string, unknown> }, max: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(429);
  expect(res.body.code).toBe('RATE_LIMITED');
  expect(res.body.message).toContain(String(max));
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(res.body.details.retry_after_seconds).toBe(retryAfter);
}

/** A second server on the same database (as another process would be), with other settings. */
function sibling(overrides: Partial<Config>, options: BuildOptions = {}) {
  const config = { ...server.config, ...overrides };
  return buildServer(config, server.database, createLogger(config), options);
}

beforeAll(async () => {
  server = await createTestServer({ RATE_LIMITS_ENABLED: 'true' });
  admin = apiClient(server.parley, { 'x-admin-token': ADMIN_TOKEN });
});

afterAll(async () => {
  await server?.close();
});

describe('rate limits', () => {
  it('limits an app as a whole: server and user calls share the app budget', async () => {
    const app = await appWithLimits({ app_requests_per_minute: 3 });
    await app.server.post('/users', { users: [{ id: 'alice' }] }); // 1
    expect((await app.server.get('/app')).status).toBe(200); // 2
    expect((await (await app.as('alice')).get('/channel-types')).status).toBe(200); // 3
    expectLimited(await app.server.get('/app'), 3);
    expectLimited(await (await app.as('alice')).get('/channel-types'), 3);
    // A limited request does no work.
    const send = await app.server.post('/users', { users: [{ id: 'bob' }] });
    expectLimited(send, 3);
    const users = await server.database.db
      .selectFrom('users')
      .select('id')
      .where('app_id', '=', app.id)
      .execute();
    expect(users.map((u) => u.id)).toEqual(['alice']);
  });

  it('keeps apps apart: one app at its limit does not slow another', async () => {
    const busy = await appWithLimits({ app_requests_per_minute: 1 });
    const quiet = await appWithLimits({ app_requests_per_minute: 1 });
    expect((await busy.server.get('/app')).status).toBe(200);
    expectLimited(await busy.server.get('/app'), 1);
    expect((await quiet.server.get('/app')).status).toBe(200);
  });

  it('limits each user separately from other users and from server calls', async () => {
    const app = await appWithLimits({ app_requests_per_minute: 1000, user_requests_per_minute: 2 });
    const alice = await app.as('alice');
    const bob = await app.as('bob');
    expect((await alice.get('/channel-types')).status).toBe(200);
    expect((await alice.get('/channel-types')).status).toBe(200);
    expectLimited(await alice.get('/channel-types'), 2);
    // A fresh token does not reset the count: the key is the user, not the token.
    expectLimited(await (await app.as('alice')).get('/channel-types'), 2);
    expect((await bob.get('/channel-types')).status).toBe(200);
    expect((await bob.get('/channel-types')).status).toBe(200);
    expectLimited(await bob.get('/channel-types'), 2);
    // The backend is not a user: it keeps working.
    for (let i = 0; i < 5; i++) expect((await app.server.get('/app')).status).toBe(200);
  });

  it('applies a lowered limit at once (the api key cache is cleared on update)', async () => {
    const app = await appWithLimits({ app_requests_per_minute: 100 });
    for (let i = 0; i < 3; i++) expect((await app.server.get('/app')).status).toBe(200);
    expect(
      (await admin.patch(`/admin/apps/${app.id}`, { limits: { app_requests_per_minute: 3 } })).status,
    ).toBe(200);
    expectLimited(await app.server.get('/app'), 3);
  });

  it('does not limit when RATE_LIMITS_ENABLED is false', async () => {
    const app = await appWithLimits({ app_requests_per_minute: 1 });
    const relaxed = await sibling({ RATE_LIMITS_ENABLED: false });
    try {
      const client = apiClient(relaxed, { 'x-api-key': app.apiKey, authorization: `Secret ${app.secret}` });
      for (let i = 0; i < 5; i++) expect((await client.get('/app')).status).toBe(200);
    } finally {
      await relaxed.close();
    }
  });

  it('fails open when Redis is unreachable: requests go through instead of answering 500', async () => {
    const app = await appWithLimits({ app_requests_per_minute: 1000 });
    const down = await sibling({ REDIS_URL: 'redis://127.0.0.1:1' }, { broker: new MemoryBroker() });
    try {
      const client = apiClient(down, { 'x-api-key': app.apiKey, authorization: `Secret ${app.secret}` });
      const res = await client.get('/app');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const token = await app.token('alice');
      const user = await apiClient(down, { 'x-api-key': app.apiKey, authorization: `Bearer ${token}` }).get(
        '/channel-types',
      );
      expect(user.status, JSON.stringify(user.body)).toBe(200);
    } finally {
      await down.close();
    }
  });
});

describe.runIf(process.env.REDIS_URL)('rate limits in Redis', () => {
  let redis: Redis;
  let second: Parley;
  let app: TestApp;

  beforeAll(async () => {
    redis = new Redis(process.env.REDIS_URL!);
    // A second server on the same database and Redis, as a second process would be.
    second = await sibling({});
  });

  afterAll(async () => {
    await second?.close();
    redis?.disconnect();
  });

  it('keeps the counters in Redis', async () => {
    app = await appWithLimits({ app_requests_per_minute: 3 });
    expect((await app.server.get('/app')).status).toBe(200);
    const keys = await redis.keys(`*${app.id}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.startsWith('parley-rl:'))).toBe(true);
  });

  it('shares one app budget between two servers', async () => {
    const onSecond = apiClient(second, { 'x-api-key': app.apiKey, authorization: `Secret ${app.secret}` });
    expect((await onSecond.get('/app')).status).toBe(200); // 2 (1 was on the first server)
    expect((await app.server.get('/app')).status).toBe(200); // 3
    expectLimited(await onSecond.get('/app'), 3);
    expectLimited(await app.server.get('/app'), 3);
  });
});
