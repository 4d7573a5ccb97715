import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userContext } from '../../platform/acting-user.js';
import { type ChatFixture, chatFixture, UNKNOWN_ID, waitFor } from '../../test-support/chat-fixture.js';
import { scheduledClientMsgId } from './scheduled-messages.service.js';

let f: ChatFixture;
let path: string;
let cid: string;

beforeAll(async () => {
  f = await chatFixture([{ id: 'owner' }, { id: 'author' }, { id: 'outsider' }], {
    JOBS_POLL_INTERVAL_MS: '500',
  });
  ({ path, cid } = await f.channel('later', ['owner', 'author']));
});
afterAll(() => f?.close());

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const scheduled = (id: string) =>
  f.eventsOf('scheduled_message.updated').filter((e) => e.scheduled_message.id === id);

describe('scheduled messages', () => {
  it('sends at send_at through the normal send path, then reports it sent', async () => {
    const parent = await f.send('owner', path, 'thread parent');
    const res = await f.users.author!.post(`${path}/scheduled-messages`, {
      send_at: inSeconds(1),
      text: 'good morning @owner',
      parent_id: parent.id,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const s = res.body.scheduled_message;
    expect(s).toMatchObject({ cid, user_id: 'author', status: 'scheduled', message_id: null, error: null });
    const sent = await waitFor(() => scheduled(s.id).find((e) => e.scheduled_message.status === 'sent'));
    const messageId = sent.scheduled_message.message_id!;
    const message = (await f.users.owner!.get(`/messages/${messageId}`)).body.message;
    expect(message).toMatchObject({
      user_id: 'author',
      text: 'good morning @owner',
      parent_id: parent.id,
      client_msg_id: scheduledClientMsgId(s.id),
      mentioned_user_ids: ['owner'],
    });
    expect(f.eventsOf('message.new').some((e) => e.message.id === messageId)).toBe(true);
    expect(f.eventsOf('notification.mention').some((e) => e.message.id === messageId)).toBe(true);
    const got = await f.users.author!.get(`/scheduled-messages/${s.id}`);
    expect(got.body.scheduled_message).toMatchObject({ status: 'sent', message_id: messageId });
    // Done is done: no more changes.
    const late = await f.users.author!.patch(`/scheduled-messages/${s.id}`, { text: 'too late' });
    expect([late.status, late.body.code]).toEqual([409, 'SCHEDULED_MESSAGE_DONE']);
  });

  it('marks the schedule failed with the reason when the channel became unsendable', async () => {
    const res = await f.users.author!.post(`${path}/scheduled-messages`, {
      send_at: inSeconds(1),
      text: 'into the void',
    });
    const s = res.body.scheduled_message;
    expect((await f.users.owner!.post(`${path}/members/remove`, { user_ids: ['author'] })).status).toBe(200);
    const failed = await waitFor(() => scheduled(s.id).find((e) => e.scheduled_message.status === 'failed'));
    expect(failed.scheduled_message.error).toEqual({ code: 'FORBIDDEN', message: expect.any(String) });
    expect(failed.scheduled_message.message_id).toBeNull();
    const list = await f.users.author!.get('/scheduled-messages?status=failed');
    expect(list.body.scheduled_messages.map((m: { id: string }) => m.id)).toEqual([s.id]);
    expect((await f.users.owner!.post(`${path}/members`, { user_ids: ['author'] })).status).toBe(200);
  });

  it('is idempotent: a repeated run finds the message already sent with the derived client_msg_id', async () => {
    const res = await f.users.author!.post(`${path}/scheduled-messages`, {
      send_at: inSeconds(3600),
      text: 'once',
    });
    const s = res.body.scheduled_message;
    // As if a first run sent the message and died before marking the schedule.
    const ctx = (await userContext(f.server.database.db, f.app.id, 'author'))!;
    const first = await f.server.parley.services.messages.send(ctx, cid, {
      client_msg_id: scheduledClientMsgId(s.id),
      text: 'once',
      attachments: [],
      mentioned_user_ids: [],
      show_in_channel: false,
    });
    const data = { app_id: f.app.id, id: s.id, send_at: s.send_at };
    await f.server.parley.services.scheduledMessages.sendDue(data);
    await f.server.parley.services.scheduledMessages.sendDue(data);
    const after = (await f.users.author!.get(`/scheduled-messages/${s.id}`)).body.scheduled_message;
    expect(after).toMatchObject({ status: 'sent', message_id: first.message.id });
    const texts = (await f.users.owner!.get(`${path}/messages?limit=300`)).body.messages.filter(
      (m: { text: string }) => m.text === 'once',
    );
    expect(texts).toHaveLength(1);
    // A job for an old send_at (rescheduled since) does nothing.
    const moved = (
      await f.users.author!.post(`${path}/scheduled-messages`, { send_at: inSeconds(3600), text: 'moved' })
    ).body.scheduled_message;
    await f.users.author!.patch(`/scheduled-messages/${moved.id}`, { send_at: inSeconds(7200) });
    await f.server.parley.services.scheduledMessages.sendDue({
      app_id: f.app.id,
      id: moved.id,
      send_at: moved.send_at,
    });
    expect((await f.users.author!.get(`/scheduled-messages/${moved.id}`)).body.scheduled_message.status).toBe(
      'scheduled',
    );
  });

  it('lists, updates and cancels; a cancelled schedule never sends', async () => {
    const a = (
      await f.users.author!.post(`${path}/scheduled-messages`, { send_at: inSeconds(1), text: 'cancel me' })
    ).body.scheduled_message;
    const b = (
      await f.users.author!.post(`${path}/scheduled-messages`, { send_at: inSeconds(600), text: 'b' })
    ).body.scheduled_message;
    expect((await f.users.author!.delete(`/scheduled-messages/${a.id}`)).body).toEqual({ ok: true });
    expect(f.eventsOf('scheduled_message.deleted').at(-1)).toMatchObject({
      scheduled_message_id: a.id,
      user_id: 'author',
      cid,
    });
    const upd = await f.users.author!.patch(`/scheduled-messages/${b.id}`, { text: 'b, edited' });
    expect(upd.body.scheduled_message).toMatchObject({ text: 'b, edited', send_at: b.send_at });
    const page = await f.users.author!.get('/scheduled-messages?status=scheduled&limit=1');
    expect(page.body.scheduled_messages).toHaveLength(1);
    expect(page.body.next).toEqual(expect.any(String));
    await new Promise((r) => setTimeout(r, 2500));
    expect(f.eventsOf('message.new').some((e) => e.message.text === 'cancel me')).toBe(false);
    // Others never see someone's schedules.
    const peek = await f.users.owner!.get(`/scheduled-messages/${b.id}`);
    expect([peek.status, peek.body.code]).toEqual([404, 'SCHEDULED_MESSAGE_NOT_FOUND']);
    expect((await f.users.owner!.delete(`/scheduled-messages/${b.id}`)).status).toBe(404);
    expect((await f.users.owner!.get('/scheduled-messages')).body.scheduled_messages).toEqual([]);
  });

  it('refuses past times, over-long or empty texts, foreign targets and channels the user cannot send in', async () => {
    const other = await f.channel('later-other', ['owner']);
    const foreign = await f.send('owner', other.path, 'elsewhere');
    const post = (body: Record<string, unknown>, who = 'author', p = path) =>
      f.users[who]!.post(`${p}/scheduled-messages`, { send_at: inSeconds(600), text: 'ok', ...body });
    const past = await post({ send_at: '2020-01-01T00:00:00Z' });
    expect([past.status, past.body.code, past.body.details?.field]).toEqual([400, 'TIME_IN_PAST', 'send_at']);
    expect((await post({ text: 'x'.repeat(5001) })).body.code).toBe('MESSAGE_TOO_LONG');
    expect((await post({ text: '  ' })).body.code).toBe('MESSAGE_EMPTY');
    const unknownParent = await post({ parent_id: UNKNOWN_ID });
    expect([unknownParent.status, unknownParent.body.details?.field]).toEqual([404, 'parent_id']);
    expect((await post({ reply_to_id: foreign.id })).body.code).toBe('MESSAGE_NOT_FOUND');
    expect((await post({}, 'outsider')).status).toBe(403);
    expect((await post({ send_at: 'soon' })).body.code).toBe('VALIDATION_FAILED');
    expect((await post({ bogus: true })).body.code).toBe('VALIDATION_FAILED');
    const bad = await f.users.author!.patch(`/scheduled-messages/${UNKNOWN_ID}`, { text: 'x' });
    expect([bad.status, bad.body.code]).toEqual([404, 'SCHEDULED_MESSAGE_NOT_FOUND']);
    const s = (await post({})).body.scheduled_message;
    const pastUpdate = await f.users.author!.patch(`/scheduled-messages/${s.id}`, {
      send_at: '2020-01-01T00:00:00Z',
    });
    expect(pastUpdate.body.code).toBe('TIME_IN_PAST');
    expect((await f.users.author!.get('/scheduled-messages?next=zzz')).body.code).toBe('VALIDATION_FAILED');
  });
});
