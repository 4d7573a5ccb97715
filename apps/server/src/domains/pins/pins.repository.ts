import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';
import { messageColumns } from '../messages/message-columns.js';
import { nextUpdatedAt } from '../messages/messages.repository.js';

export const pinsRepository = {
  /** Sets or clears a message's pin (clear: every field null); bumps updated_at like any change. */
  setPin(
    db: Executor,
    appId: string,
    id: string,
    pin: { pinned_at: Date; pinned_by: string | null; pin_expires_at: Date | null } | null,
  ) {
    return db
      .updateTable('messages')
      .set({
        pinned_at: pin?.pinned_at ?? null,
        pinned_by: pin?.pinned_by ?? null,
        pin_expires_at: pin?.pin_expires_at ?? null,
        updated_at: nextUpdatedAt,
      })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returning(messageColumns)
      .executeTakeFirstOrThrow();
  },

  /**
   * A channel's live pins, most recently pinned first (messages_pinned_idx): not expired, not
   * deleted, inside the viewer's window (cleared history, truncation), shadowed ones only for
   * their author, none by users the viewer blocked.
   */
  pinned(
    db: Executor,
    appId: string,
    cid: string,
    opts: {
      viewerId: string | undefined;
      afterSeq: number;
      after: Date | null;
      before?: { at: Date; id: string };
      limit: number;
    },
  ): Promise<MessageRow[]> {
    let q = db
      .selectFrom('messages')
      .select(messageColumns)
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('pinned_at', 'is not', null)
      .where((eb) => eb.or([eb('pin_expires_at', 'is', null), eb('pin_expires_at', '>', sql<Date>`now()`)]))
      .where('deleted_at', 'is', null)
      .where('seq', '>', opts.afterSeq);
    if (opts.after) q = q.where('created_at', '>', opts.after);
    const viewer = opts.viewerId;
    q = viewer
      ? q
          .where((eb) => eb.or([eb('shadowed', '=', false), eb('user_id', '=', viewer)]))
          // Users the viewer blocked (as messagesRepository.page; blocks' primary key).
          .where(
            sql<boolean>`not exists (select 1 from blocks b where b.app_id = ${appId} and b.user_id = ${viewer} and b.target_id = messages.user_id)`,
          )
      : q.where('shadowed', '=', false);
    if (opts.before) {
      const { at, id } = opts.before;
      q = q.where(sql<boolean>`(pinned_at, id) < (${at}::timestamptz, ${id}::uuid)`);
    }
    return q.orderBy('pinned_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
  },
};
