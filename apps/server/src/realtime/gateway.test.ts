import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import { eventually, type Frame, listenForGateway, RawClient } from '../test-support/realtime-clients.js';

/**
 * The gateway at the protocol level: a plain `ws` client sends JSON lines and checks the exact
 * replies, pushes and close codes of the Centrifugo client protocol v2 (docs/realtime.md).
 */

const GATEWAY = {
  pingIntervalMs: 1_000,
  pongTimeoutMs: 1_500,
  staleMs: 2_500,
  maxSubscriptionsPerConnection: 4,
  maxBufferedBytes: 256 * 1024,
  expiredGraceMs: 200,
};

let server: TestServer;
let app: TestApp;
let base: string;
let url: string;
const open: RawClient[] = [];

beforeAll(async () => {
  server = await createTestServer({}, { gateway: GATEWAY });
  base = await listenForGateway(server);
  app = await server.createApp();
  url = `${base}?api_key=${app.apiKey}`;
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }, { id: 'eve' }] });
  for (const id of ['general', 'recover', 'history', 'lim1', 'lim2', 'lim3', 'lim4']) {
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
  for (const c of open.splice(0)) c.close();
});
afterAll(async () => {
  await server?.close();
});

async function raw(target = url): Promise<RawClient> {
  const client = await RawClient.open(target);
  open.push(client);
  return client;
}

async function connected(userId = 'alice'): Promise<RawClient> {
  const client = await raw();
  const reply = await client.connect(await app.token(userId));
  expect(reply.error).toBeUndefined();
  return client;
}

/** Sends a message over REST and waits until `watcher` (subscribed to the channel) sees it. */
async function sendMessage(watcher: RawClient, channelId: string, text: string): Promise<Frame> {
  const alice = await app.as('alice');
  const res = await alice.post(`/channels/messaging/${channelId}/messages`, { text });
  expect(res.status).toBe(201);
  const id = res.body.message.id;
  const push = await watcher.waitFor((m) => m.push?.pub?.data?.message?.id === id);
  return push.push.pub;
}

describe('connect', () => {
  it('replies with client id, version, ping interval and pong, and no expiry for a token without exp', async () => {
    const client = await raw();
    const reply = await client.connect(await app.token('alice'));
    expect(reply.id).toBe(1);
    expect(reply.connect.client).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof reply.connect.version).toBe('string');
    expect(reply.connect.ping).toBe(1);
    expect(reply.connect.pong).toBe(true);
    expect(reply.connect.expires).toBeUndefined();
    expect(reply.connect.ttl).toBeUndefined();
  });

  it('reports expires and ttl when the token has exp', async () => {
    const client = await raw();
    const reply = await client.connect(await app.token('alice', { expiresIn: 120 }));
    expect(reply.connect.expires).toBe(true);
    expect(reply.connect.ttl).toBeGreaterThan(60);
    expect(reply.connect.ttl).toBeLessThanOrEqual(120);
  });

  it('extends the expiry on refresh with a new token', async () => {
    const client = await raw();
    const first = await client.connect(await app.token('alice', { expiresIn: 60 }));
    expect(first.connect.ttl).toBeLessThanOrEqual(60);
    const refreshed = await client.command('refresh', {
      token: await app.token('alice', { expiresIn: 3600 }),
    });
    expect(refreshed.error).toBeUndefined();
    expect(refreshed.refresh.client).toBe(first.connect.client);
    expect(refreshed.refresh.expires).toBe(true);
    expect(refreshed.refresh.ttl).toBeGreaterThan(60);
  });

  it('closes 3005 once the token expired and the grace period passed without a refresh', async () => {
    const client = await raw();
    const reply = await client.connect(await app.token('alice', { expiresIn: 2 }));
    expect(reply.connect.expires).toBe(true);
    expect(await client.closedWithin(10_000)).toEqual({ code: 3005, reason: 'connection expired' });
  });

  it('closes 3500 when a refresh token belongs to another user', async () => {
    const client = await connected('alice');
    client.send(JSON.stringify({ id: 9, refresh: { token: await app.token('bob', { expiresIn: 600 }) } }));
    expect((await client.closedWithin()).code).toBe(3500);
  });

  it('closes 3501 when the first command is not connect', async () => {
    const client = await raw();
    client.send(JSON.stringify({ id: 1, subscribe: { channel: 'chat:user:alice' } }));
    const closed = await client.closedWithin();
    expect(closed).toEqual({ code: 3501, reason: 'bad request' });
  });

  it('closes 3501 on malformed JSON', async () => {
    const client = await raw();
    client.send('{"id":1,"connect":');
    expect((await client.closedWithin()).code).toBe(3501);
  });

  it('closes 3501 on a JSON value that is not a command object', async () => {
    const client = await connected();
    client.send('[1,2,3]');
    expect((await client.closedWithin()).code).toBe(3501);
  });

  it('closes 3500 for an invalid token', async () => {
    const client = await raw();
    client.send(JSON.stringify({ id: 1, connect: { token: 'not-a-jwt' } }));
    expect((await client.closedWithin()).code).toBe(3500);

    const forged = await new SignJWT({ user_id: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .sign(new TextEncoder().encode('a-secret-that-is-not-the-apps-secret'));
    const second = await raw();
    second.send(JSON.stringify({ id: 1, connect: { token: forged } }));
    expect((await second.closedWithin()).code).toBe(3500);
  });

  it('replies error 109 for an expired token, so the client fetches a new one', async () => {
    const client = await raw();
    const reply = await client.connect(await app.token('alice', { expiresIn: -60 }));
    expect(reply.error).toMatchObject({ code: 109 });
    expect(reply.connect).toBeUndefined();
  });

  it('closes 3500 for an unknown api key', async () => {
    const client = await raw(`${base}?api_key=no-such-key`);
    client.send(JSON.stringify({ id: 1, connect: { token: await app.token('alice') } }));
    expect((await client.closedWithin()).code).toBe(3500);
  });

  it('closes 3502 when no connect arrives in time', async () => {
    const client = await raw();
    expect(await client.closedWithin(GATEWAY.staleMs + 5_000)).toEqual({ code: 3502, reason: 'stale' });
  });
});

describe('commands', () => {
  it('processes the commands of one frame in order and batches replies', async () => {
    const client = await raw();
    const token = await app.token('alice');
    // connect must complete before subscribe, and subscribe before presence_stats and history.
    client.send(
      [
        { id: 1, connect: { token } },
        { id: 2, subscribe: { channel: 'chat:channel:messaging:general' } },
        { id: 3, presence_stats: { channel: 'chat:channel:messaging:general' } },
        { id: 4, history: { channel: 'chat:channel:messaging:general' } },
      ]
        .map((c) => JSON.stringify(c))
        .join('\n'),
    );
    await client.waitFor((m) => m.id === 4);
    const replies = client.messages.filter((m) => m.id !== undefined);
    expect(replies.map((m) => m.id)).toEqual([1, 2, 3, 4]);
    expect(replies.every((m) => m.error === undefined)).toBe(true);
    expect(replies[2]!.presence_stats).toEqual({ num_clients: 1, num_users: 1 });

    // Cheap commands in one frame get their replies in one frame, in order.
    const framesBefore = client.frames.length;
    client.send([10, 11, 12, 13, 14].map((id) => JSON.stringify({ id, ping: {} })).join('\n'));
    await client.waitFor((m) => m.id === 14);
    const batch = client.frames.slice(framesBefore).find((f) => f.includes('"id":10'));
    expect(batch?.split('\n').map((line) => JSON.parse(line).id)).toEqual([10, 11, 12, 13, 14]);
  });

  it('answers a duplicate subscribe with 105', async () => {
    const client = await connected();
    const first = await client.command('subscribe', { channel: 'chat:user:alice' });
    expect(first.subscribe).toMatchObject({ recoverable: true, positioned: true });
    expect(typeof first.subscribe.epoch).toBe('string');
    const second = await client.command('subscribe', { channel: 'chat:user:alice' });
    expect(second.error).toMatchObject({ code: 105 });
  });

  it('answers an unknown channel namespace with 102', async () => {
    const client = await connected();
    expect((await client.command('subscribe', { channel: 'news:sports' })).error.code).toBe(102);
    expect((await client.command('subscribe', { channel: 'no-namespace' })).error.code).toBe(102);
    expect(
      (await client.command('subscribe', { channel: 'chat:channel:messaging:missing' })).error.code,
    ).toBe(102);
  });

  it('answers a bad channel name with 107 and keeps the connection', async () => {
    const client = await connected();
    expect((await client.command('subscribe', { channel: '' })).error.code).toBe(107);
    expect((await client.command('subscribe', { channel: 'x'.repeat(300) })).error.code).toBe(107);
    expect((await client.command('subscribe', {})).error.code).toBe(107);
    expect((await client.command('ping', {})).ping).toEqual({});
  });

  it('answers publish with 103: messages go through the REST API', async () => {
    const client = await connected();
    await client.command('subscribe', { channel: 'chat:channel:messaging:general' });
    const reply = await client.command('publish', {
      channel: 'chat:channel:messaging:general',
      data: { x: 1 },
    });
    expect(reply.error.code).toBe(103);
  });

  it('does not reply to async send messages', async () => {
    const client = await connected();
    client.send(JSON.stringify({ send: { data: { hello: 'server' } } }));
    const pong = await client.command('ping', {});
    expect(pong.ping).toEqual({});
    expect(client.messages.filter((m) => m.id !== undefined).map((m) => m.id)).toEqual([1, pong.id]);
  });

  it('answers an unknown rpc method with 104', async () => {
    const client = await connected();
    expect((await client.command('rpc', { method: 'nope', data: {} })).error.code).toBe(104);
    expect((await client.command('rpc', { data: {} })).error.code).toBe(104);
  });

  it('refuses presence and history of a channel the connection is not subscribed to', async () => {
    const client = await connected();
    const channel = 'chat:channel:messaging:general';
    expect((await client.command('presence', { channel })).error.code).toBe(103);
    expect((await client.command('history', { channel, limit: 10 })).error.code).toBe(103);
  });

  it('always sends both presence_stats counts, even when they are 0', async () => {
    const client = await connected();
    await client.command('subscribe', { channel: 'chat:user:alice' });
    const reply = await client.command('presence_stats', { channel: 'chat:user:alice' });
    expect(reply.presence_stats).toEqual({ num_clients: 0, num_users: 0 });
    const presence = await client.command('presence', { channel: 'chat:user:alice' });
    expect(presence.presence).toEqual({ presence: {} });
  });

  it('lists channel presence with client info', async () => {
    const alice = await connected('alice');
    const bob = await connected('bob');
    const channel = 'chat:channel:messaging:general';
    const aliceSub = await alice.command('subscribe', { channel, join_leave: true });
    expect(aliceSub.error).toBeUndefined();
    await bob.command('subscribe', { channel });
    const join = await alice.waitFor((m) => m.push?.join);
    expect(join.push).toMatchObject({ channel, join: { info: { user: 'bob' } } });
    const presence = await alice.command('presence', { channel });
    const users = Object.values(presence.presence.presence as Record<string, { user: string }>)
      .map((c) => c.user)
      .sort();
    expect(users).toEqual(['alice', 'bob']);
    expect((await alice.command('presence_stats', { channel })).presence_stats).toEqual({
      num_clients: 2,
      num_users: 2,
    });
    bob.close();
    const leave = await alice.waitFor((m) => m.push?.leave);
    expect(leave.push.leave.info.user).toBe('bob');
  });

  it('serves history with limit, since and reverse, and 112 for another epoch', async () => {
    const client = await connected();
    const channel = 'chat:channel:messaging:history';
    const sub = await client.command('subscribe', { channel });
    const { epoch, offset: start } = sub.subscribe;
    const sent: Frame[] = [];
    for (let i = 0; i < 5; i++) sent.push(await sendMessage(client, 'history', `h${i}`));
    expect(sent.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5].map((n) => start + n));
    const ids = sent.map((p) => p.data.message.id);
    const idsOf = (reply: Frame) => (reply.history.publications ?? []).map((p: Frame) => p.data.message?.id);

    const positionOnly = await client.command('history', { channel });
    expect(positionOnly.history).toEqual({ epoch, offset: start + 5 });

    const all = await client.command('history', { channel, limit: -1 });
    expect(idsOf(all).slice(-5)).toEqual(ids);

    const firstTwo = await client.command('history', { channel, limit: 2, since: { offset: start, epoch } });
    expect(idsOf(firstTwo)).toEqual(ids.slice(0, 2));
    expect(firstTwo.history.publications.map((p: Frame) => p.offset)).toEqual([start + 1, start + 2]);

    const after = await client.command('history', {
      channel,
      limit: 10,
      since: { offset: start + 3, epoch },
    });
    expect(idsOf(after)).toEqual(ids.slice(3));

    const newest = await client.command('history', { channel, limit: 2, reverse: true });
    expect(idsOf(newest)).toEqual([ids[4], ids[3]]);

    const before = await client.command('history', {
      channel,
      limit: 2,
      reverse: true,
      since: { offset: start + 3, epoch },
    });
    expect(idsOf(before)).toEqual([ids[1], ids[0]]);

    const otherEpoch = await client.command('history', {
      channel,
      limit: 10,
      since: { offset: 1, epoch: 'nope' },
    });
    expect(otherEpoch.error.code).toBe(112);

    const badReverse = await client.command('history', {
      channel,
      limit: 1,
      reverse: true,
      since: { offset: 0 },
    });
    expect(badReverse.error.code).toBe(107);
    expect((await client.command('history', { channel, limit: 1.5 })).error.code).toBe(107);
  });

  it('recovers missed publications on resubscribe with recover, offset and epoch', async () => {
    const channel = 'chat:channel:messaging:recover';
    const watcher = await connected('bob');
    await watcher.command('subscribe', { channel });
    const client = await connected('alice');
    const first = await client.command('subscribe', { channel });
    const { epoch, offset } = first.subscribe;
    await client.command('unsubscribe', { channel });

    const missed: Frame[] = [];
    for (let i = 0; i < 3; i++) missed.push(await sendMessage(watcher, 'recover', `missed ${i}`));

    const again = await client.command('subscribe', { channel, recover: true, offset, epoch });
    expect(again.subscribe).toMatchObject({
      recoverable: true,
      positioned: true,
      epoch,
      offset,
      was_recovering: true,
      recovered: true,
    });
    expect(again.subscribe.publications.map((p: Frame) => p.offset)).toEqual(missed.map((p) => p.offset));
    expect(again.subscribe.publications.map((p: Frame) => p.data.message.id)).toEqual(
      missed.map((p) => p.data.message.id),
    );

    // Nothing missed: recovered, no publications.
    const top = missed.at(-1)!.offset;
    const fresh = await connected('alice');
    const upToDate = await fresh.command('subscribe', { channel, recover: true, offset: top, epoch });
    expect(upToDate.subscribe).toMatchObject({ was_recovering: true, recovered: true, offset: top });
    expect(upToDate.subscribe.publications).toBeUndefined();

    // Another epoch: told it is not recovered, given the current position, no publications.
    const stale = await connected('alice');
    const lost = await stale.command('subscribe', { channel, recover: true, offset: 1, epoch: 'old-epoch' });
    expect(lost.subscribe.was_recovering).toBe(true);
    expect(lost.subscribe.recovered).toBeUndefined();
    expect(lost.subscribe.publications).toBeUndefined();
    expect(lost.subscribe).toMatchObject({ epoch, offset: top });

    // A position ahead of the stream is not recoverable either.
    const ahead = await connected('alice');
    const future = await ahead.command('subscribe', { channel, recover: true, offset: top + 100, epoch });
    expect(future.subscribe.recovered).toBeUndefined();
    expect(future.subscribe.offset).toBe(top);

    // Clients with getState set flag bit 2 and want error 112 instead of a fresh position.
    const strict = await connected('alice');
    const rejected = await strict.command('subscribe', {
      channel,
      recover: true,
      offset: 1,
      epoch: 'old-epoch',
      flag: 3,
    });
    expect(rejected.error.code).toBe(112);
    const fine = await strict.command('subscribe', { channel, recover: true, offset: top, epoch, flag: 3 });
    expect(fine.subscribe.recovered).toBe(true);
  });

  it('never recovers partially: more missed publications than the recovery limit is not recovered', async () => {
    const channel = 'chat:user:bob';
    const client = await connected('bob');
    const first = await client.command('subscribe', { channel });
    const { epoch, offset } = first.subscribe;
    await client.command('unsubscribe', { channel });
    for (let i = 0; i < 301; i++)
      await server.parley.realtime.gateway.publish(app.id, channel, { type: 'test.bulk', i });
    const again = await client.command('subscribe', { channel, recover: true, offset, epoch });
    expect(again.subscribe).toMatchObject({ was_recovering: true, epoch, offset: offset + 301 });
    expect(again.subscribe.recovered).toBeUndefined();
    expect(again.subscribe.publications).toBeUndefined();
    // 300 missed is still recovered in full.
    await client.command('unsubscribe', { channel });
    for (let i = 0; i < 300; i++)
      await server.parley.realtime.gateway.publish(app.id, channel, { type: 'test.bulk', i });
    const full = await client.command('subscribe', { channel, recover: true, offset: offset + 301, epoch });
    expect(full.subscribe.recovered).toBe(true);
    expect(full.subscribe.publications).toHaveLength(300);
    expect(full.subscribe.publications.at(-1).offset).toBe(offset + 601);
  });

  it('answers a subscription beyond the per-connection limit with 106', async () => {
    const client = await connected();
    for (const id of ['lim1', 'lim2', 'lim3', 'lim4']) {
      const reply = await client.command('subscribe', { channel: `chat:channel:messaging:${id}` });
      expect(reply.error).toBeUndefined();
    }
    const fifth = await client.command('subscribe', { channel: 'chat:user:alice' });
    expect(fifth.error.code).toBe(106);
    await client.command('unsubscribe', { channel: 'chat:channel:messaging:lim1' });
    expect((await client.command('subscribe', { channel: 'chat:user:alice' })).error).toBeUndefined();
  });
});

describe('liveness and limits', () => {
  it('pings at the announced interval and closes 3012 when no pong comes back', async () => {
    const client = await raw();
    client.autoPong = false;
    const reply = await client.connect(await app.token('alice'));
    expect(reply.connect.ping).toBe(GATEWAY.pingIntervalMs / 1000);
    await client.waitFor((m) => Object.keys(m).length === 0, 10_000);
    expect(await client.closedWithin(10_000)).toEqual({ code: 3012, reason: 'no pong' });
  });

  it('keeps a connection that answers pings', async () => {
    const client = await connected();
    await eventually(() => client.messages.filter((m) => Object.keys(m).length === 0).length >= 2, 10_000);
    expect(client.closeEvent).toBeUndefined();
    expect((await client.command('ping', {})).ping).toEqual({});
  });

  it('closes 1009 on a frame larger than the maximum message size', async () => {
    const client = await connected();
    client.send(JSON.stringify({ id: 5, rpc: { method: 'x', data: 'y'.repeat(70 * 1024) } }));
    expect((await client.closedWithin()).code).toBe(1009);
  });

  it('closes 3013 when a connection sends too many commands', async () => {
    const client = await connected();
    const flood = Array.from({ length: 1_000 }, (_, i) => JSON.stringify({ id: i + 10, ping: {} })).join(
      '\n',
    );
    client.send(flood);
    expect(await client.closedWithin()).toEqual({ code: 3013, reason: 'too many requests' });
  });

  it('disconnects a slow consumer with 3008 instead of buffering without bound', async () => {
    const client = await connected();
    const channel = 'chat:user:alice';
    await client.command('subscribe', { channel });
    const slow = server.parley.metrics.realtime.slowDisconnects;
    const before = (await slow.get()).values[0]?.value ?? 0;
    // The client stops reading: the kernel buffers fill up, then the server's socket buffer grows.
    client.ws.pause();
    const blob = 'x'.repeat(64 * 1024);
    let slowCount = before;
    for (let i = 0; i < 2_000 && slowCount === before; i++) {
      await server.parley.realtime.gateway.publish(app.id, channel, { type: 'test.blob', i, blob });
      await new Promise((r) => setImmediate(r));
      slowCount = (await slow.get()).values[0]?.value ?? 0;
    }
    expect(slowCount).toBe(before + 1);
    client.ws.resume();
    expect(await client.closedWithin(10_000)).toEqual({ code: 3008, reason: 'slow' });
  });

  it('keeps serving other connections after all of the above', async () => {
    const client = await connected('bob');
    await client.command('subscribe', { channel: 'chat:channel:messaging:general' });
    const pub = await sendMessage(client, 'general', 'still alive');
    expect(pub.data.message.text).toBe('still alive');
  });
});
