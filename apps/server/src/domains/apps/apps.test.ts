import { AppSettings, DEFAULT_CHANNEL_TYPES } from '@parley/protocol';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  type ApiClient,
  apiClient,
  createTestServer,
  type TestServer,
} from '../../test-support/harness.js';

let server: TestServer;
let admin: ApiClient;
let counter = 0;
const uniqueName = (prefix: string) => `${prefix}-${++counter}-${Date.now()}`;

const signToken = (secret: string, userId: string) =>
  new SignJWT({ user_id: userId })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));

/** A client of one app, authenticated with a raw secret or a user token signed with it. */
const withSecret = (apiKey: string, secret: string) =>
  apiClient(server.parley, { 'x-api-key': apiKey, authorization: `Secret ${secret}` });
const asUser = async (apiKey: string, secret: string, userId: string) =>
  apiClient(server.parley, {
    'x-api-key': apiKey,
    authorization: `Bearer ${await signToken(secret, userId)}`,
  });

beforeAll(async () => {
  server = await createTestServer();
  admin = apiClient(server.parley, { 'x-admin-token': ADMIN_TOKEN });
});
afterAll(() => server?.close());

describe('the admin API', () => {
  it('refuses a missing or wrong admin token on every admin route with 401 AUTH_ADMIN_TOKEN_INVALID', async () => {
    const adminRoutes = server.parley.routes.filter((r) => r.auth === 'admin');
    expect(adminRoutes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining([
        'GET /admin/apps',
        'GET /admin/apps/:app_id',
        'PATCH /admin/apps/:app_id',
        'POST /admin/apps',
        'POST /admin/apps/:app_id/rotate-secret',
      ]),
    );
    const anonymous = apiClient(server.parley, {});
    const wrong = apiClient(server.parley, { 'x-admin-token': `${ADMIN_TOKEN}x` });
    const prefix = apiClient(server.parley, { 'x-admin-token': ADMIN_TOKEN.slice(0, -1) });
    for (const client of [anonymous, wrong, prefix]) {
      for (const route of adminRoutes) {
        const url = route.url.replace(':app_id', 'some-app');
        const res = await client.request(route.method, url, route.method === 'GET' ? undefined : {});
        expect(res.status, `${route.method} ${url}`).toBe(401);
        expect(res.body.code).toBe('AUTH_ADMIN_TOKEN_INVALID');
      }
    }
    // Nothing was created by the refused POST /admin/apps calls.
    const list = await admin.get('/admin/apps');
    expect(list.status).toBe(200);
    expect(list.body.apps).toEqual([]);
  });

  it('does not accept an app api key and secret in place of the admin token', async () => {
    const app = await server.createApp();
    const res = await app.server.get('/admin/apps');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_ADMIN_TOKEN_INVALID');
  });
});

describe('creating apps', () => {
  it('returns the api key and the secret once; reads never show the secret', async () => {
    const name = uniqueName('acme');
    const res = await admin.post('/admin/apps', { name });
    expect(res.status).toBe(201);
    const created = res.body.app;
    expect(created).toMatchObject({ name });
    // Webhooks are configured as endpoints (POST /webhooks) only: apps have no webhook_url (0016).
    expect(created).not.toHaveProperty('webhook_url');
    expect(created.api_key).toMatch(/^pk_[A-Za-z0-9_-]{20}$/);
    expect(created.api_secret).toMatch(/^sk_[A-Za-z0-9_-]{86}$/);
    expect(created.settings).toEqual({
      ...AppSettings.parse({}),
      dev_tokens: false,
      search_language: 'english',
    });
    expect(created.limits).toEqual({
      app_requests_per_minute: 6000,
      user_requests_per_minute: 600,
      max_custom_data_bytes: 5120,
      max_upload_bytes: null,
    });

    const one = await admin.get(`/admin/apps/${created.id}`);
    expect(one.status).toBe(200);
    expect(one.body.app).not.toHaveProperty('api_secret');
    expect(one.body.app).not.toHaveProperty('secret_hash');
    const { api_secret: _secret, ...withoutSecret } = created;
    expect(one.body.app).toEqual(withoutSecret);

    const list = await admin.get('/admin/apps');
    const listed = list.body.apps.find((a: { id: string }) => a.id === created.id);
    expect(listed).toEqual(withoutSecret);
    expect(JSON.stringify(list.body)).not.toContain(created.api_secret);

    // The secret is stored only as a hash.
    const row = await server.database.db
      .selectFrom('apps')
      .selectAll()
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_hash).toHaveLength(32);
    expect(JSON.stringify(row)).not.toContain(created.api_secret.slice(3));

    // The secret works.
    const me = await withSecret(created.api_key, created.api_secret).get('/app');
    expect(me.status).toBe(200);
    expect(me.body.app).toEqual(withoutSecret);
  });

  it('accepts settings and limits at creation, filling the rest with defaults', async () => {
    const res = await admin.post('/admin/apps', {
      name: uniqueName('custom'),
      settings: { dev_tokens: true },
      limits: { max_custom_data_bytes: 1024 },
    });
    expect(res.status).toBe(201);
    expect(res.body.app.settings).toEqual({
      ...AppSettings.parse({}),
      dev_tokens: true,
      search_language: 'english',
    });
    expect(res.body.app.limits).toEqual({
      app_requests_per_minute: 6000,
      user_requests_per_minute: 600,
      max_custom_data_bytes: 1024,
      max_upload_bytes: null,
    });
  });

  it('refuses a duplicate name with 409 APP_NAME_TAKEN and creates nothing', async () => {
    const name = uniqueName('dup');
    expect((await admin.post('/admin/apps', { name })).status).toBe(201);
    const again = await admin.post('/admin/apps', { name });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'APP_NAME_TAKEN', details: { field: 'name' } });
    const apps = (await admin.get('/admin/apps')).body.apps as { name: string }[];
    expect(apps.filter((a) => a.name === name)).toHaveLength(1);
  });

  it('validates the body: bad names, unknown fields, bad limits, bad webhook URLs', async () => {
    const cases: [unknown, string][] = [
      [{}, 'body.name'],
      [{ name: '' }, 'body.name'],
      [{ name: 'semi;colon' }, 'body.name'],
      [{ name: 'x'.repeat(101) }, 'body.name'],
      [{ name: uniqueName('ok'), extra: 1 }, 'body.extra'],
      [
        { name: uniqueName('ok'), limits: { max_custom_data_bytes: 10 } },
        'body.limits.max_custom_data_bytes',
      ],
      [{ name: uniqueName('ok'), limits: { unknown_limit: 10 } }, 'body.limits.unknown_limit'],
      [{ name: uniqueName('ok'), settings: { dev_tokens: 'yes' } }, 'body.settings.dev_tokens'],
      [{ name: uniqueName('ok'), webhook_url: 'https://example.com/hook' }, 'body.webhook_url'],
      [
        { name: uniqueName('ok'), settings: { before_send_hook: { url: 'not a url' } } },
        'body.settings.before_send_hook.url',
      ],
    ];
    for (const [body, field] of cases) {
      const res = await admin.post('/admin/apps', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details.field, JSON.stringify(body)).toBe(field);
    }
  });

  it('seeds the default channel types (messaging, team, livestream, commerce) into each new app', async () => {
    const app = await server.createApp();
    const res = await app.server.get('/channel-types');
    expect(res.status).toBe(200);
    const types = Object.fromEntries(
      (res.body.channel_types as { name: string; config: unknown }[]).map((t) => [t.name, t.config]),
    );
    expect(Object.keys(types).sort()).toEqual(['commerce', 'livestream', 'messaging', 'team']);
    expect(types).toEqual(DEFAULT_CHANNEL_TYPES);
  });

  it('answers 404 APP_NOT_FOUND for an unknown app id', async () => {
    for (const res of [
      await admin.get('/admin/apps/nope'),
      await admin.patch('/admin/apps/nope', { settings: { dev_tokens: true } }),
      await admin.post('/admin/apps/nope/rotate-secret', {}),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('APP_NOT_FOUND');
    }
  });
});

describe('updating apps', () => {
  it('PATCH merges settings and limits: fields left out keep their stored values', async () => {
    const created = (
      await admin.post('/admin/apps', {
        name: uniqueName('merge'),
        settings: { search_language: 'simple' },
        limits: { app_requests_per_minute: 100 },
      })
    ).body.app;

    const a = await admin.patch(`/admin/apps/${created.id}`, {
      settings: { dev_tokens: true },
      limits: { max_custom_data_bytes: 2048 },
    });
    expect(a.status).toBe(200);
    expect(a.body.app.settings).toEqual({
      ...AppSettings.parse({}),
      dev_tokens: true,
      search_language: 'simple',
    });
    expect(a.body.app.limits).toEqual({
      app_requests_per_minute: 100,
      user_requests_per_minute: 600,
      max_custom_data_bytes: 2048,
      max_upload_bytes: null,
    });

    const hook = { url: 'https://example.com/hook', timeout_ms: 500, failure_policy: 'fail_closed' };
    const b = await admin.patch(`/admin/apps/${created.id}`, { settings: { before_send_hook: hook } });
    expect(b.body.app).toMatchObject({
      settings: { dev_tokens: true, search_language: 'simple', before_send_hook: hook },
      limits: { app_requests_per_minute: 100, max_custom_data_bytes: 2048 },
    });
    const c = await admin.patch(`/admin/apps/${created.id}`, { settings: { before_send_hook: null } });
    expect(c.body.app.settings.before_send_hook).toBeNull();
    expect(Date.parse(c.body.app.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.updated_at));

    // A stored refetch equals the PATCH answers.
    expect((await admin.get(`/admin/apps/${created.id}`)).body.app).toEqual(c.body.app);
  });

  it('refuses limits out of range and unknown settings without writing anything', async () => {
    const created = (await admin.post('/admin/apps', { name: uniqueName('bad-patch') })).body.app;
    const res = await admin.patch(`/admin/apps/${created.id}`, {
      settings: { dev_tokens: true },
      limits: { user_requests_per_minute: 0 },
    });
    expect(res.status).toBe(400);
    expect(res.body.details.field).toBe('body.limits.user_requests_per_minute');
    const unknown = await admin.patch(`/admin/apps/${created.id}`, { settings: { color: 'red' } });
    expect(unknown.status).toBe(400);
    const after = (await admin.get(`/admin/apps/${created.id}`)).body.app;
    expect(after.settings.dev_tokens).toBe(false);
  });

  it('new limits apply at once to the running app (no stale cache)', async () => {
    const app = await server.createApp();
    await app.server.post('/users', { users: [{ id: 'u1' }] });
    const custom = { blob: 'x'.repeat(200) };
    expect((await app.server.patch('/users', { users: [{ id: 'u1', set: { custom } }] })).status).toBe(200);
    await admin.patch(`/admin/apps/${app.id}`, { limits: { max_custom_data_bytes: 100 } });
    const res = await app.server.patch('/users', { users: [{ id: 'u1', set: { custom } }] });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('CUSTOM_DATA_TOO_LARGE');
  });
});

describe('rotating the secret', () => {
  it('with no grace period, the old secret and tokens signed with it stop working at once', async () => {
    const app = await server.createApp();
    const oldUser = await app.as('alice');
    expect((await oldUser.get('/users/alice')).status).toBe(200);

    const res = await admin.post(`/admin/apps/${app.id}/rotate-secret`, {});
    expect(res.status).toBe(200);
    const secret = res.body.app.api_secret as string;
    expect(secret).toMatch(/^sk_/);
    expect(secret).not.toBe(app.secret);
    expect(res.body.app.api_key).toBe(app.apiKey);

    const oldSecret = await app.server.get('/app');
    expect(oldSecret.status).toBe(401);
    expect(oldSecret.body.code).toBe('AUTH_SECRET_INVALID');
    const oldToken = await oldUser.get('/users/alice');
    expect(oldToken.status).toBe(401);
    expect(oldToken.body.code).toBe('AUTH_TOKEN_INVALID');

    expect((await withSecret(app.apiKey, secret).get('/app')).status).toBe(200);
    expect((await (await asUser(app.apiKey, secret, 'alice')).get('/users/alice')).status).toBe(200);
    // The new secret is never shown again.
    expect(JSON.stringify((await admin.get(`/admin/apps/${app.id}`)).body)).not.toContain(secret);
  });

  it('with a grace period, old and new secrets (and their tokens) both work until it ends', async () => {
    const app = await server.createApp();
    const res = await admin.post(`/admin/apps/${app.id}/rotate-secret`, { grace_period_seconds: 3600 });
    expect(res.status).toBe(200);
    const secret = res.body.app.api_secret as string;

    expect((await app.server.get('/app')).status).toBe(200);
    expect((await (await app.as('bob')).get('/users/bob')).status).toBe(200);
    expect((await withSecret(app.apiKey, secret).get('/app')).status).toBe(200);
    expect((await (await asUser(app.apiKey, secret, 'bob')).get('/users/bob')).status).toBe(200);

    // Once the grace period is over, only the new secret works.
    await server.database.db
      .updateTable('apps')
      .set({ previous_secret_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', app.id)
      .execute();
    await admin.patch(`/admin/apps/${app.id}`, {}); // drops the cached app row
    expect((await app.server.get('/app')).body.code).toBe('AUTH_SECRET_INVALID');
    expect((await (await app.as('bob')).get('/users/bob')).body.code).toBe('AUTH_TOKEN_INVALID');
    expect((await withSecret(app.apiKey, secret).get('/app')).status).toBe(200);
  });

  it('a second rotation ends the grace of the first secret', async () => {
    const app = await server.createApp();
    const second = (await admin.post(`/admin/apps/${app.id}/rotate-secret`, { grace_period_seconds: 3600 }))
      .body.app.api_secret as string;
    const third = (await admin.post(`/admin/apps/${app.id}/rotate-secret`, { grace_period_seconds: 3600 }))
      .body.app.api_secret as string;
    expect((await app.server.get('/app')).status).toBe(401);
    expect((await withSecret(app.apiKey, second).get('/app')).status).toBe(200);
    expect((await withSecret(app.apiKey, third).get('/app')).status).toBe(200);
  });

  it('refuses a negative or too long grace period', async () => {
    const app = await server.createApp();
    for (const grace of [-1, 7 * 24 * 3600 + 1, 1.5, '60']) {
      const res = await admin.post(`/admin/apps/${app.id}/rotate-secret`, { grace_period_seconds: grace });
      expect(res.status, String(grace)).toBe(400);
      expect(res.body.details.field).toBe('body.grace_period_seconds');
    }
    expect((await app.server.get('/app')).status).toBe(200);
  });
});

describe('an app reading and changing itself (GET/PATCH /app)', () => {
  it('needs server auth: user tokens get 403 AUTH_SERVER_ONLY', async () => {
    const app = await server.createApp();
    const alice = await app.as('alice');
    for (const res of [await alice.get('/app'), await alice.patch('/app', { settings: {} })]) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('AUTH_SERVER_ONLY');
    }
    const anonymous = apiClient(server.parley, { 'x-api-key': app.apiKey });
    expect((await anonymous.get('/app')).body.code).toBe('AUTH_MISSING');
  });

  it('returns only its own app, without the secret', async () => {
    const a = await server.createApp();
    const b = await server.createApp();
    const res = await a.server.get('/app');
    expect(res.status).toBe(200);
    expect(res.body.app).toMatchObject({ id: a.id, api_key: a.apiKey });
    expect(res.body.app).not.toHaveProperty('api_secret');
    expect((await b.server.get('/app')).body.app.id).toBe(b.id);
  });

  it('merges settings changes; limits stay the platform admin’s', async () => {
    const app = await server.createApp();
    const res = await app.server.patch('/app', {
      settings: { search_language: 'simple', before_send_hook: { url: 'https://example.com/parley' } },
    });
    expect(res.status).toBe(200);
    expect(res.body.app).toMatchObject({
      id: app.id,
      settings: {
        dev_tokens: false,
        search_language: 'simple',
        before_send_hook: {
          url: 'https://example.com/parley',
          timeout_ms: 2000,
          failure_policy: 'fail_open',
        },
      },
    });
    const again = await app.server.patch('/app', { settings: { dev_tokens: true } });
    expect(again.body.app.settings).toMatchObject({
      dev_tokens: true,
      search_language: 'simple',
      before_send_hook: { url: 'https://example.com/parley' },
    });

    const limits = await app.server.patch('/app', { limits: { app_requests_per_minute: 1_000_000 } });
    expect(limits.status).toBe(400);
    expect(limits.body.code).toBe('VALIDATION_FAILED');
    expect((await app.server.get('/app')).body.app.limits.app_requests_per_minute).toBe(6000);
  });
});
