import { createHash, createHmac } from 'node:crypto';

/** Header names of a delivery (documented in docs/webhooks.md). */
export const WEBHOOK_HEADERS = {
  eventId: 'X-Parley-Event-Id',
  eventType: 'X-Parley-Event-Type',
  deliveryId: 'X-Parley-Delivery-Id',
  timestamp: 'X-Parley-Timestamp',
  signature: 'X-Parley-Signature',
} as const;

/**
 * `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`: the timestamp (Unix seconds) is signed
 * with the body, so a receiver can refuse old requests (replays) without trusting an unsigned header.
 */
export function signWebhook(secret: string | Buffer, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * The delivery id of an event for an endpoint: a UUIDv7 whose time is the event's (ids sort by
 * time) and whose other bits hash (event, endpoint). Recording the same event twice for an
 * endpoint gives one delivery and one job.
 */
export function deliveryIdFor(eventId: string, webhookId: string): string {
  const time = eventId.replace(/-/g, '').slice(0, 12);
  const hash = createHash('sha256').update(`${eventId}:${webhookId}`).digest('hex');
  const variant = ((Number.parseInt(hash[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hash.slice(0, 3)}-${variant}${hash.slice(4, 7)}-${hash.slice(7, 19)}`;
}
