import { Centrifuge, type PublicationContext, type Subscription } from 'centrifuge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import { listenForGateway } from '../test-support/realtime-clients.js';

let server: TestServer;
let app: TestApp;
let url: string;
const clients: Centrifuge[] = [];

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  url = await listenForGateway(server, app.apiKey);
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }, { id: 'eve' }] });
  await app.server.post('/channels', {
    type: 'messaging',
    id: 'general',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.close();
});

async function connect(userId: string): Promise<Centrifuge> {
  const client = new Centrifuge(url, { websocket: WebSocket, token: await app.token(userId) });
  clients.push(client);
  const connected = new Promise((resolve, reject) => {
    client.once('connected', resolve);
    client.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  client.connect();
  await connected;
  return client;
}

function subscribed(sub: Subscription) {
  return new Promise<void>((resolve, reject) => {
    sub.once('subscribed', () => resolve());
    sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code} ${ctx.reason}`)));
    sub.subscribe();
  });
}

function nextPublication(sub: Subscription, predicate: (data: any) => boolean = () => true) {
  return new Promise<PublicationContext>((resolve) => {
    const handler = (ctx: PublicationContext) => {
      if (!predicate(ctx.data)) return;
      sub.off('publication', handler);
      resolve(ctx);
    };
    sub.on('publication', handler);
  });
}

describe('realtime gateway with the official centrifuge client', () => {
  it('delivers a message sent over REST to a subscribed member, with an offset', async () => {
    const client = await connect('bob');
    const sub = client.newSubscription('chat:channel:messaging:general');
    await subscribed(sub);
    const received = nextPublication(sub, (d) => d.type === 'message.new');
    const alice = await app.as('alice');
    const sent = await alice.post('/channels/messaging/general/messages', { text: 'hello realtime' });
    const pub = await received;
    expect(pub.data.message.id).toBe(sent.body.message.id);
    expect(pub.data.message.text).toBe('hello realtime');
    expect(pub.offset).toBeGreaterThan(0);

    const history = await sub.history({ limit: 10 });
    expect(history.publications.map((p) => p.data.message?.id)).toContain(sent.body.message.id);
    const stats = await sub.presenceStats();
    expect(stats.numClients).toBe(1);
    expect(stats.numUsers).toBe(1);
    const presence = await sub.presence();
    expect(Object.values(presence.clients).map((c) => c.user)).toEqual(['bob']);
    sub.unsubscribe();
  });

  it('refuses a non-member with permission denied', async () => {
    const client = await connect('eve');
    const sub = client.newSubscription('chat:channel:messaging:general');
    const result = await new Promise<{ code: number }>((resolve) => {
      sub.once('unsubscribed', (ctx) => resolve(ctx));
      sub.once('subscribed', () => resolve({ code: -1 }));
      sub.subscribe();
    });
    expect(result.code).toBe(103);
  });

  it('refuses another user’s private channel', async () => {
    const client = await connect('bob');
    const sub = client.newSubscription('chat:user:alice');
    const code = await new Promise<number>((resolve) => {
      sub.once('unsubscribed', (ctx) => resolve(ctx.code));
      sub.once('subscribed', () => resolve(-1));
      sub.subscribe();
    });
    expect(code).toBe(103);
  });

  it('announces user presence to channel members: online on first session, offline after the last', async () => {
    const bob = await connect('bob');
    const sub = bob.newSubscription('chat:channel:messaging:general');
    await subscribed(sub);
    const online = nextPublication(
      sub,
      (d) => d.type === 'user.presence' && d.user_id === 'alice' && d.online,
    );
    const alice = await connect('alice');
    expect((await online).data.online).toBe(true);
    const offline = nextPublication(
      sub,
      (d) => d.type === 'user.presence' && d.user_id === 'alice' && !d.online,
    );
    alice.disconnect();
    const event = (await offline).data;
    expect(event.last_active_at).not.toBeNull();
    const stored = await app.server.get('/users/alice');
    expect(stored.body.user.last_active_at).not.toBeNull();
    sub.unsubscribe();
  });

  it('hides an invisible user: offline for others and absent from channel presence', async () => {
    const bob = await connect('bob');
    const bobSub = bob.newSubscription('chat:channel:messaging:general');
    await subscribed(bobSub);
    const alice = await connect('alice');
    const aliceSub = alice.newSubscription('chat:channel:messaging:general');
    await subscribed(aliceSub);
    expect(
      Object.values((await bobSub.presence()).clients)
        .map((c) => c.user)
        .sort(),
    ).toEqual(['alice', 'bob']);

    const wentOffline = nextPublication(
      bobSub,
      (d) => d.type === 'user.presence' && d.user_id === 'alice' && !d.online,
    );
    const aliceApi = await app.as('alice');
    const res = await aliceApi.patch('/users', { users: [{ id: 'alice', set: { invisible: true } }] });
    expect(res.status).toBe(200);
    expect(res.body.users[0].invisible).toBe(true);
    await wentOffline;

    // A new subscription of the invisible user is not listed in presence.
    aliceSub.unsubscribe();
    alice.removeSubscription(aliceSub);
    const again = alice.newSubscription('chat:channel:messaging:general');
    await subscribed(again);
    expect(Object.values((await bobSub.presence()).clients).map((c) => c.user)).toEqual(['bob']);

    const backOnline = nextPublication(
      bobSub,
      (d) => d.type === 'user.presence' && d.user_id === 'alice' && d.online,
    );
    await aliceApi.patch('/users', { users: [{ id: 'alice', set: { invisible: false } }] });
    await backOnline;
    alice.disconnect();
    bobSub.unsubscribe();
  });
});
