import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../../../../../test/support/processes.js';
import { startWebhookCluster, type WebhookCluster } from '../../../../../test/support/webhook-cluster.js';
import { eventually } from '../../test-support/webhook-receiver.js';

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

let cluster: WebhookCluster;

beforeAll(async () => {
  cluster = await startWebhookCluster({
    env: ENV,
    adminToken: ADMIN_TOKEN,
    databaseUrl: DATABASE_URL,
    appName: 'kill-test',
    channelId: 'kill',
    dataDirPrefix: 'parley-kill-',
  });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('a worker killed in the middle of a webhook delivery', () => {
  it('retries the job and the receiver, dedupping by event id, processes the event exactly once', async () => {
    const hook = await cluster.call('POST', '/webhooks', {
      url: cluster.receiver.url('/kill'),
      events: ['message.new'],
    });
    expect(hook.status).toBe(201);
    cluster.receiver.secrets.set('/kill', hook.body.webhook.secret);
    // The first request is processed but never answered: the worker dies while it waits.
    cluster.receiver.behave.set('/kill', (n) => (n === 1 ? 'hold' : 'ok'));
    const victim = cluster.worker ? cluster.worker.child : cluster.api.child;
    const killed = new Promise<void>((resolve) => {
      cluster.receiver.onArrival = (arrival) => {
        if (arrival.path !== '/kill') return;
        cluster.receiver.onArrival = undefined;
        victim.kill('SIGKILL');
        resolve();
      };
    });

    const sent = await cluster.call('POST', '/channels/messaging/kill/messages', {
      text: 'survive this',
      user_id: 'alice',
    });
    expect(sent.status).toBe(201);
    await killed;
    if (cluster.worker) {
      expect(await cluster.worker.exited).toBeNull(); // killed by a signal
      cluster.worker = await cluster.startWorker();
    } else {
      expect(await cluster.api.stop('SIGKILL')).toBeNull();
      cluster.api = await startServerProcess({ ...ENV, PARLEY_DATA_DIR: cluster.dataDir! });
    }

    const [delivery] = await eventually(
      async () => {
        const res = await cluster.call('GET', `/webhooks/${hook.body.webhook.id}/deliveries`);
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
    const arrivals = cluster.receiver.arrivals.filter((a) => a.path === '/kill');
    expect(arrivals.length).toBeGreaterThanOrEqual(2);
    expect(arrivals.every((a) => a.error === undefined)).toBe(true);
    expect(new Set(arrivals.map((a) => a.event!.id))).toEqual(new Set([delivery!.event_id]));
    expect(cluster.receiver.processed('/kill')).toHaveLength(1);
    expect((cluster.receiver.processed('/kill')[0]!.event!.message as { id: string }).id).toBe(
      sent.body.message.id,
    );
    // The write itself survived the kill.
    expect((await cluster.call('GET', `/messages/${sent.body.message.id}?user_id=alice`)).status).toBe(200);

    // A worker stops gracefully on SIGTERM.
    if (cluster.worker) {
      cluster.worker.child.kill('SIGTERM');
      expect(await cluster.worker.exited).toBe(0);
    }
  }, 120_000);
});
