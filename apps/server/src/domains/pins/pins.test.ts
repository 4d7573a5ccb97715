import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture, UNKNOWN_ID } from '../../test-support/chat-fixture.js';

let f: ChatFixture;
let path: string;
let cid: string;

beforeAll(async () => {
  f = await chatFixture([
    { id: 'owner' },
    { id: 'member' },
    { id: 'guest', role: 'guest' },
    { id: 'outsider' },
    { id: 'banned' },
  ]);
  ({ path, cid } = await f.channel('pins', ['owner', 'member', 'guest', 'banned']));
  expect((await f.users.owner!.patch(`${path}/members/banned`, { banned: true })).status).toBe(200);
});
afterAll(() => f?.close());

describe('pins', () => {
  it('pins and unpins with message.updated carrying the pin fields', async () => {
    const m = await f.send('owner', path, 'pin me');
    const res = await f.users.member!.post(`/messages/${m.id}/pin`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.message).toMatchObject({ pinned: true, pinned_by: 'member', pin_expires_at: null });
    expect(res.body.message.pinned_at).toEqual(expect.any(String));
    const event = f.eventsOf('message.updated').at(-1)!;
    expect(event).toMatchObject({ cid, message: { id: m.id, pinned: true, pinned_by: 'member' } });
    // A fresh fetch shows what the event showed.
    const fetched = (await f.users.owner!.get(`/messages/${m.id}`)).body.message;
    expect({ ...fetched, own_reactions: [] }).toEqual(event.message);

    const un = await f.users.owner!.delete(`/messages/${m.id}/pin`);
    expect(un.body.message).toMatchObject({ pinned: false, pinned_at: null, pinned_by: null });
    expect(f.eventsOf('message.updated').at(-1)).toMatchObject({ message: { id: m.id, pinned: false } });
    // Unpinning what is not pinned changes nothing and says nothing.
    const count = f.eventsOf('message.updated').length;
    expect((await f.users.owner!.delete(`/messages/${m.id}/pin`)).status).toBe(200);
    expect(f.eventsOf('message.updated')).toHaveLength(count);
  });

  it('lists live pins, most recently pinned first, with a cursor; expired and deleted pins drop out', async () => {
    const { path: p2 } = await f.channel('pins-list', ['owner', 'member']);
    const ms = [];
    for (let i = 0; i < 5; i++) ms.push(await f.send('owner', p2, `p${i}`));
    for (const m of ms) expect((await f.users.owner!.post(`/messages/${m.id}/pin`, {})).status).toBe(200);
    const first = await f.users.member!.get(`${p2}/pinned?limit=3`);
    expect(first.status).toBe(200);
    expect(first.body.messages.map((m: { text: string }) => m.text)).toEqual(['p4', 'p3', 'p2']);
    const second = await f.users.member!.get(`${p2}/pinned?limit=3&next=${first.body.next}`);
    expect(second.body.messages.map((m: { text: string }) => m.text)).toEqual(['p1', 'p0']);
    expect(second.body.next).toBeNull();

    // A pin with an expiry counts until then.
    const soon = new Date(Date.now() + 1500).toISOString();
    const timed = await f.users.owner!.post(`/messages/${ms[0]!.id}/pin`, { expires_at: soon });
    expect(timed.body.message).toMatchObject({ pinned: true, pin_expires_at: soon });
    expect((await f.users.owner!.delete(`/messages/${ms[1]!.id}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const after = await f.users.member!.get(`${p2}/pinned`);
    expect(after.body.messages.map((m: { text: string }) => m.text)).toEqual(['p4', 'p3', 'p2']);
    expect((await f.users.member!.get(`/messages/${ms[0]!.id}`)).body.message.pinned).toBe(false);
  });

  it('a shadow-banned author’s message: only its author sees it, pins it, and hears the event', async () => {
    await f.app.server.post('/users', { users: [{ id: 'shadow' }] });
    const { path: p3 } = await f.channel('pins-shadow', ['owner', 'shadow']);
    expect((await f.app.server.post('/moderation/shadow-ban', { target_id: 'shadow' })).status).toBe(200);
    const shadow = await f.app.as('shadow');
    const sent = await shadow.post(`${p3}/messages`, { text: 'only I see this' });
    expect(sent.status).toBe(201);
    const id = sent.body.message.id;
    const other = await f.users.owner!.post(`/messages/${id}/pin`, {});
    expect([other.status, other.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
    expect((await shadow.post(`/messages/${id}/pin`, {})).status).toBe(200);
    expect(f.eventsOf('message.updated').at(-1)).toMatchObject({
      message: { id, pinned: true },
      shadowed: true,
    });
    expect((await f.users.owner!.get(`${p3}/pinned`)).body.messages).toEqual([]);
    expect((await shadow.get(`${p3}/pinned`)).body.messages.map((m: { id: string }) => m.id)).toEqual([id]);
  });

  it('members pin; guests, banned members and outsiders may not; bad input is refused', async () => {
    const m = await f.send('owner', path, 'guarded');
    const guest = await f.users.guest!.post(`/messages/${m.id}/pin`, {});
    expect([guest.status, guest.body.code]).toEqual([403, 'FORBIDDEN']);
    const banned = await f.users.banned!.post(`/messages/${m.id}/pin`, {});
    expect([banned.status, banned.body.code]).toEqual([403, 'USER_BANNED']);
    expect((await f.users.outsider!.post(`/messages/${m.id}/pin`, {})).status).toBe(403);
    expect((await f.users.outsider!.get(`${path}/pinned`)).status).toBe(403);
    const unknown = await f.users.owner!.post(`/messages/${UNKNOWN_ID}/pin`, {});
    expect([unknown.status, unknown.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
    const past = await f.users.owner!.post(`/messages/${m.id}/pin`, { expires_at: '2001-01-01T00:00:00Z' });
    expect([past.status, past.body.code, past.body.details?.field]).toEqual([
      400,
      'TIME_IN_PAST',
      'expires_at',
    ]);
    expect((await f.users.owner!.post(`/messages/${m.id}/pin`, { expires_at: 'tomorrow' })).body.code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await f.users.owner!.get(`${path}/pinned?next=garbage`)).body.code).toBe('VALIDATION_FAILED');
    await f.users.owner!.delete(`/messages/${m.id}`);
    const deleted = await f.users.owner!.post(`/messages/${m.id}/pin`, {});
    expect([deleted.status, deleted.body.code]).toEqual([400, 'MESSAGE_DELETED']);
  });
});
