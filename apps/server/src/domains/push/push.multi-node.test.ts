import { Centrifuge } from 'centrifuge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import WebSocket from 'ws';
import { type DatabaseHandle, openDatabase } from '../../platform/db.js';
import { createLogger } from '../../platform/logger.js';
import { buildServer, type Parley } from '../../server.js';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';
import { startWebPushService, type WebPushService } from '../../test-support/push-receivers.js';
import { eventually } from '../../test-support/webhook-receiver.js';

/**
 * Two server instances on one PostgreSQL database and one Redis: the API node holds the sockets
 * and runs no workers; the worker node runs the push jobs. The worker must see, through the Redis
 * broker, who watches a channel on the API node. Needs DATABASE_URL and REDIS_URL.
 */
const enabled = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
const vapid = webpush.generateVAPIDKeys();

describe.skipIf(!enabled)('push across server instances (Postgres + Redis)', () => {
  let api: TestServer;
  let worker: Parley;
  let workerDb: DatabaseHandle;
  let app: TestApp;
  let service: WebPushService;
  let wsUrl: string;
  const clients: Centrifuge[] = [];

  beforeAll(async () => {
    service = await startWebPushService();
    const push = {
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      PUSH_BUNDLE_WINDOW_MS: '1000',
      JOBS_POLL_INTERVAL_MS: '500',
    };
    api = await createTestServer({ ...push, JOBS_WORKERS: 'false' });
    const address = await api.parley.http.listen({ port: 0, host: '127.0.0.1' });
    const config = { ...api.config, JOBS_WORKERS: true };
    workerDb = await openDatabase(config);
    worker = await buildServer(config, workerDb, createLogger(config));
    app = await api.createApp();
    wsUrl = `${address.replace('http', 'ws')}/connection/websocket?api_key=${app.apiKey}`;
  });

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await worker?.close();
    await workerDb?.close();
    await api?.close();
    await service?.close();
  });

  it('a user watching on the API node gets no push from the worker node; others do', async () => {
    await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }, { id: 'carol' }] });
    await app.server.post('/channels', {
      type: 'messaging',
      id: 'general',
      members: ['alice', 'bob', 'carol'],
      created_by: 'bob',
    });
    const subs = {
      alice: service.subscribe('alice'),
      carol: service.subscribe('carol'),
    };
    for (const [user, sub] of Object.entries(subs)) {
      const res = await (await app.as(user)).post('/devices', {
        provider: 'web_push',
        subscription: sub.toJSON(),
      });
      expect(res.status).toBe(201);
    }
    const client = new Centrifuge(wsUrl, { websocket: WebSocket, token: await app.token('alice') });
    clients.push(client);
    const sub = client.newSubscription('chat:channel:messaging:general');
    await new Promise<void>((resolve, reject) => {
      sub.once('subscribed', () => resolve());
      sub.once('unsubscribed', (ctx) => reject(new Error(ctx.reason)));
      client.connect();
      sub.subscribe();
    });
    // Seen from the worker node (through Redis) once the watcher entry is written.
    await eventually(async () =>
      expect(await worker.realtime.watchers.watching(app.id, 'messaging:general')).toContain('alice'),
    );
    const sent = await (await app.as('bob')).post('/channels/messaging/general/messages', { text: 'hi all' });
    expect(sent.status).toBe(201);
    const arrivals = (name: string) => service.arrivals.filter((a) => a.path === `/push/${name}`);
    await eventually(() => expect(arrivals('carol')).toHaveLength(1));
    const payload = JSON.parse(subs.carol.decrypt(arrivals('carol')[0]!.body).toString());
    expect(payload.data.message_id).toBe(sent.body.message.id);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(arrivals('alice')).toHaveLength(0);

    // Alice leaves the channel view: the next message reaches her.
    sub.unsubscribe();
    await eventually(async () =>
      expect(await worker.realtime.watchers.watching(app.id, 'messaging:general')).toEqual(new Set()),
    );
    await (await app.as('bob')).post('/channels/messaging/general/messages', { text: 'still there?' });
    await eventually(() => expect(arrivals('alice')).toHaveLength(1));
  });
});
