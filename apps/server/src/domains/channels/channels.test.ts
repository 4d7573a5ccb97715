import type { ParleyEvent } from '@parley/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';

let server: TestServer;
let app: TestApp;
let alice: ApiClient;
let bob: ApiClient;
let eve: ApiClient;
const seen: ParleyEvent[] = [];

const eventsFor = (cid: string, type?: ParleyEvent['type']) =>
  seen.filter((e) => 'cid' in e && e.cid === cid && (type === undefined || e.type === type));

async function countRows(table: 'channels' | 'messages' | 'members', cid: string) {
  const { count } = await server.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('app_id', '=', app.id)
    .where('cid', '=', cid)
    .executeTakeFirstOrThrow();
  return Number(count);
}

async function send(client: ApiClient, cid: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await client.post(`/channels/${cid.replace(':', '/')}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as { id: string; seq: number; text: string };
}

const texts = (res: { body: { messages: { text: string }[] } }) => res.body.messages.map((m) => m.text);

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  const res = await app.server.post('/users', {
    users: ['alice', 'bob', 'carol', 'dave', 'eve', 'doomed'].map((id) => ({ id })),
  });
  expect(res.status).toBe(200);
  [alice, bob, eve] = await Promise.all([app.as('alice'), app.as('bob'), app.as('eve')]);
});
afterAll(() => server?.close());

describe('creating channels', () => {
  it('creates a channel with a given id: the creator owns it, members are added, events follow', async () => {
    const res = await alice.post('/channels', {
      type: 'messaging',
      id: 'create-1',
      name: 'Create one',
      custom: { topic: 'tests' },
      members: ['bob'],
    });
    expect(res.status).toBe(201);
    const { channel, members, membership, config } = res.body.channel;
    expect(channel).toMatchObject({
      cid: 'messaging:create-1',
      type: 'messaging',
      id: 'create-1',
      name: 'Create one',
      custom: { topic: 'tests' },
      created_by: 'alice',
      frozen: false,
      member_count: 2,
      last_seq: 0,
      last_message_at: null,
    });
    expect(config.max_message_length).toBe(5000);
    expect(members.map((m: { user_id: string; role: string }) => [m.user_id, m.role])).toEqual([
      ['alice', 'owner'],
      ['bob', 'member'],
    ]);
    expect(membership).toMatchObject({ user_id: 'alice', role: 'owner' });

    expect(eventsFor('messaging:create-1').map((e) => e.type)).toEqual([
      'channel.created',
      'member.added',
      'member.added',
    ]);
    const created = eventsFor('messaging:create-1', 'channel.created')[0]!;
    expect(created.type === 'channel.created' && created.channel.member_count).toBe(2);
  });

  it('generates an id when none is given', async () => {
    const a = await app.server.post('/channels', { type: 'messaging', created_by: 'alice' });
    const b = await app.server.post('/channels', { type: 'messaging', created_by: 'alice' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    const [ca, cb] = [a.body.channel.channel, b.body.channel.channel];
    expect(ca.id).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(ca.cid).toBe(`messaging:${ca.id}`);
    expect(ca.id).not.toBe(cb.id);
    expect(ca.created_by).toBe('alice');
  });

  it('refuses an id that is taken with 409 CHANNEL_EXISTS and emits nothing', async () => {
    const before = eventsFor('messaging:create-1').length;
    const res = await app.server.post('/channels', { type: 'messaging', id: 'create-1', created_by: 'bob' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'CHANNEL_EXISTS', details: { field: 'id' } });
    expect(eventsFor('messaging:create-1')).toHaveLength(before);
    const still = await app.server.get('/channels/messaging/create-1');
    expect(still.body.channel.channel.created_by).toBe('alice');
  });

  it('answers 404 CHANNEL_TYPE_NOT_FOUND for an unknown type', async () => {
    const res = await app.server.post('/channels', { type: 'nope', id: 'x', created_by: 'alice' });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'CHANNEL_TYPE_NOT_FOUND', details: { field: 'type' } });
  });

  it('answers 404 USER_NOT_FOUND naming the unknown member, and writes nothing', async () => {
    const res = await alice.post('/channels', { type: 'messaging', id: 'ghosts', members: ['bob', 'ghost'] });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      code: 'USER_NOT_FOUND',
      details: { field: 'members', user_id: 'ghost' },
    });
    expect(await countRows('channels', 'messaging:ghosts')).toBe(0);
    expect(eventsFor('messaging:ghosts')).toEqual([]);
  });

  it('validates the body', async () => {
    const bad = await alice.post('/channels', { type: 'messaging', id: 'has space' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'body.id' } });
    const unknown = await alice.post('/channels', { type: 'messaging', id: 'x1', colour: 'red' });
    expect(unknown.status).toBe(400);
    const asOther = await alice.post('/channels', { type: 'messaging', id: 'x2', created_by: 'bob' });
    expect(asOther.status).toBe(403);
  });
});

describe('distinct channels (direct messages)', () => {
  it('returns the same channel for the same member set, in any order, creator included or not', async () => {
    const first = await alice.post('/channels', { type: 'messaging', distinct: true, members: ['bob'] });
    expect(first.status).toBe(201);
    const cid = first.body.channel.channel.cid;
    expect(cid).toMatch(/^messaging:!members-/);
    expect(first.body.channel.channel.member_count).toBe(2);

    const fromBob = await bob.post('/channels', { type: 'messaging', distinct: true, members: ['alice'] });
    const withCreator = await alice.post('/channels', {
      type: 'messaging',
      distinct: true,
      members: ['bob', 'alice'],
    });
    const fromServer = await app.server.post('/channels', {
      type: 'messaging',
      distinct: true,
      members: ['bob', 'alice'],
    });
    for (const res of [fromBob, withCreator, fromServer]) {
      expect(res.status).toBe(200);
      expect(res.body.channel.channel.cid).toBe(cid);
    }
    expect(fromBob.body.channel.membership).toMatchObject({ user_id: 'bob', role: 'member' });
    expect(eventsFor(cid, 'channel.created')).toHaveLength(1);

    const other = await alice.post('/channels', {
      type: 'messaging',
      distinct: true,
      members: ['bob', 'carol'],
    });
    expect(other.status).toBe(201);
    expect(other.body.channel.channel.cid).not.toBe(cid);
    const otherType = await alice.post('/channels', { type: 'team', distinct: true, members: ['bob'] });
    expect(otherType.status).toBe(201);
  });

  it('makes one channel when the same DM is created twice at once', async () => {
    const carol = await app.as('carol');
    const dave = await app.as('dave');
    const results = await Promise.all([
      carol.post('/channels', { type: 'messaging', distinct: true, members: ['dave'] }),
      dave.post('/channels', { type: 'messaging', distinct: true, members: ['carol'] }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 201]);
    const cid = results[0]!.body.channel.channel.cid;
    expect(results[1]!.body.channel.channel.cid).toBe(cid);
    expect(await countRows('channels', cid)).toBe(1);
    expect(await countRows('members', cid)).toBe(2);
    expect(eventsFor(cid, 'channel.created')).toHaveLength(1);
    expect(eventsFor(cid, 'member.added')).toHaveLength(2);
  });

  it('refuses an id or a single member, and does not hand the channel back to someone who left it', async () => {
    const withId = await alice.post('/channels', {
      type: 'messaging',
      distinct: true,
      id: 'dm',
      members: ['bob'],
    });
    expect(withId.status).toBe(400);
    expect(withId.body.details.field).toBe('id');
    const alone = await alice.post('/channels', { type: 'messaging', distinct: true });
    expect(alone.status).toBe(400);
    expect(alone.body.details.field).toBe('members');

    const dm = await alice.post('/channels', { type: 'messaging', distinct: true, members: ['eve'] });
    const cid: string = dm.body.channel.channel.cid;
    const left = await eve.post(`/channels/${cid.replace(':', '/')}/members/remove`, { user_ids: ['eve'] });
    expect(left.status).toBe(200);
    const again = await eve.post('/channels', { type: 'messaging', distinct: true, members: ['alice'] });
    expect(again.status).toBe(403);
  });
});

describe('get and update', () => {
  beforeAll(async () => {
    const res = await alice.post('/channels', { type: 'messaging', id: 'upd', members: ['bob'] });
    expect(res.status).toBe(201);
  });

  it('gets a channel for a member, 403 for a non-member, 404 for an unknown one', async () => {
    const res = await bob.get('/channels/messaging/upd');
    expect(res.status).toBe(200);
    expect(res.body.channel.membership).toMatchObject({ user_id: 'bob', role: 'member' });
    expect(res.body.channel.members).toHaveLength(2);
    expect((await eve.get('/channels/messaging/upd')).status).toBe(403);
    const missing = await alice.get('/channels/messaging/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('CHANNEL_NOT_FOUND');
    expect((await alice.get('/channels/Bad-Type/upd')).status).toBe(400);
    const asServer = await app.server.get('/channels/messaging/upd?user_id=bob');
    expect(asServer.body.channel.membership.user_id).toBe('bob');
  });

  it('PUT replaces the fields it names and keeps the others', async () => {
    const res = await alice.put('/channels/messaging/upd', {
      name: 'Updated',
      image: 'https://img.example.com/u.png',
      custom: { a: 1, b: 2 },
    });
    expect(res.status).toBe(200);
    expect(res.body.channel.channel).toMatchObject({
      name: 'Updated',
      image: 'https://img.example.com/u.png',
      custom: { a: 1, b: 2 },
    });
    const second = await alice.put('/channels/messaging/upd', { custom: { c: 3 } });
    expect(second.body.channel.channel).toMatchObject({ name: 'Updated', custom: { c: 3 } });
    const updates = eventsFor('messaging:upd', 'channel.updated');
    expect(updates).toHaveLength(2);
    const last = updates[1]!;
    expect(last.type === 'channel.updated' && last.channel.custom).toEqual({ c: 3 });

    const badImage = await alice.put('/channels/messaging/upd', { image: 'not a url' });
    expect(badImage.status).toBe(400);
    expect(badImage.body.details.field).toBe('body.image');
    const byMember = await bob.put('/channels/messaging/upd', { name: 'Mine now' });
    expect(byMember.status).toBe(403);
    expect(eventsFor('messaging:upd', 'channel.updated')).toHaveLength(2);
  });

  it('partial update sets and unsets fields and single custom keys', async () => {
    const res = await alice.patch('/channels/messaging/upd', {
      set: { name: 'Partial', 'custom.color': 'red', 'custom.size': 2 },
      unset: ['custom.c'],
    });
    expect(res.status).toBe(200);
    expect(res.body.channel.channel).toMatchObject({
      name: 'Partial',
      image: 'https://img.example.com/u.png',
      custom: { color: 'red', size: 2 },
    });
    const unset = await alice.patch('/channels/messaging/upd', { unset: ['name', 'image', 'custom.size'] });
    expect(unset.body.channel.channel).toMatchObject({ name: null, image: null, custom: { color: 'red' } });

    const unknownField = await alice.patch('/channels/messaging/upd', { set: { cid: 'messaging:other' } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'body.set.cid' },
    });
    const wrongType = await alice.patch('/channels/messaging/upd', { set: { name: 5 } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.details.field).toBe('name');
    const tooBig = await alice.patch('/channels/messaging/upd', { set: { 'custom.blob': 'x'.repeat(6000) } });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body).toMatchObject({ code: 'CUSTOM_DATA_TOO_LARGE', details: { field: 'custom' } });
  });

  it('freezes through frozen: members cannot send, the server still can', async () => {
    const frozen = await alice.patch('/channels/messaging/upd', { set: { frozen: true } });
    expect(frozen.body.channel.channel.frozen).toBe(true);
    const refused = await bob.post('/channels/messaging/upd/messages', { text: 'hello?' });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('CHANNEL_FROZEN');
    const fromServer = await app.server.post('/channels/messaging/upd/messages', {
      text: 'maintenance',
      user_id: 'alice',
    });
    expect(fromServer.status).toBe(201);
    const thawed = await alice.put('/channels/messaging/upd', { frozen: false });
    expect(thawed.body.channel.channel.frozen).toBe(false);
    await send(bob, 'messaging:upd', 'back');
  });
});

describe('truncate', () => {
  it('soft truncate hides earlier messages from the list but keeps the rows', async () => {
    await alice.post('/channels', { type: 'messaging', id: 'trunc-soft', members: ['bob'] });
    for (const t of ['one', 'two', 'three']) await send(alice, 'messaging:trunc-soft', t);
    const res = await alice.post('/channels/messaging/trunc-soft/truncate', {});
    expect(res.status).toBe(200);
    expect(res.body.channel.channel.truncated_at).not.toBeNull();
    // Sent straight after, possibly within the same millisecond: must stay visible.
    await send(bob, 'messaging:trunc-soft', 'after');
    const list = await bob.get('/channels/messaging/trunc-soft/messages');
    expect(texts(list)).toEqual(['after']);
    expect(await countRows('messages', 'messaging:trunc-soft')).toBe(4);
    expect(eventsFor('messaging:trunc-soft', 'channel.truncated')).toHaveLength(1);
  });

  it('hard truncate deletes the messages', async () => {
    await alice.post('/channels', { type: 'messaging', id: 'trunc-hard', members: ['bob'] });
    for (const t of ['one', 'two']) await send(alice, 'messaging:trunc-hard', t);
    const res = await alice.post('/channels/messaging/trunc-hard/truncate', { hard: true });
    expect(res.status).toBe(200);
    expect(await countRows('messages', 'messaging:trunc-hard')).toBe(0);
    expect(texts(await alice.get('/channels/messaging/trunc-hard/messages'))).toEqual([]);
    const next = await send(alice, 'messaging:trunc-hard', 'fresh');
    expect(next.seq).toBe(3);
  });

  it('is refused to a plain member', async () => {
    const res = await bob.post('/channels/messaging/trunc-hard/truncate', { hard: true });
    expect(res.status).toBe(403);
    expect(await countRows('messages', 'messaging:trunc-hard')).toBe(1);
  });
});

describe('hide and show', () => {
  const cid = 'messaging:hide';
  beforeAll(async () => {
    await alice.post('/channels', { type: 'messaging', id: 'hide', members: ['bob'] });
    await send(alice, cid, 'm1');
    await send(alice, cid, 'm2');
  });

  const inBobsList = async (filter: Record<string, unknown> = {}) => {
    const res = await bob.post('/channels/query', { filter: { cid, ...filter } });
    expect(res.status).toBe(200);
    return res.body.channels.length === 1;
  };

  it('hide with clear_history hides the channel and earlier messages for that member only', async () => {
    const res = await bob.post('/channels/messaging/hide/hide', { clear_history: true });
    expect(res.status).toBe(200);
    const state = await bob.get('/channels/messaging/hide');
    expect(state.body.channel.membership.hidden).toBe(true);
    expect(texts(await bob.get('/channels/messaging/hide/messages'))).toEqual([]);
    expect(texts(await alice.get('/channels/messaging/hide/messages'))).toEqual(['m1', 'm2']);
    expect(await inBobsList()).toBe(false);
    expect(await inBobsList({ hidden: true })).toBe(true);
    const aliceSees = await alice.post('/channels/query', { filter: { cid } });
    expect(aliceSees.body.channels).toHaveLength(1);
    expect(eventsFor(cid, 'channel.hidden')).toMatchObject([{ user_id: 'bob', clear_history: true }]);
  });

  it('show makes it visible again; the cleared history stays cleared', async () => {
    const res = await bob.post('/channels/messaging/hide/show', {});
    expect(res.status).toBe(200);
    expect((await bob.get('/channels/messaging/hide')).body.channel.membership.hidden).toBe(false);
    expect(await inBobsList()).toBe(true);
    expect(await inBobsList({ hidden: false })).toBe(true);
    expect(await inBobsList({ hidden: true })).toBe(false);
    expect(texts(await bob.get('/channels/messaging/hide/messages'))).toEqual([]);
    expect(eventsFor(cid, 'channel.visible')).toMatchObject([{ user_id: 'bob' }]);
  });

  it('a new message unhides the channel', async () => {
    await bob.post('/channels/messaging/hide/hide', {});
    expect(await inBobsList()).toBe(false);
    await send(alice, cid, 'm3');
    expect((await bob.get('/channels/messaging/hide')).body.channel.membership.hidden).toBe(false);
    expect(await inBobsList()).toBe(true);
    expect(texts(await bob.get('/channels/messaging/hide/messages'))).toEqual(['m3']);
  });

  it('needs a membership', async () => {
    expect((await eve.post('/channels/messaging/hide/hide', {})).status).toBe(403);
    const server = await app.server.post('/channels/messaging/hide/hide', {});
    expect(server.status).toBe(404);
    expect(server.body.code).toBe('MEMBER_NOT_FOUND');
    const hiddenWithoutViewer = await app.server.post('/channels/query', { filter: { hidden: true } });
    expect(hiddenWithoutViewer.status).toBe(400);
    expect(hiddenWithoutViewer.body.code).toBe('FILTER_INVALID');
  });
});

describe('delete', () => {
  it('lets the owner delete a channel with its messages; a member may not', async () => {
    await alice.post('/channels', { type: 'messaging', id: 'doomed-channel', members: ['bob'] });
    await send(bob, 'messaging:doomed-channel', 'bye');
    const byMember = await bob.delete('/channels/messaging/doomed-channel');
    expect(byMember.status).toBe(403);
    const res = await alice.delete('/channels/messaging/doomed-channel');
    expect(res.status).toBe(200);
    expect(res.body.channel.cid).toBe('messaging:doomed-channel');
    expect((await alice.get('/channels/messaging/doomed-channel')).status).toBe(404);
    expect(await countRows('messages', 'messaging:doomed-channel')).toBe(0);
    expect(await countRows('members', 'messaging:doomed-channel')).toBe(0);
    expect(eventsFor('messaging:doomed-channel', 'channel.deleted')).toHaveLength(1);
    expect((await alice.delete('/channels/messaging/doomed-channel')).status).toBe(404);
  });
});

describe('QueryChannels', () => {
  let q: TestApp;
  const created: Record<string, string> = {};

  const cids = (res: { status: number; body: { channels: { channel: { cid: string } }[] } }) => {
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.channels.map((c) => c.channel.cid);
  };
  const query = async (body: Record<string, unknown>) =>
    cids(await q.server.post('/channels/query', { sort: [{ field: 'cid', direction: 1 }], ...body }));

  beforeAll(async () => {
    q = await server.createApp();
    await q.server.post('/users', { users: ['u1', 'u2', 'u3', 'u4', 'u5'].map((id) => ({ id })) });
    const channels = [
      { type: 'team', id: 'q1', name: 'Alpha', custom: { color: 'red', priority: 3 }, members: ['u1', 'u2'] },
      {
        type: 'team',
        id: 'q2',
        name: 'Bravo',
        custom: { color: 'blue', priority: 1 },
        members: ['u1', 'u2', 'u3'],
      },
      { type: 'team', id: 'q3', name: 'Charlie', custom: { priority: 2 }, frozen: true, members: ['u1'] },
      { type: 'team', id: 'q4', members: ['u2', 'u3'] },
      { type: 'messaging', id: 'q5', name: 'Echo', members: ['u1', 'u2', 'u3', 'u4'] },
      { type: 'livestream', id: 'live', name: 'Live', members: ['u4'] },
    ];
    for (const c of channels) {
      const res = await q.server.post('/channels', c);
      expect(res.status).toBe(201);
      created[c.id] = res.body.channel.channel.created_at;
      // Timestamps have millisecond precision: keep creation times distinct for the sort checks.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await q.server.post('/channels/team/q2/messages', { text: 'older', user_id: 'u1' });
    await q.server.post('/channels/team/q1/messages', { text: 'newer', user_id: 'u1' });
  });

  it('filters with $eq $ne $in $nin', async () => {
    expect(await query({ filter: { type: 'team' } })).toEqual(['team:q1', 'team:q2', 'team:q3', 'team:q4']);
    expect(await query({ filter: { name: { $eq: 'Alpha' } } })).toEqual(['team:q1']);
    expect(await query({ filter: { type: 'team', name: { $ne: 'Alpha' } } })).toEqual([
      'team:q2',
      'team:q3',
      'team:q4',
    ]);
    expect(await query({ filter: { id: { $in: ['q1', 'q3', 'zz'] } } })).toEqual(['team:q1', 'team:q3']);
    expect(await query({ filter: { type: 'team', id: { $nin: ['q1', 'q2'] } } })).toEqual([
      'team:q3',
      'team:q4',
    ]);
    expect(await query({ filter: { frozen: true } })).toEqual(['team:q3']);
  });

  it('filters with $gt $gte $lt $lte on numbers and dates', async () => {
    const team = { type: 'team' };
    expect(await query({ filter: { ...team, member_count: { $gt: 2 } } })).toEqual(['team:q2']);
    expect(await query({ filter: { ...team, member_count: { $gte: 2 } } })).toEqual([
      'team:q1',
      'team:q2',
      'team:q4',
    ]);
    expect(await query({ filter: { ...team, member_count: { $lt: 2 } } })).toEqual(['team:q3']);
    expect(await query({ filter: { ...team, member_count: { $lte: 2 } } })).toEqual([
      'team:q1',
      'team:q3',
      'team:q4',
    ]);
    expect(await query({ filter: { ...team, created_at: { $gt: created.q2 } } })).toEqual([
      'team:q3',
      'team:q4',
    ]);
    expect(await query({ filter: { ...team, created_at: { $gte: created.q2, $lte: created.q3 } } })).toEqual([
      'team:q2',
      'team:q3',
    ]);
  });

  it('filters with $exists, custom fields, $and and $or', async () => {
    expect(await query({ filter: { name: { $exists: false } } })).toEqual(['team:q4']);
    expect(await query({ filter: { last_message_at: { $exists: true } } })).toEqual(['team:q1', 'team:q2']);
    expect(await query({ filter: { color: 'red' } })).toEqual(['team:q1']);
    expect(await query({ filter: { priority: { $gte: 2 } } })).toEqual(['team:q1', 'team:q3']);
    expect(await query({ filter: { color: { $exists: true } } })).toEqual(['team:q1', 'team:q2']);
    expect(await query({ filter: { type: 'team', color: { $exists: false } } })).toEqual([
      'team:q3',
      'team:q4',
    ]);
    expect(await query({ filter: { $or: [{ name: 'Alpha' }, { frozen: true }] } })).toEqual([
      'team:q1',
      'team:q3',
    ]);
    expect(
      await query({ filter: { $and: [{ type: 'team' }, { $or: [{ color: 'blue' }, { priority: 2 }] }] } }),
    ).toEqual(['team:q2', 'team:q3']);
  });

  it('filters on members', async () => {
    expect(await query({ filter: { members: { $in: ['u3'] } } })).toEqual([
      'messaging:q5',
      'team:q2',
      'team:q4',
    ]);
    expect(await query({ filter: { type: 'team', members: { $in: ['u1', 'u3'] } } })).toEqual([
      'team:q1',
      'team:q2',
      'team:q3',
      'team:q4',
    ]);
    expect(await query({ filter: { members: 'u4' } })).toEqual(['livestream:live', 'messaging:q5']);
    expect(await query({ filter: { members: { $in: ['u5'] } } })).toEqual([]);
  });

  it('refuses fields that are not whitelisted, bad operators and bad values with 400 FILTER_INVALID', async () => {
    const bad: Record<string, unknown>[] = [
      { app_id: q.id },
      { distinct_key: { $exists: true } },
      { 'custom.color': 'red' },
      { 'channels.app_id': 'x' },
      { $where: 'true' },
      { name: { $regex: '.*' } },
      { member_count: 'two' },
      { created_at: { $gt: 'yesterday' } },
      { members: { $nin: ['u1'] } },
      { $or: [] },
      { id: { $in: 'q1' } },
    ];
    for (const filter of bad) {
      const res = await q.server.post('/channels/query', { filter });
      expect(res.status, JSON.stringify(filter)).toBe(400);
      expect(res.body.code, JSON.stringify(filter)).toBe('FILTER_INVALID');
    }
    const badSort = await q.server.post('/channels/query', { sort: [{ field: 'app_id', direction: 1 }] });
    expect(badSort.status).toBe(400);
    expect(badSort.body).toMatchObject({ code: 'SORT_INVALID', details: { field: 'sort[0].field' } });
  });

  it('sorts by last_message_at (channels without messages last), created_at, member_count and name', async () => {
    const sorted = (sort: unknown) => q.server.post('/channels/query', { sort }).then(cids);
    // Default: last_message_at descending, nulls last, then cid.
    expect(cids(await q.server.post('/channels/query', {}))).toEqual([
      'team:q1',
      'team:q2',
      'livestream:live',
      'messaging:q5',
      'team:q3',
      'team:q4',
    ]);
    expect((await sorted([{ field: 'last_message_at', direction: 1 }])).slice(0, 2)).toEqual([
      'team:q2',
      'team:q1',
    ]);
    const byCreation = ['team:q1', 'team:q2', 'team:q3', 'team:q4', 'messaging:q5', 'livestream:live'];
    expect(await sorted([{ field: 'created_at', direction: 1 }])).toEqual(byCreation);
    expect(await sorted([{ field: 'created_at', direction: -1 }])).toEqual([...byCreation].reverse());
    expect(await sorted([{ field: 'member_count', direction: -1 }])).toEqual([
      'messaging:q5',
      'team:q2',
      'team:q1',
      'team:q4',
      'livestream:live',
      'team:q3',
    ]);
    expect(await sorted([{ field: 'name', direction: 1 }])).toEqual([
      'team:q1',
      'team:q2',
      'team:q3',
      'messaging:q5',
      'livestream:live',
      'team:q4',
    ]);
    expect(
      await sorted([
        { field: 'member_count', direction: 1 },
        { field: 'name', direction: -1 },
      ]),
    ).toEqual(['livestream:live', 'team:q3', 'team:q1', 'team:q4', 'team:q2', 'messaging:q5']);
  });

  it('pages with limit and offset', async () => {
    const page = (offset: number) =>
      q.server
        .post('/channels/query', { sort: [{ field: 'created_at', direction: 1 }], limit: 4, offset })
        .then(cids);
    expect(await page(0)).toEqual(['team:q1', 'team:q2', 'team:q3', 'team:q4']);
    expect(await page(4)).toEqual(['messaging:q5', 'livestream:live']);
    expect(await page(6)).toEqual([]);
    expect((await q.server.post('/channels/query', { limit: 101 })).status).toBe(400);
    expect((await q.server.post('/channels/query', { offset: -1 })).status).toBe(400);
  });

  it('shows a user only the channels they are a member of, plus public-read types', async () => {
    const u3 = await q.as('u3');
    expect(cids(await u3.post('/channels/query', { sort: [{ field: 'cid', direction: 1 }] }))).toEqual([
      'livestream:live',
      'messaging:q5',
      'team:q2',
      'team:q4',
    ]);
    const mine = await u3.post('/channels/query', { filter: { type: 'team' } });
    expect(
      mine.body.channels.every((c: { membership: { user_id: string } }) => c.membership.user_id === 'u3'),
    ).toBe(true);
    const live = await u3.post('/channels/query', { filter: { type: 'livestream' } });
    expect(live.body.channels[0].membership).toBeNull();
    expect(await query({ user_id: 'u4' })).toEqual(['livestream:live', 'messaging:q5']);
    expect(await query({ user_id: 'u5' })).toEqual(['livestream:live']);
    expect((await u3.post('/channels/query', { user_id: 'u1' })).status).toBe(403);
    // Another app's users never see these channels.
    const outsider = await app.as('u1');
    const theirs = await outsider.post('/channels/query', { filter: { id: 'q1' } });
    expect(cids(theirs)).toEqual([]);
  });

  it('honours member_limit', async () => {
    const members = async (member_limit?: number) => {
      const res = await q.server.post('/channels/query', {
        filter: { id: 'q5' },
        ...(member_limit === undefined ? {} : { member_limit }),
      });
      expect(res.status).toBe(200);
      return res.body.channels[0].members.map((m: { user_id: string }) => m.user_id);
    };
    expect(await members()).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(await members(2)).toEqual(['u1', 'u2']);
    expect(await members(0)).toEqual([]);
    const res = await q.server.post('/channels/query', { filter: { type: 'team' }, member_limit: 1 });
    expect(res.body.channels.every((c: { members: unknown[] }) => c.members.length === 1)).toBe(true);
  });
});

describe('events', () => {
  it('publishes after commit: a listener can already read what the event describes', async () => {
    const found: Promise<boolean>[] = [];
    const unsubscribe = server.parley.bus.subscribe((e) => {
      if (e.type === 'member.added' && e.cid === 'messaging:after-commit') {
        found.push(
          server.database.db
            .selectFrom('members')
            .select('user_id')
            .where('app_id', '=', app.id)
            .where('cid', '=', e.cid)
            .where('user_id', '=', e.member.user_id)
            .executeTakeFirst()
            .then((row) => row !== undefined),
        );
      }
    });
    const res = await alice.post('/channels', { type: 'messaging', id: 'after-commit', members: ['bob'] });
    unsubscribe();
    expect(res.status).toBe(201);
    expect(await Promise.all(found)).toEqual([true, true]);
  });

  it('publishes nothing for a write that rolls back at commit', async () => {
    // A deferred constraint trigger fails the COMMIT itself, after the service recorded its events.
    await sql`
      create function parley_test_fail_commit() returns trigger language plpgsql as $$
      begin raise exception 'forced failure at commit'; end $$`.execute(server.database.db);
    await sql`
      create constraint trigger parley_test_fail_commit after insert on members
      deferrable initially deferred for each row when (new.user_id = 'doomed')
      execute function parley_test_fail_commit()`.execute(server.database.db);
    try {
      const res = await alice.post('/channels', {
        type: 'messaging',
        id: 'rolled-back',
        members: ['doomed'],
      });
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('INTERNAL');
      expect(JSON.stringify(res.body)).not.toContain('forced failure');
      expect(await countRows('channels', 'messaging:rolled-back')).toBe(0);
      expect(eventsFor('messaging:rolled-back')).toEqual([]);

      const added = await alice.post('/channels/messaging/create-1/members', { user_ids: ['doomed'] });
      expect(added.status).toBe(500);
      expect(await countRows('members', 'messaging:create-1')).toBe(2);
      expect(
        eventsFor('messaging:create-1', 'member.added').filter(
          (e) => e.type === 'member.added' && e.member.user_id === 'doomed',
        ),
      ).toEqual([]);
    } finally {
      await sql`drop trigger parley_test_fail_commit on members`.execute(server.database.db);
      await sql`drop function parley_test_fail_commit()`.execute(server.database.db);
    }
    const works = await alice.post('/channels/messaging/create-1/members', { user_ids: ['doomed'] });
    expect(works.status).toBe(200);
    expect(eventsFor('messaging:create-1', 'member.added').at(-1)).toMatchObject({
      member: { user_id: 'doomed' },
    });
  });
});
