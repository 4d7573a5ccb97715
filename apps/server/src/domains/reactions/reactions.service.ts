import {
  type ListReactionsQuery,
  MAX_REACTIONS_PER_USER_PER_MESSAGE,
  type Message,
  type Reaction,
  type SendReactionBody,
} from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { can } from '../channels/channels.policy.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { subjectOf } from '../channels/channels.service.js';
import { enrichOne, toReactionDto } from '../messages/messages.dto.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { newestFirst, type ReactionCursor, reactionsRepository } from './reactions.repository.js';

const encodeCursor = (r: Reaction) =>
  Buffer.from(JSON.stringify([r.created_at, r.user_id, r.type])).toString('base64url');

function decodeCursor(next: string): ReactionCursor {
  try {
    const [at, user_id, type] = JSON.parse(Buffer.from(next, 'base64url').toString('utf8')) as string[];
    const created_at = new Date(at!);
    if (Number.isNaN(created_at.getTime()) || typeof user_id !== 'string' || typeof type !== 'string')
      throw new Error('bad cursor');
    return { created_at, user_id, type };
  } catch {
    throw new AppError('VALIDATION_FAILED', 'next is not a cursor this list returned', {
      field: 'query.next',
    });
  }
}

/**
 * Reactions on messages. Every write locks the message row first, so writes to one message take
 * turns: the per-user limit holds under concurrency and the message's reaction_counts /
 * reaction_scores are recomputed from the rows in the same transaction. Events carry the message
 * with its new counters and latest reactions (own_reactions empty: events go to everyone).
 */
export class ReactionsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  /**
   * Adds a reaction, or updates the score of the user's reaction of that type. With
   * `enforce_unique`, the user's other reactions on the message are removed first (one
   * reaction.deleted each). Answers whether a new reaction was created.
   */
  async add(
    ctx: RequestContext,
    messageId: string,
    body: SendReactionBody,
  ): Promise<{ message: Message; reaction: Reaction; created: boolean }> {
    const userId = actingUserId(ctx, body.user_id);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const message = await this.lockForReacting(tx, ctx, messageId, userId);
      const mine = await reactionsRepository.forUser(tx, ctx.app.id, messageId, userId);
      const removed = body.enforce_unique
        ? await reactionsRepository.delete(tx, ctx.app.id, messageId, userId, { except: body.type })
        : [];
      const others = mine.filter((r) => r.type !== body.type && !removed.some((d) => d.type === r.type));
      if (others.length >= MAX_REACTIONS_PER_USER_PER_MESSAGE) {
        throw new AppError(
          'TOO_MANY_REACTIONS',
          `a user may leave at most ${MAX_REACTIONS_PER_USER_PER_MESSAGE} reactions on a message`,
          { field: 'type', limit: MAX_REACTIONS_PER_USER_PER_MESSAGE },
        );
      }
      const { inserted, ...row } = await reactionsRepository.upsert(tx, ctx.app.id, {
        message_id: messageId,
        user_id: userId,
        type: body.type,
        score: body.score,
        at: new Date(),
      });
      const updated = await reactionsRepository.refreshCounts(tx, ctx.app.id, messageId);
      const dto = await enrichOne(tx, ctx.app.id, updated, undefined);
      for (const r of removed) {
        events.record('reaction.deleted', {
          cid: message.cid,
          user_id: userId,
          message: dto,
          reaction: toReactionDto(r),
          ...(message.shadowed ? { shadowed: true as const } : {}),
        });
      }
      const reaction = toReactionDto(row);
      events.record(inserted ? 'reaction.new' : 'reaction.updated', {
        cid: message.cid,
        user_id: userId,
        message: dto,
        reaction,
        ...(message.shadowed ? { shadowed: true as const } : {}),
      });
      return { message: await this.withOwn(tx, ctx, updated, dto, userId), reaction, created: inserted };
    });
  }

  /** Removes the user's reaction of one type; 404 REACTION_NOT_FOUND when there is none. */
  async remove(
    ctx: RequestContext,
    messageId: string,
    type: string,
    requestedUserId?: string,
  ): Promise<{ message: Message; reaction: Reaction }> {
    const userId = actingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const message = await this.lockForReacting(tx, ctx, messageId, userId);
      const [row] = await reactionsRepository.delete(tx, ctx.app.id, messageId, userId, { types: [type] });
      if (!row) throw new AppError('REACTION_NOT_FOUND', undefined, { field: 'reaction_type' });
      const updated = await reactionsRepository.refreshCounts(tx, ctx.app.id, messageId);
      const dto = await enrichOne(tx, ctx.app.id, updated, undefined);
      const reaction = toReactionDto(row);
      events.record('reaction.deleted', {
        cid: message.cid,
        user_id: userId,
        message: dto,
        reaction,
        ...(message.shadowed ? { shadowed: true as const } : {}),
      });
      return { message: await this.withOwn(tx, ctx, updated, dto, userId), reaction };
    });
  }

  /** A message's reactions, newest first, with cursor pagination (`next`). */
  async list(
    ctx: RequestContext,
    messageId: string,
    query: z.output<typeof ListReactionsQuery>,
  ): Promise<{ reactions: Reaction[]; next: string | null }> {
    const message = await messagesRepository.find(this.db, ctx.app.id, messageId);
    const viewer = optionalActingUserId(ctx, query.user_id);
    if (!message || (message.shadowed && viewer !== undefined && message.user_id !== viewer))
      throw new AppError('MESSAGE_NOT_FOUND');
    await this.channels.access(this.db, ctx, message.cid, 'read', viewer);
    const rows = await reactionsRepository.list(this.db, ctx.app.id, messageId, {
      ...(query.type ? { type: query.type } : {}),
      ...(query.next ? { cursor: decodeCursor(query.next) } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit).map(toReactionDto);
    return { reactions: page, next: rows.length > query.limit ? encodeCursor(page.at(-1)!) : null };
  }

  /**
   * Locks the message and checks that `userId` may react to it: the `react` policy action
   * (members, not banned), reactions on for the channel type, channel not frozen, message live.
   */
  private async lockForReacting(tx: Tx, ctx: RequestContext, messageId: string, userId: string) {
    const message = await messagesRepository.findForUpdate(tx, ctx.app.id, messageId);
    // A shadowed message (shadow-banned author) exists for its author alone.
    if (!message || (message.shadowed && message.user_id !== userId)) throw new AppError('MESSAGE_NOT_FOUND');
    const access = await this.channels.access(tx, ctx, message.cid, 'react', userId);
    if (!access.config.reactions) {
      throw new AppError('FORBIDDEN', 'reactions are off for this channel type', { action: 'react' });
    }
    if (access.channel.frozen && !can('send_when_frozen', subjectOf(ctx, access))) {
      throw new AppError('CHANNEL_FROZEN');
    }
    if (message.deleted_at) throw new AppError('MESSAGE_DELETED', 'cannot react to a deleted message');
    return message;
  }

  /** The answer to the reacting user: the event's message plus their own reactions. */
  private async withOwn(tx: Tx, ctx: RequestContext, row: MessageRow, dto: Message, userId: string) {
    const own = await reactionsRepository.forUser(tx, ctx.app.id, row.id, userId);
    return { ...dto, own_reactions: own.sort(newestFirst).map(toReactionDto) };
  }
}
