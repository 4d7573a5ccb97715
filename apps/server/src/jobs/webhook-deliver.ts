import { webhooksRepository } from '../domains/webhooks/webhooks.repository.js';
import { signWebhook, WEBHOOK_HEADERS } from '../domains/webhooks/webhooks.signing.js';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import { outboundRequest } from '../platform/outbound.js';
import type { JobRun, QueuePolicy } from './boss.js';

type WebhookConfig = Pick<
  Config,
  'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_RETRY_LIMIT' | 'WEBHOOK_RETRY_DELAY_SECONDS' | 'OUTBOUND_ALLOW_PRIVATE'
>;

/** Retries with backoff; a job still running a few seconds past the request timeout is stuck (its worker died). */
export const webhookDeliverPolicy = (config: WebhookConfig): QueuePolicy => ({
  retryLimit: config.WEBHOOK_RETRY_LIMIT,
  retryDelaySeconds: config.WEBHOOK_RETRY_DELAY_SECONDS,
  expireInSeconds: Math.ceil(config.WEBHOOK_TIMEOUT_MS / 1000) + 3,
});

/** How much of a failed answer's body the delivery log keeps. */
const ERROR_BODY_CHARS = 200;

/**
 * One attempt of one webhook delivery: POST the event with its signature, record the outcome in
 * the delivery log. A non-2xx answer, a timeout or a network error throws, so the job system
 * retries it (or dead-letters it after the last attempt, marked `failed` in the log).
 *
 * At least once: a worker that dies after the POST but before recording it sends the event again;
 * receivers dedup by event id (docs/webhooks.md).
 */
export function webhookDeliverHandler(deps: { db: Db; config: WebhookConfig; logger: Logger }) {
  const { db, config } = deps;
  return async (job: JobRun<'webhook.deliver'>) => {
    const { app_id: appId, delivery_id: deliveryId } = job.data;
    const delivery = await webhooksRepository.findDelivery(db, appId, deliveryId);
    // Gone with its endpoint, or already delivered by an attempt whose completion was lost.
    if (!delivery || delivery.status === 'succeeded') return;
    const endpoint = await webhooksRepository.findEndpoint(db, appId, delivery.webhook_id);
    if (!endpoint) return;
    if (!endpoint.active) {
      await webhooksRepository.finishAttempt(db, appId, deliveryId, {
        status: 'failed',
        response_status: null,
        latency_ms: null,
        error: 'the endpoint was paused before this delivery was sent',
      });
      return;
    }

    await webhooksRepository.startAttempt(db, appId, deliveryId);
    const body = delivery.body;
    const timestamp = Math.floor(Date.now() / 1000);
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await outboundRequest({
        url: endpoint.url,
        body,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        allowPrivate: config.OUTBOUND_ALLOW_PRIVATE,
        maxBodyChars: ERROR_BODY_CHARS,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Parley-Webhooks/1',
          [WEBHOOK_HEADERS.eventId]: delivery.event_id,
          [WEBHOOK_HEADERS.eventType]: delivery.event_type,
          [WEBHOOK_HEADERS.deliveryId]: delivery.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(endpoint.secret, timestamp, body),
        },
      });
      status = response.status;
      if (response.status < 200 || response.status >= 300) {
        error = `HTTP ${response.status}${response.body ? `: ${response.body}` : ''}`;
      }
    } catch (err) {
      error =
        err instanceof Error && err.name === 'TimeoutError'
          ? `no answer within ${config.WEBHOOK_TIMEOUT_MS} ms`
          : describe(err);
    }
    const latency = Math.round(performance.now() - started);

    await webhooksRepository.finishAttempt(db, appId, deliveryId, {
      status: error === null ? 'succeeded' : job.final ? 'failed' : 'retrying',
      response_status: status,
      latency_ms: latency,
      error,
    });
    if (error !== null) throw new Error(`webhook delivery ${deliveryId} to ${endpoint.url} failed: ${error}`);
  };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code
    ? `${err.message} (${cause.code})`
    : cause?.message
      ? `${err.message}: ${cause.message}`
      : err.message;
}
