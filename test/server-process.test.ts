import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI_ENTRY,
  freshPostgresDatabase,
  runToExit,
  SERVER_ENTRY,
  type ServerProcess,
  startServerProcess,
} from './support/processes.js';

/**
 * The built server (`node apps/server/dist/main.js`, built by `npm test`) and CLI as child
 * processes, over real HTTP: start-up and demo seed, data surviving a restart, graceful
 * shutdown, the data dir lock, config errors, /metrics, /docs, and CLI-made credentials.
 * On PGlite in a temp data dir, or on a fresh PostgreSQL database when DATABASE_URL is set.
 */
const DATABASE_URL = process.env.DATABASE_URL;
const ADMIN_TOKEN = 'server-process-admin-token-0123';
const LONG = 180_000;

if (!existsSync(SERVER_ENTRY) || !existsSync(CLI_ENTRY)) {
  throw new Error(`${SERVER_ENTRY} is missing: build first (npm run build; npm test does it)`);
}

const tempDirs: string[] = [];
const databases: { drop: () => Promise<void> }[] = [];
const running: ServerProcess[] = [];

async function tempDir(label: string) {
  const dir = await mkdtemp(path.join(tmpdir(), `parley-${label}-`));
  tempDirs.push(dir);
  return dir;
}

/** Where a process keeps its data: a temp PGlite dir, or a fresh PostgreSQL database. */
async function storage(label: string): Promise<Record<string, string>> {
  const env: Record<string, string> = { PARLEY_DATA_DIR: path.join(await tempDir(label), 'data') };
  if (DATABASE_URL) {
    const db = await freshPostgresDatabase(DATABASE_URL);
    databases.push(db);
    env.DATABASE_URL = db.url;
  }
  return env;
}

async function start(env: Record<string, string>) {
  const proc = await startServerProcess({ PARLEY_ADMIN_TOKEN: ADMIN_TOKEN, ...env }, 120_000);
  running.push(proc);
  return proc;
}

function bannerValue(output: string, label: string): string | undefined {
  return new RegExp(`${label}:\\s+(\\S+)`).exec(output)?.[1];
}

async function call(
  url: string,
  headers: Record<string, string>,
  init: { method?: string; body?: unknown } = {},
) {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...headers, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, text, headers: res.headers };
}

afterAll(async () => {
  for (const proc of running) await proc.stop('SIGKILL');
  for (const db of databases) await db.drop();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe('the built server and CLI as child processes', () => {
  let env: Record<string, string>;
  let apiKey: string;
  let sentId: string;

  beforeAll(async () => {
    env = await storage('server');
  });

  it(
    'starts, seeds the demo, prints a working api key and token, and stops gracefully',
    async () => {
      const proc = await start(env);
      const out = proc.output();
      expect(out).toContain(`database: ${DATABASE_URL ? 'postgres' : 'pglite'}`);
      apiKey = bannerValue(out, 'Demo app api key')!;
      const token = bannerValue(out, 'Token for alice')!;
      expect(apiKey).toMatch(/^pk_/);
      expect(token.split('.')).toHaveLength(3);
      expect(out).toContain('Demo app secret'); // shown on the first start only

      const ready = await call(`${proc.url}/health/ready`, {});
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({
        status: 'ok',
        checks: { database_reachable: true, migrations_current: true },
      });

      // The README's curl, as fetch: read the seeded channel, then send a message.
      const auth = { 'x-api-key': apiKey, authorization: `Bearer ${token}` };
      const general = `${proc.url}/channels/messaging/general/messages`;
      const seeded = await call(general, auth);
      expect(seeded.status).toBe(200);
      expect(seeded.body.messages).toHaveLength(3);
      const sent = await call(general, auth, { method: 'POST', body: { text: 'hello from the e2e test' } });
      expect(sent.status, sent.text).toBe(201);
      expect(sent.body.message.user_id).toBe('alice');
      sentId = sent.body.message.id;

      const metrics = await call(`${proc.url}/metrics`, {});
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(metrics.text).toContain('parley_http_request_duration_seconds_bucket');
      expect(metrics.text).toMatch(
        /parley_http_request_duration_seconds_count\{[^}]*route="\/channels\/:type\/:id\/messages"/,
      );
      expect(metrics.text).toMatch(/parley_events_total\{type="message.new"\} [1-9]/);

      const docs = await call(`${proc.url}/docs`, {});
      expect(docs.status).toBe(200);
      expect(docs.headers.get('content-type')).toContain('text/html');
      expect(docs.text.toLowerCase()).toContain('swagger-ui');
      const openapi = await call(`${proc.url}/docs/json`, {});
      expect(openapi.status).toBe(200);
      expect(openapi.body.openapi).toBe('3.1.0');
      expect(Object.keys(openapi.body.paths)).toContain('/channels/{type}/{id}/messages');

      const unknown = await call(`${proc.url}/nope`, {});
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe('NOT_FOUND');

      expect(await proc.stop('SIGTERM')).toBe(0);
      if (!DATABASE_URL) expect(existsSync(path.join(env.PARLEY_DATA_DIR!, 'parley.pid'))).toBe(false);
    },
    LONG,
  );

  it(
    'keeps data across a restart, does not seed the demo twice, and (PGlite) refuses a second process',
    async () => {
      expect(sentId).toBeDefined();
      const proc = await start(env);
      const out = proc.output();
      expect(bannerValue(out, 'Demo app api key')).toBe(apiKey);
      expect(out).not.toContain('Demo app secret');
      const token = bannerValue(out, 'Token for alice')!;
      const auth = { 'x-api-key': apiKey, authorization: `Bearer ${token}` };

      const messages = await call(`${proc.url}/channels/messaging/general/messages`, auth);
      expect(messages.status).toBe(200);
      expect(messages.body.messages).toHaveLength(4);
      expect(messages.body.messages.map((m: { id: string }) => m.id)).toContain(sentId);
      const one = await call(`${proc.url}/messages/${sentId}`, auth);
      expect(one.body.message.text).toBe('hello from the e2e test');

      const apps = await call(`${proc.url}/admin/apps`, { 'x-admin-token': ADMIN_TOKEN });
      expect(apps.status).toBe(200);
      expect(apps.body.apps.filter((a: { name: string }) => a.name === 'demo')).toHaveLength(1);
      const channels = await call(`${proc.url}/channels/query`, auth, { method: 'POST', body: {} });
      expect(channels.status).toBe(200);
      const cids = channels.body.channels.map((c: { channel: { cid: string } }) => c.channel.cid);
      expect(new Set(cids).size).toBe(cids.length);
      expect(cids.filter((cid: string) => cid === 'messaging:general')).toHaveLength(1);

      if (!DATABASE_URL) {
        // PGlite is one process per data dir: a second server on it is refused with a clear error.
        const second = await runToExit(SERVER_ENTRY, [], {
          PARLEY_DATA_DIR: env.PARLEY_DATA_DIR!,
          HOST: '127.0.0.1',
          PORT: '0',
        });
        expect(second.code).toBe(1);
        expect(second.stderr).toContain(`is in use by process ${proc.child.pid}`);
        expect(second.stderr).toContain('PARLEY_DATA_DIR');
        expect(second.stdout).not.toContain('Parley is running');
        // The first one is unharmed.
        expect((await call(`${proc.url}/health/ready`, {})).status).toBe(200);
      }

      expect(await proc.stop('SIGTERM')).toBe(0);
    },
    LONG,
  );

  it('exits with code 1 and names the variable on invalid configuration', async () => {
    const bad = await runToExit(SERVER_ENTRY, [], {
      PORT: 'abc',
      PARLEY_DATA_DIR: path.join(await tempDir('bad'), 'data'),
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Invalid configuration');
    expect(bad.stderr).toMatch(/PORT: .*"abc"/);
    expect(bad.stdout).not.toContain('Parley is running');

    const several = await runToExit(SERVER_ENTRY, [], {
      PORT: '99999',
      DATABASE_URL: 'mysql://nope',
      PARLEY_ADMIN_TOKEN: 'short',
    });
    expect(several.code).toBe(1);
    for (const name of ['PORT', 'DATABASE_URL', 'PARLEY_ADMIN_TOKEN'])
      expect(several.stderr).toContain(`${name}:`);
    expect(several.stderr).not.toContain('short'); // a secret's value is never printed
  });

  // The CLI runs on the same data dir (a fresh PGlite dir costs seconds of CPU to initialise).
  const cli = async (...args: string[]) => {
    const res = await runToExit(CLI_ENTRY, args, env);
    expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
    return JSON.parse(res.stdout);
  };

  it(
    'creates and lists apps, signs user tokens and rotates secrets that a server then accepts',
    async () => {
      const created = await cli('app', 'create', 'x');
      expect(created.name).toBe('x');
      expect(created.api_key).toMatch(/^pk_/);
      expect(created.api_secret).toMatch(/^sk_/);

      const listed: { name: string }[] = await cli('app', 'list');
      expect(listed.map((a) => a.name).sort()).toEqual(['demo', 'x']);
      expect(listed.find((a) => a.name === 'x')).toMatchObject({ api_key: created.api_key });
      expect(JSON.stringify(listed)).not.toContain(created.api_secret);

      const before = await cli('user', 'token', 'x', 'alice');
      expect(before.user_id).toBe('alice');
      const rotated = await cli('app', 'rotate-secret', 'x');
      expect(rotated.api_secret).toMatch(/^sk_/);
      expect(rotated.api_secret).not.toBe(created.api_secret);
      expect(rotated.app.api_key).toBe(created.api_key);
      const after = await cli('user', 'token', 'x', 'alice');

      const proc = await start(env);
      const url = `${proc.url}/channel-types`;
      const withToken = (token: string) =>
        call(url, { 'x-api-key': created.api_key, authorization: `Bearer ${token}` });
      const ok = await withToken(after.token);
      expect(ok.status, ok.text).toBe(200);
      expect(ok.body.channel_types.length).toBeGreaterThan(0);
      // The token signed before the rotation (no grace period) no longer works, nor the old secret.
      const stale = await withToken(before.token);
      expect(stale.status).toBe(401);
      expect(stale.body.code).toBe('AUTH_TOKEN_INVALID');
      const secret = (s: string) =>
        call(`${proc.url}/app`, { 'x-api-key': created.api_key, authorization: `Secret ${s}` });
      expect((await secret(rotated.api_secret)).status).toBe(200);
      expect((await secret(created.api_secret)).status).toBe(401);
      expect(await proc.stop('SIGTERM')).toBe(0);
    },
    LONG,
  );

  it(
    'prints usage for --help and fails on an unknown command',
    async () => {
      const help = await runToExit(CLI_ENTRY, ['--help'], env);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('app create <name>');
      const unknown = await runToExit(CLI_ENTRY, ['frobnicate', 'now'], env);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('Unknown command');
    },
    LONG,
  );
});
