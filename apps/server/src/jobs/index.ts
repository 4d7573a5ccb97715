import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import type { JobSystem, QueuePolicy } from './boss.js';
import type { JobName } from './job-map.js';
import { webhookDeliverHandler, webhookDeliverPolicy } from './webhook-deliver.js';

/** The queue policy (retries, backoff, expiry) of every job. */
export function queuePolicies(config: Config): Record<JobName, QueuePolicy> {
  return { 'webhook.deliver': webhookDeliverPolicy(config) };
}

/** Starts this process's workers for every job. */
export async function startWorkers(jobs: JobSystem, deps: { db: Db; config: Config; logger: Logger }) {
  await jobs.work('webhook.deliver', webhookDeliverHandler(deps));
}
