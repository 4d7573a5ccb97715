import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';
import { loadDocumentedSnippet } from '../../test-support/webhook-receiver.js';

/**
 * The before-message-send hook against a real local HTTP endpoint: approve, reject (reason shown
 * to the sender), rewrite, timeout and errors under both failure policies, the signature (HMAC
 * keyed with the app's api secret), and that a refused message is not stored or announced.
 */

type Answer = { status?: number; body?: unknown; delayMs?: number; raw?: string };
interface HookCall {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

let server: TestServer;
let app: TestApp;
let hook: Server;
let hookUrl: string;
let answer: (call: HookCall) => Answer = () => ({ body: { action: 'approve' } });
const calls: HookCall[] = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call = { headers: req.headers, body, json: JSON.parse(body) };
      calls.push(call);
      const a = answer(call);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
        res.end(a.raw ?? JSON.stringify(a.body ?? {}));
      };
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/before-send`;
  server = await createTestServer();
  app = await server.createApp();
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  const res = await app.server.post('/channels', {
    type: 'messaging',
    id: 'hooked',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(res.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await server?.close();
  hook?.closeAllConnections();
  await new Promise<void>((resolve) => hook?.close(() => resolve()));
});

async function configure(settings: Record<string, unknown> | null) {
  const res = await app.server.patch('/app', {
    settings: { before_send_hook: settings ? { url: hookUrl, ...settings } : null },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function send(text: string, extra: Record<string, unknown> = {}) {
  const alice = await app.as('alice');
  return alice.post('/channels/messaging/hooked/messages', { text, ...extra });
}

async function stored(): Promise<string[]> {
  const res = await app.server.get('/channels/messaging/hooked/messages?user_id=alice&limit=300');
  return (res.body.messages as { text: string }[]).map((m) => m.text);
}

describe('the before-message-send hook', () => {
  it('is not called when no hook is configured', async () => {
    await configure(null);
    const before = calls.length;
    expect((await send('no hook')).status).toBe(201);
    expect(calls.length).toBe(before);
  });

  it('sends the message, signed with the app secret; approve stores it as sent', async () => {
    await configure({ timeout_ms: 2000, failure_policy: 'fail_closed' });
    answer = () => ({ body: { action: 'approve' } });
    const res = await send('hello hook', { custom: { k: 1 }, client_msg_id: 'approve-1' });
    expect(res.status).toBe(201);
    expect(res.body.message.text).toBe('hello hook');
    const call = calls.at(-1)!;
    expect(call.json).toMatchObject({
      type: 'message.before_send',
      app_id: app.id,
      cid: 'messaging:hooked',
      user_id: 'alice',
      message: { text: 'hello hook', custom: { k: 1 }, attachments: [], client_msg_id: 'approve-1' },
    });
    // Verification as documented: HMAC-SHA256 keyed with the api secret over `timestamp.body`.
    const timestamp = call.headers['x-parley-timestamp'] as string;
    const expected = `v1=${createHmac('sha256', app.secret).update(`${timestamp}.${call.body}`).digest('hex')}`;
    const given = call.headers['x-parley-signature'] as string;
    expect(timingSafeEqual(Buffer.from(given), Buffer.from(expected))).toBe(true);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    // The documented verification snippet accepts it with the api secret, and refuses another key.
    const snippet = await loadDocumentedSnippet();
    expect(snippet.verifyParleyWebhook(app.secret, call.headers, call.body)).toMatchObject({
      type: 'message.before_send',
      cid: 'messaging:hooked',
    });
    expect(() => snippet.verifyParleyWebhook('sk_wrong', call.headers, call.body)).toThrow('bad signature');
    // A repeat of the same client_msg_id returns the stored message without asking the hook again.
    const before = calls.length;
    expect((await send('hello hook', { client_msg_id: 'approve-1' })).status).toBe(200);
    expect(calls.length).toBe(before);
  });

  it('reject: the sender gets MESSAGE_REJECTED with the reason; nothing is stored', async () => {
    await configure({ failure_policy: 'fail_open' });
    answer = () => ({ body: { action: 'reject', reason: 'No links to competitors, please.' } });
    const res = await send('visit rival.example');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('MESSAGE_REJECTED');
    expect(res.body.message).toBe('No links to competitors, please.');
    expect(res.body.details.reason).toBe('No links to competitors, please.');
    expect(await stored()).not.toContain('visit rival.example');
  });

  it('rewrite: text, custom and attachments are replaced; other fields stay', async () => {
    await configure({});
    answer = (call) => ({
      body: {
        action: 'rewrite',
        message: {
          text: call.json.message.text.replace(/darn/g, '****'),
          custom: { moderated: true },
          attachments: [{ type: 'link', url: 'https://example.com/policy', title: 'Policy' }],
        },
      },
    });
    const res = await send('darn it', { custom: { original: true } });
    expect(res.status).toBe(201);
    expect(res.body.message.text).toBe('**** it');
    expect(res.body.message.custom).toEqual({ moderated: true });
    expect(res.body.message.attachments).toEqual([
      { type: 'link', url: 'https://example.com/policy', title: 'Policy' },
    ]);
    expect(res.body.message.user_id).toBe('alice');
    // Only text: the rest stays as sent.
    answer = () => ({ body: { action: 'rewrite', message: { text: 'only text' } } });
    const partial = await send('x', { custom: { keep: 'me' } });
    expect(partial.body.message).toMatchObject({ text: 'only text', custom: { keep: 'me' } });
  });

  it('a rewrite still passes the send rules (an empty rewrite is refused)', async () => {
    await configure({});
    answer = () => ({ body: { action: 'rewrite', message: { text: '   ' } } });
    const res = await send('will be emptied');
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('MESSAGE_EMPTY');
  });

  it('timeout, fail_open: the message is sent unchanged', async () => {
    await configure({ timeout_ms: 200, failure_policy: 'fail_open' });
    answer = () => ({ delayMs: 1500, body: { action: 'reject', reason: 'too late' } });
    const res = await send('slow hook, open');
    expect(res.status).toBe(201);
    expect(res.body.message.text).toBe('slow hook, open');
  });

  it('timeout, fail_closed: BEFORE_SEND_HOOK_FAILED and nothing stored', async () => {
    await configure({ timeout_ms: 200, failure_policy: 'fail_closed' });
    answer = () => ({ delayMs: 1500, body: { action: 'approve' } });
    const res = await send('slow hook, closed');
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('BEFORE_SEND_HOOK_FAILED');
    expect(res.body.details.reason).toMatch(/no answer within 200 ms/);
    expect(await stored()).not.toContain('slow hook, closed');
  });

  it('errors follow the policy: HTTP 500, an invalid answer, a refused connection', async () => {
    await configure({ failure_policy: 'fail_closed' });
    answer = () => ({ status: 500, body: { oops: true } });
    expect((await send('err 500')).body.code).toBe('BEFORE_SEND_HOOK_FAILED');
    answer = () => ({ body: { action: 'maybe' } });
    expect((await send('bad answer')).body.code).toBe('BEFORE_SEND_HOOK_FAILED');
    answer = () => ({ raw: 'not json' });
    expect((await send('not json')).body.code).toBe('BEFORE_SEND_HOOK_FAILED');

    await configure({ failure_policy: 'fail_open' });
    answer = () => ({ status: 500 });
    expect((await send('err 500 open')).status).toBe(201);
    const closed = await app.server.patch('/app', {
      settings: {
        before_send_hook: { url: 'http://127.0.0.1:9/nothing-listens', failure_policy: 'fail_open' },
      },
    });
    expect(closed.status).toBe(200);
    expect((await send('refused open')).status).toBe(201);
  });

  it('is not asked about messages the sender may not send', async () => {
    await configure({});
    answer = () => ({ body: { action: 'approve' } });
    const before = calls.length;
    const mallory = await app.as('mallory');
    const res = await mallory.post('/channels/messaging/hooked/messages', { text: 'let me in' });
    expect(res.status).toBe(403);
    expect(calls.length).toBe(before);
  });
});

describe('configuring the hook (PATCH /app settings.before_send_hook)', () => {
  it('refuses bad settings, naming the field, and keeps the stored hook', async () => {
    await configure({ timeout_ms: 1500 });
    const cases: [unknown, string][] = [
      [{ url: 'ftp://example.com/x' }, 'body.settings.before_send_hook.url'],
      [{ url: hookUrl, timeout_ms: 50 }, 'body.settings.before_send_hook.timeout_ms'],
      [{ url: hookUrl, timeout_ms: 10_001 }, 'body.settings.before_send_hook.timeout_ms'],
      [{ url: hookUrl, failure_policy: 'maybe' }, 'body.settings.before_send_hook.failure_policy'],
      [{ url: hookUrl, secret: 'x' }, 'body.settings.before_send_hook.secret'],
      [{ timeout_ms: 1000 }, 'body.settings.before_send_hook.url'],
    ];
    for (const [hookSettings, field] of cases) {
      const res = await app.server.patch('/app', { settings: { before_send_hook: hookSettings } });
      expect(res.status, JSON.stringify(hookSettings)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details.field, JSON.stringify(hookSettings)).toBe(field);
    }
    const stored = (await app.server.get('/app')).body.app.settings.before_send_hook;
    expect(stored).toEqual({ url: hookUrl, timeout_ms: 1500, failure_policy: 'fail_open' });
    const user = await app.as('alice');
    expect((await user.patch('/app', { settings: { before_send_hook: null } })).body.code).toBe(
      'AUTH_SERVER_ONLY',
    );
  });
});

describe('the before-send hook and the SSRF guard', () => {
  it('refuses a private hook address when private targets are not allowed (policy decides)', async () => {
    const strict = await createTestServer({ OUTBOUND_ALLOW_PRIVATE: 'false' });
    try {
      const a = await strict.createApp();
      await a.server.post('/users', { users: [{ id: 'alice' }] });
      await a.server.post('/channels', {
        type: 'messaging',
        id: 'c',
        members: ['alice'],
        created_by: 'alice',
      });
      const before = calls.length;
      await a.server.patch('/app', {
        settings: { before_send_hook: { url: hookUrl, failure_policy: 'fail_closed' } },
      });
      const res = await a.server.post('/channels/messaging/c/messages', { text: 'hi', user_id: 'alice' });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('BEFORE_SEND_HOOK_FAILED');
      expect(res.body.details.reason).toMatch(/blocked/);
      expect(calls.length).toBe(before); // never reached
    } finally {
      await strict.close();
    }
  });
});
