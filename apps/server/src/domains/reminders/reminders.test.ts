import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture, UNKNOWN_ID, waitFor } from '../../test-support/chat-fixture.js';

let f: ChatFixture;
let path: string;
let cid: string;

beforeAll(async () => {
  f = await chatFixture([{ id: 'me' }, { id: 'you' }, { id: 'outsider' }], { JOBS_POLL_INTERVAL_MS: '500' });
  ({ path, cid } = await f.channel('reminders', ['me', 'you']));
});
afterAll(() => f?.close());

const jobsFor = async (messageId: string) =>
  (
    await sql<{ n: number }>`select count(*)::int as n from pgboss.job
      where name = 'reminder.due' and data->>'message_id' = ${messageId}`.execute(f.server.database.db)
  ).rows[0]!.n;

describe('reminders', () => {
  it('delivers notification.reminder_due through a job at remind_at', async () => {
    const m = await f.send('you', path, 'remind me about this');
    const res = await f.users.me!.post(`/messages/${m.id}/reminder`, { remind_in_seconds: 1, note: 'look' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.reminder).toMatchObject({
      message_id: m.id,
      cid,
      user_id: 'me',
      note: 'look',
      delivered_at: null,
    });
    expect(f.eventsOf('reminder.updated').at(-1)).toMatchObject({
      user_id: 'me',
      reminder: res.body.reminder,
    });
    expect(await jobsFor(m.id)).toBe(1);
    const due = await waitFor(() =>
      f.eventsOf('notification.reminder_due').find((e) => e.reminder.message_id === m.id),
    );
    expect(due).toMatchObject({ cid, user_id: 'me', message: { id: m.id, text: 'remind me about this' } });
    expect(due.reminder.delivered_at).toEqual(expect.any(String));
    const delivered = await f.users.me!.get('/reminders?status=delivered');
    expect(delivered.body.reminders.map((r: { message_id: string }) => r.message_id)).toContain(m.id);
    expect(
      (await f.users.me!.get('/reminders')).body.reminders.map((r: { message_id: string }) => r.message_id),
    ).not.toContain(m.id);
  });

  it('a cancelled or moved reminder makes the old job a no-op', async () => {
    const cancelled = await f.send('you', path, 'cancel this one');
    const moved = await f.send('you', path, 'move this one');
    expect(
      (await f.users.me!.post(`/messages/${cancelled.id}/reminder`, { remind_in_seconds: 1 })).status,
    ).toBe(201);
    expect((await f.users.me!.post(`/messages/${moved.id}/reminder`, { remind_in_seconds: 1 })).status).toBe(
      201,
    );
    expect((await f.users.me!.delete(`/messages/${cancelled.id}/reminder`)).body).toEqual({ ok: true });
    expect(f.eventsOf('reminder.deleted').at(-1)).toMatchObject({ message_id: cancelled.id });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const res = await f.users.me!.patch(`/messages/${moved.id}/reminder`, {
      remind_at: later,
      note: 'later',
    });
    expect(res.body.reminder).toMatchObject({ remind_at: later, note: 'later' });
    expect(await jobsFor(moved.id)).toBe(2);
    // Both original jobs run (and complete) without a notification.
    await waitFor(async () => {
      const rows = await sql<{ n: number }>`select count(*)::int as n from pgboss.job
        where name = 'reminder.due' and data->>'message_id' in (${cancelled.id}, ${moved.id}) and state = 'completed'`.execute(
        f.server.database.db,
      );
      return rows.rows[0]!.n === 2 ? true : undefined;
    });
    const about = f.eventsOf('notification.reminder_due').map((e) => e.reminder.message_id);
    expect(about).not.toContain(cancelled.id);
    expect(about).not.toContain(moved.id);
    const upcoming = await f.users.me!.get('/reminders');
    expect(upcoming.body.reminders).toMatchObject([
      { message_id: moved.id, remind_at: later, delivered_at: null },
    ]);
  });

  it('refuses reminders in the past, duplicates, unknown messages and foreign channels', async () => {
    const m = await f.send('you', path, 'x');
    const past = await f.users.me!.post(`/messages/${m.id}/reminder`, { remind_at: '2020-01-01T00:00:00Z' });
    expect([past.status, past.body.code, past.body.details?.field]).toEqual([
      400,
      'TIME_IN_PAST',
      'remind_at',
    ]);
    const none = await f.users.me!.post(`/messages/${m.id}/reminder`, {});
    expect([none.status, none.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const both = await f.users.me!.post(`/messages/${m.id}/reminder`, {
      remind_at: new Date(Date.now() + 60_000).toISOString(),
      remind_in_seconds: 60,
    });
    expect(both.body.code).toBe('VALIDATION_FAILED');
    const far = await f.users.me!.post(`/messages/${m.id}/reminder`, { remind_at: '2999-01-01T00:00:00Z' });
    expect(far.body.code).toBe('VALIDATION_FAILED');
    expect((await f.users.me!.post(`/messages/${m.id}/reminder`, { remind_in_seconds: 600 })).status).toBe(
      201,
    );
    const dup = await f.users.me!.post(`/messages/${m.id}/reminder`, { remind_in_seconds: 600 });
    expect([dup.status, dup.body.code]).toEqual([409, 'REMINDER_EXISTS']);
    const unknown = await f.users.me!.post(`/messages/${UNKNOWN_ID}/reminder`, { remind_in_seconds: 60 });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
    expect(
      (await f.users.outsider!.post(`/messages/${m.id}/reminder`, { remind_in_seconds: 60 })).status,
    ).toBe(403);
    const missing = await f.users.you!.patch(`/messages/${m.id}/reminder`, { remind_in_seconds: 60 });
    expect([missing.status, missing.body.code]).toEqual([404, 'REMINDER_NOT_FOUND']);
    expect((await f.users.you!.delete(`/messages/${m.id}/reminder`)).body.code).toBe('REMINDER_NOT_FOUND');
    const longNote = await f.users.you!.post(`/messages/${m.id}/reminder`, {
      remind_in_seconds: 60,
      note: 'n'.repeat(501),
    });
    expect(longNote.body.code).toBe('VALIDATION_FAILED');
    expect((await f.users.me!.get('/reminders?status=soon')).body.code).toBe('VALIDATION_FAILED');
  });
});
