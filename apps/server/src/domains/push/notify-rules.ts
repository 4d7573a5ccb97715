/**
 * "Should this user be notified about this message?" — the rules shared by push and email.
 *
 * Pure: every fact is passed in (the caller loads mutes, preferences and presence), so the rules are
 * unit-tested without a database and read the same in every channel of notification. The order of
 * the checks is the documented order (docs/guides/push.md):
 *
 * 1. the sender is never notified of their own message;
 * 2. shadowed messages (shadow-banned author) and system/deleted messages notify nobody;
 * 3. a muted sender (user mute) → nothing, even when mentioned;
 * 4. preference `none` → nothing; `mentions` → only mentions and direct messages;
 *    a per-channel level overrides the user's level for that channel;
 * 5. a muted channel → nothing unless the user is mentioned (mentions break through channel mutes);
 * 6. online on a socket and watching that channel → nothing (they see it live);
 * 7. do-not-disturb (schedule in the user's time zone, or snooze) → nothing now; `resume_at` says
 *    when it ends, for callers that deliver after DND (`deliver_after_dnd`).
 */

export type NotifyLevel = 'all' | 'mentions' | 'none';

/** A daily quiet period in a time zone, e.g. { start: '22:00', end: '07:00', tz: 'Europe/Berlin' }. */
export interface DndSchedule {
  start: string;
  end: string;
  tz: string;
}

export interface NotifyPreferences {
  level: NotifyLevel;
  /** The level for this message's channel, if the user set one (overrides `level`). */
  channel_level: NotifyLevel | null;
  dnd: DndSchedule | null;
  snooze_until: Date | null;
  deliver_after_dnd: boolean;
}

export const DEFAULT_NOTIFY_PREFERENCES: NotifyPreferences = {
  level: 'all',
  channel_level: null,
  dnd: null,
  snooze_until: null,
  deliver_after_dnd: false,
};

export interface NotifyMessage {
  user_id: string;
  type: string;
  shadowed: boolean;
  deleted: boolean;
  mentioned_user_ids: readonly string[];
  /** @channel: every member is mentioned. (@here is not a mention for offline channels.) */
  mentioned_channel: boolean;
}

export interface NotifyFacts {
  recipient_id: string;
  message: NotifyMessage;
  /** A direct message channel (distinct channel of two members). */
  direct: boolean;
  channel_muted: boolean;
  sender_muted: boolean;
  /** Online on a socket and subscribed to this channel right now. */
  watching: boolean;
  preferences: NotifyPreferences;
  now: Date;
}

export type SkipReason =
  | 'sender'
  | 'shadowed'
  | 'not_notifiable'
  | 'user_muted'
  | 'preference'
  | 'channel_muted'
  | 'watching'
  | 'dnd';

export type NotifyDecision =
  | { notify: true; mentioned: boolean }
  | { notify: false; reason: SkipReason; mentioned: boolean; resume_at?: Date; deliver_after?: boolean };

export function isMentioned(message: NotifyMessage, userId: string): boolean {
  return message.mentioned_channel || message.mentioned_user_ids.includes(userId);
}

/** Applies the rules above, in order; the first that matches decides. */
export function decideNotify(facts: NotifyFacts): NotifyDecision {
  const { message, preferences: prefs } = facts;
  const mentioned = isMentioned(message, facts.recipient_id);
  const skip = (reason: SkipReason): NotifyDecision => ({ notify: false, reason, mentioned });
  if (message.user_id === facts.recipient_id) return skip('sender');
  if (message.shadowed) return skip('shadowed');
  if (message.deleted || message.type === 'system' || message.type === 'deleted')
    return skip('not_notifiable');
  if (facts.sender_muted) return skip('user_muted');
  const level = prefs.channel_level ?? prefs.level;
  if (level === 'none') return skip('preference');
  if (level === 'mentions' && !mentioned && !facts.direct) return skip('preference');
  if (facts.channel_muted && !mentioned) return skip('channel_muted');
  if (facts.watching) return skip('watching');
  const resumeAt = dndEndsAt(prefs, facts.now);
  if (resumeAt) {
    return {
      notify: false,
      reason: 'dnd',
      mentioned,
      resume_at: resumeAt,
      deliver_after: prefs.deliver_after_dnd,
    };
  }
  return { notify: true, mentioned };
}

/**
 * When do-not-disturb ends, or null if it is not on at `now`. Snooze and the daily schedule chain:
 * a snooze ending inside the quiet hours resumes at the end of the quiet hours, and vice versa.
 */
export function dndEndsAt(prefs: Pick<NotifyPreferences, 'dnd' | 'snooze_until'>, now: Date): Date | null {
  let at = now;
  for (let i = 0; i < 4; i++) {
    if (prefs.snooze_until && prefs.snooze_until > at) {
      at = prefs.snooze_until;
      continue;
    }
    const end = prefs.dnd ? scheduleEndsAt(prefs.dnd, at) : null;
    if (end) {
      at = end;
      continue;
    }
    break;
  }
  return at.getTime() === now.getTime() ? null : at;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function parseHhMm(value: string): number {
  const match = HHMM.exec(value);
  if (!match) throw new Error(`not a HH:MM time: ${value}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** True for an IANA time zone name this runtime knows (e.g. Europe/Berlin). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Minutes since local midnight (and seconds into the minute) of `at` in `tz`. */
function localMinutes(at: Date, tz: string): { minutes: number; seconds: number } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: tz,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { minutes: get('hour') * 60 + get('minute'), seconds: get('second') };
}

/**
 * If `at` falls in the schedule's quiet hours (local time in its zone, start inclusive, end
 * exclusive; start > end spans midnight; start = end means never), the instant they end; else null.
 */
export function scheduleEndsAt(schedule: DndSchedule, at: Date): Date | null {
  const start = parseHhMm(schedule.start);
  const end = parseHhMm(schedule.end);
  if (start === end) return null;
  const { minutes, seconds } = localMinutes(at, schedule.tz);
  const inside = start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
  if (!inside) return null;
  const minutesLeft = (end - minutes + 1440) % 1440;
  let candidate = new Date(at.getTime() - seconds * 1000 - at.getUTCMilliseconds() + minutesLeft * 60_000);
  // A daylight-saving change inside the quiet hours moves the local clock: correct once.
  const drift = localMinutes(candidate, schedule.tz).minutes - end;
  if (drift !== 0) {
    const fixed = new Date(candidate.getTime() - (((drift + 720 + 1440) % 1440) - 720) * 60_000);
    if (fixed > at) candidate = fixed;
  }
  return candidate;
}

/** Preferences from stored columns (absent columns → defaults); `channelLevel` overrides the level. */
export function preferencesFromRow(
  row: {
    level?: NotifyLevel | null;
    dnd_start?: string | null;
    dnd_end?: string | null;
    dnd_tz?: string | null;
    snooze_until?: Date | null;
    deliver_after_dnd?: boolean | null;
  },
  channelLevel: NotifyLevel | null,
): NotifyPreferences {
  return {
    level: row.level ?? 'all',
    channel_level: channelLevel,
    dnd:
      row.dnd_start && row.dnd_end && row.dnd_tz && isTimeZone(row.dnd_tz)
        ? { start: row.dnd_start, end: row.dnd_end, tz: row.dnd_tz }
        : null,
    snooze_until: row.snooze_until ?? null,
    deliver_after_dnd: row.deliver_after_dnd ?? false,
  };
}
