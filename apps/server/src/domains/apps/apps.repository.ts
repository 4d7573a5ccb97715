import type { Executor } from '../../platform/db.js';
import type { AppRow } from '../../platform/db.types.js';

export interface NewAppRow {
  id: string;
  name: string;
  api_key: string;
  secret_hash: Buffer;
  settings: Record<string, unknown>;
  limits: Record<string, unknown>;
}

export const appsRepository = {
  async insert(db: Executor, app: NewAppRow): Promise<AppRow> {
    return db
      .insertInto('apps')
      .values({
        ...app,
        settings: JSON.stringify(app.settings),
        limits: JSON.stringify(app.limits),
        updated_at: new Date(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  findById(db: Executor, id: string) {
    return db.selectFrom('apps').selectAll().where('id', '=', id).executeTakeFirst();
  },

  findByApiKey(db: Executor, apiKey: string) {
    return db.selectFrom('apps').selectAll().where('api_key', '=', apiKey).executeTakeFirst();
  },

  findByName(db: Executor, name: string) {
    return db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst();
  },

  list(db: Executor) {
    return db.selectFrom('apps').selectAll().orderBy('created_at').orderBy('id').execute();
  },

  async update(
    db: Executor,
    id: string,
    patch: {
      settings?: Record<string, unknown>;
      limits?: Record<string, unknown>;
    },
  ) {
    return db
      .updateTable('apps')
      .set({
        ...(patch.settings ? { settings: JSON.stringify(patch.settings) } : {}),
        ...(patch.limits ? { limits: JSON.stringify(patch.limits) } : {}),
        updated_at: new Date(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },

  async replaceSecret(db: Executor, id: string, secretHash: Buffer, previousValidUntil: Date | null) {
    return db
      .updateTable('apps')
      .set((eb) => ({
        previous_secret_hash: previousValidUntil ? eb.ref('secret_hash') : null,
        previous_secret_expires_at: previousValidUntil,
        secret_hash: secretHash,
        updated_at: new Date(),
      }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },
};
