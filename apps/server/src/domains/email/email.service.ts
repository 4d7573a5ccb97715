import { createHmac } from 'node:crypto';
import type { EmailPreferences, ParleyEvent, UpdateEmailPreferencesBody } from '@parley/protocol';
import type { z } from 'zod';
import type { JobSystem } from '../../jobs/boss.js';
import type { Config } from '../../platform/config.js';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import type { AppRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { constantTimeEqual } from '../../platform/ids.js';
import { appsRepository } from '../apps/apps.repository.js';
import { usersRepository } from '../users/users.repository.js';
import { type EmailPreferencesRow, emailRepository } from './email.repository.js';

export type UnsubscribeKind = 'mentions' | 'digest' | 'all';

type EmailConfig = Pick<
  Config,
  | 'SMTP_URL'
  | 'EMAIL_MENTION_DELAY_SECONDS'
  | 'EMAIL_DIGEST_DELAY_SECONDS'
  | 'PARLEY_PUBLIC_URL'
  | 'HOST'
  | 'PORT'
>;

const b64 = (value: Buffer | string) => Buffer.from(value).toString('base64url');

function toDto(userId: string, row: EmailPreferencesRow | undefined): EmailPreferences {
  return {
    user_id: userId,
    email: row?.email ?? null,
    mentions: row?.mentions ?? true,
    digest: row?.digest ?? true,
    unsubscribed_at: row?.unsubscribed_at?.toISOString() ?? null,
    updated_at: row?.updated_at.toISOString() ?? null,
  };
}

/** The digest window a moment falls in: one digest job per user and window. */
export function digestWindow(now: number, delaySeconds: number): string {
  return String(Math.floor(now / 1000 / Math.max(delaySeconds, 60)));
}

/** The public unsubscribe link of an email (PARLEY_PUBLIC_URL, else the listening address). */
export function unsubscribeUrl(
  config: Pick<Config, 'PARLEY_PUBLIC_URL' | 'HOST' | 'PORT'>,
  app: AppRow,
  userId: string,
  kind: UnsubscribeKind,
): string {
  const base = config.PARLEY_PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`;
  return `${base.replace(/\/$/, '')}/email/unsubscribe?token=${EmailService.unsubscribeToken(app, userId, kind)}`;
}

/**
 * Email: per-user preferences, signed unsubscribe links, and the outbox that turns committed events
 * into delayed email jobs (jobs/email.ts sends them). Nothing is enqueued unless SMTP_URL is set.
 */
export class EmailService {
  constructor(
    private readonly db: Db,
    private readonly jobs: JobSystem,
    private readonly config: EmailConfig,
  ) {}

  get enabled() {
    return this.config.SMTP_URL !== undefined;
  }

  async getPreferences(ctx: RequestContext, requested: string | undefined): Promise<EmailPreferences> {
    const userId = actingUserId(ctx, requested);
    await this.requireUser(ctx, userId);
    return toDto(userId, await emailRepository.find(this.db, ctx.app.id, userId));
  }

  async updatePreferences(
    ctx: RequestContext,
    body: z.infer<typeof UpdateEmailPreferencesBody>,
  ): Promise<EmailPreferences> {
    const userId = actingUserId(ctx, body.user_id);
    await this.requireUser(ctx, userId);
    const { user_id: _ignored, ...patch } = body;
    return toDto(userId, await emailRepository.upsert(this.db, ctx.app.id, userId, patch));
  }

  /** A signed, unguessable token naming the app, the user and what to turn off. */
  static unsubscribeToken(app: AppRow, userId: string, kind: UnsubscribeKind): string {
    const payload = b64(JSON.stringify({ a: app.id, u: userId, k: kind }));
    return `${payload}.${b64(sign(app.secret_hash, payload))}`;
  }

  /** The public unsubscribe link: checks the signature with the app's key and records the opt-out. */
  async unsubscribe(token: string): Promise<{ user_id: string; unsubscribed: UnsubscribeKind }> {
    const invalid = () => new AppError('EMAIL_UNSUBSCRIBE_TOKEN_INVALID', undefined, { field: 'token' });
    const [payload, signature, extra] = token.split('.');
    if (!payload || !signature || extra !== undefined) throw invalid();
    let claims: { a?: unknown; u?: unknown; k?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw invalid();
    }
    const { a: appId, u: userId, k: kind } = claims;
    if (typeof appId !== 'string' || typeof userId !== 'string') throw invalid();
    if (kind !== 'mentions' && kind !== 'digest' && kind !== 'all') throw invalid();
    const app = await appsRepository.findById(this.db, appId);
    if (!app) throw invalid();
    if (!constantTimeEqual(Buffer.from(signature, 'base64url'), sign(app.secret_hash, payload)))
      throw invalid();
    if (!(await usersRepository.find(this.db, appId, userId))) throw invalid();
    await emailRepository.unsubscribe(this.db, appId, userId, kind);
    return { user_id: userId, unsubscribed: kind };
  }

  /**
   * The outbox (a transactional consumer of the event bus): inside the write's transaction,
   * - `notification.mention` → an `email.mention` job, delayed EMAIL_MENTION_DELAY_SECONDS, for a
   *   mentioned user who wants mention emails (it checks "still unread, offline" when it runs);
   * - `message.new` → one `email.digest` job per member who wants digests and per digest window,
   *   delayed EMAIL_DIGEST_DELAY_SECONDS (later messages of the window join the same job).
   */
  async enqueueForEvents(
    tx: Tx,
    events: readonly ParleyEvent[],
    afterCommit: (callback: () => void) => void,
  ) {
    if (!this.enabled) return;
    const mentions: { app_id: string; user_id: string; message_id: string }[] = [];
    const digests = new Map<string, { app_id: string; user_id: string; window: string }>();
    const window = digestWindow(Date.now(), this.config.EMAIL_DIGEST_DELAY_SECONDS);
    for (const event of events) {
      if (event.type === 'notification.mention') {
        const [wanted] = await emailRepository.wantingMentions(tx, event.app_id, [event.user_id]);
        if (wanted) mentions.push({ app_id: event.app_id, user_id: wanted, message_id: event.message.id });
      } else if (event.type === 'message.new') {
        for (const userId of await emailRepository.digestRecipients(
          tx,
          event.app_id,
          event.cid,
          event.message.user_id,
        )) {
          digests.set(`${event.app_id}:${userId}`, { app_id: event.app_id, user_id: userId, window });
        }
      }
    }
    await this.jobs.sendMany(
      tx,
      'email.mention',
      mentions.map((data) => ({
        data,
        idempotencyKey: `${data.app_id}:${data.message_id}:${data.user_id}`,
        startAfterSeconds: this.config.EMAIL_MENTION_DELAY_SECONDS,
      })),
    );
    await this.jobs.sendMany(
      tx,
      'email.digest',
      [...digests.values()].map((data) => ({
        data,
        idempotencyKey: `${data.app_id}:${data.user_id}:${data.window}`,
        startAfterSeconds: this.config.EMAIL_DIGEST_DELAY_SECONDS,
      })),
    );
    if (mentions.length > 0 && this.config.EMAIL_MENTION_DELAY_SECONDS === 0)
      afterCommit(() => this.jobs.wake('email.mention'));
    if (digests.size > 0 && this.config.EMAIL_DIGEST_DELAY_SECONDS === 0)
      afterCommit(() => this.jobs.wake('email.digest'));
  }

  /**
   * Queues an invitation email (for the accounts flow): pass the transaction that records the
   * invitation, so the email is sent if and only if it commits. `key` makes it idempotent (e.g. the
   * invitation id). Does nothing when SMTP_URL is not set; returns whether it queued.
   */
  async sendInvite(
    tx: Executor,
    app: AppRow,
    invite: { key: string; to: string; inviter_name: string | null; link: string; note?: string | null },
  ): Promise<boolean> {
    if (!this.enabled) return false;
    await this.jobs.send(
      tx,
      'email.invite',
      { app_id: app.id, ...invite, note: invite.note ?? null },
      { idempotencyKey: `${app.id}:${invite.key}` },
    );
    return true;
  }

  private async requireUser(ctx: RequestContext, userId: string) {
    if (!(await usersRepository.find(this.db, ctx.app.id, userId))) {
      throw new AppError('USER_NOT_FOUND', undefined, { field: 'user_id' });
    }
  }
}

function sign(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(`parley-unsubscribe.${payload}`).digest();
}
