import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import type { ParleyClient } from './client.js';
import { ParleyApiError } from './errors.js';
import { RestClient } from './rest.js';
import { selectMessages, selectTyping } from './state/selectors.js';
import type { ParleyState } from './state/types.js';
import { DexieStore } from './stores/dexie.js';
import { MemoryStore } from './stores/memory.js';
import { refetchOnly, type SyncSource } from './sync.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';
import { TokenManager } from './token.js';

const fx = useServerFixture({ users: ['alice', 'bob', 'carol', 'dave'] });
const { channel, connected, client, proxy } = fx;

const texts = (state: ParleyState, cid: string) => selectMessages(state, cid).map((m) => m.text);

/** A fetch that counts requests by "METHOD path", to tell a recovery from a refetch. */
function countingFetch() {
  const calls: string[] = [];
  const f: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push(`${init?.method ?? 'GET'} ${url.pathname}`);
    return fetch(input, init);
  };
  return { fetch: f, calls };
}

describe('ParleyClient against a real server', () => {
  it('two clients send and receive; the sender sees sending → sent', async () => {
    await channel('two');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'two');
    const b = bob.channel('messaging', 'two');
    await Promise.all([a.watch(), b.watch()]);
    const received = new Promise<string>((resolve) => bob.on('message.new', (e) => resolve(e.message.text)));

    const sent = a.sendMessage({ text: 'hello bob' });
    expect(a.messages.map((m) => [m.text, m.status])).toEqual([['hello bob', 'sending']]);
    const message = await sent;
    expect(message.text).toBe('hello bob');
    expect(a.messages.map((m) => [m.id, m.status])).toEqual([[message.id, 'sent']]);
    expect(await received).toBe('hello bob');
    await eventually(() => expect(b.messages.map((m) => m.id)).toEqual([message.id]));
    expect(b.unreadCount).toBe(1);
    await b.markRead();
    expect(b.unreadCount).toBe(0);
    const unread = await bob.rest.unread();
    expect(unread.channels.find((c) => c.cid === 'messaging:two')?.unread_count).toBe(0);
  });

  it('old state + events = fresh fetch, live against the server', async () => {
    await channel('live', ['alice', 'bob', 'carol']);
    const bob = await connected('bob');
    const live = bob.channel('messaging', 'live');
    await live.watch();
    const alice = await fx.app.as('alice');
    const sent = [];
    for (const text of ['one', 'two', 'three'])
      sent.push((await alice.post('/channels/messaging/live/messages', { text })).body.message);
    await alice.patch(`/messages/${sent[1].id}`, { text: 'two (edited)' });
    await alice.delete(`/messages/${sent[0].id}`);
    await fx.app.server.post('/channels/messaging/live/members', { user_ids: ['dave'], user_id: 'alice' });
    await fx.app.server.post('/channels/messaging/live/members/remove', {
      user_ids: ['carol'],
      user_id: 'alice',
    });
    await fx.app.server.put('/channels/messaging/live', { name: 'Live', user_id: 'alice' });
    const last = (await alice.post('/channels/messaging/live/messages', { text: 'four' })).body.message;
    await eventually(() => expect(live.messages.at(-1)?.id).toBe(last.id));

    const fresh = await connected('bob', { store: new MemoryStore() });
    await fresh.channel('messaging', 'live').watch();
    const view = (c: ParleyClient) => ({
      channel: c.store.getState().channels['messaging:live'],
      messages: selectMessages(c.store.getState(), 'messaging:live'),
      unread: c.store.getState().unread.channels['messaging:live'],
    });
    expect(view(bob)).toEqual(view(fresh));
    expect(texts(bob.store.getState(), 'messaging:live')).toEqual(['', 'two (edited)', 'three', 'four']);
  });

  it('paginates older messages without gaps or duplicates, while new ones arrive', async () => {
    await channel('pages');
    const alice = await fx.app.as('alice');
    for (let i = 1; i <= 70; i++) await alice.post('/channels/messaging/pages/messages', { text: `m${i}` });
    const bob = await connected('bob', { messageLimit: 25 });
    const pages = bob.channel('messaging', 'pages');
    await pages.watch();
    expect(pages.messages).toHaveLength(25);
    expect(pages.hasOlder).toBe(true);
    await pages.loadOlder(25);
    await alice.post('/channels/messaging/pages/messages', { text: 'm71' });
    await eventually(() => expect(pages.messages.at(-1)?.text).toBe('m71'));
    await pages.loadOlder(25);
    expect(pages.hasOlder).toBe(false);
    expect(await pages.loadOlder(25)).toEqual([]);
    expect(pages.messages.map((m) => m.text)).toEqual(Array.from({ length: 71 }, (_, i) => `m${i + 1}`));
    expect(pages.messages.map((m) => m.seq)).toEqual(Array.from({ length: 71 }, (_, i) => i + 1));
  });

  it('queues sends while offline, keeps them across a client restart, replays them in order once', async () => {
    await channel('outbox');
    const net = await proxy();
    const store = new MemoryStore();
    const first = await connected('alice', { baseUrl: net.url, store });
    const ch = first.channel('messaging', 'outbox');
    await ch.watch();
    await ch.sendMessage({ text: 'online' });

    // A send whose answer was lost: the server has it, the client will send it again.
    const lostId = 'b0b0b0b0-0000-4000-8000-000000000001';
    await (await fx.app.as('alice')).post('/channels/messaging/outbox/messages', {
      text: 'lost answer',
      client_msg_id: lostId,
    });

    await net.stop();
    await eventually(() => expect(first.connectionState).toBe('offline'));
    void ch.sendMessage({ text: 'lost answer', client_msg_id: lostId });
    void ch.sendMessage({ text: 'offline 1' });
    void ch.sendMessage({ text: 'offline 2' });
    expect(ch.messages.map((m) => [m.text, m.status])).toEqual([
      ['online', 'sent'],
      ['lost answer', 'sending'],
      ['offline 1', 'sending'],
      ['offline 2', 'sending'],
    ]);
    await first.disconnectUser();

    // A new client on the same store, still offline: the cache and the outbox show at once.
    const second = client({ baseUrl: net.url, store });
    await second.connectUser({ id: 'alice' }, () => fx.app.token('alice'));
    expect(second.connectionState).toBe('offline');
    expect(second.outbox.map((o) => o.body.text)).toEqual(['lost answer', 'offline 1', 'offline 2']);
    const again = second.channel('messaging', 'outbox');
    await again.watch(); // offline: resolves with the cache
    expect(again.messages.map((m) => [m.text, m.status])).toEqual([
      ['online', 'sent'],
      ['lost answer', 'sending'],
      ['offline 1', 'sending'],
      ['offline 2', 'sending'],
    ]);

    await net.start();
    await eventually(() => expect(second.outbox).toEqual([]));
    await eventually(() => expect(again.messages.every((m) => m.status === 'sent')).toBe(true));
    const stored = (await fx.app.server.get('/channels/messaging/outbox/messages?user_id=alice')).body
      .messages;
    expect(stored.map((m: { text: string }) => m.text)).toEqual([
      'online',
      'lost answer',
      'offline 1',
      'offline 2',
    ]);
    expect(again.messages.map((m) => m.id)).toEqual(stored.map((m: { id: string }) => m.id));
    await eventually(() => expect(second.connectionState).toBe('connected'));
  });

  it('marks a message failed on a permanent error, and retry() sends it again', async () => {
    await channel('fails');
    const alice = await connected('alice');
    const ch = alice.channel('messaging', 'fails');
    await ch.watch();
    await fx.app.server.put('/channels/messaging/fails', { frozen: true, user_id: 'alice' });
    const error = await ch.sendMessage({ text: 'frozen out' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyApiError);
    expect((error as ParleyApiError).code).toBe('CHANNEL_FROZEN');
    const failed = ch.messages.at(-1)!;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'CHANNEL_FROZEN' } });
    await fx.app.server.put('/channels/messaging/fails', { frozen: false, user_id: 'alice' });
    const message = await ch.retry(failed.client_msg_id!);
    expect(ch.messages.map((m) => [m.id, m.status])).toEqual([[message.id, 'sent']]);
  });

  it('recovers missed events on reconnect, and refetches when the history was lost', async () => {
    await channel('recover');
    const net = await proxy();
    const counter = countingFetch();
    // The refetch path (the /sync path has a test of its own in client.sync.test.ts).
    const bob = await connected('bob', { baseUrl: net.url, fetch: counter.fetch, sync: refetchOnly });
    const ch = bob.channel('messaging', 'recover');
    await ch.watch();
    const states: string[] = [];
    bob.on('connection.changed', (c) => states.push(c.state));
    const alice = await fx.app.as('alice');
    const listCalls = () =>
      counter.calls.filter((c) => c === 'GET /channels/messaging/recover/messages').length;
    expect(listCalls()).toBe(1);

    await net.stop();
    await eventually(() => expect(bob.connectionState).toBe('offline'));
    await alice.post('/channels/messaging/recover/messages', { text: 'missed 1' });
    await alice.post('/channels/messaging/recover/messages', { text: 'missed 2' });
    await net.start();
    await eventually(() => expect(ch.messages.map((m) => m.text)).toEqual(['missed 1', 'missed 2']));
    await eventually(() => expect(bob.connectionState).toBe('connected'));
    expect(states).toEqual(['offline', 'recovering', 'connected']);
    expect(listCalls()).toBe(1); // recovered from the gateway's history: no refetch

    await net.stop();
    await eventually(() => expect(bob.connectionState).toBe('offline'));
    await alice.post('/channels/messaging/recover/messages', { text: 'lost 3' });
    // The history is gone (expired, Redis restarted): the gateway cannot recover this channel.
    const broker = (
      fx.server.parley.realtime as unknown as { broker: { removeHistory(k: string): Promise<void> } }
    ).broker;
    await broker.removeHistory(`${fx.app.id}/chat:channel:messaging:recover`);
    await net.start();
    await eventually(() =>
      expect(ch.messages.map((m) => m.text)).toEqual(['missed 1', 'missed 2', 'lost 3']),
    );
    await eventually(() => expect(bob.connectionState).toBe('connected'));
    expect(listCalls()).toBe(2); // refetched
  });

  it('asks the token provider again: expired at connect (109), before expiry, and after a 401', async () => {
    await channel('tokens');
    const issued: string[] = [];
    const provider = async () => {
      const n = issued.length;
      // 1st: already expired; 2nd: expires in 7 s; then long-lived.
      const token = await fx.app.token('alice', { expiresIn: n === 0 ? -60 : n === 1 ? 7 : 3600 });
      issued.push(token);
      return token;
    };
    const alice = client();
    await alice.connectUser({ id: 'alice' }, provider);
    await eventually(() => expect(alice.connectionState).toBe('connected'));
    expect(issued.length).toBeGreaterThanOrEqual(2);
    const ch = alice.channel('messaging', 'tokens');
    await ch.watch();
    await ch.sendMessage({ text: 'with a fresh token' });
    await eventually(() => expect(issued.length).toBeGreaterThanOrEqual(3), 15_000);
    expect(alice.connectionState).toBe('connected');

    // The REST layer: a token the server refuses (401) makes it ask the provider once more.
    const bad = [await fx.app.token('nobody-signed-this', {}).then((t) => `${t.slice(0, -4)}AAAA`)];
    let calls = 0;
    const rest = new RestClient({
      baseUrl: fx.baseUrl,
      apiKey: fx.app.apiKey,
      fetch,
      tokens: () => tokens,
    });
    const tokens = new TokenManager(async () => (++calls === 1 ? bad[0]! : fx.app.token('alice')));
    const { channel: state } = await rest.getChannel('messaging', 'tokens');
    expect(state.channel.cid).toBe('messaging:tokens');
    expect(calls).toBe(2);
  }, 30_000);

  it('queryChannels lists and watches channels, reordering on new messages', async () => {
    await channel('q-a', ['carol', 'alice']);
    await channel('q-b', ['carol', 'bob']);
    const carol = await connected('carol');
    const filter = { cid: { $in: ['messaging:q-a', 'messaging:q-b'] } };
    const list = await carol.queryChannels(filter);
    expect(list.map((c) => c.cid).sort()).toEqual(['messaging:q-a', 'messaging:q-b']);
    const key = carol.queryKey(filter);
    const bob = await fx.app.as('bob');
    await bob.post('/channels/messaging/q-b/messages', { text: 'b first' });
    await eventually(() => expect(carol.store.getState().queries[key]!.cids[0]).toBe('messaging:q-b'));
    const qa = carol.channel('messaging', 'q-a');
    void qa.sendMessage({ text: 'a now' });
    expect(carol.store.getState().queries[key]!.cids[0]).toBe('messaging:q-a');
    await eventually(() => expect(qa.messages.at(-1)?.status).toBe('sent'));
  });
  it('shows the IndexedDB cache after a restart while offline (Dexie on fake-indexeddb)', async () => {
    await channel('dexie');
    const net = await proxy();
    const indexedDB = new IDBFactory();
    const open = () => new DexieStore({ name: 'parley-client-test', indexedDB, IDBKeyRange });
    const first = await connected('alice', { baseUrl: net.url, store: open() });
    const ch = first.channel('messaging', 'dexie');
    await ch.watch();
    await ch.sendMessage({ text: 'cached in IndexedDB' });
    await first.disconnectUser();
    await net.stop();

    const second = client({ baseUrl: net.url, store: open() });
    await second.connectUser({ id: 'alice' }, () => fx.app.token('alice'));
    expect(second.connectionState).toBe('offline');
    const again = second.channel('messaging', 'dexie');
    expect(again.state?.channel.cid).toBe('messaging:dexie');
    expect(again.messages.map((m) => [m.text, m.status])).toEqual([['cached in IndexedDB', 'sent']]);
    void again.sendMessage({ text: 'written offline' });
    await net.start();
    await again.watch();
    await eventually(() => expect(again.messages.map((m) => m.status)).toEqual(['sent', 'sent']));
  });

  it('asks the sync source before refetching a channel whose history was lost', async () => {
    await channel('sync');
    const net = await proxy();
    const requests: { since: string; cids: string[] }[] = [];
    const sync: SyncSource = {
      async sync(request) {
        requests.push(request);
        return { resync_required: true };
      },
    };
    const bob = await connected('bob', { baseUrl: net.url, sync });
    const ch = bob.channel('messaging', 'sync');
    await ch.watch();
    const alice = await fx.app.as('alice');
    const first = (await alice.post('/channels/messaging/sync/messages', { text: 'seen live' })).body.message;
    await eventually(() => expect(ch.messages.map((m) => m.id)).toEqual([first.id]));
    await net.stop();
    await eventually(() => expect(bob.connectionState).toBe('offline'));
    await alice.post('/channels/messaging/sync/messages', { text: 'missed' });
    const broker = (
      fx.server.parley.realtime as unknown as { broker: { removeHistory(k: string): Promise<void> } }
    ).broker;
    await broker.removeHistory(`${fx.app.id}/chat:channel:messaging:sync`);
    await net.start();
    await eventually(() => expect(ch.messages.map((m) => m.text)).toEqual(['seen live', 'missed']));
    expect(requests.map((r) => r.cids)).toEqual([['messaging:sync']]);
    expect(requests[0]!.since >= first.created_at).toBe(true); // the last event the client applied
  });
  it('shows who is typing, and clears it when they send', async () => {
    await channel('typing');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'typing');
    await Promise.all([a.watch(), bob.channel('messaging', 'typing').watch()]);
    a.typing();
    a.typing(); // throttled: one rpc
    await eventually(() =>
      expect(selectTyping(bob.store.getState(), 'messaging:typing').map((t) => t.user_id)).toEqual(['alice']),
    );
    expect(selectTyping(alice.store.getState(), 'messaging:typing')).toEqual([]);
    await a.sendMessage({ text: 'done typing' });
    await eventually(() => expect(selectTyping(bob.store.getState(), 'messaging:typing')).toEqual([]));
  });
});
