import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { DexieStore } from './stores/dexie.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';

/**
 * Catching up after a gap, against a real server: realtime recovery first; when the gateway lost
 * the history, POST /sync; when /sync says resync_required, a refetch. And the same after a page
 * reload, from stream positions saved in IndexedDB (Dexie on fake-indexeddb).
 */

const fx = useServerFixture({ users: ['alice', 'bob'] });
const { channel, client, proxy } = fx;

/** A fetch that records "METHOD path" of every request, and the body of every POST /sync. */
function countingFetch() {
  const calls: string[] = [];
  const syncs: { last_sync_at: string; channel_cids: string[] }[] = [];
  const f: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push(`${init?.method ?? 'GET'} ${url.pathname}`);
    if (url.pathname === '/sync') syncs.push(JSON.parse(String(init?.body)));
    return fetch(input, init);
  };
  return { fetch: f, calls, syncs };
}

/** Drops the gateway's history of a channel, as a restarted memory broker or an expired Redis key would. */
async function loseHistory(cid: string) {
  const broker = (
    fx.server.parley.realtime as unknown as { broker: { removeHistory(k: string): Promise<void> } }
  ).broker;
  await broker.removeHistory(`${fx.app.id}/chat:channel:${cid}`);
}

/** Bob connects and watches the channel, and alice's first message in it has reached him. */
async function watchingAfterOneMessage(bob: ReturnType<typeof client>, id: string) {
  await bob.connectUser({ id: 'bob' }, () => fx.app.token('bob'));
  const ch = bob.channel('messaging', id);
  await ch.watch();
  const alice = await fx.app.as('alice');
  await alice.post(`/channels/messaging/${id}/messages`, { text: 'seen' });
  await eventually(() => expect(ch.messages).toHaveLength(1));
  return { ch, alice };
}

const refetches = (calls: string[]) =>
  calls.filter((c) => /^GET \/channels\/messaging\/[^/]+(\/messages)?$/.test(c));

describe('catching up when realtime history was lost', () => {
  it('asks POST /sync once for every channel that lost its history, and applies its events (no refetch)', async () => {
    await channel('sync-a');
    await channel('sync-b');
    const net = await proxy();
    const counter = countingFetch();
    const bob = client({ baseUrl: net.url, fetch: counter.fetch });
    await bob.connectUser({ id: 'bob' }, () => fx.app.token('bob'));
    const a = bob.channel('messaging', 'sync-a');
    const b = bob.channel('messaging', 'sync-b');
    await Promise.all([a.watch(), b.watch()]);
    const alice = await fx.app.as('alice');
    const seen = (await alice.post('/channels/messaging/sync-a/messages', { text: 'a seen' })).body.message;
    await alice.post('/channels/messaging/sync-b/messages', { text: 'b seen' });
    await eventually(() => expect([a.messages.length, b.messages.length]).toEqual([1, 1]));
    const before = refetches(counter.calls).length;

    await net.stop();
    await eventually(() => expect(bob.connectionState).toBe('offline'));
    await alice.post('/channels/messaging/sync-a/messages', { text: 'a missed' });
    await alice.patch(`/messages/${seen.id}`, { text: 'a seen (edited)' });
    await alice.post('/channels/messaging/sync-b/messages', { text: 'b missed' });
    await loseHistory('messaging:sync-a');
    await loseHistory('messaging:sync-b');
    const events: string[] = [];
    bob.on('event', (e) => events.push(e.type));
    await net.start();

    await eventually(() => expect(a.messages.map((m) => m.text)).toEqual(['a seen (edited)', 'a missed']));
    await eventually(() => expect(b.messages.map((m) => m.text)).toEqual(['b seen', 'b missed']));
    await eventually(() => expect(bob.connectionState).toBe('connected'));
    expect(counter.calls.filter((c) => c === 'POST /sync')).toHaveLength(1);
    expect(refetches(counter.calls)).toHaveLength(before); // caught up by /sync, not by a refetch
    // Each missed event heard once, none of the ones applied before (the sync overlaps them).
    expect(events.filter((t) => t.startsWith('message.')).sort()).toEqual([
      'message.new',
      'message.new',
      'message.updated',
    ]);
    // The same state as a fresh fetch.
    const fresh = client({});
    await fresh.connectUser({ id: 'bob' }, () => fx.app.token('bob'));
    const again = fresh.channel('messaging', 'sync-a');
    await again.watch();
    expect(a.messages.map(({ status, ...m }) => m)).toEqual(again.messages.map(({ status, ...m }) => m));
    expect(a.state?.channel).toEqual(again.state?.channel);
  });

  it('refetches when /sync answers resync_required (more events than a sync replays)', async () => {
    await channel('resync');
    const net = await proxy();
    const counter = countingFetch();
    const bob = client({ baseUrl: net.url, fetch: counter.fetch, messageLimit: 20 });
    const { ch, alice } = await watchingAfterOneMessage(bob, 'resync');
    await net.stop();
    await eventually(() => expect(bob.connectionState).toBe('offline'));
    // More than SYNC_MAX_EVENTS (250) events since the last one bob applied.
    for (let i = 1; i <= 130; i++) {
      const { message } = (await alice.post('/channels/messaging/resync/messages', { text: `m${i}` })).body;
      await alice.patch(`/messages/${message.id}`, { text: `m${i}!` });
    }
    await loseHistory('messaging:resync');
    const before = refetches(counter.calls).length;
    await net.start();
    await eventually(() => expect(ch.messages.at(-1)?.text).toBe('m130!'));
    await eventually(() => expect(bob.connectionState).toBe('connected'));
    expect(counter.calls.filter((c) => c === 'POST /sync')).toHaveLength(1);
    expect(refetches(counter.calls).length).toBeGreaterThan(before);
    expect(ch.messages.map((m) => m.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${111 + i}!`));
    expect(ch.hasOlder).toBe(true);
  }, 60_000);
});

describe('the catch-up window', () => {
  it('syncs from where the channel was complete when its subscription came back, not from where live events moved it meanwhile', async () => {
    await channel('window');
    const { fetch: recording, syncs } = countingFetch();
    const bob = client({ fetch: recording });
    await watchingAfterOneMessage(bob, 'window');

    // Reach into the session: the subscription "comes back unrecovered" (catchUp is what the SDK
    // calls then), and before the batched catch-up runs (it waits 20 ms for other channels) a live
    // event moves the channel's position on. Done by hand, the interleaving is certain.
    const session = (bob as unknown as { session: CatchUpInternals }).session;
    const topic = 'chat:channel:messaging:window';
    const complete = session.positions.get(topic)!.at!;
    expect(complete).toEqual(expect.any(String));
    const caughtUp = session.catchUp('messaging:window');
    const later = new Date(Date.parse(complete) + 60_000).toISOString();
    session.positions.set(topic, { ...session.positions.get(topic)!, at: later });
    await caughtUp;

    expect(syncs).toEqual([{ last_sync_at: complete, channel_cids: ['messaging:window'] }]);
  });
});

/** The parts of the SDK's session this test drives directly. */
interface CatchUpInternals {
  positions: Map<string, { at?: string }>;
  catchUp(cid: string): Promise<void>;
}

describe('after a page reload (stream positions in IndexedDB)', () => {
  it('shows the cache offline, then recovers what it missed from the saved position without a refetch', async () => {
    await channel('reload');
    const net = await proxy();
    const indexedDB = new IDBFactory();
    const open = () => new DexieStore({ name: 'parley-reload-test', indexedDB, IDBKeyRange });
    const first = client({ baseUrl: net.url, store: open() });
    await first.connectUser({ id: 'bob' }, () => fx.app.token('bob'));
    const ch = first.channel('messaging', 'reload');
    await ch.watch();
    const alice = await fx.app.as('alice');
    await alice.post('/channels/messaging/reload/messages', { text: 'before the reload' });
    await eventually(() => expect(ch.messages).toHaveLength(1));
    await first.disconnectUser(); // the page is closed
    expect(Object.keys((await open().load('bob')).positions).sort()).toEqual([
      'chat:channel:messaging:reload',
      'chat:user:bob',
    ]);

    // While the page is closed (and then offline): more messages.
    await alice.post('/channels/messaging/reload/messages', { text: 'while away 1' });
    await alice.post('/channels/messaging/reload/messages', { text: 'while away 2' });
    await net.stop();

    const counter = countingFetch();
    const second = client({ baseUrl: net.url, store: open(), fetch: counter.fetch });
    await second.connectUser({ id: 'bob' }, () => fx.app.token('bob'));
    expect(second.connectionState).toBe('offline');
    const again = second.channel('messaging', 'reload');
    await again.watch(); // offline: the cache
    expect(again.messages.map((m) => m.text)).toEqual(['before the reload']);

    const offlineCalls = counter.calls.length;
    await net.start();
    await eventually(() =>
      expect(again.messages.map((m) => m.text)).toEqual([
        'before the reload',
        'while away 1',
        'while away 2',
      ]),
    );
    await eventually(() => expect(second.connectionState).toBe('connected'));
    expect(refetches(counter.calls.slice(offlineCalls))).toEqual([]); // recovered, not refetched

    // A watch after the reload, online: recovery from the saved position, no refetch either.
    await second.disconnectUser();
    await alice.post('/channels/messaging/reload/messages', { text: 'while away 3' });
    const counter3 = countingFetch();
    const third = client({ store: open(), fetch: counter3.fetch });
    await third.connectUser({ id: 'bob' }, () => fx.app.token('bob'));
    const ch3 = third.channel('messaging', 'reload');
    await ch3.watch();
    await eventually(() => expect(ch3.messages.map((m) => m.text).at(-1)).toBe('while away 3'));
    expect(ch3.messages).toHaveLength(4);
    expect(refetches(counter3.calls)).toEqual([]);
  });
});
