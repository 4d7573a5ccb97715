import {
  CreateWebhookBody,
  ErrorResponse,
  Ok,
  UpdateWebhookBody,
  Webhook,
  WebhookDeliveriesQuery,
  WebhookDelivery,
  WebhookDeliveryParams,
  WebhookParams,
  WebhookWithSecret,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['webhooks'];

/** Webhook endpoints of the caller's app and their delivery log (server-side calls only). */
export const webhooksRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const server = { config: { auth: 'server' as const } };
    app.post(
      '/webhooks',
      {
        ...server,
        schema: {
          tags,
          description: 'Adds an endpoint. Its signing `secret` is in this answer only: store it.',
          body: CreateWebhookBody,
          response: { 201: z.object({ webhook: WebhookWithSecret }), ...errors },
        },
      },
      async (req, reply) => {
        reply.status(201);
        return { webhook: await services.webhooks.create(req.ctx, req.body) };
      },
    );
    app.get(
      '/webhooks',
      { ...server, schema: { tags, response: { 200: z.object({ webhooks: z.array(Webhook) }), ...errors } } },
      async (req) => ({ webhooks: await services.webhooks.list(req.ctx) }),
    );
    app.get(
      '/webhooks/:webhook_id',
      {
        ...server,
        schema: { tags, params: WebhookParams, response: { 200: z.object({ webhook: Webhook }), ...errors } },
      },
      async (req) => ({ webhook: await services.webhooks.get(req.ctx, req.params.webhook_id) }),
    );
    app.patch(
      '/webhooks/:webhook_id',
      {
        ...server,
        schema: {
          tags,
          params: WebhookParams,
          body: UpdateWebhookBody,
          response: { 200: z.object({ webhook: Webhook }), ...errors },
        },
      },
      async (req) => ({ webhook: await services.webhooks.update(req.ctx, req.params.webhook_id, req.body) }),
    );
    app.delete(
      '/webhooks/:webhook_id',
      { ...server, schema: { tags, params: WebhookParams, response: { 200: Ok, ...errors } } },
      async (req) => {
        await services.webhooks.delete(req.ctx, req.params.webhook_id);
        return { ok: true as const };
      },
    );
    app.get(
      '/webhooks/:webhook_id/deliveries',
      {
        ...server,
        schema: {
          tags,
          description:
            'The delivery log, newest first. Page with `id_lt` (the last id of the previous page).',
          params: WebhookParams,
          querystring: WebhookDeliveriesQuery,
          response: { 200: z.object({ deliveries: z.array(WebhookDelivery) }), ...errors },
        },
      },
      async (req) => ({
        deliveries: await services.webhooks.deliveries(req.ctx, req.params.webhook_id, req.query),
      }),
    );
    app.post(
      '/webhooks/:webhook_id/deliveries/:delivery_id/redeliver',
      {
        ...server,
        schema: {
          tags,
          description: 'Sends the delivery’s event again (same event id and body) as a new delivery.',
          params: WebhookDeliveryParams,
          response: { 202: z.object({ delivery: WebhookDelivery }), ...errors },
        },
      },
      async (req, reply) => {
        reply.status(202);
        return {
          delivery: await services.webhooks.redeliver(req.ctx, req.params.webhook_id, req.params.delivery_id),
        };
      },
    );
  };
