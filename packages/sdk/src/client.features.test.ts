import { describe, expect, it } from 'vitest';
import { ParleyApiError } from './errors.js';
import { selectMentions, selectMessage, selectThreads } from './state/selectors.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';

/** Threads, reactions and mentions through the SDK, against a real server (PGlite or Postgres). */

const fx = useServerFixture({ users: ['alice', 'bob', 'carol'] });
const { channel, connected } = fx;

describe('threads', () => {
  it('replies: optimistic in the thread, live to the other side, paginated, with thread list and read state', async () => {
    await channel('threads');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'threads');
    const b = bob.channel('messaging', 'threads');
    await Promise.all([a.watch(), b.watch()]);
    const parent = await a.sendMessage({ text: 'a question' });
    await eventually(() => expect(b.messages.map((m) => m.id)).toEqual([parent.id]));
    await b.loadReplies(parent.id);
    expect(b.replies(parent.id)).toEqual([]);

    // 12 replies by alice; bob sees each live in the thread, never in the channel list.
    for (let i = 1; i <= 12; i++) {
      const sent = a.sendReply(parent.id, { text: `r${i}` });
      expect(a.replies(parent.id).at(-1)).toMatchObject({ text: `r${i}`, status: 'sending' });
      await sent;
    }
    await eventually(() => expect(b.replies(parent.id)).toHaveLength(12));
    expect(b.messages.map((m) => m.text)).toEqual(['a question']);
    await eventually(() => expect(b.messages[0]?.reply_count).toBe(12));

    // A fresh client pages the replies: no gaps, no duplicates.
    const carolView = await connected('bob', {});
    const c = carolView.channel('messaging', 'threads');
    await c.watch();
    expect(await c.loadReplies(parent.id, { limit: 5 })).toHaveLength(5);
    while ((await c.loadReplies(parent.id, { page: 'older', limit: 5 })).length > 0);
    expect(c.replies(parent.id).map((m) => m.text)).toEqual(
      Array.from({ length: 12 }, (_, i) => `r${i + 1}`),
    );
    expect(carolView.store.getState().replies[parent.id]?.hasOlder).toBe(false);

    // Bob replies too: he takes part now; alice's thread list shows his reply as unread.
    await alice.queryThreads();
    expect(selectThreads(alice.store.getState()).map((t) => [t.parent.id, t.unread_replies])).toEqual([
      [parent.id, 0],
    ]);
    await b.sendReply(parent.id, { text: 'an answer' });
    await eventually(() =>
      expect(selectThreads(alice.store.getState()).map((t) => t.unread_replies)).toEqual([1]),
    );
    await bob.queryThreads();
    expect(selectThreads(bob.store.getState()).map((t) => t.parent.id)).toEqual([parent.id]);

    const read = await a.markThreadRead(parent.id);
    expect(read.unread_replies).toBe(0);
    expect(a.thread(parent.id)?.unread_replies).toBe(0);
    const fresh = await alice.rest.listThreads();
    expect(fresh.threads.map((t) => t.unread_replies)).toEqual([0]);
    expect(a.thread(parent.id)?.last_read_seq).toBe(fresh.threads[0]!.last_read_seq);
  });
});

describe('message pagination', () => {
  it('jumps to a message, then pages newer and older without gaps or duplicates, while new ones arrive', async () => {
    await channel('jump');
    const alice = await fx.app.as('alice');
    const sent: { id: string; text: string }[] = [];
    for (let i = 1; i <= 60; i++)
      sent.push((await alice.post('/channels/messaging/jump/messages', { text: `m${i}` })).body.message);
    const bob = await connected('bob', { messageLimit: 10 });
    const ch = bob.channel('messaging', 'jump');
    await ch.watch();
    expect(ch.messages.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `m${51 + i}`));

    await ch.loadAround(sent[19]!.id, 10); // m20
    expect(ch.messages.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `m${15 + i}`));
    expect([ch.hasOlder, ch.hasNewer]).toEqual([true, true]);
    // A live message while the window is in the past: not appended (it would leave a gap).
    await alice.post('/channels/messaging/jump/messages', { text: 'm61' });
    await eventually(() => expect(ch.state?.channel.last_seq).toBe(61));
    expect(ch.messages.at(-1)?.text).toBe('m24');
    while (ch.hasNewer) await ch.loadNewer(10);
    while (ch.hasOlder) await ch.loadOlder(10);
    expect(ch.messages.map((m) => m.text)).toEqual(Array.from({ length: 61 }, (_, i) => `m${i + 1}`));
    expect(new Set(ch.messages.map((m) => m.id)).size).toBe(61);
    // Now at the latest again: live messages append.
    await alice.post('/channels/messaging/jump/messages', { text: 'm62' });
    await eventually(() => expect(ch.messages.at(-1)?.text).toBe('m62'));
  });
});

describe('reactions', () => {
  it('toggle shows at once, matches the server, and enforce_unique replaces the own reaction', async () => {
    await channel('reactions');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'reactions');
    const b = bob.channel('messaging', 'reactions');
    await Promise.all([a.watch(), b.watch()]);
    const m = await b.sendMessage({ text: 'react to me' });
    await eventually(() => expect(a.messages.map((x) => x.id)).toEqual([m.id]));

    const added = a.toggleReaction(m.id, 'like');
    // At once, before the server answered.
    expect(selectMessage(alice.store.getState(), a.cid, m.id)).toMatchObject({
      reaction_counts: { like: 1 },
      own_reactions: [{ type: 'like', user_id: 'alice' }],
    });
    await added;
    await eventually(() =>
      expect(selectMessage(bob.store.getState(), b.cid, m.id)?.reaction_counts).toEqual({ like: 1 }),
    );
    // Bob's copy came from an event: his own reactions stay empty.
    expect(selectMessage(bob.store.getState(), b.cid, m.id)?.own_reactions).toEqual([]);

    await a.sendReaction(m.id, 'love', { enforce_unique: true });
    const server = (await alice.rest.getMessage(m.id)).message;
    expect(server.reaction_counts).toEqual({ love: 1 });
    const local = selectMessage(alice.store.getState(), a.cid, m.id)!;
    expect(local.reaction_counts).toEqual(server.reaction_counts);
    expect(local.own_reactions?.map((r) => r.type)).toEqual(['love']);
    await eventually(() =>
      expect(selectMessage(bob.store.getState(), b.cid, m.id)?.reaction_counts).toEqual({ love: 1 }),
    );

    await a.toggleReaction(m.id, 'love'); // off again
    expect(selectMessage(alice.store.getState(), a.cid, m.id)?.reaction_counts).toEqual({});
    await eventually(() =>
      expect(selectMessage(bob.store.getState(), b.cid, m.id)?.reaction_counts).toEqual({}),
    );
  });

  it('reverts an optimistic reaction the server refuses', async () => {
    await channel('reactions-frozen');
    const alice = await connected('alice');
    const a = alice.channel('messaging', 'reactions-frozen');
    await a.watch();
    const m = await a.sendMessage({ text: 'soon frozen' });
    await fx.app.server.put('/channels/messaging/reactions-frozen', { frozen: true, user_id: 'alice' });
    const seen: (Record<string, number> | undefined)[] = [];
    const off = alice.store.select(
      (s) => selectMessage(s, a.cid, m.id)?.reaction_counts,
      (counts) => seen.push(counts),
      { fireImmediately: false },
    );
    const error = await a.toggleReaction(m.id, 'like').catch((e: unknown) => e);
    off();
    expect(error).toBeInstanceOf(ParleyApiError);
    expect((error as ParleyApiError).code).toBe('CHANNEL_FROZEN');
    // Shown at once, then undone. The echo of the send may land in between and re-emit an equal
    // value (a new object), so the check is on the sequence of distinct values.
    const shown = seen.filter((v, i) => i === 0 || JSON.stringify(v) !== JSON.stringify(seen[i - 1]));
    expect(shown).toEqual([{ like: 1 }, {}]);
    expect(selectMessage(alice.store.getState(), a.cid, m.id)?.own_reactions).toEqual([]);
  });
});

describe('mentions', () => {
  it('lists mentions newest first, adds live ones, and pages older', async () => {
    await channel('mentions', ['alice', 'bob', 'carol']);
    const bob = await fx.app.as('bob');
    for (let i = 1; i <= 3; i++)
      await bob.post('/channels/messaging/mentions/messages', { text: `@alice look ${i}` });
    await bob.post('/channels/messaging/mentions/messages', { text: 'not a mention' });
    const alice = await connected('alice');
    expect((await alice.queryMentions({ limit: 2 })).map((m) => m.text)).toEqual([
      '@alice look 3',
      '@alice look 2',
    ]);
    await alice.loadOlderMentions();
    expect(selectMentions(alice.store.getState()).map((m) => m.text)).toEqual([
      '@alice look 3',
      '@alice look 2',
      '@alice look 1',
    ]);
    await bob.post('/channels/messaging/mentions/messages', { text: 'hey @alice' });
    await eventually(() => expect(selectMentions(alice.store.getState())[0]?.text).toBe('hey @alice'));
    const unread = await alice.unreadMentions();
    expect(unread.total_unread_mentions).toBe(4);
  });
});
