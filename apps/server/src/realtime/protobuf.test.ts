import {
  Centrifuge as JsonCentrifuge,
  type PublicationContext as JsonPublicationContext,
  type Subscription as JsonSubscription,
} from 'centrifuge';
import { Centrifuge, type PublicationContext, type Subscription } from 'centrifuge/build/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import { listenForGateway } from '../test-support/realtime-clients.js';

// The official client's Protobuf build, as the native SDKs (swift, java, dart) speak it: binary
// frames, data as bytes. Parley puts JSON in those bytes.

let server: TestServer;
let app: TestApp;
let url: string;
const clients: { disconnect(): void }[] = [];
const CHANNEL = 'chat:channel:messaging:general';

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
// biome-ignore lint/suspicious/noExplicitAny: event payloads are read field by field
const decode = (bytes: unknown): any => {
  expect(bytes).toBeInstanceOf(Uint8Array);
  return JSON.parse(new TextDecoder().decode(bytes as Uint8Array));
};

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

async function connected<C extends JsonCentrifuge | Centrifuge>(client: C): Promise<C> {
  clients.push(client);
  const done = new Promise((resolve, reject) => {
    client.once('connected', resolve);
    client.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  client.connect();
  await done;
  return client;
}

const connect = async (userId: string) =>
  connected(new Centrifuge(url, { websocket: WebSocket, token: await app.token(userId) }));
const connectJson = async (userId: string) =>
  connected(new JsonCentrifuge(url, { websocket: WebSocket, token: await app.token(userId) }));

/** Both builds share one Subscription class; only their declaration files differ. */
function subscribed(subscription: Subscription | JsonSubscription) {
  const sub = subscription as Subscription;
  return new Promise<void>((resolve, reject) => {
    sub.once('subscribed', () => resolve());
    sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code} ${ctx.reason}`)));
    sub.subscribe();
  });
}

function nextPublication<Ctx extends PublicationContext | JsonPublicationContext>(
  sub: {
    on(e: 'publication', h: (ctx: Ctx) => void): unknown;
    off(e: 'publication', h: (ctx: Ctx) => void): unknown;
  },
  predicate: (ctx: Ctx) => boolean,
) {
  return new Promise<Ctx>((resolve) => {
    const handler = (ctx: Ctx) => {
      if (!predicate(ctx)) return;
      sub.off('publication', handler);
      resolve(ctx);
    };
    sub.on('publication', handler);
  });
}

const isMessageNew = (ctx: PublicationContext) => decode(ctx.data).type === 'message.new';

describe('realtime gateway with the official centrifuge Protobuf client', () => {
  it('connects, subscribes, receives a message sent over REST, reads history and presence', async () => {
    const client = await connect('bob');
    const sub = client.newSubscription(CHANNEL);
    await subscribed(sub);
    const received = nextPublication(sub, isMessageNew);
    const alice = await app.as('alice');
    const sent = await alice.post('/channels/messaging/general/messages', { text: 'hello protobuf' });
    expect(sent.status).toBe(201);

    const pub = await received;
    const data = decode(pub.data);
    expect(data.message.id).toBe(sent.body.message.id);
    expect(data.message.text).toBe('hello protobuf');
    expect(typeof pub.offset).toBe('number');
    expect(pub.offset).toBeGreaterThan(0);

    const history = await sub.history({ limit: 10 });
    const messages = history.publications.map((p) => decode(p.data)).filter((d) => d.type === 'message.new');
    expect(messages.map((d) => d.message.id)).toContain(sent.body.message.id);
    expect(history.publications.at(-1)!.offset).toBe(history.offset);
    expect(history.epoch).not.toBe('');

    const stats = await sub.presenceStats();
    expect(stats).toEqual({ numClients: 1, numUsers: 1 });
    const presence = await sub.presence();
    expect(Object.values(presence.clients).map((c) => c.user)).toEqual(['bob']);
    sub.unsubscribe();
  });

  it('answers rpc with JSON bytes both ways, and an unknown method with 104', async () => {
    const client = await connect('bob');
    const result = await client.rpc('mark_read', encode({ cid: 'messaging:general' }));
    const counts = decode(result.data);
    expect(counts.total_unread_count).toBe(0);
    expect(counts.channels.map((c: { cid: string }) => c.cid)).toContain('messaging:general');

    await expect(client.rpc('no.such.method', encode({}))).rejects.toMatchObject({ code: 104 });
    // A bad request to a known method is an error reply too (the HTTP status in the application
    // range), and the connection stays up.
    await expect(client.rpc('typing.start', encode({}))).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining('VALIDATION_FAILED'),
    });
    expect(client.state).toBe('connected');
  });

  it('refuses a non-member with permission denied (103)', async () => {
    const client = await connect('eve');
    const sub = client.newSubscription(CHANNEL);
    const code = await new Promise<number>((resolve) => {
      sub.once('unsubscribed', (ctx) => resolve(ctx.code));
      sub.once('subscribed', () => resolve(-1));
      sub.subscribe();
    });
    expect(code).toBe(103);
    expect(client.state).toBe('connected');
  });

  it('delivers one publication to a JSON and a Protobuf client alike: same data, same offset', async () => {
    const pb = await connect('bob');
    const js = await connectJson('alice');
    const pbSub = pb.newSubscription(CHANNEL, { joinLeave: true });
    await subscribed(pbSub);
    const jsSub = js.newSubscription(CHANNEL);
    await subscribed(jsSub);

    const pbReceived = nextPublication<PublicationContext>(pbSub, isMessageNew);
    const jsReceived = nextPublication<JsonPublicationContext>(
      jsSub,
      (ctx) => ctx.data.type === 'message.new',
    );
    const alice = await app.as('alice');
    const sent = await alice.post('/channels/messaging/general/messages', { text: 'to both formats' });
    const [pbPub, jsPub] = await Promise.all([pbReceived, jsReceived]);
    expect(jsPub.data.message.id).toBe(sent.body.message.id);
    expect(decode(pbPub.data)).toEqual(jsPub.data);
    expect(pbPub.offset).toBe(jsPub.offset);

    // Presence as both formats see it: the same clients and users.
    const [pbPresence, jsPresence] = await Promise.all([pbSub.presence(), jsSub.presence()]);
    const summary = (clients: Record<string, { user: string; client: string }>) =>
      Object.values(clients)
        .map((c) => `${c.user}/${c.client}`)
        .sort();
    expect(summary(pbPresence.clients)).toEqual(summary(jsPresence.clients));
    expect(summary(pbPresence.clients).map((s) => s.split('/')[0])).toEqual(['alice', 'bob']);
    expect(await pbSub.presenceStats()).toEqual({ numClients: 2, numUsers: 2 });

    // History read over Protobuf holds the same stream position as over JSON.
    const [pbHistory, jsHistory] = await Promise.all([
      pbSub.history({ limit: 5 }),
      jsSub.history({ limit: 5 }),
    ]);
    expect(pbHistory.epoch).toBe(jsHistory.epoch);
    expect(pbHistory.offset).toBe(jsHistory.offset);
    expect(pbHistory.publications.map((p) => [p.offset, decode(p.data)])).toEqual(
      jsHistory.publications.map((p) => [p.offset, p.data]),
    );
    pbSub.unsubscribe();
    jsSub.unsubscribe();
  });
});
