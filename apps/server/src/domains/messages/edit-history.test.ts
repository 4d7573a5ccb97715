import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture, UNKNOWN_ID } from '../../test-support/chat-fixture.js';

let f: ChatFixture;
let path: string;

beforeAll(async () => {
  f = await chatFixture([
    { id: 'owner' },
    { id: 'author' },
    { id: 'peer' },
    { id: 'outsider' },
    { id: 'amod', role: 'moderator' },
    { id: 'adm', role: 'admin' },
  ]);
  ({ path } = await f.channel('history', ['owner', 'author', 'peer']));
});
afterAll(() => f?.close());

describe('edit history', () => {
  it('keeps every replaced version with who edited and when', async () => {
    const m = await f.send('author', path, 'first');
    const created = (await f.users.author!.get(`/messages/${m.id}`)).body.message.created_at;
    expect((await f.users.author!.patch(`/messages/${m.id}`, { text: 'second' })).status).toBe(200);
    // A custom-only change is not a new version of the text.
    expect((await f.users.author!.patch(`/messages/${m.id}`, { custom: { x: 1 } })).status).toBe(200);
    const third = await f.app.server.patch(`/messages/${m.id}`, { text: 'third' });
    expect(third.status).toBe(200);
    const res = await f.users.owner!.get(`/messages/${m.id}/edits`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.edits).toHaveLength(2);
    const [e1, e2] = res.body.edits;
    expect(e1).toMatchObject({ message_id: m.id, edited_by: 'author', text: 'first', attachments: [] });
    expect(e1.version_created_at).toBe(created);
    expect(e2).toMatchObject({ edited_by: null, text: 'second' });
    // The replaced version dates from the last change of the message (here the custom-only edit).
    expect(new Date(e2.version_created_at).getTime()).toBeGreaterThanOrEqual(
      new Date(e1.edited_at).getTime(),
    );
    expect(new Date(e2.edited_at).getTime()).toBeGreaterThanOrEqual(new Date(e1.edited_at).getTime());
    expect((await f.users.peer!.get(`/messages/${m.id}`)).body.message.text).toBe('third');
  });

  it('moderators, owners and admins see anyone’s history; authors their own; members and outsiders not', async () => {
    const m = await f.send('author', path, 'v1');
    await f.users.author!.patch(`/messages/${m.id}`, { text: 'v2' });
    for (const who of ['owner', 'author', 'amod', 'adm'])
      expect((await f.users[who]!.get(`/messages/${m.id}/edits`)).status, who).toBe(200);
    expect((await f.app.server.get(`/messages/${m.id}/edits`)).status).toBe(200);
    const peer = await f.users.peer!.get(`/messages/${m.id}/edits`);
    expect([peer.status, peer.body.code]).toEqual([403, 'FORBIDDEN']);
    expect((await f.users.outsider!.get(`/messages/${m.id}/edits`)).status).toBe(403);
    const unknown = await f.users.owner!.get(`/messages/${UNKNOWN_ID}/edits`);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
    expect((await f.users.owner!.get('/messages/not-a-uuid/edits')).body.code).toBe('VALIDATION_FAILED');
  });

  it('a soft delete keeps the history for moderators (not the author); a hard delete removes it', async () => {
    const m = await f.send('author', path, 'regrettable');
    await f.users.author!.patch(`/messages/${m.id}`, { text: 'fine' });
    expect((await f.users.author!.delete(`/messages/${m.id}`)).status).toBe(200);
    expect(f.eventsOf('message.deleted').at(-1)).toMatchObject({
      hard: false,
      message: { id: m.id, text: '' },
    });
    const kept = await f.users.amod!.get(`/messages/${m.id}/edits`);
    expect(kept.body.edits.map((e: { text: string }) => e.text)).toEqual(['regrettable']);
    expect((await f.users.author!.get(`/messages/${m.id}/edits`)).status).toBe(403);
    expect((await f.users.adm!.delete(`/messages/${m.id}?hard=true`)).status).toBe(200);
    expect(f.eventsOf('message.deleted').at(-1)).toMatchObject({ hard: true, message: { id: m.id } });
    expect((await f.users.adm!.get(`/messages/${m.id}/edits`)).status).toBe(404);
    const rows = await f.server.database.db
      .selectFrom('message_edits')
      .select('id')
      .where('message_id', '=', m.id)
      .execute();
    expect(rows).toEqual([]);
  });
});
