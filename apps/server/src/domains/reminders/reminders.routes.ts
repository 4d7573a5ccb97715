import {
  CreateReminderBody,
  ErrorResponse,
  ListRemindersQuery,
  MessageParams,
  Ok,
  ReminderQuery,
  ReminderResponse,
  RemindersResponse,
  UpdateReminderBody,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['reminders'];

export const remindersRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/messages/:message_id/reminder',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: CreateReminderBody,
          response: { 201: ReminderResponse, ...errors },
        },
      },
      async (req, reply) => {
        const reminder = await services.reminders.create(req.ctx, req.params.message_id, req.body);
        reply.status(201);
        return { reminder };
      },
    );
    app.patch(
      '/messages/:message_id/reminder',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: UpdateReminderBody,
          response: { 200: ReminderResponse, ...errors },
        },
      },
      async (req) => ({
        reminder: await services.reminders.update(req.ctx, req.params.message_id, req.body),
      }),
    );
    app.delete(
      '/messages/:message_id/reminder',
      {
        ...anyCaller,
        schema: { tags, params: MessageParams, querystring: ReminderQuery, response: { 200: Ok, ...errors } },
      },
      async (req) => {
        await services.reminders.delete(req.ctx, req.params.message_id, req.query.user_id);
        return { ok: true as const };
      },
    );
    app.get(
      '/reminders',
      {
        ...anyCaller,
        schema: { tags, querystring: ListRemindersQuery, response: { 200: RemindersResponse, ...errors } },
      },
      async (req) => services.reminders.list(req.ctx, req.query),
    );
  };
