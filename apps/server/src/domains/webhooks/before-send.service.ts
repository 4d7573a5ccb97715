import {
  AppSettings,
  type BeforeSendHookConfig,
  type BeforeSendHookRequest,
  BeforeSendHookResponse,
  type SendMessageBody,
} from '@parley/protocol';
import type { Config } from '../../platform/config.js';
import type { RequestContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { outboundRequest } from '../../platform/outbound.js';
import { signWebhook, WEBHOOK_HEADERS } from './webhooks.signing.js';

/** What happened to one message at the hook (for logs and tests). */
export type BeforeSendOutcome =
  | { kind: 'none' }
  | { kind: 'approved' }
  | { kind: 'rewritten' }
  | { kind: 'failed_open'; error: string };

/**
 * The synchronous before-message-send hook of an app (settings.before_send_hook). `run` is called
 * by MessagesService.send before its transaction (no row lock or connection is held while the
 * app's endpoint thinks):
 * - no hook configured → the body as is;
 * - `approve` → the body as is; `rewrite` → text / custom / attachments replaced;
 * - `reject` → AppError MESSAGE_REJECTED with the endpoint's reason in message and details.reason;
 * - timeout, network error, non-2xx or an answer that is not valid → the app's failure_policy:
 *   fail_open sends the message unchanged, fail_closed refuses it with BEFORE_SEND_HOOK_FAILED.
 *
 * The request is signed like a webhook (X-Parley-Timestamp, X-Parley-Signature: v1=HMAC-SHA256 over
 * `timestamp.body`), keyed with the app's api secret: the app verifies it with that secret, so no
 * extra secret needs storing or rotating. Outbound URLs pass the SSRF guard.
 */
export class BeforeSendHookService {
  constructor(
    private readonly config: Pick<Config, 'OUTBOUND_ALLOW_PRIVATE'>,
    private readonly logger: Logger,
  ) {}

  /** The hook of an app, or undefined. */
  static hookOf(ctx: RequestContext): BeforeSendHookConfig | undefined {
    const parsed = AppSettings.safeParse(ctx.app.settings);
    return parsed.success ? (parsed.data.before_send_hook ?? undefined) : undefined;
  }

  async run(
    ctx: RequestContext,
    cid: string,
    userId: string,
    body: SendMessageBody,
  ): Promise<{ body: SendMessageBody; outcome: BeforeSendOutcome }> {
    const hook = BeforeSendHookService.hookOf(ctx);
    if (!hook) return { body, outcome: { kind: 'none' } };
    const request: BeforeSendHookRequest = {
      type: 'message.before_send',
      id: uuidv7(),
      app_id: ctx.app.id,
      created_at: new Date().toISOString(),
      cid,
      user_id: userId,
      message: {
        text: body.text,
        custom: body.custom ?? {},
        attachments: body.attachments,
        mentioned_user_ids: body.mentioned_user_ids,
        parent_id: body.parent_id ?? null,
        reply_to_id: body.reply_to_id ?? null,
        client_msg_id: body.client_msg_id ?? null,
      },
    };
    const json = JSON.stringify(request);
    const timestamp = Math.floor(Date.now() / 1000);
    let answer: BeforeSendHookResponse;
    try {
      const response = await outboundRequest({
        url: hook.url,
        body: json,
        timeoutMs: hook.timeout_ms,
        allowPrivate: this.config.OUTBOUND_ALLOW_PRIVATE,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Parley-Hooks/1',
          [WEBHOOK_HEADERS.eventId]: request.id,
          [WEBHOOK_HEADERS.eventType]: request.type,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          // HMAC keyed with SHA-256(api secret) equals HMAC keyed with the secret (ADR 0002).
          [WEBHOOK_HEADERS.signature]: signWebhook(ctx.app.secret_hash, timestamp, json),
        },
      });
      if (response.status < 200 || response.status >= 300) throw new Error(`HTTP ${response.status}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(response.body);
      } catch {
        throw new Error('the answer is not JSON');
      }
      const result = BeforeSendHookResponse.safeParse(parsed);
      if (!result.success) throw new Error(`the answer is not valid: ${result.error.issues[0]?.message}`);
      answer = result.data;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(
        { app_id: ctx.app.id, cid, err: reason, policy: hook.failure_policy },
        'before-send hook failed',
      );
      if (hook.failure_policy === 'fail_closed') {
        throw new AppError('BEFORE_SEND_HOOK_FAILED', undefined, { reason });
      }
      return { body, outcome: { kind: 'failed_open', error: reason } };
    }

    if (answer.action === 'reject') {
      throw new AppError('MESSAGE_REJECTED', answer.reason, { reason: answer.reason });
    }
    if (answer.action === 'approve') return { body, outcome: { kind: 'approved' } };
    const { text, custom, attachments } = answer.message;
    return {
      body: {
        ...body,
        ...(text !== undefined ? { text } : {}),
        ...(custom !== undefined ? { custom } : {}),
        ...(attachments !== undefined ? { attachments } : {}),
      },
      outcome: { kind: 'rewritten' },
    };
  }
}
