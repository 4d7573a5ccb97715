import type { Services } from '../server.js';
import type { JobRun, QueuePolicy } from './boss.js';

/** One batch is one short transaction: a few quick retries. */
export const searchReindexPolicy: QueuePolicy = { retryLimit: 5, retryDelaySeconds: 5, expireInSeconds: 300 };

/**
 * Runs SearchService.reindexBatch: re-indexes one batch of the app's messages and enqueues the
 * next in the same transaction. Idempotent: a retried batch re-indexes the same rows (those still
 * on another configuration) and enqueues the same next job (its id derives from the cursor).
 */
export function searchReindexHandler(deps: { services: Pick<Services, 'search'> }) {
  return async (job: JobRun<'search.reindex'>) => {
    await deps.services.search.reindexBatch(job.data);
  };
}
