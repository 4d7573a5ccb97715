import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import {
  loadDocumentedSnippet,
  type Receiver,
  startReceiver,
} from '../../apps/server/src/test-support/webhook-receiver.js';
import {
  freshPostgresDatabase,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
  type WorkerProcess,
} from './processes.js';

/**
 * Test support for webhook tests against built processes: a receiver running the documented
 * snippet, plus
 * - PostgreSQL (`databaseUrl` given): an API process with JOBS_WORKERS=false and a separate
 *   `parley worker` process on a fresh database;
 * - PGlite: one server process (it runs the workers) on a fresh data dir.
 * An app with users alice and bob and a messaging channel `channelId` of both is created.
 * `api` and `worker` are replaced by the test when it restarts a killed process.
 */
export interface WebhookCluster {
  receiver: Receiver;
  api: ServerProcess;
  worker: WorkerProcess | undefined;
  dataDir: string | undefined;
  database: { url: string; drop: () => Promise<void> } | undefined;
  app: { api_key: string; api_secret: string };
  /** Calls the current `api` with the app's credentials (or the admin token when `admin`). */
  call(method: string, url: string, body?: unknown, admin?: boolean): Promise<{ status: number; body: any }>;
  /** Starts a worker process on the cluster's database (PostgreSQL mode). */
  startWorker(): Promise<WorkerProcess>;
  /** Kills what still runs and removes the database or data dir. */
  close(): Promise<void>;
}

export interface WebhookClusterOptions {
  env: Record<string, string>;
  adminToken: string;
  databaseUrl: string | undefined;
  appName: string;
  channelId: string;
  dataDirPrefix: string;
}

export async function startWebhookCluster(options: WebhookClusterOptions): Promise<WebhookCluster> {
  const { env, adminToken } = options;
  const cluster = {
    worker: undefined,
    dataDir: undefined,
    database: undefined,
    async call(method: string, url: string, body?: unknown, admin = false) {
      const res = await fetch(`${cluster.api.url}${url}`, {
        method,
        headers: {
          ...(admin
            ? { 'x-admin-token': adminToken }
            : { 'x-api-key': cluster.app.api_key, authorization: `Secret ${cluster.app.api_secret}` }),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    startWorker: () => startWorkerProcess({ ...env, DATABASE_URL: cluster.database!.url }),
    async close() {
      const { worker, database, dataDir } = cluster;
      if (worker && worker.child.exitCode === null) {
        worker.child.kill('SIGKILL');
        await worker.exited;
      }
      await cluster.api?.stop('SIGKILL');
      await cluster.receiver?.close();
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  } as WebhookCluster;
  try {
    await setUp(cluster, options);
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

async function setUp(cluster: WebhookCluster, options: WebhookClusterOptions): Promise<void> {
  const { env, databaseUrl } = options;
  cluster.receiver = await startReceiver(await loadDocumentedSnippet());
  if (databaseUrl) {
    cluster.database = await freshPostgresDatabase(databaseUrl);
    cluster.api = await startServerProcess({
      ...env,
      DATABASE_URL: cluster.database.url,
      JOBS_WORKERS: 'false',
    });
    cluster.worker = await cluster.startWorker();
  } else {
    cluster.dataDir = mkdtempSync(path.join(tmpdir(), options.dataDirPrefix));
    cluster.api = await startServerProcess({ ...env, PARLEY_DATA_DIR: cluster.dataDir });
  }
  const created = await cluster.call('POST', '/admin/apps', { name: options.appName }, true);
  expect(created.status).toBe(201);
  cluster.app = created.body.app;
  expect((await cluster.call('POST', '/users', { users: [{ id: 'alice' }, { id: 'bob' }] })).status).toBe(
    200,
  );
  const channel = await cluster.call('POST', '/channels', {
    type: 'messaging',
    id: options.channelId,
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(channel.status).toBe(201);
}
