import type { ParleyEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';

let server: TestServer;
let app: TestApp;
const c: Record<string, ApiClient> = {};
const seen: ParleyEvent[] = [];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank'];

const eventsFor = (cid: string, type: ParleyEvent['type']) =>
  seen.filter((e) => 'cid' in e && e.cid === cid && e.type === type);
const memberIds = (res: { body: { members: { user_id: string }[] } }) =>
  res.body.members.map((m) => m.user_id);
const memberCount = async (path: string) => (await app.server.get(path)).body.channel.channel.member_count;

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  await app.server.post('/users', { users: USERS.map((id) => ({ id })) });
  for (const id of USERS) c[id] = await app.as(id);
});
afterAll(() => server?.close());

describe('adding and removing members', () => {
  const base = '/channels/team/crew';
  const cid = 'team:crew';
  beforeAll(async () => {
    const res = await c.alice!.post('/channels', { type: 'team', id: 'crew', members: ['bob'] });
    expect(res.status).toBe(201);
  });

  it('adds new members only once and keeps member_count right', async () => {
    const first = await c.alice!.post(`${base}/members`, { user_ids: ['carol', 'dave'] });
    expect(first.status).toBe(200);
    expect(memberIds(first).sort()).toEqual(['carol', 'dave']);
    expect(first.body.members[0]).toMatchObject({ role: 'member', invited: false, banned: false });
    expect(await memberCount(base)).toBe(4);

    const again = await c.alice!.post(`${base}/members`, { user_ids: ['carol', 'erin', 'bob'] });
    expect(again.status).toBe(200);
    expect(memberIds(again)).toEqual(['erin']);
    expect(await memberCount(base)).toBe(5);
    const list = await c.alice!.get(`${base}/members`);
    expect(memberIds(list).sort()).toEqual(['alice', 'bob', 'carol', 'dave', 'erin']);
    expect(
      eventsFor(cid, 'member.added')
        .map((e) => e.type === 'member.added' && e.member.user_id)
        .sort(),
    ).toEqual(['alice', 'bob', 'carol', 'dave', 'erin']);
  });

  it('refuses unknown users, writing nothing', async () => {
    const res = await c.alice!.post(`${base}/members`, { user_ids: ['frank', 'nobody'] });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      code: 'USER_NOT_FOUND',
      details: { field: 'user_ids', user_id: 'nobody' },
    });
    expect(memberIds(await c.alice!.get(`${base}/members`))).not.toContain('frank');
    expect(await memberCount(base)).toBe(5);
  });

  it('lets only owners and moderators add, and only owners add with a role', async () => {
    const byMember = await c.bob!.post(`${base}/members`, { user_ids: ['frank'] });
    expect(byMember.status).toBe(403);
    const byOutsider = await c.hank!.post(`${base}/members`, { user_ids: ['hank'] });
    expect(byOutsider.status).toBe(403);
    const withRole = await c.alice!.post(`${base}/members`, { user_ids: ['frank'], role: 'moderator' });
    expect(withRole.status).toBe(200);
    expect(withRole.body.members[0]).toMatchObject({ user_id: 'frank', role: 'moderator' });
    const modAddsMod = await c.frank!.post(`${base}/members`, { user_ids: ['gina'], role: 'moderator' });
    expect(modAddsMod.status).toBe(403);
    const modAdds = await c.frank!.post(`${base}/members`, { user_ids: ['gina'] });
    expect(modAdds.status).toBe(200);
    expect(await memberCount(base)).toBe(7);
  });

  it('removes members, ignoring users who are not members', async () => {
    const res = await c.alice!.post(`${base}/members/remove`, { user_ids: ['gina', 'hank'] });
    expect(res.status).toBe(200);
    expect(await memberCount(base)).toBe(6);
    expect(eventsFor(cid, 'member.removed')).toMatchObject([{ user_id: 'gina' }]);
    expect((await c.gina!.get(base)).status).toBe(403);
    const byMember = await c.bob!.post(`${base}/members/remove`, { user_ids: ['carol'] });
    expect(byMember.status).toBe(403);
  });

  it('lets a plain member leave', async () => {
    const res = await c.dave!.post(`${base}/members/remove`, { user_ids: ['dave'] });
    expect(res.status).toBe(200);
    expect(await memberCount(base)).toBe(5);
    expect(eventsFor(cid, 'member.removed').at(-1)).toMatchObject({ user_id: 'dave' });
    expect((await c.dave!.post(`${base}/messages`, { text: 'still here?' })).status).toBe(403);
    const query = await c.dave!.post('/channels/query', { filter: { cid } });
    expect(query.body.channels).toEqual([]);
  });
});

describe('invites', () => {
  const base = '/channels/team/invites';
  const cid = 'team:invites';
  beforeAll(async () => {
    expect((await c.alice!.post('/channels', { type: 'team', id: 'invites' })).status).toBe(201);
  });

  it('an invitee can read but not send until they accept', async () => {
    const res = await c.alice!.post(`${base}/invites`, { user_ids: ['frank', 'gina'] });
    expect(res.status).toBe(200);
    expect(
      res.body.members.map((m: { user_id: string; invited: boolean }) => [m.user_id, m.invited]),
    ).toEqual([
      ['frank', true],
      ['gina', true],
    ]);
    expect(eventsFor(cid, 'notification.invited')).toHaveLength(2);
    expect((await c.frank!.get(`${base}/messages`)).status).toBe(200);
    const early = await c.frank!.post(`${base}/messages`, { text: 'hi' });
    expect(early.status).toBe(403);
    const listed = await c.frank!.post('/channels/query', { filter: { cid } });
    expect(listed.body.channels[0].membership).toMatchObject({ invited: true, invite_accepted_at: null });

    const accepted = await c.frank!.post(`${base}/invites/accept`, {});
    expect(accepted.status).toBe(200);
    expect(accepted.body.member.invite_accepted_at).not.toBeNull();
    expect(eventsFor(cid, 'notification.invite_accepted')).toMatchObject([{ member: { user_id: 'frank' } }]);
    expect(eventsFor(cid, 'member.updated')).toMatchObject([{ member: { user_id: 'frank' } }]);
    expect((await c.frank!.post(`${base}/messages`, { text: 'thanks' })).status).toBe(201);
  });

  it('a rejected invite takes the user off the channel', async () => {
    const res = await c.gina!.post(`${base}/invites/reject`, {});
    expect(res.status).toBe(200);
    expect(res.body.member.invite_rejected_at).not.toBeNull();
    expect(eventsFor(cid, 'notification.invite_rejected')).toMatchObject([{ member: { user_id: 'gina' } }]);
    expect((await c.gina!.get(base)).status).toBe(403);
    expect((await c.gina!.post('/channels/query', { filter: { cid } })).body.channels).toEqual([]);
    // alice and frank; gina turned the invite down.
    expect(await memberCount(base)).toBe(2);
  });

  it('answers NOT_INVITED without a pending invite', async () => {
    for (const [who, path] of [
      ['frank', 'accept'],
      ['gina', 'accept'],
      ['alice', 'reject'],
      ['hank', 'accept'],
    ] as const) {
      const res = await c[who]!.post(`${base}/invites/${path}`, {});
      expect(res.status, who).toBe(400);
      expect(res.body.code, who).toBe('NOT_INVITED');
    }
    expect((await c.hank!.post('/channels/team/nope/invites/accept', {})).status).toBe(404);
  });

  it('server calls answer for a named user; only owners and moderators invite', async () => {
    expect((await c.frank!.post(`${base}/invites`, { user_ids: ['hank'] })).status).toBe(403);
    expect((await app.server.post(`${base}/invites`, { user_ids: ['hank'] })).status).toBe(200);
    const unnamed = await app.server.post(`${base}/invites/accept`, {});
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.details.field).toBe('user_id');
    const named = await app.server.post(`${base}/invites/accept`, { user_id: 'hank' });
    expect(named.status).toBe(200);
    expect(named.body.member).toMatchObject({ user_id: 'hank', invited: true });
    const unknown = await app.server.post(`${base}/invites`, { user_ids: ['nobody'] });
    expect(unknown.status).toBe(404);
  });
});

describe('roles and bans', () => {
  const base = '/channels/team/roles';
  const cid = 'team:roles';
  beforeAll(async () => {
    const res = await c.alice!.post('/channels', {
      type: 'team',
      id: 'roles',
      members: ['bob', 'carol', 'dave'],
    });
    expect(res.status).toBe(201);
  });

  it('the owner changes roles; others may not', async () => {
    expect((await c.bob!.patch(`${base}/members/carol`, { role: 'moderator' })).status).toBe(403);
    const res = await c.alice!.patch(`${base}/members/carol`, { role: 'moderator' });
    expect(res.status).toBe(200);
    expect(res.body.member).toMatchObject({ user_id: 'carol', role: 'moderator' });
    expect(eventsFor(cid, 'member.updated').at(-1)).toMatchObject({
      member: { user_id: 'carol', role: 'moderator' },
    });
    expect((await c.carol!.patch(`${base}/members/bob`, { role: 'moderator' })).status).toBe(403);
    const invalid = await c.alice!.patch(`${base}/members/bob`, { role: 'king' });
    expect(invalid.status).toBe(400);
    const empty = await c.alice!.patch(`${base}/members/bob`, {});
    expect(empty.status).toBe(400);
    const missing = await c.alice!.patch(`${base}/members/erin`, { role: 'moderator' });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('MEMBER_NOT_FOUND');
  });

  it('a moderator bans and unbans a member', async () => {
    expect((await c.bob!.patch(`${base}/members/dave`, { banned: true })).status).toBe(403);
    const res = await c.carol!.patch(`${base}/members/dave`, { banned: true });
    expect(res.status).toBe(200);
    expect(res.body.member).toMatchObject({ user_id: 'dave', banned: true });
    const send = await c.dave!.post(`${base}/messages`, { text: 'let me in' });
    expect(send.status).toBe(403);
    expect(send.body.code).toBe('USER_BANNED');
    expect((await c.carol!.patch(`${base}/members/dave`, { banned: false })).status).toBe(200);
    expect((await c.dave!.post(`${base}/messages`, { text: 'back' })).status).toBe(201);
    expect(
      eventsFor(cid, 'member.updated')
        .filter((e) => e.type === 'member.updated' && e.member.user_id === 'dave')
        .map((e) => e.type === 'member.updated' && e.member.banned),
    ).toEqual([true, false]);
  });
});

describe('listing members', () => {
  const base = '/channels/team/big';
  beforeAll(async () => {
    const res = await c.alice!.post('/channels', {
      type: 'team',
      id: 'big',
      members: ['bob', 'carol', 'dave', 'erin', 'frank', 'gina'],
    });
    expect(res.status).toBe(201);
  });

  it('pages with limit and offset in a stable order', async () => {
    const page = async (query: string) => {
      const res = await c.bob!.get(`${base}/members?${query}`);
      expect(res.status).toBe(200);
      return memberIds(res);
    };
    expect(await page('limit=3')).toEqual(['alice', 'bob', 'carol']);
    expect(await page('limit=3&offset=3')).toEqual(['dave', 'erin', 'frank']);
    expect(await page('limit=3&offset=6')).toEqual(['gina']);
    expect(await page('offset=7')).toEqual([]);
    expect((await c.bob!.get(`${base}/members?limit=301`)).status).toBe(400);
    expect((await c.bob!.get(`${base}/members?limit=0`)).status).toBe(400);
    expect((await c.hank!.get(`${base}/members`)).status).toBe(403);
    expect((await c.bob!.get('/channels/team/nope/members')).status).toBe(404);
  });
});
