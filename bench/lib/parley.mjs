/**
 * Parley under test: the BUILT server (apps/server/dist/main.js) as child processes, its storage
 * (a temp PGlite data dir, or a fresh PostgreSQL database created and dropped here), and the
 * bench data made through the public REST API: one app, users u0..uN, channels
 * messaging:c{i} of `members` users each, and livestream:fan.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpJson } from '../load/clients.mjs';
import { startChild } from './proc.mjs';
import { mapLimit, sleep } from './stats.mjs';

export const SERVER_ENTRY = fileURLToPath(new URL('../../apps/server/dist/main.js', import.meta.url));
const ADMIN_TOKEN = `bench-admin-${randomBytes(12).toString('hex')}`;

/** A fresh database on the PostgreSQL server of `baseUrl`, dropped by `drop()`. */
export async function freshPostgresDatabase(baseUrl) {
  const { default: pg } = await import('pg');
  const name = `parley_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Deletes the realtime keys of a Redis prefix (bounded SCAN). */
async function dropRedisPrefix(redisUrl, prefix) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts `nodes` Parley processes on one storage: PGlite (one process only) or a fresh PostgreSQL
 * database; with `redisUrl`, the processes share a realtime broker on Redis.
 */
export async function startParley({ db, databaseUrl, redisUrl, nodes = 1, cpuProfDir, startTimeoutMs }) {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${SERVER_ENTRY} is missing: run npx tsc -b apps/server`);
  const cleanups = [];
  const env = {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    PARLEY_SEED_DEMO: 'false',
    RATE_LIMITS_ENABLED: 'false',
    PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
  };
  const dir = await mkdtemp(path.join(tmpdir(), 'parley-bench-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  env.PARLEY_DATA_DIR = path.join(dir, 'data');
  if (db === 'postgres') {
    if (!databaseUrl) throw new Error('DATABASE_URL is needed for the PostgreSQL target');
    const fresh = await freshPostgresDatabase(databaseUrl);
    cleanups.push(() => fresh.drop());
    env.DATABASE_URL = fresh.url;
  } else if (nodes > 1) {
    throw new Error('several Parley processes need PostgreSQL');
  }
  if (redisUrl) {
    const prefix = `parley-bench-${randomBytes(4).toString('hex')}`;
    env.REDIS_URL = redisUrl;
    env.REALTIME_REDIS_PREFIX = prefix;
    cleanups.push(() => dropRedisPrefix(redisUrl, prefix));
  }
  const processes = [];
  const stopAll = async () => {
    for (const p of processes) await p.stop().catch(() => {});
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    for (let i = 0; i < nodes; i++) {
      const nodeArgs = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
      // Migrations run on the first process; start the others after it so they do not race.
      processes.push(
        await startChild({
          label: `parley-${i}`,
          args: [SERVER_ENTRY],
          nodeArgs,
          env,
          ready: /Parley is running at (http:\/\/\S+)/,
          timeoutMs: startTimeoutMs,
        }),
      );
    }
    for (const p of processes) await waitReady(p.url, startTimeoutMs);
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    urls: processes.map((p) => p.url),
    pids: processes.map((p) => p.pid),
    processes,
    stop: stopAll,
  };
}

async function waitReady(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await httpJson(`${url}/health/ready`).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} never became ready`);
    await sleep(200);
  }
}

/** Creates the bench app and its data over REST; returns what clients need. */
export async function setupParleyData(url, { users, channels, members }) {
  const created = await httpJson(`${url}/admin/apps`, {
    method: 'POST',
    headers: { 'x-admin-token': ADMIN_TOKEN },
    body: { name: `bench-${randomBytes(4).toString('hex')}` },
  });
  if (created.status !== 201)
    throw new Error(`create app: ${created.status} ${JSON.stringify(created.body)}`);
  const { api_key: apiKey, api_secret: secret } = created.body.app;
  const server = { 'x-api-key': apiKey, authorization: `Secret ${secret}` };
  const expect = (res, what, ok = [200, 201]) => {
    if (!ok.includes(res.status)) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const batches = [];
  for (let i = 0; i < users; i += 100) {
    batches.push(Array.from({ length: Math.min(100, users - i) }, (_, j) => ({ id: `u${i + j}` })));
  }
  await mapLimit(batches, 4, async (batch) =>
    expect(
      await httpJson(`${url}/users`, { method: 'POST', headers: server, body: { users: batch } }),
      'users',
    ),
  );
  const ids = Array.from({ length: channels }, (_, c) => c);
  await mapLimit(ids, 8, async (c) => {
    const memberIds = Array.from({ length: members }, (_, m) => `u${c * members + m}`);
    const res = await httpJson(`${url}/channels`, {
      method: 'POST',
      headers: server,
      body: { type: 'messaging', id: `c${c}`, members: memberIds, created_by: memberIds[0] },
    });
    expect(res, `channel c${c}`);
  });
  expect(
    await httpJson(`${url}/channels`, {
      method: 'POST',
      headers: server,
      body: { type: 'livestream', id: 'fan', members: ['u0'], created_by: 'u0' },
    }),
    'livestream channel',
  );
  return { apiKey, secret };
}

/** Local realtime connections of a Parley process (from /metrics), or undefined. */
export async function realtimeConnections(url) {
  const res = await httpJson(`${url}/metrics`).catch(() => undefined);
  if (res?.status !== 200 || typeof res.body !== 'string') return undefined;
  const match = /^parley_realtime_connections(?:\{[^}]*\})?\s+(\d+)/m.exec(res.body);
  return match ? Number(match[1]) : undefined;
}
