import type { UnreadCounts } from '@parley/protocol';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Executor } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { readsRepository } from './reads.repository.js';

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
      last_read_seq: r.last_read_seq,
      last_read_at: r.last_read_at ? r.last_read_at.toISOString() : null,
    }));
    return { channels, ...summary({ channels }) };
  }
}

function summary(counts: { channels: { unread_count: number }[] }) {
  return {
    total_unread_count: counts.channels.reduce((sum, c) => sum + c.unread_count, 0),
    unread_channels: counts.channels.filter((c) => c.unread_count > 0).length,
  };
}
