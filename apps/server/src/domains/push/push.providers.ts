import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { PushProvider, WebPushPayload } from '@parley/protocol';
import webpush from 'web-push';
import type { Config } from '../../platform/config.js';
import { guardedLookup, isPrivateAddress, OutboundBlockedError } from '../../platform/outbound.js';

/** A device as a provider needs it. */
export interface PushTarget {
  id: string;
  provider: PushProvider;
  /** web_push: the endpoint URL; onesignal: the subscription id. */
  token: string;
  p256dh: string | null;
  auth: string | null;
}

/** One push: what the user sees, the app badge, deep-link data, and an id for dedup. */
export interface PushMessage {
  title: string;
  body: string;
  badge: number;
  data: WebPushPayload['data'];
  /** Stable across retries of the same bundle: providers that support it dedup by it. */
  bundle_id: string;
}

export interface PushSendResult {
  /** Devices the provider accepted the push for. */
  delivered: string[];
  /** Devices the provider says are gone for good (unsubscribed, expired, unknown): remove them. */
  invalid: string[];
  /** Devices that failed for now (network, 429, 5xx): worth a retry. */
  failed: { id: string; error: string }[];
}

/**
 * A push service behind one interface.
 *
 * Contract: `send` never throws for a device-level problem; it sorts every target into exactly one
 * of delivered / invalid / failed. Invalid means "will never work again" (Web Push 404/410,
 * OneSignal invalid or unsubscribed ids): the caller removes those devices. Failed means
 * "may work later": the caller retries the bundle. Providers dedup a retried bundle where they can
 * (OneSignal `idempotency_key`; Web Push `Topic` collapses an undelivered duplicate).
 */
export interface PushProviderClient {
  readonly provider: PushProvider;
  send(targets: readonly PushTarget[], message: PushMessage): Promise<PushSendResult>;
}

// ---------------------------------------------------------------- Web Push (VAPID, RFC 8291/8292)

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/**
 * Web Push: the payload is encrypted for each subscription (aes128gcm, RFC 8291) and signed with
 * the server's VAPID key (RFC 8292) by the `web-push` package; the request itself goes through the
 * SSRF guard (endpoints are chosen by clients), with a time limit.
 */
export class WebPushProvider implements PushProviderClient {
  readonly provider = 'web_push' as const;
  constructor(
    private readonly vapid: VapidKeys,
    private readonly options: { timeoutMs: number; allowPrivate: boolean; ttlSeconds?: number },
  ) {}

  async send(targets: readonly PushTarget[], message: PushMessage): Promise<PushSendResult> {
    const result: PushSendResult = { delivered: [], invalid: [], failed: [] };
    const payload: WebPushPayload = {
      title: message.title,
      body: message.body,
      badge: message.badge,
      data: message.data,
    };
    const body = JSON.stringify(payload);
    // Topic: at most 32 base64url characters; a retry of this bundle replaces an undelivered copy.
    const topic = createHash('sha256').update(message.bundle_id).digest('base64url').slice(0, 32);
    await Promise.all(
      targets.map(async (target) => {
        if (!target.p256dh || !target.auth) {
          result.invalid.push(target.id);
          return;
        }
        try {
          const details = webpush.generateRequestDetails(
            { endpoint: target.token, keys: { p256dh: target.p256dh, auth: target.auth } },
            body,
            {
              vapidDetails: this.vapid,
              TTL: this.options.ttlSeconds ?? 24 * 3600,
              contentEncoding: 'aes128gcm',
              urgency: 'normal',
              topic,
            },
          );
          const status = await rawRequest(
            details.endpoint,
            details.method,
            details.headers as Record<string, string | number>,
            details.body ?? undefined,
            this.options,
          );
          if (status >= 200 && status < 300) result.delivered.push(target.id);
          // 404: unknown subscription, 410: unsubscribed/expired (RFC 8030 §7.3).
          else if (status === 404 || status === 410) result.invalid.push(target.id);
          // Other 4xx (bad key, too large): will not heal by retrying; 413/429/5xx may.
          else if (status >= 400 && status < 500 && status !== 408 && status !== 413 && status !== 429)
            result.invalid.push(target.id);
          else result.failed.push({ id: target.id, error: `HTTP ${status}` });
        } catch (error) {
          // An endpoint on a private network is never allowed (OUTBOUND_ALLOW_PRIVATE): drop it.
          if (error instanceof OutboundBlockedError) {
            result.invalid.push(target.id);
            return;
          }
          // A malformed subscription (bad key length) can never be encrypted for: drop it.
          if (
            error instanceof Error &&
            /p256dh|auth|subscription/i.test(error.message) &&
            !(error as { code?: string }).code
          )
            result.invalid.push(target.id);
          else result.failed.push({ id: target.id, error: describe(error) });
        }
      }),
    );
    return result;
  }
}

/** One request with a binary body through the SSRF guard; resolves with the status. */
function rawRequest(
  endpoint: string,
  method: string,
  headers: Record<string, string | number>,
  body: Buffer | undefined,
  options: { timeoutMs: number; allowPrivate: boolean },
): Promise<number> {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return Promise.reject(new Error(`unsupported protocol ${url.protocol}`));
  if (isIP(host) && !options.allowPrivate && isPrivateAddress(host))
    return Promise.reject(new OutboundBlockedError(host, host));
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method,
      headers: { ...headers, ...(body ? { 'content-length': body.length } : {}) },
      lookup: guardedLookup(options.allowPrivate),
      agent: false,
      timeout: options.timeoutMs,
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
}

// ---------------------------------------------------------------- OneSignal

/**
 * OneSignal's REST API (`POST {base}/notifications`, `Authorization: Key <REST API key>`), one
 * request per bundle for all of the user's OneSignal subscriptions (`include_subscription_ids`).
 *
 * Answers: 200 `{ id, errors: { invalid_player_ids: [...] } }` → those ids are gone; 200
 * `{ id: "", errors: ["All included players are not subscribed"] }` → every id is gone; other
 * 4xx → the request is wrong (counted as failed, not retried forever: the job's retry limit ends
 * it); 429/5xx/network → failed (retried).
 */
export class OneSignalProvider implements PushProviderClient {
  readonly provider = 'onesignal' as const;
  constructor(
    private readonly options: { baseUrl: string; appId: string; apiKey: string; timeoutMs: number },
  ) {}

  async send(targets: readonly PushTarget[], message: PushMessage): Promise<PushSendResult> {
    const result: PushSendResult = { delivered: [], invalid: [], failed: [] };
    if (targets.length === 0) return result;
    const byToken = new Map(targets.map((t) => [t.token, t.id]));
    const body = {
      app_id: this.options.appId,
      target_channel: 'push',
      include_subscription_ids: [...byToken.keys()],
      headings: { en: message.title },
      contents: { en: message.body },
      data: message.data,
      // Retries of the same bundle are deduplicated by OneSignal (idempotent for 30 days).
      idempotency_key: message.bundle_id,
      ios_badgeType: 'SetTo',
      ios_badgeCount: message.badge,
      collapse_id: message.data.cid.slice(0, 64),
    };
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl.replace(/\/+$/, '')}/notifications`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          accept: 'application/json',
          authorization: `Key ${this.options.apiKey}`,
        },
        body: JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      for (const t of targets) result.failed.push({ id: t.id, error: describe(error) });
      return result;
    }
    const text = await response.text().catch(() => '');
    let answer: { id?: string; errors?: unknown } = {};
    try {
      answer = text ? (JSON.parse(text) as typeof answer) : {};
    } catch {
      // not JSON: judged by status below
    }
    if (!response.ok) {
      const error = `OneSignal HTTP ${response.status}: ${text.slice(0, 200)}`;
      for (const t of targets) result.failed.push({ id: t.id, error });
      return result;
    }
    const invalidTokens = new Set<string>();
    const errors = answer.errors;
    if (Array.isArray(errors)) {
      if (errors.some((e) => typeof e === 'string' && /not subscribed/i.test(e)))
        for (const token of byToken.keys()) invalidTokens.add(token);
    } else if (errors && typeof errors === 'object') {
      const lists = errors as Record<string, unknown>;
      for (const key of ['invalid_player_ids', 'invalid_subscription_ids']) {
        const ids = lists[key];
        if (Array.isArray(ids)) for (const id of ids) if (typeof id === 'string') invalidTokens.add(id);
      }
    }
    for (const [token, id] of byToken) {
      if (invalidTokens.has(token)) result.invalid.push(id);
      else if (answer.id) result.delivered.push(id);
      else result.failed.push({ id, error: `OneSignal created no notification: ${text.slice(0, 200)}` });
    }
    return result;
  }
}

// ---------------------------------------------------------------- registry

/** The providers this deployment can send through (by config); APNs/FCM tokens are kept, not sent. */
export function createPushProviders(
  config: Pick<
    Config,
    | 'VAPID_SUBJECT'
    | 'ONESIGNAL_BASE_URL'
    | 'ONESIGNAL_APP_ID'
    | 'ONESIGNAL_API_KEY'
    | 'PUSH_TIMEOUT_MS'
    | 'OUTBOUND_ALLOW_PRIVATE'
  >,
  vapid: { publicKey: string; privateKey: string } | undefined,
): Partial<Record<PushProvider, PushProviderClient>> {
  const providers: Partial<Record<PushProvider, PushProviderClient>> = {};
  if (vapid) {
    providers.web_push = new WebPushProvider(
      { ...vapid, subject: config.VAPID_SUBJECT },
      { timeoutMs: config.PUSH_TIMEOUT_MS, allowPrivate: config.OUTBOUND_ALLOW_PRIVATE },
    );
  }
  if (config.ONESIGNAL_APP_ID && config.ONESIGNAL_API_KEY) {
    providers.onesignal = new OneSignalProvider({
      baseUrl: config.ONESIGNAL_BASE_URL,
      appId: config.ONESIGNAL_APP_ID,
      apiKey: config.ONESIGNAL_API_KEY,
      timeoutMs: config.PUSH_TIMEOUT_MS,
    });
  }
  return providers;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${error.message} (${cause.code})` : error.message;
}
