import nodemailer, { type Transporter } from 'nodemailer';
import { appsRepository } from '../domains/apps/apps.repository.js';
import { emailRepository } from '../domains/email/email.repository.js';
import { unsubscribeUrl } from '../domains/email/email.service.js';
import {
  digestEmail,
  inviteEmail,
  mentionEmail,
  type RenderedEmail,
} from '../domains/email/email.templates.js';
import { DEFAULT_NOTIFY_PREFERENCES, decideNotify } from '../domains/push/notify-rules.js';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { AppRow } from '../platform/db.types.js';
import type { Logger } from '../platform/logger.js';
import type { JobRun, QueuePolicy } from './boss.js';

/** Is a user connected on a socket right now? (The realtime broker's presence.) */
export interface Presence {
  isOnline(appId: string, userId: string): Promise<boolean>;
}

/** Without presence information (a worker-only process without a broker) users count as offline. */
export const NO_PRESENCE: Presence = { isOnline: async () => false };

type EmailJobConfig = Pick<
  Config,
  | 'SMTP_URL'
  | 'EMAIL_FROM'
  | 'EMAIL_MENTION_DELAY_SECONDS'
  | 'EMAIL_DIGEST_DELAY_SECONDS'
  | 'PARLEY_PUBLIC_URL'
  | 'HOST'
  | 'PORT'
>;

export const emailPolicy = (): QueuePolicy => ({
  retryLimit: 8,
  retryDelaySeconds: 30,
  expireInSeconds: 120,
});

/** Messages listed in a digest (the total counts up to DIGEST_SCAN). */
const DIGEST_LISTED = 10;
const DIGEST_SCAN = 100;

/**
 * One SMTP transport per process (nodemailer, SMTP_URL). `send` resolves once the server accepted
 * the message; it throws on refusal or network errors, so the job is retried.
 */
export class Mailer {
  private transport: Transporter | undefined;
  constructor(private readonly config: Pick<Config, 'SMTP_URL' | 'EMAIL_FROM'>) {}

  async send(to: string, email: RenderedEmail, headers: Record<string, string> = {}) {
    if (!this.config.SMTP_URL) throw new Error('SMTP_URL is not set');
    this.transport ??= nodemailer.createTransport(this.config.SMTP_URL);
    await this.transport.sendMail({
      from: this.config.EMAIL_FROM,
      to,
      subject: email.subject,
      text: email.text,
      html: email.html,
      headers,
    });
  }

  close() {
    this.transport?.close();
    this.transport = undefined;
  }
}

interface EmailDeps {
  db: Db;
  config: EmailJobConfig;
  logger: Logger;
  mailer: Mailer;
  presence: Presence;
}

/**
 * At least once, deduplicated: a row in email_sends (keyed by what the email is about) is written
 * after SMTP accepted the message and checked before sending. Only a worker dying between the two
 * sends an email twice.
 */
async function deliver(
  deps: EmailDeps,
  app: AppRow,
  key: string,
  kind: string,
  userId: string,
  to: string,
  email: RenderedEmail,
  unsubscribe?: string,
) {
  await deps.mailer.send(to, email, unsubscribe ? { 'List-Unsubscribe': `<${unsubscribe}>` } : {});
  await emailRepository.recordSent(deps.db, app.id, key, userId, kind);
}

export function emailMentionHandler(deps: EmailDeps) {
  return async (job: JobRun<'email.mention'>) => {
    const { app_id: appId, user_id: userId, message_id: messageId } = job.data;
    const key = `mention:${messageId}:${userId}`;
    if (await emailRepository.wasSent(deps.db, appId, key)) return;
    const prefs = await emailRepository.find(deps.db, appId, userId);
    if (!prefs?.email || !prefs.mentions || prefs.unsubscribed_at) return;
    const facts = await emailRepository.mentionFacts(deps.db, appId, messageId, userId);
    // Gone, not a member any more, or read since.
    if (!facts || facts.member_read_seq === null || facts.member_read_seq >= facts.seq) return;
    const decision = decideNotify({
      recipient_id: userId,
      message: {
        user_id: facts.user_id,
        type: facts.type,
        shadowed: facts.shadowed,
        deleted: facts.deleted,
        mentioned_user_ids: facts.mentioned_user_ids,
        mentioned_channel: facts.mentioned_channel,
      },
      direct: facts.direct,
      channel_muted: facts.channel_muted,
      sender_muted: facts.sender_muted,
      watching: false,
      preferences: DEFAULT_NOTIFY_PREFERENCES,
      now: new Date(),
    });
    if (!decision.notify) return;
    if (await deps.presence.isOnline(appId, userId)) return;
    const app = await appsRepository.findById(deps.db, appId);
    if (!app) return;
    const unsubscribe = unsubscribeUrl(deps.config, app, userId, 'mentions');
    const email = mentionEmail({
      appName: app.name,
      authorName: facts.author_name ?? facts.user_id,
      channelName: facts.channel_name ?? facts.cid,
      text: facts.text,
      unsubscribeUrl: unsubscribe,
    });
    await deliver(deps, app, key, 'mention', userId, prefs.email, email, unsubscribe);
  };
}

export function emailDigestHandler(deps: EmailDeps) {
  return async (job: JobRun<'email.digest'>) => {
    const { app_id: appId, user_id: userId, window } = job.data;
    const key = `digest:${userId}:${window}`;
    if (await emailRepository.wasSent(deps.db, appId, key)) return;
    const prefs = await emailRepository.find(deps.db, appId, userId);
    if (!prefs?.email || !prefs.digest || prefs.unsubscribed_at) return;
    if (await deps.presence.isOnline(appId, userId)) return;
    const unread = await emailRepository.unreadForDigest(deps.db, appId, userId, DIGEST_SCAN);
    if (unread.length === 0) return;
    const app = await appsRepository.findById(deps.db, appId);
    if (!app) return;
    const unsubscribe = unsubscribeUrl(deps.config, app, userId, 'digest');
    const email = digestEmail({
      appName: app.name,
      total: unread.length,
      messages: unread.slice(0, DIGEST_LISTED).map((m) => ({
        channelName: m.channel_name ?? m.cid,
        authorName: m.author_name ?? m.user_id,
        text: m.text,
      })),
      unsubscribeUrl: unsubscribe,
    });
    await deliver(deps, app, key, 'digest', userId, prefs.email, email, unsubscribe);
  };
}

export function emailInviteHandler(deps: EmailDeps) {
  return async (job: JobRun<'email.invite'>) => {
    const { app_id: appId, key } = job.data;
    const sendKey = `invite:${key}`;
    if (await emailRepository.wasSent(deps.db, appId, sendKey)) return;
    const app = await appsRepository.findById(deps.db, appId);
    if (!app) return;
    const email = inviteEmail({
      appName: app.name,
      inviterName: job.data.inviter_name,
      link: job.data.link,
      note: job.data.note,
    });
    await deliver(deps, app, sendKey, 'invite', job.data.to, job.data.to, email);
  };
}
