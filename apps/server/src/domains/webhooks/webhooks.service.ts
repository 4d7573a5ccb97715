import {
  type CreateWebhookBody,
  type ParleyEvent,
  type UpdateWebhookBody,
  type Webhook,
  type WebhookDeliveriesQuery,
  type WebhookDelivery,
  webhookFilterMatches,
} from '@parley/protocol';
import type { z } from 'zod';
import type { JobSystem } from '../../jobs/boss.js';
import type { RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { randomToken, uuidv7 } from '../../platform/ids.js';
import { ShortCache } from '../../platform/short-cache.js';
import {
  type NewDelivery,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
  webhooksRepository,
} from './webhooks.repository.js';
import { deliveryIdFor } from './webhooks.signing.js';

/** Endpoints one app may have. */
export const MAX_WEBHOOKS_PER_APP = 20;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function toWebhookDto(row: WebhookEndpointRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    active: row.active,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toDeliveryDto(row: Omit<WebhookDeliveryRow, 'app_id' | 'body'>): WebhookDelivery {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status as WebhookDelivery['status'],
    attempts: row.attempts,
    response_status: row.response_status,
    latency_ms: row.latency_ms,
    error: row.error,
    redelivery_of: row.redelivery_of,
    created_at: row.created_at.toISOString(),
    last_attempt_at: iso(row.last_attempt_at),
    completed_at: iso(row.completed_at),
  };
}

/** The body sent for an event: `{ id, type, created_at, app_id, ...payload }` as JSON. */
export function webhookBody(event: ParleyEvent): string {
  const { id, type, created_at, app_id, ...payload } = event;
  return JSON.stringify({ id, type, created_at, app_id, ...payload });
}

/**
 * Webhook endpoints of an app (server-side API) and the outbox that turns committed events into
 * delivery jobs. Every query is scoped by the caller's app.
 */
export class WebhooksService {
  /** Active endpoints by app: every write's transaction needs them (ADR 0015). */
  private readonly endpoints = new ShortCache<{ id: string; events: string[] }[]>();

  constructor(
    private readonly db: Db,
    private readonly jobs: JobSystem,
  ) {}

  async create(ctx: RequestContext, body: z.infer<typeof CreateWebhookBody>) {
    const count = await webhooksRepository.countEndpoints(this.db, ctx.app.id);
    if (count >= MAX_WEBHOOKS_PER_APP) {
      throw new AppError(
        'VALIDATION_FAILED',
        `an app may have at most ${MAX_WEBHOOKS_PER_APP} webhook endpoints`,
        {
          field: 'url',
        },
      );
    }
    const secret = `whsec_${randomToken(32)}`;
    const row = await webhooksRepository.insertEndpoint(this.db, {
      app_id: ctx.app.id,
      id: uuidv7(),
      url: body.url,
      events: [...new Set(body.events)],
      description: body.description ?? null,
      secret,
      active: body.active ?? true,
    });
    this.endpoints.delete(ctx.app.id);
    return { ...toWebhookDto(row), secret };
  }

  async list(ctx: RequestContext): Promise<Webhook[]> {
    return (await webhooksRepository.listEndpoints(this.db, ctx.app.id)).map(toWebhookDto);
  }

  async get(ctx: RequestContext, id: string): Promise<Webhook> {
    return toWebhookDto(await this.endpoint(ctx, id));
  }

  async update(ctx: RequestContext, id: string, patch: z.infer<typeof UpdateWebhookBody>): Promise<Webhook> {
    const row = await webhooksRepository.updateEndpoint(this.db, ctx.app.id, id, {
      ...patch,
      ...(patch.events ? { events: [...new Set(patch.events)] } : {}),
    });
    if (!row) throw new AppError('WEBHOOK_NOT_FOUND');
    this.endpoints.delete(ctx.app.id);
    return toWebhookDto(row);
  }

  /** Deletes the endpoint and its delivery log; its queued deliveries are dropped by the worker. */
  async delete(ctx: RequestContext, id: string) {
    const deleted = await webhooksRepository.deleteEndpoint(this.db, ctx.app.id, id);
    this.endpoints.delete(ctx.app.id);
    if (!deleted) throw new AppError('WEBHOOK_NOT_FOUND');
  }

  async deliveries(
    ctx: RequestContext,
    webhookId: string,
    query: z.infer<typeof WebhookDeliveriesQuery>,
  ): Promise<WebhookDelivery[]> {
    await this.endpoint(ctx, webhookId);
    const rows = await webhooksRepository.listDeliveries(this.db, ctx.app.id, webhookId, {
      limit: query.limit,
      ...(query.id_lt ? { idLt: query.id_lt } : {}),
      ...(query.status ? { status: query.status } : {}),
    });
    return rows.map(toDeliveryDto);
  }

  /**
   * Sends a delivery's event again, as a new delivery (same event id and body, so receivers that
   * dedup by event id ignore it if they had processed it).
   */
  async redeliver(ctx: RequestContext, webhookId: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.db
      .transaction()
      .execute(async (tx) => {
        const endpoint = await this.endpoint(ctx, webhookId, tx);
        const original = await webhooksRepository.findDelivery(tx, ctx.app.id, deliveryId);
        if (!original || original.webhook_id !== endpoint.id)
          throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND');
        if (!endpoint.active) {
          throw new AppError('VALIDATION_FAILED', 'the endpoint is paused: set active to true first', {
            field: 'webhook_id',
          });
        }
        const id = uuidv7();
        await webhooksRepository.insertDeliveries(tx, [
          {
            app_id: ctx.app.id,
            id,
            webhook_id: endpoint.id,
            event_id: original.event_id,
            event_type: original.event_type,
            body: original.body,
            redelivery_of: original.id,
          },
        ]);
        await this.jobs.send(tx, 'webhook.deliver', { app_id: ctx.app.id, delivery_id: id }, { id });
        const row = await webhooksRepository.findDelivery(tx, ctx.app.id, id);
        return toDeliveryDto(row!);
      })
      .then((delivery) => {
        this.jobs.wake('webhook.deliver');
        return delivery;
      });
  }

  /**
   * The outbox (a transactional consumer of the event bus): inside the write's transaction, one
   * delivery row and one `webhook.deliver` job per (event × active endpoint whose filter matches).
   * A rolled-back write leaves neither; the same event recorded twice gives one delivery.
   */
  async enqueueDeliveries(
    tx: Tx,
    events: readonly ParleyEvent[],
    afterCommit: (callback: () => void) => void,
  ) {
    const rows: NewDelivery[] = [];
    for (const appId of new Set(events.map((e) => e.app_id))) {
      const endpoints = await this.endpoints.get(appId, () => webhooksRepository.activeEndpoints(tx, appId));
      if (endpoints.length === 0) continue;
      for (const event of events) {
        if (event.app_id !== appId) continue;
        for (const endpoint of endpoints) {
          if (!webhookFilterMatches(endpoint.events, event.type)) continue;
          rows.push({
            app_id: appId,
            id: deliveryIdFor(event.id, endpoint.id),
            webhook_id: endpoint.id,
            event_id: event.id,
            event_type: event.type,
            body: webhookBody(event),
          });
        }
      }
    }
    if (rows.length === 0) return;
    const inserted = new Set(await webhooksRepository.insertDeliveriesToActive(tx, rows));
    await this.jobs.sendMany(
      tx,
      'webhook.deliver',
      rows
        .filter((row) => inserted.has(row.id))
        .map((row) => ({ id: row.id, data: { app_id: row.app_id, delivery_id: row.id } })),
    );
    afterCommit(() => this.jobs.wake('webhook.deliver'));
  }

  private async endpoint(ctx: RequestContext, id: string, db: Db | Tx = this.db) {
    const row = await webhooksRepository.findEndpoint(db, ctx.app.id, id);
    if (!row) throw new AppError('WEBHOOK_NOT_FOUND');
    return row;
  }
}
