import { z } from 'zod';
import { CustomData, IsoDate } from './common.js';
import { EVENT_NAMES } from './events.js';
import { Attachment } from './messages.js';

/**
 * Which events an endpoint receives: an event name (`message.new`), every event of a group
 * (`message.*`) or everything (`*`).
 */
export const WebhookEventFilter = z
  .string()
  .min(1)
  .max(100)
  .refine(
    (value) =>
      value === '*' ||
      (EVENT_NAMES as string[]).includes(value) ||
      (value.endsWith('.*') && EVENT_NAMES.some((name) => name.startsWith(value.slice(0, -1)))),
    'must be an event name (message.new), a group (message.*) or *',
  );

/** True when `filters` selects the event named `type`. */
export function webhookFilterMatches(filters: readonly string[], type: string): boolean {
  return filters.some(
    (filter) =>
      filter === '*' || filter === type || (filter.endsWith('.*') && type.startsWith(filter.slice(0, -1))),
  );
}

export const WebhookUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2048);

export const Webhook = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string().nullable(),
  /** Paused endpoints receive nothing (events are not queued for them). */
  active: z.boolean(),
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type Webhook = z.infer<typeof Webhook>;

/** Returned once, on creation: the signing secret is never shown again. */
export const WebhookWithSecret = Webhook.extend({ secret: z.string() });

export const CreateWebhookBody = z
  .object({
    url: WebhookUrl,
    events: z.array(WebhookEventFilter).min(1).max(64),
    description: z.string().max(500).nullable().optional(),
    active: z.boolean().optional(),
  })
  .strict();

export const UpdateWebhookBody = z
  .object({
    url: WebhookUrl.optional(),
    events: z.array(WebhookEventFilter).min(1).max(64).optional(),
    description: z.string().max(500).nullable().optional(),
    active: z.boolean().optional(),
  })
  .strict();

export const WebhookParams = z.object({ webhook_id: z.uuid() }).strict();
export const WebhookDeliveryParams = z.object({ webhook_id: z.uuid(), delivery_id: z.uuid() }).strict();

export const WebhookDeliveryStatus = z.enum(['pending', 'retrying', 'succeeded', 'failed']);

/** One event sent to one endpoint, with the outcome of its latest attempt. */
export const WebhookDelivery = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  /** pending (queued), retrying (an attempt failed, another is scheduled), succeeded, failed (gave up). */
  status: WebhookDeliveryStatus,
  attempts: z.number().int(),
  /** HTTP status of the latest attempt; null when no answer came (timeout, refused connection). */
  response_status: z.number().int().nullable(),
  latency_ms: z.number().int().nullable(),
  error: z.string().nullable(),
  /** Set on a manual redelivery: the delivery it repeats. */
  redelivery_of: z.string().nullable(),
  created_at: IsoDate,
  last_attempt_at: IsoDate.nullable(),
  completed_at: IsoDate.nullable(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const WebhookDeliveriesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(25),
    /** Cursor: deliveries older than this delivery id. */
    id_lt: z.uuid().optional(),
    status: WebhookDeliveryStatus.optional(),
  })
  .strict();

/**
 * What the before-send hook receives (POST, signed like webhooks but with the app's api secret;
 * docs/webhooks.md#before-send-hook): the message as the sender wrote it, not yet stored.
 */
export const BeforeSendHookRequest = z.object({
  type: z.literal('message.before_send'),
  /** A new id per request (not a message id: the message does not exist yet). */
  id: z.string(),
  app_id: z.string(),
  created_at: IsoDate,
  cid: z.string(),
  user_id: z.string(),
  message: z.object({
    text: z.string(),
    custom: CustomData,
    attachments: z.array(Attachment),
    mentioned_user_ids: z.array(z.string()),
    parent_id: z.string().nullable(),
    reply_to_id: z.string().nullable(),
    client_msg_id: z.string().nullable(),
  }),
});
export type BeforeSendHookRequest = z.infer<typeof BeforeSendHookRequest>;

/**
 * The hook's answer (JSON, HTTP 2xx): approve as is, reject with a reason shown to the sender
 * (error MESSAGE_REJECTED), or rewrite text / custom / attachments (fields left out stay as sent).
 */
export const BeforeSendHookResponse = z.discriminatedUnion('action', [
  z.object({ action: z.literal('approve') }).strict(),
  z.object({ action: z.literal('reject'), reason: z.string().min(1).max(500) }).strict(),
  z
    .object({
      action: z.literal('rewrite'),
      message: z
        .object({
          text: z.string().max(20_000).optional(),
          custom: CustomData.optional(),
          attachments: z.array(Attachment).max(30).optional(),
        })
        .strict(),
    })
    .strict(),
]);
export type BeforeSendHookResponse = z.infer<typeof BeforeSendHookResponse>;
