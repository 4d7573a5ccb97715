import type { Centrifuge, SubscribedContext, Subscription } from 'centrifuge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import {
  connectCentrifuge,
  eventually,
  listenForGateway,
  nextPublication,
  subscribed,
} from '../test-support/realtime-clients.js';
import type { Broker } from './broker.js';

/**
 * Recovery with the official client: its socket is killed while messages keep flowing, it
 * reconnects and resubscribes with recover/offset/epoch, and must end up with every message exactly
 * once and in order, or be told its position is unrecoverable (then it refetches over REST).
 */

let server: TestServer;
let app: TestApp;
let url: string;
const clients: Centrifuge[] = [];

/**
 * A `ws` WebSocket behind a gate: while the gate is closed, new sockets go to a port nobody
 * listens on, so the client keeps failing to reconnect until the test opens the gate again.
 * Every frame received is recorded, to inspect the subscribe replies.
 */
const gate = { closed: false };
const sockets: WebSocket[] = [];
const frames: string[] = [];
class GatedWebSocket extends WebSocket {
  constructor(address: string, protocols?: string | string[]) {
    super(gate.closed ? 'ws://127.0.0.1:1/connection/websocket' : address, protocols);
    sockets.push(this);
    this.on('message', (data) => frames.push(data.toString()));
  }
}

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  url = await listenForGateway(server, app.apiKey);
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  for (const id of ['stream', 'since', 'lost']) {
    const res = await app.server.post('/channels', {
      type: 'messaging',
      id,
      members: ['alice', 'bob'],
      created_by: 'alice',
    });
    expect(res.status).toBe(201);
  }
});
afterEach(() => {
  gate.closed = false;
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await server?.close();
});

async function connect(userId: string) {
  const { client } = await connectCentrifuge(url, await app.token(userId), {
    websocket: GatedWebSocket,
    minReconnectDelay: 20,
    maxReconnectDelay: 200,
  });
  clients.push(client);
  return client;
}

/** Records the message.new publications and subscribed events of a subscription. */
function record(sub: Subscription) {
  const messages: { id: string; offset: number | undefined }[] = [];
  const subscribedEvents: SubscribedContext[] = [];
  sub.on('publication', (ctx) => {
    if (ctx.data.type === 'message.new') messages.push({ id: ctx.data.message.id, offset: ctx.offset });
  });
  sub.on('subscribed', (ctx) => subscribedEvents.push(ctx));
  return { messages, subscribedEvents };
}

async function send(channelId: string, text: string): Promise<string> {
  const alice = await app.as('alice');
  const res = await alice.post(`/channels/messaging/${channelId}/messages`, { text });
  expect(res.status).toBe(201);
  return res.body.message.id;
}

/** The subscribe replies that recovered something, from the recorded frames. */
function recoveryReplies(): Record<string, any>[] {
  return frames
    .flatMap((frame) => frame.split('\n'))
    .filter((line) => line.includes('"was_recovering":true'))
    .map((line) => JSON.parse(line).subscribe);
}

describe('recovery with the official centrifuge client', () => {
  it('recovers every missed message exactly once and in order after its socket is killed mid-stream', async () => {
    const bob = await connect('bob');
    const sub = bob.newSubscription('chat:channel:messaging:stream');
    const { messages, subscribedEvents } = record(sub);
    await subscribed(sub);
    expect(subscribedEvents[0]).toMatchObject({ recoverable: true, positioned: true, wasRecovering: false });
    frames.length = 0;

    const total = 40;
    const sent: string[] = [];
    const sender = (async () => {
      for (let i = 0; i < total; i++) sent.push(await send('stream', `m${i}`));
    })();

    // Kill the socket mid-stream and keep the client away while at least 5 more messages go out.
    await eventually(() => messages.length >= 5);
    gate.closed = true;
    const sentBeforeKill = sent.length;
    sockets.at(-1)!.terminate();
    await eventually(() => sent.length >= Math.min(total, sentBeforeKill + 5));
    gate.closed = false;
    // Then twice more without holding it back: the resubscribe races the live publications.
    for (const after of [20, 30]) {
      await eventually(() => messages.length >= after && bob.state === 'connected');
      sockets.at(-1)!.terminate();
    }
    await sender;

    // A last message after everything: duplicates of earlier ones would arrive before it.
    sent.push(await send('stream', 'sentinel'));
    await eventually(() => messages.some((m) => m.id === sent.at(-1)));

    expect(messages.map((m) => m.id)).toEqual(sent);
    const offsets = messages.map((m) => m.offset!);
    expect(offsets.every((o, i) => i === 0 || o === offsets[i - 1]! + 1)).toBe(true);

    const resubscribe = subscribedEvents.slice(1);
    expect(resubscribe.length).toBe(3);
    for (const ctx of resubscribe) expect(ctx).toMatchObject({ wasRecovering: true, recovered: true });
    const [reply] = recoveryReplies();
    expect(reply?.recovered).toBe(true);
    // The messages sent while the client was away came back inside the subscribe reply.
    expect(reply?.publications?.length).toBeGreaterThanOrEqual(5);
  });

  it('recovers from a position given with `since`, and reports a wrong epoch as not recovered', async () => {
    const channel = 'chat:channel:messaging:since';
    const bob = await connect('bob');
    const first = bob.newSubscription(channel);
    const position = new Promise<SubscribedContext>((resolve) => first.once('subscribed', resolve));
    await subscribed(first);
    const { streamPosition } = await position;
    expect(streamPosition?.epoch).toBeTruthy();
    first.unsubscribe();
    bob.removeSubscription(first);

    const missed = [await send('since', 's1'), await send('since', 's2'), await send('since', 's3')];

    const again = bob.newSubscription(channel, { since: streamPosition! });
    const { messages, subscribedEvents } = record(again);
    await subscribed(again);
    await eventually(() => messages.length >= 3);
    expect(subscribedEvents[0]).toMatchObject({ wasRecovering: true, recovered: true });
    expect(messages.map((m) => m.id)).toEqual(missed);
    again.unsubscribe();
    bob.removeSubscription(again);

    // A position from another stream incarnation: subscribed, told it is not recovered, given the
    // current position; nothing is replayed and the app must refetch over REST.
    const wrong = bob.newSubscription(channel, { since: { offset: 1, epoch: 'not-this-epoch' } });
    const wrongRecord = record(wrong);
    await subscribed(wrong);
    expect(wrongRecord.subscribedEvents[0]).toMatchObject({ wasRecovering: true, recovered: false });
    expect(wrongRecord.subscribedEvents[0]!.streamPosition).toEqual({
      epoch: streamPosition!.epoch,
      offset: streamPosition!.offset + 3,
    });
    expect(wrongRecord.messages).toEqual([]);
    // It stays subscribed at the new position and gets what comes next.
    const next = nextPublication(wrong, (d) => d.type === 'message.new');
    const id = await send('since', 's4');
    expect((await next).data.message.id).toBe(id);
  });

  it('tells a reconnecting client its position is unrecoverable when the history was lost', async () => {
    const channel = 'chat:channel:messaging:lost';
    const bob = await connect('bob');
    const sub = bob.newSubscription(channel);
    const { messages, subscribedEvents } = record(sub);
    await subscribed(sub);
    const before = await send('lost', 'before');
    await eventually(() => messages.length === 1);

    gate.closed = true;
    sockets.at(-1)!.terminate();
    // The stream is recreated (as after a broker restart): a new epoch, old offsets invalid.
    const broker = (server.parley.realtime as unknown as { broker: Broker }).broker;
    await broker.removeHistory(`${app.id}/${channel}`);
    const lost = await send('lost', 'while away');
    gate.closed = false;

    await eventually(() => subscribedEvents.length === 2);
    expect(subscribedEvents[1]).toMatchObject({ wasRecovering: true, recovered: false });
    expect(subscribedEvents[1]!.streamPosition!.epoch).not.toBe(subscribedEvents[0]!.streamPosition!.epoch);
    // Not silently replayed partially: the app refetches, and the REST API has the message.
    expect(messages.map((m) => m.id)).toEqual([before]);
    const alice = await app.as('bob');
    const page = await alice.get('/channels/messaging/lost/messages?limit=10');
    expect(page.status).toBe(200);
    expect(JSON.stringify(page.body)).toContain(lost);

    const next = nextPublication(sub, (d) => d.type === 'message.new');
    const after = await send('lost', 'after');
    expect((await next).data.message.id).toBe(after);
  });
});
