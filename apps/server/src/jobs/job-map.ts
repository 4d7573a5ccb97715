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
} as const;

export type JobName = keyof typeof JobMap;
export type JobData<N extends JobName> = z.infer<(typeof JobMap)[N]>;
export const JOB_NAMES = Object.keys(JobMap) as JobName[];

/** The dead-letter queue of a job: where it lands after its last retry failed. */
export const deadLetterQueue = (name: JobName) => `${name}.dead`;
