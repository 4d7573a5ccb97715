import {
  ActingUserQuery,
  ChannelParams,
  ErrorResponse,
  ListScheduledMessagesQuery,
  Ok,
  ScheduledMessageParams,
  ScheduledMessageResponse,
  ScheduledMessagesResponse,
  ScheduleMessageBody,
  UpdateScheduledMessageBody,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cidOf } from '../../platform/cid.js';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['scheduled messages'];

export const scheduledMessagesRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/channels/:type/:id/scheduled-messages',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: ScheduleMessageBody,
          response: { 201: ScheduledMessageResponse, ...errors },
        },
      },
      async (req, reply) => {
        const scheduled = await services.scheduledMessages.create(req.ctx, cidOf(req.params), req.body);
        reply.status(201);
        return { scheduled_message: scheduled };
      },
    );
    app.get(
      '/scheduled-messages',
      {
        ...anyCaller,
        schema: {
          tags,
          querystring: ListScheduledMessagesQuery,
          response: { 200: ScheduledMessagesResponse, ...errors },
        },
      },
      async (req) => services.scheduledMessages.list(req.ctx, req.query),
    );
    app.get(
      '/scheduled-messages/:scheduled_message_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ScheduledMessageParams,
          querystring: ActingUserQuery,
          response: { 200: ScheduledMessageResponse, ...errors },
        },
      },
      async (req) => ({
        scheduled_message: await services.scheduledMessages.get(
          req.ctx,
          req.params.scheduled_message_id,
          req.query.user_id,
        ),
      }),
    );
    app.patch(
      '/scheduled-messages/:scheduled_message_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ScheduledMessageParams,
          body: UpdateScheduledMessageBody,
          response: { 200: ScheduledMessageResponse, ...errors },
        },
      },
      async (req) => ({
        scheduled_message: await services.scheduledMessages.update(
          req.ctx,
          req.params.scheduled_message_id,
          req.body,
        ),
      }),
    );
    app.delete(
      '/scheduled-messages/:scheduled_message_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ScheduledMessageParams,
          querystring: ActingUserQuery,
          response: { 200: Ok, ...errors },
        },
      },
      async (req) => {
        await services.scheduledMessages.delete(req.ctx, req.params.scheduled_message_id, req.query.user_id);
        return { ok: true as const };
      },
    );
  };
