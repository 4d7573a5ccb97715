import type { ParleyEvent } from '@parley/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../platform/context.js';
import type { UserRow } from '../../platform/db.types.js';
import {
  type ApiClient,
  type ApiResponse,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { listenForGateway, RawClient } from '../../test-support/realtime-clients.js';
import { APP_POLICY_ACTIONS, type AppAction, canApp } from '../channels/channels.policy.js';
import { applyBlocklists } from './blocklists.js';

let server: TestServer;
let app: TestApp;
const c: Record<string, ApiClient> = {};
const seen: ParleyEvent[] = [];
/** What the realtime gateway published: [topic, payload]. */
const published: [string, { type: string; [k: string]: unknown }][] = [];

const USERS: { id: string; role?: string }[] = [
  { id: 'own' },
  { id: 'cmod' },
  { id: 'mem' },
  { id: 'gst', role: 'guest' },
  { id: 'abn' },
  { id: 'non' },
  { id: 'adm', role: 'admin' },
  { id: 'amod', role: 'moderator' },
  { id: 'victim' },
  { id: 'alice' },
  { id: 'bob' },
  { id: 'carol' },
  { id: 'dave' },
  { id: 'shady' },
];

const ofType = <T extends ParleyEvent['type']>(type: T) =>
  seen.filter((e): e is Extract<ParleyEvent, { type: T }> => e.type === type);
const db = () => server.database.db;

function status(res: ApiResponse, expected: number, code?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(expected);
  if (code) expect(res.body.code).toBe(code);
  return res;
}

async function send(who: string, path: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await c[who]!.post(`${path}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as { id: string; text: string; user_id: string; seq: number };
}

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  const gateway = server.parley.realtime.gateway;
  const original = gateway.publish.bind(gateway);
  // Instrumentation (the real publish still runs): which topic each event reached.
  gateway.publish = ((appId: string, topic: string, data: unknown, opts?: unknown) => {
    if (appId === app.id) published.push([topic, data as { type: string }]);
    return (original as (...a: unknown[]) => Promise<void>)(appId, topic, data, opts);
  }) as typeof gateway.publish;
  status(await app.server.post('/users', { users: USERS }), 200);
  status(await app.server.post('/users', { users: [{ id: 'abn', banned: true }] }), 200);
  for (const { id } of USERS) c[id] = await app.as(id);
  status(
    await app.server.post('/channels', {
      type: 'messaging',
      id: 'mod-room',
      created_by: 'own',
      members: ['own', 'cmod', 'mem', 'gst', 'abn', 'victim', 'alice', 'bob', 'carol', 'dave', 'shady'],
    }),
    201,
  );
  status(await c.own!.patch('/channels/messaging/mod-room/members/cmod', { role: 'moderator' }), 200);
});
afterAll(() => server?.close());

const room = '/channels/messaging/mod-room';

describe('app-level policy matrix (canApp)', () => {
  const past = new Date('2020-01-01T00:00:00Z');
  const user = (role: string, banned = false): Actor => ({
    kind: 'user',
    user: {
      app_id: 'a',
      id: 'u',
      name: null,
      image: null,
      role,
      custom: {},
      banned,
      ban_expires_at: null,
      ban_reason: null,
      invisible: false,
      shadow_banned: false,
      deleted_at: null,
      last_active_at: null,
      tokens_revoked_at: null,
      created_at: past,
      updated_at: past,
    } as UserRow,
  });
  const ROLES: Record<string, Actor> = {
    server: { kind: 'server' },
    app_admin: user('admin'),
    app_moderator: user('moderator'),
    user: user('user'),
    guest: user('guest'),
    banned: user('user', true),
  };
  /* biome-ignore format: the table is easier to read aligned */
  const MATRIX: Record<AppAction, string> = {
    //                  srv adm amod usr gst ban
    mute:              'Y   Y   Y    Y   Y   Y',
    block:             'Y   Y   Y    Y   Y   Y',
    flag_user:         'Y   Y   Y    Y   Y   .',
    ban_user:          'Y   Y   Y    .   .   .',
    shadow_ban:        'Y   Y   Y    .   .   .',
    query_bans:        'Y   Y   Y    .   .   .',
    review_flags:      'Y   Y   Y    .   .   .',
    manage_blocklists: 'Y   Y   Y    .   .   .',
    read_audit_log:    'Y   Y   Y    .   .   .',
  };
  it('covers every app action', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...APP_POLICY_ACTIONS].sort());
  });
  for (const action of APP_POLICY_ACTIONS) {
    it(action, () => {
      const expected = MATRIX[action].split(/\s+/).map((x) => x === 'Y');
      expect(Object.values(ROLES).map((actor) => canApp(action, actor))).toEqual(expected);
    });
  }
});

describe('permission matrix over HTTP: every moderation action × role', () => {
  /** Callers in column order; the server acts as `mem` where an acting user is needed. */
  const ROLES = ['own', 'cmod', 'mem', 'gst', 'abn', 'non', 'adm', 'amod', 'server'] as const;
  type Role = (typeof ROLES)[number];
  const client = (role: Role) => (role === 'server' ? app.server : c[role]!);
  const acting = (role: Role, body: Record<string, unknown> = {}) =>
    role === 'server' ? { ...body, user_id: 'mem' } : body;
  let victimMessage: string;
  let flagIds: string[] = [];

  beforeAll(async () => {
    victimMessage = (await send('victim', room, 'flag me')).id;
  });

  const ACTIONS: Record<string, { expect: string; call: (role: Role) => Promise<ApiResponse> }> = {
    //                                   own cmod mem gst abn non adm amod srv
    mute_user: {
      expect: '                          Y   Y    Y   Y   Y   Y   Y   Y    Y',
      call: (r) => client(r).post('/moderation/mute-user', acting(r, { target_id: 'victim' })),
    },
    mute_channel: {
      expect: '                          Y   Y    Y   Y   Y   .   Y   Y    Y',
      call: (r) => client(r).post('/moderation/mute-channel', acting(r, { cid: 'messaging:mod-room' })),
    },
    block_user: {
      expect: '                          Y   Y    Y   Y   Y   Y   Y   Y    Y',
      call: (r) => client(r).post('/moderation/block', acting(r, { target_id: 'victim' })),
    },
    flag_message: {
      expect: '                          Y   Y    Y   Y   .   .   Y   Y    Y',
      call: async (r) => {
        const body =
          r === 'server'
            ? { message_id: victimMessage, reason: 'spam', user_id: 'cmod' }
            : { message_id: victimMessage, reason: 'spam' };
        return client(r).post('/moderation/flag', body);
      },
    },
    flag_user: {
      expect: '                          Y   Y    Y   Y   .   Y   Y   Y    Y',
      call: (r) => client(r).post('/moderation/flag', acting(r, { target_id: 'victim', reason: 'rude' })),
    },
    ban_from_channel: {
      expect: '                          Y   Y    .   .   .   .   Y   Y    Y',
      call: (r) =>
        client(r).post('/moderation/ban', {
          target_id: 'victim',
          cid: 'messaging:mod-room',
          timeout_minutes: 1,
        }),
    },
    unban_from_channel: {
      expect: '                          Y   Y    .   .   .   .   Y   Y    Y',
      call: async (r) => {
        await app.server.post('/moderation/ban', { target_id: 'victim', cid: 'messaging:mod-room' });
        return client(r).post('/moderation/unban', { target_id: 'victim', cid: 'messaging:mod-room' });
      },
    },
    ban_app_wide: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: (r) => client(r).post('/moderation/ban', { target_id: 'victim', timeout_minutes: 5 }),
    },
    unban_app_wide: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: async (r) => {
        await app.server.post('/moderation/ban', { target_id: 'victim' });
        const res = await client(r).post('/moderation/unban', { target_id: 'victim' });
        await app.server.post('/moderation/unban', { target_id: 'victim' });
        return res;
      },
    },
    query_channel_bans: {
      expect: '                          Y   Y    .   .   .   .   Y   Y    Y',
      call: (r) => client(r).get('/moderation/bans?cid=messaging:mod-room'),
    },
    query_all_bans: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: (r) => client(r).get('/moderation/bans'),
    },
    shadow_ban: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: async (r) => {
        const res = await client(r).post('/moderation/shadow-ban', { target_id: 'victim' });
        await app.server.post('/moderation/remove-shadow-ban', { target_id: 'victim' });
        return res;
      },
    },
    moderation_queue: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: async (r) => {
        const res = await client(r).get('/moderation/flags');
        if (res.status === 200) flagIds = res.body.flags.map((f: { id: string }) => f.id);
        return res;
      },
    },
    review_flag: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: async (r) => {
        const flag = await app.server.post('/moderation/flag', {
          target_id: 'victim',
          reason: `review by ${r}`,
          user_id: 'carol',
        });
        return client(r).post(`/moderation/flags/${flag.body.flag.id}/review`, { action: 'dismiss' });
      },
    },
    manage_blocklists: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: (r) =>
        client(r).post('/moderation/blocklists', { name: `list-${r}`, words: ['zzz'], behavior: 'mask' }),
    },
    audit_log: {
      expect: '                          .   .    .   .   .   .   Y   Y    Y',
      call: (r) => client(r).get('/moderation/audit-log'),
    },
  };

  for (const [action, spec] of Object.entries(ACTIONS)) {
    it(action, async () => {
      const expected = spec.expect.trim().split(/\s+/);
      expect(expected).toHaveLength(ROLES.length);
      const outcome: Record<string, string> = {};
      const wanted: Record<string, string> = {};
      for (const [i, role] of ROLES.entries()) {
        const res = await spec.call(role);
        outcome[role] = res.status < 300 ? 'Y' : res.status === 403 ? '.' : `${res.status} ${res.body.code}`;
        wanted[role] = expected[i]!;
      }
      expect(outcome).toEqual(wanted);
    });
  }

  it('the queue saw the flags of the matrix', () => {
    expect(flagIds.length).toBeGreaterThan(0);
  });

  it('a channel moderator cannot ban the owner; an app moderator cannot ban an admin', async () => {
    status(
      await c.cmod!.post('/moderation/ban', { target_id: 'own', cid: 'messaging:mod-room' }),
      403,
      'FORBIDDEN',
    );
    status(await c.amod!.post('/moderation/ban', { target_id: 'adm' }), 403, 'FORBIDDEN');
    status(await c.amod!.post('/moderation/shadow-ban', { target_id: 'adm' }), 403, 'FORBIDDEN');
  });
});

describe('bad input and abuse → 4xx with stable codes', () => {
  const cases: [string, (x: Record<string, ApiClient>) => Promise<ApiResponse>, number, string, string?][] = [
    [
      'mute an unknown user',
      (x) => x.mem!.post('/moderation/mute-user', { target_id: 'ghost' }),
      404,
      'USER_NOT_FOUND',
      'target_id',
    ],
    [
      'mute oneself',
      (x) => x.mem!.post('/moderation/mute-user', { target_id: 'mem' }),
      400,
      'CANNOT_MODERATE_SELF',
      'target_id',
    ],
    [
      'block oneself',
      (x) => x.mem!.post('/moderation/block', { target_id: 'mem' }),
      400,
      'CANNOT_MODERATE_SELF',
      'target_id',
    ],
    [
      'ban oneself',
      (x) => x.amod!.post('/moderation/ban', { target_id: 'amod' }),
      400,
      'CANNOT_MODERATE_SELF',
      'target_id',
    ],
    [
      'flag oneself',
      (x) => x.mem!.post('/moderation/flag', { target_id: 'mem', reason: 'me' }),
      400,
      'CANNOT_MODERATE_SELF',
      'target_id',
    ],
    [
      'expiry in the past',
      (x) => x.mem!.post('/moderation/mute-user', { target_id: 'bob', expires_at: '2001-01-01T00:00:00Z' }),
      400,
      'EXPIRY_IN_PAST',
      'expires_at',
    ],
    [
      'expiry not a date',
      (x) => x.mem!.post('/moderation/mute-user', { target_id: 'bob', expires_at: 'tomorrow' }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'both expiry forms',
      (x) =>
        x.mem!.post('/moderation/mute-user', {
          target_id: 'bob',
          expires_at: '2999-01-01T00:00:00Z',
          timeout_minutes: 5,
        }),
      400,
      'VALIDATION_FAILED',
      'timeout_minutes',
    ],
    [
      'timeout of zero',
      (x) => x.amod!.post('/moderation/ban', { target_id: 'bob', timeout_minutes: 0 }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'reason too long',
      (x) => x.amod!.post('/moderation/ban', { target_id: 'bob', reason: 'x'.repeat(501) }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'flag without reason',
      (x) => x.mem!.post('/moderation/flag', { target_id: 'bob' }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'flag with two targets',
      (x) =>
        x.mem!.post('/moderation/flag', {
          target_id: 'bob',
          message_id: '01890000-0000-7000-8000-000000000000',
          reason: 'x',
        }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'flag an unknown message',
      (x) =>
        x.mem!.post('/moderation/flag', { message_id: '01890000-0000-7000-8000-000000000000', reason: 'x' }),
      404,
      'MESSAGE_NOT_FOUND',
      'message_id',
    ],
    [
      'review an unknown flag',
      (x) =>
        x.amod!.post('/moderation/flags/01890000-0000-7000-8000-000000000000/review', { action: 'dismiss' }),
      404,
      'FLAG_NOT_FOUND',
      'flag_id',
    ],
    [
      'unban someone not banned',
      (x) => x.amod!.post('/moderation/unban', { target_id: 'bob' }),
      404,
      'BAN_NOT_FOUND',
      'target_id',
    ],
    [
      'ban in an unknown channel',
      (x) => x.amod!.post('/moderation/ban', { target_id: 'bob', cid: 'messaging:nope' }),
      404,
      'CHANNEL_NOT_FOUND',
    ],
    [
      'unknown blocklist',
      (x) => x.amod!.get('/moderation/blocklists/nope'),
      404,
      'BLOCKLIST_NOT_FOUND',
      'blocklist_name',
    ],
    [
      'blocklist with a bad behaviour',
      (x) => x.amod!.post('/moderation/blocklists', { name: 'x', words: ['a'], behavior: 'explode' }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'blocklist without words',
      (x) => x.amod!.post('/moderation/blocklists', { name: 'x', words: [], behavior: 'mask' }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'a user acting as another',
      (x) => x.mem!.post('/moderation/mute-user', { target_id: 'bob', user_id: 'carol' }),
      403,
      'FORBIDDEN',
    ],
    [
      'unknown field',
      (x) => x.mem!.post('/moderation/block', { target_id: 'bob', extra: 1 }),
      400,
      'VALIDATION_FAILED',
    ],
  ];
  for (const [name, call, code, errorCode, field] of cases) {
    it(name, async () => {
      const res = await call(c);
      status(res, code, errorCode);
      if (field) expect(res.body.details?.field).toBe(field);
    });
  }

  it('a server call must name the muting user', async () => {
    const res = await app.server.post('/moderation/mute-user', { target_id: 'bob' });
    status(res, 400, 'VALIDATION_FAILED');
    expect(res.body.details.field).toBe('user_id');
  });

  it('a flag reviewed twice answers FLAG_ALREADY_REVIEWED', async () => {
    const flag = (await c.alice!.post('/moderation/flag', { target_id: 'dave', reason: 'twice' })).body.flag;
    status(await c.amod!.post(`/moderation/flags/${flag.id}/review`, { action: 'dismiss' }), 200);
    status(
      await c.amod!.post(`/moderation/flags/${flag.id}/review`, { action: 'dismiss' }),
      409,
      'FLAG_ALREADY_REVIEWED',
    );
  });
});

describe('mutes', () => {
  it('mutes a user and a channel, lists them, and tells the muter’s own channel', async () => {
    const muted = status(
      await c.alice!.post('/moderation/mute-user', { target_id: 'bob', timeout_minutes: 60 }),
      200,
    );
    expect(muted.body.mute).toMatchObject({ user_id: 'alice', target_id: 'bob' });
    expect(new Date(muted.body.mute.expires_at).getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);
    status(await c.alice!.post('/moderation/mute-channel', { cid: 'messaging:mod-room' }), 200);
    const list = status(await c.alice!.get('/moderation/mutes'), 200).body;
    expect(list.user_mutes.map((m: { target_id: string }) => m.target_id)).toEqual(['bob']);
    expect(list.channel_mutes).toMatchObject([{ cid: 'messaging:mod-room', expires_at: null }]);
    expect(
      ofType('notification.user_muted').some((e) => e.user_id === 'alice' && e.mute.target_id === 'bob'),
    ).toBe(true);
    expect(
      published.some(([topic, e]) => topic === 'chat:user:alice' && e.type === 'notification.channel_muted'),
    ).toBe(true);
    expect(
      published.some(([topic, e]) => topic.startsWith('chat:channel:') && e.type.endsWith('_muted')),
    ).toBe(false);
    // Someone else's list is their own.
    expect((await c.bob!.get('/moderation/mutes')).body.user_mutes).toEqual([]);
  });

  it('an expired mute is no longer listed, without any job', async () => {
    await db()
      .updateTable('user_mutes')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('app_id', '=', app.id)
      .where('user_id', '=', 'alice')
      .execute();
    expect((await c.alice!.get('/moderation/mutes')).body.user_mutes).toEqual([]);
  });

  it('unmutes (twice is fine) with events', async () => {
    status(await c.alice!.post('/moderation/unmute-channel', { cid: 'messaging:mod-room' }), 200);
    status(await c.alice!.post('/moderation/unmute-channel', { cid: 'messaging:mod-room' }), 200);
    expect((await c.alice!.get('/moderation/mutes')).body.channel_mutes).toEqual([]);
    expect(ofType('notification.channel_unmuted').filter((e) => e.user_id === 'alice')).toHaveLength(1);
  });

  it('the service methods the slash commands call work directly', async () => {
    const ctx = {
      app: (await server.parley.services.apps.resolveApiKey(app.apiKey))!,
      actor: { kind: 'server' as const },
    };
    const mute = await server.parley.services.moderation.muteUser(ctx, {
      target_id: 'dave',
      user_id: 'carol',
    });
    expect(mute).toMatchObject({ user_id: 'carol', target_id: 'dave', expires_at: null });
    await server.parley.services.moderation.unmuteUser(ctx, { target_id: 'dave', user_id: 'carol' });
    const ban = await server.parley.services.moderation.ban(ctx, {
      target_id: 'dave',
      cid: 'messaging:mod-room',
      reason: 'cmd',
      timeout_minutes: 10,
    });
    expect(ban).toMatchObject({ user_id: 'dave', cid: 'messaging:mod-room', reason: 'cmd' });
    await server.parley.services.moderation.unban(ctx, { target_id: 'dave', cid: 'messaging:mod-room' });
    expect((await c.carol!.get('/moderation/mutes')).body.user_mutes).toEqual([]);
  });
});

describe('blocks', () => {
  it('a blocked user’s DMs are refused; their messages are hidden for the blocker only', async () => {
    const dm = status(
      await c.carol!.post('/channels', { type: 'messaging', distinct: true, members: ['carol', 'dave'] }),
      201,
    ).body.channel.channel;
    const dmPath = `/channels/messaging/${dm.id}`;
    const inRoom = await send('dave', room, 'hello from dave');
    status(await c.carol!.post('/moderation/block', { target_id: 'dave' }), 200);
    expect((await c.carol!.get('/moderation/blocks')).body.blocks).toMatchObject([{ target_id: 'dave' }]);

    const refused = status(
      await c.dave!.post(`${dmPath}/messages`, { text: 'hi carol' }),
      403,
      'BLOCKED_BY_USER',
    );
    expect(refused.body.details.field).toBe('cid');
    await send('carol', dmPath, 'I can still write');

    const ids = async (who: string) =>
      (await c[who]!.get(`${room}/messages?limit=300`)).body.messages.map((m: { id: string }) => m.id);
    expect(await ids('carol')).not.toContain(inRoom.id);
    expect(await ids('bob')).toContain(inRoom.id);

    status(await c.carol!.post('/moderation/unblock', { target_id: 'dave' }), 200);
    expect(await ids('carol')).toContain(inRoom.id);
    await send('dave', dmPath, 'hi again');
  });
});

describe('bans', () => {
  it('a channel ban survives removal and re-adding, and applies to a non-member', async () => {
    status(
      await c.own!.post('/moderation/ban', { target_id: 'bob', cid: 'messaging:mod-room', reason: 'spam' }),
      200,
    );
    status(await c.bob!.post(`${room}/messages`, { text: 'x' }), 403, 'USER_BANNED');
    status(await c.own!.post(`${room}/members/remove`, { user_ids: ['bob'] }), 200);
    status(await c.own!.post(`${room}/members`, { user_ids: ['bob'] }), 200);
    const member = (await c.own!.get(`${room}/members?user_id=own&limit=300`)).body.members.find(
      (m: { user_id: string }) => m.user_id === 'bob',
    );
    expect(member.banned).toBe(true);
    status(await c.bob!.post(`${room}/messages`, { text: 'x' }), 403, 'USER_BANNED');
    expect(ofType('member.banned').some((e) => e.user_id === 'bob' && e.ban.reason === 'spam')).toBe(true);
    expect(published.some(([t, e]) => t === 'chat:user:bob' && e.type === 'member.banned')).toBe(true);
    status(await c.own!.post('/moderation/unban', { target_id: 'bob', cid: 'messaging:mod-room' }), 200);
    await send('bob', room, 'back');

    // A non-member: banned first, added later, still banned.
    status(await app.server.post('/users', { users: [{ id: 'outsider' }] }), 200);
    status(await c.own!.post('/moderation/ban', { target_id: 'outsider', cid: 'messaging:mod-room' }), 200);
    status(await c.own!.post(`${room}/members`, { user_ids: ['outsider'] }), 200);
    const outsider = await app.as('outsider');
    status(await outsider.post(`${room}/messages`, { text: 'x' }), 403, 'USER_BANNED');
  });

  it('a timed ban stops applying once expired, without a job', async () => {
    status(
      await c.cmod!.post('/moderation/ban', {
        target_id: 'victim',
        cid: 'messaging:mod-room',
        timeout_minutes: 30,
      }),
      200,
    );
    status(await c.victim!.post(`${room}/messages`, { text: 'x' }), 403, 'USER_BANNED');
    await db()
      .updateTable('bans')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('app_id', '=', app.id)
      .where('user_id', '=', 'victim')
      .execute();
    await send('victim', room, 'free again');
    const bans = (await c.amod!.get('/moderation/bans?target_id=victim')).body.bans;
    expect(bans).toEqual([]);
  });

  it('app-wide bans and the users API are one ban', async () => {
    const ban = status(
      await c.amod!.post('/moderation/ban', { target_id: 'carol', reason: 'abuse', timeout_minutes: 60 }),
      200,
    ).body.ban;
    expect(ban).toMatchObject({ user_id: 'carol', cid: null, reason: 'abuse', banned_by: 'amod' });
    const user = (await app.server.get('/users/carol')).body.user;
    expect(user).toMatchObject({ banned: true, ban_reason: 'abuse' });
    expect(ofType('user.banned').some((e) => e.user.id === 'carol')).toBe(true);
    status(await c.carol!.post(`${room}/messages`, { text: 'x' }), 403, 'USER_BANNED');
    status(await c.amod!.post('/moderation/unban', { target_id: 'carol' }), 200);
    expect((await app.server.get('/users/carol')).body.user.banned).toBe(false);
    expect(ofType('user.unbanned').some((e) => e.user.id === 'carol')).toBe(true);

    // The users API writes the same ban record.
    status(
      await app.server.post('/users', { users: [{ id: 'dave', banned: true, ban_reason: 'via users' }] }),
      200,
    );
    const listed = (await c.adm!.get('/moderation/bans?app_wide=true&target_id=dave')).body.bans;
    expect(listed).toMatchObject([{ user_id: 'dave', cid: null, reason: 'via users' }]);
    status(await app.server.patch('/users', { users: [{ id: 'dave', set: { banned: false } }] }), 200);
    expect((await c.adm!.get('/moderation/bans?target_id=dave')).body.bans).toEqual([]);
  });

  it('PATCH members banned writes the bans table too', async () => {
    status(await c.own!.patch(`${room}/members/victim`, { banned: true }), 200);
    const bans = (await c.cmod!.get('/moderation/bans?cid=messaging:mod-room&target_id=victim')).body.bans;
    expect(bans).toHaveLength(1);
    status(await c.own!.patch(`${room}/members/victim`, { banned: false }), 200);
    expect((await c.cmod!.get('/moderation/bans?cid=messaging:mod-room&target_id=victim')).body.bans).toEqual(
      [],
    );
  });

  it('pages bans with a cursor', async () => {
    for (const id of ['p1', 'p2', 'p3']) {
      status(await app.server.post('/users', { users: [{ id }] }), 200);
      status(await c.own!.post('/moderation/ban', { target_id: id, cid: 'messaging:mod-room' }), 200);
    }
    const first = (await c.own!.get('/moderation/bans?cid=messaging:mod-room&limit=2')).body;
    expect(first.bans).toHaveLength(2);
    const second = (
      await c.own!.get(`/moderation/bans?cid=messaging:mod-room&limit=2&id_lt=${first.next_id_lt}`)
    ).body;
    const all = [...first.bans, ...second.bans].map((b: { user_id: string }) => b.user_id);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(expect.arrayContaining(['p1', 'p2', 'p3']));
  });
});

describe('shadow bans', () => {
  let parent: { id: string };
  let shadowed: { id: string };
  let shadowReply: { id: string };

  beforeAll(async () => {
    parent = await send('alice', room, 'a thread');
    status(await c.alice!.post(`${room}/read`, {}), 200);
    status(await c.bob!.post(`${room}/read`, {}), 200);
    status(await c.amod!.post('/moderation/shadow-ban', { target_id: 'shady' }), 200);
    // The auth path loads the user per request, so the ban applies at once.
    shadowed = await send('shady', room, 'buy my stuff @bob', { mentioned_user_ids: ['bob'] });
    shadowReply = await send('shady', room, 'in the thread', { parent_id: parent.id });
  });

  it('the author sees the message; nobody else does (list, get, replies, reply count)', async () => {
    const list = async (who: string) =>
      (await c[who]!.get(`${room}/messages?limit=300`)).body.messages.map((m: { id: string }) => m.id);
    expect(await list('shady')).toContain(shadowed.id);
    expect(await list('bob')).not.toContain(shadowed.id);
    status(await c.shady!.get(`/messages/${shadowed.id}`), 200);
    status(await c.bob!.get(`/messages/${shadowed.id}`), 404, 'MESSAGE_NOT_FOUND');
    const replies = async (who: string) =>
      (await c[who]!.get(`/messages/${parent.id}/replies`)).body.messages.map((m: { id: string }) => m.id);
    expect(await replies('shady')).toContain(shadowReply.id);
    expect(await replies('bob')).not.toContain(shadowReply.id);
    expect((await c.bob!.get(`/messages/${parent.id}`)).body.message.reply_count).toBe(0);
  });

  it('others cannot react to, reply to or quote it: it does not exist for them', async () => {
    status(
      await c.bob!.post(`/messages/${shadowed.id}/reactions`, { type: 'like' }),
      404,
      'MESSAGE_NOT_FOUND',
    );
    status(await c.bob!.get(`/messages/${shadowed.id}/reactions`), 404, 'MESSAGE_NOT_FOUND');
    status(
      await c.bob!.post(`${room}/messages`, { text: 'q', reply_to_id: shadowed.id }),
      404,
      'MESSAGE_NOT_FOUND',
    );
    status(
      await c.bob!.post(`${room}/messages`, { text: 'r', parent_id: shadowed.id }),
      404,
      'MESSAGE_NOT_FOUND',
    );
    status(
      await c.bob!.post('/moderation/flag', { message_id: shadowed.id, reason: 'x' }),
      404,
      'MESSAGE_NOT_FOUND',
    );
    status(await c.shady!.post(`/messages/${shadowed.id}/reactions`, { type: 'like' }), 201);
  });

  it('no unread count, no mention for others', async () => {
    const unread = (await c.bob!.get('/unread')).body;
    const channel = unread.channels.find((u: { cid: string }) => u.cid === 'messaging:mod-room');
    expect(channel.unread_count).toBe(0);
    expect(ofType('notification.mention').some((e) => e.message.id === shadowed.id)).toBe(false);
    const mentions = (await c.bob!.get('/mentions')).body;
    expect(JSON.stringify(mentions)).not.toContain(shadowed.id);
  });

  it('the unread-count subtraction is an index range on messages_shadowed_idx', async () => {
    // The same shape as the subquery in reads.repository unreadCounts; seq scans off so the tiny
    // test table does not hide whether the index can serve it.
    const plan = await db()
      .transaction()
      .execute(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx);
        const res = await sql<{ 'QUERY PLAN': string }>`explain
          select count(*) from messages s
          where s.app_id = ${app.id} and s.cid = 'messaging:mod-room' and s.shadowed
            and s.seq > 3 and s.user_id <> 'bob'`.execute(tx);
        return res.rows.map((r) => r['QUERY PLAN']).join('\n');
      });
    expect(plan).toContain('messages_shadowed_idx');
  });

  it('events reach the author’s own channel only; webhooks see the marker', () => {
    const news = seen.filter((e) => e.type === 'message.new' && e.message.id === shadowed.id);
    expect(news).toHaveLength(1);
    expect((news[0] as { shadowed?: boolean }).shadowed).toBe(true);
    const topics = published.filter(
      ([, e]) => (e.message as { id?: string } | undefined)?.id === shadowed.id,
    );
    // message.new, and the author's own reaction on it: to the author's channel only, unmarked.
    expect(topics.map(([, e]) => e.type)).toEqual(['message.new', 'reaction.new']);
    expect(topics.every(([t]) => t === 'chat:user:shady')).toBe(true);
    expect(topics.every(([, e]) => e.shadowed === undefined)).toBe(true);
    expect(seen.some((e) => e.type === 'reaction.new' && e.message.id === shadowed.id && e.shadowed)).toBe(
      true,
    );
  });

  it('is audited, and lifted for new messages', async () => {
    status(await c.amod!.post('/moderation/remove-shadow-ban', { target_id: 'shady' }), 200);
    const visible = await send('shady', room, 'now visible');
    status(await c.bob!.get(`/messages/${visible.id}`), 200);
    const log = (await c.adm!.get('/moderation/audit-log?target_id=shady')).body.entries;
    expect(log.map((e: { action: string }) => e.action)).toEqual(['remove_shadow_ban', 'shadow_ban']);
    expect(log[1]).toMatchObject({ actor_id: 'amod', target_user_id: 'shady' });
  });
});

describe('flags and the moderation queue', () => {
  it('counts flags per message, filters the queue, and removing the message closes them all', async () => {
    const msg = await send('victim', room, 'offensive');
    const first = status(
      await c.alice!.post('/moderation/flag', { message_id: msg.id, reason: 'offensive' }),
      201,
    );
    const again = status(
      await c.alice!.post('/moderation/flag', { message_id: msg.id, reason: 'offensive' }),
      200,
    );
    expect(again.body.flag.id).toBe(first.body.flag.id);
    const second = status(await c.bob!.post('/moderation/flag', { message_id: msg.id, reason: 'also' }), 201);
    expect(second.body.flag).toMatchObject({
      target_type: 'message',
      target_user_id: 'victim',
      flag_count: 2,
    });
    expect(ofType('flag.created').filter((e) => e.flag.message_id === msg.id)).toHaveLength(2);

    const queue = (
      await c.amod!.get('/moderation/flags?target_type=message&cid=messaging:mod-room&limit=100')
    ).body;
    const mine = queue.flags.filter((f: { message_id: string }) => f.message_id === msg.id);
    expect(mine).toHaveLength(2);
    expect(mine.every((f: { flag_count: number }) => f.flag_count === 2)).toBe(true);

    const reviewed = status(
      await c.amod!.post(`/moderation/flags/${first.body.flag.id}/review`, { action: 'remove_message' }),
      200,
    ).body.flags;
    expect(reviewed.map((f: { status: string }) => f.status)).toEqual(['message_removed', 'message_removed']);
    expect((await c.bob!.get(`/messages/${msg.id}`)).body.message.type).toBe('deleted');
    const open = (await c.amod!.get('/moderation/flags?limit=100')).body.flags;
    expect(open.some((f: { message_id: string }) => f.message_id === msg.id)).toBe(false);
    const log = (await c.adm!.get('/moderation/audit-log?target_id=victim&limit=100')).body.entries;
    expect(log.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['flag_review', 'message_removed']),
    );
  });

  it('a user flag reviewed with ban_user bans the user app-wide', async () => {
    status(await app.server.post('/users', { users: [{ id: 'troll' }] }), 200);
    const flag = status(
      await c.alice!.post('/moderation/flag', { target_id: 'troll', reason: 'trolling' }),
      201,
    ).body.flag;
    status(
      await c.adm!.post(`/moderation/flags/${flag.id}/review`, { action: 'ban_user', timeout_minutes: 10 }),
      200,
    );
    const user = (await app.server.get('/users/troll')).body.user;
    expect(user).toMatchObject({ banned: true, ban_reason: 'trolling' });
    expect(ofType('flag.reviewed').some((e) => e.flag.id === flag.id && e.action === 'ban_user')).toBe(true);
    status(
      await c.adm!.post(`/moderation/flags/${flag.id}/review`, { action: 'dismiss' }),
      409,
      'FLAG_ALREADY_REVIEWED',
    );
  });

  it('a message one cannot read cannot be flagged; a shadowed one is not found', async () => {
    status(
      await app.server.post('/channels', {
        type: 'messaging',
        id: 'secret',
        members: ['own'],
        created_by: 'own',
      }),
      201,
    );
    const hidden = await send('own', '/channels/messaging/secret', 'private');
    status(await c.alice!.post('/moderation/flag', { message_id: hidden.id, reason: 'x' }), 403);
  });
});

describe('blocklists', () => {
  it('block, mask and flag behaviours on send and edit, app-wide or per channel type', async () => {
    status(
      await c.amod!.post('/moderation/blocklists', { name: 'hard', words: ['Darn'], behavior: 'block' }),
      201,
    );
    status(
      await c.amod!.post('/moderation/blocklists', { name: 'soft', words: ['heck'], behavior: 'mask' }),
      201,
    );
    status(
      await c.amod!.post('/moderation/blocklists', { name: 'watch', words: ['crypto'], behavior: 'flag' }),
      201,
    );
    status(
      await c.amod!.post('/moderation/blocklists', { name: 'hard', words: ['x'], behavior: 'block' }),
      409,
      'BLOCKLIST_EXISTS',
    );
    // Nothing applies until configured.
    await send('alice', room, 'darn it');
    status(await app.server.patch('/app', { settings: { blocklist: 'hard' } }), 200);
    status(await app.server.patch('/channel-types/messaging', { config: { blocklist: 'soft' } }), 200);

    const blocked = status(
      await c.alice!.post(`${room}/messages`, { text: 'oh DARN!' }),
      400,
      'MESSAGE_BLOCKED',
    );
    expect(blocked.body.details).toMatchObject({ field: 'text', blocklist: 'hard' });
    // Whole words only.
    await send('alice', room, 'darned socks');
    const masked = await send('alice', room, 'what the heck, Heck');
    expect(masked.text).toBe('what the ***, ***');
    const edited = status(await c.alice!.patch(`/messages/${masked.id}`, { text: 'heck no' }), 200);
    expect(edited.body.message.text).toBe('*** no');
    status(await c.alice!.patch(`/messages/${masked.id}`, { text: 'darn' }), 400, 'MESSAGE_BLOCKED');

    status(await app.server.patch('/channel-types/messaging', { config: { blocklist: 'watch' } }), 200);
    const flagged = await send('alice', room, 'buy crypto now');
    expect(flagged.text).toBe('buy crypto now');
    const queue = (await c.amod!.get('/moderation/flags?limit=100')).body.flags;
    expect(queue.find((f: { message_id: string }) => f.message_id === flagged.id)).toMatchObject({
      flagged_by: null,
      reason: 'blocklist:watch',
    });

    const updated = status(await c.amod!.patch('/moderation/blocklists/hard', { words: ['drat'] }), 200);
    expect(updated.body.blocklist.words).toEqual(['drat']);
    await send('alice', room, 'darn is fine now');
    status(await c.amod!.delete('/moderation/blocklists/hard'), 200);
    await send('alice', room, 'drat, no list');
    expect(
      (await c.amod!.get('/moderation/blocklists')).body.blocklists.map((b: { name: string }) => b.name),
    ).toEqual(expect.arrayContaining(['soft', 'watch']));
    status(await app.server.patch('/channel-types/messaging', { config: { blocklist: null } }), 200);
    status(await app.server.patch('/app', { settings: { blocklist: null } }), 200);
    const actions = (await c.adm!.get('/moderation/audit-log?limit=100')).body.entries.map(
      (e: { action: string }) => e.action,
    );
    expect(actions).toEqual(
      expect.arrayContaining(['blocklist_created', 'blocklist_updated', 'blocklist_deleted']),
    );
  });

  it('matching is per whole word, case-insensitive, unicode-aware', () => {
    const list = (words: string[], behavior: string) => ({
      app_id: 'a',
      name: 'l',
      words,
      behavior,
      created_at: new Date(),
      updated_at: new Date(),
    });
    expect(applyBlocklists('Ärger und ärger', [list(['ärger'], 'mask')]).text).toBe('*** und ***');
    expect(applyBlocklists('classic', [list(['ass'], 'mask')]).text).toBe('classic');
    expect(applyBlocklists('a.b (c)', [list(['a.b', '(c)'], 'mask')]).text).toBe('*** ***');
  });
});

describe('audit log', () => {
  it('records moderator actions only, newest first, with cursor pagination', async () => {
    const all = (await c.adm!.get('/moderation/audit-log?limit=100')).body.entries as {
      id: string;
      action: string;
    }[];
    expect(all.length).toBeGreaterThan(5);
    expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort().reverse());
    const page1 = (await c.adm!.get('/moderation/audit-log?limit=3')).body;
    const page2 = (await c.adm!.get(`/moderation/audit-log?limit=3&id_lt=${page1.next_id_lt}`)).body;
    expect([...page1.entries, ...page2.entries].map((e: { id: string }) => e.id)).toEqual(
      all.slice(0, 6).map((e) => e.id),
    );
    const bans = (await c.adm!.get('/moderation/audit-log?action=ban&limit=100')).body.entries;
    expect(bans.length).toBeGreaterThan(0);
    expect(bans.every((e: { action: string }) => e.action === 'ban')).toBe(true);
    // Personal tools (mutes, blocks, reports) are not moderator actions.
    expect(all.some((e) => /mute|block$/.test(e.action))).toBe(false);
  });

  it('freezing a channel is audited', async () => {
    status(await c.cmod!.patch(room, { set: { frozen: true } }), 200);
    status(await c.cmod!.patch(room, { set: { frozen: false } }), 200);
    const entries = (await c.adm!.get('/moderation/audit-log?limit=2')).body.entries;
    expect(entries.map((e: { action: string }) => e.action)).toEqual(['channel_unfrozen', 'channel_frozen']);
    expect(entries[0]).toMatchObject({ actor_id: 'cmod', cid: 'messaging:mod-room' });
  });
});

describe('realtime and channel bans', () => {
  it('a channel-banned non-member cannot watch a public channel live', async () => {
    const url = await listenForGateway(server, app.apiKey);
    status(await app.server.post('/channels', { type: 'livestream', id: 'stage', created_by: 'own' }), 201);
    status(await c.own!.post('/moderation/ban', { target_id: 'alice', cid: 'livestream:stage' }), 200);
    const subscribe = async (userId: string) => {
      const client = await RawClient.open(url);
      try {
        expect((await client.connect(await app.token(userId))).error).toBeUndefined();
        return (await client.command('subscribe', { channel: 'chat:channel:livestream:stage' })).error;
      } finally {
        client.close();
      }
    };
    expect(await subscribe('alice')).toMatchObject({ code: 103 });
    expect(await subscribe('victim')).toBeUndefined();
    status(await c.own!.post('/moderation/unban', { target_id: 'alice', cid: 'livestream:stage' }), 200);
    expect(await subscribe('alice')).toBeUndefined();
  });
});
