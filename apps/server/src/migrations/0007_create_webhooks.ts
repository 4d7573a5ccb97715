import { type Kysely, sql } from 'kysely';

/**
 * Webhook endpoints (several per app, each with its event filter) and the delivery log: one row per
 * event sent to one endpoint, updated by every attempt of the delivery job.
 */
export async function up(db: Kysely<unknown>) {
  await sql`
    create table webhook_endpoints (
      app_id text not null references apps (id) on delete cascade,
      id uuid not null primary key,
      url text not null,
      events text[] not null,
      description text,
      -- The HMAC key: kept as is because signing needs it; shown to the app once, on creation.
      secret text not null,
      active boolean not null default true,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  // Every write looks up the active endpoints of its app inside its transaction (the outbox).
  await sql`create index webhook_endpoints_app_idx on webhook_endpoints (app_id, created_at, id)`.execute(db);

  await sql`
    create table webhook_deliveries (
      app_id text not null,
      id uuid not null primary key,
      webhook_id uuid not null references webhook_endpoints (id) on delete cascade,
      event_id uuid not null,
      event_type text not null,
      -- The exact JSON body sent (text, byte for byte): retries and redeliveries send it again.
      body text not null,
      status text not null default 'pending',
      attempts integer not null default 0,
      response_status integer,
      latency_ms integer,
      error text,
      redelivery_of uuid,
      created_at timestamptz not null default now(),
      last_attempt_at timestamptz,
      completed_at timestamptz
    )`.execute(db);
  await sql`create index webhook_deliveries_webhook_idx on webhook_deliveries (app_id, webhook_id, id)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>) {
  await sql`drop table webhook_deliveries`.execute(db);
  await sql`drop table webhook_endpoints`.execute(db);
}
