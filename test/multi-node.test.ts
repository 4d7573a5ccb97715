import { Centrifuge, type PublicationContext, type Subscription } from 'centrifuge';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freshPostgresDatabase, type ServerProcess, startServerProcess } from './support/processes.js';

/**
 * Two server processes on one PostgreSQL and one Redis: a message sent through process A reaches
 * a client connected to process B, and presence is the same seen from both. Needs real Postgres
 * and Redis (PGlite is one process per data dir), so it runs in CI's Postgres + Redis pass.
 */
const DATABASE_URL = process.env.DATABASE_URL;
const REDIS_URL = process.env.REDIS_URL;
const ADMIN_TOKEN = 'multi-node-admin-token-123456';

describe.skipIf(!DATABASE_URL || !REDIS_URL)('two server processes on one Redis', () => {
  let database: { url: string; drop: () => Promise<void> };
  let nodeA: ServerProcess;
  let nodeB: ServerProcess;
  let app: { api_key: string; api_secret: string };
  const clients: Centrifuge[] = [];

  const token = (userId: string) =>
    new SignJWT({ user_id: userId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .sign(new TextEncoder().encode(app.api_secret));

  const call = async (node: ServerProcess, method: string, path: string, body?: unknown, userId?: string) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: {
        'x-api-key': app.api_key,
        authorization: userId ? `Bearer ${await token(userId)}` : `Secret ${app.api_secret}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const connect = async (node: ServerProcess, userId: string) => {
    const url = `${node.url.replace('http', 'ws')}/connection/websocket?api_key=${app.api_key}`;
    const client = new Centrifuge(url, { websocket: WebSocket, token: await token(userId) });
    clients.push(client);
    const connected = new Promise((resolve) => client.once('connected', resolve));
    client.connect();
    await connected;
    return client;
  };

  const subscribe = async (client: Centrifuge, channel: string) => {
    const sub = client.newSubscription(channel);
    await new Promise<void>((resolve, reject) => {
      sub.once('subscribed', () => resolve());
      sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code}`)));
      sub.subscribe();
    });
    return sub;
  };

  beforeAll(async () => {
    database = await freshPostgresDatabase(DATABASE_URL!);
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: REDIS_URL!,
      PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
      PARLEY_SEED_DEMO: 'false',
      REALTIME_REDIS_PREFIX: `parley-mn-${Date.now()}`,
    };
    nodeA = await startServerProcess(env);
    nodeB = await startServerProcess(env);
    const created = await fetch(`${nodeA.url}/admin/apps`, {
      method: 'POST',
      headers: { 'x-admin-token': ADMIN_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'multi-node' }),
    });
    app = ((await created.json()) as any).app;
    await call(nodeA, 'POST', '/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
    await call(nodeA, 'POST', '/channels', {
      type: 'messaging',
      id: 'mn',
      members: ['alice', 'bob'],
      created_by: 'alice',
    });
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await nodeA?.stop();
    await nodeB?.stop();
    await database?.drop();
  });

  it('delivers a message sent through node A to a client on node B, in order and once', async () => {
    const bob = await connect(nodeB, 'bob');
    const sub: Subscription = await subscribe(bob, 'chat:channel:messaging:mn');
    const received: PublicationContext[] = [];
    const allArrived = new Promise<void>((resolve) => {
      sub.on('publication', (ctx) => {
        if (ctx.data.type !== 'message.new') return;
        received.push(ctx);
        if (received.length === 20) resolve();
      });
    });
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await call(nodeA, 'POST', '/channels/messaging/mn/messages', { text: `m${i}` }, 'alice');
      expect(res.status).toBe(201);
      sent.push(res.body.message.id);
    }
    await allArrived;
    expect(received.map((p) => p.data.message.id)).toEqual(sent);
    const offsets = received.map((p) => p.offset!);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });

  it('sees the same presence from both nodes', async () => {
    const aliceOnA = await connect(nodeA, 'alice');
    const bobOnB = await connect(nodeB, 'bob');
    const subA = await subscribe(aliceOnA, 'chat:channel:messaging:mn');
    const subB = await subscribe(bobOnB, 'chat:channel:messaging:mn');
    const fromA = await subA.presenceStats();
    const fromB = await subB.presenceStats();
    expect(fromA).toEqual(fromB);
    expect(fromA.numUsers).toBeGreaterThanOrEqual(2);
    const users = Object.values((await subB.presence()).clients).map((c) => c.user);
    expect(new Set(users)).toEqual(new Set(['alice', 'bob']));
  });

  it('closes a banned user’s connection on the other node', async () => {
    const bob = await connect(nodeB, 'bob');
    const closed = new Promise<number>((resolve) => bob.once('disconnected', (ctx) => resolve(ctx.code)));
    await call(nodeA, 'POST', '/users', { users: [{ id: 'bob', banned: true }] });
    expect(await closed).toBe(4501);
  });
});
