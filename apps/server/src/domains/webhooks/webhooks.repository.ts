import { type ColumnType, type Generated, type Selectable, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface WebhookEndpointsTable {
  app_id: string;
  id: string;
  url: string;
  events: ColumnType<string[], string[], string[]>;
  description: string | null;
  /** The HMAC signing key (kept as is: signing needs it). */
  secret: string;
  active: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  app_id: string;
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  /** The exact JSON body sent. */
  body: string;
  status: Generated<string>;
  attempts: Generated<number>;
  response_status: number | null;
  latency_ms: number | null;
  error: string | null;
  redelivery_of: string | null;
  created_at: CreatedAt;
  last_attempt_at: Date | null;
  completed_at: Date | null;
}

type WebhookTables = {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
};

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;

export interface NewDelivery {
  app_id: string;
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  body: string;
  redelivery_of?: string | null;
}

const tables = (db: Executor) => db.withTables<WebhookTables>();

/** The delivery log's columns, without the body (lists stay small). */
const deliveryColumns = [
  'id',
  'webhook_id',
  'event_id',
  'event_type',
  'status',
  'attempts',
  'response_status',
  'latency_ms',
  'error',
  'redelivery_of',
  'created_at',
  'last_attempt_at',
  'completed_at',
] as const;

export const webhooksRepository = {
  insertEndpoint(
    db: Executor,
    row: {
      app_id: string;
      id: string;
      url: string;
      events: string[];
      description: string | null;
      secret: string;
      active: boolean;
    },
  ) {
    return tables(db)
      .insertInto('webhook_endpoints')
      .values({ ...row, updated_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  listEndpoints(db: Executor, appId: string) {
    return tables(db)
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('app_id', '=', appId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  },

  async countEndpoints(db: Executor, appId: string): Promise<number> {
    const row = await tables(db)
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('app_id', '=', appId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  findEndpoint(db: Executor, appId: string, id: string) {
    return tables(db)
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  /** The endpoints that receive events now: read inside every write's transaction (outbox). */
  activeEndpoints(db: Executor, appId: string) {
    return tables(db)
      .selectFrom('webhook_endpoints')
      .select(['id', 'events'])
      .where('app_id', '=', appId)
      .where('active', '=', true)
      .execute();
  },

  updateEndpoint(
    db: Executor,
    appId: string,
    id: string,
    patch: { url?: string; events?: string[]; description?: string | null; active?: boolean },
  ) {
    return tables(db)
      .updateTable('webhook_endpoints')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },

  async deleteEndpoint(db: Executor, appId: string, id: string): Promise<boolean> {
    const result = await tables(db)
      .deleteFrom('webhook_endpoints')
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  /** Inserts delivery rows; returns the ids that were new (a repeated id is skipped). */
  async insertDeliveries(db: Executor, rows: NewDelivery[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const inserted = await tables(db)
      .insertInto('webhook_deliveries')
      .values(rows.map((row) => ({ ...row, redelivery_of: row.redelivery_of ?? null })))
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .execute();
    return inserted.map((row) => row.id);
  },

  /**
   * Inserts outbox deliveries for endpoints that are still active now (the caller's endpoint list
   * may be a few seconds old: ADR 0015); returns the ids it inserted. Re-checking here keeps a
   * deleted endpoint from failing the write's transaction on the foreign key.
   */
  async insertDeliveriesToActive(db: Executor, rows: NewDelivery[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const result = await sql<{ id: string }>`
      insert into webhook_deliveries (app_id, id, webhook_id, event_id, event_type, body)
      select r.app_id, r.id, r.webhook_id, r.event_id, r.event_type, r.body
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        as r(app_id text, id uuid, webhook_id uuid, event_id uuid, event_type text, body text)
      join webhook_endpoints e on e.app_id = r.app_id and e.id = r.webhook_id and e.active
      on conflict (id) do nothing
      returning id`.execute(db);
    return result.rows.map((row) => row.id);
  },

  findDelivery(db: Executor, appId: string, id: string) {
    return tables(db)
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  listDeliveries(
    db: Executor,
    appId: string,
    webhookId: string,
    opts: { limit: number; idLt?: string; status?: string },
  ) {
    let query = tables(db)
      .selectFrom('webhook_deliveries')
      .select(deliveryColumns)
      .where('app_id', '=', appId)
      .where('webhook_id', '=', webhookId);
    if (opts.idLt) query = query.where('id', '<', opts.idLt);
    if (opts.status) query = query.where('status', '=', opts.status);
    return query.orderBy('id', 'desc').limit(opts.limit).execute();
  },

  /** Counts an attempt as started; returns its number (1 for the first). */
  async startAttempt(db: Executor, appId: string, id: string): Promise<number> {
    const row = await tables(db)
      .updateTable('webhook_deliveries')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), last_attempt_at: new Date() }))
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returning('attempts')
      .executeTakeFirstOrThrow();
    return row.attempts;
  },

  finishAttempt(
    db: Executor,
    appId: string,
    id: string,
    outcome: {
      status: 'retrying' | 'succeeded' | 'failed';
      response_status: number | null;
      latency_ms: number | null;
      error: string | null;
    },
  ) {
    return tables(db)
      .updateTable('webhook_deliveries')
      .set({
        ...outcome,
        completed_at: outcome.status === 'retrying' ? null : new Date(),
      })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .execute();
  },
};
