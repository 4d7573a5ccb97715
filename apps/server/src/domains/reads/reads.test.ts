import type { ParleyEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture } from '../../test-support/chat-fixture.js';
import type { ApiClient } from '../../test-support/harness.js';
import { type QueryCounter, queryCounter } from '../../test-support/query-counter.js';

let fx: ChatFixture;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let eve: ApiClient;
const eventsOf = <T extends ParleyEvent['type']>(type: T) => fx.eventsOf(type);

/** `type:id` with alice, bob and carol as members. */
const channel = (id: string, type = 'messaging', members = ['alice', 'bob', 'carol']) =>
  fx.channel(id, members, type);

beforeAll(async () => {
  fx = await chatFixture(['alice', 'bob', 'carol', 'eve'].map((id) => ({ id })));
  ({ alice, bob, carol, eve } = fx.users as Record<'alice' | 'bob' | 'carol' | 'eve', ApiClient>);
});
afterAll(() => fx?.close());

describe('unread mentions in /unread', () => {
  it('counts mentions after the read position per channel and in total', async () => {
    const one = await channel('mentions-1');
    const two = await channel('mentions-2');
    await fx.send('bob', one.path, 'hi @alice');
    await fx.send('bob', one.path, 'plain');
    await fx.send('carol', one.path, '@alice again');
    await fx.send('bob', two.path, 'and @alice here');
    const before = await alice.get('/unread');
    expect(before.status).toBe(200);
    const byCid = (body: { channels: { cid: string; unread_count: number; unread_mentions: number }[] }) =>
      Object.fromEntries(body.channels.map((c) => [c.cid, [c.unread_count, c.unread_mentions]]));
    expect(byCid(before.body)).toMatchObject({ [one.cid]: [3, 2], [two.cid]: [1, 1] });
    expect(before.body.total_unread_mentions).toBeGreaterThanOrEqual(3);
    const total = before.body.total_unread_mentions;

    const read = await alice.post(`${one.path}/read`, {});
    expect(read.status).toBe(200);
    expect(byCid(read.body)[one.cid]).toEqual([0, 0]);
    expect(read.body.total_unread_mentions).toBe(total - 2);
    // notification.mark_read carries the new total too.
    expect(eventsOf('notification.mark_read').at(-1)).toMatchObject({
      user_id: 'alice',
      total_unread_mentions: total - 2,
    });
    // A deleted mention no longer counts.
    const m = await fx.send('bob', two.path, 'another @alice');
    expect(byCid((await alice.get('/unread')).body)[two.cid]).toEqual([2, 2]);
    expect((await bob.delete(`/messages/${m.id}`)).status).toBe(200);
    expect(byCid((await alice.get('/unread')).body)[two.cid]).toEqual([2, 1]);
  });
});

describe('mark unread', () => {
  it('moves the read position back to just before the message and tells the user’s devices', async () => {
    const { cid, path } = await channel('unread-from');
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await fx.send('bob', path, `m${i}`));
    expect((await alice.post(`${path}/read`, {})).status).toBe(200);
    const res = await alice.post(`${path}/unread`, { message_id: sent[2]!.id });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const mine = res.body.channels.find((c: { cid: string }) => c.cid === cid);
    expect(mine).toMatchObject({ unread_count: 3, last_read_seq: sent[2]!.seq - 1 });
    expect(eventsOf('notification.mark_unread').at(-1)).toMatchObject({
      cid,
      user_id: 'alice',
      last_read_seq: sent[2]!.seq - 1,
      first_unread_message_id: sent[2]!.id,
      unread_messages: 3,
      total_unread_count: res.body.total_unread_count,
    });
    // The first message: everything unread.
    const all = await alice.post(`${path}/unread`, { message_id: sent[0]!.id });
    expect(all.body.channels.find((c: { cid: string }) => c.cid === cid).unread_count).toBe(5);
    // A later mark-read moves it forward again.
    await alice.post(`${path}/read`, { message_id: sent[3]!.id });
    expect(
      (await alice.get('/unread')).body.channels.find((c: { cid: string }) => c.cid === cid).unread_count,
    ).toBe(1);
  });

  it('refuses unknown messages, messages of other channels, non-members and bad input', async () => {
    const { path } = await channel('unread-bad');
    const other = await channel('unread-other');
    const elsewhere = await fx.send('bob', other.path, 'elsewhere');
    const unknown = await alice.post(`${path}/unread`, {
      message_id: '0190a0a0-0000-7000-8000-000000000000',
    });
    expect([unknown.status, unknown.body.code, unknown.body.details?.field]).toEqual([
      404,
      'MESSAGE_NOT_FOUND',
      'message_id',
    ]);
    const cross = await alice.post(`${path}/unread`, { message_id: elsewhere.id });
    expect([cross.status, cross.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
    const outsider = await eve.post(`${path}/unread`, { message_id: elsewhere.id });
    expect(outsider.status).toBe(403);
    expect((await alice.post(`${path}/unread`, {})).body.code).toBe('VALIDATION_FAILED');
    expect((await alice.post(`${path}/unread`, { message_id: 'nope' })).body.code).toBe('VALIDATION_FAILED');
    const asOther = await alice.post(`${path}/unread`, { message_id: elsewhere.id, user_id: 'bob' });
    expect([asOther.status, asOther.body.code]).toEqual([403, 'FORBIDDEN']);
  });
});

describe('delivered receipts and read-by', () => {
  it('marks delivered over several channels at once, forward only, with message.delivered', async () => {
    const one = await channel('delivered-1');
    const two = await channel('delivered-2');
    const a = await fx.send('bob', one.path, 'a');
    await fx.send('bob', one.path, 'b');
    const c = await fx.send('bob', two.path, 'c');
    await fx.send('bob', two.path, 'd');
    const count = eventsOf('message.delivered').length;
    const res = await alice.post('/channels/delivered', {
      channels: [{ cid: one.cid }, { cid: two.cid, message_id: c.id }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.channels).toMatchObject([
      { cid: one.cid, last_delivered_seq: a.seq + 1 },
      { cid: two.cid, last_delivered_seq: c.seq },
    ]);
    const fresh = eventsOf('message.delivered').slice(count);
    expect(fresh).toMatchObject([
      { cid: one.cid, user_id: 'alice', last_delivered_seq: a.seq + 1, last_delivered_message_id: null },
      { cid: two.cid, user_id: 'alice', last_delivered_seq: c.seq, last_delivered_message_id: c.id },
    ]);
    // Channel state shows the member's delivered position.
    const state = await alice.get(`${one.path}`);
    expect(state.body.channel.membership).toMatchObject({ last_delivered_seq: a.seq + 1 });
    // Backwards or repeated: nothing moves, no event.

    const again = await alice.post('/channels/delivered', { channels: [{ cid: one.cid, message_id: a.id }] });
    expect(again.body.channels).toMatchObject([{ cid: one.cid, last_delivered_seq: a.seq + 1 }]);
    expect(eventsOf('message.delivered').length).toBe(count + 2);
  });

  it('refuses channels the user is not in, foreign message ids and oversized batches', async () => {
    const mine = await channel('delivered-bad');
    const theirs = await channel('delivered-theirs', 'messaging', ['bob', 'carol']);
    const foreign = await fx.send('bob', theirs.path, 'theirs');
    const notMember = await alice.post('/channels/delivered', {
      channels: [{ cid: mine.cid }, { cid: theirs.cid }],
    });
    expect([notMember.status, notMember.body.code, notMember.body.details?.field]).toEqual([
      404,
      'MEMBER_NOT_FOUND',
      'channels.1.cid',
    ]);
    const cross = await alice.post('/channels/delivered', {
      channels: [{ cid: mine.cid, message_id: foreign.id }],
    });
    expect([cross.status, cross.body.code, cross.body.details?.field]).toEqual([
      404,
      'MESSAGE_NOT_FOUND',
      'channels.0.message_id',
    ]);
    const tooMany = await alice.post('/channels/delivered', {
      channels: Array.from({ length: 101 }, () => ({ cid: mine.cid })),
    });
    expect([tooMany.status, tooMany.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await alice.post('/channels/delivered', { channels: [] })).body.code).toBe('VALIDATION_FAILED');
    expect((await alice.post('/channels/delivered', { channels: [{ cid: 'bad' }] })).body.code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('lists who read and who received a message (reading counts as receiving)', async () => {
    const { path } = await channel('read-by');
    const m = await fx.send('bob', path, 'did you see this?');
    await carol.post('/channels/delivered', { channels: [{ cid: 'messaging:read-by' }] });
    await alice.post(`${path}/read`, {});
    const res = await bob.get(`/messages/${m.id}/read-by`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.message_id).toBe(m.id);
    expect(res.body.read_by.map((r: { user_id: string }) => r.user_id)).toEqual(['alice']);
    expect(res.body.delivered_to.map((r: { user_id: string }) => r.user_id)).toEqual(['alice', 'carol']);
    expect(res.body.member_count).toBe(2); // everyone but the author
    for (const r of [...res.body.read_by, ...res.body.delivered_to]) expect(r.at).toEqual(expect.any(String));
    // A later message is read by nobody yet.
    const later = await fx.send('bob', path, 'later');
    expect((await bob.get(`/messages/${later.id}/read-by`)).body.read_by).toEqual([]);
    // Outsiders may not look; unknown ids are 404.
    expect((await eve.get(`/messages/${m.id}/read-by`)).status).toBe(403);
    const unknown = await bob.get('/messages/0190a0a0-0000-7000-8000-000000000000/read-by');
    expect([unknown.status, unknown.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
  });

  it('respects the channel type: read events off, delivery events off, member cap', async () => {
    for (const [name, config] of [
      ['no-reads', { read_events: false }],
      ['no-delivery', { delivery_events: false }],
      ['tiny', { max_receipt_members: 2 }],
    ] as const) {
      const res = await fx.app.server.post('/channel-types', { name, config });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const noReads = await channel('x', 'no-reads');
    const m1 = await fx.send('bob', noReads.path, 'm1');
    const off = await bob.get(`/messages/${m1.id}/read-by`);
    expect([off.status, off.body.code, off.body.details?.reason]).toEqual([
      400,
      'RECEIPTS_UNAVAILABLE',
      'read_events_off',
    ]);

    const tiny = await channel('x', 'tiny'); // three members: over the cap of 2
    const m2 = await fx.send('bob', tiny.path, 'm2');
    const big = await bob.get(`/messages/${m2.id}/read-by`);
    expect([big.status, big.body.code, big.body.details?.reason]).toEqual([
      400,
      'RECEIPTS_UNAVAILABLE',
      'too_many_members',
    ]);

    const noDelivery = await channel('x', 'no-delivery');
    const m3 = await fx.send('bob', noDelivery.path, 'm3');
    const count = eventsOf('message.delivered').length;
    const res = await alice.post('/channels/delivered', { channels: [{ cid: noDelivery.cid }] });
    expect(res.status).toBe(200);
    expect(res.body.channels).toMatchObject([{ cid: noDelivery.cid, last_delivered_seq: 0 }]);
    expect(eventsOf('message.delivered').length).toBe(count);
    await carol.post(`${noDelivery.path}/read`, {});
    const readBy = await bob.get(`/messages/${m3.id}/read-by`);
    expect(readBy.body.read_by.map((r: { user_id: string }) => r.user_id)).toEqual(['carol']);
    expect(readBy.body.delivered_to).toEqual([]);
  });
});

describe('query counts of the read paths (an N+1 fails here)', () => {
  let counter: QueryCounter;
  beforeAll(() => {
    counter = queryCounter(fx.server.database);
  });
  const statements = async (work: () => Promise<unknown>) =>
    (await counter.during(work)).filter((q) => !q.startsWith('select * from "apps" where "api_key"'));

  it('unread counts: one query for 2 channels or 20, mentions included', async () => {
    await fx.app.server.post('/users', { users: [{ id: 'counter' }] });
    const me = await fx.app.as('counter');
    for (let i = 0; i < 2; i++) await channel(`count-a-${i}`, 'messaging', ['counter', 'bob']);
    await fx.send('bob', '/channels/messaging/count-a-0', 'hey @counter');
    // The user (auth), the counts.
    const small = await statements(async () => expect((await me.get('/unread')).status).toBe(200));
    expect(small, small.join('\n')).toHaveLength(2);
    for (let i = 0; i < 18; i++) await channel(`count-b-${i}`, 'messaging', ['counter', 'bob']);
    await fx.send('bob', '/channels/messaging/count-b-3', 'hey @counter');
    const large = await statements(async () => {
      const res = await me.get('/unread');
      expect(res.body.channels).toHaveLength(20);
      expect(res.body.total_unread_mentions).toBe(2);
    });
    expect(large).toHaveLength(small.length);
  });

  it('query channels: the same count for 3 channels or 30', async () => {
    await fx.app.server.post('/users', { users: [{ id: 'lister' }] });
    const me = await fx.app.as('lister');
    for (let i = 0; i < 3; i++) await channel(`list-a-${i}`, 'messaging', ['lister', 'bob']);
    const query = () => me.post('/channels/query', { filter: { members: { $in: ['lister'] } }, limit: 30 });
    const small = await statements(async () => expect((await query()).body.channels).toHaveLength(3));
    for (let i = 0; i < 27; i++) await channel(`list-b-${i}`, 'messaging', ['lister', 'bob']);
    const large = await statements(async () => expect((await query()).body.channels).toHaveLength(30));
    expect(large, large.join('\n')).toHaveLength(small.length);
    // The user (auth), channel types, the page of channels, their members, the viewer's memberships.
    expect(small, small.join('\n')).toHaveLength(5);
  });
});
