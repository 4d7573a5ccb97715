import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freshPostgresDatabase,
  type ServerProcess,
  startServerProcess,
} from '../../../../../test/support/processes.js';
import {
  eventually,
  loadDocumentedSnippet,
  type Receiver,
  startReceiver,
} from '../../test-support/webhook-receiver.js';

/**
 * A worker killed (SIGKILL) in the middle of a webhook delivery: the job is retried once it
 * expires, the event reaches the receiver again, and a receiver that dedups by event id (the
 * documented snippet) processes it exactly once.
 *
 * Built processes, not in-process stand-ins:
 * - PostgreSQL: an API process with JOBS_WORKERS=false and a separate `parley worker` process
 *   (the worker mode); the worker is killed and another one started.
 * - PGlite (one process per data dir): the server process runs the workers; it is killed and
 *   restarted on the same data dir.
 */
const DATABASE_URL = process.env.DATABASE_URL;
const CLI = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url));
const ADMIN_TOKEN = 'worker-kill-admin-token-123456';
const ENV = {
  PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
  PARLEY_SEED_DEMO: 'false',
  RATE_LIMITS_ENABLED: 'false',
  // The receiver listens on 127.0.0.1, which the SSRF guard refuses by default.
  OUTBOUND_ALLOW_PRIVATE: 'true',
  JOBS_POLL_INTERVAL_MS: '500',
  JOBS_MAINTENANCE_INTERVAL_SECONDS: '1',
  WEBHOOK_TIMEOUT_MS: '2000',
  WEBHOOK_RETRY_DELAY_SECONDS: '1',
  WEBHOOK_RETRY_LIMIT: '3',
};

interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

/** Starts `npm run parley -- worker` (the built CLI) and resolves once its workers run. */
async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${out}`)), 60_000);
    child.stdout!.on('data', () => {
      if (out.includes('Parley workers running')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`worker exited with ${code}:\n${out}`)));
  });
  return { child, exited, output: () => out };
}

let receiver: Receiver;
let api: ServerProcess;
let worker: WorkerProcess | undefined;
let dataDir: string | undefined;
let database: { url: string; drop: () => Promise<void> } | undefined;
let app: { api_key: string; api_secret: string };

async function call(method: string, url: string, body?: unknown, admin = false) {
  const res = await fetch(`${api.url}${url}`, {
    method,
    headers: {
      ...(admin
        ? { 'x-admin-token': ADMIN_TOKEN }
        : { 'x-api-key': app.api_key, authorization: `Secret ${app.api_secret}` }),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  receiver = await startReceiver(await loadDocumentedSnippet());
  if (DATABASE_URL) {
    database = await freshPostgresDatabase(DATABASE_URL);
    api = await startServerProcess({ ...ENV, DATABASE_URL: database.url, JOBS_WORKERS: 'false' });
    worker = await startWorker({ ...ENV, DATABASE_URL: database.url });
  } else {
    dataDir = mkdtempSync(path.join(tmpdir(), 'parley-kill-'));
    api = await startServerProcess({ ...ENV, PARLEY_DATA_DIR: dataDir });
  }
  const created = await call('POST', '/admin/apps', { name: 'kill-test' }, true);
  expect(created.status).toBe(201);
  app = created.body.app;
  expect((await call('POST', '/users', { users: [{ id: 'alice' }, { id: 'bob' }] })).status).toBe(200);
  const channel = await call('POST', '/channels', {
    type: 'messaging',
    id: 'kill',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(channel.status).toBe(201);
}, 120_000);

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill('SIGKILL');
    await worker.exited;
  }
  await api?.stop('SIGKILL');
  await receiver?.close();
  await database?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('a worker killed in the middle of a webhook delivery', () => {
  it('retries the job and the receiver, dedupping by event id, processes the event exactly once', async () => {
    const hook = await call('POST', '/webhooks', { url: receiver.url('/kill'), events: ['message.new'] });
    expect(hook.status).toBe(201);
    receiver.secrets.set('/kill', hook.body.webhook.secret);
    // The first request is processed but never answered: the worker dies while it waits.
    receiver.behave.set('/kill', (n) => (n === 1 ? 'hold' : 'ok'));
    const victim = worker ? worker.child : api.child;
    const killed = new Promise<void>((resolve) => {
      receiver.onArrival = (arrival) => {
        if (arrival.path !== '/kill') return;
        receiver.onArrival = undefined;
        victim.kill('SIGKILL');
        resolve();
      };
    });

    const sent = await call('POST', '/channels/messaging/kill/messages', {
      text: 'survive this',
      user_id: 'alice',
    });
    expect(sent.status).toBe(201);
    await killed;
    if (worker) {
      expect(await worker.exited).toBeNull(); // killed by a signal
      worker = await startWorker({ ...ENV, DATABASE_URL: database!.url });
    } else {
      expect(await api.stop('SIGKILL')).toBeNull();
      api = await startServerProcess({ ...ENV, PARLEY_DATA_DIR: dataDir! });
    }

    const [delivery] = await eventually(
      async () => {
        const res = await call('GET', `/webhooks/${hook.body.webhook.id}/deliveries`);
        expect(res.status).toBe(200);
        expect(res.body.deliveries).toHaveLength(1);
        expect(res.body.deliveries[0].status).toBe('succeeded');
        return res.body.deliveries as { event_id: string; attempts: number }[];
      },
      60_000,
      200,
    );
    // The cut-off attempt and its retry (one more if a slow machine makes an attempt time out).
    expect(delivery!.attempts).toBeGreaterThanOrEqual(2);
    const arrivals = receiver.arrivals.filter((a) => a.path === '/kill');
    expect(arrivals.length).toBeGreaterThanOrEqual(2);
    expect(arrivals.every((a) => a.error === undefined)).toBe(true);
    expect(new Set(arrivals.map((a) => a.event!.id))).toEqual(new Set([delivery!.event_id]));
    expect(receiver.processed('/kill')).toHaveLength(1);
    expect((receiver.processed('/kill')[0]!.event!.message as { id: string }).id).toBe(sent.body.message.id);
    // The write itself survived the kill.
    expect((await call('GET', `/messages/${sent.body.message.id}?user_id=alice`)).status).toBe(200);

    // A worker stops gracefully on SIGTERM.
    if (worker) {
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  }, 120_000);
});
