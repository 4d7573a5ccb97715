import type { Executor } from '../../platform/db.js';

export interface NewMessageEdit {
  id: string;
  message_id: string;
  cid: string;
  edited_by: string | null;
  text: string;
  attachments: unknown[];
  version_created_at: Date;
  edited_at: Date;
}

/** Edit history (migration 0013): one row per edit, holding the version it replaced. */
export const messageEditsRepository = {
  async insert(db: Executor, appId: string, edit: NewMessageEdit) {
    await db
      .insertInto('message_edits')
      .values({ ...edit, app_id: appId, attachments: JSON.stringify(edit.attachments) })
      .execute();
  },

  /** A message's edits, oldest first (ids are UUIDv7, so id order is time order). */
  list(db: Executor, appId: string, messageId: string) {
    return db
      .selectFrom('message_edits')
      .selectAll()
      .where('app_id', '=', appId)
      .where('message_id', '=', messageId)
      .orderBy('id')
      .execute();
  },
};
