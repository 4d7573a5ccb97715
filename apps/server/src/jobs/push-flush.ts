import type { PushDelivery } from '../domains/push/push.delivery.js';
import type { Config } from '../platform/config.js';
import type { JobRun, QueuePolicy } from './boss.js';

type PushConfig = Pick<Config, 'PUSH_RETRY_LIMIT' | 'PUSH_TIMEOUT_MS'>;

/**
 * `short` queue: at most one waiting flush per singleton key (the user, or the user and the end of
 * a do-not-disturb period), which is what debounces several messages into one push.
 */
export const pushFlushPolicy = (config: PushConfig): QueuePolicy => ({
  retryLimit: config.PUSH_RETRY_LIMIT,
  retryDelaySeconds: 10,
  expireInSeconds: Math.ceil(config.PUSH_TIMEOUT_MS / 1000) * 2 + 10,
  policy: 'short',
});

/** Sends one user's due pushes as one bundle; the job id is the bundle id (stable across retries). */
export function pushFlushHandler(delivery: PushDelivery) {
  return async (job: JobRun<'push.flush'>) => {
    await delivery.flush(job.data.app_id, job.data.user_id, job.id, { final: job.final });
  };
}
