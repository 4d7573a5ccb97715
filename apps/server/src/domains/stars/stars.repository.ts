import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';
import {
  flaggedMessagesInChannels,
  hasFlag,
  MessageFlag,
  notByBlocked,
} from '../messages/user-messages.repository.js';

/** Written the same way as the partial index predicate of migration 0013 (flags & 2 <> 0). */
const starred = hasFlag(MessageFlag.STARRED);

export const starsRepository = {
  /** Sets STARRED on the user's row of the message (creating it); starred_at stays if already starred. */
  async star(db: Executor, appId: string, userId: string, message: MessageRow, at: Date) {
    const row = await db
      .insertInto('user_messages')
      .values({
        app_id: appId,
        user_id: userId,
        message_id: message.id,
        cid: message.cid,
        seq: message.seq,
        flags: MessageFlag.STARRED,
        starred_at: at,
      })
      .onConflict((oc) =>
        oc.columns(['app_id', 'user_id', 'message_id']).doUpdateSet({
          flags: sql<number>`user_messages.flags | ${sql.lit(MessageFlag.STARRED)}`,
          starred_at: sql<Date>`case when ${starred} then user_messages.starred_at else excluded.starred_at end`,
        }),
      )
      .returning(['starred_at'])
      .executeTakeFirstOrThrow();
    return row.starred_at!;
  },

  /** Clears STARRED; a row left with no flag is removed. Returns whether the message was starred. */
  async unstar(db: Executor, appId: string, userId: string, messageId: string): Promise<boolean> {
    const updated = await db
      .updateTable('user_messages')
      .set({ flags: sql<number>`flags & ${sql.lit(~MessageFlag.STARRED)}`, starred_at: null })
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('message_id', '=', messageId)
      .where(starred)
      .returning(['flags'])
      .executeTakeFirst();
    if (updated && updated.flags === 0) {
      await db
        .deleteFrom('user_messages')
        .where('app_id', '=', appId)
        .where('user_id', '=', userId)
        .where('message_id', '=', messageId)
        .where('flags', '=', 0)
        .execute();
    }
    return updated !== undefined;
  },

  /**
   * "My starred", most recently starred first (user_messages_starred_idx), limited to channels the
   * user is still in and to live messages, without messages of users they blocked.
   */
  list(
    db: Executor,
    appId: string,
    userId: string,
    opts: { cid?: string; before?: { at: Date; id: string }; limit: number },
  ): Promise<(MessageRow & { starred_at_: Date })[]> {
    let q = flaggedMessagesInChannels(db, appId, userId, MessageFlag.STARRED)
      .selectAll('messages')
      .select(sql<Date>`user_messages.starred_at`.as('starred_at_'))
      .where('messages.deleted_at', 'is', null)
      .where((eb) => eb.or([eb('messages.shadowed', '=', false), eb('messages.user_id', '=', userId)]))
      .where(notByBlocked(appId, userId));
    if (opts.cid) q = q.where('user_messages.cid', '=', opts.cid);
    if (opts.before) {
      const { at, id } = opts.before;
      q = q.where(
        sql<boolean>`(user_messages.starred_at, user_messages.message_id) < (${at}::timestamptz, ${id}::uuid)`,
      );
    }
    return q
      .orderBy('user_messages.starred_at', 'desc')
      .orderBy('user_messages.message_id', 'desc')
      .limit(opts.limit)
      .execute() as Promise<(MessageRow & { starred_at_: Date })[]>;
  },
};
