import type { ListMentionsQuery, Message, UnreadMentions } from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db } from '../../platform/db.js';
import { enrich } from './messages.dto.js';
import { userMessagesRepository } from './user-messages.repository.js';

/**
 * "My mentions" and unread mentions, read from the MENTIONED flag of user_messages (index
 * lookups; see migration 0009). Sending and editing set the flags (messages.service).
 */
export class MentionsService {
  constructor(private readonly db: Db) {}

  /** Messages that mention the user, newest first, in channels they are still in; deleted ones drop out. */
  async list(ctx: RequestContext, query: z.output<typeof ListMentionsQuery>): Promise<Message[]> {
    const userId = actingUserId(ctx, query.user_id);
    const rows = await userMessagesRepository
      .mentionsQuery(this.db, ctx.app.id, userId, {
        ...(query.cid ? { cid: query.cid } : {}),
        ...(query.id_lt ? { beforeId: query.id_lt } : {}),
        unreadOnly: query.unread_only,
        limit: query.limit,
      })
      .execute();
    return enrich(this.db, ctx.app.id, rows, userId);
  }

  /** Mentions above the user's read position, per channel and in total, in one query. */
  async unread(ctx: RequestContext, requestedUserId?: string): Promise<UnreadMentions> {
    const userId = actingUserId(ctx, requestedUserId);
    const rows = await userMessagesRepository.unreadMentionsQuery(this.db, ctx.app.id, userId).execute();
    return {
      total_unread_mentions: rows.reduce((sum, r) => sum + r.unread_mentions, 0),
      channels: rows.map((r) => ({ cid: r.cid, unread_mentions: r.unread_mentions })),
    };
  }
}
