import type { Logger } from '../platform/logger.js';
import type { Services } from '../server.js';
import type { JobRun, QueuePolicy } from './boss.js';

export const uploadCleanupPolicy = (): QueuePolicy => ({
  retryLimit: 3,
  retryDelaySeconds: 300,
  expireInSeconds: 1800,
});

/**
 * Hourly upload housekeeping for every app (UploadsService.cleanup): unfinished uploads of dead
 * processes (and their partial files on disk), removals that failed, uploads of deleted channels,
 * and uploads no message refers to after UPLOAD_ORPHAN_HOURS. Idempotent: a rerun removes what is left.
 */
export function uploadCleanupHandler(deps: { services: Pick<Services, 'uploads'>; logger: Logger }) {
  return async (_job: JobRun<'upload.cleanup'>) => {
    const { removed, referenced } = await deps.services.uploads.cleanup();
    if (removed > 0 || referenced > 0) deps.logger.info({ removed, referenced }, 'uploads cleaned up');
  };
}

/** The hour a cleanup job is for (one job per UTC hour, whichever process enqueues it first). */
export const cleanupHour = (now = new Date()) => now.toISOString().slice(0, 13);
