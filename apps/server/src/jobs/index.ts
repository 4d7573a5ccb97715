import { PushDelivery } from '../domains/push/push.delivery.js';
import { createPushProviders } from '../domains/push/push.providers.js';
import { resolveVapidKeys } from '../domains/push/push.vapid.js';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import { type ChannelWatchers, noWatchers } from '../realtime/watchers.js';
import type { Services } from '../server.js';
import type { JobSystem, QueuePolicy } from './boss.js';
import {
  emailDigestHandler,
  emailInviteHandler,
  emailMentionHandler,
  emailPolicy,
  Mailer,
  NO_PRESENCE,
  type Presence,
} from './email.js';
import { EventPublishers, eventExportHandler, eventExportPolicy } from './event-export.js';
import type { JobName } from './job-map.js';
import { pushFlushHandler, pushFlushPolicy } from './push-flush.js';
import { pushMessageHandler, pushMessagePolicy } from './push-message.js';
import { reminderDueHandler, reminderDuePolicy } from './reminder-due.js';
import { scheduledMessageSendHandler, scheduledMessageSendPolicy } from './scheduled-message-send.js';
import { searchReindexHandler, searchReindexPolicy } from './search-reindex.js';
import { cleanupHour, uploadCleanupHandler, uploadCleanupPolicy } from './upload-cleanup.js';
import { webhookDeliverHandler, webhookDeliverPolicy } from './webhook-deliver.js';
import { pruneDay, webhookPruneHandler, webhookPrunePolicy } from './webhook-prune.js';

/** The queue policy (retries, backoff, expiry) of every job. */
export function queuePolicies(config: Config): Record<JobName, QueuePolicy> {
  return {
    'webhook.deliver': webhookDeliverPolicy(config),
    'webhook.prune': webhookPrunePolicy(),
    'upload.cleanup': uploadCleanupPolicy(),
    'events.export': eventExportPolicy(config),
    'email.mention': emailPolicy(),
    'email.digest': emailPolicy(),
    'email.invite': emailPolicy(),
    'reminder.due': reminderDuePolicy,
    'scheduled_message.send': scheduledMessageSendPolicy,
    'push.message': pushMessagePolicy(config),
    'push.flush': pushFlushPolicy(config),
    'search.reindex': searchReindexPolicy,
  };
}

/** Running workers of a process: `stop` releases their connections (call after `JobSystem.stop`). */
export interface Workers {
  stop(): Promise<void>;
}

/** How often a worker process makes sure today's prune job is queued (once per day per database). */
const PRUNE_CHECK_MS = 3_600_000;
/** How often a worker process queues the upload cleanup (one job per hour per database). */
const UPLOAD_CLEANUP_CHECK_MS = 600_000;

/**
 * Starts this process's workers for every job. `presence` tells the email jobs who is online
 * (the realtime broker; without it everyone counts as offline).
 */
export async function startWorkers(
  jobs: JobSystem,
  deps: {
    db: Db;
    config: Config;
    logger: Logger;
    services: Services;
    presence?: Presence;
    /** Who watches which channel (push skips them); without it nobody counts as watching. */
    watchers?: ChannelWatchers;
  },
): Promise<Workers> {
  await jobs.work('webhook.deliver', webhookDeliverHandler(deps));
  await jobs.work('webhook.prune', webhookPruneHandler(deps));
  await jobs.work('upload.cleanup', uploadCleanupHandler(deps));
  const publishers = new EventPublishers(deps.config, deps.logger);
  await jobs.work('events.export', eventExportHandler(publishers));
  const mailer = new Mailer(deps.config);
  const emailDeps = { ...deps, mailer, presence: deps.presence ?? NO_PRESENCE };
  await jobs.work('email.mention', emailMentionHandler(emailDeps));
  await jobs.work('email.digest', emailDigestHandler(emailDeps));
  await jobs.work('email.invite', emailInviteHandler(emailDeps));
  await jobs.work('reminder.due', reminderDueHandler(deps));
  await jobs.work('scheduled_message.send', scheduledMessageSendHandler(deps));
  await jobs.work('search.reindex', searchReindexHandler(deps));
  const push = new PushDelivery(deps.db, jobs, {
    bundleWindowMs: deps.config.PUSH_BUNDLE_WINDOW_MS,
    providers: createPushProviders(deps.config, resolveVapidKeys(deps.config, deps.logger)),
    watchers: deps.watchers ?? noWatchers,
    logger: deps.logger,
  });
  await jobs.work('push.message', pushMessageHandler(push));
  await jobs.work('push.flush', pushFlushHandler(push));

  const queuePrune = () =>
    jobs
      .send(deps.db, 'webhook.prune', { day: pruneDay() }, { idempotencyKey: pruneDay() })
      .catch((err) => deps.logger.warn({ err }, 'could not queue the webhook log prune job'));
  const queueUploadCleanup = () =>
    jobs
      .send(deps.db, 'upload.cleanup', { hour: cleanupHour() }, { idempotencyKey: cleanupHour() })
      .catch((err) => deps.logger.warn({ err }, 'could not queue the upload cleanup job'));
  await queuePrune();
  await queueUploadCleanup();
  const timer = setInterval(() => void queuePrune(), PRUNE_CHECK_MS).unref();
  const uploadTimer = setInterval(() => void queueUploadCleanup(), UPLOAD_CLEANUP_CHECK_MS).unref();
  return {
    async stop() {
      clearInterval(timer);
      clearInterval(uploadTimer);
      mailer.close();
      await publishers.close();
    },
  };
}
