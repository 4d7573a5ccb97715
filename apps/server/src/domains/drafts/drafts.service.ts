import type { Attachment, Draft, ListDraftsQuery, PutDraftBody } from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import { decodeCursor, encodeCursor } from '../../platform/cursor.js';
import type { Db } from '../../platform/db.js';
import type { DraftRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { checkCustomSize } from '../../platform/limits.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { draftsRepository } from './drafts.repository.js';

export function toDraftDto(row: DraftRow): Draft {
  return {
    cid: row.cid,
    parent_id: row.parent_id,
    reply_to_id: row.reply_to_id,
    text: row.text,
    attachments: row.attachments as Attachment[],
    custom: row.custom as Record<string, unknown>,
    mentioned_user_ids: row.mentioned_user_ids,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * Server-side drafts: one per user per channel, and one per thread (parent_id), so a message
 * started on the phone can be finished on the laptop. Saving and deleting tell the user's other
 * devices (draft.updated / draft.deleted on the user's own channel). A draft is held to the same
 * rules as the message it will become: the user may send in the channel, the text fits the
 * channel type's max_message_length, thread parent and quoted message belong to the channel.
 */
export class DraftsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  async get(ctx: RequestContext, cid: string, parentId: string | undefined, requestedUserId?: string) {
    const userId = actingUserId(ctx, requestedUserId);
    await this.channels.access(this.db, ctx, cid, 'read', userId);
    const row = await draftsRepository.find(this.db, ctx.app.id, userId, cid, parentId ?? null);
    if (!row) throw new AppError('DRAFT_NOT_FOUND', undefined, parentId ? { field: 'parent_id' } : undefined);
    return toDraftDto(row);
  }

  async put(ctx: RequestContext, cid: string, body: PutDraftBody): Promise<Draft> {
    const userId = actingUserId(ctx, body.user_id);
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, cid, 'send', userId);
      const max = access.config.max_message_length;
      const length = body.text.length > max ? [...body.text].length : body.text.length;
      if (length > max) {
        throw new AppError('MESSAGE_TOO_LONG', `the draft is ${length} characters; the limit is ${max}`, {
          field: 'text',
        });
      }
      const ids = [body.parent_id, body.reply_to_id].filter((id): id is string => id !== undefined);
      if (ids.length > 0) {
        const found = await messagesRepository.findMany(tx, ctx.app.id, [...new Set(ids)]);
        const check = (id: string | undefined, field: string) => {
          if (!id) return;
          const row = found.find((m) => m.id === id);
          if (!row || row.cid !== cid || (row.shadowed && row.user_id !== userId)) {
            throw new AppError('MESSAGE_NOT_FOUND', `message ${id} does not exist in this channel`, {
              field,
            });
          }
          if (field === 'parent_id' && row.parent_id) {
            throw new AppError('THREAD_NESTED', 'threads do not nest: draft a reply to the thread parent', {
              field,
              parent_id: row.parent_id,
            });
          }
        };
        check(body.parent_id, 'parent_id');
        check(body.reply_to_id, 'reply_to_id');
      }
      const row = await draftsRepository.upsert(
        tx,
        ctx.app.id,
        userId,
        cid,
        {
          parent_id: body.parent_id ?? null,
          reply_to_id: body.reply_to_id ?? null,
          text: body.text,
          attachments: body.attachments,
          custom: body.custom ?? {},
          mentioned_user_ids: body.mentioned_user_ids,
        },
        new Date(),
      );
      const draft = toDraftDto(row);
      events.record('draft.updated', { cid, user_id: userId, draft });
      return draft;
    });
  }

  async delete(ctx: RequestContext, cid: string, parentId: string | undefined, requestedUserId?: string) {
    const userId = actingUserId(ctx, requestedUserId);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.channels.access(tx, ctx, cid, 'read', userId);
      if (!(await draftsRepository.delete(tx, ctx.app.id, userId, cid, parentId ?? null))) {
        throw new AppError('DRAFT_NOT_FOUND', undefined, parentId ? { field: 'parent_id' } : undefined);
      }
      events.record('draft.deleted', { cid, user_id: userId, parent_id: parentId ?? null });
    });
  }

  /** The user's drafts, most recently saved first, with a `next` cursor. */
  async list(ctx: RequestContext, query: z.output<typeof ListDraftsQuery>) {
    const userId = actingUserId(ctx, query.user_id);
    let before: { at: Date; cid: string; threadKey: string } | undefined;
    if (query.next) {
      const { at, keys } = decodeCursor(query.next, 2);
      before = { at, cid: keys[0]!, threadKey: keys[1]! };
    }
    const rows = await draftsRepository.list(this.db, ctx.app.id, userId, {
      ...(query.cid ? { cid: query.cid } : {}),
      ...(before ? { before } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      drafts: page.map(toDraftDto),
      next:
        rows.length > query.limit && last ? encodeCursor(last.updated_at, last.cid, last.thread_key) : null,
    };
  }
}
