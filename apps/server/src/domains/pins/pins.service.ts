import type { Message, PinMessageBody, PinnedMessagesQuery } from '@parley/protocol';
import type { z } from 'zod';
import { optionalActingUserId, type RequestContext } from '../../platform/context.js';
import { decodeCursor, encodeCursor, uuidKey } from '../../platform/cursor.js';
import type { Db } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { futureTime } from '../../platform/future-time.js';
import { authorize } from '../channels/channels.policy.js';
import { type ChannelsService, subjectOf } from '../channels/channels.service.js';
import { enrich, enrichOne, forEveryone } from '../messages/messages.dto.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { pinsRepository } from './pins.repository.js';

/**
 * Pinned messages of a channel (Slack's and Stream's pins): pinned_at / pinned_by on the message,
 * an optional expiry after which the pin no longer counts (read lazily: no sweep job), and the
 * channel's pinned list. Pin and unpin emit message.updated with the pin fields, like any change
 * of what a message shows.
 */
export class PinsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  async pin(ctx: RequestContext, messageId: string, body: z.output<typeof PinMessageBody>): Promise<Message> {
    return this.setPin(ctx, messageId, body.user_id, {
      expiresAt: body.expires_at ? futureTime(body.expires_at, 'expires_at') : null,
    });
  }

  async unpin(ctx: RequestContext, messageId: string, userId?: string): Promise<Message> {
    return this.setPin(ctx, messageId, userId, null);
  }

  private async setPin(
    ctx: RequestContext,
    messageId: string,
    requestedUserId: string | undefined,
    pin: { expiresAt: Date | null } | null,
  ): Promise<Message> {
    const userId = optionalActingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const current = await messagesRepository.findForUpdate(tx, ctx.app.id, messageId);
      if (!current || (current.shadowed && current.user_id !== userId))
        throw new AppError('MESSAGE_NOT_FOUND');
      const access = await this.channels.access(tx, ctx, current.cid, 'read', userId);
      authorize('pin_message', subjectOf(ctx, access));
      if (pin && current.deleted_at)
        throw new AppError('MESSAGE_DELETED', 'a deleted message cannot be pinned');
      if (!pin && current.pinned_at === null) return enrichOne(tx, ctx.app.id, current, access.userId);
      const row = await pinsRepository.setPin(
        tx,
        ctx.app.id,
        messageId,
        pin ? { pinned_at: new Date(), pinned_by: userId ?? null, pin_expires_at: pin.expiresAt } : null,
      );
      const dto = await enrichOne(tx, ctx.app.id, row, access.userId);
      events.record('message.updated', {
        cid: row.cid,
        message: forEveryone(dto),
        // A shadow-banned author's message: the event goes to the author alone.
        ...(row.shadowed ? { shadowed: true as const } : {}),
      });
      return dto;
    });
  }

  /** The channel's live pins, most recently pinned first, with a `next` cursor. */
  async list(
    ctx: RequestContext,
    cid: string,
    query: z.output<typeof PinnedMessagesQuery>,
  ): Promise<{ messages: Message[]; next: string | null }> {
    const access = await this.channels.access(this.db, ctx, cid, 'read', query.user_id);
    let before: { at: Date; id: string } | undefined;
    if (query.next) {
      const { at, keys } = decodeCursor(query.next, 1);
      before = { at, id: uuidKey(keys[0]) };
    }
    const rows = await pinsRepository.pinned(this.db, ctx.app.id, cid, {
      viewerId: access.userId,
      afterSeq: access.membership?.cleared_seq ?? 0,
      after: access.channel.truncated_at,
      ...(before ? { before } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      messages: await enrich(this.db, ctx.app.id, page, access.userId),
      next: rows.length > query.limit && last ? encodeCursor(last.pinned_at!, last.id) : null,
    };
  }
}
