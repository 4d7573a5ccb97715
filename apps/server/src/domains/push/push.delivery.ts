import type { PushProvider } from '@parley/protocol';
import type { JobSystem } from '../../jobs/boss.js';
import type { Db } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { ChannelWatchers } from '../../realtime/watchers.js';
import { readsRepository } from '../reads/reads.repository.js';
import { decideNotify, dndEndsAt, type NotifyPreferences, preferencesFromRow } from './notify-rules.js';
import { buildBundle } from './push.bundle.js';
import type { PushProviderClient, PushSendResult, PushTarget } from './push.providers.js';
import { type NewPushNotification, pushRepository } from './push.repository.js';

export interface PushDeliveryOptions {
  /** Messages to one user within this window become one push. */
  bundleWindowMs: number;
  providers: Partial<Record<PushProvider, PushProviderClient>>;
  watchers: ChannelWatchers;
  logger: Logger;
  /** Finished rows are forgotten after this long (they only guard against pushing twice). */
  retentionMs?: number;
}

/** Thrown when a bundle reached no device and some failed for now: the job system retries it. */
export class PushRetryableError extends Error {}

/**
 * The push pipeline, run by two jobs:
 *
 * 1. `push.message` (one per new message, enqueued in its transaction): loads the recipients'
 *    facts in one query, asks the realtime layer who is watching the channel, applies
 *    notify-rules.ts, and records one `push_notifications` row per (user, message) that passes
 *    (insert-if-absent: a retried job adds nothing). For each user with a new row it enqueues a
 *    `push.flush` with the user's singleton key, `bundleWindowMs` later: while one waits, more
 *    messages only add rows (debounce). Rows held by do-not-disturb (with deliver-after) wait
 *    until it ends, with a flush scheduled for then.
 * 2. `push.flush` (per user): re-checks do-not-disturb, claims the due rows for this bundle (its
 *    job id), drops those that went stale (read, deleted, left, or the user now watches the
 *    channel), builds one push and sends it to every device of the user through its provider,
 *    removes devices the provider reports as invalid, and marks the rows sent.
 *
 * Pushing twice is avoided by the rows: a message is pushed to a user at most once. Between a
 * provider's acceptance and the rows being marked sent, a crash leads to a retry of the same bundle
 * id, which OneSignal deduplicates (`idempotency_key`) and Web Push collapses (`Topic`).
 */
export class PushDelivery {
  constructor(
    private readonly db: Db,
    private readonly jobs: JobSystem,
    private readonly options: PushDeliveryOptions,
  ) {}

  async processMessage(appId: string, messageId: string, now = new Date()) {
    const message = await pushRepository.findMessage(this.db, appId, messageId);
    if (!message || message.deleted_at || message.shadowed) return;
    const facts = await pushRepository.recipientFacts(this.db, appId, message.cid, message.user_id);
    if (facts.length === 0) return;
    let watching = new Set<string>();
    try {
      watching = await this.options.watchers.watching(appId, message.cid);
    } catch (err) {
      this.options.logger.warn(
        { err, cid: message.cid },
        'could not ask who watches the channel: pushing anyway',
      );
    }
    const direct = message.distinct_key !== null && message.member_count <= 2;
    const rows: NewPushNotification[] = [];
    for (const fact of facts) {
      const decision = decideNotify({
        recipient_id: fact.user_id,
        message: {
          user_id: message.user_id,
          type: message.type,
          shadowed: message.shadowed,
          deleted: message.deleted_at !== null,
          mentioned_user_ids: message.mentioned_user_ids,
          mentioned_channel: message.mentioned_channel,
        },
        direct,
        channel_muted: fact.channel_muted,
        sender_muted: fact.sender_muted,
        watching: watching.has(fact.user_id),
        preferences: preferencesFromRow(fact, fact.channel_level),
        now,
      });
      const base = {
        app_id: appId,
        user_id: fact.user_id,
        message_id: message.id,
        cid: message.cid,
        parent_id: message.parent_id,
      };
      if (decision.notify) rows.push({ ...base, deliver_after: null });
      else if (decision.reason === 'dnd' && decision.deliver_after && decision.resume_at)
        rows.push({ ...base, deliver_after: decision.resume_at });
    }
    if (rows.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      const inserted = await pushRepository.insertPending(tx, rows);
      const flushes = inserted.map((row) => {
        const delayMs = row.deliver_after
          ? Math.max(0, row.deliver_after.getTime() - now.getTime())
          : this.options.bundleWindowMs;
        return {
          data: { app_id: appId, user_id: row.user_id },
          singletonKey: row.deliver_after
            ? `${appId}/${row.user_id}/after/${row.deliver_after.toISOString()}`
            : `${appId}/${row.user_id}`,
          ...(delayMs > 0 ? { startAfterSeconds: delayMs / 1000 } : {}),
        };
      });
      // One flush per singleton key is enough (several rows of one user share it).
      const unique = [...new Map(flushes.map((f) => [f.singletonKey, f])).values()];
      await this.jobs.sendMany(tx, 'push.flush', unique);
    });
    if (this.options.bundleWindowMs === 0) this.jobs.wake('push.flush');
  }

  /** Sends the user's due pushes as one bundle (`bundleId`: the flush job's id, stable across retries). */
  async flush(
    appId: string,
    userId: string,
    bundleId: string,
    options: { final?: boolean; now?: Date } = {},
  ) {
    const now = options.now ?? new Date();
    const prefs = await this.preferences(appId, userId);
    const dndEnd = dndEndsAt(prefs, now);
    if (dndEnd) {
      // Quiet now (the schedule or a snooze started after the message was queued).
      if (prefs.deliver_after_dnd) {
        await pushRepository.postpone(this.db, appId, userId, now, dndEnd);
        await this.jobs.send(
          this.db,
          'push.flush',
          { app_id: appId, user_id: userId },
          {
            singletonKey: `${appId}/${userId}/after/${dndEnd.toISOString()}`,
            startAfterSeconds: Math.max(0.001, (dndEnd.getTime() - now.getTime()) / 1000),
          },
        );
      } else {
        await pushRepository.dropDue(this.db, appId, userId, now, 'dnd');
      }
      return;
    }

    await this.sendDue(appId, userId, bundleId, now, options.final ?? false);
    // A row committed while this flush was starting (its job insert met this job still waiting, so
    // it was dropped) would wait for the user's next message: schedule a flush for it.
    if (await pushRepository.hasDuePending(this.db, appId, userId, new Date())) {
      await this.jobs.send(
        this.db,
        'push.flush',
        { app_id: appId, user_id: userId },
        {
          singletonKey: `${appId}/${userId}`,
          ...(this.options.bundleWindowMs > 0
            ? { startAfterSeconds: this.options.bundleWindowMs / 1000 }
            : {}),
        },
      );
    }
  }

  private async sendDue(appId: string, userId: string, bundleId: string, now: Date, final: boolean) {
    const { logger } = this.options;
    const claimed = await pushRepository.claimDue(this.db, appId, userId, bundleId, now);
    if (claimed.length === 0) return;
    // Channels the user has started watching since: they have seen those messages live.
    const watching = new Set<string>();
    for (const cid of new Set(claimed.map((r) => r.cid))) {
      try {
        if ((await this.options.watchers.watching(appId, cid)).has(userId)) watching.add(cid);
      } catch {
        // presence unknown: push rather than lose the notification
      }
    }
    const stale = claimed.filter((r) => r.stale !== null || watching.has(r.cid));
    for (const reason of ['deleted', 'read', 'left', 'watching'] as const) {
      const ids = stale.filter((r) => (r.stale ?? 'watching') === reason).map((r) => r.message_id);
      await pushRepository.finish(this.db, appId, userId, ids, 'dropped', reason);
    }
    const due = claimed.filter((r) => r.stale === null && !watching.has(r.cid));
    if (due.length === 0) return;

    const devices = await pushRepository.listDevices(this.db, appId, userId);
    const targets = devices.filter((d) => this.options.providers[d.provider] !== undefined);
    const ids = due.map((r) => r.message_id);
    if (targets.length === 0) {
      await pushRepository.finish(this.db, appId, userId, ids, 'dropped', 'no_device');
      return;
    }
    const unread = await readsRepository.unreadCounts(this.db, appId, userId);
    const badge = unread.reduce((sum, c) => sum + c.unread_count, 0);
    const push = buildBundle(appId, due, badge, bundleId);

    const results: PushSendResult = { delivered: [], invalid: [], failed: [] };
    for (const [provider, client] of Object.entries(this.options.providers)) {
      const mine: PushTarget[] = targets.filter((t) => t.provider === provider);
      if (!client || mine.length === 0) continue;
      const result = await client.send(mine, push);
      results.delivered.push(...result.delivered);
      results.invalid.push(...result.invalid);
      results.failed.push(...result.failed);
    }
    if (results.invalid.length > 0) {
      const removed = await pushRepository.deleteDevicesById(this.db, appId, results.invalid);
      logger.info(
        { app_id: appId, user_id: userId, removed },
        'removed push devices the provider reported invalid',
      );
    }
    if (results.delivered.length === 0 && results.failed.length > 0) {
      // Nothing reached the user and something may work later: retry this bundle (same id). The
      // last attempt gives the rows up (the job goes to the dead-letter queue).
      if (final) await pushRepository.finish(this.db, appId, userId, ids, 'dropped', 'provider_failed');
      throw new PushRetryableError(
        `push to ${userId} failed on every device: ${results.failed.map((f) => f.error).join('; ')}`,
      );
    }
    if (results.failed.length > 0)
      logger.warn({ app_id: appId, user_id: userId, failed: results.failed }, 'push failed on some devices');
    await pushRepository.finish(
      this.db,
      appId,
      userId,
      ids,
      results.delivered.length > 0 ? 'sent' : 'dropped',
      results.delivered.length > 0 ? null : 'no_device',
    );
    await pushRepository.pruneFinished(
      this.db,
      appId,
      userId,
      new Date(now.getTime() - (this.options.retentionMs ?? 24 * 3600_000)),
    );
  }

  private async preferences(appId: string, userId: string): Promise<NotifyPreferences> {
    const row = await pushRepository.findPreferences(this.db, appId, userId);
    return preferencesFromRow(row ?? {}, null);
  }
}
