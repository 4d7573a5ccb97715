import type { Services } from '../server.js';
import type { JobRun, QueuePolicy } from './boss.js';

export const scheduledMessageSendPolicy: QueuePolicy = {
  retryLimit: 5,
  retryDelaySeconds: 5,
  expireInSeconds: 60,
};

/**
 * Runs ScheduledMessagesService.sendDue. Idempotent: the send carries a client_msg_id derived from
 * the schedule id, so a retry after a crash between sending and marking it sent finds the message.
 */
export function scheduledMessageSendHandler(deps: { services: Pick<Services, 'scheduledMessages'> }) {
  return async (job: JobRun<'scheduled_message.send'>) => {
    await deps.services.scheduledMessages.sendDue(job.data);
  };
}
