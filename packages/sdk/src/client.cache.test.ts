import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { selectMessages, selectReplies } from './state/selectors.js';
import { draftKey, type ParleyState } from './state/types.js';
import { DexieStore } from './stores/dexie.js';
import { cachedSlices } from './test-support/fixtures.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';

/**
 * What the persistent cache brings back after a page reload while offline — the thread the user
 * had open, the thread list, mentions, drafts, blocks, mutes, reminders, scheduled messages and
 * stars — and how the server's data takes over once the network is back. A real server behind a
 * TCP proxy (stopped = offline), the cache in IndexedDB (Dexie on fake-indexeddb).
 */
const fx = useServerFixture({ users: ['alice', 'bob', 'mallory'], members: ['alice', 'bob', 'mallory'] });
const { channel, connected, client, proxy } = fx;
const CID = 'messaging:cache';

describe('the persistent cache after a reload while offline', () => {
  it('shows the open thread, drafts, lists and mentions, keeps blocked users hidden, then lets the server win', async () => {
    await channel('cache');
    const bob = await fx.app.as('bob');
    const mallory = await fx.app.as('mallory');
    const parent = (await bob.post('/channels/messaging/cache/messages', { text: 'thread parent' })).body
      .message;
    await bob.post('/channels/messaging/cache/messages', { text: 'first reply', parent_id: parent.id });
    const alice = await fx.app.as('alice');
    await alice.post('/channels/messaging/cache/messages', { text: 'alice joins', parent_id: parent.id });
    await mallory.post('/channels/messaging/cache/messages', { text: 'from mallory' });
    await bob.post('/channels/messaging/cache/messages', {
      text: 'hi @alice',
      mentioned_user_ids: ['alice'],
    });

    const net = await proxy();
    const indexedDB = new IDBFactory();
    const open = () => new DexieStore({ name: 'parley-cache-test', indexedDB, IDBKeyRange });
    const first = await connected('alice', { baseUrl: net.url, store: open() });
    const ch = first.channel('messaging', 'cache');
    await ch.watch();
    await ch.loadReplies(parent.id);
    await first.queryThreads();
    await first.queryMentions();
    await first.saveDraft(CID, { text: 'typed, never lost' });
    await first.saveDraft(CID, { text: 'a reply, half written', parent_id: parent.id });
    await first.blockUser('mallory');
    await first.setReminder(parent.id, { remind_in_seconds: 3600, note: 'follow up' });
    await first.starMessage(parent.id);
    await ch.scheduleMessage({ send_at: new Date(Date.now() + 86_400_000).toISOString(), text: 'tomorrow' });
    await first.rest.muteUser({ target_id: 'bob' });
    await eventually(() => expect(first.store.getState().userMutes.bob).toBeDefined());
    const before = first.store.getState();
    expect(selectMessages(before, CID).map((m) => m.text)).not.toContain('from mallory');
    expect(before.threadList?.ids).toEqual([parent.id]);
    expect(before.mentions?.messages.map((m) => m.text)).toEqual(['hi @alice']);
    await first.disconnectUser();
    await net.stop();

    // The reload: a new client on the same IndexedDB, the server out of reach.
    const second = client({ baseUrl: net.url, store: open() });
    await second.connectUser({ id: 'alice' }, () => fx.app.token('alice'));
    expect(second.connectionState).toBe('offline');
    const restored = second.store.getState();
    expect(cachedSlices(restored)).toEqual(cachedSlices(before));
    const again = second.channel('messaging', 'cache');
    expect(again.replies(parent.id).map((m) => [m.text, m.status])).toEqual([
      ['first reply', 'sent'],
      ['alice joins', 'sent'],
    ]);
    expect(again.thread(parent.id)?.parent.reply_count).toBe(2);
    expect(restored.drafts[CID]?.text).toBe('typed, never lost');
    expect(restored.drafts[draftKey(CID, parent.id)]?.text).toBe('a reply, half written');
    expect(Object.keys(restored.blocks)).toEqual(['mallory']);
    expect(again.messages.map((m) => m.text)).toEqual(['thread parent', 'hi @alice']);
    expect(restored.reminders[parent.id]?.note).toBe('follow up');
    expect(Object.values(restored.scheduledMessages).map((m) => m.text)).toEqual(['tomorrow']);
    expect(Object.keys(restored.starred)).toEqual([parent.id]);

    // Meanwhile, elsewhere: the channel draft is deleted, bob replies, mallory writes again; and
    // the user's realtime history is lost, so only REST can tell about the draft.
    expect((await alice.delete('/channels/messaging/cache/draft')).status).toBe(200);
    await bob.post('/channels/messaging/cache/messages', { text: 'second reply', parent_id: parent.id });
    await mallory.post('/channels/messaging/cache/messages', { text: 'mallory again' });
    const broker = (
      fx.server.parley.realtime as unknown as { broker: { removeHistory(k: string): Promise<void> } }
    ).broker;
    await broker.removeHistory(`${fx.app.id}/chat:user:alice`);

    await net.start();
    await eventually(() => expect(second.connectionState).toBe('connected'));
    await again.watch();
    // Events after the restore apply on top of it: the new reply joins the restored thread.
    await eventually(() =>
      expect(selectReplies(second.store.getState(), parent.id).map((m) => m.text)).toEqual([
        'first reply',
        'alice joins',
        'second reply',
      ]),
    );
    expect(again.messages.map((m) => m.text)).not.toContain('mallory again');
    expect(Object.keys(second.store.getState().blocks)).toEqual(['mallory']);
    // The server wins: the drafts list no longer has the one deleted elsewhere.
    await second.loadDrafts();
    expect(Object.keys(second.store.getState().drafts)).toEqual([draftKey(CID, parent.id)]);
    await second.flush();
    const cache = await open().load('alice');
    expect(Object.keys(cache.records.drafts)).toEqual([draftKey(CID, parent.id)]);
    expect(cache.records.replies[parent.id]?.messages.map((m) => m.text)).toEqual([
      'first reply',
      'alice joins',
      'second reply',
    ]);
  });
});
