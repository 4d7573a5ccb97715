import { Centrifuge, type Subscription } from 'centrifuge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import WebSocket from 'ws';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';
import {
  type BrowserSubscription,
  type OneSignalStandIn,
  startOneSignal,
  startWebPushService,
  type WebPushService,
} from '../../test-support/push-receivers.js';
import { listenForGateway } from '../../test-support/realtime-clients.js';
import { eventually } from '../../test-support/webhook-receiver.js';
import { pushRepository } from './push.repository.js';

/**
 * Push end to end: real database (PGlite, or Postgres with DATABASE_URL), real pg-boss workers, a
 * local Web Push service that verifies VAPID and decrypts every push like a browser would, and a
 * local OneSignal stand-in with OneSignal's REST contract. Every rule of issue #8 has a test here.
 */
const WINDOW_MS = 2500;
const ONESIGNAL_APP = 'b2f7f966-d8cc-11e4-bed1-df8f05be55ba';
const ONESIGNAL_KEY = 'os_v2_app_test_key';

let server: TestServer;
let app: TestApp;
let service: WebPushService;
let oneSignal: OneSignalStandIn;
let wsUrl: string;
const vapid = webpush.generateVAPIDKeys();
const clients: Centrifuge[] = [];
let counter = 0;

interface Payload {
  title: string;
  body: string;
  badge: number;
  data: {
    type: string;
    app_id: string;
    cid: string;
    message_id: string;
    parent_id: string | null;
    count: number;
    cids: string[];
  };
}

beforeAll(async () => {
  service = await startWebPushService();
  oneSignal = await startOneSignal(ONESIGNAL_APP, ONESIGNAL_KEY);
  server = await createTestServer({
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: 'mailto:ops@parley.test',
    ONESIGNAL_BASE_URL: oneSignal.url,
    ONESIGNAL_APP_ID: ONESIGNAL_APP,
    ONESIGNAL_API_KEY: ONESIGNAL_KEY,
    PUSH_BUNDLE_WINDOW_MS: String(WINDOW_MS),
    JOBS_POLL_INTERVAL_MS: '500',
  });
  app = await server.createApp();
  wsUrl = await listenForGateway(server, app.apiKey);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.close();
  await service?.close();
  await oneSignal?.close();
});

/** Fresh users (prefixed, so tests never share push state) and a channel with all of them. */
async function scenario(names: string[], channels = 1) {
  const n = ++counter;
  const ids = names.map((name) => `${name}${n}`);
  const res = await app.server.post('/users', { users: ids.map((id) => ({ id, name: id })) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const cids: string[] = [];
  for (let i = 0; i < channels; i++) {
    const id = `room${n}-${i}`;
    const created = await app.server.post('/channels', {
      type: 'messaging',
      id,
      name: `Room ${n}-${i}`,
      members: ids,
      created_by: ids[0],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    cids.push(`messaging:${id}`);
  }
  return { ids, cids };
}

async function webPushDevice(userId: string): Promise<{ sub: BrowserSubscription; deviceId: string }> {
  const sub = service.subscribe(`${userId}-${Math.random().toString(36).slice(2, 8)}`);
  const res = await (await app.as(userId)).post('/devices', {
    provider: 'web_push',
    subscription: sub.toJSON(),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { sub, deviceId: res.body.device.id };
}

/** Decrypted pushes that reached a subscription. */
function received(sub: BrowserSubscription): Payload[] {
  const path = new URL(sub.endpoint).pathname;
  return service.arrivals
    .filter((a) => a.path === path)
    .map((a) => JSON.parse(sub.decrypt(a.body).toString('utf8')) as Payload);
}

async function send(userId: string, cid: string, text: string, extra: Record<string, unknown> = {}) {
  const [type, id] = cid.split(':');
  const res = await (await app.as(userId)).post(`/channels/${type}/${id}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as { id: string };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough for a push that was going to happen to have happened. */
const settle = () => sleep(WINDOW_MS + 2500);

async function rows(userId: string) {
  return pushRepository.listNotifications(server.database.db, app.id, userId);
}

async function watch(userId: string, cid: string): Promise<Subscription> {
  const client = new Centrifuge(wsUrl, { websocket: WebSocket, token: await app.token(userId) });
  clients.push(client);
  const sub = client.newSubscription(`chat:channel:${cid}`);
  await new Promise<void>((resolve, reject) => {
    sub.once('subscribed', () => resolve());
    sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code} ${ctx.reason}`)));
    client.connect();
    sub.subscribe();
  });
  // The watcher entry is written just after the subscribe reply.
  await eventually(async () =>
    expect(await server.parley.realtime.watchers.watching(app.id, cid)).toContain(userId),
  );
  return sub;
}

describe('devices and preferences', () => {
  it('registers, lists, re-registers (same device) and removes devices', async () => {
    const { ids } = await scenario(['ann']);
    const ann = await app.as(ids[0]!);
    const sub = service.subscribe('ann-device');
    const first = await ann.post('/devices', { provider: 'web_push', subscription: sub.toJSON() });
    expect(first.status).toBe(201);
    expect(first.body.device).toMatchObject({ provider: 'web_push', user_id: ids[0], token: sub.endpoint });
    const again = await ann.post('/devices', { provider: 'web_push', subscription: sub.toJSON() });
    expect(again.body.device.id).toBe(first.body.device.id);
    expect((await ann.post('/devices', { provider: 'onesignal', token: 'os-sub-1' })).status).toBe(201);
    expect((await ann.post('/devices', { provider: 'apns', token: 'a'.repeat(64) })).status).toBe(201);
    const list = await ann.get('/devices');
    expect(list.body.devices.map((d: { provider: string }) => d.provider).sort()).toEqual([
      'apns',
      'onesignal',
      'web_push',
    ]);
    // Server-side calls name the user; users cannot act for others.
    expect((await app.server.get(`/devices?user_id=${ids[0]}`)).body.devices).toHaveLength(3);
    expect((await app.server.get('/devices')).status).toBe(400);
    expect((await (await app.as('someone-else')).get(`/devices?user_id=${ids[0]}`)).status).toBe(403);
    expect((await ann.delete(`/devices/${first.body.device.id}`)).status).toBe(200);
    const missing = await ann.delete(`/devices/${first.body.device.id}`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('DEVICE_NOT_FOUND');
    expect((await ann.get('/devices')).body.devices).toHaveLength(2);
  });

  it('refuses bad device registrations', async () => {
    const ann = await app.as('bad-input-user');
    const sub = service.subscribe('bad').toJSON();
    const cases: unknown[] = [
      {},
      { provider: 'carrier_pigeon', token: 'x' },
      { provider: 'web_push' },
      { provider: 'web_push', subscription: { endpoint: sub.endpoint } },
      { provider: 'web_push', subscription: { ...sub, keys: { p256dh: 'short', auth: sub.keys.auth } } },
      { provider: 'web_push', subscription: { ...sub, endpoint: 'ftp://push.example/x' } },
      { provider: 'web_push', subscription: sub, extra: true },
      { provider: 'onesignal' },
      { provider: 'onesignal', token: '' },
      { provider: 'fcm', token: 'x'.repeat(5000) },
    ];
    for (const body of cases) {
      const res = await ann.post('/devices', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    }
    expect((await ann.delete('/devices/not-a-uuid')).status).toBe(400);
  });

  it('reads and changes preferences; refuses bad ones', async () => {
    const { ids, cids } = await scenario(['pat']);
    const pat = await app.as(ids[0]!);
    expect((await pat.get('/push/preferences')).body.preferences).toEqual({
      user_id: ids[0],
      level: 'all',
      channels: {},
      dnd: null,
      snooze_until: null,
      deliver_after_dnd: false,
    });
    const changed = await pat.patch('/push/preferences', {
      level: 'mentions',
      channels: { [cids[0]!]: 'none' },
      dnd: { start: '22:00', end: '07:00', tz: 'Europe/Berlin' },
      deliver_after_dnd: true,
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.preferences).toMatchObject({
      level: 'mentions',
      channels: { [cids[0]!]: 'none' },
      dnd: { start: '22:00', end: '07:00', tz: 'Europe/Berlin' },
      deliver_after_dnd: true,
    });
    const cleared = await pat.patch('/push/preferences', { channels: { [cids[0]!]: null }, dnd: null });
    expect(cleared.body.preferences).toMatchObject({ level: 'mentions', channels: {}, dnd: null });
    for (const body of [
      { level: 'sometimes' },
      { dnd: { start: '25:00', end: '07:00', tz: 'UTC' } },
      { dnd: { start: '22:00', end: '07:00', tz: 'Mars/Olympus' } },
      { dnd: { start: '22:00', end: '07:00' } },
      { snooze_until: 'tomorrow' },
      { channels: { 'not a cid': 'all' } },
      { unknown: 1 },
    ]) {
      const res = await pat.patch('/push/preferences', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const missing = await pat.patch('/push/preferences', { channels: { 'messaging:nope': 'all' } });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('CHANNEL_NOT_FOUND');
  });

  it('tells clients the VAPID public key and OneSignal app id', async () => {
    const res = await (await app.as('config-reader')).get('/push/config');
    expect(res.body).toEqual({
      web_push: { vapid_public_key: vapid.publicKey },
      onesignal: { app_id: ONESIGNAL_APP },
    });
  });
});

describe('Web Push and OneSignal delivery', () => {
  it('sends an encrypted, VAPID-signed Web Push the browser can decrypt, with deep link and badge', async () => {
    const { ids, cids } = await scenario(['amy', 'ben']);
    const [amy, ben] = ids as [string, string];
    const { sub } = await webPushDevice(amy);
    const message = await send(ben, cids[0]!, 'Lunch at noon?');
    const [push] = await eventually(() => {
      const got = received(sub);
      expect(got).toHaveLength(1);
      return got;
    });
    expect(push).toEqual({
      title: `${ben} in Room ${counter}-0`,
      body: 'Lunch at noon?',
      badge: 1,
      data: {
        type: 'message.new',
        app_id: app.id,
        cid: cids[0],
        message_id: message.id,
        parent_id: null,
        count: 1,
        cids: [cids[0]],
      },
    });
    const arrival = service.arrivals.find((a) => a.path === new URL(sub.endpoint).pathname)!;
    expect(arrival.headers['content-encoding']).toBe('aes128gcm');
    expect(Number(arrival.headers.ttl)).toBeGreaterThan(0);
    expect(arrival.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(arrival.vapid).toMatchObject({
      aud: service.url,
      sub: 'mailto:ops@parley.test',
      k: vapid.publicKey,
    });
    await eventually(async () => expect((await rows(amy)).map((r) => r.status)).toEqual(['sent']));
  });

  it('deep-links thread replies to their parent', async () => {
    const { ids, cids } = await scenario(['tia', 'tom']);
    const [tia, tom] = ids as [string, string];
    const { sub } = await webPushDevice(tia);
    const parent = await send(tia, cids[0]!, 'Thread start');
    const reply = await send(tom, cids[0]!, 'A reply', { parent_id: parent.id });
    const [push] = await eventually(() => {
      const got = received(sub);
      expect(got).toHaveLength(1);
      return got;
    });
    expect(push!.data).toMatchObject({ message_id: reply.id, parent_id: parent.id });
  });

  it('sends to OneSignal subscriptions with its REST contract', async () => {
    const { ids, cids } = await scenario(['ola', 'oli']);
    const [ola, oli] = ids as [string, string];
    const token = `os-${ola}`;
    expect((await (await app.as(ola)).post('/devices', { provider: 'onesignal', token })).status).toBe(201);
    const message = await send(oli, cids[0]!, 'Hello OneSignal');
    const request = await eventually(() => {
      const r = oneSignal.requests.find((q) => q.body.include_subscription_ids.includes(token));
      expect(r).toBeDefined();
      return r!;
    });
    expect(request.authorization).toBe(`Key ${ONESIGNAL_KEY}`);
    expect(request.body).toMatchObject({
      app_id: ONESIGNAL_APP,
      include_subscription_ids: [token],
      headings: { en: `${oli} in Room ${counter}-0` },
      contents: { en: 'Hello OneSignal' },
      data: { app_id: app.id, cid: cids[0], message_id: message.id, count: 1 },
      ios_badgeType: 'SetTo',
      ios_badgeCount: 1,
    });
    expect(request.body.idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
    await eventually(async () => expect((await rows(ola)).map((r) => r.status)).toEqual(['sent']));
  });
});

describe('push rules', () => {
  it('online and watching the channel → no push; online elsewhere → push', async () => {
    const { ids, cids } = await scenario(['wes', 'wil', 'wan'], 2);
    const [wes, wil, wan] = ids as [string, string, string];
    const watcher = await webPushDevice(wes);
    const other = await webPushDevice(wan);
    await watch(wes, cids[0]!);
    await send(wil, cids[0]!, 'seen live');
    // wan is not watching: their push proves the message went through the pipeline.
    await eventually(() => expect(received(other.sub)).toHaveLength(1));
    await settle();
    expect(received(watcher.sub)).toHaveLength(0);
    // wes is online but not watching the second channel: pushed.
    await send(wil, cids[1]!, 'elsewhere');
    await eventually(() => expect(received(watcher.sub)).toHaveLength(1));
    expect(received(watcher.sub)[0]!.data.cid).toBe(cids[1]);
  });

  it('muted channel → none, but a mention breaks through; muted sender → none even with a mention', async () => {
    const { ids, cids } = await scenario(['mia', 'max', 'moe']);
    const [mia, max, moe] = ids as [string, string, string];
    const muted = await webPushDevice(mia);
    const witness = await webPushDevice(moe);
    const db = server.database.db;
    await db.insertInto('channel_mutes').values({ app_id: app.id, user_id: mia, cid: cids[0]! }).execute();
    await send(max, cids[0]!, 'quiet please');
    await eventually(() => expect(received(witness.sub)).toHaveLength(1));
    await settle();
    expect(received(muted.sub)).toHaveLength(0);
    const mention = await send(max, cids[0]!, `@${mia} look`, { mentioned_user_ids: [mia] });
    await eventually(() => expect(received(muted.sub)).toHaveLength(1));
    expect(received(muted.sub)[0]!.data.message_id).toBe(mention.id);
    await eventually(() => expect(received(witness.sub)).toHaveLength(2));

    await db.insertInto('user_mutes').values({ app_id: app.id, user_id: moe, target_id: max }).execute();
    await send(max, cids[0]!, `@${moe} are you there`, { mentioned_user_ids: [moe] });
    await settle();
    expect(received(witness.sub)).toHaveLength(2);
  });

  it('mentions only: a plain message → none, a mention or a DM → push; level none → nothing', async () => {
    const { ids, cids } = await scenario(['nia', 'ned', 'nora']);
    const [nia, ned, nora] = ids as [string, string, string];
    const { sub } = await webPushDevice(nia);
    const witness = await webPushDevice(nora);
    expect((await (await app.as(nia)).patch('/push/preferences', { level: 'mentions' })).status).toBe(200);
    await send(ned, cids[0]!, 'just chatting');
    await eventually(() => expect(received(witness.sub)).toHaveLength(1));
    await settle();
    expect(received(sub)).toHaveLength(0);
    const mention = await send(ned, cids[0]!, `hey @${nia}`, { mentioned_user_ids: [nia] });
    await eventually(() => expect(received(sub)).toHaveLength(1));
    expect(received(sub)[0]!.data.message_id).toBe(mention.id);

    const dm = await app.server.post('/channels', {
      type: 'messaging',
      members: [nia, ned],
      distinct: true,
      created_by: ned,
    });
    expect([200, 201]).toContain(dm.status);
    const dmCid: string = dm.body.channel.channel.cid;
    const direct = await send(ned, dmCid, 'a direct message');
    await eventually(() => expect(received(sub)).toHaveLength(2));
    expect(received(sub)[1]!.data.message_id).toBe(direct.id);

    expect((await (await app.as(nia)).patch('/push/preferences', { level: 'none' })).status).toBe(200);
    await send(ned, dmCid, `@${nia} urgent`, { mentioned_user_ids: [nia] });
    await settle();
    expect(received(sub)).toHaveLength(2);
  });

  it('do-not-disturb → none; with deliver-after, the held pushes arrive once it ends', async () => {
    const { ids, cids } = await scenario(['dan', 'dee', 'dot']);
    const [dan, dee, dot] = ids as [string, string, string];
    const held = await webPushDevice(dan);
    const dropped = await webPushDevice(dot);
    const snoozeMs = WINDOW_MS + 4000;
    const until = new Date(Date.now() + snoozeMs).toISOString();
    await (await app.as(dan)).patch('/push/preferences', { snooze_until: until, deliver_after_dnd: true });
    await (await app.as(dot)).patch('/push/preferences', { snooze_until: until, deliver_after_dnd: false });
    const first = await send(dee, cids[0]!, 'during dnd 1');
    await send(dee, cids[0]!, 'during dnd 2');
    // Nothing while snoozed.
    await sleep(2000);
    expect(received(held.sub)).toHaveLength(0);
    expect(received(dropped.sub)).toHaveLength(0);
    const waiting = await rows(dan);
    expect(waiting.map((r) => r.status)).toEqual(['pending', 'pending']);
    expect(waiting[0]!.deliver_after?.toISOString()).toBe(until);
    expect(await rows(dot)).toHaveLength(0);
    // After the snooze: one bundle with both messages for dan, nothing for dot.
    const [push] = await eventually(() => {
      const got = received(held.sub);
      expect(got).toHaveLength(1);
      return got;
    }, snoozeMs + 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(new Date(until).getTime());
    expect(push!.data.count).toBe(2);
    expect(push!.title).toBe(`2 new messages in Room ${counter}-0`);
    expect(received(dropped.sub)).toHaveLength(0);
    expect(first.id).toBeDefined();
  }, 40_000);

  it('a time-zone schedule covering now holds pushes until its end', async () => {
    const { ids, cids } = await scenario(['zed', 'zoe']);
    const [zed, zoe] = ids as [string, string];
    const { sub } = await webPushDevice(zed);
    // Quiet hours from an hour ago to two hours from now, written in Tokyo time (UTC+9).
    const tokyo = (offsetHours: number) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Asia/Tokyo',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(new Date(Date.now() + offsetHours * 3600_000));
    const end = new Date(Date.now() + 2 * 3600_000);
    end.setUTCSeconds(0, 0);
    await (await app.as(zed)).patch('/push/preferences', {
      dnd: { start: tokyo(-1), end: tokyo(2), tz: 'Asia/Tokyo' },
      deliver_after_dnd: true,
    });
    await send(zoe, cids[0]!, 'late night');
    const [row] = await eventually(async () => {
      const r = await rows(zed);
      expect(r).toHaveLength(1);
      return r;
    });
    expect(row!.status).toBe('pending');
    expect(row!.deliver_after?.toISOString()).toBe(end.toISOString());
    await settle();
    expect(received(sub)).toHaveLength(0);
  });

  it('10 messages in quick succession from 2 chats → one bundled push', async () => {
    const { ids, cids } = await scenario(['bea', 'bob'], 2);
    const [bea, bob] = ids as [string, string];
    const { sub } = await webPushDevice(bea);
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) sent.push((await send(bob, cids[i < 6 ? 0 : 1]!, `message ${i}`)).id);
    const [push] = await eventually(() => {
      const got = received(sub);
      expect(got).toHaveLength(1);
      return got;
    });
    expect(push!.title).toBe('10 new messages from 2 chats');
    expect(push!.body).toBe(`${bob}: message 9`);
    expect(push!.badge).toBe(10);
    expect(push!.data).toMatchObject({ count: 10, message_id: sent[9], cid: cids[1] });
    expect(push!.data.cids.sort()).toEqual([...cids].sort());
    await settle();
    expect(received(sub)).toHaveLength(1);
    expect((await rows(bea)).every((r) => r.status === 'sent')).toBe(true);
  });

  it('a retried message job pushes nothing twice', async () => {
    const { ids, cids } = await scenario(['ida', 'ian']);
    const [ida, ian] = ids as [string, string];
    const { sub } = await webPushDevice(ida);
    const message = await send(ian, cids[0]!, 'only once');
    await eventually(() => expect(received(sub)).toHaveLength(1));
    // The same job again (as after a crash before completion): no new row, no new push.
    await server.parley.jobs.send(server.database.db, 'push.message', {
      app_id: app.id,
      message_id: message.id,
    });
    server.parley.jobs.wake('push.message');
    await settle();
    expect(received(sub)).toHaveLength(1);
    expect(await rows(ida)).toHaveLength(1);
  });

  it('removes devices a provider reports invalid (Web Push 410/404, OneSignal invalid ids)', async () => {
    const { ids, cids } = await scenario(['ivy', 'ike']);
    const [ivy, ike] = ids as [string, string];
    const gone = await webPushDevice(ivy);
    const unknown = await webPushDevice(ivy);
    const good = await webPushDevice(ivy);
    service.statuses.set(new URL(gone.sub.endpoint).pathname, 410);
    service.statuses.set(new URL(unknown.sub.endpoint).pathname, 404);
    const client = await app.as(ivy);
    await client.post('/devices', { provider: 'onesignal', token: `valid-${ivy}` });
    await client.post('/devices', { provider: 'onesignal', token: `stale-${ivy}` });
    oneSignal.invalid.add(`stale-${ivy}`);
    await send(ike, cids[0]!, 'who is still there?');
    await eventually(async () => {
      const devices = (await client.get('/devices')).body.devices as { id: string; token: string }[];
      expect(devices.map((d) => d.token).sort()).toEqual([good.sub.endpoint, `valid-${ivy}`].sort());
    });
    expect(received(good.sub)).toHaveLength(1);
    await eventually(async () => expect((await rows(ivy)).map((r) => r.status)).toEqual(['sent']));

    // All of a user's OneSignal ids unsubscribed: OneSignal's "All included players are not subscribed".
    const { ids: ids2, cids: cids2 } = await scenario(['una', 'uri']);
    const una = await app.as(ids2[0]!);
    await una.post('/devices', { provider: 'onesignal', token: `dead-${ids2[0]}` });
    oneSignal.invalid.add(`dead-${ids2[0]}`);
    await send(ids2[1]!, cids2[0]!, 'anyone?');
    await eventually(async () => expect((await una.get('/devices')).body.devices).toHaveLength(0));
    await eventually(async () =>
      expect((await rows(ids2[0]!)).map((r) => [r.status, r.reason])).toEqual([['dropped', 'no_device']]),
    );
  });

  it('nobody is pushed about their own message, and members only', async () => {
    const { ids, cids } = await scenario(['sam', 'sue']);
    const [sam] = ids as [string, string];
    const { sub } = await webPushDevice(sam);
    const outsider = await webPushDevice('outsider-user');
    await send(sam, cids[0]!, 'talking to myself');
    await settle();
    expect(received(sub)).toHaveLength(0);
    expect(received(outsider.sub)).toHaveLength(0);
  });
});
