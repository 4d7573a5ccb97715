import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHttpError } from '../apps/server/src/platform/http.js';
import { createLogger } from '../apps/server/src/platform/logger.js';
import {
  ADMIN_TOKEN,
  type ApiResponse,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../apps/server/src/test-support/harness.js';
import { rowCounts, snapshotOfApp } from './support/db-snapshot.js';

/**
 * Bad input on every route, generated from the route table: broken JSON, non-object bodies,
 * unknown fields, other media types, oversize bodies and malformed ids are all 4xx with
 * `{ code, message, details }`: never a 500, and never a write.
 */

const BODY_LIMIT = 4096;

/**
 * A body each write route accepts at the schema level. The tests add one thing wrong to it, so a
 * failure names that thing. A write route without an entry fails the coverage test; `null` marks
 * a route that takes no body (its JSON is still parsed, so broken JSON and other media types are
 * still refused, but there is no schema to be strict about).
 */
const VALID_BODIES: Record<string, object | null> = {
  'POST /admin/apps': { name: 'bad-input-new' },
  'PATCH /admin/apps/:app_id': { settings: { before_send_hook: null } },
  'POST /admin/apps/:app_id/rotate-secret': { grace_period_seconds: 0 },
  'PATCH /app': { settings: { search_language: 'english' } },
  'POST /auth/dev-token': { user_id: 'u1' },
  'POST /users': { users: [{ id: 'u9', name: 'New' }] },
  'PATCH /users': { users: [{ id: 'u1', set: { name: 'x' } }] },
  'POST /users/query': { filter: {} },
  'POST /users/:user_id/revoke-tokens': {},
  'POST /channel-types': { name: 'new-type', config: {} },
  'PATCH /channel-types/:name': { config: { typing_events: false } },
  'POST /channels': { type: 'messaging', id: 'new', created_by: 'u1', members: ['u2'] },
  'POST /channels/query': { filter: {} },
  'PUT /channels/:type/:id': { name: 'x', user_id: 'u1' },
  'PATCH /channels/:type/:id': { set: { name: 'x' }, user_id: 'u1' },
  'POST /channels/:type/:id/truncate': { hard: true, user_id: 'u1' },
  'POST /channels/:type/:id/hide': { user_id: 'u1' },
  'POST /channels/:type/:id/show': { user_id: 'u1' },
  'POST /channels/:type/:id/members': { user_ids: ['u3'], user_id: 'u1' },
  'POST /channels/:type/:id/members/remove': { user_ids: ['u2'], user_id: 'u1' },
  'PATCH /channels/:type/:id/members/:user_id': { role: 'moderator', user_id: 'u1' },
  'POST /channels/:type/:id/invites': { user_ids: ['u3'], user_id: 'u1' },
  'POST /channels/:type/:id/invites/accept': { user_id: 'u2' },
  'POST /channels/:type/:id/invites/reject': { user_id: 'u2' },
  'POST /channels/:type/:id/messages': { text: 'hello', user_id: 'u1' },
  'PATCH /messages/:message_id': { text: 'edited', user_id: 'u1' },
  'POST /channels/:type/:id/read': { user_id: 'u1' },
  'POST /channels/read': { user_id: 'u1' },
  'POST /threads/:message_id/read': { user_id: 'u1' },
  'POST /search': { query: 'hello', user_id: 'u1' },
  'POST /sync': { last_sync_at: '2026-01-01T00:00:00.000Z', user_id: 'u1' },
  'POST /messages/:message_id/reactions': { type: 'like', user_id: 'u1' },
  'POST /polls': { name: 'Q?', options: [{ text: 'a' }], user_id: 'u1' },
  'PATCH /polls/:poll_id': { is_closed: true, user_id: 'u1' },
  'POST /polls/:poll_id/options': { text: 'b', user_id: 'u1' },
  'POST /messages/:message_id/polls/:poll_id/vote': {
    vote: { option_id: '00000000-0000-7000-8000-000000000006' },
    user_id: 'u1',
  },
  'POST /commands': { name: 'bad-input-cmd', url: 'https://example.com/cmd' },
  'PUT /commands/:command_name': { description: 'x' },
  'POST /messages/:message_id/action': { form_data: { image_action: 'send' }, user_id: 'u1' },
  'POST /channels/:type/:id/unread': { message_id: '00000000-0000-7000-8000-000000000002', user_id: 'u1' },
  'POST /channels/delivered': { channels: [{ cid: 'messaging:c1' }], user_id: 'u1' },
  'POST /messages/:message_id/pin': { user_id: 'u1' },
  'POST /messages/:message_id/star': { user_id: 'u1' },
  'PUT /channels/:type/:id/draft': { text: 'draft', user_id: 'u1' },
  'POST /messages/:message_id/reminder': { remind_in_seconds: 60, user_id: 'u1' },
  'PATCH /messages/:message_id/reminder': { note: 'n', user_id: 'u1' },
  'POST /channels/:type/:id/scheduled-messages': {
    send_at: '2030-01-01T00:00:00Z',
    text: 'x',
    user_id: 'u1',
  },
  'PATCH /scheduled-messages/:scheduled_message_id': { text: 'x', user_id: 'u1' },
  'POST /webhooks': { url: 'https://example.com/hook', events: ['message.new'] },
  'POST /moderation/mute-user': { target_id: 'u2', user_id: 'u1' },
  'POST /moderation/unmute-user': { target_id: 'u2', user_id: 'u1' },
  'POST /moderation/mute-channel': { cid: 'messaging:c1', user_id: 'u1' },
  'POST /moderation/unmute-channel': { cid: 'messaging:c1', user_id: 'u1' },
  'POST /moderation/block': { target_id: 'u2', user_id: 'u1' },
  'POST /moderation/unblock': { target_id: 'u2', user_id: 'u1' },
  'POST /moderation/ban': { target_id: 'u2', reason: 'r' },
  'POST /moderation/unban': { target_id: 'u2' },
  'POST /moderation/shadow-ban': { target_id: 'u2' },
  'POST /moderation/remove-shadow-ban': { target_id: 'u2' },
  'POST /moderation/flag': { target_id: 'u2', reason: 'r', user_id: 'u1' },
  'POST /moderation/flags/:flag_id/review': { action: 'dismiss' },
  'POST /moderation/blocklists': { name: 'bad-input-list', words: ['w'], behavior: 'mask' },
  'PATCH /moderation/blocklists/:blocklist_name': { words: ['w'] },
  'PUT /email/preferences': { email: 'u1@example.com', digest: false, user_id: 'u1' },
  'POST /devices': { provider: 'onesignal', token: 'os-subscription-1', user_id: 'u1' },
  'PATCH /push/preferences': { level: 'mentions', user_id: 'u1' },
  'PATCH /webhooks/:webhook_id': { active: false },
  'POST /webhooks/:webhook_id/deliveries/:delivery_id/redeliver': null,
};

/**
 * Routes whose body is not JSON but raw bytes (a file upload): the JSON checks below do not apply
 * to them; their own bad input is checked in 'bad input on the raw upload route'.
 */
const RAW_BODY_ROUTES = new Set(['POST /channels/:type/:id/uploads']);

let server: TestServer;
let app: TestApp;
let messageId: string;
let webhookId = '00000000-0000-7000-8000-000000000000';
let writeRoutes: { method: string; url: string; auth: string }[];

const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;

function pathOf(url: string) {
  return url
    .replace(':app_id', app.id)
    .replace(':type/:id', 'messaging/c1')
    .replace(':user_id', 'u2')
    .replace(':name', 'custom-t')
    .replace(':message_id', messageId)
    .replace(':reaction_type', 'like')
    .replace(':webhook_id', webhookId)
    .replace(':delivery_id', '00000000-0000-7000-8000-000000000001')
    .replace(':device_id', '00000000-0000-7000-8000-000000000004')
    .replace(':poll_id', '00000000-0000-7000-8000-000000000005')
    .replace(':vote_id', '00000000-0000-7000-8000-000000000007')
    .replace(':command_name', 'no-such-cmd')
    .replace(':flag_id', '00000000-0000-7000-8000-000000000008')
    .replace(':blocklist_name', 'no-such-list')
    .replace(':scheduled_message_id', '00000000-0000-7000-8000-000000000003')
    .replace(':upload_id', '00000000-0000-7000-8000-000000000009')
    .replace(':variant', 'original')
    .replace(':signature', 'A'.repeat(43));
}

function headersFor(auth: string): Record<string, string> {
  if (auth === 'admin') return { 'x-admin-token': ADMIN_TOKEN };
  if (auth === 'public') return { 'x-api-key': app.apiKey };
  return { 'x-api-key': app.apiKey, authorization: `Secret ${app.secret}` };
}

/** One raw request: the payload is sent as given, with the given content-type. */
async function raw(
  route: { method: string; auth: string },
  path: string,
  payload?: string,
  /** null: send no content-type header at all. */
  contentType: string | null = 'application/json',
): Promise<ApiResponse> {
  const res = await server.parley.http.inject({
    method: route.method as 'POST',
    url: path,
    headers: { ...headersFor(route.auth), ...(contentType ? { 'content-type': contentType } : {}) },
    ...(payload !== undefined ? { payload } : {}),
  });
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body, headers: res.headers };
}

/** Collects every mismatch, so one run reports all routes that misbehave. */
function checker() {
  const failures: string[] = [];
  return {
    failures,
    expect(
      what: string,
      res: ApiResponse,
      status: number,
      code?: string,
      extra?: (res: ApiResponse) => string | undefined,
    ) {
      const shape =
        typeof res.body === 'object' &&
        typeof res.body?.code === 'string' &&
        typeof res.body?.message === 'string';
      const problem =
        res.status !== status
          ? `status ${res.status}, expected ${status}`
          : !shape
            ? 'body is not { code, message }'
            : code && res.body.code !== code
              ? `code ${res.body.code}, expected ${code}`
              : extra?.(res);
      if (problem) failures.push(`${what}: ${problem} — ${JSON.stringify(res.body).slice(0, 300)}`);
    },
  };
}

beforeAll(async () => {
  server = await createTestServer({ BODY_LIMIT_BYTES: String(BODY_LIMIT) });
  app = await server.createApp('bad-input');
  const admin = await server.parley.http.inject({
    method: 'PATCH',
    url: `/admin/apps/${app.id}`,
    headers: { 'x-admin-token': ADMIN_TOKEN, 'content-type': 'application/json' },
    payload: JSON.stringify({ settings: { dev_tokens: true }, limits: { max_custom_data_bytes: 64 } }),
  });
  expect(admin.statusCode).toBe(200);
  expect(
    (await app.server.post('/users', { users: [{ id: 'u1' }, { id: 'u2' }, { id: 'u3' }] })).status,
  ).toBe(200);
  expect(
    (await app.server.post('/channels', { type: 'messaging', id: 'c1', members: ['u2'], created_by: 'u1' }))
      .status,
  ).toBe(201);
  expect((await app.server.post('/channel-types', { name: 'custom-t' })).status).toBe(201);
  const sent = await app.server.post('/channels/messaging/c1/messages', { text: 'first', user_id: 'u1' });
  expect(sent.status).toBe(201);
  messageId = sent.body.message.id;
  if (server.parley.routes.some((r) => r.method === 'POST' && r.url === '/webhooks')) {
    const hook = await app.server.post('/webhooks', {
      url: 'https://example.com/hook',
      events: ['message.new'],
    });
    expect(hook.status).toBe(201);
    webhookId = hook.body.webhook.id;
  }
  writeRoutes = server.parley.routes.filter(
    (r) => ['POST', 'PUT', 'PATCH'].includes(r.method) && !RAW_BODY_ROUTES.has(key(r)),
  );
});
const withBody = () => writeRoutes.filter((r) => VALID_BODIES[key(r)] !== null);

afterAll(async () => {
  await server?.close();
});

describe('bad input on every write route', () => {
  let countsBefore: Record<string, number>;
  let appBefore: Record<string, string[]>;
  beforeAll(async () => {
    countsBefore = await rowCounts(server.database.db);
    appBefore = await snapshotOfApp(server.database.db, app.id);
  });

  it('has a valid body for every write route (and none for routes that are gone)', () => {
    expect(writeRoutes.length).toBeGreaterThan(20);
    expect(
      writeRoutes.filter((r) => !(key(r) in VALID_BODIES)).map(key),
      'write routes without a valid body: add one in test/bad-input.test.ts',
    ).toEqual([]);
    const keys = writeRoutes.map(key);
    expect(Object.keys(VALID_BODIES).filter((k) => !keys.includes(k))).toEqual([]);
  });

  it('answers invalid JSON with 400 INVALID_JSON', async () => {
    const c = checker();
    for (const route of writeRoutes) {
      const path = pathOf(route.url);
      for (const payload of ['{"a":', '{a: 1}', "{'a': 1}", '{"a": 1,}', 'nope', '{"a": 1}}']) {
        c.expect(`${key(route)} ${payload}`, await raw(route, path, payload), 400, 'INVALID_JSON');
      }
      c.expect(`${key(route)} empty body`, await raw(route, path, ''), 400, 'INVALID_JSON');
    }
    expect(c.failures).toEqual([]);
  });

  it('answers a JSON value that is not an object with 400 VALIDATION_FAILED', async () => {
    const c = checker();
    for (const route of withBody()) {
      for (const payload of [
        '[]',
        `[${JSON.stringify(VALID_BODIES[key(route)])}]`,
        '"text"',
        '42',
        'true',
        'null',
      ]) {
        c.expect(
          `${key(route)} ${payload}`,
          await raw(route, pathOf(route.url), payload),
          400,
          'VALIDATION_FAILED',
        );
      }
    }
    expect(c.failures).toEqual([]);
  });

  it('names an unknown field in details.field (400 VALIDATION_FAILED)', async () => {
    const c = checker();
    for (const route of withBody()) {
      const body = { ...VALID_BODIES[key(route)], zz_unknown: 1 };
      c.expect(
        key(route),
        await raw(route, pathOf(route.url), JSON.stringify(body)),
        400,
        'VALIDATION_FAILED',
        (res) => {
          if (res.body.details?.field !== 'body.zz_unknown')
            return `details.field is ${res.body.details?.field}`;
          // The valid body really is valid: the unknown field is the only problem.
          if (res.body.details?.issues?.length !== 1)
            return `more than one issue: ${JSON.stringify(res.body.details)}`;
        },
      );
    }
    expect(c.failures).toEqual([]);
  });

  it('answers other media types with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const c = checker();
    for (const route of writeRoutes) {
      const path = pathOf(route.url);
      const json = JSON.stringify(VALID_BODIES[key(route)]);
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
      ]) {
        c.expect(`${key(route)} ${type}`, await raw(route, path, json, type), 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      c.expect(
        `${key(route)} no content-type`,
        await raw(route, path, json, null),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
    expect(c.failures).toEqual([]);
  });

  it(`answers a body over BODY_LIMIT_BYTES (${BODY_LIMIT}) with 413 PAYLOAD_TOO_LARGE`, async () => {
    const c = checker();
    for (const route of writeRoutes) {
      const body = { ...VALID_BODIES[key(route)], padding: 'x'.repeat(BODY_LIMIT) };
      c.expect(
        key(route),
        await raw(route, pathOf(route.url), JSON.stringify(body)),
        413,
        'PAYLOAD_TOO_LARGE',
      );
    }
    expect(c.failures).toEqual([]);
  });

  it('refuses text holding U+0000 (PostgreSQL cannot store it) with 400, naming the field', async () => {
    const c = checker();
    for (const route of withBody()) {
      const body = { ...VALID_BODIES[key(route)], nul: 'a\u0000b' };
      c.expect(
        key(route),
        await raw(route, pathOf(route.url), JSON.stringify(body)),
        400,
        'VALIDATION_FAILED',
        (res) =>
          res.body.details?.field === 'body.nul' ? undefined : `details.field is ${res.body.details?.field}`,
      );
    }
    // Inside nested values too: a message text, custom data, a filter, a partial update.
    const cases: [string, string, unknown, string][] = [
      ['POST', '/channels/messaging/c1/messages', { text: 'hi\u0000', user_id: 'u1' }, 'body.text'],
      ['POST', '/users', { users: [{ id: 'u1', custom: { k: ['\u0000'] } }] }, 'body.users.0.custom.k.0'],
      ['POST', '/channels/query', { filter: { name: '\u0000' } }, 'body.filter.name'],
      ['PATCH', '/users', { users: [{ id: 'u1', set: { name: '\u0000' } }] }, 'body.users.0.set.name'],
      ['POST', '/users', { users: [{ id: 'u1', custom: { 'k\u0000': 1 } }] }, 'body.users.0.custom.k\u0000'],
    ];
    for (const [method, path, body, field] of cases) {
      c.expect(
        `${method} ${path}`,
        await raw({ method, auth: 'app' }, path, JSON.stringify(body)),
        400,
        'VALIDATION_FAILED',
        (res) =>
          res.body.details?.field === field ? undefined : `details.field is ${res.body.details?.field}`,
      );
    }
    expect(c.failures).toEqual([]);
  });

  it('made no write at all', async () => {
    expect(await rowCounts(server.database.db)).toEqual(countsBefore);
    expect(await snapshotOfApp(server.database.db, app.id)).toEqual(appBefore);
  });
});

describe('malformed ids in paths', () => {
  const badChannelPaths = [
    ['type with bad characters', 'Bad!Type/c1'],
    ['upper-case type', 'MESSAGING/c1'],
    ['type over 64 characters', `${'t'.repeat(65)}/c1`],
    ['id over 128 characters', `messaging/${'i'.repeat(129)}`],
    ['id over the router limit', `messaging/${'i'.repeat(400)}`],
    ['id with a space', 'messaging/a%20b'],
    ['id with a colon', 'messaging/a:b'],
    ['id with a dot', 'messaging/a.b'],
    ['id with NUL', 'messaging/a%00b'],
    ['broken %-escape', 'messaging/%E0%A4%A'],
  ];

  it('answers every channel route with 400 for an invalid cid', async () => {
    const c = checker();
    const before = await rowCounts(server.database.db);
    const channelRoutes = server.parley.routes.filter((r) => r.url.includes(':type/:id'));
    expect(channelRoutes.length).toBeGreaterThan(15);
    for (const route of channelRoutes) {
      for (const [label, cidPath] of badChannelPaths) {
        const path = pathOf(route.url).replace('messaging/c1', cidPath!);
        const body = VALID_BODIES[key(route)];
        const res = await raw(
          route,
          path,
          body == null ? undefined : JSON.stringify(body),
          body == null ? null : 'application/json',
        );
        c.expect(`${key(route)} ${label}`, res, 400, 'VALIDATION_FAILED');
      }
    }
    expect(c.failures).toEqual([]);
    expect(await rowCounts(server.database.db)).toEqual(before);
  });

  /** Malformed values for each path parameter; a route with a parameter not listed here fails. */
  const BAD_PARAMS: Record<string, string[]> = {
    message_id: ['not-a-uuid', '01234567-89ab-cdef-0123-456789abcdeg', '%27%3B%20drop%20table%20messages'],
    webhook_id: ['not-a-uuid', '1'],
    delivery_id: ['not-a-uuid'],
    device_id: ['not-a-uuid', '1'],
    user_id: [`${'u'.repeat(129)}`, 'a%20b', 'a%2Fb', 'a%00b'],
    name: ['Upper', `${'t'.repeat(65)}`],
    app_id: [`${'a'.repeat(65)}`],
    reaction_type: [`${'r'.repeat(65)}`],
    scheduled_message_id: ['not-a-uuid', '1'],
    poll_id: ['not-a-uuid', '1'],
    vote_id: ['not-a-uuid'],
    command_name: ['Upper', 'a%20b', `${'c'.repeat(65)}`],
    flag_id: ['not-a-uuid', '1'],
    blocklist_name: ['Upper', 'a%20b', `${'l'.repeat(65)}`],
    upload_id: ['not-a-uuid', '1'],
    variant: ['big', 'ORIGINAL'],
    signature: ['short', 'A'.repeat(44), `${'A'.repeat(42)}%2F`],
  };

  it('answers 400 for a malformed value of every other path parameter, on every route', async () => {
    const c = checker();
    const before = await rowCounts(server.database.db);
    let checked = 0;
    for (const route of server.parley.routes) {
      const params = (route.url.match(/:(\w+)/g) ?? [])
        .map((m) => m.slice(1))
        .filter((p) => p !== 'type' && p !== 'id');
      for (const param of params) {
        const values = BAD_PARAMS[param];
        if (!values) {
          c.failures.push(`${key(route)}: no malformed values for :${param} (add them to BAD_PARAMS)`);
          continue;
        }
        for (const value of values) {
          const path = pathOf(route.url.replace(`:${param}`, value));
          const body = VALID_BODIES[key(route)];
          const withJson = body != null && ['POST', 'PUT', 'PATCH'].includes(route.method);
          const res = await raw(
            route,
            path,
            withJson ? JSON.stringify(body) : undefined,
            withJson ? 'application/json' : null,
          );
          c.expect(`${route.method} ${path}`, res, 400, 'VALIDATION_FAILED');
          checked++;
        }
      }
    }
    expect(c.failures).toEqual([]);
    expect(checked).toBeGreaterThan(30);
    expect(await rowCounts(server.database.db)).toEqual(before);
  });

  it('answers 400 for malformed query strings', async () => {
    const c = checker();
    for (const path of [
      '/channels/messaging/c1/messages?id_lt=nope',
      '/channels/messaging/c1/messages?limit=301',
      '/channels/messaging/c1/messages?limit=abc',
      '/channels/messaging/c1/messages?limit=1&limit=2',
      '/channels/messaging/c1/messages?zz_unknown=1',
      '/channels/messaging/c1?user_id=bad%20id',
      '/channels/messaging/c1/members?offset=-1',
      '/unread?user_id=a%00b',
    ]) {
      c.expect(
        `GET ${path}`,
        await raw({ method: 'GET', auth: 'app' }, path, undefined, null),
        400,
        'VALIDATION_FAILED',
      );
    }
    c.expect(
      'DELETE hard=yes',
      await raw({ method: 'DELETE', auth: 'app' }, `/messages/${messageId}?hard=yes`, undefined, null),
      400,
      'VALIDATION_FAILED',
    );
    expect(c.failures).toEqual([]);
  });
});

describe('bad input on the raw upload route', () => {
  const upload = (query: string, payload: string | undefined, headers: Record<string, string> = {}) =>
    server.parley.http.inject({
      method: 'POST',
      url: `/channels/messaging/c1/uploads${query}`,
      headers: { ...headersFor('app'), 'content-type': 'text/plain', ...headers },
      ...(payload !== undefined ? { payload } : {}),
    });

  it('answers 400 with the field for a missing, empty, too long or NUL-holding name and unknown query keys', async () => {
    const before = await rowCounts(server.database.db);
    const c = checker();
    const field = (want: string) => (res: ApiResponse) =>
      res.body.details?.field === want ? undefined : `details.field is ${res.body.details?.field}`;
    const cases: [string, string][] = [
      ['?user_id=u1', 'querystring.name'],
      ['?name=&user_id=u1', 'querystring.name'],
      [`?name=${'n'.repeat(256)}&user_id=u1`, 'querystring.name'],
      ['?name=a%00b&user_id=u1', 'querystring.name'],
      ['?name=%E2%80%AE&user_id=u1', 'querystring.name'],
      ['?name=a.txt&user_id=u1&zz_unknown=1', 'querystring.zz_unknown'],
      ['?name=a.txt&user_id=bad%20id', 'querystring.user_id'],
    ];
    for (const [query, want] of cases) {
      const res = await upload(query, 'hello');
      c.expect(
        query,
        { status: res.statusCode, body: res.json(), headers: res.headers },
        400,
        'VALIDATION_FAILED',
        field(want),
      );
    }
    c.expect(
      'no Content-Length',
      await (async () => {
        const res = await upload('?name=a.txt&user_id=u1', undefined, { 'transfer-encoding': 'chunked' });
        return { status: res.statusCode, body: res.json(), headers: res.headers };
      })(),
      400,
      'VALIDATION_FAILED',
      field('Content-Length'),
    );
    expect(c.failures).toEqual([]);
    expect(await rowCounts(server.database.db)).toEqual(before);
  });
});

describe('no partial writes when one item of a batch fails', () => {
  it('writes none of a user batch when one user is invalid', async () => {
    const before = await snapshotOfApp(server.database.db, app.id);
    const res = await app.server.post('/users', {
      users: [
        { id: 'batch-ok', name: 'fine' },
        { id: 'u1', name: 'changed' },
        { id: 'batch-big', custom: { blob: 'x'.repeat(100) } }, // over the app's 64-byte limit
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('CUSTOM_DATA_TOO_LARGE');
    expect(await snapshotOfApp(server.database.db, app.id)).toEqual(before);
  });

  it('updates none of a partial-update batch when one user does not exist', async () => {
    const before = await snapshotOfApp(server.database.db, app.id);
    const res = await app.server.patch('/users', {
      users: [
        { id: 'u1', set: { name: 'changed' } },
        { id: 'ghost', set: { name: 'x' } },
      ],
    });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('USER_NOT_FOUND');
    expect(await snapshotOfApp(server.database.db, app.id)).toEqual(before);
  });

  it('creates no channel when a member does not exist', async () => {
    const before = await snapshotOfApp(server.database.db, app.id);
    const res = await app.server.post('/channels', {
      type: 'messaging',
      id: 'half',
      members: ['u2', 'ghost'],
      created_by: 'u1',
    });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('USER_NOT_FOUND');
    expect(await snapshotOfApp(server.database.db, app.id)).toEqual(before);
  });

  it('adds none of a member batch when one user does not exist', async () => {
    const before = await snapshotOfApp(server.database.db, app.id);
    const res = await app.server.post('/channels/messaging/c1/members', {
      user_ids: ['u3', 'ghost'],
      user_id: 'u1',
    });
    expect(res.status).toBe(404);
    expect(await snapshotOfApp(server.database.db, app.id)).toEqual(before);
  });
});

describe('unknown routes and the error mapping', () => {
  it('answers an unknown route or method with 404 NOT_FOUND as JSON', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/nope'],
      ['GET', '/channels/messaging/c1/nope'],
      ['PUT', '/users'],
      ['DELETE', '/channels/query'],
      ['GET', '/admin/nope'],
    ] as const) {
      const res = await raw(
        { method, auth: 'app' },
        path,
        method === 'GET' || method === 'DELETE' ? undefined : '{}',
        method === 'GET' || method === 'DELETE' ? null : 'application/json',
      );
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe('NOT_FOUND');
      expect(typeof res.body.message).toBe('string');
      expect(String(res.headers['content-type'])).toContain('application/json');
    }
  });

  it('maps a value the database refuses to 400, not 500 (safety net behind validation)', async () => {
    let refused: unknown;
    try {
      await sql`select ${'a\u0000b'}::text as t`.execute(server.database.db);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeDefined();
    const mapped = toHttpError(refused, createLogger({ ...server.config, LOG_LEVEL: 'silent' }));
    expect(mapped.status).toBe(400);
    expect(mapped.code).toBe('VALIDATION_FAILED');
    expect(mapped.message).not.toContain('select');
  });
});
