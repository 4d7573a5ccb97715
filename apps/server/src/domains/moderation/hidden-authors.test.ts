import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture } from '../../test-support/chat-fixture.js';
import type { ApiResponse } from '../../test-support/harness.js';

/**
 * Readers of messages beyond the channel's message list: a shadowed message must not reveal
 * activity to others (channel order, hidden channels), and the messages of a user one blocked are
 * hidden everywhere the blocker reads messages (search, thread replies, pins, /sync).
 */
let f: ChatFixture;

beforeAll(async () => {
  f = await chatFixture([{ id: 'amy' }, { id: 'ben' }, { id: 'shade' }, { id: 'carol' }, { id: 'dave' }]);
});
afterAll(() => f?.close());

/** A sent message's created_at in milliseconds. */
const at = (message: object) => Date.parse((message as { created_at: string }).created_at);

const ok = (res: ApiResponse, status = 200) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res;
};

describe('a shadowed message does not show activity to others', () => {
  it('leaves last_message_at, updated_at and the channel order of other members alone', async () => {
    const older = await f.channel('older', ['amy', 'ben', 'shade']);
    const newer = await f.channel('newer', ['amy', 'ben', 'shade']);
    await f.send('amy', older.path, 'first');
    await f.send('amy', newer.path, 'second');
    const order = async (who: string) =>
      ok(
        await f.users[who]!.post('/channels/query', {
          filter: { cid: { $in: [older.cid, newer.cid] } },
          sort: [{ field: 'last_message_at', direction: -1 }],
        }),
      ).body.channels.map((c: { channel: { cid: string } }) => c.channel.cid);
    expect(await order('ben')).toEqual([newer.cid, older.cid]);
    const before = (await f.users.ben!.get(older.path)).body.channel.channel;

    ok(await f.app.server.post('/moderation/shadow-ban', { target_id: 'shade' }));
    const shadowed = await f.send('shade', older.path, 'nobody sees this');
    // The author sees their message, with a time after the channel's last message.
    expect(at(shadowed)).toBeGreaterThanOrEqual(Date.parse(before.last_message_at));
    expect((await f.users.shade!.get(`${older.path}/messages`)).body.messages.at(-1).id).toBe(shadowed.id);

    const after = (await f.users.ben!.get(older.path)).body.channel.channel;
    expect(after.last_message_at).toBe(before.last_message_at);
    expect(after.updated_at).toBe(before.updated_at);
    expect(await order('ben')).toEqual([newer.cid, older.cid]);

    // A later normal message still comes after the shadowed one (seq and time).
    const normal = await f.send('amy', older.path, 'visible again');
    expect(normal.seq).toBe(shadowed.seq + 1);
    expect(at(normal)).toBeGreaterThanOrEqual(at(shadowed));
    expect(await order('ben')).toEqual([older.cid, newer.cid]);
    ok(await f.app.server.post('/moderation/remove-shadow-ban', { target_id: 'shade' }));
  });

  it('does not unhide the channel for members who hid it (only for its author)', async () => {
    const ch = await f.channel('hidden-room', ['amy', 'ben', 'shade']);
    await f.send('amy', ch.path, 'hello');
    ok(await f.users.ben!.post(`${ch.path}/hide`, {}));
    ok(await f.users.shade!.post(`${ch.path}/hide`, {}));
    ok(await f.app.server.post('/moderation/shadow-ban', { target_id: 'shade' }));
    await f.send('shade', ch.path, 'psst');
    const hidden = async (who: string) =>
      (await f.users[who]!.get(ch.path)).body.channel.membership.hidden as boolean;
    expect(await hidden('ben')).toBe(true);
    expect(await hidden('shade')).toBe(false);
    ok(await f.app.server.post('/moderation/remove-shadow-ban', { target_id: 'shade' }));
    await f.send('amy', ch.path, 'visible');
    expect(await hidden('ben')).toBe(false);
  });
});

describe('messages of a blocked user are hidden for the blocker in every reader', () => {
  let path: string;
  let cid: string;
  let parent: { id: string };
  let daveTop: { id: string };
  let daveReply: { id: string };
  let since: string;
  let daveMention: { id: string };
  let amyMention: { id: string };

  beforeAll(async () => {
    ({ path, cid } = await f.channel('block-room', ['carol', 'dave', 'amy']));
    since = ok(await f.users.carol!.post('/sync', { last_sync_at: new Date().toISOString() })).body
      .last_sync_at;
    parent = await f.send('amy', path, 'thread about zebras');
    daveTop = await f.send('dave', path, 'zebras are striped');
    await f.send('amy', path, 'zebras run fast');
    daveReply = await f.send('dave', path, 'zebras in a thread', { parent_id: parent.id });
    daveMention = await f.send('dave', path, 'hey @carol look at the zebras');
    amyMention = await f.send('amy', path, 'hey @carol zebras again');
    ok(await f.users.carol!.post(`/messages/${daveTop.id}/star`, {}));
    ok(await f.users.carol!.post(`/messages/${parent.id}/star`, {}));
    await f.send('amy', path, 'zebras reply by amy', { parent_id: parent.id });
    ok(await f.users.amy!.post(`/messages/${daveTop.id}/pin`, {}));
    ok(await f.users.amy!.post(`/messages/${parent.id}/pin`, {}));
    ok(await f.users.carol!.post('/moderation/block', { target_id: 'dave' }));
  });

  const ids = (list: { id: string }[]) => list.map((m) => m.id);

  it('search leaves them out for the blocker only', async () => {
    const found = async (who: string) =>
      ok(await f.users[who]!.post('/search', { query: 'zebras', cids: [cid], limit: 100 })).body.results.map(
        (r: { message: { id: string } }) => r.message.id,
      );
    const carols = await found('carol');
    expect(carols).toHaveLength(4);
    expect(carols).not.toContain(daveTop.id);
    expect(carols).not.toContain(daveReply.id);
    expect(await found('amy')).toEqual(expect.arrayContaining([daveTop.id, daveReply.id]));
  });

  it('thread replies leave them out for the blocker only', async () => {
    const replies = async (who: string) =>
      ids(ok(await f.users[who]!.get(`/messages/${parent.id}/replies`)).body.messages);
    expect(await replies('carol')).not.toContain(daveReply.id);
    expect(await replies('carol')).toHaveLength(1);
    expect(await replies('amy')).toContain(daveReply.id);
  });

  it('the pinned list leaves them out for the blocker only', async () => {
    const pinned = async (who: string) => ids(ok(await f.users[who]!.get(`${path}/pinned`)).body.messages);
    expect(await pinned('carol')).toEqual([parent.id]);
    expect(await pinned('amy')).toEqual([parent.id, daveTop.id]);
  });

  it('the mentions feed and the starred list leave them out', async () => {
    const mentions = ids(ok(await f.users.carol!.get('/mentions')).body.messages);
    expect(mentions).toContain(amyMention.id);
    expect(mentions).not.toContain(daveMention.id);
    const starred = ok(await f.users.carol!.get('/starred')).body;
    const starredIds = JSON.stringify(starred);
    expect(starredIds).toContain(parent.id);
    expect(starredIds).not.toContain(daveTop.id);
  });

  it('/sync leaves out events about their messages for the blocker only', async () => {
    const about = async (who: string) => {
      const res = ok(await f.users[who]!.post('/sync', { last_sync_at: since, channel_cids: [cid] })).body;
      expect(res.resync_required).toBe(false);
      return res.events as { type: string; message?: { id: string; user_id: string } }[];
    };
    const carols = await about('carol');
    expect(carols.filter((e) => e.type === 'message.new').length).toBe(4);
    expect(carols.filter((e) => e.type === 'notification.mention').map((e) => e.message?.id)).toEqual([
      amyMention.id,
    ]);
    expect(carols.some((e) => e.message?.user_id === 'dave')).toBe(false);
    const amys = await about('amy');
    expect(amys.filter((e) => e.message?.user_id === 'dave').map((e) => e.type)).toEqual(
      expect.arrayContaining(['message.new', 'message.updated']),
    );

    ok(await f.users.carol!.post('/moderation/unblock', { target_id: 'dave' }));
    expect((await about('carol')).some((e) => e.message?.id === daveTop.id)).toBe(true);
    ok(await f.users.carol!.post('/moderation/block', { target_id: 'dave' }));
  });
});
