import type { PushDelivery } from '../domains/push/push.delivery.js';
import type { Config } from '../platform/config.js';
import type { JobRun, QueuePolicy } from './boss.js';

type PushConfig = Pick<Config, 'PUSH_RETRY_LIMIT' | 'PUSH_TIMEOUT_MS'>;

/** Applying the rules is database work: a few quick retries. */
export const pushMessagePolicy = (config: PushConfig): QueuePolicy => ({
  retryLimit: config.PUSH_RETRY_LIMIT,
  retryDelaySeconds: 5,
  expireInSeconds: 60,
});

/** One new message: apply the push rules to its recipients and queue their (bundled) pushes. */
export function pushMessageHandler(delivery: PushDelivery) {
  return async (job: JobRun<'push.message'>) => {
    await delivery.processMessage(job.data.app_id, job.data.message_id);
  };
}
