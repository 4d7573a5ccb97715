import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import {
  type OneSignalStandIn,
  startOneSignal,
  startWebPushService,
  type WebPushService,
} from '../../test-support/push-receivers.js';
import { OneSignalProvider, type PushMessage, type PushTarget, WebPushProvider } from './push.providers.js';

/** Each provider against a local service with the real contract: how answers are sorted. */
const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@parley.test' };
let service: WebPushService;
let oneSignal: OneSignalStandIn;

const message: PushMessage = {
  title: 'Bob in General',
  body: 'hello',
  badge: 2,
  bundle_id: '6f1c3c1e-0a7b-4c59-9f4e-6f1f6a0f9d11',
  data: {
    type: 'message.new',
    app_id: 'app1',
    cid: 'messaging:general',
    message_id: 'm1',
    parent_id: null,
    count: 1,
    cids: ['messaging:general'],
  },
};

beforeAll(async () => {
  service = await startWebPushService();
  oneSignal = await startOneSignal('os-app', 'os-key');
});
afterAll(async () => {
  await service.close();
  await oneSignal.close();
});

function webTarget(id: string, endpointName = id): PushTarget & { decrypt: (b: Buffer) => Buffer } {
  const sub = service.subscribe(endpointName);
  const json = sub.toJSON();
  return {
    id,
    provider: 'web_push',
    token: json.endpoint,
    p256dh: json.keys.p256dh,
    auth: json.keys.auth,
    decrypt: (b) => sub.decrypt(b),
  };
}

describe('WebPushProvider', () => {
  const provider = new WebPushProvider(vapid, { timeoutMs: 2000, allowPrivate: true });

  it('sorts answers: 2xx delivered; 404/410/400 invalid; 413/429/5xx and network errors failed', async () => {
    const targets = {
      ok: webTarget('ok'),
      gone: webTarget('gone'),
      unknown: webTarget('unknown'),
      bad: webTarget('bad'),
      big: webTarget('big'),
      slow: webTarget('slow'),
      down: webTarget('down'),
    };
    service.statuses.set('/push/gone', 410);
    service.statuses.set('/push/unknown', 404);
    service.statuses.set('/push/bad', 400);
    service.statuses.set('/push/big', 413);
    service.statuses.set('/push/slow', 429);
    service.statuses.set('/push/down', 503);
    const noKeys: PushTarget = { ...webTarget('nokeys'), p256dh: null, auth: null };
    const refused: PushTarget = { ...webTarget('refused'), token: 'http://127.0.0.1:1/push/refused' };
    const result = await provider.send([...Object.values(targets), noKeys, refused], message);
    expect(result.delivered).toEqual(['ok']);
    expect(result.invalid.sort()).toEqual(['bad', 'gone', 'nokeys', 'unknown']);
    expect(result.failed.map((f) => f.id).sort()).toEqual(['big', 'down', 'refused', 'slow']);
    const arrival = service.arrivals.find((a) => a.path === '/push/ok')!;
    expect(JSON.parse(targets.ok.decrypt(arrival.body).toString())).toEqual({
      title: message.title,
      body: message.body,
      badge: 2,
      data: message.data,
    });
  });

  it('drops endpoints on private addresses unless allowed (SSRF guard)', async () => {
    const guarded = new WebPushProvider(vapid, { timeoutMs: 2000, allowPrivate: false });
    const literal = webTarget('private-literal');
    const named: PushTarget = {
      ...webTarget('private-named'),
      token: literal.token.replace('127.0.0.1', 'localhost'),
    };
    const before = service.arrivals.length;
    const result = await guarded.send([literal, named], message);
    expect(result.invalid.sort()).toEqual(['private-literal', 'private-named']);
    expect(service.arrivals.length).toBe(before);
  });
});

describe('OneSignalProvider', () => {
  const target = (id: string): PushTarget => ({
    id,
    provider: 'onesignal',
    token: `tok-${id}`,
    p256dh: null,
    auth: null,
  });

  it('delivers, and reports the ids OneSignal calls invalid', async () => {
    const provider = new OneSignalProvider({
      baseUrl: oneSignal.url,
      appId: 'os-app',
      apiKey: 'os-key',
      timeoutMs: 2000,
    });
    oneSignal.invalid.add('tok-stale');
    const result = await provider.send([target('fresh'), target('stale')], message);
    expect(result).toEqual({ delivered: ['fresh'], invalid: ['stale'], failed: [] });
    expect(oneSignal.requests.at(-1)!.body).toMatchObject({
      app_id: 'os-app',
      include_subscription_ids: ['tok-fresh', 'tok-stale'],
      idempotency_key: message.bundle_id,
      ios_badgeCount: 2,
    });
    // A retry of the same bundle: OneSignal answers the first notification's id, creates nothing.
    const created = await provider.send([target('fresh')], message);
    expect(created.delivered).toEqual(['fresh']);
    // Every id unsubscribed: OneSignal answers 200 with no notification id.
    const next = { ...message, bundle_id: '0b8e4e7c-3a51-4f0e-8f2d-2b9b3f1c7a42' };
    expect(await provider.send([target('stale')], next)).toEqual({
      delivered: [],
      invalid: ['stale'],
      failed: [],
    });
  });

  it('counts a refused request (wrong key, wrong app) and an unreachable API as failed, not invalid', async () => {
    const wrongKey = new OneSignalProvider({
      baseUrl: oneSignal.url,
      appId: 'os-app',
      apiKey: 'nope',
      timeoutMs: 2000,
    });
    const r1 = await wrongKey.send([target('a')], message);
    expect(r1.failed.map((f) => f.id)).toEqual(['a']);
    expect(r1.failed[0]!.error).toContain('403');
    const wrongApp = new OneSignalProvider({
      baseUrl: oneSignal.url,
      appId: 'other',
      apiKey: 'os-key',
      timeoutMs: 2000,
    });
    expect((await wrongApp.send([target('a')], message)).failed[0]!.error).toContain('400');
    const down = new OneSignalProvider({
      baseUrl: 'http://127.0.0.1:1',
      appId: 'os-app',
      apiKey: 'os-key',
      timeoutMs: 2000,
    });
    expect((await down.send([target('a')], message)).failed).toHaveLength(1);
  });
});
