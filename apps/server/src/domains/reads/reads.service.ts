import {
  type ChannelTypeConfig,
  ChannelTypeConfig as ChannelTypeConfigSchema,
  type MarkDeliveredBody,
  type UnreadCounts,
} from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Executor } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { channelTypesRepository } from '../channel-types/channel-types.repository.js';
import { authorize } from '../channels/channels.policy.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { readsRepository } from './reads.repository.js';

/** "Read by" lists answer in channels of at most this many members unless the type says otherwise. */
export const DEFAULT_MAX_RECEIPT_MEMBERS = 100;
const deliveryOn = (config: ChannelTypeConfig) => config.delivery_events !== false;

export class ReadsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  /**
   * Marks a channel read for the user, up to `messageId` (inclusive) or the latest message.
   * Emits message.read (the realtime layer forwards it when the channel type has read events on)
   * and notification.mark_read with the user's new unread counts.
   */
  async markRead(
    ctx: RequestContext,
    cid: string,
    opts: { messageId?: string; userId?: string },
  ): Promise<UnreadCounts> {
    const userId = actingUserId(ctx, opts.userId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, cid, 'read', userId);
      if (!access.membership) throw new AppError('MEMBER_NOT_FOUND', undefined, { field: 'user_id' });
      let seq = access.channel.last_seq;
      let messageId: string | null = null;
      if (opts.messageId) {
        const message = await messagesRepository.find(tx, ctx.app.id, opts.messageId);
        if (!message || message.cid !== cid) {
          throw new AppError('MESSAGE_NOT_FOUND', 'the message is not in this channel', {
            field: 'message_id',
          });
        }
        seq = message.seq;
        messageId = message.id;
      }
      const now = new Date();
      const row = await readsRepository.markRead(tx, ctx.app.id, cid, userId, seq, now);
      events.record('message.read', {
        cid,
        user_id: userId,
        last_read_seq: row!.last_read_seq,
        last_read_message_id: messageId,
        last_read_at: now.toISOString(),
      });
      const counts = await this.counts(tx, ctx.app.id, userId);
      events.record('notification.mark_read', { cid, user_id: userId, ...summary(counts) });
      return counts;
    });
  }

  /**
   * Marks a channel unread from `messageId` on (that message and everything after it): the read
   * position moves back to just before it. Emits notification.mark_unread to the user's own
   * channel with the new counts (no message.read: others' read-by lists only ever move forward).
   */
  async markUnread(
    ctx: RequestContext,
    cid: string,
    opts: { messageId: string; userId?: string },
  ): Promise<UnreadCounts> {
    const userId = actingUserId(ctx, opts.userId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, cid, 'read', userId);
      if (!access.membership) throw new AppError('MEMBER_NOT_FOUND', undefined, { field: 'user_id' });
      const message = await messagesRepository.find(tx, ctx.app.id, opts.messageId);
      if (!message || message.cid !== cid || (message.shadowed && message.user_id !== userId)) {
        throw new AppError('MESSAGE_NOT_FOUND', 'the message is not in this channel', {
          field: 'message_id',
        });
      }
      const now = new Date();
      const row = await readsRepository.markUnread(tx, ctx.app.id, cid, userId, message.seq - 1, now);
      const counts = await this.counts(tx, ctx.app.id, userId);
      const channel = counts.channels.find((c) => c.cid === cid);
      events.record('notification.mark_unread', {
        cid,
        user_id: userId,
        last_read_seq: row!.last_read_seq,
        first_unread_message_id: message.id,
        unread_messages: channel?.unread_count ?? 0,
        ...summary(counts),
      });
      return counts;
    });
  }

  /**
   * Marks messages delivered to the user in several channels at once (a client calls this when
   * messages reach the device). Positions only move forward; channels whose type has
   * delivery_events off are accepted and left alone. Emits message.delivered per channel that moved.
   */
  async markDelivered(
    ctx: RequestContext,
    body: z.output<typeof MarkDeliveredBody>,
  ): Promise<{ channels: { cid: string; last_delivered_seq: number; last_delivered_at: string | null }[] }> {
    const userId = actingUserId(ctx, body.user_id);
    const cids = [...new Set(body.channels.map((c) => c.cid))];
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const [memberships, types] = await Promise.all([
        readsRepository.membershipsIn(tx, ctx.app.id, userId, cids),
        channelTypesRepository.list(tx, ctx.app.id),
      ]);
      const configs = new Map(types.map((t) => [t.name, ChannelTypeConfigSchema.parse(t.config)]));
      const byCid = new Map(memberships.map((m) => [m.cid, m]));
      const messageIds = body.channels.flatMap((c) => (c.message_id ? [c.message_id] : []));
      const messages = messageIds.length ? await messagesRepository.findMany(tx, ctx.app.id, messageIds) : [];
      const positions: { cid: string; seq: number; messageId: string | null }[] = [];
      body.channels.forEach((entry, i) => {
        const membership = byCid.get(entry.cid);
        if (!membership) {
          throw new AppError('MEMBER_NOT_FOUND', `not a member of ${entry.cid}`, {
            field: `channels.${i}.cid`,
          });
        }
        const config = configs.get(membership.type)!;
        authorize('read', { actor: ctx.actor, config, membership });
        let seq = membership.last_seq;
        let messageId: string | null = null;
        if (entry.message_id) {
          const message = messages.find((m) => m.id === entry.message_id);
          if (!message || message.cid !== entry.cid) {
            throw new AppError('MESSAGE_NOT_FOUND', `message ${entry.message_id} is not in ${entry.cid}`, {
              field: `channels.${i}.message_id`,
            });
          }
          seq = message.seq;
          messageId = message.id;
        }
        if (deliveryOn(config)) positions.push({ cid: entry.cid, seq, messageId });
      });
      // One position per channel: the furthest named.
      const furthest = new Map<string, (typeof positions)[number]>();
      for (const p of positions) if ((furthest.get(p.cid)?.seq ?? -1) < p.seq) furthest.set(p.cid, p);
      const now = new Date();
      const moved = await readsRepository.markDelivered(tx, ctx.app.id, userId, [...furthest.values()], now);
      for (const row of moved) {
        events.record('message.delivered', {
          cid: row.cid,
          user_id: userId,
          last_delivered_seq: row.last_delivered_seq,
          last_delivered_message_id: furthest.get(row.cid)?.messageId ?? null,
          last_delivered_at: now.toISOString(),
        });
      }
      const movedBy = new Map(moved.map((r) => [r.cid, r]));
      return {
        channels: cids.map((cid) => {
          const m = movedBy.get(cid) ?? byCid.get(cid)!;
          return {
            cid,
            last_delivered_seq: m.last_delivered_seq,
            last_delivered_at: m.last_delivered_at ? m.last_delivered_at.toISOString() : null,
          };
        }),
      };
    });
  }

  /**
   * Who has read (and who has received) a message: members other than its author whose read
   * (delivered) position is at or past it. Only in channels whose type has read events on and
   * that have at most max_receipt_members members (default 100): beyond that the list is
   * neither cheap nor useful, and Stream and WhatsApp stop showing it too.
   */
  async readBy(ctx: RequestContext, messageId: string, requestedUserId?: string) {
    const userId = optionalActingUserId(ctx, requestedUserId);
    const message = await messagesRepository.find(this.db, ctx.app.id, messageId);
    if (!message || (message.shadowed && message.user_id !== userId)) throw new AppError('MESSAGE_NOT_FOUND');
    const access = await this.channels.access(this.db, ctx, message.cid, 'read', userId);
    const { config, channel } = access;
    if (!config.read_events) {
      throw new AppError('RECEIPTS_UNAVAILABLE', 'read events are off for this channel type', {
        reason: 'read_events_off',
      });
    }
    const cap = config.max_receipt_members ?? DEFAULT_MAX_RECEIPT_MEMBERS;
    if (channel.member_count > cap) {
      throw new AppError(
        'RECEIPTS_UNAVAILABLE',
        `read-by lists are kept for channels of at most ${cap} members`,
        {
          reason: 'too_many_members',
          max_receipt_members: cap,
        },
      );
    }
    const rows = await readsRepository.receipts(this.db, ctx.app.id, message.cid, message.user_id);
    const iso = (d: Date | null) => (d ? d.toISOString() : null);
    return {
      message_id: message.id,
      read_by: rows
        .filter((r) => r.last_read_seq >= message.seq)
        .map((r) => ({ user_id: r.user_id, at: iso(r.last_read_at) })),
      delivered_to: deliveryOn(config)
        ? rows
            .filter((r) => Math.max(r.last_delivered_seq, r.last_read_seq) >= message.seq)
            .map((r) => ({
              user_id: r.user_id,
              at: iso(r.last_delivered_seq >= message.seq ? r.last_delivered_at : r.last_read_at),
            }))
        : [],
      member_count: rows.length,
    };
  }

  async markAllRead(ctx: RequestContext, requestedUserId?: string): Promise<UnreadCounts> {
    const userId = actingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await readsRepository.markAllRead(tx, ctx.app.id, userId, new Date());
      const counts = await this.counts(tx, ctx.app.id, userId);
      events.record('notification.mark_read', { cid: null, user_id: userId, ...summary(counts) });
      return counts;
    });
  }

  async unread(ctx: RequestContext, requestedUserId?: string): Promise<UnreadCounts> {
    return this.counts(this.db, ctx.app.id, actingUserId(ctx, requestedUserId));
  }

  private async counts(db: Executor, appId: string, userId: string): Promise<UnreadCounts> {
    const rows = await readsRepository.unreadCounts(db, appId, userId);
    const channels = rows.map((r) => ({
      cid: r.cid,
      unread_count: r.unread_count,
      unread_mentions: r.unread_mentions,
      last_read_seq: r.last_read_seq,
      last_read_at: r.last_read_at ? r.last_read_at.toISOString() : null,
    }));
    return { channels, ...summary({ channels }) };
  }
}

function summary(counts: { channels: { unread_count: number; unread_mentions?: number }[] }) {
  return {
    total_unread_count: counts.channels.reduce((sum, c) => sum + c.unread_count, 0),
    unread_channels: counts.channels.filter((c) => c.unread_count > 0).length,
    total_unread_mentions: counts.channels.reduce((sum, c) => sum + (c.unread_mentions ?? 0), 0),
  };
}
