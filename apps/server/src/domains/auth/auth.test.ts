import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../platform/ids.js';
import {
  ADMIN_TOKEN,
  type ApiClient,
  apiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { newApiSecret } from '../apps/apps.service.js';

let server: TestServer;
let app: TestApp;
let other: TestApp;
let admin: ApiClient;

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const key = (secret: string | Uint8Array) =>
  typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;

/** A token with any claims, signed HS256 with `secret` (iat = now unless given). */
function sign(secret: string | Uint8Array, claims: Record<string, unknown>, alg = 'HS256') {
  return new SignJWT({ iat: now(), ...claims }).setProtectedHeader({ alg }).sign(key(secret));
}

/** Calls GET /users/:id with the given credentials. */
function call(headers: Record<string, string>, userId = 'alice') {
  return apiClient(server.parley, headers).get(`/users/${userId}`);
}
const bearer = (token: string) => ({ 'x-api-key': app.apiKey, authorization: `Bearer ${token}` });

async function expectError(
  res: Promise<{ status: number; body: { code: string } }>,
  status: number,
  code: string,
) {
  const r = await res;
  expect(r.status).toBe(status);
  expect(r.body.code).toBe(code);
  expect(typeof (r.body as { message?: unknown }).message).toBe('string');
}

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  other = await server.createApp();
  admin = apiClient(server.parley, { 'x-admin-token': ADMIN_TOKEN });
  await app.server.post('/users', { users: [{ id: 'alice' }] });
});
afterAll(() => server?.close());

describe('api secret storage', () => {
  it('HMAC-SHA256 keyed with our secrets equals HMAC-SHA256 keyed with their SHA-256 (RFC 2104 long keys)', () => {
    for (let i = 0; i < 50; i++) {
      const secret = newApiSecret();
      expect(Buffer.byteLength(secret)).toBeGreaterThan(64); // longer than SHA-256's block
      const message = randomBytes(1 + i * 7).toString('base64url');
      const withSecret = createHmac('sha256', secret).update(message).digest('hex');
      const withHash = createHmac('sha256', sha256(secret)).update(message).digest('hex');
      expect(withHash).toBe(withSecret);
    }
  });

  it('the equivalence needs the length: a secret of 64 bytes or less would not verify', () => {
    const short = randomBytes(24).toString('base64url'); // 32 characters
    const message = 'header.payload';
    expect(createHmac('sha256', sha256(short)).update(message).digest('hex')).not.toBe(
      createHmac('sha256', short).update(message).digest('hex'),
    );
  });

  it('a token the customer signs with the raw secret (not the hash) is accepted', async () => {
    const token = await sign(app.secret, { user_id: 'alice' });
    const res = await call(bearer(token));
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe('alice');
  });
});

describe('server credentials', () => {
  it('`Authorization: Secret <api secret>` is a server call', async () => {
    const res = await apiClient(server.parley, {
      'x-api-key': app.apiKey,
      authorization: `Secret ${app.secret}`,
    }).get('/app');
    expect(res.status).toBe(200);
    expect(res.body.app.id).toBe(app.id);
  });

  it('a token with `server: true` signed with the secret is a server call', async () => {
    const token = await sign(app.secret, { server: true });
    const res = await apiClient(server.parley, bearer(token)).get('/app');
    expect(res.status).toBe(200);
    expect(res.body.app.id).toBe(app.id);
  });

  it('a wrong secret, or another app’s secret, is 401 AUTH_SECRET_INVALID', async () => {
    for (const secret of [`${app.secret}x`, app.secret.slice(0, -1), other.secret, 'x']) {
      await expectError(
        call({ 'x-api-key': app.apiKey, authorization: `Secret ${secret}` }),
        401,
        'AUTH_SECRET_INVALID',
      );
    }
  });
});

describe('refused credentials: each a 401 with a stable code', () => {
  it('missing api key → AUTH_MISSING', async () => {
    await expectError(call({ authorization: `Secret ${app.secret}` }), 401, 'AUTH_MISSING');
  });

  it('unknown api key → AUTH_API_KEY_INVALID', async () => {
    await expectError(
      call({ 'x-api-key': 'pk_unknown', authorization: `Secret ${app.secret}` }),
      401,
      'AUTH_API_KEY_INVALID',
    );
  });

  it('another app’s api key with this app’s secret → AUTH_SECRET_INVALID', async () => {
    await expectError(
      call({ 'x-api-key': other.apiKey, authorization: `Secret ${app.secret}` }),
      401,
      'AUTH_SECRET_INVALID',
    );
  });

  it('missing Authorization, or an empty one → AUTH_MISSING', async () => {
    await expectError(call({ 'x-api-key': app.apiKey }), 401, 'AUTH_MISSING');
    await expectError(call({ 'x-api-key': app.apiKey, authorization: '   ' }), 401, 'AUTH_MISSING');
    await expectError(call({ 'x-api-key': app.apiKey, authorization: 'Bearer' }), 401, 'AUTH_MISSING');
    await expectError(call({ 'x-api-key': app.apiKey, authorization: 'Secret' }), 401, 'AUTH_MISSING');
  });

  it('a scheme other than Bearer or Secret → AUTH_MISSING', async () => {
    const basic = Buffer.from(`${app.apiKey}:${app.secret}`).toString('base64');
    await expectError(
      call({ 'x-api-key': app.apiKey, authorization: `Basic ${basic}` }),
      401,
      'AUTH_MISSING',
    );
    const token = await sign(app.secret, { user_id: 'alice' });
    await expectError(call({ 'x-api-key': app.apiKey, authorization: token }), 401, 'AUTH_MISSING');
  });

  it('a garbage token → AUTH_TOKEN_INVALID', async () => {
    for (const token of ['garbage', 'a.b.c', `${b64({ alg: 'HS256' })}.${b64({ user_id: 'alice' })}.`]) {
      await expectError(call(bearer(token)), 401, 'AUTH_TOKEN_INVALID');
    }
  });

  it('a token signed with another app’s secret → AUTH_TOKEN_INVALID', async () => {
    await expectError(
      call(bearer(await sign(other.secret, { user_id: 'alice' }))),
      401,
      'AUTH_TOKEN_INVALID',
    );
  });

  it('a token whose payload was changed after signing → AUTH_TOKEN_INVALID', async () => {
    const [header, , signature] = (await sign(app.secret, { user_id: 'eve' })).split('.');
    const forged = `${header}.${b64({ user_id: 'alice', iat: now() })}.${signature}`;
    await expectError(call(bearer(forged)), 401, 'AUTH_TOKEN_INVALID');
  });

  it('alg none, HS512 and RS256 tokens → AUTH_TOKEN_INVALID', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ user_id: 'alice', iat: now() })}.`;
    const hs512 = await sign(app.secret, { user_id: 'alice' }, 'HS512');
    const hs384 = await sign(app.secret, { user_id: 'alice' }, 'HS384');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = await new SignJWT({ user_id: 'alice' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuedAt()
      .sign(privateKey);
    // An RS256 header over an HMAC signature made with the secret (the classic key-confusion attack).
    const hs = (await sign(app.secret, { user_id: 'alice' })).split('.');
    const confused = `${b64({ alg: 'RS256', typ: 'JWT' })}.${hs[1]}.${hs[2]}`;
    for (const token of [none, hs512, hs384, rs256, confused]) {
      await expectError(call(bearer(token)), 401, 'AUTH_TOKEN_INVALID');
    }
  });

  it('an expired token → AUTH_TOKEN_EXPIRED; an unexpired one works', async () => {
    await expectError(call(bearer(await app.token('alice', { expiresIn: -10 }))), 401, 'AUTH_TOKEN_EXPIRED');
    expect((await call(bearer(await app.token('alice', { expiresIn: 3600 })))).status).toBe(200);
  });

  it('an expired token with a bad signature is invalid, not expired', async () => {
    const token = await sign(other.secret, { user_id: 'alice', exp: now() - 60 });
    await expectError(call(bearer(token)), 401, 'AUTH_TOKEN_INVALID');
  });

  it('a token not valid yet (nbf in the future) → AUTH_TOKEN_INVALID', async () => {
    await expectError(
      call(bearer(await sign(app.secret, { user_id: 'alice', nbf: now() + 3600 }))),
      401,
      'AUTH_TOKEN_INVALID',
    );
  });

  it('a token without user_id → AUTH_TOKEN_INVALID', async () => {
    await expectError(call(bearer(await sign(app.secret, {}))), 401, 'AUTH_TOKEN_INVALID');
    await expectError(call(bearer(await sign(app.secret, { user_id: 42 }))), 401, 'AUTH_TOKEN_INVALID');
    await expectError(call(bearer(await sign(app.secret, { server: 'true' }))), 401, 'AUTH_TOKEN_INVALID');
  });

  it('`sub` names the user when there is no user_id', async () => {
    const res = await call(bearer(await sign(app.secret, { sub: 'alice' })));
    expect(res.status).toBe(200);
  });

  it('a user id with invalid characters or too long → AUTH_TOKEN_INVALID, and no user is created', async () => {
    for (const id of ['', 'a b', 'a/b', "x'; drop table users; --", 'ü', 'a'.repeat(129)]) {
      await expectError(call(bearer(await sign(app.secret, { user_id: id }))), 401, 'AUTH_TOKEN_INVALID');
    }
    const users = await server.database.db
      .selectFrom('users')
      .select('id')
      .where('app_id', '=', app.id)
      .where('id', 'in', ['a b', 'a/b', 'ü'])
      .execute();
    expect(users).toEqual([]);
  });

  it('`aud` must be this app’s api key when present', async () => {
    await expectError(
      call(bearer(await sign(app.secret, { user_id: 'alice', aud: other.apiKey }))),
      401,
      'AUTH_TOKEN_INVALID',
    );
    await expectError(
      call(bearer(await sign(app.secret, { user_id: 'alice', aud: [other.apiKey] }))),
      401,
      'AUTH_TOKEN_INVALID',
    );
    expect((await call(bearer(await sign(app.secret, { user_id: 'alice', aud: app.apiKey })))).status).toBe(
      200,
    );
    expect(
      (await call(bearer(await sign(app.secret, { user_id: 'alice', aud: ['other', app.apiKey] })))).status,
    ).toBe(200);
  });

  it('a user token on a server-only route → 403 AUTH_SERVER_ONLY', async () => {
    const alice = await app.as('alice');
    await expectError(alice.get('/app'), 403, 'AUTH_SERVER_ONLY');
    await expectError(alice.post('/users/alice/revoke-tokens', {}), 403, 'AUTH_SERVER_ONLY');
  });
});

describe('users seen through tokens', () => {
  it('the first valid token of an unknown user creates the user', async () => {
    expect((await app.server.get('/users/newcomer')).status).toBe(404);
    const res = await call(bearer(await app.token('newcomer')), 'newcomer');
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: 'newcomer', role: 'user', banned: false, deleted_at: null });
    expect((await app.server.get('/users/newcomer')).status).toBe(200);
  });

  it('concurrent first requests of one new user all succeed and create one row', async () => {
    const token = await app.token('crowd');
    const results = await Promise.all(Array.from({ length: 20 }, () => call(bearer(token), 'crowd')));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const rows = await server.database.db
      .selectFrom('users')
      .select('id')
      .where('app_id', '=', app.id)
      .where('id', '=', 'crowd')
      .execute();
    expect(rows).toHaveLength(1);
  });

  it('a token never creates or changes a user of another app', async () => {
    await call(bearer(await app.token('only-in-a')), 'only-in-a');
    expect((await other.server.get('/users/only-in-a')).status).toBe(404);
  });

  it('a soft-deleted user → 403 USER_DELETED, and the token does not bring the user back', async () => {
    await app.server.post('/users', { users: [{ id: 'gone' }] });
    const gone = await app.as('gone');
    expect((await gone.get('/users/gone')).status).toBe(200);
    expect((await app.server.delete('/users/gone')).status).toBe(200);
    await expectError(gone.get('/users/gone'), 403, 'USER_DELETED');
    await expectError(gone.get('/users/gone'), 403, 'USER_DELETED');
    const user = (await app.server.get('/users/gone')).body.user;
    expect(user.deleted_at).not.toBeNull();
  });
});

describe('revoking tokens', () => {
  it('tokens issued before the revocation → AUTH_TOKEN_REVOKED; tokens issued after work', async () => {
    await app.server.post('/users', { users: [{ id: 'rev1' }] });
    const old = await app.token('rev1', { iat: now() - 60 });
    expect((await call(bearer(old), 'rev1')).status).toBe(200);

    const res = await app.server.post('/users/rev1/revoke-tokens', {});
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.user.tokens_revoked_at)).toBeGreaterThan(Date.now() - 60_000);

    await expectError(call(bearer(old), 'rev1'), 401, 'AUTH_TOKEN_REVOKED');
    // A backend that revokes and re-issues at once gets a working token (iat has whole seconds).
    expect((await call(bearer(await app.token('rev1')), 'rev1')).status).toBe(200);
    expect((await call(bearer(await app.token('rev1', { iat: now() + 5 })), 'rev1')).status).toBe(200);
    // A token without iat cannot prove it is newer.
    const noIat = await new SignJWT({ user_id: 'rev1' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(key(app.secret));
    await expectError(call(bearer(noIat), 'rev1'), 401, 'AUTH_TOKEN_REVOKED');
  });

  it('`before` sets the cut-off: older tokens are revoked, newer ones keep working', async () => {
    await app.server.post('/users', { users: [{ id: 'rev2' }] });
    const cutoff = new Date((now() - 100) * 1000);
    const res = await app.server.post('/users/rev2/revoke-tokens', { before: cutoff.toISOString() });
    expect(res.status).toBe(200);
    expect(res.body.user.tokens_revoked_at).toBe(cutoff.toISOString());
    await expectError(
      call(bearer(await app.token('rev2', { iat: now() - 200 })), 'rev2'),
      401,
      'AUTH_TOKEN_REVOKED',
    );
    expect((await call(bearer(await app.token('rev2', { iat: now() - 50 })), 'rev2')).status).toBe(200);
  });

  it('revocation touches only that user, records an event, and answers 404 for an unknown user', async () => {
    await app.server.post('/users', { users: [{ id: 'rev3' }, { id: 'rev4' }] });
    const events: unknown[] = [];
    const unsubscribe = server.parley.bus.subscribe((e) => {
      if (e.type === 'user.tokens_revoked') events.push(e);
    });
    const res = await app.server.post('/users/rev3/revoke-tokens', {});
    unsubscribe();
    expect(events).toEqual([
      expect.objectContaining({
        app_id: app.id,
        user_id: 'rev3',
        before: res.body.user.tokens_revoked_at,
      }),
    ]);
    const old = { iat: now() - 60 };
    await expectError(call(bearer(await app.token('rev3', old)), 'rev3'), 401, 'AUTH_TOKEN_REVOKED');
    expect((await call(bearer(await app.token('rev4', old)), 'rev4')).status).toBe(200);
    await expectError(app.server.post('/users/nobody/revoke-tokens', {}), 404, 'USER_NOT_FOUND');
    const bad = await app.server.post('/users/rev3/revoke-tokens', { before: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(bad.body.details.field).toBe('body.before');
  });
});

describe('development tokens', () => {
  const devToken = (apiKey: string | undefined, userId: unknown) =>
    apiClient(server.parley, apiKey ? { 'x-api-key': apiKey } : {}).post('/auth/dev-token', {
      user_id: userId,
    });

  it('are refused with 403 DEV_TOKENS_DISABLED unless the app has settings.dev_tokens', async () => {
    const fresh = await server.createApp();
    await expectError(devToken(fresh.apiKey, 'dev'), 403, 'DEV_TOKENS_DISABLED');
    expect((await fresh.server.get('/users/dev')).status).toBe(404);
  });

  it('when enabled, give a token that authenticates as that user', async () => {
    const dev = await server.createApp();
    await admin.patch(`/admin/apps/${dev.id}`, { settings: { dev_tokens: true } });
    const res = await devToken(dev.apiKey, 'devuser');
    expect(res.status).toBe(200);
    expect(res.body.user_id).toBe('devuser');
    const me = await apiClient(server.parley, {
      'x-api-key': dev.apiKey,
      authorization: `Bearer ${res.body.token}`,
    }).get('/users/devuser');
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe('devuser');
    // The token is bound to the app's secret: another app refuses it.
    await expectError(
      call({ 'x-api-key': app.apiKey, authorization: `Bearer ${res.body.token}` }, 'devuser'),
      401,
      'AUTH_TOKEN_INVALID',
    );

    // Turning the setting off stops new dev tokens at once.
    await admin.patch(`/admin/apps/${dev.id}`, { settings: { dev_tokens: false } });
    await expectError(devToken(dev.apiKey, 'devuser'), 403, 'DEV_TOKENS_DISABLED');
  });

  it('need a known api key and a valid user id', async () => {
    await expectError(devToken(undefined, 'x'), 401, 'AUTH_MISSING');
    await expectError(devToken('pk_nope', 'x'), 401, 'AUTH_API_KEY_INVALID');
    const dev = await server.createApp();
    await admin.patch(`/admin/apps/${dev.id}`, { settings: { dev_tokens: true } });
    for (const userId of ['a b', '', 42]) {
      const res = await devToken(dev.apiKey, userId);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    }
  });
});
