import type { ChannelTypeConfig } from '@parley/protocol';
import type { Executor } from '../../platform/db.js';

export const channelTypesRepository = {
  insertMany(db: Executor, appId: string, types: Record<string, ChannelTypeConfig>) {
    const now = new Date();
    return db
      .insertInto('channel_types')
      .values(
        Object.entries(types).map(([name, config]) => ({
          app_id: appId,
          name,
          config: JSON.stringify(config),
          updated_at: now,
        })),
      )
      .onConflict((oc) => oc.columns(['app_id', 'name']).doNothing())
      .returningAll()
      .execute();
  },

  /** Fails with a unique violation when the app already has a type of that name. */
  insert(db: Executor, appId: string, name: string, config: ChannelTypeConfig) {
    return db
      .insertInto('channel_types')
      .values({ app_id: appId, name, config: JSON.stringify(config), updated_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  find(db: Executor, appId: string, name: string) {
    return db
      .selectFrom('channel_types')
      .selectAll()
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .executeTakeFirst();
  },

  list(db: Executor, appId: string) {
    return db.selectFrom('channel_types').selectAll().where('app_id', '=', appId).orderBy('name').execute();
  },

  update(db: Executor, appId: string, name: string, config: ChannelTypeConfig) {
    return db
      .updateTable('channel_types')
      .set({ config: JSON.stringify(config), updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
  },

  async delete(db: Executor, appId: string, name: string) {
    const result = await db
      .deleteFrom('channel_types')
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
