import type { Executor } from '../../platform/db.js';
import type { CommandPreviewRow, CommandRow } from '../../platform/db.types.js';

export const commandsRepository = {
  list(db: Executor, appId: string) {
    return db.selectFrom('commands').selectAll().where('app_id', '=', appId).orderBy('name').execute();
  },

  find(db: Executor, appId: string, name: string) {
    return db
      .selectFrom('commands')
      .selectAll()
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .executeTakeFirst();
  },

  findMany(db: Executor, appId: string, names: string[]) {
    if (names.length === 0) return Promise.resolve([] as CommandRow[]);
    return db
      .selectFrom('commands')
      .selectAll()
      .where('app_id', '=', appId)
      .where('name', 'in', names)
      .orderBy('name')
      .execute();
  },

  insert(db: Executor, appId: string, row: Omit<CommandRow, 'app_id' | 'created_at' | 'updated_at'>) {
    return db
      .insertInto('commands')
      .values({ ...row, app_id: appId, updated_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  update(
    db: Executor,
    appId: string,
    name: string,
    patch: Partial<Pick<CommandRow, 'description' | 'args' | 'set' | 'url' | 'secret'>>,
  ) {
    return db
      .updateTable('commands')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
  },

  delete(db: Executor, appId: string, name: string) {
    return db
      .deleteFrom('commands')
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
  },

  insertPreview(
    db: Executor,
    appId: string,
    row: Omit<CommandPreviewRow, 'app_id' | 'state'> & { state: unknown },
  ) {
    return db
      .insertInto('command_previews')
      .values({ ...row, app_id: appId, state: JSON.stringify(row.state) })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /** A live (not expired) preview. */
  findPreview(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('command_previews')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .where('expires_at', '>', new Date())
      .executeTakeFirst();
  },

  updatePreview(db: Executor, appId: string, id: string, state: unknown) {
    return db
      .updateTable('command_previews')
      .set({ state: JSON.stringify(state) })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  deletePreview(db: Executor, appId: string, id: string) {
    return db.deleteFrom('command_previews').where('app_id', '=', appId).where('id', '=', id).execute();
  },
};
