import type { Centrifuge, PublicationContext, SubscribedContext, Subscription } from 'centrifuge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import {
  connectCentrifuge,
  eventually,
  listenForGateway,
  nextPublication,
  type RawClient,
  subscribed,
} from '../test-support/realtime-clients.js';

/** Typing in a thread names the thread's parent message id. */
const THREAD = '01900000-0000-7000-8000-000000000001';
const OTHER_THREAD = '01900000-0000-7000-8000-000000000002';

/**
 * Typing indicators and read state over the realtime gateway: rpc `typing.start`/`typing.stop`
 * (throttled, expired by the server, ephemeral: no offset, no history) and rpc `mark_read` /
 * REST mark-read (message.read to the channel, notification.mark_read to the user).
 */

let server: TestServer;
let app: TestApp;
let url: string;
const clients: Centrifuge[] = [];
const raws: RawClient[] = [];

const CHANNELS = ['typing1', 'typing2', 'typing3', 'reads-rpc', 'reads-rest', 'recover'];

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  url = await listenForGateway(server, app.apiKey);
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  for (const id of CHANNELS) {
    const res = await app.server.post('/channels', {
      type: 'messaging',
      id,
      members: ['alice', 'bob'],
      created_by: 'alice',
    });
    expect(res.status).toBe(201);
  }
  const live = await app.server.post('/channels', {
    type: 'livestream',
    id: 'live',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(live.status).toBe(201);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const r of raws.splice(0)) r.close();
});
afterAll(async () => {
  await server?.close();
});

async function connect(userId: string) {
  const connected = await connectCentrifuge(url, await app.token(userId));
  clients.push(connected.client);
  return connected;
}

async function subscribe(client: Centrifuge, channel: string) {
  const sub = client.newSubscription(channel);
  const received: PublicationContext[] = [];
  sub.on('publication', (ctx) => received.push(ctx));
  await subscribed(sub);
  return { sub, received };
}

async function send(channelId: string, text: string): Promise<string> {
  const alice = await app.as('alice');
  const res = await alice.post(`/channels/messaging/${channelId}/messages`, { text });
  expect(res.status).toBe(201);
  return res.body.message.id;
}

const types = (received: PublicationContext[]) => received.map((p) => p.data.type);

describe('typing', () => {
  it('publishes typing.start to the channel, throttles repeats, and stops when a message is sent', async () => {
    const { client: alice } = await connect('alice');
    const { client: bob } = await connect('bob');
    const { sub, received } = await subscribe(bob, 'chat:channel:messaging:typing1');

    const started = nextPublication(sub, (d) => d.type === 'typing.start');
    const reply = await alice.rpc('typing.start', { cid: 'messaging:typing1' });
    expect(reply.data).toBeUndefined();
    const start = await started;
    expect(start.data).toMatchObject({ cid: 'messaging:typing1', user_id: 'alice', parent_id: null });
    // Ephemeral: no offset, so it is not part of the stream the client recovers.
    expect(start.offset ?? 0).toBe(0);

    // A second start within 2 s is not published again.
    await alice.rpc('typing.start', { cid: 'messaging:typing1' });
    const id = await send('typing1', 'done typing');
    await eventually(() => types(received).includes('typing.stop'));
    const seen = types(received).filter((t) => t !== 'user.presence');
    expect(seen).toEqual(['typing.start', 'message.new', 'typing.stop']);
    expect(received.find((p) => p.data.type === 'message.new')!.data.message.id).toBe(id);
  });

  it('publishes typing.stop on request, and only once', async () => {
    const { client: alice } = await connect('alice');
    const { client: bob } = await connect('bob');
    const { received } = await subscribe(bob, 'chat:channel:messaging:typing2');
    await alice.rpc('typing.start', { cid: 'messaging:typing2', parent_id: THREAD });
    await alice.rpc('typing.stop', { cid: 'messaging:typing2', parent_id: THREAD });
    await alice.rpc('typing.stop', { cid: 'messaging:typing2', parent_id: THREAD });
    await eventually(() => types(received).includes('typing.stop'));
    const typing = received.filter((p) => p.data.type.startsWith('typing.'));
    expect(typing.map((p) => [p.data.type, p.data.parent_id])).toEqual([
      ['typing.start', THREAD],
      ['typing.stop', THREAD],
    ]);
  });

  it('stops typing by itself a few seconds after the last start', async () => {
    const { client: alice } = await connect('alice');
    const { client: bob } = await connect('bob');
    const { sub } = await subscribe(bob, 'chat:channel:messaging:typing3');
    const stopped = nextPublication(sub, (d) => d.type === 'typing.stop', 15_000);
    await alice.rpc('typing.start', { cid: 'messaging:typing3' });
    expect((await stopped).data).toMatchObject({ cid: 'messaging:typing3', user_id: 'alice' });
  }, 20_000);

  it('refuses typing where the channel type has typing events off, and without a cid', async () => {
    const { client: alice } = await connect('alice');
    await expect(alice.rpc('typing.start', { cid: 'livestream:live' })).rejects.toMatchObject({ code: 103 });
    await expect(alice.rpc('typing.start', {})).rejects.toMatchObject({ code: 400 });
    await expect(
      alice.rpc('typing.start', { cid: 'messaging:typing1', parent_id: 'x'.repeat(5000) }),
    ).rejects.toMatchObject({
      code: 400,
    });
    await expect(alice.rpc('typing.start', { cid: 'messaging:nowhere' })).rejects.toMatchObject({
      code: 102,
    });
  });

  it('keeps recovery intact through typing traffic', async () => {
    const channel = 'chat:channel:messaging:recover';
    const { client: alice } = await connect('alice');
    const { client: bob, sockets } = await connect('bob');
    const sub = bob.newSubscription(channel);
    const events: SubscribedContext[] = [];
    const messages: string[] = [];
    const typing: PublicationContext[] = [];
    sub.on('subscribed', (ctx) => events.push(ctx));
    sub.on('publication', (ctx) => {
      if (ctx.data.type === 'message.new') messages.push(ctx.data.message.id);
      if (ctx.data.type.startsWith('typing.')) typing.push(ctx);
    });
    await subscribed(sub);

    const sent: string[] = [];
    await alice.rpc('typing.start', { cid: 'messaging:recover' });
    sent.push(await send('recover', 'one'));
    await alice.rpc('typing.start', { cid: 'messaging:recover', parent_id: THREAD });
    await eventually(() => messages.length === 1 && typing.length >= 3);
    expect(typing.every((p) => (p.offset ?? 0) === 0)).toBe(true);

    sockets.at(-1)!.terminate();
    await alice.rpc('typing.start', { cid: 'messaging:recover', parent_id: OTHER_THREAD });
    sent.push(await send('recover', 'two'));
    await eventually(() => events.length === 2 && messages.length === 2);
    expect(events[1]).toMatchObject({ wasRecovering: true, recovered: true });
    sent.push(await send('recover', 'three'));
    await eventually(() => messages.length === 3);
    expect(messages).toEqual(sent);
  });
});

describe('read state', () => {
  async function unreadOf(userId: string, cid: string) {
    const api = await app.as(userId);
    const res = await api.get('/unread');
    expect(res.status).toBe(200);
    return {
      total: res.body.total_unread_count as number,
      channel: res.body.channels.find((c: { cid: string }) => c.cid === cid)?.unread_count ?? 0,
    };
  }

  for (const via of ['rpc', 'rest'] as const) {
    it(`marks a channel read via ${via}: unread counts, message.read and notification.mark_read`, async () => {
      const channelId = via === 'rpc' ? 'reads-rpc' : 'reads-rest';
      const cid = `messaging:${channelId}`;
      for (const text of ['a', 'b', 'c']) await send(channelId, text);
      expect((await unreadOf('bob', cid)).channel).toBe(3);

      const { client: alice } = await connect('alice');
      const { client: bob } = await connect('bob');
      const { sub: channelSub } = await subscribe(alice, `chat:channel:${cid}`);
      const { sub: bobSub } = await subscribe(bob, 'chat:user:bob');
      const read = nextPublication(channelSub, (d) => d.type === 'message.read');
      const notification = nextPublication(
        bobSub,
        (d) => d.type === 'notification.mark_read' && d.cid === cid,
      );

      let counts: { total_unread_count: number; channels: { cid: string; unread_count: number }[] };
      if (via === 'rpc') {
        counts = (await bob.rpc('mark_read', { cid })).data;
      } else {
        const res = await (await app.as('bob')).post(`/channels/messaging/${channelId}/read`, {});
        expect(res.status).toBe(200);
        counts = res.body;
      }
      expect(counts.channels.find((c) => c.cid === cid)?.unread_count).toBe(0);
      const after = await unreadOf('bob', cid);
      expect(after.channel).toBe(0);
      expect(counts.total_unread_count).toBe(after.total);

      const readEvent = (await read).data;
      expect(readEvent).toMatchObject({ cid, user_id: 'bob' });
      expect(readEvent.last_read_seq).toBeGreaterThanOrEqual(3);
      const note = (await notification).data;
      expect(note).toMatchObject({ user_id: 'bob', cid, total_unread_count: after.total });
      expect(typeof note.unread_channels).toBe('number');
    });
  }

  it('refuses mark_read for a channel the user is not a member of', async () => {
    const created = await app.server.post('/channels', {
      type: 'messaging',
      id: 'not-bobs',
      members: ['alice'],
      created_by: 'alice',
    });
    expect(created.status).toBe(201);
    const { client: bob } = await connect('bob');
    const error = await bob.rpc('mark_read', { cid: 'messaging:not-bobs' }).catch((e) => e);
    expect([103, 404]).toContain(error.code);
    expect(bob.state).toBe('connected');
  });
});
