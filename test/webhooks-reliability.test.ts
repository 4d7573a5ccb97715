import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../apps/server/src/test-support/webhook-receiver.js';
import { type ServerProcess, startServerProcess } from './support/processes.js';
import { startWebhookCluster, type WebhookCluster } from './support/webhook-cluster.js';

/**
 * Reliability of webhooks under worker crashes: 1,000 messages are sent while the process that
 * runs the webhook workers is killed (SIGKILL) 5 times. Every message.new event must reach the
 * receiver at least once (none lost), and the receiver, dedupping by event id with the snippet of
 * docs/webhooks.md, processes each exactly once.
 *
 * - PostgreSQL (DATABASE_URL set): an API process with JOBS_WORKERS=false keeps taking messages;
 *   a separate `parley worker` process is killed and restarted.
 * - PGlite (one process per data dir): the server process runs the workers, so the whole process is
 *   killed and restarted on the same data dir; senders retry with the same client_msg_id (the send
 *   is idempotent), so a send whose answer was lost is neither lost nor doubled.
 *
 * Bounded: short job expiry (a killed job is retried after ~5 s), 1 s maintenance, 8 senders.
 */
const DATABASE_URL = process.env.DATABASE_URL;
const ADMIN_TOKEN = 'reliability-admin-token-123456';
const MESSAGES = 1000;
const KILLS = 5;
const SENDERS = 8;
const ENV = {
  PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
  PARLEY_SEED_DEMO: 'false',
  RATE_LIMITS_ENABLED: 'false',
  OUTBOUND_ALLOW_PRIVATE: 'true',
  JOBS_POLL_INTERVAL_MS: '500',
  JOBS_CONCURRENCY: '4',
  JOBS_MAINTENANCE_INTERVAL_SECONDS: '1',
  // Generous: on PGlite a slow query blocks the server's event loop, and a busy CI machine slows
  // the in-process receiver; a timed-out attempt is only retried (never lost), but costs backoff.
  WEBHOOK_TIMEOUT_MS: '5000',
  WEBHOOK_RETRY_DELAY_SECONDS: '1',
  WEBHOOK_RETRY_LIMIT: '12',
};

let cluster: WebhookCluster;
/** PGlite mode: the server is down between a kill and its restart; senders wait for this. */
let serverUp: Promise<void> = Promise.resolve();

beforeAll(async () => {
  cluster = await startWebhookCluster({
    env: ENV,
    adminToken: ADMIN_TOKEN,
    databaseUrl: DATABASE_URL,
    appName: 'reliability',
    channelId: 'load',
    dataDirPrefix: 'parley-reliability-',
  });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/**
 * PGlite mode: starts the server again on the same data dir (PGlite replays its WAL after the
 * crash). On a busy machine a start can time out (Fastify plugin timeouts): try again, as a
 * supervisor would.
 */
async function restartServer(): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerProcess({ ...ENV, PARLEY_DATA_DIR: cluster.dataDir! }, 120_000);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** Sends message `i` until the server answers 200/201 (the same client_msg_id every time). */
async function sendOne(i: number): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    await serverUp;
    try {
      const res = await cluster.call('POST', '/channels/messaging/load/messages', {
        text: `message ${i}`,
        user_id: i % 2 === 0 ? 'alice' : 'bob',
        client_msg_id: `rel-${i}`,
      });
      if (res.status === 200 || res.status === 201) return res.body.message.id as string;
      if (attempt > 50) throw new Error(`send ${i} kept failing: ${res.status} ${JSON.stringify(res.body)}`);
    } catch (error) {
      // The server was killed under us: wait for the restart and send again.
      if (attempt > 200) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('webhooks while the worker is killed 5 times during 1,000 sends', () => {
  it('delivers every event at least once and the receiver processes each exactly once', async () => {
    const hook = await cluster.call('POST', '/webhooks', {
      url: cluster.receiver.url('/reliable'),
      events: ['message.new'],
    });
    expect(hook.status).toBe(201);
    cluster.receiver.secrets.set('/reliable', hook.body.webhook.secret);

    const started = Date.now();
    const phase = (name: string) => console.info(`reliability: ${name} after ${Date.now() - started} ms`);
    const messageIds: string[] = new Array(MESSAGES);
    let next = 0;
    let sent = 0;
    const senders = Array.from({ length: SENDERS }, async () => {
      while (next < MESSAGES) {
        const i = next++;
        messageIds[i] = await sendOne(i);
        sent++;
      }
    });

    // Kill the worker whenever another sixth of the messages is in, while deliveries are running.
    let kills = 0;
    const killer = (async () => {
      for (let k = 1; k <= KILLS; k++) {
        await eventually(
          () => expect(sent).toBeGreaterThanOrEqual((k * MESSAGES) / (KILLS + 1)),
          120_000,
          20,
        );
        if (cluster.worker) {
          cluster.worker.child.kill('SIGKILL');
          expect(await cluster.worker.exited).toBeNull();
          cluster.worker = await cluster.startWorker();
        } else {
          let up!: () => void;
          serverUp = new Promise<void>((resolve) => (up = resolve));
          expect(await cluster.api.stop('SIGKILL')).toBeNull();
          cluster.api = await restartServer();
          up();
        }
        kills++;
        phase(`kill ${kills} (sent ${sent})`);
      }
    })();

    await Promise.all([...senders, killer]);
    phase('all sent');
    expect(kills).toBe(KILLS);
    expect(new Set(messageIds).size).toBe(MESSAGES);

    // Every message's event reaches the receiver (at least once), verified by the documented snippet.
    const wanted = new Set(messageIds);
    await eventually(
      () => {
        const seen = new Set(
          cluster.receiver.arrivals
            .filter((a) => a.path === '/reliable' && a.event)
            .map((a) => (a.event!.message as { id: string }).id),
        );
        const missing = [...wanted].filter((id) => !seen.has(id));
        expect(missing.length, `missing ${missing.length}, e.g. ${missing.slice(0, 3).join(', ')}`).toBe(0);
      },
      120_000,
      250,
    );

    phase('all delivered');
    const arrivals = cluster.receiver.arrivals.filter((a) => a.path === '/reliable');
    expect(arrivals.every((a) => a.error === undefined)).toBe(true);
    // One event per message: the set of event ids equals the set of messages.
    const eventIds = new Set(arrivals.map((a) => a.event!.id));
    expect(eventIds.size).toBe(MESSAGES);
    // Exactly once after dedup by event id.
    const processed = cluster.receiver.processed('/reliable');
    expect(processed).toHaveLength(MESSAGES);
    expect(new Set(processed.map((a) => (a.event!.message as { id: string }).id))).toEqual(wanted);
    const duplicates = arrivals.length - processed.length;
    expect(duplicates).toBeGreaterThanOrEqual(0);
    console.info(
      `reliability: ${arrivals.length} arrivals for ${MESSAGES} events (${duplicates} redelivered)`,
    );

    // Nothing was dead-lettered.
    const failed = await cluster.call('GET', `/webhooks/${hook.body.webhook.id}/deliveries?status=failed`);
    expect(failed.status).toBe(200);
    expect(failed.body.deliveries).toEqual([]);
  }, 420_000);
});
