import type { Centrifuge } from 'centrifuge';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import {
  connectCentrifuge,
  eventually,
  type Frame,
  RawClient,
  subscribed,
} from '../test-support/realtime-clients.js';

/**
 * Random and mutated frames against the gateway (fast-check): random bytes, random JSON, valid
 * commands with mutated fields and types, huge numbers, nested garbage, batches of all of these.
 * Whatever arrives, the gateway answers with protocol errors or closes with a protocol close code
 * (never an internal error or a dropped socket), the server stays up, and a well-behaved client
 * keeps receiving every message sent over REST, in order, during and after the fuzzing.
 */

let server: TestServer;
let app: TestApp;
let httpBase: string;
let url: string;
let mallory: string;
let bob: Centrifuge;

const CHANNEL = 'chat:channel:messaging:fuzz';
/** Stands for mallory's valid token in generated frames (the token exists only once the app does). */
const MALLORY = '__MALLORY_TOKEN__';
/** Id of the ping sent after the fuzz frames: its reply (or a close) means they were all handled. */
const SENTINEL = 987_654_321;

beforeAll(async () => {
  server = await createTestServer();
  const address = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
  httpBase = address;
  app = await server.createApp();
  url = `${address.replace('http', 'ws')}/connection/websocket?api_key=${app.apiKey}`;
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }, { id: 'mallory' }] });
  const res = await app.server.post('/channels', {
    type: 'messaging',
    id: 'fuzz',
    members: ['alice', 'bob', 'mallory'],
    created_by: 'alice',
  });
  expect(res.status).toBe(201);
  mallory = await app.token('mallory');
});
afterAll(async () => {
  bob?.disconnect();
  await server?.close();
});

// ---- arbitraries ----

const hugeNumber = fc.constantFrom(
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  2 ** 64,
  1e308,
  -1e308,
  -1,
  -0,
  0.5,
  4294967296,
  Number.MIN_VALUE,
);
const nested: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 4 }),
  ),
})).node;
const garbage = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hugeNumber,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  nested,
);
const channel = fc.oneof(
  fc.constantFrom(
    CHANNEL,
    'chat:user:mallory',
    'chat:user:bob',
    'chat:channel:messaging:missing',
    'chat:channel:',
    'chat:',
    '',
    'x'.repeat(300),
    '$private:thing',
    'news#42',
  ),
  fc.string({ maxLength: 30 }),
);
const position = fc.record(
  { offset: fc.oneof(fc.nat(20), hugeNumber), epoch: fc.oneof(fc.string({ maxLength: 12 }), garbage) },
  { requiredKeys: [] },
);
const methodParams: Record<string, fc.Arbitrary<unknown>> = {
  connect: fc.record(
    {
      token: fc.oneof(fc.constant(MALLORY), fc.string({ maxLength: 30 }), garbage),
      data: garbage,
      name: garbage,
    },
    { requiredKeys: [] },
  ),
  subscribe: fc.record(
    {
      channel,
      recover: fc.oneof(fc.boolean(), garbage),
      offset: fc.oneof(fc.nat(20), hugeNumber, garbage),
      epoch: fc.oneof(fc.string({ maxLength: 12 }), garbage),
      join_leave: fc.oneof(fc.boolean(), garbage),
      flag: fc.oneof(fc.nat(7), garbage),
      delta: fc.oneof(fc.constant('fossil'), garbage),
      positioned: fc.boolean(),
    },
    { requiredKeys: ['channel'] },
  ),
  unsubscribe: fc.record({ channel }, { requiredKeys: [] }),
  publish: fc.record({ channel, data: garbage }, { requiredKeys: [] }),
  presence: fc.record({ channel }, { requiredKeys: [] }),
  presence_stats: fc.record({ channel }, { requiredKeys: [] }),
  history: fc.record(
    {
      channel,
      limit: fc.oneof(fc.integer({ min: -2, max: 400 }), hugeNumber, garbage),
      since: fc.oneof(position, garbage),
      reverse: fc.oneof(fc.boolean(), garbage),
    },
    { requiredKeys: [] },
  ),
  ping: fc.oneof(fc.constant({}), garbage),
  send: fc.record({ data: garbage }, { requiredKeys: [] }),
  rpc: fc.record(
    {
      method: fc.oneof(fc.constantFrom('typing.start', 'typing.stop', 'mark_read'), fc.string(), garbage),
      data: fc.oneof(
        fc.record(
          {
            cid: fc.oneof(fc.constantFrom('messaging:fuzz', 'messaging:missing', 'livestream:x'), garbage),
            parent_id: garbage,
            message_id: garbage,
          },
          { requiredKeys: [] },
        ),
        garbage,
      ),
    },
    { requiredKeys: [] },
  ),
  refresh: fc.record({ token: fc.oneof(fc.constant(MALLORY), fc.string(), garbage) }, { requiredKeys: [] }),
  sub_refresh: fc.record({ channel, token: garbage }, { requiredKeys: [] }),
};
const methodName = fc.constantFrom(...Object.keys(methodParams));
const id = fc.oneof(
  { weight: 30, arbitrary: fc.integer({ min: 1, max: 100_000 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: hugeNumber },
  { weight: 1, arbitrary: garbage },
);
/** A command that looks valid, with its parameters possibly replaced by garbage. */
const command = methodName.chain((method) =>
  fc
    .tuple(id, fc.oneof({ weight: 8, arbitrary: methodParams[method]! }, { weight: 1, arbitrary: garbage }))
    .map(([commandId, params]) => ({
      ...(commandId !== undefined ? { id: commandId } : {}),
      [method]: params,
    })),
);
/** A valid-looking command with extra methods, unknown keys or keys removed. */
const mutatedCommand = fc
  .tuple(command, fc.dictionary(fc.oneof(methodName, fc.string({ maxLength: 10 })), garbage, { maxKeys: 3 }))
  .map(([c, extra]) => ({ ...c, ...extra }));

type Outgoing = { text: string } | { binary: Uint8Array };
const frame: fc.Arbitrary<Outgoing> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((binary) => ({ binary })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 8, arbitrary: command.map((c) => ({ text: JSON.stringify(c) })) },
  { weight: 2, arbitrary: mutatedCommand.map((c) => ({ text: JSON.stringify(c) })) },
  {
    weight: 6,
    arbitrary: fc
      .array(fc.oneof({ weight: 6, arbitrary: command }, { weight: 1, arbitrary: mutatedCommand }), {
        minLength: 2,
        maxLength: 8,
      })
      .map((cs) => ({ text: cs.map((c) => JSON.stringify(c)).join('\n') })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(
        fc.oneof(
          command.map((c) => JSON.stringify(c)),
          fc.string({ maxLength: 30 }),
          fc.constant(''),
        ),
        {
          maxLength: 6,
        },
      )
      .map((lines) => ({ text: lines.join('\n') })),
  },
  {
    weight: 1,
    arbitrary: fc.constant({ text: JSON.stringify({ id: 1, rpc: { data: 'z'.repeat(70_000) } }) }),
  },
);

// ---- the property ----

/** Close codes the gateway may answer garbage with (protocol or application codes, or too big). */
function acceptableClose(code: number) {
  if (code === 3004) return false; // internal server error: a handler threw on input it should reject
  return code === 1009 || (code >= 3000 && code < 5000);
}

/** Replies are a result or a protocol error object, never anything else. */
function wellFormed(m: Frame) {
  if (m.unparsable !== undefined) return false;
  if (m.error !== undefined)
    return Number.isInteger(m.error.code) && m.error.code > 0 && typeof m.error.message === 'string';
  return true;
}

async function fuzzOne(frames: Outgoing[], connectFirst: boolean) {
  const client = await RawClient.open(url);
  try {
    if (connectFirst) expect((await client.connect(mallory)).error).toBeUndefined();
    for (const f of frames) {
      if (client.closeEvent) break;
      client.send('binary' in f ? Buffer.from(f.binary) : f.text.replaceAll(MALLORY, mallory));
    }
    if (!client.closeEvent) client.send(JSON.stringify({ id: SENTINEL, ping: {} }));
    // Every frame was handled once the sentinel is answered or the connection is closed.
    await Promise.race([client.waitFor((m) => m.id === SENTINEL, 10_000).catch(() => {}), client.closed]);
    expect(client.messages.every(wellFormed), JSON.stringify(client.messages).slice(0, 500)).toBe(true);
    if (client.closeEvent) {
      expect(acceptableClose(client.closeEvent.code), JSON.stringify(client.closeEvent)).toBe(true);
      expect(() => JSON.parse(client.closeEvent!.reason)).toThrow();
    } else {
      expect(client.messages.some((m) => m.id === SENTINEL)).toBe(true);
    }
  } finally {
    client.close();
  }
}

describe('fuzzing the gateway', () => {
  it('stays up and keeps serving a well-behaved client while garbage flows in', async () => {
    const connected = await connectCentrifuge(url, await app.token('bob'));
    bob = connected.client;
    let interruptions = 0;
    bob.on('connecting', () => interruptions++);
    bob.on('disconnected', () => interruptions++);
    const sub = bob.newSubscription(CHANNEL);
    const received: string[] = [];
    sub.on('publication', (ctx) => {
      if (ctx.data.type === 'message.new') received.push(ctx.data.message.id);
    });
    await subscribed(sub);

    // Alice keeps sending over REST for the whole fuzzing run.
    const sent: string[] = [];
    let fuzzing = true;
    const alice = await app.as('alice');
    const sender = (async () => {
      for (let i = 0; fuzzing || i < 3; i++) {
        const res = await alice.post('/channels/messaging/fuzz/messages', { text: `steady ${i}` });
        expect(res.status).toBe(201);
        sent.push(res.body.message.id);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(frame, { minLength: 1, maxLength: 6 }),
          fc.boolean(),
          async (frames, first) => {
            // Two connections at once: one that connected properly first, one that did not.
            await Promise.all([fuzzOne(frames, first), fuzzOne(frames, !first)]);
          },
        ),
        { numRuns: 100, interruptAfterTimeLimit: 15_000 },
      );
    } finally {
      fuzzing = false;
      await sender;
    }

    const live = await fetch(`${httpBase}/health/live`);
    expect(live.status).toBe(200);
    await eventually(() => received.length >= sent.length);
    expect(received).toEqual(sent);
    expect(interruptions).toBe(0);
    expect(bob.state).toBe('connected');
  }, 60_000);
});

describe('frames found by fuzzing', () => {
  // Each once closed the connection with 3004 (a handler threw on input it should have rejected):
  // uuid and NUL-byte casts in SQL, offsets beyond 2^53 in Redis stream ids.
  const cases: [string, unknown, number][] = [
    ['history', { channel: CHANNEL, limit: 10, since: { offset: 1e308 } }, 107],
    ['history', { channel: CHANNEL, limit: 3, reverse: true, since: { offset: 2 ** 64 } }, 107],
    ['history', { channel: CHANNEL, limit: 3, since: { offset: 'abc', epoch: 5 } }, 107],
    ['history', { channel: CHANNEL, limit: 3, since: { offset: 1.5, epoch: '' } }, 107],
    ['history', { channel: CHANNEL, limit: 3, since: 'x' }, 107],
    ['rpc', { method: 'mark_read', data: { cid: 'messaging:fuzz', message_id: 'not-a-uuid' } }, 400],
    ['rpc', { method: 'mark_read', data: { cid: 'messaging:fuzz\u0000' } }, 400],
    ['rpc', { method: 'typing.start', data: { cid: 'a\u0000b:c' } }, 400],
    ['subscribe', { channel: 'chat:user:mallory', recover: true, offset: 1e308, epoch: 'e' }, 107],
    ['subscribe', { channel: 'chat:user:mallory', recover: true, offset: 1, epoch: {} }, 107],
  ];
  it.each(cases)('%s %j is answered with error %i', async (method, params, code) => {
    const client = await RawClient.open(url);
    try {
      expect((await client.connect(mallory)).error).toBeUndefined();
      expect((await client.command('subscribe', { channel: CHANNEL })).error).toBeUndefined();
      const reply = await client.command(method, params);
      expect(reply.error?.code).toBe(code);
      expect((await client.command('ping', {})).ping).toEqual({});
    } finally {
      client.close();
    }
  });
});
