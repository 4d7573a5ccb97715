import type { Services } from '../server.js';
import type { JobRun, QueuePolicy } from './boss.js';

/** A few quick retries: the work is one small transaction. */
export const reminderDuePolicy: QueuePolicy = { retryLimit: 5, retryDelaySeconds: 5, expireInSeconds: 60 };

/** Runs RemindersService.deliverDue: idempotent (a delivered, moved or cancelled reminder is skipped). */
export function reminderDueHandler(deps: { services: Pick<Services, 'reminders'> }) {
  return async (job: JobRun<'reminder.due'>) => {
    await deps.services.reminders.deliverDue(job.data);
  };
}
