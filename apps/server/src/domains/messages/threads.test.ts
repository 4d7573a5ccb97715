import type { Message, ParleyEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture } from '../../test-support/chat-fixture.js';
import type { ApiClient } from '../../test-support/harness.js';

let fx: ChatFixture;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let eve: ApiClient;

let counter = 0;
/** A fresh messaging channel owned by alice, with bob and carol. */
async function channel(extra: Record<string, unknown> = {}, type = 'messaging') {
  const id = `t${++counter}`;
  const res = await alice.post('/channels', { type, id, members: ['bob', 'carol'], ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { path: `/channels/${type}/${id}`, cid: `${type}:${id}` };
}

async function send(client: ApiClient, path: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await client.post(`${path}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as Message;
}

const get = async (client: ApiClient, id: string) => {
  const res = await client.get(`/messages/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.message as Message;
};

const eventsFor = <T extends ParleyEvent['type']>(type: T, messageId: string) =>
  fx.events.filter(
    (e): e is Extract<ParleyEvent, { type: T }> =>
      e.type === type && 'message' in e && (e.message as Message).id === messageId,
  );

beforeAll(async () => {
  fx = await chatFixture(['alice', 'bob', 'carol', 'eve'].map((id) => ({ id })));
  ({ alice, bob, carol, eve } = fx.users as Record<'alice' | 'bob' | 'carol' | 'eve', ApiClient>);
});
afterAll(() => fx?.close());

describe('thread replies', () => {
  it('keep reply_count, thread_participants (author first) and last_reply_at on the parent', async () => {
    const { path } = await channel();
    const parent = await send(alice, path, 'parent');
    expect(parent).toMatchObject({ reply_count: 0, thread_participants: [], last_reply_at: null });
    const r1 = await send(bob, path, 'r1', { parent_id: parent.id });
    const r2 = await send(carol, path, 'r2', { parent_id: parent.id });
    await send(bob, path, 'r3', { parent_id: parent.id });
    const after = await get(alice, parent.id);
    expect(after).toMatchObject({ reply_count: 3, thread_participants: ['alice', 'bob', 'carol'] });
    expect(after.last_reply_at).not.toBeNull();
    expect(new Date(after.last_reply_at!).getTime()).toBeGreaterThanOrEqual(
      new Date(r2.created_at).getTime(),
    );
    expect(r1).toMatchObject({ type: 'reply', parent_id: parent.id, reply_count: 0 });
    // The parent's updated_at moves with its counters (last-writer-wins clients keep the newest).
    expect(after.updated_at > parent.updated_at).toBe(true);
    expect(after.edited_at).toBeNull();
  });

  it('message.new of a reply carries the updated parent; old parent + event = refetched parent', async () => {
    const { path, cid } = await channel();
    const parent = await send(alice, path, 'parent');
    const reply = await send(bob, path, 'reply', { parent_id: parent.id });
    const [event] = eventsFor('message.new', reply.id);
    expect(event).toMatchObject({ cid, message: { id: reply.id, parent_id: parent.id } });
    expect(event!.thread_parent).toEqual(await get(alice, parent.id));
    // A top-level message has no thread_parent.
    expect(eventsFor('message.new', parent.id)[0]).not.toHaveProperty('thread_parent');
  });

  it('lists replies oldest first with id_lt / id_gt / id_around cursors, tombstones included', async () => {
    const { path } = await channel();
    const parent = await send(alice, path, 'parent');
    const other = await send(alice, path, 'other parent');
    const replies: Message[] = [];
    for (let i = 0; i < 7; i++) {
      replies.push(await send(i % 2 ? bob : carol, path, `r${i}`, { parent_id: parent.id }));
      if (i === 3) await send(bob, path, 'elsewhere', { parent_id: other.id });
    }
    const texts = async (query = '') => {
      const res = await bob.get(`/messages/${parent.id}/replies${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return (res.body.messages as Message[]).map((m) => m.text);
    };
    expect(await texts()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(await texts('?limit=3')).toEqual(['r4', 'r5', 'r6']);
    expect(await texts(`?id_lt=${replies[4]!.id}&limit=2`)).toEqual(['r2', 'r3']);
    expect(await texts(`?id_gt=${replies[4]!.id}`)).toEqual(['r5', 'r6']);
    expect(await texts(`?id_around=${replies[3]!.id}&limit=3`)).toEqual(['r2', 'r3', 'r4']);
    // A cursor from another thread, or the parent itself, is not a reply of this thread.
    const elsewhere = (await bob.get(`/messages/${other.id}/replies`)).body.messages[0].id;
    for (const cursor of [elsewhere, parent.id]) {
      const res = await bob.get(`/messages/${parent.id}/replies?id_lt=${cursor}`);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'MESSAGE_NOT_FOUND', details: { field: 'query.id_lt' } });
    }
    // Replies of a reply: threads do not nest.
    const nested = await bob.get(`/messages/${replies[0]!.id}/replies`);
    expect(nested.status).toBe(400);
    expect(nested.body.code).toBe('THREAD_NESTED');
    // Non-members cannot read the thread.
    expect((await eve.get(`/messages/${parent.id}/replies`)).status).toBe(403);
    expect((await bob.get('/messages/01900000-0000-7000-8000-000000000000/replies')).status).toBe(404);

    await bob.delete(`/messages/${replies[1]!.id}`);
    const listed = (await bob.get(`/messages/${parent.id}/replies`)).body.messages as Message[];
    expect(listed.map((m) => m.type)).toEqual([
      'reply',
      'deleted',
      'reply',
      'reply',
      'reply',
      'reply',
      'reply',
    ]);
  });

  it('deleting a reply keeps counts honest: reply_count and last_reply_at follow live replies; participants stay', async () => {
    const { path } = await channel();
    const parent = await send(alice, path, 'parent');
    const r1 = await send(bob, path, 'r1', { parent_id: parent.id });
    const r2 = await send(carol, path, 'r2', { parent_id: parent.id });

    const soft = await carol.delete(`/messages/${r2.id}`);
    expect(soft.status).toBe(200);
    const afterSoft = await get(alice, parent.id);
    expect(afterSoft).toMatchObject({
      reply_count: 1,
      last_reply_at: r1.created_at,
      thread_participants: ['alice', 'bob', 'carol'],
    });
    const [deleted] = eventsFor('message.deleted', r2.id);
    expect(deleted!.thread_parent).toEqual(afterSoft);

    // Deleting it again changes nothing; a hard delete of a tombstone does not count twice.
    expect((await carol.delete(`/messages/${r2.id}`)).status).toBe(200);
    expect((await fx.app.server.delete(`/messages/${r2.id}?hard=true`)).status).toBe(200);
    expect(await get(alice, parent.id)).toMatchObject({ reply_count: 1 });

    expect((await fx.app.server.delete(`/messages/${r1.id}?hard=true`)).status).toBe(200);
    expect(await get(alice, parent.id)).toMatchObject({ reply_count: 0, last_reply_at: null });
  });

  it('concurrent replies and deletes leave the parent counting exactly the live replies', async () => {
    const { path } = await channel();
    const parent = await send(alice, path, 'parent');
    const first = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        send(i % 2 ? bob : carol, path, `r${i}`, { parent_id: parent.id }),
      ),
    );
    await Promise.all([
      ...first.slice(0, 5).map((m) => fx.app.server.delete(`/messages/${m.id}`)),
      ...first.slice(0, 5).map((m) => fx.app.server.delete(`/messages/${m.id}`)),
      ...Array.from({ length: 5 }, (_, i) => send(bob, path, `late${i}`, { parent_id: parent.id })),
    ]);
    const after = await get(alice, parent.id);
    const live = (
      (await bob.get(`/messages/${parent.id}/replies?limit=300`)).body.messages as Message[]
    ).filter((m) => !m.deleted_at);
    expect(live).toHaveLength(10);
    expect(after.reply_count).toBe(10);
    expect(after.last_reply_at).toBe(live.at(-1)!.created_at);
  });

  it('show_in_channel replies appear in the channel; others only in the thread', async () => {
    const { path } = await channel();
    const parent = await send(alice, path, 'parent');
    await send(bob, path, 'thread only', { parent_id: parent.id });
    await send(bob, path, 'both', { parent_id: parent.id, show_in_channel: true });
    const channelTexts = ((await bob.get(`${path}/messages`)).body.messages as Message[]).map((m) => m.text);
    expect(channelTexts).toEqual(['parent', 'both']);
  });
});

describe('bad thread and quote input', () => {
  it('answers clear codes: unknown, cross-channel, reply-to-reply, deleted targets', async () => {
    const { path } = await channel();
    const { path: otherPath } = await channel();
    const parent = await send(alice, path, 'parent');
    const reply = await send(bob, path, 'reply', { parent_id: parent.id });
    const foreign = await send(alice, otherPath, 'elsewhere');
    const gone = await send(alice, path, 'soon deleted');
    await alice.delete(`/messages/${gone.id}`);
    const unknown = '01900000-0000-7000-8000-000000000000';
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ parent_id: unknown }, 404, 'MESSAGE_NOT_FOUND', 'parent_id'],
      [{ parent_id: foreign.id }, 404, 'MESSAGE_NOT_FOUND', 'parent_id'],
      [{ parent_id: reply.id }, 400, 'THREAD_NESTED', 'parent_id'],
      [{ parent_id: gone.id }, 400, 'MESSAGE_DELETED', 'parent_id'],
      [{ reply_to_id: unknown }, 404, 'MESSAGE_NOT_FOUND', 'reply_to_id'],
      [{ reply_to_id: foreign.id }, 404, 'MESSAGE_NOT_FOUND', 'reply_to_id'],
      [{ reply_to_id: gone.id }, 400, 'MESSAGE_DELETED', 'reply_to_id'],
    ];
    for (const [extra, status, code, field] of cases) {
      const res = await bob.post(`${path}/messages`, { text: 'x', ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(status);
      expect(res.body, JSON.stringify(extra)).toMatchObject({ code, details: { field } });
    }
    // Nothing was written by the refused sends.
    expect(await get(alice, parent.id)).toMatchObject({ reply_count: 1 });
  });

  it('refuses replies and quotes where the channel type turns them off', async () => {
    await fx.app.server.post('/channel-types', { name: 'flat', config: { replies: false, quotes: false } });
    const { path } = await channel({}, 'flat');
    const msg = await send(alice, path, 'hello');
    for (const field of ['parent_id', 'reply_to_id']) {
      const res = await bob.post(`${path}/messages`, { text: 'x', [field]: msg.id });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'FORBIDDEN', details: { field } });
    }
  });
});

describe('quoted replies', () => {
  it('embed the quoted message (id, user, ≤ 200-character excerpt, deleted) in answers and events', async () => {
    const { path } = await channel();
    const long = `${'é'.repeat(150)}${'😀'.repeat(100)}`;
    const quotedLong = await send(alice, path, long);
    const quotedShort = await send(carol, path, 'short one');
    const q1 = await send(bob, path, 'quoting long', { reply_to_id: quotedLong.id });
    const q2 = await send(bob, path, 'quoting short', { reply_to_id: quotedShort.id });
    const excerpt = q1.quoted_message!.text;
    expect([...excerpt]).toHaveLength(200);
    expect(excerpt.endsWith('😀…')).toBe(true);
    expect(q1.quoted_message).toMatchObject({ id: quotedLong.id, user_id: 'alice', deleted: false });
    expect(q2.quoted_message).toEqual({
      id: quotedShort.id,
      user_id: 'carol',
      text: 'short one',
      deleted: false,
    });
    expect(eventsFor('message.new', q2.id)[0]!.message.quoted_message).toEqual(q2.quoted_message);
    expect(quotedShort.quoted_message).toBeNull();

    // Listed pages carry them too; a deleted quoted message shows as a tombstone.
    await carol.delete(`/messages/${quotedShort.id}`);
    const listed = (await bob.get(`${path}/messages`)).body.messages as Message[];
    const byId = new Map(listed.map((m) => [m.id, m]));
    expect(byId.get(q1.id)!.quoted_message!.text).toBe(excerpt);
    expect(byId.get(q2.id)!.quoted_message).toEqual({
      id: quotedShort.id,
      user_id: 'carol',
      text: '',
      deleted: true,
    });
    // Hard-deleted: the quote stays a tombstone without a user.
    await fx.app.server.delete(`/messages/${quotedShort.id}?hard=true`);
    expect((await get(bob, q2.id)).quoted_message).toEqual({
      id: quotedShort.id,
      user_id: null,
      text: '',
      deleted: true,
    });
    // Edits keep the quote in answers and in message.updated.
    const edited = await bob.patch(`/messages/${q1.id}`, { text: 'quoting long (edited)' });
    expect(edited.body.message.quoted_message.text).toBe(excerpt);
    expect(eventsFor('message.updated', q1.id)[0]!.message.quoted_message!.text).toBe(excerpt);
  });
});

describe('thread list and read position', () => {
  it('lists the threads a user takes part in, newest activity first, with unread replies', async () => {
    const { path, cid } = await channel();
    const t1 = await send(alice, path, 'thread one');
    const t2 = await send(carol, path, 'thread two');
    const notMine = await send(carol, path, 'carol only');
    await send(carol, path, 'self reply', { parent_id: notMine.id });

    await send(bob, path, 'bob in t1', { parent_id: t1.id });
    await send(carol, path, 'carol in t1', { parent_id: t1.id });
    await send(carol, path, 'carol in t1 again', { parent_id: t1.id });
    await send(bob, path, 'bob in t2', { parent_id: t2.id });

    const list = async (client: ApiClient, query = '') => {
      const res = await client.get(`/threads${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body as {
        threads: { cid: string; parent: Message; unread_replies: number }[];
        next: string | null;
      };
    };
    const bobs = await list(bob, `?cid=${cid}`);
    expect(bobs.threads.map((t) => [t.parent.text, t.unread_replies])).toEqual([
      ['thread two', 0],
      ['thread one', 2],
    ]);
    expect(bobs.threads[1]).toMatchObject({ cid, parent: { reply_count: 3 } });
    // The parent's author takes part without replying; her own replies are never unread.
    const alices = await list(alice, `?cid=${cid}`);
    expect(alices.threads.map((t) => [t.parent.text, t.unread_replies])).toEqual([['thread one', 3]]);
    const carols = await list(carol, `?cid=${cid}`);
    // Carol's own reply moved her read position past bob's earlier one.
    expect(carols.threads.map((t) => [t.parent.text, t.unread_replies])).toEqual([
      ['thread two', 1],
      ['thread one', 0],
      ['carol only', 0],
    ]);

    // Pages with `next`.
    const first = await list(carol, `?cid=${cid}&limit=2`);
    expect(first.threads).toHaveLength(2);
    const second = await list(carol, `?cid=${cid}&limit=2&next=${first.next}`);
    expect(second.threads.map((t) => t.parent.text)).toEqual(['carol only']);
    expect(second.next).toBeNull();
    const bad = await carol.get('/threads?next=garbage');
    expect(bad.status).toBe(400);
    expect(bad.body.details.field).toBe('query.next');

    // Marking read: up to a reply, then everything; events go to the reader's own channel.
    const replies = (await alice.get(`/messages/${t1.id}/replies`)).body.messages as Message[];
    const upTo = await alice.post(`/threads/${t1.id}/read`, { message_id: replies[1]!.id });
    expect(upTo.status, JSON.stringify(upTo.body)).toBe(200);
    expect(upTo.body.thread).toMatchObject({ unread_replies: 1, last_read_seq: replies[1]!.seq });
    const all = await alice.post(`/threads/${t1.id}/read`, {});
    expect(all.body.thread).toMatchObject({ unread_replies: 0, last_read_seq: replies[2]!.seq });
    // Never backwards.
    const back = await alice.post(`/threads/${t1.id}/read`, { message_id: replies[0]!.id });
    expect(back.body.thread.last_read_seq).toBe(replies[2]!.seq);
    expect((await list(alice, `?cid=${cid}`)).threads[0]!.unread_replies).toBe(0);
    const readEvents = fx.events.filter(
      (e) => e.type === 'notification.thread_read' && e.parent_id === t1.id,
    );
    expect(
      readEvents.map((e) => e.type === 'notification.thread_read' && [e.user_id, e.last_read_seq]),
    ).toEqual([
      ['alice', replies[1]!.seq],
      ['alice', replies[2]!.seq],
      ['alice', replies[2]!.seq],
    ]);
    // A new reply by someone else is unread again; a deleted one is not counted.
    const late = await send(bob, path, 'late', { parent_id: t1.id });
    expect((await list(alice, `?cid=${cid}`)).threads[0]!.unread_replies).toBe(1);
    await bob.delete(`/messages/${late.id}`);
    expect((await list(alice, `?cid=${cid}`)).threads[0]!.unread_replies).toBe(0);
  });

  it('refuses bad mark-read input and hides threads of channels the user left', async () => {
    const { path, cid } = await channel();
    const parent = await send(alice, path, 'parent');
    const reply = await send(bob, path, 'reply', { parent_id: parent.id });
    const other = await send(alice, path, 'other');
    const notAReply = await bob.post(`/threads/${parent.id}/read`, { message_id: other.id });
    expect(notAReply.status).toBe(404);
    expect(notAReply.body).toMatchObject({ code: 'MESSAGE_NOT_FOUND', details: { field: 'message_id' } });
    expect((await bob.post(`/threads/${reply.id}/read`, {})).body.code).toBe('THREAD_NESTED');
    expect((await eve.post(`/threads/${parent.id}/read`, {})).status).toBe(403);
    expect((await fx.app.server.post(`/threads/${parent.id}/read`, {})).status).toBe(400);
    expect((await fx.app.server.get(`/threads?user_id=bob&cid=${cid}`)).body.threads).toHaveLength(1);

    expect((await alice.post(`${path}/members/remove`, { user_ids: ['bob'] })).status).toBe(200);
    expect((await bob.get(`/threads?cid=${cid}`)).body.threads).toEqual([]);
  });
});
