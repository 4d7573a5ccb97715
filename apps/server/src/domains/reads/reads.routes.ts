import {
  ChannelParams,
  ErrorResponse,
  MarkAllReadBody,
  MarkReadBody,
  UnreadCounts,
  UnreadQuery,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cidOf } from '../../platform/cid.js';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['read state'];

export const readsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/channels/:type/:id/read',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: MarkReadBody,
          response: { 200: UnreadCounts, ...errors },
        },
      },
      async (req) =>
        services.reads.markRead(req.ctx, cidOf(req.params), {
          messageId: req.body.message_id,
          userId: req.body.user_id,
        }),
    );
    app.post(
      '/channels/read',
      { ...anyCaller, schema: { tags, body: MarkAllReadBody, response: { 200: UnreadCounts, ...errors } } },
      async (req) => services.reads.markAllRead(req.ctx, req.body.user_id),
    );
    app.get(
      '/unread',
      {
        ...anyCaller,
        schema: { tags, querystring: UnreadQuery, response: { 200: UnreadCounts, ...errors } },
      },
      async (req) => services.reads.unread(req.ctx, req.query.user_id),
    );
  };
