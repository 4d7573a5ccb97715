import {
  ActingUserQuery,
  ChannelParams,
  ErrorResponse,
  MessageParams,
  MessageResponse,
  PagedMessagesResponse,
  PinMessageBody,
  PinnedMessagesQuery,
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
const tags = ['pins'];

export const pinsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/messages/:message_id/pin',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: PinMessageBody,
          response: { 200: MessageResponse, ...errors },
        },
      },
      async (req) => ({ message: await services.pins.pin(req.ctx, req.params.message_id, req.body) }),
    );
    app.delete(
      '/messages/:message_id/pin',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          querystring: ActingUserQuery,
          response: { 200: MessageResponse, ...errors },
        },
      },
      async (req) => ({
        message: await services.pins.unpin(req.ctx, req.params.message_id, req.query.user_id),
      }),
    );
    app.get(
      '/channels/:type/:id/pinned',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: PinnedMessagesQuery,
          response: { 200: PagedMessagesResponse, ...errors },
        },
      },
      async (req) => services.pins.list(req.ctx, cidOf(req.params), req.query),
    );
  };
