import { z } from 'zod';

/**
 * Every durable job, by name → payload schema. Senders (`JobSystem.send`, always inside the
 * transaction of the write that causes the job) and workers (`JobSystem.work`, which validates the
 * payload before the handler sees it) use the same map, so a job's shape is written down once.
 *
 * Payloads stay small: a job names the rows it works on, the rows hold the data.
 */
export const JobMap = {
  /** Send one webhook delivery (an event × an endpoint): POST, record the attempt, retry on failure. */
  'webhook.deliver': z.object({ app_id: z.string(), delivery_id: z.uuid() }),
  /**
   * A reminder's time has come: notify its user. `remind_at` is the time the job was set for: a
   * reminder moved or cancelled since makes this job a no-op (the moved one has its own job).
   */
  'reminder.due': z.object({
    app_id: z.string(),
    user_id: z.string(),
    message_id: z.uuid(),
    remind_at: z.string(),
  }),
  /** Send a scheduled message through the normal send path; a no-op if it was changed or cancelled since. */
  'scheduled_message.send': z.object({ app_id: z.string(), id: z.uuid(), send_at: z.string() }),
  /** Apply the push rules to one new message's recipients; queue a (bundled) push for each who passes. */
  'push.message': z.object({ app_id: z.string(), message_id: z.uuid() }),
  /** Send one user's waiting pushes as one bundle (debounced per user; also runs when do-not-disturb ends). */
  'push.flush': z.object({ app_id: z.string(), user_id: z.string() }),
  /** Delete delivery-log rows older than WEBHOOK_LOG_RETENTION_DAYS (enqueued once per day). */
  'webhook.prune': z.object({ day: z.string() }),
  /** Remove unfinished, deleted, channel-less and unreferenced uploads (enqueued once per hour). */
  'upload.cleanup': z.object({ hour: z.string() }),
  /**
   * Publish one transaction's events to a broker (RabbitMQ or NATS; one job per target). The
   * events travel in the job: they are not rows anywhere else. Each keeps its id for dedup.
   */
  'events.export': z.object({
    target: z.enum(['amqp', 'nats']),
    events: z.array(z.looseObject({ id: z.string(), type: z.string(), app_id: z.string() })).min(1),
  }),
  /** A mention email, delayed; sent only if the mention is still unread and the user offline. */
  'email.mention': z.object({ app_id: z.string(), user_id: z.string(), message_id: z.uuid() }),
  /** A digest of a user's unread messages, one per user and digest window, delayed. */
  'email.digest': z.object({ app_id: z.string(), user_id: z.string(), window: z.string() }),
  /** An invitation email (accounts flow). */
  'email.invite': z.object({
    app_id: z.string(),
    key: z.string(),
    to: z.email(),
    inviter_name: z.string().nullable(),
    link: z.url(),
    note: z.string().max(2000).nullable(),
  }),
  /**
   * Re-index an app's messages for its new `search_language`, one bounded batch per job, in
   * (cid, id) order after `after`; each batch enqueues the next. A no-op once the app's language
   * is no longer `language` (the job of the newer change takes over).
   */
  'search.reindex': z.object({
    app_id: z.string(),
    language: z.string(),
    after: z.object({ cid: z.string(), id: z.uuid() }).nullable(),
    batch_size: z.number().int().min(1).max(5000).optional(),
  }),
} as const;

export type JobName = keyof typeof JobMap;
export type JobData<N extends JobName> = z.infer<(typeof JobMap)[N]>;
export const JOB_NAMES = Object.keys(JobMap) as JobName[];

/** The dead-letter queue of a job: where it lands after its last retry failed. */
export const deadLetterQueue = (name: JobName) => `${name}.dead`;
