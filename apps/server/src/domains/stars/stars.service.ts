import type { StarredMessagesQuery } from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import { decodeCursor, encodeCursor, uuidKey } from '../../platform/cursor.js';
import type { Db } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { enrich } from '../messages/messages.dto.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { starsRepository } from './stars.repository.js';

interface StarState {
  message_id: string;
  starred: boolean;
  starred_at: string | null;
}

/**
 * Starred (saved) messages per user: the STARRED bit of user_messages (the Zulip pattern), so
 * "my starred" is an index range. Star and unstar are idempotent and tell the user's other
 * devices with notification.message_starred.
 */
export class StarsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  async star(ctx: RequestContext, messageId: string, requestedUserId?: string): Promise<StarState> {
    const userId = actingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const message = await messagesRepository.find(tx, ctx.app.id, messageId);
      if (!message || (message.shadowed && message.user_id !== userId))
        throw new AppError('MESSAGE_NOT_FOUND');
      await this.channels.access(tx, ctx, message.cid, 'read', userId);
      if (message.deleted_at) throw new AppError('MESSAGE_DELETED', 'a deleted message cannot be starred');
      const at = await starsRepository.star(tx, ctx.app.id, userId, message, new Date());
      const state = { message_id: message.id, starred: true, starred_at: at.toISOString() };
      events.record('notification.message_starred', { cid: message.cid, user_id: userId, ...state });
      return state;
    });
  }

  async unstar(ctx: RequestContext, messageId: string, requestedUserId?: string): Promise<StarState> {
    const userId = actingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const message = await messagesRepository.find(tx, ctx.app.id, messageId);
      if (!message || (message.shadowed && message.user_id !== userId))
        throw new AppError('MESSAGE_NOT_FOUND');
      await this.channels.access(tx, ctx, message.cid, 'read', userId);
      const state = { message_id: message.id, starred: false, starred_at: null };
      if (await starsRepository.unstar(tx, ctx.app.id, userId, message.id)) {
        events.record('notification.message_starred', { cid: message.cid, user_id: userId, ...state });
      }
      return state;
    });
  }

  async list(ctx: RequestContext, query: z.output<typeof StarredMessagesQuery>) {
    const userId = actingUserId(ctx, query.user_id);
    let before: { at: Date; id: string } | undefined;
    if (query.next) {
      const { at, keys } = decodeCursor(query.next, 1);
      before = { at, id: uuidKey(keys[0]) };
    }
    const rows = await starsRepository.list(this.db, ctx.app.id, userId, {
      ...(query.cid ? { cid: query.cid } : {}),
      ...(before ? { before } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const messages = await enrich(this.db, ctx.app.id, page, userId);
    const last = page.at(-1);
    return {
      starred: page.map((row, i) => ({ message: messages[i]!, starred_at: row.starred_at_.toISOString() })),
      next: rows.length > query.limit && last ? encodeCursor(last.starred_at_, last.id) : null,
    };
  }
}
