import type { ChannelState, Message, ParleyEvent, SyncResponse } from '@parley/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reduce } from '../../../../../packages/sdk/src/state/reducer.js';
import { initialState, type ParleyState } from '../../../../../packages/sdk/src/state/types.js';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { classify } from './sync.service.js';

let server: TestServer;
let app: TestApp;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;

let counter = 0;
/** A channel owned by bob with alice (and carol), two messages. */
async function channel(extra: Record<string, unknown> = {}, members = ['alice', 'carol']) {
  const id = `s${++counter}`;
  const res = await bob.post('/channels', { type: 'messaging', id, members, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const path = `/channels/messaging/${id}`;
  const first = await bob.post(`${path}/messages`, { text: 'first' });
  const second = await (members.includes('alice') ? alice : carol).post(`${path}/messages`, {
    text: 'second',
  });
  expect(second.status).toBe(201);
  return {
    path,
    cid: `messaging:${id}`,
    first: first.body.message as Message,
    second: second.body.message as Message,
  };
}

/**
 * What a client holds after fetching these channels over REST (the "fresh fetch"), and the
 * thread replies of `parents`, the thread list and the mentions feed.
 */
async function fetchState(
  client: ApiClient,
  userId: string,
  paths: string[],
  parents: string[] = [],
): Promise<ParleyState> {
  let state = initialState(userId);
  for (const path of paths) {
    const got = await client.get(path);
    if (got.status === 404 || got.status === 403) continue; // deleted, or no longer a member
    expect(got.status, JSON.stringify(got.body)).toBe(200);
    state = reduce(state, { type: 'rest/channels', channels: [got.body.channel as ChannelState] });
    const page = await client.get(`${path}/messages?limit=100`);
    expect(page.status).toBe(200);
    const cid = (got.body.channel as ChannelState).channel.cid;
    state = reduce(state, {
      type: 'rest/messages',
      cid,
      messages: page.body.messages,
      page: 'latest',
      limit: 100,
    });
  }
  for (const parent of parents) {
    const page = await client.get(`/messages/${parent}/replies?limit=100`);
    expect(page.status).toBe(200);
    state = reduce(state, {
      type: 'rest/replies',
      parent_id: parent,
      messages: page.body.messages,
      page: 'latest',
      limit: 100,
    });
  }
  const threads = await client.get('/threads?limit=100');
  expect(threads.status).toBe(200);
  state = reduce(state, {
    type: 'rest/threads',
    threads: threads.body.threads,
    next: threads.body.next,
    append: false,
  });
  const mentions = await client.get('/mentions?limit=100');
  expect(mentions.status).toBe(200);
  state = reduce(state, {
    type: 'rest/mentions',
    messages: mentions.body.messages,
    append: false,
    limit: 100,
  });
  const unread = await client.get('/unread');
  expect(unread.status).toBe(200);
  return reduce(state, { type: 'rest/unread', counts: unread.body });
}

/**
 * The parts of the state that a refetch rebuilds (typing and presence are live-only).
 * `ignoreMemberUpdatedAt`: channel.hidden / channel.visible carry no member updated_at (the
 * server stamps the member row itself), so that one field cannot follow from the events.
 */
const view = (s: ParleyState, ignoreMemberUpdatedAt = false) => {
  const rest = { replies: s.replies, threads: s.threads, threadList: s.threadList, mentions: s.mentions };
  if (!ignoreMemberUpdatedAt)
    return { channels: s.channels, messages: s.messages, unread: s.unread, ...rest };
  const strip = <T extends { updated_at?: string } | null>(m: T) => (m ? { ...m, updated_at: '-' } : m);
  const channels = Object.fromEntries(
    Object.entries(s.channels).map(([cid, e]) => [
      cid,
      {
        ...e,
        membership: strip(e.membership),
        members: Object.fromEntries(Object.entries(e.members).map(([id, m]) => [id, strip(m)])),
      },
    ]),
  );
  return { channels, messages: s.messages, unread: s.unread, ...rest };
};

/** The newest commit time the client could have seen: the last_sync_at of an empty sync now. */
async function now(client: ApiClient): Promise<string> {
  const res = await client.post('/sync', { last_sync_at: new Date(Date.now() - 60_000).toISOString() });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body as SyncResponse).last_sync_at;
}

async function sync(client: ApiClient, since: string, extra: Record<string, unknown> = {}) {
  const res = await client.post('/sync', { last_sync_at: since, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const body = res.body as SyncResponse;
  expect(body.resync_required).toBe(false);
  return body;
}

/**
 * "Old state + events = fresh fetch": alice fetched `paths`, then `change` ran; the events /sync
 * returns, applied with the SDK's reducers, give the state of a new fetch. Applying them twice
 * changes nothing (a sync may overlap events already applied).
 */
async function expectSyncMatchesRefetch(
  paths: string[],
  change: () => Promise<void>,
  expectTypes: string[],
  client = alice,
  userId = 'alice',
  ignoreMemberUpdatedAt = false,
  parents: string[] = [],
) {
  const before = await fetchState(client, userId, paths, parents);
  const since = await now(client);
  await change();
  const { events } = await sync(client, since);
  const types = events.map((e) => e.type);
  for (const t of expectTypes) expect(types).toContain(t);
  const live = events.reduce<ParleyState>((s, e) => reduce(s, e), before);
  const fresh = await fetchState(client, userId, paths, parents);
  expect(view(live, ignoreMemberUpdatedAt)).toEqual(view(fresh, ignoreMemberUpdatedAt));
  const twice = events.reduce<ParleyState>((s, e) => reduce(s, e), live);
  expect(view(twice, ignoreMemberUpdatedAt)).toEqual(view(fresh, ignoreMemberUpdatedAt));
  return events;
}

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  await app.server.post('/users', { users: ['alice', 'bob', 'carol', 'dave'].map((id) => ({ id })) });
  [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => app.as(u)))) as [
    ApiClient,
    ApiClient,
    ApiClient,
  ];
});
afterAll(async () => server?.close());

describe('POST /sync: old state + events = fresh fetch, per event type', () => {
  it('message.new', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`${c.path}/messages`, { text: 'third' })).status).toBe(201);
    }, ['message.new']);
  });

  it('message.new of a thread reply (with thread_parent) and show_in_channel', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      const r = await bob.post(`${c.path}/messages`, { text: 'in thread', parent_id: c.first.id });
      expect(r.status).toBe(201);
      const s = await carol.post(`${c.path}/messages`, {
        text: 'also in channel',
        parent_id: c.first.id,
        show_in_channel: true,
      });
      expect(s.status).toBe(201);
    }, ['message.new']);
  });

  it('thread replies: the thread’s replies, the thread list and unread replies follow', async () => {
    const c = await channel();
    const parent = await alice.post(`${c.path}/messages`, { text: 'a thread of alice' });
    const parentId = parent.body.message.id as string;
    await bob.post(`${c.path}/messages`, { text: 'first reply', parent_id: parentId });
    await expectSyncMatchesRefetch(
      [c.path],
      async () => {
        expect(
          (await bob.post(`${c.path}/messages`, { text: 'second reply', parent_id: parentId })).status,
        ).toBe(201);
        expect(
          (await carol.post(`${c.path}/messages`, { text: 'third reply', parent_id: parentId })).status,
        ).toBe(201);
      },
      ['message.new'],
      alice,
      'alice',
      false,
      [parentId],
    );
  });

  it('notification.thread_read: the user read a thread on another device', async () => {
    const c = await channel();
    const parent = await alice.post(`${c.path}/messages`, { text: 'another thread of alice' });
    const parentId = parent.body.message.id as string;
    await bob.post(`${c.path}/messages`, { text: 'unread reply', parent_id: parentId });
    await expectSyncMatchesRefetch(
      [c.path],
      async () => {
        expect((await alice.post(`/threads/${parentId}/read`, {})).status).toBe(200);
      },
      ['notification.thread_read'],
      alice,
      'alice',
      false,
      [parentId],
    );
  });

  it('notification.mention: the mentions feed follows', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      const m = await bob.post(`${c.path}/messages`, { text: 'hey @alice', mentioned_user_ids: ['alice'] });
      expect(m.status).toBe(201);
    }, ['notification.mention']);
  });

  it('message.updated', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.patch(`/messages/${c.first.id}`, { text: 'edited' })).status).toBe(200);
    }, ['message.updated']);
  });

  it('message.deleted (soft and hard)', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.delete(`/messages/${c.first.id}`)).status).toBe(200);
      expect((await app.server.delete(`/messages/${c.second.id}?hard=true`)).status).toBe(200);
    }, ['message.deleted']);
  });

  it('message.deleted of a thread reply updates the parent', async () => {
    const c = await channel();
    const reply = await bob.post(`${c.path}/messages`, { text: 'reply', parent_id: c.first.id });
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.delete(`/messages/${reply.body.message.id}`)).status).toBe(200);
    }, ['message.deleted']);
  });

  it('reaction.new, reaction.updated, reaction.deleted (by others and by the user on another device)', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`/messages/${c.first.id}/reactions`, { type: 'like' })).status).toBe(201);
      expect((await alice.post(`/messages/${c.first.id}/reactions`, { type: 'clap', score: 2 })).status).toBe(
        201,
      );
    }, ['reaction.new']);
    await expectSyncMatchesRefetch([c.path], async () => {
      const r = await alice.post(`/messages/${c.first.id}/reactions`, { type: 'clap', score: 5 });
      expect(r.status).toBeLessThan(300);
    }, ['reaction.updated']);
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.delete(`/messages/${c.first.id}/reactions/like`)).status).toBe(200);
      expect((await alice.delete(`/messages/${c.first.id}/reactions/clap`)).status).toBe(200);
    }, ['reaction.deleted']);
  });

  it('member.added, member.updated, member.removed (of others)', async () => {
    const c = await channel({}, ['alice']);
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`${c.path}/members`, { user_ids: ['carol'] })).status).toBe(200);
    }, ['member.added']);
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.patch(`${c.path}/members/carol`, { role: 'moderator' })).status).toBe(200);
    }, ['member.updated']);
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`${c.path}/members/remove`, { user_ids: ['carol'] })).status).toBe(200);
    }, ['member.removed']);
  });

  it('member.removed of the user: the channel is forgotten, and later events of it are not sent', async () => {
    const c = await channel();
    const events = await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`${c.path}/members/remove`, { user_ids: ['alice'] })).status).toBe(200);
      expect((await bob.post(`${c.path}/messages`, { text: 'after alice left' })).status).toBe(201);
    }, ['member.removed', 'notification.removed_from_channel']);
    expect(events.some((e) => e.type === 'message.new')).toBe(false);
  });

  it('member.added of the user: events from then on, with notification.added_to_channel', async () => {
    const c = await channel({}, ['carol']);
    const since = await now(alice);
    await bob.post(`${c.path}/messages`, { text: 'before alice joined' });
    await bob.post(`${c.path}/members`, { user_ids: ['alice'] });
    await bob.post(`${c.path}/messages`, { text: 'after alice joined' });
    const { events } = await sync(alice, since);
    const mine = events.filter((e) => 'cid' in e && e.cid === c.cid);
    expect(mine.map((e) => e.type)).toEqual(['member.added', 'notification.added_to_channel', 'message.new']);
    expect((mine[2] as ParleyEvent<'message.new'>).message.text).toBe('after alice joined');
  });

  it('channel.updated', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.patch(c.path, { set: { name: 'Renamed' } })).status).toBe(200);
    }, ['channel.updated']);
  });

  it('channel.truncated', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`${c.path}/truncate`, {})).status).toBe(200);
      expect((await bob.post(`${c.path}/messages`, { text: 'after truncate' })).status).toBe(201);
    }, ['channel.truncated', 'message.new']);
  });

  it('channel.deleted (members are gone with the channel, the event still reaches them)', async () => {
    const c = await channel();
    const other = await channel();
    await expectSyncMatchesRefetch([c.path, other.path], async () => {
      expect((await bob.delete(c.path)).status).toBe(200);
    }, ['channel.deleted']);
    // Someone who was never a member does not learn about it.
    const dave = await app.as('dave');
    const since = new Date(Date.now() - 60_000).toISOString();
    const { events } = await sync(dave, since, { channel_cids: [c.cid] });
    expect(events.filter((e) => 'cid' in e && e.cid === c.cid)).toEqual([]);
  });

  it('channel.hidden (with clear_history) and channel.visible, from another device', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch(
      [c.path],
      async () => {
        expect((await alice.post(`${c.path}/hide`, { clear_history: true })).status).toBe(200);
      },
      ['channel.hidden'],
      alice,
      'alice',
      true,
    );
    await expectSyncMatchesRefetch(
      [c.path],
      async () => {
        expect((await alice.post(`${c.path}/show`, {})).status).toBe(200);
      },
      ['channel.visible'],
      alice,
      'alice',
      true,
    );
  });

  it('message.read (others, read events on) and the user’s own mark read on another device', async () => {
    const c = await channel();
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await carol.post(`${c.path}/read`, {})).status).toBe(200);
    }, ['message.read']);
    await expectSyncMatchesRefetch([c.path], async () => {
      expect((await bob.post(`${c.path}/messages`, { text: 'unread for alice' })).status).toBe(201);
      expect((await alice.post(`${c.path}/read`, {})).status).toBe(200);
    }, ['message.read', 'notification.mark_read']);
  });
});

describe('POST /sync: what a user may see', () => {
  it('returns events in commit order with the realtime payloads, and a cursor that continues', async () => {
    const c = await channel();
    const seen: ParleyEvent[] = [];
    const stop = server.parley.bus.subscribe((e) => {
      if (e.app_id === app.id && e.type !== 'user.presence' && !e.type.startsWith('typing.')) seen.push(e);
    });
    const since = await now(alice);
    await bob.post(`${c.path}/messages`, { text: 'one' });
    await bob.post(`${c.path}/messages`, { text: 'two' });
    stop();
    const first = await sync(alice, since, { channel_cids: [c.cid] });
    const published = seen.filter((e) => 'cid' in e && e.cid === c.cid && e.type === 'message.new');
    expect(first.events).toEqual(published);
    await bob.post(`${c.path}/messages`, { text: 'three' });
    const second = await sync(alice, first.last_sync_at, { channel_cids: [c.cid] });
    expect(second.events.map((e) => (e as ParleyEvent<'message.new'>).message.text)).toEqual(['three']);
    const third = await sync(alice, second.last_sync_at, { channel_cids: [c.cid] });
    expect(third.events).toEqual([]);
  });

  it('joins and leaves outside channel_cids still come as notification copies', async () => {
    const known = await channel();
    const joined = await channel({}, ['carol']);
    const left = await channel();
    const since = await now(alice);
    await bob.post(`${joined.path}/members`, { user_ids: ['alice'] });
    await bob.post(`${left.path}/members/remove`, { user_ids: ['alice'] });
    const { events } = await sync(alice, since, { channel_cids: [known.cid] });
    expect(events.map((e) => [e.type, 'cid' in e ? e.cid : null])).toEqual([
      ['notification.added_to_channel', joined.cid],
      ['notification.removed_from_channel', left.cid],
    ]);
  });

  it('channel_cids narrows to those channels; channels the user is not in are never returned', async () => {
    const a = await channel();
    const b = await channel();
    const secret = await channel({}, ['carol']);
    const since = await now(alice);
    await bob.post(`${a.path}/messages`, { text: 'a' });
    await bob.post(`${b.path}/messages`, { text: 'b' });
    await bob.post(`${secret.path}/messages`, { text: 'secret' });
    const narrowed = await sync(alice, since, { channel_cids: [a.cid, secret.cid] });
    expect(narrowed.events.map((e) => ('cid' in e ? e.cid : null))).toEqual([a.cid]);
    const all = await sync(alice, since);
    const cids = all.events.map((e) => ('cid' in e ? e.cid : null));
    expect(cids).toContain(a.cid);
    expect(cids).toContain(b.cid);
    expect(cids).not.toContain(secret.cid);
  });

  it('shadowed messages reach only their author; other users’ notifications never', async () => {
    const c = await channel();
    const since = await now(alice);
    const sent = await carol.post(`${c.path}/messages`, { text: 'shadowed by a trigger-free test' });
    expect(sent.status).toBe(201);
    // Shadow the message as the shadow-ban feature does (messages.shadowed, migration 0010), then
    // log an event for it: an edit of it by its author.
    await sql`update messages set shadowed = true where id = ${sent.body.message.id}`.execute(
      server.database.db,
    );
    await carol.patch(`/messages/${sent.body.message.id}`, { text: 'edited while shadowed' });
    await bob.post(`${c.path}/read`, {});
    const forAlice = await sync(alice, since);
    const updates = forAlice.events.filter((e) => e.type === 'message.updated');
    expect(updates).toEqual([]);
    const forCarol = await sync(carol, since);
    expect(forCarol.events.some((e) => e.type === 'message.updated')).toBe(true);
    // bob's notification.mark_read is his alone.
    expect(
      forAlice.events.some(
        (e) => e.type.startsWith('notification.') && 'user_id' in e && e.user_id !== 'alice',
      ),
    ).toBe(false);
    const forBob = await sync(bob, since);
    expect(forBob.events.some((e) => e.type === 'notification.mark_read')).toBe(true);
  });

  it('user-only events (drafts) reach only their user; backend-only and live-only events never', async () => {
    const c = await channel();
    const since = await now(alice);
    const draft = await bob.put(`${c.path}/draft`, { text: 'a draft of bob' });
    expect(draft.status, JSON.stringify(draft.body)).toBe(200);
    expect((await sync(alice, since)).events.filter((e) => e.type.startsWith('draft.'))).toEqual([]);
    expect((await sync(bob, since)).events.map((e) => e.type)).toContain('draft.updated');
    const base = { id: 'e', app_id: app.id, created_at: new Date().toISOString() };
    const never = [
      { type: 'typing.start', cid: c.cid, user_id: 'bob', parent_id: null },
      { type: 'user.presence', user_id: 'bob', online: true, last_active_at: null },
      { type: 'user.shadow_banned', user: { id: 'bob' } },
      { type: 'flag.created', cid: c.cid, user_id: 'bob' },
      { type: 'channel.created', cid: c.cid, channel: {} },
      { type: 'user.updated', user: { id: 'bob' } },
    ];
    for (const e of never) expect(classify({ ...base, ...e } as unknown as ParleyEvent)).toBeNull();
  });

  it('server-side calls sync as user_id (required), users only as themselves', async () => {
    const c = await channel();
    const since = await now(alice);
    await bob.post(`${c.path}/messages`, { text: 'for the server' });
    const res = await app.server.post('/sync', { last_sync_at: since, user_id: 'alice' });
    expect(res.status).toBe(200);
    expect(res.body.events.some((e: ParleyEvent) => e.type === 'message.new')).toBe(true);
    const missing = await app.server.post('/sync', { last_sync_at: since });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('VALIDATION_FAILED');
    const unknown = await app.server.post('/sync', { last_sync_at: since, user_id: 'nobody' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('USER_NOT_FOUND');
    const other = await alice.post('/sync', { last_sync_at: since, user_id: 'bob' });
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('FORBIDDEN');
  });
});

describe('POST /sync: resync required', () => {
  it('more than 250 events → resync_required (too_many_events), with a cursor to continue from', async () => {
    const c = await channel();
    const since = await now(alice);
    for (let i = 0; i < 26; i++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => bob.post(`${c.path}/messages`, { text: `m${i}-${j}` })),
      );
    }
    const res = await alice.post('/sync', { last_sync_at: since });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resync_required: true, reason: 'too_many_events', events: [] });
    const after = await alice.post('/sync', { last_sync_at: res.body.last_sync_at });
    expect(after.body).toMatchObject({ resync_required: false, events: [] });
  });

  it('older than 30 days → too_old; older than the pruned history → history_pruned', async () => {
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    const res = await alice.post('/sync', { last_sync_at: old });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resync_required: true, reason: 'too_old', events: [] });
    const db = server.database.db;
    const { rows } = await sql<{ at: string }>`
      select to_char(last_logged_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
        from event_log_heads where app_id = ${app.id}`.execute(db);
    await sql`update event_log_heads set pruned_through = last_logged_at where app_id = ${app.id}`.execute(
      db,
    );
    const pruned = await alice.post('/sync', {
      last_sync_at: new Date(Date.now() - 3_600_000).toISOString(),
    });
    expect(pruned.body).toMatchObject({ resync_required: true, reason: 'history_pruned' });
    const fine = await alice.post('/sync', { last_sync_at: rows[0]!.at });
    expect(fine.body).toMatchObject({ resync_required: false });
    await sql`update event_log_heads set pruned_through = '-infinity' where app_id = ${app.id}`.execute(db);
  });

  it('pruning deletes rows older than 30 days, bounded, and records pruned_through', async () => {
    const db = server.database.db;
    const other = await server.createApp();
    const client = await (async () => {
      await other.server.post('/users', { users: [{ id: 'x' }, { id: 'y' }] });
      return other.as('x');
    })();
    const made = await client.post('/channels', { type: 'messaging', id: 'p', members: ['y'] });
    expect(made.status).toBe(201);
    await client.post('/channels/messaging/p/messages', { text: 'old one' });
    await sql`update event_log set logged_at = now() - interval '40 days' where app_id = ${other.id}`.execute(
      db,
    );
    const countOld = async () =>
      Number(
        (
          await sql<{ n: string }>`select count(*)::text as n from event_log where app_id = ${other.id}
            and logged_at < now() - interval '30 days'`.execute(db)
        ).rows[0]!.n,
      );
    expect(await countOld()).toBeGreaterThan(0);
    // Pruning runs on the write that crosses a multiple of 256 events.
    for (let i = 0; i < 26; i++)
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          client.post('/channels/messaging/p/messages', { text: `n${i}-${j}` }),
        ),
      );
    expect(await countOld()).toBe(0);
    const head = await sql<{ pruned: boolean }>`
      select pruned_through > now() - interval '41 days' as pruned from event_log_heads where app_id = ${other.id}`.execute(
      db,
    );
    expect(head.rows[0]!.pruned).toBe(true);
  });
});

describe('POST /sync and POST /search in the OpenAPI document', () => {
  it('are described with their request and response schemas', () => {
    const doc = server.parley.http.swagger() as {
      paths: Record<string, { post?: { requestBody?: unknown; responses?: Record<string, unknown> } }>;
    };
    for (const path of ['/sync', '/search']) {
      expect(doc.paths[path]?.post?.requestBody, path).toBeDefined();
      expect(doc.paths[path]?.post?.responses?.['200'], path).toBeDefined();
    }
    expect(JSON.stringify(doc.paths['/sync']!.post!.responses!['200'])).toContain(
      'notification.added_to_channel',
    );
  });
});

describe('POST /sync: bad input', () => {
  it.each<[Record<string, unknown>, string]>([
    [{}, 'last_sync_at'],
    [{ last_sync_at: 'yesterday' }, 'last_sync_at'],
    [{ last_sync_at: '2026-13-45T99:00:00Z' }, 'last_sync_at'],
    [{ last_sync_at: '2026-01-01T00:00:00' }, 'last_sync_at'],
    [{ last_sync_at: '2026-01-01T00:00:00Z', channel_cids: ['nocolon'] }, 'channel_cids'],
    [
      {
        last_sync_at: '2026-01-01T00:00:00Z',
        channel_cids: Array.from({ length: 1001 }, (_, i) => `messaging:c${i}`),
      },
      'channel_cids',
    ],
    [{ last_sync_at: '2026-01-01T00:00:00Z', extra: true }, ''],
  ])('%j → 400 VALIDATION_FAILED', async (body) => {
    const res = await alice.post('/sync', body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });
});
