import {
  ActingUserQuery,
  ErrorResponse,
  MessageParams,
  StarMessageBody,
  StarResponse,
  StarredMessagesQuery,
  StarredMessagesResponse,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['starred'];

export const starsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/messages/:message_id/star',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: StarMessageBody,
          response: { 200: StarResponse, ...errors },
        },
      },
      async (req) => services.stars.star(req.ctx, req.params.message_id, req.body.user_id),
    );
    app.delete(
      '/messages/:message_id/star',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          querystring: ActingUserQuery,
          response: { 200: StarResponse, ...errors },
        },
      },
      async (req) => services.stars.unstar(req.ctx, req.params.message_id, req.query.user_id),
    );
    app.get(
      '/starred',
      {
        ...anyCaller,
        schema: {
          tags,
          querystring: StarredMessagesQuery,
          response: { 200: StarredMessagesResponse, ...errors },
        },
      },
      async (req) => services.stars.list(req.ctx, req.query),
    );
  };
