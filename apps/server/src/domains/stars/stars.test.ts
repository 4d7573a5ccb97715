import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture, UNKNOWN_ID } from '../../test-support/chat-fixture.js';

let f: ChatFixture;
let path: string;
let cid: string;

beforeAll(async () => {
  f = await chatFixture([{ id: 'me' }, { id: 'you' }, { id: 'outsider' }]);
  ({ path, cid } = await f.channel('stars', ['me', 'you']));
});
afterAll(() => f?.close());

describe('starred messages', () => {
  it('stars idempotently, lists newest star first with a cursor, unstars; other devices hear it', async () => {
    const ms = [];
    for (let i = 0; i < 4; i++)
      ms.push(await f.send('you', path, `s${i}`, i === 1 ? { text: `s${i} @me` } : {}));
    for (const i of [2, 0, 1, 3]) {
      const res = await f.users.me!.post(`/messages/${ms[i]!.id}/star`, {});
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ message_id: ms[i]!.id, starred: true });
    }
    expect(f.eventsOf('notification.message_starred').at(-1)).toMatchObject({
      cid,
      user_id: 'me',
      message_id: ms[3]!.id,
      starred: true,
    });
    const again = await f.users.me!.post(`/messages/${ms[2]!.id}/star`, {});
    const first = await f.users.me!.get('/starred?limit=3');
    expect(first.status).toBe(200);
    expect(first.body.starred.map((s: { message: { text: string } }) => s.message.text)).toEqual([
      's3',
      's1 @me',
      's0',
    ]);
    // Starring again keeps the original star time.
    expect(again.body.starred_at).toBe(
      (await f.users.me!.get(`/starred?limit=3&next=${first.body.next}`)).body.starred[0].starred_at,
    );
    const un = await f.users.me!.delete(`/messages/${ms[1]!.id}/star`);
    expect(un.body).toEqual({ message_id: ms[1]!.id, starred: false, starred_at: null });
    expect(f.eventsOf('notification.message_starred').at(-1)).toMatchObject({ starred: false });
    // The mention flag on the same row survives the unstar.
    expect((await f.users.me!.get('/mentions')).body.messages.map((m: { id: string }) => m.id)).toContain(
      ms[1]!.id,
    );
    const all = await f.users.me!.get('/starred');
    expect(all.body.starred.map((s: { message: { text: string } }) => s.message.text)).toEqual([
      's3',
      's0',
      's2',
    ]);
    expect(all.body.next).toBeNull();
    // Stars are per user.
    expect((await f.users.you!.get('/starred')).body.starred).toEqual([]);
    // A deleted message leaves the list.
    await f.users.you!.delete(`/messages/${ms[3]!.id}`);
    expect((await f.users.me!.get(`/starred?cid=${cid}`)).body.starred).toHaveLength(2);
  });

  it('refuses unknown messages, channels the user cannot read, and bad cursors', async () => {
    const m = await f.send('you', path, 'private');
    const unknown = await f.users.me!.post(`/messages/${UNKNOWN_ID}/star`, {});
    expect([unknown.status, unknown.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
    expect((await f.users.outsider!.post(`/messages/${m.id}/star`, {})).status).toBe(403);
    expect((await f.users.outsider!.delete(`/messages/${m.id}/star`)).status).toBe(403);
    expect((await f.users.me!.get('/starred?next=nope')).body.code).toBe('VALIDATION_FAILED');
    const asOther = await f.users.me!.post(`/messages/${m.id}/star`, { user_id: 'you' });
    expect([asOther.status, asOther.body.code]).toEqual([403, 'FORBIDDEN']);
    const serverNoUser = await f.app.server.get('/starred');
    expect([serverNoUser.status, serverNoUser.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await f.app.server.get('/starred?user_id=me')).status).toBe(200);
  });
});
