import type {
  Device,
  ParleyEvent,
  PushPreferences,
  RegisterDeviceBody,
  UpdatePushPreferencesBody,
} from '@parley/protocol';
import type { z } from 'zod';
import type { JobSystem } from '../../jobs/boss.js';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { uuidv7 } from '../../platform/ids.js';
import { ShortCache } from '../../platform/short-cache.js';
import { type DeviceRow, pushRepository } from './push.repository.js';

/** Devices one user may register; registering more is refused (remove old ones first). */
export const MAX_DEVICES_PER_USER = 25;

/** What clients need to subscribe: the VAPID public key, the OneSignal app id (null = off). */
export interface PushClientConfig {
  web_push: { vapid_public_key: string } | null;
  onesignal: { app_id: string } | null;
}

export function toDeviceDto(row: DeviceRow): Device {
  return {
    id: row.id,
    user_id: row.user_id,
    provider: row.provider,
    token: row.token,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * Push devices and preferences of users (users manage their own, server calls name a user), and
 * the push outbox: a `push.message` job per new message, enqueued in the message's transaction.
 * The rules and the sending run in jobs (push.delivery.ts).
 */
export class PushService {
  /** Set by the server from its configuration (VAPID key, OneSignal app). */
  client: PushClientConfig = { web_push: null, onesignal: null };
  /** Whether an app has any push device: every message's transaction asks (ADR 0015). */
  private readonly appHasDevices = new ShortCache<boolean>();

  constructor(
    private readonly db: Db,
    private readonly jobs: JobSystem,
  ) {}

  clientConfig(): PushClientConfig {
    return this.client;
  }

  async registerDevice(ctx: RequestContext, body: z.infer<typeof RegisterDeviceBody>): Promise<Device> {
    const userId = actingUserId(ctx, body.user_id);
    const token = body.provider === 'web_push' ? body.subscription.endpoint : body.token;
    const keys = body.provider === 'web_push' ? body.subscription.keys : undefined;
    const device = await this.db.transaction().execute(async (tx) => {
      await this.requireUser(tx, ctx.app.id, userId);
      const existing = await pushRepository.listDevices(tx, ctx.app.id, userId);
      const already = existing.some((d) => d.provider === body.provider && d.token === token);
      if (!already && existing.length >= MAX_DEVICES_PER_USER) {
        throw new AppError(
          'VALIDATION_FAILED',
          `a user may have at most ${MAX_DEVICES_PER_USER} push devices: remove one first`,
          { field: 'provider' },
        );
      }
      const row = await pushRepository.upsertDevice(tx, {
        app_id: ctx.app.id,
        id: uuidv7(),
        user_id: userId,
        provider: body.provider,
        token,
        p256dh: keys?.p256dh ?? null,
        auth: keys?.auth ?? null,
      });
      return toDeviceDto(row);
    });
    this.appHasDevices.delete(ctx.app.id);
    return device;
  }

  async listDevices(ctx: RequestContext, requestedUserId?: string): Promise<Device[]> {
    const userId = actingUserId(ctx, requestedUserId);
    return (await pushRepository.listDevices(this.db, ctx.app.id, userId)).map(toDeviceDto);
  }

  async deleteDevice(ctx: RequestContext, id: string, requestedUserId?: string) {
    const userId = actingUserId(ctx, requestedUserId);
    const deleted = await pushRepository.deleteDevice(this.db, ctx.app.id, userId, id);
    this.appHasDevices.delete(ctx.app.id);
    if (!deleted) {
      throw new AppError('DEVICE_NOT_FOUND', undefined, { field: 'device_id' });
    }
  }

  async preferences(ctx: RequestContext, requestedUserId?: string): Promise<PushPreferences> {
    const userId = actingUserId(ctx, requestedUserId);
    return this.readPreferences(this.db, ctx.app.id, userId);
  }

  async updatePreferences(
    ctx: RequestContext,
    body: z.infer<typeof UpdatePushPreferencesBody>,
  ): Promise<PushPreferences> {
    const userId = actingUserId(ctx, body.user_id);
    return this.db.transaction().execute(async (tx) => {
      await this.requireUser(tx, ctx.app.id, userId);
      const patch = {
        ...(body.level !== undefined ? { level: body.level } : {}),
        ...(body.dnd !== undefined
          ? {
              dnd_start: body.dnd?.start ?? null,
              dnd_end: body.dnd?.end ?? null,
              dnd_tz: body.dnd?.tz ?? null,
            }
          : {}),
        ...(body.snooze_until !== undefined
          ? { snooze_until: body.snooze_until === null ? null : new Date(body.snooze_until) }
          : {}),
        ...(body.deliver_after_dnd !== undefined ? { deliver_after_dnd: body.deliver_after_dnd } : {}),
      };
      await pushRepository.savePreferences(tx, ctx.app.id, userId, patch);
      for (const [cid, level] of Object.entries(body.channels ?? {})) {
        if (level !== null) {
          const channel = await pushRepository.channelExists(tx, ctx.app.id, cid);
          if (!channel)
            throw new AppError('CHANNEL_NOT_FOUND', `channel ${cid} does not exist`, {
              field: `channels.${cid}`,
            });
        }
        await pushRepository.setChannelLevel(tx, ctx.app.id, userId, cid, level);
      }
      return this.readPreferences(tx, ctx.app.id, userId);
    });
  }

  /**
   * The push outbox (a transactional consumer of the event bus): inside the write's transaction,
   * one `push.message` job per new message of an app that has push devices at all. The job id is
   * derived from the message id, so the same message is never enqueued twice.
   */
  async enqueueForEvents(
    tx: Tx,
    events: readonly ParleyEvent[],
    afterCommit: (callback: () => void) => void,
  ) {
    const jobs: { app_id: string; message_id: string }[] = [];
    const hasDevices = new Map<string, boolean>();
    for (const event of events) {
      if (event.type !== 'message.new') continue;
      const { message } = event;
      if (message.type === 'system' || message.type === 'deleted') continue;
      let any = hasDevices.get(event.app_id);
      if (any === undefined) {
        any = await this.appHasDevices.get(event.app_id, () =>
          pushRepository.appHasDevices(tx, event.app_id),
        );
        hasDevices.set(event.app_id, any);
      }
      if (any) jobs.push({ app_id: event.app_id, message_id: message.id });
    }
    if (jobs.length === 0) return;
    await this.jobs.sendMany(
      tx,
      'push.message',
      jobs.map((data) => ({ data, idempotencyKey: `${data.app_id}/${data.message_id}` })),
    );
    afterCommit(() => this.jobs.wake('push.message'));
  }

  private async readPreferences(db: Db | Tx, appId: string, userId: string): Promise<PushPreferences> {
    const row = await pushRepository.findPreferences(db, appId, userId);
    const channels = await pushRepository.channelLevels(db, appId, userId);
    return {
      user_id: userId,
      level: row?.level ?? 'all',
      channels,
      dnd:
        row?.dnd_start && row.dnd_end && row.dnd_tz
          ? { start: row.dnd_start, end: row.dnd_end, tz: row.dnd_tz }
          : null,
      snooze_until: row?.snooze_until ? row.snooze_until.toISOString() : null,
      deliver_after_dnd: row?.deliver_after_dnd ?? false,
    };
  }

  private async requireUser(db: Db | Tx, appId: string, userId: string) {
    const user = await pushRepository.findUser(db, appId, userId);
    if (!user || user.deleted_at) throw new AppError('USER_NOT_FOUND', undefined, { field: 'user_id' });
  }
}
