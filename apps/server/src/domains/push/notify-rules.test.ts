import { describe, expect, it } from 'vitest';
import {
  DEFAULT_NOTIFY_PREFERENCES,
  decideNotify,
  dndEndsAt,
  type NotifyFacts,
  preferencesFromRow,
  scheduleEndsAt,
} from './notify-rules.js';

/** A plain message from bob to alice in a group channel, nothing muted, no preferences. */
function facts(
  overrides: Partial<NotifyFacts> = {},
  message: Partial<NotifyFacts['message']> = {},
): NotifyFacts {
  return {
    recipient_id: 'alice',
    message: {
      user_id: 'bob',
      type: 'regular',
      shadowed: false,
      deleted: false,
      mentioned_user_ids: [],
      mentioned_channel: false,
      ...message,
    },
    direct: false,
    channel_muted: false,
    sender_muted: false,
    watching: false,
    preferences: DEFAULT_NOTIFY_PREFERENCES,
    now: new Date('2026-03-10T12:00:00Z'),
    ...overrides,
  };
}
const prefs = (p: Partial<NotifyFacts['preferences']>) => ({ ...DEFAULT_NOTIFY_PREFERENCES, ...p });

describe('decideNotify', () => {
  it('notifies a member about a plain message by default', () => {
    expect(decideNotify(facts())).toEqual({ notify: true, mentioned: false });
  });

  it('never notifies the sender', () => {
    expect(decideNotify(facts({ recipient_id: 'bob' }))).toMatchObject({ notify: false, reason: 'sender' });
  });

  it('skips shadowed, system and deleted messages', () => {
    expect(decideNotify(facts({}, { shadowed: true }))).toMatchObject({ reason: 'shadowed' });
    expect(decideNotify(facts({}, { type: 'system' }))).toMatchObject({ reason: 'not_notifiable' });
    expect(decideNotify(facts({}, { deleted: true }))).toMatchObject({ reason: 'not_notifiable' });
  });

  it('skips users online and watching the channel', () => {
    expect(decideNotify(facts({ watching: true }))).toMatchObject({ notify: false, reason: 'watching' });
    // even when mentioned: they see it live
    expect(decideNotify(facts({ watching: true }, { mentioned_user_ids: ['alice'] }))).toMatchObject({
      reason: 'watching',
    });
  });

  it('skips a muted channel unless the user is mentioned (mentions break through)', () => {
    expect(decideNotify(facts({ channel_muted: true }))).toMatchObject({
      notify: false,
      reason: 'channel_muted',
    });
    expect(decideNotify(facts({ channel_muted: true }, { mentioned_user_ids: ['alice'] }))).toEqual({
      notify: true,
      mentioned: true,
    });
    expect(decideNotify(facts({ channel_muted: true }, { mentioned_channel: true }))).toMatchObject({
      notify: true,
    });
  });

  it('skips a muted sender, even with a mention', () => {
    expect(decideNotify(facts({ sender_muted: true }, { mentioned_user_ids: ['alice'] }))).toMatchObject({
      notify: false,
      reason: 'user_muted',
    });
  });

  it('level none skips everything, even mentions and DMs', () => {
    const none = prefs({ level: 'none' });
    expect(decideNotify(facts({ preferences: none }, { mentioned_user_ids: ['alice'] }))).toMatchObject({
      reason: 'preference',
    });
    expect(decideNotify(facts({ preferences: none, direct: true }))).toMatchObject({ reason: 'preference' });
  });

  it('level mentions lets mentions and direct messages through only', () => {
    const mentions = prefs({ level: 'mentions' });
    expect(decideNotify(facts({ preferences: mentions }))).toMatchObject({
      notify: false,
      reason: 'preference',
    });
    expect(decideNotify(facts({ preferences: mentions }, { mentioned_user_ids: ['alice'] }))).toEqual({
      notify: true,
      mentioned: true,
    });
    expect(decideNotify(facts({ preferences: mentions }, { mentioned_user_ids: ['carol'] }))).toMatchObject({
      reason: 'preference',
    });
    expect(decideNotify(facts({ preferences: mentions, direct: true }))).toMatchObject({ notify: true });
  });

  it('a channel level overrides the user level both ways', () => {
    expect(
      decideNotify(facts({ preferences: prefs({ level: 'none', channel_level: 'all' }) })),
    ).toMatchObject({
      notify: true,
    });
    expect(
      decideNotify(facts({ preferences: prefs({ level: 'all', channel_level: 'none' }) })),
    ).toMatchObject({
      reason: 'preference',
    });
  });

  it('do-not-disturb skips and says when it ends and whether to deliver afterwards', () => {
    const quiet = prefs({
      dnd: { start: '22:00', end: '07:00', tz: 'Europe/Berlin' },
      deliver_after_dnd: true,
    });
    // 23:30 in Berlin (UTC+1 in March before DST) → ends 07:00 Berlin = 06:00 UTC next day.
    const decision = decideNotify(facts({ preferences: quiet, now: new Date('2026-03-10T22:30:00Z') }));
    expect(decision).toMatchObject({ notify: false, reason: 'dnd', deliver_after: true });
    expect(decision.notify === false && decision.resume_at?.toISOString()).toBe('2026-03-11T06:00:00.000Z');
    // 12:00 Berlin: not quiet
    expect(decideNotify(facts({ preferences: quiet, now: new Date('2026-03-10T11:00:00Z') }))).toMatchObject({
      notify: true,
    });
    // DND also holds back mentions
    expect(
      decideNotify(
        facts(
          { preferences: quiet, now: new Date('2026-03-10T22:30:00Z') },
          { mentioned_user_ids: ['alice'] },
        ),
      ),
    ).toMatchObject({ reason: 'dnd' });
  });
});

describe('do-not-disturb times', () => {
  const berlin = { start: '22:00', end: '07:00', tz: 'Europe/Berlin' };

  it('spans midnight, start inclusive and end exclusive, in the schedule time zone', () => {
    // 21:59 Berlin (20:59 UTC in winter): not quiet; 22:00: quiet until 07:00 next day.
    expect(scheduleEndsAt(berlin, new Date('2026-01-15T20:59:00Z'))).toBeNull();
    expect(scheduleEndsAt(berlin, new Date('2026-01-15T21:00:00Z'))?.toISOString()).toBe(
      '2026-01-16T06:00:00.000Z',
    );
    // 06:59:30 Berlin → ends 30 s later; 07:00 → not quiet.
    expect(scheduleEndsAt(berlin, new Date('2026-01-16T05:59:30Z'))?.toISOString()).toBe(
      '2026-01-16T06:00:00.000Z',
    );
    expect(scheduleEndsAt(berlin, new Date('2026-01-16T06:00:00Z'))).toBeNull();
  });

  it('uses the zone offset of the date (summer time)', () => {
    // July: Berlin is UTC+2, so 07:00 Berlin = 05:00 UTC.
    expect(scheduleEndsAt(berlin, new Date('2026-07-01T23:00:00Z'))?.toISOString()).toBe(
      '2026-07-02T05:00:00.000Z',
    );
    // Same instant in New York (UTC-4 in July): 19:00 there, not quiet.
    expect(
      scheduleEndsAt({ ...berlin, tz: 'America/New_York' }, new Date('2026-07-01T23:00:00Z')),
    ).toBeNull();
  });

  it('handles a daylight-saving change inside the quiet hours', () => {
    // Night of 28→29 March 2026: Berlin goes from UTC+1 to UTC+2 at 02:00. 07:00 CEST = 05:00 UTC.
    expect(scheduleEndsAt(berlin, new Date('2026-03-28T22:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T05:00:00.000Z',
    );
  });

  it('a same-day window and an empty window', () => {
    const lunch = { start: '12:00', end: '13:00', tz: 'UTC' };
    expect(scheduleEndsAt(lunch, new Date('2026-01-01T12:30:00Z'))?.toISOString()).toBe(
      '2026-01-01T13:00:00.000Z',
    );
    expect(scheduleEndsAt(lunch, new Date('2026-01-01T13:30:00Z'))).toBeNull();
    expect(
      scheduleEndsAt({ start: '09:00', end: '09:00', tz: 'UTC' }, new Date('2026-01-01T09:00:00Z')),
    ).toBeNull();
  });

  it('snooze and schedule chain: a snooze ending in quiet hours resumes when they end', () => {
    const now = new Date('2026-01-15T18:00:00Z');
    expect(dndEndsAt({ dnd: null, snooze_until: new Date('2026-01-15T19:00:00Z') }, now)?.toISOString()).toBe(
      '2026-01-15T19:00:00.000Z',
    );
    expect(dndEndsAt({ dnd: null, snooze_until: new Date('2026-01-15T17:00:00Z') }, now)).toBeNull();
    // Snooze until 23:00 Berlin (22:00 UTC), inside 22:00–07:00 → resumes 07:00 Berlin.
    expect(
      dndEndsAt({ dnd: berlin, snooze_until: new Date('2026-01-15T22:00:00Z') }, now)?.toISOString(),
    ).toBe('2026-01-16T06:00:00.000Z');
  });

  it('preferencesFromRow fills defaults and ignores an unknown zone', () => {
    expect(preferencesFromRow({}, null)).toEqual(DEFAULT_NOTIFY_PREFERENCES);
    expect(
      preferencesFromRow({ dnd_start: '22:00', dnd_end: '07:00', dnd_tz: 'Mars/Olympus' }, 'mentions'),
    ).toMatchObject({
      dnd: null,
      channel_level: 'mentions',
    });
  });
});
