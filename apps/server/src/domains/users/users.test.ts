import type { ParleyEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
});
afterAll(() => server?.close());

/** Collects the bus events of `app` while `work` runs. */
async function eventsDuring<T>(work: () => Promise<T>, appId = app.id): Promise<[T, ParleyEvent[]]> {
  const events: ParleyEvent[] = [];
  const unsubscribe = server.parley.bus.subscribe((e) => {
    if (e.app_id === appId) events.push(e);
  });
  try {
    return [await work(), events];
  } finally {
    unsubscribe();
  }
}

describe('upserting users', () => {
  it('creates and updates a batch; fields left out keep their value', async () => {
    const res = await app.server.post('/users', {
      users: [
        { id: 'up1', name: 'One', image: 'https://img.example.com/1.png', custom: { team: 'red' } },
        { id: 'up2', role: 'moderator' },
        { id: 'user@example.com=x_y-z.1' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.users.map((u: { id: string }) => u.id)).toEqual([
      'up1',
      'up2',
      'user@example.com=x_y-z.1',
    ]);
    expect(res.body.users[0]).toMatchObject({
      id: 'up1',
      name: 'One',
      image: 'https://img.example.com/1.png',
      role: 'user',
      custom: { team: 'red' },
      banned: false,
      ban_expires_at: null,
      deleted_at: null,
    });
    expect(res.body.users[1].role).toBe('moderator');

    const again = await app.server.post('/users', { users: [{ id: 'up1', name: 'Uno' }] });
    expect(again.body.users[0]).toMatchObject({
      name: 'Uno',
      image: 'https://img.example.com/1.png',
      custom: { team: 'red' },
    });
    const cleared = await app.server.post('/users', { users: [{ id: 'up1', image: null, custom: {} }] });
    expect(cleared.body.users[0]).toMatchObject({ name: 'Uno', image: null, custom: {} });
    expect((await app.server.get('/users/up1')).body.user).toEqual(cleared.body.users[0]);
  });

  it('validates every user of the batch and writes none when one is bad', async () => {
    const cases: [unknown, string][] = [
      [{ users: [] }, 'body.users'],
      [{ users: Array.from({ length: 101 }, (_, i) => ({ id: `many${i}` })) }, 'body.users'],
      [{ users: [{ id: 'ok1' }, { id: 'bad id' }] }, 'body.users.1.id'],
      [{ users: [{ id: 'ok1', role: 'owner' }] }, 'body.users.0.role'],
      [{ users: [{ id: 'ok1', image: 'not a url' }] }, 'body.users.0.image'],
      [{ users: [{ id: 'ok1', custom: [] }] }, 'body.users.0.custom'],
      [{ users: [{ id: 'ok1', ban_expires_at: 'tomorrow' }] }, 'body.users.0.ban_expires_at'],
      [{ users: [{ id: 'ok1', unknown: 1 }] }, 'body.users.0.unknown'],
      [{ users: [{ id: 'x'.repeat(129) }] }, 'body.users.0.id'],
    ];
    for (const [body, field] of cases) {
      const res = await app.server.post('/users', body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details.field).toBe(field);
    }
    expect((await app.server.get('/users/ok1')).status).toBe(404);
  });

  it('refuses custom data over the app limit with 400 CUSTOM_DATA_TOO_LARGE, writing nothing', async () => {
    const limit = (await app.server.get('/app')).body.app.limits.max_custom_data_bytes as number;
    const big = { blob: 'x'.repeat(limit) };
    const res = await app.server.post('/users', { users: [{ id: 'small' }, { id: 'big', custom: big }] });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'CUSTOM_DATA_TOO_LARGE', details: { field: 'users[1].custom' } });
    expect((await app.server.get('/users/small')).status).toBe(404);

    // Exactly at the limit is fine.
    const atLimit = { blob: 'x'.repeat(limit - JSON.stringify({ blob: '' }).length) };
    expect((await app.server.post('/users', { users: [{ id: 'at-limit', custom: atLimit }] })).status).toBe(
      200,
    );
  });

  it('users may upsert themselves but not their role or ban, nor anybody else', async () => {
    const self = await app.as('selfie');
    const ok = await self.post('/users', { users: [{ id: 'selfie', name: 'Me', custom: { mood: 'ok' } }] });
    expect(ok.status).toBe(200);
    expect(ok.body.users[0]).toMatchObject({ name: 'Me', role: 'user', custom: { mood: 'ok' } });

    for (const field of ['role', 'banned', 'ban_expires_at', 'ban_reason'] as const) {
      const value = { role: 'admin', banned: false, ban_expires_at: null, ban_reason: null }[field];
      const res = await self.post('/users', { users: [{ id: 'selfie', [field]: value }] });
      expect(res.status, field).toBe(403);
      expect(res.body).toMatchObject({ code: 'AUTH_SERVER_ONLY', details: { field: `users[0].${field}` } });
    }
    const others = await self.post('/users', {
      users: [{ id: 'selfie' }, { id: 'someone-else', name: 'x' }],
    });
    expect(others.status).toBe(403);
    expect(others.body).toMatchObject({ code: 'FORBIDDEN', details: { field: 'users[1].id' } });
    expect((await app.server.get('/users/someone-else')).status).toBe(404);
    expect((await app.server.get('/users/selfie')).body.user.role).toBe('user');
  });
});

describe('partial updates', () => {
  beforeAll(async () => {
    await app.server.post('/users', {
      users: [{ id: 'pu', name: 'Partial', custom: { a: 1, b: { nested: true }, c: 'keep' } }],
    });
  });

  it('sets and unsets top-level fields and single custom keys', async () => {
    const res = await app.server.patch('/users', {
      users: [
        {
          id: 'pu',
          set: { name: 'Renamed', 'custom.a': 2, 'custom.d': [1, 2], role: 'admin' },
          unset: ['custom.b', 'image'],
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.users[0]).toMatchObject({
      id: 'pu',
      name: 'Renamed',
      image: null,
      role: 'admin',
      custom: { a: 2, c: 'keep', d: [1, 2] },
    });
    const unset = await app.server.patch('/users', { users: [{ id: 'pu', unset: ['name', 'role'] }] });
    expect(unset.body.users[0]).toMatchObject({
      name: null,
      role: 'user',
      custom: { a: 2, c: 'keep', d: [1, 2] },
    });
    const whole = await app.server.patch('/users', {
      users: [{ id: 'pu', set: { custom: { only: 'this' } } }],
    });
    expect(whole.body.users[0].custom).toEqual({ only: 'this' });
    const none = await app.server.patch('/users', { users: [{ id: 'pu', unset: ['custom'] }] });
    expect(none.body.users[0].custom).toEqual({});
    expect((await app.server.get('/users/pu')).body.user).toEqual(none.body.users[0]);
  });

  it('refuses unknown fields, wrong types and unknown users with the field named', async () => {
    const cases: [unknown, number, string, string][] = [
      [{ id: 'pu', set: { id: 'other' } }, 400, 'VALIDATION_FAILED', 'users[0].set.id'],
      [{ id: 'pu', set: { created_at: 'x' } }, 400, 'VALIDATION_FAILED', 'users[0].set.created_at'],
      [{ id: 'pu', unset: ['deleted_at'] }, 400, 'VALIDATION_FAILED', 'users[0].unset'],
      [{ id: 'pu', set: { name: 5 } }, 400, 'VALIDATION_FAILED', 'users[0].name'],
      [{ id: 'pu', set: { role: 'owner' } }, 400, 'VALIDATION_FAILED', 'users[0].role'],
      [{ id: 'pu', set: { banned: 'yes' } }, 400, 'VALIDATION_FAILED', 'users[0].banned'],
      [{ id: 'nobody', set: { name: 'x' } }, 404, 'USER_NOT_FOUND', 'users[0].id'],
    ];
    for (const [update, status, code, field] of cases) {
      const res = await app.server.patch('/users', { users: [update] });
      expect(res.status, JSON.stringify(update)).toBe(status);
      expect(res.body.code).toBe(code);
      expect(res.body.details.field).toBe(field);
    }
  });

  it('refuses custom data that grows over the limit through custom.<key>', async () => {
    const limit = (await app.server.get('/app')).body.app.limits.max_custom_data_bytes as number;
    const half = 'x'.repeat(Math.ceil(limit / 2));
    expect(
      (await app.server.patch('/users', { users: [{ id: 'pu', set: { 'custom.one': half } }] })).status,
    ).toBe(200);
    const res = await app.server.patch('/users', { users: [{ id: 'pu', set: { 'custom.two': half } }] });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'CUSTOM_DATA_TOO_LARGE', details: { field: 'users[0].custom' } });
    expect((await app.server.get('/users/pu')).body.user.custom).not.toHaveProperty('two');
  });

  it('users may update their own profile, but not their role or ban (403 AUTH_SERVER_ONLY), nor others (403)', async () => {
    await app.server.post('/users', { users: [{ id: 'pself' }, { id: 'pother', name: 'Other' }] });
    const self = await app.as('pself');
    const ok = await self.patch('/users', { users: [{ id: 'pself', set: { name: 'Me', 'custom.x': 1 } }] });
    expect(ok.status).toBe(200);
    expect(ok.body.users[0]).toMatchObject({ name: 'Me', custom: { x: 1 } });

    const attempts: [Record<string, unknown>, string][] = [
      [{ set: { role: 'admin' } }, 'users[0].role'],
      [{ set: { banned: false } }, 'users[0].banned'],
      [{ set: { ban_expires_at: null } }, 'users[0].ban_expires_at'],
      [{ unset: ['banned'] }, 'users[0].banned'],
      [{ unset: ['ban_reason'] }, 'users[0].ban_reason'],
      [{ set: { 'role.x': 1 } }, 'users[0].role'],
    ];
    for (const [update, field] of attempts) {
      const res = await self.patch('/users', { users: [{ id: 'pself', ...update }] });
      expect(res.status, JSON.stringify(update)).toBe(403);
      expect(res.body).toMatchObject({ code: 'AUTH_SERVER_ONLY', details: { field } });
    }
    const other = await self.patch('/users', { users: [{ id: 'pother', set: { name: 'Hacked' } }] });
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ code: 'FORBIDDEN', details: { field: 'users[0].id' } });
    expect((await app.server.get('/users/pother')).body.user.name).toBe('Other');
    expect((await app.server.get('/users/pself')).body.user.role).toBe('user');
  });

  it('a failing update in a batch rolls back the whole batch and emits nothing', async () => {
    await app.server.post('/users', { users: [{ id: 'rb1', name: 'Before' }] });
    const [res, events] = await eventsDuring(() =>
      app.server.patch('/users', {
        users: [
          { id: 'rb1', set: { name: 'After' } },
          { id: 'rb-missing', set: { name: 'x' } },
        ],
      }),
    );
    expect(res.status).toBe(404);
    expect(res.body.details.field).toBe('users[1].id');
    expect(events).toEqual([]);
    expect((await app.server.get('/users/rb1')).body.user.name).toBe('Before');
  });
});

describe('querying users', () => {
  let q: TestApp;
  const ids = async (body: Record<string, unknown>) => {
    const res = await q.server.post('/users/query', body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body.users as { id: string }[]).map((u) => u.id);
  };

  beforeAll(async () => {
    q = await server.createApp();
    const res = await q.server.post('/users', {
      users: [
        { id: 'ann', name: 'Ann', role: 'admin', custom: { age: 31, city: 'Paris', vip: true } },
        { id: 'bob', name: 'Bob', custom: { age: 17, city: 'Berlin' } },
        { id: 'cid', role: 'moderator', custom: { age: 'unknown', note: null } },
        { id: 'dan', name: 'Dan', banned: true, custom: { age: 45, city: 'Paris', vip: false } },
        { id: 'eve', name: 'Eve', role: 'guest' },
      ],
    });
    expect(res.status).toBe(200);
  });

  it('returns every user of the app (and only of the app) by default, oldest first', async () => {
    expect(await ids({})).toEqual(['ann', 'bob', 'cid', 'dan', 'eve']);
    const res = await q.server.post('/users/query', {});
    expect(res.body.users[0]).toMatchObject({ id: 'ann', name: 'Ann', role: 'admin', custom: { age: 31 } });
  });

  it.each([
    [{ id: 'bob' }, ['bob']],
    [{ id: { $eq: 'bob' } }, ['bob']],
    [{ name: { $ne: 'Ann' } }, ['bob', 'cid', 'dan', 'eve']],
    [{ role: { $in: ['admin', 'moderator'] } }, ['ann', 'cid']],
    [{ role: { $nin: ['user'] } }, ['ann', 'cid', 'eve']],
    [{ name: { $nin: ['Ann', 'Bob'] } }, ['cid', 'dan', 'eve']],
    [{ name: { $gt: 'Bob' } }, ['dan', 'eve']],
    [{ name: { $gte: 'Bob' } }, ['bob', 'dan', 'eve']],
    [{ name: { $lt: 'Bob' } }, ['ann']],
    [{ name: { $lte: 'Bob' } }, ['ann', 'bob']],
    [{ name: { $gt: 'Ann', $lt: 'Eve' } }, ['bob', 'dan']],
    [{ name: { $exists: false } }, ['cid']],
    [{ name: { $exists: true } }, ['ann', 'bob', 'dan', 'eve']],
    [{ name: null }, ['cid']],
    [{ name: { $ne: null } }, ['ann', 'bob', 'dan', 'eve']],
    [{ banned: true }, ['dan']],
    [{ banned: { $ne: true } }, ['ann', 'bob', 'cid', 'eve']],
    [{ last_active_at: { $exists: false } }, ['ann', 'bob', 'cid', 'dan', 'eve']],
    [{ $or: [{ role: 'admin' }, { banned: true }] }, ['ann', 'dan']],
    [{ $and: [{ role: 'user' }, { banned: false }] }, ['bob']],
    [{ $or: [{ $and: [{ city: 'Paris' }, { vip: true }] }, { id: 'eve' }] }, ['ann', 'eve']],
    [{ role: 'user', banned: false }, ['bob']],
    [{ city: 'Paris' }, ['ann', 'dan']],
    [{ city: { $in: ['Berlin', 'Rome'] } }, ['bob']],
    [{ city: { $nin: ['Paris'] } }, ['bob', 'cid', 'eve']],
    [{ city: { $ne: 'Paris' } }, ['bob', 'cid', 'eve']],
    [{ age: { $gt: 18 } }, ['ann', 'dan']],
    [{ age: { $gte: 17, $lte: 31 } }, ['ann', 'bob']],
    [{ age: { $lt: 40 } }, ['ann', 'bob']],
    [{ age: 'unknown' }, ['cid']],
    [{ age: { $gt: 'a' } }, ['cid']],
    [{ vip: true }, ['ann']],
    [{ vip: { $exists: true } }, ['ann', 'dan']],
    [{ vip: { $exists: false } }, ['bob', 'cid', 'eve']],
    [{ note: null }, ['cid']],
    [{ note: { $exists: true } }, ['cid']],
    [{ created_at: { $gt: '2999-01-01T00:00:00Z' } }, []],
    [{ created_at: { $lte: '2999-01-01T00:00:00Z' } }, ['ann', 'bob', 'cid', 'dan', 'eve']],
    [{ created_at: { $lt: '2000-01-01T00:00:00Z' } }, []],
  ])('filter %j → %j', async (filter, expected) => {
    expect(await ids({ filter })).toEqual(expected);
  });

  it('sorts by whitelisted fields, ties broken by id, with limit and offset', async () => {
    expect(await ids({ sort: [{ field: 'name', direction: 1 }] })).toEqual([
      'ann',
      'bob',
      'dan',
      'eve',
      'cid',
    ]);
    expect(await ids({ sort: [{ field: 'name', direction: -1 }] })).toEqual([
      'eve',
      'dan',
      'bob',
      'ann',
      'cid',
    ]);
    expect(await ids({ sort: [{ field: 'id', direction: -1 }] })).toEqual([
      'eve',
      'dan',
      'cid',
      'bob',
      'ann',
    ]);
    expect(await ids({ sort: [{ field: 'created_at', direction: -1 }] })).toHaveLength(5);
    expect(await ids({ sort: [{ field: 'id', direction: 1 }], limit: 2, offset: 1 })).toEqual(['bob', 'cid']);
    expect(await ids({ sort: [{ field: 'id', direction: 1 }], limit: 2, offset: 4 })).toEqual(['eve']);
    expect(await ids({ filter: { city: 'Paris' }, sort: [{ field: 'name', direction: -1 }] })).toEqual([
      'dan',
      'ann',
    ]);
  });

  it('refuses unknown fields and operators with 400 FILTER_INVALID naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ 'name; drop table users': 'x' }, 'filter.name; drop table users'],
      [{ 'custom.city': 'Paris' }, 'filter.custom.city'],
      [{ name: { $regex: '.*' } }, 'filter.name'],
      [{ name: {} }, 'filter.name'],
      [{ $nor: [{ name: 'Ann' }] }, 'filter.$nor'],
      [{ $or: [] }, 'filter.$or'],
      [{ $or: { name: 'Ann' } }, 'filter.$or'],
      [{ $and: [{ nope: { $foo: 1 } }] }, 'filter.$and[0].nope'],
      [{ name: 5 }, 'filter.name'],
      [{ banned: 'yes' }, 'filter.banned'],
      [{ created_at: { $gt: 'not a date' } }, 'filter.created_at'],
      [{ role: { $in: [] } }, 'filter.role'],
      [{ role: { $in: 'admin' } }, 'filter.role'],
      [{ role: { $exists: 'yes' } }, 'filter.role'],
      [{ city: { $gt: null } }, 'filter.city'],
      [{ city: { $eq: { a: 1 } } }, 'filter.city'],
      [{ city: [1, 2] }, 'filter.city'],
    ];
    for (const [filter, field] of cases) {
      const res = await q.server.post('/users/query', { filter });
      expect(res.status, JSON.stringify(filter)).toBe(400);
      expect(res.body.code).toBe('FILTER_INVALID');
      expect(res.body.details.field).toBe(field);
    }
  });

  it('refuses an unknown sort field with 400 SORT_INVALID, and a bad direction with 400', async () => {
    for (const field of ['custom', 'role; drop table users', 'banned', 'age']) {
      const res = await q.server.post('/users/query', { sort: [{ field: 'name' }, { field, direction: 1 }] });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'SORT_INVALID', details: { field: 'sort[1].field' } });
    }
    const dir = await q.server.post('/users/query', { sort: [{ field: 'name', direction: 2 }] });
    expect(dir.status).toBe(400);
    expect(dir.body.code).toBe('VALIDATION_FAILED');
    const limit = await q.server.post('/users/query', { limit: 101 });
    expect(limit.body.details.field).toBe('body.limit');
  });

  it('users may query too', async () => {
    const bob = await q.as('bob');
    const res = await bob.post('/users/query', { filter: { city: 'Paris' } });
    expect(res.status).toBe(200);
    expect(res.body.users.map((u: { id: string }) => u.id)).toEqual(['ann', 'dan']);
  });
});

describe('getting users', () => {
  it('returns the user of this app, 404 USER_NOT_FOUND otherwise (also for another app’s user)', async () => {
    const other = await server.createApp();
    await other.server.post('/users', { users: [{ id: 'only-other' }] });
    await app.server.post('/users', { users: [{ id: 'getme', name: 'Get' }] });
    const res = await app.server.get('/users/getme');
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: 'getme', name: 'Get' });
    for (const id of ['nobody', 'only-other']) {
      const missing = await app.server.get(`/users/${id}`);
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('USER_NOT_FOUND');
    }
    expect((await app.server.get('/users/bad%20id')).status).toBe(400);
  });
});

describe('deleting users', () => {
  it('soft delete hides the user from queries unless include_deleted, and keeps the row', async () => {
    await app.server.post('/users', {
      users: [
        { id: 'soft', custom: { group: 'del' } },
        { id: 'stay', custom: { group: 'del' } },
      ],
    });
    const [res, events] = await eventsDuring(() => app.server.delete('/users/soft'));
    expect(res.status).toBe(200);
    expect(res.body.user.deleted_at).not.toBeNull();
    expect(events.map((e) => e.type)).toEqual(['user.deleted']);
    expect(events[0]).toMatchObject({
      hard: false,
      user: { id: 'soft', deleted_at: res.body.user.deleted_at },
    });

    const visible = await app.server.post('/users/query', { filter: { group: 'del' } });
    expect(visible.body.users.map((u: { id: string }) => u.id)).toEqual(['stay']);
    const all = await app.server.post('/users/query', { filter: { group: 'del' }, include_deleted: true });
    expect(all.body.users.map((u: { id: string }) => u.id)).toEqual(['soft', 'stay']);
    expect((await app.server.get('/users/soft')).body.user.deleted_at).toBe(res.body.user.deleted_at);
  });

  it('hard delete removes the user and their memberships, and fixes member counts', async () => {
    await app.server.post('/users', { users: [{ id: 'hard' }, { id: 'hard-friend' }] });
    const ch = await app.server.post('/channels', {
      type: 'messaging',
      id: 'hard-room',
      members: ['hard', 'hard-friend'],
      created_by: 'hard-friend',
    });
    expect(ch.status).toBe(201);
    expect(ch.body.channel.channel.member_count).toBe(2);

    const [res, events] = await eventsDuring(() => app.server.delete('/users/hard?hard=true'));
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe('hard');
    expect(events.map((e) => e.type)).toEqual(['member.removed', 'user.deleted']);
    expect(events[0]).toMatchObject({ cid: 'messaging:hard-room', user_id: 'hard' });
    expect(events[1]).toMatchObject({ hard: true, user: { id: 'hard' } });

    expect((await app.server.get('/users/hard')).status).toBe(404);
    const channel = await app.server.get('/channels/messaging/hard-room');
    expect(channel.status).toBe(200);
    expect(channel.body.channel.channel.member_count).toBe(1);
    expect(channel.body.channel.members.map((m: { user_id: string }) => m.user_id)).toEqual(['hard-friend']);
    const all = await app.server.post('/users/query', { filter: { id: 'hard' }, include_deleted: true });
    expect(all.body.users).toEqual([]);
  });

  it('is server-only, 404 for unknown users, and validates ?hard', async () => {
    await app.server.post('/users', { users: [{ id: 'victim' }] });
    const user = await app.as('victim');
    const self = await user.delete('/users/victim');
    expect(self.status).toBe(403);
    expect(self.body.code).toBe('AUTH_SERVER_ONLY');
    const missing = await app.server.delete('/users/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('USER_NOT_FOUND');
    const bad = await app.server.delete('/users/victim?hard=yes');
    expect(bad.status).toBe(400);
    expect((await app.server.get('/users/victim')).body.user.deleted_at).toBeNull();
  });
});

describe('banning users', () => {
  const send = async (userId: string, text: string) =>
    (await app.as(userId)).post('/channels/messaging/ban-room/messages', { text });

  beforeAll(async () => {
    await app.server.post('/users', { users: [{ id: 'ban-a' }, { id: 'ban-b' }] });
    const ch = await app.server.post('/channels', {
      type: 'messaging',
      id: 'ban-room',
      members: ['ban-a', 'ban-b'],
      created_by: 'ban-a',
    });
    expect(ch.status).toBe(201);
  });

  it('a ban blocks sending (403 USER_BANNED); lifting it unblocks', async () => {
    expect((await send('ban-b', 'before')).status).toBe(201);
    const [ban, events] = await eventsDuring(() =>
      app.server.patch('/users', { users: [{ id: 'ban-b', set: { banned: true, ban_reason: 'spam' } }] }),
    );
    expect(ban.status).toBe(200);
    expect(ban.body.users[0]).toMatchObject({ banned: true, ban_reason: 'spam', ban_expires_at: null });
    expect(events.map((e) => e.type)).toEqual(['user.updated', 'user.banned']);

    const blocked = await send('ban-b', 'while banned');
    expect(blocked.status).toBe(403);
    expect(blocked.body.code).toBe('USER_BANNED');

    const [unban, unbanEvents] = await eventsDuring(() =>
      app.server.patch('/users', { users: [{ id: 'ban-b', set: { banned: false }, unset: ['ban_reason'] }] }),
    );
    expect(unban.body.users[0]).toMatchObject({ banned: false, ban_reason: null });
    expect(unbanEvents.map((e) => e.type)).toEqual(['user.updated', 'user.unbanned']);
    expect((await send('ban-b', 'after')).status).toBe(201);
  });

  it('a ban with ban_expires_at blocks until then; an expired ban no longer blocks', async () => {
    const future = new Date(Date.now() + 3600_000).toISOString();
    const timed = await app.server.post('/users', {
      users: [{ id: 'ban-b', banned: true, ban_expires_at: future }],
    });
    expect(timed.status).toBe(200);
    expect(Date.parse(timed.body.users[0].ban_expires_at)).toBe(Date.parse(future));
    expect((await send('ban-b', 'timed')).body.code).toBe('USER_BANNED');

    const past = new Date(Date.now() - 1000).toISOString();
    await app.server.patch('/users', { users: [{ id: 'ban-b', set: { ban_expires_at: past } }] });
    const res = await send('ban-b', 'expired ban');
    expect(res.status).toBe(201);
    // Other members were never affected.
    expect((await send('ban-a', 'hello')).status).toBe(201);
    await app.server.patch('/users', {
      users: [{ id: 'ban-b', set: { banned: false, ban_expires_at: null } }],
    });
  });

  it('upsert with banned: true emits user.banned for new and existing users', async () => {
    const [, events] = await eventsDuring(() =>
      app.server.post('/users', {
        users: [
          { id: 'ban-new', banned: true },
          { id: 'ban-a', banned: true },
        ],
      }),
    );
    expect(events.map((e) => [e.type, 'user' in e ? e.user.id : null])).toEqual([
      ['user.updated', 'ban-new'],
      ['user.banned', 'ban-new'],
      ['user.updated', 'ban-a'],
      ['user.banned', 'ban-a'],
    ]);
    await app.server.post('/users', { users: [{ id: 'ban-a', banned: false }] });
  });
});

describe('user events', () => {
  it('are published after commit, and the user in user.updated equals a fresh fetch', async () => {
    const seen: Promise<unknown>[] = [];
    const events: ParleyEvent[] = [];
    const unsubscribe = server.parley.bus.subscribe((e) => {
      if (e.app_id !== app.id || e.type !== 'user.updated') return;
      events.push(e);
      // The write is visible to every other connection when the event is published.
      seen.push(
        server.database.db
          .selectFrom('users')
          .select('name')
          .where('app_id', '=', app.id)
          .where('id', '=', e.user.id)
          .executeTakeFirst(),
      );
    });
    try {
      await app.server.post('/users', { users: [{ id: 'ev1', name: 'First' }] });
      await app.server.patch('/users', { users: [{ id: 'ev1', set: { name: 'Second', 'custom.k': 'v' } }] });
    } finally {
      unsubscribe();
    }
    expect(await Promise.all(seen)).toEqual([{ name: 'First' }, { name: 'Second' }]);
    const last = events.at(-1);
    expect(last?.type === 'user.updated' && last.user).toEqual(
      (await app.server.get('/users/ev1')).body.user,
    );
    expect(events.every((e) => typeof e.id === 'string' && typeof e.created_at === 'string')).toBe(true);
  });

  it('a refused write publishes nothing', async () => {
    const [res, events] = await eventsDuring(() =>
      app.server.post('/users', {
        users: [{ id: 'ev-ok' }, { id: 'ev-bad', custom: { x: 'y'.repeat(100_000) } }],
      }),
    );
    expect(res.status).toBe(400);
    expect(events).toEqual([]);
  });

  it('are scoped to the app that made them', async () => {
    const other = await server.createApp();
    const [, events] = await eventsDuring(
      () => other.server.post('/users', { users: [{ id: 'x1' }] }),
      other.id,
    );
    expect(events.map((e) => [e.type, e.app_id])).toEqual([['user.updated', other.id]]);
  });
});
