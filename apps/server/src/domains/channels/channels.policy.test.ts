import { DEFAULT_CHANNEL_TYPES } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../platform/context.js';
import type { MemberRow, UserRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import {
  authorize,
  type ChannelAction,
  can,
  canActOn,
  POLICY_ACTIONS,
  type PolicySubject,
} from './channels.policy.js';

const messaging = DEFAULT_CHANNEL_TYPES.messaging!;
const livestream = DEFAULT_CHANNEL_TYPES.livestream!;
const past = new Date('2020-01-01T00:00:00Z');

function user(id: string, extra: Partial<UserRow> = {}): UserRow {
  return {
    app_id: 'app',
    id,
    name: null,
    image: null,
    role: 'user',
    custom: {},
    banned: false,
    ban_expires_at: null,
    ban_reason: null,
    invisible: false,
    shadow_banned: false,
    deleted_at: null,
    last_active_at: null,
    tokens_revoked_at: null,
    created_at: past,
    updated_at: past,
    ...extra,
  };
}

function member(userId: string, extra: Partial<MemberRow> = {}): MemberRow {
  return {
    app_id: 'app',
    cid: 'messaging:policy',
    user_id: userId,
    role: 'member',
    invited: false,
    invite_accepted_at: null,
    invite_rejected_at: null,
    banned: false,
    last_read_seq: 0,
    last_read_at: null,
    hidden: false,
    cleared_seq: 0,
    last_delivered_seq: 0,
    last_delivered_at: null,
    created_at: past,
    updated_at: past,
    ...extra,
  };
}

const asUser = (u: UserRow): Actor => ({ kind: 'user', user: u });

/** Every role the matrix covers, as a constructed policy subject in a messaging channel. */
const SUBJECTS = {
  server: { actor: { kind: 'server' }, config: messaging, membership: null },
  app_admin: { actor: asUser(user('adm', { role: 'admin' })), config: messaging, membership: null },
  app_moderator: { actor: asUser(user('amod', { role: 'moderator' })), config: messaging, membership: null },
  owner: { actor: asUser(user('own')), config: messaging, membership: member('own', { role: 'owner' }) },
  channel_moderator: {
    actor: asUser(user('cmod')),
    config: messaging,
    membership: member('cmod', { role: 'moderator' }),
  },
  member: { actor: asUser(user('mem')), config: messaging, membership: member('mem') },
  guest_member: {
    actor: asUser(user('gst', { role: 'guest' })),
    config: messaging,
    membership: member('gst'),
  },
  app_banned: { actor: asUser(user('abn', { banned: true })), config: messaging, membership: member('abn') },
  channel_banned: {
    actor: asUser(user('cbn')),
    config: messaging,
    membership: member('cbn', { banned: true }),
  },
  non_member: { actor: asUser(user('non')), config: messaging, membership: null },
  invited: { actor: asUser(user('inv')), config: messaging, membership: member('inv', { invited: true }) },
} satisfies Record<string, PolicySubject>;
type Role = keyof typeof SUBJECTS;

const COLUMNS: Role[] = [
  'server',
  'app_admin',
  'app_moderator',
  'owner',
  'channel_moderator',
  'member',
  'guest_member',
  'app_banned',
  'channel_banned',
  'non_member',
  'invited',
];

/**
 * The expected permission matrix: Y = allowed, . = denied, one column per role in COLUMNS order.
 * Change the policy, change this table: that is the point.
 */
/* biome-ignore format: the table is easier to read aligned */
const MATRIX: Record<ChannelAction, string> = {
  //                   srv adm amod own cmod mem gst abn cbn non inv
  read:                'Y   Y   Y    Y   Y    Y   Y   Y   Y   .   Y',
  send:                'Y   Y   Y    Y   Y    Y   Y   .   .   .   .',
  send_when_frozen:    'Y   Y   .    .   .    .   .   .   .   .   .',
  skip_slow_mode:      'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  edit_own_message:    'Y   Y   Y    Y   Y    Y   Y   .   .   .   .',
  edit_any_message:    'Y   Y   .    .   .    .   .   .   .   .   .',
  delete_own_message:  'Y   Y   Y    Y   Y    Y   Y   .   .   .   .',
  delete_any_message:  'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  hard_delete_message: 'Y   Y   .    .   .    .   .   .   .   .   .',
  react:               'Y   Y   Y    Y   Y    Y   Y   .   .   .   .',
  mention_channel:     'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  update_channel:      'Y   Y   .    Y   Y    .   .   .   .   .   .',
  freeze_channel:      'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  truncate_channel:    'Y   Y   .    Y   .    .   .   .   .   .   .',
  delete_channel:      'Y   Y   .    Y   .    .   .   .   .   .   .',
  add_members:         'Y   Y   .    Y   Y    .   .   .   .   .   .',
  remove_members:      'Y   Y   .    Y   Y    .   .   .   .   .   .',
  invite_members:      'Y   Y   .    Y   Y    .   .   .   .   .   .',
  update_member_role:  'Y   Y   .    Y   .    .   .   .   .   .   .',
  ban_member:          'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  flag_message:        'Y   Y   Y    Y   Y    Y   Y   .   .   .   Y',
  leave_channel:       'Y   .   .    Y   Y    Y   Y   .   .   .   .',
  pin_message:         'Y   Y   Y    Y   Y    Y   .   .   .   .   .',
  view_edit_history:   'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  send_poll:           'Y   Y   Y    Y   Y    Y   .   .   .   .   .',
  cast_poll_vote:      'Y   Y   Y    Y   Y    Y   Y   .   .   .   .',
  close_any_poll:      'Y   Y   Y    Y   Y    .   .   .   .   .   .',
  delete_any_upload:   'Y   Y   Y    Y   Y    .   .   .   .   .   .',
};

describe('policy matrix (can)', () => {
  it('covers every action the policy knows', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...POLICY_ACTIONS].sort());
  });

  for (const action of POLICY_ACTIONS) {
    it(`${action}`, () => {
      const cells = MATRIX[action].split(/\s+/);
      expect(cells).toHaveLength(COLUMNS.length);
      const expected = Object.fromEntries(COLUMNS.map((role, i) => [role, cells[i] === 'Y']));
      const actual = Object.fromEntries(COLUMNS.map((role) => [role, can(action, SUBJECTS[role])]));
      expect(actual).toEqual(expected);
    });
  }

  it('public-read types let anyone read (and report what they read) but nothing more', () => {
    const reader = { actor: asUser(user('viewer')), config: livestream, membership: null };
    expect(POLICY_ACTIONS.filter((a) => can(a, reader))).toEqual(['read', 'flag_message']);
  });

  it('a rejected invite gives no rights; an accepted one makes a full member', () => {
    const rejected = member('inv', { invited: true, invite_rejected_at: past });
    const accepted = member('inv', { invited: true, invite_accepted_at: past });
    const actor = asUser(user('inv'));
    expect(POLICY_ACTIONS.filter((a) => can(a, { actor, config: messaging, membership: rejected }))).toEqual(
      [],
    );
    for (const action of POLICY_ACTIONS) {
      expect(can(action, { actor, config: messaging, membership: accepted }), action).toBe(
        can(action, SUBJECTS.member),
      );
    }
  });

  it('an expired app ban no longer counts', () => {
    const actor = asUser(user('was-banned', { banned: true, ban_expires_at: past }));
    expect(can('send', { actor, config: messaging, membership: member('was-banned') })).toBe(true);
  });

  it('a channel moderator may act on plain members only; owners, app moderators and admins on anyone', () => {
    const targets = {
      owner: member('t-own', { role: 'owner' }),
      moderator: member('t-mod', { role: 'moderator' }),
      member: member('t-mem'),
    };
    const outcome = (role: Role, action: 'ban_member' | 'remove_members' | 'update_member_role') =>
      Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, canActOn(action, SUBJECTS[role], t)]));
    expect(outcome('channel_moderator', 'ban_member')).toEqual({
      owner: false,
      moderator: false,
      member: true,
    });
    expect(outcome('channel_moderator', 'remove_members')).toEqual({
      owner: false,
      moderator: false,
      member: true,
    });
    expect(outcome('owner', 'ban_member')).toEqual({ owner: true, moderator: true, member: true });
    expect(outcome('owner', 'update_member_role')).toEqual({ owner: true, moderator: true, member: true });
    expect(outcome('app_moderator', 'ban_member')).toEqual({ owner: true, moderator: true, member: true });
    expect(outcome('app_admin', 'remove_members')).toEqual({ owner: true, moderator: true, member: true });
    expect(outcome('server', 'remove_members')).toEqual({ owner: true, moderator: true, member: true });
    expect(outcome('member', 'ban_member')).toEqual({ owner: false, moderator: false, member: false });
  });

  it('authorize explains a refusal with a stable code', () => {
    const codeOf = (action: ChannelAction, subject: PolicySubject) => {
      try {
        authorize(action, subject);
        return 'allowed';
      } catch (error) {
        expect(error).toBeInstanceOf(AppError);
        return (error as AppError).code;
      }
    };
    expect(codeOf('send', SUBJECTS.member)).toBe('allowed');
    expect(codeOf('send', SUBJECTS.app_banned)).toBe('USER_BANNED');
    expect(codeOf('send', SUBJECTS.channel_banned)).toBe('USER_BANNED');
    expect(codeOf('delete_channel', SUBJECTS.member)).toBe('FORBIDDEN');
    expect(codeOf('send', SUBJECTS.non_member)).toBe('FORBIDDEN');
  });
});

describe('the routes enforce the policy', () => {
  let server: TestServer;
  let app: TestApp;
  const c: Record<string, ApiClient> = {};
  const base = '/channels/messaging/policy';

  beforeAll(async () => {
    server = await createTestServer();
    app = await server.createApp();
    await app.server.post('/users', {
      users: [
        { id: 'own' },
        { id: 'cmod' },
        { id: 'mem' },
        { id: 'mem2' },
        { id: 'gst', role: 'guest' },
        { id: 'adm', role: 'admin' },
        { id: 'amod', role: 'moderator' },
        { id: 'abn' },
        { id: 'cbn' },
        { id: 'inv' },
        { id: 'non' },
      ],
    });
    for (const id of ['own', 'cmod', 'mem', 'mem2', 'gst', 'adm', 'amod', 'abn', 'cbn', 'inv', 'non']) {
      c[id] = await app.as(id);
    }
    const created = await c.own!.post('/channels', {
      type: 'messaging',
      id: 'policy',
      members: ['cmod', 'mem', 'mem2', 'gst', 'abn', 'cbn'],
    });
    expect(created.status).toBe(201);
    const promoted = await c.own!.patch(`${base}/members/cmod`, { role: 'moderator' });
    expect(promoted.status).toBe(200);
    expect((await c.cmod!.patch(`${base}/members/cbn`, { banned: true })).status).toBe(200);
    expect((await c.own!.post(`${base}/invites`, { user_ids: ['inv'] })).status).toBe(200);
    const banned = await app.server.post('/users', { users: [{ id: 'abn', banned: true }] });
    expect(banned.status).toBe(200);
  });
  afterAll(() => server?.close());

  it('a member cannot delete the channel; the owner can truncate it', async () => {
    const res = await c.mem!.delete(base);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'FORBIDDEN', details: { action: 'delete_channel' } });
    expect((await c.cmod!.post(`${base}/truncate`, {})).status).toBe(403);
    expect((await c.own!.post(`${base}/truncate`, {})).status).toBe(200);
  });

  it('a channel moderator can freeze; an app moderator can freeze but not rename', async () => {
    const frozen = await c.cmod!.patch(base, { set: { frozen: true } });
    expect(frozen.status).toBe(200);
    expect(frozen.body.channel.channel.frozen).toBe(true);
    const thawed = await c.amod!.patch(base, { set: { frozen: false } });
    expect(thawed.status).toBe(200);
    expect(thawed.body.channel.channel.frozen).toBe(false);
    expect((await c.amod!.put(base, { slow_mode_seconds: 0 })).status).toBe(200);
    const rename = await c.amod!.patch(base, { set: { name: 'mine', frozen: false } });
    expect(rename.status).toBe(403);
    expect(rename.body.details.action).toBe('update_channel');
    expect((await c.mem!.patch(base, { set: { frozen: true } })).status).toBe(403);
  });

  it('only the owner changes roles; a channel moderator cannot ban the owner or another moderator', async () => {
    expect((await c.mem!.patch(`${base}/members/mem2`, { role: 'moderator' })).status).toBe(403);
    expect((await c.cmod!.patch(`${base}/members/mem2`, { role: 'moderator' })).status).toBe(403);
    const promoted = await c.own!.patch(`${base}/members/mem2`, { role: 'moderator' });
    expect(promoted.status).toBe(200);
    expect(promoted.body.member).toMatchObject({ user_id: 'mem2', role: 'moderator' });
    expect((await c.cmod!.patch(`${base}/members/mem2`, { banned: true })).status).toBe(403);
    expect((await c.cmod!.patch(`${base}/members/own`, { banned: true })).status).toBe(403);
    expect((await c.cmod!.post(`${base}/members/remove`, { user_ids: ['own'] })).status).toBe(403);
    expect((await c.own!.patch(`${base}/members/mem2`, { role: 'member' })).status).toBe(200);
  });

  it('banned users cannot send but can still read', async () => {
    for (const id of ['cbn', 'abn']) {
      const res = await c[id]!.post(`${base}/messages`, { text: 'let me talk' });
      expect(res.status, id).toBe(403);
      expect(res.body.code, id).toBe('USER_BANNED');
      expect((await c[id]!.get(`${base}/messages`)).status, id).toBe(200);
    }
    const leave = await c.cbn!.post(`${base}/members/remove`, { user_ids: ['cbn'] });
    expect(leave.status).toBe(403);
    expect(
      (await c.own!.get(`${base}/members?limit=100`)).body.members.map((m: { user_id: string }) => m.user_id),
    ).toContain('cbn');
  });

  it('guests may send but not manage; invitees and non-members may not send', async () => {
    expect((await c.gst!.post(`${base}/messages`, { text: 'guest here' })).status).toBe(201);
    expect((await c.gst!.post(`${base}/members`, { user_ids: ['non'] })).status).toBe(403);
    expect((await c.gst!.post('/channels', { type: 'messaging', id: 'guest-made' })).status).toBe(403);
    expect((await c.inv!.post(`${base}/messages`, { text: 'not yet' })).status).toBe(403);
    expect((await c.inv!.get(`${base}/messages`)).status).toBe(200);
    expect((await c.non!.post(`${base}/messages`, { text: 'hi' })).status).toBe(403);
    expect((await c.non!.get(`${base}/messages`)).status).toBe(403);
  });

  it('admins may edit and hard delete anything; moderators may soft delete others’ messages', async () => {
    const sent = await c.mem!.post(`${base}/messages`, { text: 'original' });
    const id = sent.body.message.id;
    expect((await c.cmod!.patch(`/messages/${id}`, { text: 'moderated' })).status).toBe(403);
    expect((await c.adm!.patch(`/messages/${id}`, { text: 'fixed by admin' })).status).toBe(200);
    expect((await c.mem2!.delete(`/messages/${id}`)).status).toBe(403);
    expect((await c.cmod!.delete(`/messages/${id}?hard=true`)).status).toBe(403);
    expect((await c.amod!.delete(`/messages/${id}`)).body.message.type).toBe('deleted');
    expect((await c.adm!.delete(`/messages/${id}?hard=true`)).status).toBe(200);
    expect((await c.own!.get(`/messages/${id}`)).status).toBe(404);
  });
});
