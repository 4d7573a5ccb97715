import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { sql } from 'kysely';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';
import { eventually } from '../../test-support/webhook-receiver.js';

/**
 * Event export against the real brokers on this machine: RabbitMQ (amqp://127.0.0.1:5672) and
 * NATS (nats://127.0.0.1:4222). Each run uses its own exchange and subject prefix.
 */
const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const run = randomBytes(4).toString('hex');
const EXCHANGE = `parley.test.${run}`;
const PREFIX = `parleytest${run}`;

interface Received {
  routingKey: string;
  messageId: string | undefined;
  type: string | undefined;
  body: any;
}

let server: TestServer;
let app: TestApp;
let amqpConn: ChannelModel;
let amqpChannel: Channel;
let nats: NatsConnection;
let natsSub: Subscription;
const fromAmqp: Received[] = [];
const fromNats: { subject: string; msgId: string | undefined; body: any }[] = [];

beforeAll(async () => {
  amqpConn = await amqp.connect(AMQP_URL);
  amqpChannel = await amqpConn.createChannel();
  await amqpChannel.assertExchange(EXCHANGE, 'topic', { durable: true });
  const { queue } = await amqpChannel.assertQueue('', { exclusive: true, autoDelete: true });
  // Everything of every app: `<app id>.<event type>` with '#'.
  await amqpChannel.bindQueue(queue, EXCHANGE, '#');
  await amqpChannel.consume(
    queue,
    (msg) => {
      if (!msg) return;
      fromAmqp.push({
        routingKey: msg.fields.routingKey,
        messageId: msg.properties.messageId,
        type: msg.properties.type,
        body: JSON.parse(msg.content.toString()),
      });
    },
    { noAck: true },
  );
  nats = await connect({ servers: NATS_URL });
  natsSub = nats.subscribe(`${PREFIX}.>`);
  void (async () => {
    for await (const msg of natsSub) {
      fromNats.push({ subject: msg.subject, msgId: msg.headers?.get('Nats-Msg-Id'), body: msg.json() });
    }
  })();
  await nats.flush();

  server = await createTestServer({
    AMQP_URL,
    AMQP_EXCHANGE: EXCHANGE,
    NATS_URL,
    NATS_SUBJECT_PREFIX: PREFIX,
    JOBS_POLL_INTERVAL_MS: '500',
  });
  app = await server.createApp();
}, 60_000);

afterAll(async () => {
  await server?.close();
  natsSub?.unsubscribe();
  await nats?.close();
  await amqpChannel?.deleteExchange(EXCHANGE).catch(() => {});
  await amqpConn?.close();
});

describe('event export to RabbitMQ and NATS', () => {
  it('publishes the EventMap payloads with their ids: routing key app.type, subject prefix.app.type', async () => {
    await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
    const channel = await app.server.post('/channels', {
      type: 'messaging',
      id: 'exported',
      members: ['alice', 'bob'],
      created_by: 'alice',
    });
    expect(channel.status).toBe(201);
    const sent = await app.server.post('/channels/messaging/exported/messages', {
      text: 'to the brokers',
      user_id: 'alice',
    });
    expect(sent.status).toBe(201);
    const messageId = sent.body.message.id;

    const amqpEvent = await eventually(() => {
      const found = fromAmqp.find((r) => r.body.type === 'message.new' && r.body.message?.id === messageId);
      expect(found).toBeDefined();
      return found!;
    }, 30_000);
    expect(amqpEvent.routingKey).toBe(`${app.id}.message.new`);
    expect(amqpEvent.messageId).toBe(amqpEvent.body.id);
    expect(amqpEvent.type).toBe('message.new');
    expect(amqpEvent.body).toMatchObject({
      type: 'message.new',
      app_id: app.id,
      cid: 'messaging:exported',
      message: { id: messageId, text: 'to the brokers', user_id: 'alice' },
    });
    expect(amqpEvent.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const natsEvent = await eventually(() => {
      const found = fromNats.find((r) => r.body.type === 'message.new' && r.body.message?.id === messageId);
      expect(found).toBeDefined();
      return found!;
    }, 30_000);
    expect(natsEvent.subject).toBe(`${PREFIX}.${app.id}.message.new`);
    expect(natsEvent.msgId).toBe(natsEvent.body.id);
    // The same event (same id and payload) on both brokers.
    expect(natsEvent.body).toEqual(amqpEvent.body);

    // channel.created went out too. Jobs of different transactions may arrive in any order (they
    // run concurrently), so the order between them shows in the time-ordered (UUIDv7) event ids.
    const ofApp = fromAmqp.filter((r) => r.body.app_id === app.id);
    const created = ofApp.find((r) => r.body.type === 'channel.created');
    expect(created).toBeDefined();
    expect(created!.body.id < amqpEvent.body.id).toBe(true);
  }, 60_000);

  it('a rolled-back write exports nothing; each committed event is exported once', async () => {
    const res = await app.server.post('/channels/messaging/nope/messages', { text: 'x', user_id: 'alice' });
    expect(res.status).toBe(404);
    const ok = await app.server.post('/channels/messaging/exported/messages', {
      text: 'once',
      user_id: 'bob',
    });
    expect(ok.status).toBe(201);
    await eventually(() => {
      expect(fromNats.some((r) => r.body.message?.id === ok.body.message.id)).toBe(true);
      expect(fromAmqp.some((r) => r.body.message?.id === ok.body.message.id)).toBe(true);
    }, 30_000);
    const ids = fromAmqp.map((r) => r.body.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(fromAmqp.some((r) => r.body.cid === 'messaging:nope')).toBe(false);
  }, 60_000);

  it('a broker that is down: the export job stays queued and is retried (durable, not fire-and-forget)', async () => {
    // A second server whose AMQP URL points at a port where nothing listens yet: the job fails and
    // stays queued for retry; the event is not lost.
    const down = await createTestServer({
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:1',
      AMQP_EXCHANGE: EXCHANGE,
      EVENT_EXPORT_RETRY_LIMIT: '5',
      JOBS_POLL_INTERVAL_MS: '500',
    });
    try {
      const a = await down.createApp();
      await a.server.post('/users', { users: [{ id: 'zed' }] });
      const job = await eventually(
        async () => {
          const { rows } = await sql<{ state: string; retry_count: number; data: any }>`
            select state, retry_count, data from pgboss.job where name = 'events.export'`.execute(
            down.database.db,
          );
          const mine = rows.find((r) => r.data.events.some((e: { app_id: string }) => e.app_id === a.id));
          expect(mine).toBeDefined();
          expect(mine!.retry_count).toBeGreaterThanOrEqual(1);
          return mine!;
        },
        20_000,
        200,
      );
      expect(['retry', 'created', 'active']).toContain(job.state);
      expect(job.data.target).toBe('amqp');
      expect(job.data.events[0]).toMatchObject({ type: 'user.updated', app_id: a.id });
      expect(fromAmqp.some((r) => r.body.app_id === a.id)).toBe(false);
    } finally {
      await down.close();
    }
  }, 60_000);
});
