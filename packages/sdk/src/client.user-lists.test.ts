import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParleyClient } from './client.js';
import { selectMessage, selectMessages } from './state/selectors.js';
import { draftKey } from './state/types.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';

/**
 * Blocked users, presence, and the thin methods for pins, stars, reminders, scheduled messages,
 * receipts, mark unread, edit history, message actions, push and email preferences — against a
 * real server (and a local stand-in for GIPHY's search API).
 */
let giphy: Server;
const GIPHY_KEY = 'sdk-giphy-key';

function giphyHandler(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, 'http://giphy.local');
  if (url.pathname !== '/v1/gifs/search' || url.searchParams.get('api_key') !== GIPHY_KEY) {
    res.writeHead(404).end();
    return;
  }
  const offset = Number(url.searchParams.get('offset') ?? 0);
  const data = [0, 1, 2].slice(offset, offset + 1).map((i) => ({
    type: 'gif',
    id: `cat${i}`,
    title: `cat ${i}`,
    images: {
      fixed_height: { url: `https://media.giphy.test/cat${i}/200.gif`, width: '267', height: '200' },
      original: { url: `https://media.giphy.test/cat${i}/giphy.gif`, width: '480', height: '360' },
    },
  }));
  res.writeHead(200, { 'content-type': 'application/json' }).end(
    JSON.stringify({
      data,
      pagination: { total_count: 3, count: data.length, offset },
      meta: { status: 200 },
    }),
  );
}

beforeAll(async () => {
  giphy = createServer(giphyHandler);
  await new Promise<void>((resolve) => giphy.listen(0, '127.0.0.1', resolve));
});
afterAll(() => {
  giphy?.close();
});

const fx = useServerFixture({
  users: ['alice', 'bob', 'carol'],
  members: ['alice', 'bob', 'carol'],
  env: () => ({
    GIPHY_BASE_URL: `http://127.0.0.1:${(giphy.address() as { port: number }).port}`,
    GIPHY_API_KEY: GIPHY_KEY,
  }),
  async setUp(app) {
    const type = await app.server.patch('/channel-types/messaging', {
      config: { commands: ['giphy'], delivery_events: true },
    });
    expect(type.status, JSON.stringify(type.body)).toBe(200);
  },
});
const { channel, connected } = fx;

const texts = (c: ParleyClient, cid: string) => selectMessages(c.store.getState(), cid).map((m) => m.text);

describe('blocked users', () => {
  it('a block made elsewhere is loaded on connect: the blocked user’s live messages never reach the store', async () => {
    await channel('block-loaded');
    // alice blocked bob earlier (another device).
    const earlier = await connected('alice');
    await earlier.blockUser('bob');
    await earlier.disconnectUser();

    const alice = await connected('alice');
    const bob = await connected('bob');
    const carol = await connected('carol');
    // connectUser resolves with the blocks loaded, before any channel is watched.
    expect(Object.keys(alice.store.getState().blocks)).toEqual(['bob']);
    const [a, b, c] = [alice, bob, carol].map((x) => x.channel('messaging', 'block-loaded'));
    await Promise.all([a!.watch(), b!.watch(), c!.watch()]);

    const seenByAlice: string[] = [];
    alice.on('message.new', (e) => seenByAlice.push(e.message.text));
    const fromBob = await b!.sendMessage({ text: 'bob speaks' });
    await b!.updateMessage(fromBob.id, { text: 'bob speaks, edited' });
    await c!.sendMessage({ text: 'carol speaks' });
    // carol sees bob; alice sees carol's later message, and nothing of bob's.
    await eventually(() => expect(texts(carol, c!.cid)).toEqual(['bob speaks, edited', 'carol speaks']));
    await eventually(() => expect(texts(alice, a!.cid)).toEqual(['carol speaks']));
    expect(selectMessage(alice.store.getState(), a!.cid, fromBob.id)).toBeUndefined();
    // The raw event still reaches listeners (apps may log it); the store never holds it.
    expect(seenByAlice).toContain('bob speaks');
    await alice.unblockUser('bob');
  });

  it('blocking hides what is loaded at once; a block from another device arrives as an event; unblock lets new messages in', async () => {
    await channel('block-live');
    const alice = await connected('alice');
    const alicePhone = await connected('alice');
    const bob = await connected('bob');
    const [a, phone, b] = [alice, alicePhone, bob].map((x) => x.channel('messaging', 'block-live'));
    await Promise.all([a!.watch(), phone!.watch(), b!.watch()]);
    await b!.sendMessage({ text: 'before the block' });
    await eventually(() => expect(texts(alice, a!.cid)).toEqual(['before the block']));
    await eventually(() => expect(texts(alicePhone, a!.cid)).toEqual(['before the block']));

    await alicePhone.blockUser('bob');
    expect(texts(alicePhone, a!.cid)).toEqual([]);
    // The other device hears notification.user_blocked on the user's channel.
    await eventually(() => expect(alice.store.getState().blocks.bob?.target_id).toBe('bob'));
    expect(texts(alice, a!.cid)).toEqual([]);

    await b!.sendMessage({ text: 'while blocked' });
    await alice.channel('messaging', 'block-live').sendMessage({ text: 'alice marker' });
    await eventually(() => expect(texts(alicePhone, a!.cid)).toEqual(['alice marker']));
    expect(texts(alice, a!.cid)).toEqual(['alice marker']);

    await alice.unblockUser('bob');
    expect(alice.store.getState().blocks).toEqual({});
    await eventually(() => expect(alicePhone.store.getState().blocks).toEqual({}));
    await b!.sendMessage({ text: 'after the unblock' });
    await eventually(() => expect(texts(alice, a!.cid)).toContain('after the unblock'));
  });

  it('mutes are loaded on connect and kept current by events', async () => {
    await channel('mutes');
    const alice = await connected('alice');
    expect(alice.store.getState().userMutes).toEqual({});
    await alice.rest.muteUser({ target_id: 'carol' });
    await alice.rest.muteChannel({ cid: 'messaging:mutes' });
    await eventually(() => {
      const s = alice.store.getState();
      expect(Object.keys(s.userMutes)).toEqual(['carol']);
      expect(Object.keys(s.channelMutes)).toEqual(['messaging:mutes']);
    });
    const again = await connected('alice');
    expect(Object.keys(again.store.getState().userMutes)).toEqual(['carol']);
    expect(Object.keys(again.store.getState().channelMutes)).toEqual(['messaging:mutes']);
    await alice.rest.unmuteUser({ target_id: 'carol' });
    await eventually(() => expect(again.store.getState().userMutes).toEqual({}));
  });
});

describe('presence', () => {
  it('queryPresence lists who watches a channel; user.presence events follow them going offline', async () => {
    await channel('presence');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'presence');
    await Promise.all([a.watch(), bob.channel('messaging', 'presence').watch()]);
    const users = await a.queryPresence();
    expect(users.sort()).toEqual(['alice', 'bob']);
    expect(alice.presence('bob').online).toBe(true);

    const changes: boolean[] = [];
    const off = alice.onPresence('bob', (p) => changes.push(p.online));
    await bob.disconnectUser();
    await eventually(() => expect(alice.presence('bob').online).toBe(false));
    expect(alice.presence('bob').last_active_at).not.toBeNull();
    // (a user.presence of bob's connect may still arrive before: the last change is the one that counts)
    expect(changes.at(-1)).toBe(false);
    // A second cycle: events without an id (ephemeral) are never mistaken for repeats.
    const back = await connected('bob');
    await back.channel('messaging', 'presence').watch();
    await eventually(() => expect(alice.presence('bob').online).toBe(true));
    await back.disconnectUser();
    await eventually(() => expect(alice.presence('bob').online).toBe(false));
    expect(changes.slice(-2)).toEqual([true, false]);
    off();
  });
});

describe('pins, stars, reminders, scheduled messages, drafts', () => {
  it('pin and unpin show in both stores; the pinned list; stars in state.starred and on other devices', async () => {
    await channel('pins');
    const alice = await connected('alice');
    const alicePhone = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'pins');
    const b = bob.channel('messaging', 'pins');
    await Promise.all([a.watch(), b.watch(), alicePhone.channel('messaging', 'pins').watch()]);
    const m = await a.sendMessage({ text: 'pin me' });

    const pinned = await alice.pinMessage(m.id);
    expect(pinned.pinned).toBe(true);
    expect(selectMessage(alice.store.getState(), a.cid, m.id)?.pinned).toBe(true);
    await eventually(() => expect(selectMessage(bob.store.getState(), b.cid, m.id)?.pinned_by).toBe('alice'));
    expect((await b.pinnedMessages()).messages.map((x) => x.id)).toEqual([m.id]);
    await alice.unpinMessage(m.id);
    await eventually(() => expect(selectMessage(bob.store.getState(), b.cid, m.id)?.pinned).toBeFalsy());
    expect((await b.pinnedMessages()).messages).toEqual([]);

    await alice.starMessage(m.id);
    expect(alice.store.getState().starred[m.id]).toBeTruthy();
    await eventually(() => expect(alicePhone.store.getState().starred[m.id]).toBeTruthy());
    expect((await alice.rest.starredMessages()).starred.map((s) => s.message.id)).toEqual([m.id]);
    await alicePhone.starMessage(m.id, false);
    await eventually(() => expect(alice.store.getState().starred[m.id]).toBeUndefined());
  });

  it('reminders: set, moved, listed, cancelled — on this device and the other', async () => {
    await channel('reminders');
    const alice = await connected('alice');
    const phone = await connected('alice');
    const a = alice.channel('messaging', 'reminders');
    await a.watch();
    const m = await a.sendMessage({ text: 'remember me' });

    const reminder = await alice.setReminder(m.id, { remind_in_seconds: 3600, note: 'later' });
    expect(alice.store.getState().reminders[m.id]?.note).toBe('later');
    await eventually(() => expect(phone.store.getState().reminders[m.id]?.note).toBe('later'));
    const moved = await alice.setReminder(m.id, { remind_in_seconds: 7200 });
    expect(moved.remind_at > reminder.remind_at).toBe(true);
    const listed = await phone.loadReminders();
    expect(listed.reminders.map((r) => r.message_id)).toEqual([m.id]);
    expect(phone.store.getState().reminders[m.id]?.remind_at).toBe(moved.remind_at);
    await phone.cancelReminder(m.id);
    expect(phone.store.getState().reminders).toEqual({});
    await eventually(() => expect(alice.store.getState().reminders).toEqual({}));
  });

  it('scheduled messages: schedule, edit, list, cancel', async () => {
    await channel('scheduled');
    const alice = await connected('alice');
    const a = alice.channel('messaging', 'scheduled');
    await a.watch();
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await a.scheduleMessage({ send_at: sendAt, text: 'in an hour' });
    expect(alice.store.getState().scheduledMessages[scheduled.id]?.status).toBe('scheduled');
    const edited = await alice.updateScheduledMessage(scheduled.id, { text: 'in an hour, edited' });
    expect(edited.text).toBe('in an hour, edited');
    expect(alice.store.getState().scheduledMessages[scheduled.id]?.text).toBe('in an hour, edited');
    const other = await connected('alice');
    const page = await other.loadScheduledMessages({ cid: a.cid });
    expect(page.scheduled_messages.map((s) => s.id)).toEqual([scheduled.id]);
    await other.cancelScheduledMessage(scheduled.id);
    expect(other.store.getState().scheduledMessages).toEqual({});
    await eventually(() => expect(alice.store.getState().scheduledMessages).toEqual({}));
    expect((await alice.rest.getScheduledMessage(scheduled.id).catch((e) => e)).status).toBe(404);
  });

  it('drafts: saved, loaded on another device, deleted', async () => {
    await channel('drafts');
    const alice = await connected('alice');
    const phone = await connected('alice');
    const cid = 'messaging:drafts';
    await alice.saveDraft(cid, { text: 'half a thought' });
    expect(alice.store.getState().drafts[draftKey(cid)]?.text).toBe('half a thought');
    await eventually(() => expect(phone.store.getState().drafts[draftKey(cid)]?.text).toBe('half a thought'));
    const fresh = await connected('alice');
    await fresh.loadDrafts();
    expect(fresh.store.getState().drafts[draftKey(cid)]?.text).toBe('half a thought');
    await phone.deleteDraft(cid);
    expect(phone.store.getState().drafts).toEqual({});
    await eventually(() => expect(alice.store.getState().drafts).toEqual({}));
  });
});

describe('receipts, mark unread, edit history, message actions, push and email', () => {
  it('mark delivered and read-by; mark unread moves the counts', async () => {
    await channel('receipts');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'receipts');
    const b = bob.channel('messaging', 'receipts');
    await Promise.all([a.watch(), b.watch()]);
    const first = await a.sendMessage({ text: 'one' });
    await a.sendMessage({ text: 'two' });
    await eventually(() => expect(b.messages.map((m) => m.text)).toEqual(['one', 'two']));

    const delivered = await bob.rest.markDelivered({ channels: [{ cid: b.cid }] });
    expect(delivered.channels[0]).toMatchObject({ cid: b.cid, last_delivered_seq: 2 });
    // message.delivered reaches alice's store: bob's member entry.
    await eventually(() => expect(a.state?.members.bob?.last_delivered_seq).toBe(2));
    expect((await alice.rest.readBy(first.id)).delivered_to.map((r) => r.user_id)).toEqual(['bob']);

    await b.markRead();
    await eventually(async () =>
      expect((await alice.rest.readBy(first.id)).read_by.map((r) => r.user_id)).toEqual(['bob']),
    );
    expect(b.unreadCount).toBe(0);
    await b.markUnread(first.id);
    expect(b.unreadCount).toBe(2);
    expect(bob.store.getState().unread.channels[b.cid]).toBe(2);
    await eventually(() => expect(b.state?.membership?.last_read_seq).toBe(0));
  });

  it('edit history of a message', async () => {
    await channel('edits');
    const alice = await connected('alice');
    const a = alice.channel('messaging', 'edits');
    await a.watch();
    const m = await a.sendMessage({ text: 'first' });
    await a.updateMessage(m.id, { text: 'second' });
    const { edits } = await alice.rest.messageEdits(m.id);
    expect(edits.map((e) => e.text)).toEqual(['first']);
  });

  it('/giphy: the preview replaces the pending message; shuffle, then send', async () => {
    await channel('giphy');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'giphy');
    const b = bob.channel('messaging', 'giphy');
    await Promise.all([a.watch(), b.watch()]);
    const preview = await a.sendMessage({ text: '/giphy cats' });
    expect(preview.type).toBe('ephemeral');
    expect(a.messages.map((m) => [m.id, m.status])).toEqual([[preview.id, 'sent']]);

    const shuffled = await a.sendMessageAction(preview.id, { image_action: 'shuffle' });
    expect(shuffled.id).toBe(preview.id);
    expect(a.messages).toHaveLength(1);
    expect(shuffled.attachments).not.toEqual(preview.attachments);
    expect(a.messages[0]!.attachments).toEqual(shuffled.attachments);

    const sent = await a.sendMessageAction(preview.id, { image_action: 'send' });
    expect(sent.type).toBe('regular');
    expect(a.messages.map((m) => m.id)).toEqual([sent.id]);
    await eventually(() => expect(b.messages.map((m) => m.id)).toEqual([sent.id]));

    const again = await a.sendMessage({ text: '/giphy dogs' });
    await a.sendMessageAction(again.id, { image_action: 'cancel' });
    expect(a.messages.map((m) => m.id)).toEqual([sent.id]);
  });

  it('push devices and preferences, email preferences', async () => {
    await channel('push');
    const alice = await connected('alice');
    const { device } = await alice.rest.registerDevice({ provider: 'fcm', token: 'fcm-token-1' });
    expect((await alice.rest.listDevices()).devices.map((d) => d.id)).toEqual([device.id]);
    await alice.rest.deleteDevice(device.id);
    expect((await alice.rest.listDevices()).devices).toEqual([]);

    const { preferences } = await alice.rest.updatePushPreferences({
      level: 'mentions',
      channels: { 'messaging:push': 'none' },
    });
    expect(preferences).toMatchObject({ level: 'mentions', channels: { 'messaging:push': 'none' } });
    expect((await alice.rest.pushPreferences()).preferences.level).toBe('mentions');
    expect(await alice.rest.pushConfig()).toBeTypeOf('object');

    await alice.rest.updateEmailPreferences({ email: 'alice@example.com', digest: true });
    expect((await alice.rest.emailPreferences()).preferences).toMatchObject({
      email: 'alice@example.com',
      digest: true,
    });
  });
});
