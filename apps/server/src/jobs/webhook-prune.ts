import { sql } from 'kysely';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import type { JobRun, QueuePolicy } from './boss.js';

export const webhookPrunePolicy = (): QueuePolicy => ({
  retryLimit: 3,
  retryDelaySeconds: 60,
  expireInSeconds: 600,
});

/** Rows deleted per statement: short statements, so writes of the outbox never wait long. */
const BATCH = 5000;

/**
 * Deletes delivery-log rows older than WEBHOOK_LOG_RETENTION_DAYS that are finished (succeeded or
 * failed); pending and retrying deliveries are kept whatever their age. Platform maintenance, for
 * every app at once. Idempotent: a rerun deletes what is left.
 */
export function webhookPruneHandler(deps: {
  db: Db;
  config: Pick<Config, 'WEBHOOK_LOG_RETENTION_DAYS'>;
  logger: Logger;
}) {
  return async (_job: JobRun<'webhook.prune'>) => {
    const before = new Date(Date.now() - deps.config.WEBHOOK_LOG_RETENTION_DAYS * 86_400_000);
    let total = 0;
    for (;;) {
      const result = await sql`
        delete from webhook_deliveries where id in (
          select id from webhook_deliveries
          where created_at < ${before} and status in ('succeeded', 'failed')
          limit ${BATCH})`.execute(deps.db);
      const deleted = Number(result.numAffectedRows ?? 0);
      total += deleted;
      if (deleted < BATCH) break;
    }
    if (total > 0)
      deps.logger.info({ deleted: total, before: before.toISOString() }, 'webhook delivery log pruned');
  };
}

/** The day a prune job is for (one job per UTC day, whichever process enqueues it first). */
export const pruneDay = (now = new Date()) => now.toISOString().slice(0, 10);
