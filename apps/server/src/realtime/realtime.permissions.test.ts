import type { Centrifuge, DisconnectedContext, UnsubscribedContext } from 'centrifuge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import {
  connectCentrifuge,
  listenForGateway,
  nextPublication,
  RawClient,
  subscribed,
} from '../test-support/realtime-clients.js';

/**
 * Server-side permission checks of the realtime gateway: membership changes, bans, revoked tokens
 * and deleted users end subscriptions or connections with the protocol's codes, and nothing
 * crosses from one app (tenant) to another.
 */

let server: TestServer;
let app: TestApp;
let other: TestApp;
let base: string;
let url: string;
const clients: Centrifuge[] = [];
const raws: RawClient[] = [];

const USERS = ['alice', 'bob', 'carol', 'dave', 'frank', 'gina'];

beforeAll(async () => {
  server = await createTestServer();
  base = await listenForGateway(server);
  app = await server.createApp();
  other = await server.createApp();
  url = `${base}?api_key=${app.apiKey}`;
  await app.server.post('/users', { users: USERS.map((id) => ({ id })) });
  for (const id of ['removal', 'removal-raw', 'ban']) {
    const res = await app.server.post('/channels', {
      type: 'messaging',
      id,
      members: ['alice', 'bob'],
      created_by: 'alice',
    });
    expect(res.status).toBe(201);
  }
  // The other app has a channel with the same kind of name and the same user ids.
  await other.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  const secret = await other.server.post('/channels', {
    type: 'messaging',
    id: 'secret',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(secret.status).toBe(201);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const r of raws.splice(0)) r.close();
});
afterAll(async () => {
  await server?.close();
});

async function connect(userId: string, target = app) {
  const { client } = await connectCentrifuge(`${base}?api_key=${target.apiKey}`, await target.token(userId));
  clients.push(client);
  return client;
}

async function rawConnect(userId: string) {
  const client = await RawClient.open(url);
  raws.push(client);
  const reply = await client.connect(await app.token(userId));
  expect(reply.error).toBeUndefined();
  return client;
}

function unsubscribedEvent(sub: {
  once(event: 'unsubscribed', cb: (ctx: UnsubscribedContext) => void): void;
}) {
  return withTimeout(new Promise<UnsubscribedContext>((resolve) => sub.once('unsubscribed', resolve)));
}

function disconnectedEvent(client: Centrifuge) {
  return withTimeout(new Promise<DisconnectedContext>((resolve) => client.once('disconnected', resolve)));
}

/** The bound: a removed or banned user loses access within 5 s. */
function withTimeout<T>(promise: Promise<T>, ms = 5_000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms).unref()),
  ]);
}

/** Subscribes expecting a refusal; resolves with the error code. */
function refusal(client: Centrifuge, channel: string) {
  const sub = client.newSubscription(channel);
  return withTimeout(
    new Promise<number>((resolve) => {
      sub.once('unsubscribed', (ctx) => resolve(ctx.code));
      sub.once('subscribed', () => resolve(-1));
      sub.subscribe();
    }),
  );
}

describe('membership changes end subscriptions', () => {
  it('ends the subscription of a removed member with unsubscribe code 2000', async () => {
    const bob = await connect('bob');
    const sub = bob.newSubscription('chat:channel:messaging:removal');
    await subscribed(sub);
    const ended = unsubscribedEvent(sub);
    const res = await app.server.post('/channels/messaging/removal/members/remove', { user_ids: ['bob'] });
    expect(res.status).toBe(200);
    expect((await ended).code).toBe(2000);
    expect(sub.state).toBe('unsubscribed');
    // The connection itself stays up.
    expect(bob.state).toBe('connected');
    // And the removed member cannot subscribe again.
    bob.removeSubscription(sub);
    expect(await refusal(bob, 'chat:channel:messaging:removal')).toBe(103);
  });

  it('stops delivering to a removed member after the unsubscribe push (raw protocol)', async () => {
    const channel = 'chat:channel:messaging:removal-raw';
    const bob = await rawConnect('bob');
    expect((await bob.command('subscribe', { channel })).error).toBeUndefined();
    expect((await bob.command('subscribe', { channel: 'chat:user:bob' })).error).toBeUndefined();
    await app.server.post('/channels/messaging/removal-raw/members/remove', { user_ids: ['bob'] });
    const push = await bob.waitFor((m) => m.push?.unsubscribe !== undefined);
    expect(push.push).toEqual({
      channel,
      unsubscribe: { code: 2000, reason: 'removed from channel' },
    });
    const alice = await app.as('alice');
    const sent = await alice.post('/channels/messaging/removal-raw/messages', { text: 'not for bob' });
    expect(sent.status).toBe(201);
    // A publication on bob's own channel after the message: anything for the channel would precede it.
    await server.parley.realtime.gateway.publish(app.id, 'chat:user:bob', { type: 'test.sentinel' });
    await bob.waitFor((m) => m.push?.pub?.data?.type === 'test.sentinel');
    const after = bob.messages.slice(bob.messages.indexOf(push));
    expect(after.filter((m) => m.push?.channel === channel && m.push.pub)).toEqual([]);
  });

  it('ends the subscription of a member banned from the channel', async () => {
    const bob = await connect('bob');
    const sub = bob.newSubscription('chat:channel:messaging:ban');
    await subscribed(sub);
    const ended = unsubscribedEvent(sub);
    const res = await app.server.patch('/channels/messaging/ban/members/bob', { banned: true });
    expect(res.status).toBe(200);
    expect(res.body.member.banned).toBe(true);
    expect((await ended).code).toBe(2000);
    bob.removeSubscription(sub);
    expect(await refusal(bob, 'chat:channel:messaging:ban')).toBe(103);
  });

  it('sends notification.added_to_channel to the added user’s private channel', async () => {
    const gina = await connect('gina');
    const own = gina.newSubscription('chat:user:gina');
    await subscribed(own);
    const created = await app.server.post('/channels', {
      type: 'messaging',
      id: 'welcome',
      members: ['alice'],
      created_by: 'alice',
    });
    expect(created.status).toBe(201);
    const notified = nextPublication(own, (d) => d.type === 'notification.added_to_channel');
    const res = await app.server.post('/channels/messaging/welcome/members', { user_ids: ['gina'] });
    expect(res.status).toBe(200);
    const { data } = await notified;
    expect(data.cid).toBe('messaging:welcome');
    expect(data.member.user_id).toBe('gina');
    // The new member may subscribe now.
    await subscribed(gina.newSubscription('chat:channel:messaging:welcome'));
  });
});

describe('user-level actions close connections', () => {
  it('closes the connections of a user banned from the app with 4501', async () => {
    const carol = await connect('carol');
    const closed = disconnectedEvent(carol);
    const res = await app.server.post('/users', { users: [{ id: 'carol', banned: true }] });
    expect(res.status).toBe(200);
    expect(await closed).toMatchObject({ code: 4501, reason: 'banned' });
    expect(carol.state).toBe('disconnected');

    // ...and cannot come back while the ban lasts.
    const again = await RawClient.open(url);
    raws.push(again);
    again.send(JSON.stringify({ id: 1, connect: { token: await app.token('carol') } }));
    expect(await again.closed).toMatchObject({ code: 4501, reason: 'banned' });
  });

  it('closes the connections of a user whose tokens are revoked with 3500', async () => {
    const dave = await connect('dave');
    const second = await connect('dave');
    const closed = [disconnectedEvent(dave), disconnectedEvent(second)];
    const res = await app.server.post('/users/dave/revoke-tokens', {});
    expect(res.status).toBe(200);
    for (const ctx of await Promise.all(closed)) expect(ctx.code).toBe(3500);
  });

  it('closes the connections of a deleted user with 4502', async () => {
    const frank = await connect('frank');
    const closed = disconnectedEvent(frank);
    const res = await app.server.delete('/users/frank');
    expect(res.status).toBe(200);
    expect(await closed).toMatchObject({ code: 4502, reason: 'user deleted' });
  });

  it('leaves other users connected', async () => {
    const alice = await connect('alice');
    const own = alice.newSubscription('chat:user:alice');
    await subscribed(own);
    const next = nextPublication(own, (d) => d.type === 'test.ping');
    await server.parley.realtime.gateway.publish(app.id, 'chat:user:alice', { type: 'test.ping' });
    await next;
    expect(alice.state).toBe('connected');
  });
});

describe('tenancy and private channels', () => {
  it('refuses a token of one app presented with another app’s api key (3500)', async () => {
    const client = await RawClient.open(`${base}?api_key=${other.apiKey}`);
    raws.push(client);
    client.send(JSON.stringify({ id: 1, connect: { token: await app.token('alice') } }));
    expect((await client.closedWithin()).code).toBe(3500);
  });

  it('looks channel names up in the connection’s own app: another app’s channel is refused', async () => {
    const bob = await connect('bob');
    const code = await refusal(bob, 'chat:channel:messaging:secret');
    expect([102, 103]).toContain(code);
    // The same user in the other app may subscribe there.
    const bobThere = await connect('bob', other);
    await subscribed(bobThere.newSubscription('chat:channel:messaging:secret'));
  });

  it('refuses another user’s private channel with 103', async () => {
    const bob = await connect('bob');
    expect(await refusal(bob, 'chat:user:alice')).toBe(103);
    await subscribed(bob.newSubscription('chat:user:bob'));
  });

  it('refuses a non-member with 103', async () => {
    const carolLike = await connect('alice');
    const res = await app.server.post('/channels', {
      type: 'messaging',
      id: 'closed-club',
      members: ['bob'],
      created_by: 'bob',
    });
    expect(res.status).toBe(201);
    expect(await refusal(carolLike, 'chat:channel:messaging:closed-club')).toBe(103);
  });
});
