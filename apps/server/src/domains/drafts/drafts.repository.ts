import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { DraftRow } from '../../platform/db.types.js';

export interface DraftContent {
  parent_id: string | null;
  reply_to_id: string | null;
  text: string;
  attachments: unknown[];
  custom: Record<string, unknown>;
  mentioned_user_ids: string[];
}

/** A draft's key column: the thread parent's id, or '' for the channel itself. */
export const threadKey = (parentId: string | null | undefined) => parentId ?? '';

export const draftsRepository = {
  find(db: Executor, appId: string, userId: string, cid: string, parentId: string | null) {
    return db
      .selectFrom('drafts')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('cid', '=', cid)
      .where('thread_key', '=', threadKey(parentId))
      .executeTakeFirst();
  },

  /** Creates or replaces the user's draft for the channel or thread. */
  upsert(db: Executor, appId: string, userId: string, cid: string, draft: DraftContent, at: Date) {
    const values = {
      ...draft,
      attachments: JSON.stringify(draft.attachments),
      custom: JSON.stringify(draft.custom),
      updated_at: at,
    };
    return db
      .insertInto('drafts')
      .values({
        app_id: appId,
        user_id: userId,
        cid,
        thread_key: threadKey(draft.parent_id),
        ...values,
        created_at: at,
      })
      .onConflict((oc) => oc.columns(['app_id', 'user_id', 'cid', 'thread_key']).doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async delete(db: Executor, appId: string, userId: string, cid: string, parentId: string | null) {
    const row = await db
      .deleteFrom('drafts')
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .where('cid', '=', cid)
      .where('thread_key', '=', threadKey(parentId))
      .returning(['cid'])
      .executeTakeFirst();
    return row !== undefined;
  },

  /** The user's drafts, most recently saved first (drafts_by_user_idx), in channels they are still in. */
  list(
    db: Executor,
    appId: string,
    userId: string,
    opts: { cid?: string; before?: { at: Date; cid: string; threadKey: string }; limit: number },
  ): Promise<DraftRow[]> {
    let q = db
      .selectFrom('drafts')
      .innerJoin('members', (j) =>
        j
          .onRef('members.app_id', '=', 'drafts.app_id')
          .onRef('members.cid', '=', 'drafts.cid')
          .onRef('members.user_id', '=', 'drafts.user_id'),
      )
      .selectAll('drafts')
      .where('drafts.app_id', '=', appId)
      .where('drafts.user_id', '=', userId)
      .where('members.invite_rejected_at', 'is', null);
    if (opts.cid) q = q.where('drafts.cid', '=', opts.cid);
    if (opts.before) {
      const { at, cid, threadKey: key } = opts.before;
      q = q.where(
        sql<boolean>`(drafts.updated_at, drafts.cid, drafts.thread_key) < (${at}::timestamptz, ${cid}::text, ${key}::text)`,
      );
    }
    return q
      .orderBy('drafts.updated_at', 'desc')
      .orderBy('drafts.cid', 'desc')
      .orderBy('drafts.thread_key', 'desc')
      .limit(opts.limit)
      .execute();
  },
};
