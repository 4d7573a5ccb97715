import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommandRequest, Message, ParleyEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';

/**
 * Slash commands against local stand-ins: a GIPHY-compatible search API (GIPHY's real contract:
 * GET /v1/gifs/search?api_key&q&limit&offset&rating → { data: [{ id, title, images: {
 * fixed_height: { url, width, height } } }] }) and a command handler that checks signatures.
 */

const GIPHY_KEY = 'test-giphy-key';
const TIMEOUT_MS = 1500;

let server: TestServer;
let app: TestApp;
let alice: ApiClient; // owner
let bob: ApiClient; // member
let mod: ApiClient; // channel moderator
let eve: ApiClient; // not a member
const seen: ParleyEvent[] = [];

// ---- the GIPHY stand-in ----
const giphyRequests: URL[] = [];
const GIFS: Record<string, { id: string; title: string }[]> = {
  cats: [
    { id: 'cat1', title: 'Cat one' },
    { id: 'cat2', title: 'Cat two' },
  ],
};
let giphy: Server;

function giphyHandler(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, 'http://giphy.local');
  giphyRequests.push(url);
  if (url.pathname !== '/v1/gifs/search' || req.method !== 'GET') {
    res.writeHead(404).end();
    return;
  }
  if (url.searchParams.get('api_key') !== GIPHY_KEY) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}');
    return;
  }
  const all = GIFS[url.searchParams.get('q') ?? ''] ?? [];
  const offset = Number(url.searchParams.get('offset') ?? 0);
  const limit = Number(url.searchParams.get('limit') ?? 25);
  const data = all.slice(offset, offset + limit).map((g) => ({
    type: 'gif',
    id: g.id,
    title: g.title,
    images: {
      fixed_height: { url: `https://media.giphy.test/${g.id}/200.gif`, width: '267', height: '200' },
      original: { url: `https://media.giphy.test/${g.id}/giphy.gif`, width: '480', height: '360' },
    },
  }));
  res.writeHead(200, { 'content-type': 'application/json' }).end(
    JSON.stringify({
      data,
      pagination: { total_count: all.length, count: data.length, offset },
      meta: { status: 200 },
    }),
  );
}

// ---- the command handler stand-in ----
interface Received {
  path: string;
  body: CommandRequest;
  raw: string;
  headers: IncomingMessage['headers'];
}
const received: Received[] = [];
let handler: Server;
let handlerUrl: string;
const secrets: Record<string, string> = {};

function commandHandler(req: IncomingMessage, res: ServerResponse) {
  let raw = '';
  req.on('data', (c) => {
    raw += c;
  });
  req.on('end', () => {
    const path = new URL(req.url!, 'http://h.local').pathname;
    const body = JSON.parse(raw) as CommandRequest;
    received.push({ path, body, raw, headers: req.headers });
    const json = (status: number, value: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    switch (path) {
      case '/echo':
        return json(200, { message: { text: `echo: ${body.args}`, custom: { by: 'handler' } } });
      case '/poll-ui':
        if (body.form_data?.choice === 'yes')
          return json(200, { message: { type: 'regular', text: `${body.user.id} chose yes` } });
        if (body.form_data?.choice === 'no') return json(200, { message: { type: 'cancel' } });
        return json(200, {
          message: {
            type: 'ephemeral',
            text: 'Really?',
            attachments: [
              {
                type: 'custom',
                actions: [
                  { name: 'choice', text: 'Yes', value: 'yes' },
                  { name: 'choice', text: 'No', value: 'no' },
                ],
              },
            ],
          },
        });
      case '/slow':
        setTimeout(() => json(200, { message: { text: 'too late' } }), TIMEOUT_MS * 4).unref();
        return;
      case '/broken':
        return json(500, { error: 'boom' });
      case '/garbage':
        return res.writeHead(200, { 'content-type': 'text/plain' }).end('not json');
      case '/wrong-shape':
        return json(200, { message: { type: 'shout', text: 1 } });
      default:
        return json(404, {});
    }
  });
}

async function listen(s: Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

let counter = 0;
async function channel(type = 'messaging') {
  const id = `c${++counter}`;
  const res = await app.server.post('/channels', { type, id, created_by: 'alice', members: ['bob'] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const path = `/channels/${type}/${id}`;
  expect((await app.server.post(`${path}/members`, { user_ids: ['mod'], role: 'moderator' })).status).toBe(
    200,
  );
  return { path, cid: `${type}:${id}` };
}

async function messagesIn(path: string): Promise<Message[]> {
  const res = await app.server.get(`${path}/messages`);
  expect(res.status).toBe(200);
  return res.body.messages;
}

async function defineCommand(name: string, path: string | null) {
  const res = await app.server.post('/commands', {
    name,
    description: `the ${name} command`,
    args: '[text]',
    set: 'custom_set',
    url: path === null ? null : `${handlerUrl}${path}`,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  secrets[name] = res.body.secret;
  return res.body;
}

beforeAll(async () => {
  giphy = createServer(giphyHandler);
  handler = createServer(commandHandler);
  const giphyUrl = await listen(giphy);
  handlerUrl = await listen(handler);
  server = await createTestServer({
    GIPHY_BASE_URL: giphyUrl,
    GIPHY_API_KEY: GIPHY_KEY,
    GIPHY_RATING: 'pg',
    COMMAND_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  app = await server.createApp();
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  await app.server.post('/users', {
    users: ['alice', 'bob', 'mod', 'eve'].map((id) => ({ id, name: id.toUpperCase() })),
  });
  [alice, bob, mod, eve] = (await Promise.all(['alice', 'bob', 'mod', 'eve'].map((u) => app.as(u)))) as [
    ApiClient,
    ApiClient,
    ApiClient,
    ApiClient,
  ];
  for (const [name, path] of [
    ['echo', '/echo'],
    ['confirm', '/poll-ui'],
    ['slow', '/slow'],
    ['broken', '/broken'],
    ['garbage', '/garbage'],
    ['shape', '/wrong-shape'],
    ['nourl', null],
  ] as const) {
    await defineCommand(name, path);
  }
  const enabled = [
    'giphy',
    'mute',
    'unmute',
    'ban',
    'unban',
    'echo',
    'confirm',
    'slow',
    'broken',
    'garbage',
    'shape',
    'nourl',
    'ghost',
  ];
  const type = await app.server.patch('/channel-types/messaging', { config: { commands: enabled } });
  expect(type.status, JSON.stringify(type.body)).toBe(200);
});
afterAll(async () => {
  await server?.close();
  giphy?.close();
  handler?.close();
});

describe('custom command definitions', () => {
  it('creates, reads, updates, rotates and deletes commands (server side only)', async () => {
    const created = await app.server.post('/commands', { name: 'weather', url: `${handlerUrl}/echo` });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^cmdsec_/);
    expect(created.body.command).toMatchObject({ name: 'weather', description: '', builtin: false });
    expect((await app.server.get('/commands/weather')).body.command.url).toBe(`${handlerUrl}/echo`);
    const list = (await app.server.get('/commands')).body.commands as { name: string; builtin: boolean }[];
    expect(list.filter((c) => c.builtin).map((c) => c.name)).toEqual([
      'giphy',
      'mute',
      'unmute',
      'ban',
      'unban',
    ]);
    expect(list.map((c) => c.name)).toContain('weather');
    const updated = await app.server.put('/commands/weather', {
      description: 'Forecast',
      rotate_secret: true,
    });
    expect(updated.status).toBe(200);
    expect(updated.body.command.description).toBe('Forecast');
    expect(updated.body.secret).toMatch(/^cmdsec_/);
    expect(updated.body.secret).not.toBe(created.body.secret);
    expect((await app.server.put('/commands/weather', { args: '[city]' })).body.secret).toBeUndefined();
    expect((await app.server.delete('/commands/weather')).status).toBe(200);
    expect((await app.server.get('/commands/weather')).body.code).toBe('COMMAND_NOT_FOUND');
    expect((await app.server.delete('/commands/weather')).status).toBe(404);
  });

  it('refuses bad definitions and user callers with stable codes', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ name: 'Echo' }, 400, 'VALIDATION_FAILED'],
      [{ name: 'has space' }, 400, 'VALIDATION_FAILED'],
      [{ name: 'x'.repeat(65) }, 400, 'VALIDATION_FAILED'],
      [{ name: 'ok', url: 'javascript:alert(1)' }, 400, 'VALIDATION_FAILED'],
      [{ name: 'ok', url: 'ftp://example.com' }, 400, 'VALIDATION_FAILED'],
      [{ name: 'ok', extra: 1 }, 400, 'VALIDATION_FAILED'],
      [{ name: 'ok', description: 'x'.repeat(501) }, 400, 'VALIDATION_FAILED'],
      [{ name: 'giphy' }, 409, 'COMMAND_EXISTS'],
      [{ name: 'echo' }, 409, 'COMMAND_EXISTS'],
    ];
    for (const [body, status, code] of cases) {
      const res = await app.server.post('/commands', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.code, JSON.stringify(body)).toBe(code);
    }
    expect((await alice.post('/commands', { name: 'mine' })).body.code).toBe('AUTH_SERVER_ONLY');
    expect((await alice.get('/commands')).status).toBe(403);
    expect((await app.server.put('/commands/giphy', { description: 'x' })).status).toBe(403);
    expect((await app.server.delete('/commands/ban')).status).toBe(403);
    expect((await app.server.put('/commands/none', { description: 'x' })).body.code).toBe(
      'COMMAND_NOT_FOUND',
    );
    expect((await app.server.get('/commands/BAD!')).status).toBe(400);
  });

  it('lists the commands a channel’s type enables; users do not see handler URLs', async () => {
    const ch = await channel();
    const res = await bob.get(`${ch.path}/commands`);
    expect(res.status).toBe(200);
    const names = res.body.commands.map((c: { name: string }) => c.name);
    // `ghost` is enabled but not defined: left out.
    expect(names).toEqual([
      'giphy',
      'mute',
      'unmute',
      'ban',
      'unban',
      'echo',
      'confirm',
      'slow',
      'broken',
      'garbage',
      'shape',
      'nourl',
    ]);
    const echo = res.body.commands.find((c: { name: string }) => c.name === 'echo');
    expect(echo).toMatchObject({
      description: 'the echo command',
      args: '[text]',
      set: 'custom_set',
      url: null,
    });
    const asServer = await app.server.get(`${ch.path}/commands`);
    expect(asServer.body.commands.find((c: { name: string }) => c.name === 'echo').url).toBe(
      `${handlerUrl}/echo`,
    );
    // commerce has no commands by default
    await app.server.post('/channels', {
      type: 'commerce',
      id: 'shop',
      created_by: 'alice',
      members: ['bob'],
    });
    expect((await bob.get('/channels/commerce/shop/commands')).body.commands).toEqual([]);
    expect((await eve.get(`${ch.path}/commands`)).status).toBe(403);
    expect((await bob.get('/channels/messaging/nope/commands')).status).toBe(404);
  });
});

describe('/giphy', () => {
  it('previews a gif to the sender only, shuffles, and sends it on request', async () => {
    const ch = await channel();
    const before = seen.length;
    giphyRequests.length = 0;
    const res = await bob.post(`${ch.path}/messages`, { text: '/giphy cats' });
    expect(res.status).toBe(200);
    const preview = res.body.message as Message;
    expect(preview).toMatchObject({
      type: 'ephemeral',
      seq: 0,
      user_id: 'bob',
      cid: ch.cid,
      text: '/giphy cats',
    });
    expect(preview.attachments[0]).toMatchObject({
      type: 'giphy',
      title: 'cats',
      url: 'https://media.giphy.test/cat1/200.gif',
      width: 267,
      height: 200,
    });
    expect(preview.attachments[0]!.actions!.map((a) => a.value)).toEqual(['send', 'shuffle', 'cancel']);
    // GIPHY's real search contract
    const q = giphyRequests[0]!;
    expect(q.pathname).toBe('/v1/gifs/search');
    expect(Object.fromEntries(q.searchParams)).toEqual({
      api_key: GIPHY_KEY,
      q: 'cats',
      limit: '1',
      offset: '0',
      rating: 'pg',
    });
    // nothing reached the channel
    expect(await messagesIn(ch.path)).toEqual([]);
    expect(seen.slice(before)).toEqual([]);

    const action = (client: ApiClient, value: string) =>
      client.post(`/messages/${preview.id}/action`, { form_data: { image_action: value } });
    // someone else's preview is unknown to them
    expect(
      (await alice.post(`/messages/${preview.id}/action`, { form_data: { image_action: 'send' } })).status,
    ).toBe(404);
    const shuffled = await action(bob, 'shuffle');
    expect(shuffled.status).toBe(200);
    expect(shuffled.body.message.id).toBe(preview.id);
    expect(shuffled.body.message.attachments[0].url).toBe('https://media.giphy.test/cat2/200.gif');
    const wrapped = await action(bob, 'shuffle');
    expect(wrapped.body.message.attachments[0].url).toBe('https://media.giphy.test/cat1/200.gif');
    expect((await action(bob, 'dance')).body.code).toBe('MESSAGE_ACTION_INVALID');

    const sent = await action(bob, 'send');
    expect(sent.status).toBe(201);
    expect(sent.body.message).toMatchObject({ type: 'regular', user_id: 'bob', seq: 1 });
    expect(sent.body.message.attachments).toEqual([
      {
        type: 'giphy',
        title: 'cats',
        url: 'https://media.giphy.test/cat1/200.gif',
        thumb_url: 'https://media.giphy.test/cat1/200.gif',
        width: 267,
        height: 200,
        custom: { giphy_id: 'cat1', giphy_title: 'Cat one' },
      },
    ]);
    expect(seen.slice(before).map((e) => e.type)).toEqual(['message.new']);
    expect((await messagesIn(ch.path)).map((m) => m.id)).toEqual([sent.body.message.id]);
    // the preview is gone once sent
    expect((await action(bob, 'send')).status).toBe(404);
  });

  it('cancels a preview, and answers clear codes for bad searches', async () => {
    const ch = await channel();
    const preview = (await bob.post(`${ch.path}/messages`, { text: '/giphy cats' })).body.message as Message;
    const cancelled = await bob.post(`/messages/${preview.id}/action`, {
      form_data: { image_action: 'cancel' },
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.message.deleted_at).not.toBeNull();
    expect(cancelled.body.message.attachments).toEqual([]);
    expect(await messagesIn(ch.path)).toEqual([]);
    const empty = await bob.post(`${ch.path}/messages`, { text: '/giphy' });
    expect(empty.status).toBe(400);
    expect(empty.body.code).toBe('COMMAND_ARGS_INVALID');
    const none = await bob.post(`${ch.path}/messages`, { text: '/giphy zzqx' });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('GIPHY_NO_RESULTS');
    // non-members cannot run commands in the channel
    expect((await eve.post(`${ch.path}/messages`, { text: '/giphy cats' })).status).toBe(403);
    // a real message id is not a preview
    const real = await bob.post(`${ch.path}/messages`, { text: 'hello' });
    expect(
      (await bob.post(`/messages/${real.body.message.id}/action`, { form_data: { image_action: 'send' } }))
        .status,
    ).toBe(404);
    expect((await bob.post(`/messages/${real.body.message.id}/action`, { form_data: 'x' })).status).toBe(400);
  });

  it('sends one message when Send is pressed twice at once', async () => {
    const ch = await channel();
    const preview = (await bob.post(`${ch.path}/messages`, { text: '/giphy cats' })).body.message as Message;
    const presses = await Promise.all(
      [1, 2].map(() => bob.post(`/messages/${preview.id}/action`, { form_data: { image_action: 'send' } })),
    );
    expect(presses.map((r) => r.status).sort()).toContain(201);
    expect(presses.every((r) => [200, 201, 404].includes(r.status))).toBe(true);
    expect(await messagesIn(ch.path)).toHaveLength(1);
  });

  it('answers GIPHY_NOT_CONFIGURED without an api key', async () => {
    const other = await createTestServer({ GIPHY_BASE_URL: 'http://127.0.0.1:9' });
    try {
      const a = await other.createApp();
      await a.server.post('/users', { users: [{ id: 'u' }] });
      await a.server.post('/channels', { type: 'messaging', id: 'g', created_by: 'u' });
      const res = await (await a.as('u')).post('/channels/messaging/g/messages', { text: '/giphy cats' });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('GIPHY_NOT_CONFIGURED');
    } finally {
      await other.close();
    }
  });
});

describe('texts that look like commands', () => {
  it('sends unknown or disabled commands as plain text (as Stream does)', async () => {
    const ch = await channel();
    const unknown = await bob.post(`${ch.path}/messages`, { text: '/shrug whatever' });
    expect(unknown.status).toBe(201);
    expect(unknown.body.message.text).toBe('/shrug whatever');
    const path = await bob.post(`${ch.path}/messages`, { text: '/usr/bin/env' });
    expect(path.status).toBe(201);
    await app.server.post('/channels', {
      type: 'commerce',
      id: 'shop2',
      created_by: 'alice',
      members: ['bob'],
    });
    const disabled = await bob.post('/channels/commerce/shop2/messages', { text: '/giphy cats' });
    expect(disabled.status).toBe(201);
    expect(disabled.body.message.text).toBe('/giphy cats');
  });

  it('answers COMMAND_NOT_FOUND for a command the type enables but nobody defined', async () => {
    const ch = await channel();
    const res = await bob.post(`${ch.path}/messages`, { text: '/ghost boo' });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('COMMAND_NOT_FOUND');
  });
});

describe('custom commands', () => {
  it('POSTs a signed request and sends the handler’s message', async () => {
    const ch = await channel();
    received.length = 0;
    const res = await bob.post(`${ch.path}/messages`, { text: '/echo hello   world', client_msg_id: 'e1' });
    expect(res.status).toBe(201);
    expect(res.body.message).toMatchObject({
      text: 'echo: hello   world',
      user_id: 'bob',
      custom: { by: 'handler' },
    });
    const [call] = received;
    expect(call!.body).toEqual({
      type: 'command',
      command: 'echo',
      args: 'hello   world',
      cid: ch.cid,
      user: { id: 'bob', name: 'BOB' },
      message: { text: '/echo hello   world', parent_id: null },
      form_data: null,
      preview_id: null,
    });
    const ts = call!.headers['x-parley-timestamp'] as string;
    const expected = `v1=${createHmac('sha256', secrets.echo!).update(`${ts}.${call!.raw}`).digest('hex')}`;
    expect(call!.headers['x-parley-signature']).toBe(expected);
    expect(call!.headers['x-parley-command']).toBe('echo');
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('shows an ephemeral answer with buttons, and sends or cancels on a button press', async () => {
    const ch = await channel();
    received.length = 0;
    const first = await bob.post(`${ch.path}/messages`, { text: '/confirm launch' });
    expect(first.status).toBe(200);
    expect(first.body.message).toMatchObject({ type: 'ephemeral', text: 'Really?' });
    expect(first.body.message.attachments[0].actions).toHaveLength(2);
    expect(await messagesIn(ch.path)).toEqual([]);
    const yes = await bob.post(`/messages/${first.body.message.id}/action`, { form_data: { choice: 'yes' } });
    expect(yes.status).toBe(201);
    expect(yes.body.message).toMatchObject({ type: 'regular', text: 'bob chose yes' });
    expect(received[1]!.body).toMatchObject({
      form_data: { choice: 'yes' },
      preview_id: first.body.message.id,
      args: 'launch',
    });

    const again = await bob.post(`${ch.path}/messages`, { text: '/confirm launch' });
    const no = await bob.post(`/messages/${again.body.message.id}/action`, { form_data: { choice: 'no' } });
    expect(no.status).toBe(200);
    expect(no.body.message.deleted_at).not.toBeNull();
    expect(
      (await bob.post(`/messages/${again.body.message.id}/action`, { form_data: { choice: 'yes' } })).status,
    ).toBe(404);
    expect((await messagesIn(ch.path)).map((m) => m.text)).toEqual(['bob chose yes']);
  });

  it('answers a clear error and sends nothing when the handler times out, fails or answers garbage', async () => {
    const ch = await channel();
    const before = seen.length;
    const slow = await bob.post(`${ch.path}/messages`, { text: '/slow please' });
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({
      code: 'COMMAND_WEBHOOK_TIMEOUT',
      details: { command: 'slow', timeout_ms: TIMEOUT_MS },
    });
    const broken = await bob.post(`${ch.path}/messages`, { text: '/broken' });
    expect(broken.status).toBe(502);
    expect(broken.body).toMatchObject({
      code: 'COMMAND_WEBHOOK_FAILED',
      details: { command: 'broken', status: 500 },
    });
    const garbage = await bob.post(`${ch.path}/messages`, { text: '/garbage' });
    expect(garbage.status).toBe(502);
    expect(garbage.body.details.reason).toBe('the answer is not JSON');
    const shape = await bob.post(`${ch.path}/messages`, { text: '/shape' });
    expect(shape.status).toBe(502);
    expect(shape.body.details.issues.length).toBeGreaterThan(0);
    const nourl = await bob.post(`${ch.path}/messages`, { text: '/nourl x' });
    expect(nourl.status).toBe(400);
    expect(nourl.body.code).toBe('COMMAND_NOT_CONFIGURED');
    expect(await messagesIn(ch.path)).toEqual([]);
    expect(seen.slice(before)).toEqual([]);
  });

  it('falls back to the app’s commands_url when a command has no url of its own', async () => {
    const ch = await channel();
    const set = await app.server.patch('/app', { settings: { commands_url: `${handlerUrl}/echo` } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    try {
      received.length = 0;
      const res = await bob.post(`${ch.path}/messages`, { text: '/nourl via app' });
      expect(res.status).toBe(201);
      expect(res.body.message.text).toBe('echo: via app');
      expect(received[0]!.path).toBe('/echo');
      expect(received[0]!.body.command).toBe('nourl');
    } finally {
      await app.server.patch('/app', { settings: { commands_url: null } });
    }
  });
});

describe('moderation commands', () => {
  it('/mute and /unmute mute a user for the sender', async () => {
    const ch = await channel();
    const res = await bob.post(`${ch.path}/messages`, { text: '/mute @alice' });
    expect(res.status).toBe(200);
    expect(res.body.message).toMatchObject({ type: 'ephemeral', text: 'You muted @alice.' });
    const mutes = () =>
      server.database.db
        .selectFrom('user_mutes')
        .select(['user_id', 'target_id'])
        .where('app_id', '=', app.id)
        .execute();
    expect(await mutes()).toEqual([{ user_id: 'bob', target_id: 'alice' }]);
    expect((await bob.post(`${ch.path}/messages`, { text: '/unmute alice' })).status).toBe(200);
    expect(await mutes()).toEqual([]);
    expect((await bob.post(`${ch.path}/messages`, { text: '/mute' })).body.code).toBe('COMMAND_ARGS_INVALID');
    expect((await bob.post(`${ch.path}/messages`, { text: '/mute @nobody' })).body.code).toBe(
      'USER_NOT_FOUND',
    );
    expect(await messagesIn(ch.path)).toEqual([]);
  });

  it('/ban and /unban work for moderators, not for members', async () => {
    const ch = await channel();
    const byMember = await bob.post(`${ch.path}/messages`, { text: '/ban @mod spam' });
    expect(byMember.status).toBe(403);
    expect(byMember.body.code).toBe('FORBIDDEN');
    const byMod = await mod.post(`${ch.path}/messages`, { text: '/ban @bob spamming links' });
    expect(byMod.status, JSON.stringify(byMod.body)).toBe(200);
    expect(byMod.body.message.text).toBe('@bob was banned from this channel.');
    const blocked = await bob.post(`${ch.path}/messages`, { text: 'let me in' });
    expect(blocked.status).toBe(403);
    expect(blocked.body.code).toBe('USER_BANNED');
    const unban = await mod.post(`${ch.path}/messages`, { text: '/unban bob' });
    expect(unban.status, JSON.stringify(unban.body)).toBe(200);
    expect((await bob.post(`${ch.path}/messages`, { text: 'back' })).status).toBe(201);
  });
});
