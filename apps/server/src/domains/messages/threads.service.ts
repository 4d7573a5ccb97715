import type { ListThreadsQuery, MarkThreadReadBody, Thread } from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { enrich, enrichOne } from './messages.dto.js';
import { messagesRepository } from './messages.repository.js';
import { userMessagesRepository } from './user-messages.repository.js';

/** Opaque `next` cursor of the thread list: the last thread's (last_reply_at, id). */
const encodeCursor = (at: Date, id: string) =>
  Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');

function decodeCursor(next: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(next, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) throw new Error('bad cursor');
    return { at: date, id };
  } catch {
    throw new AppError('VALIDATION_FAILED', 'next is not a cursor this list returned', {
      field: 'query.next',
    });
  }
}

/**
 * Threads a user takes part in and their read position in each. Participation is the
 * THREAD_PARTICIPANT flag in user_messages (set on the parent's row for its author and every
 * replier); the read position is a thread_reads row (channel seq of the last reply read), which
 * the user's own replies move forward. Unread replies = live replies by others after it.
 */
export class ThreadsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  /** Most recently active first; cursor pagination with `next`. Only channels the user is still in. */
  async list(
    ctx: RequestContext,
    query: z.output<typeof ListThreadsQuery>,
  ): Promise<{ threads: Thread[]; next: string | null }> {
    const userId = actingUserId(ctx, query.user_id);
    const rows = await userMessagesRepository
      .threadsQuery(this.db, ctx.app.id, userId, {
        ...(query.cid ? { cid: query.cid } : {}),
        ...(query.next ? { after: decodeCursor(query.next) } : {}),
        limit: query.limit + 1,
      })
      .execute();
    const more = rows.length > query.limit;
    const page = rows.slice(0, query.limit);
    const parents = await enrich(this.db, ctx.app.id, page, userId);
    const last = page.at(-1);
    return {
      threads: page.map((row, i) => ({
        cid: row.cid,
        parent: parents[i]!,
        unread_replies: row.unread_replies,
        last_read_seq: row.last_read_seq,
        last_read_at: row.last_read_at ? row.last_read_at.toISOString() : null,
      })),
      next: more && last ? encodeCursor(last.last_reply_at!, last.id) : null,
    };
  }

  /**
   * Moves the user's read position in a thread forward, to `message_id` (a reply of this thread)
   * or to the latest reply. Anyone who can read the channel may; it never moves back.
   */
  async markRead(
    ctx: RequestContext,
    parentId: string,
    body: z.output<typeof MarkThreadReadBody>,
  ): Promise<Thread> {
    const userId = actingUserId(ctx, body.user_id);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const parent = await messagesRepository.find(tx, ctx.app.id, parentId);
      if (!parent) throw new AppError('MESSAGE_NOT_FOUND');
      const access = await this.channels.access(tx, ctx, parent.cid, 'read', userId);
      if (parent.parent_id) {
        throw new AppError('THREAD_NESTED', 'this message is a reply; mark its parent’s thread read', {
          field: 'message_id',
          parent_id: parent.parent_id,
        });
      }
      let seq: number | null = null;
      if (body.message_id) {
        const reply = await messagesRepository.find(tx, ctx.app.id, body.message_id);
        if (!reply || reply.parent_id !== parent.id) {
          throw new AppError('MESSAGE_NOT_FOUND', 'the message is not a reply of this thread', {
            field: 'message_id',
          });
        }
        seq = reply.seq;
      }
      const now = new Date();
      const read = await userMessagesRepository.markThreadRead(tx, ctx.app.id, userId, parent.id, seq, now);
      const unread = await messagesRepository.countUnreadReplies(
        tx,
        ctx.app.id,
        parent.id,
        read.last_read_seq,
        userId,
      );
      events.record('notification.thread_read', {
        cid: parent.cid,
        user_id: userId,
        parent_id: parent.id,
        last_read_seq: read.last_read_seq,
        last_read_at: read.last_read_at.toISOString(),
      });
      return {
        cid: parent.cid,
        parent: await enrichOne(tx, ctx.app.id, parent, access.userId),
        unread_replies: unread,
        last_read_seq: read.last_read_seq,
        last_read_at: read.last_read_at.toISOString(),
      };
    });
  }
}
