import { MAX_SCHEDULE_AHEAD_DAYS } from '@parley/protocol';
import { AppError } from './errors.js';

/**
 * A time that must lie in the future (reminders, scheduled messages, pin expiry): TIME_IN_PAST
 * when it does not, VALIDATION_FAILED when it is more than MAX_SCHEDULE_AHEAD_DAYS ahead.
 */
export function futureTime(value: string | Date, field: string, now = Date.now()): Date {
  const at = typeof value === 'string' ? new Date(value) : value;
  if (Number.isNaN(at.getTime()))
    throw new AppError('VALIDATION_FAILED', `${field} is not a date`, { field });
  if (at.getTime() <= now) {
    throw new AppError('TIME_IN_PAST', `${field} must be in the future`, {
      field,
      now: new Date(now).toISOString(),
    });
  }
  if (at.getTime() > now + MAX_SCHEDULE_AHEAD_DAYS * 86_400_000) {
    throw new AppError('VALIDATION_FAILED', `${field} is more than ${MAX_SCHEDULE_AHEAD_DAYS} days ahead`, {
      field,
    });
  }
  return at;
}
