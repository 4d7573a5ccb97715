import {
  ActingUserQuery,
  ChannelParams,
  ErrorResponse,
  MarkAllReadBody,
  MarkDeliveredBody,
  MarkDeliveredResponse,
  MarkReadBody,
  MarkUnreadBody,
  MessageParams,
  ReadByResponse,
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
      '/channels/:type/:id/unread',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: MarkUnreadBody,
          response: { 200: UnreadCounts, ...errors },
        },
      },
      async (req) =>
        services.reads.markUnread(req.ctx, cidOf(req.params), {
          messageId: req.body.message_id,
          userId: req.body.user_id,
        }),
    );
    app.post(
      '/channels/delivered',
      {
        ...anyCaller,
        schema: { tags, body: MarkDeliveredBody, response: { 200: MarkDeliveredResponse, ...errors } },
      },
      async (req) => services.reads.markDelivered(req.ctx, req.body),
    );
    app.get(
      '/messages/:message_id/read-by',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          querystring: ActingUserQuery,
          response: { 200: ReadByResponse, ...errors },
        },
      },
      async (req) => services.reads.readBy(req.ctx, req.params.message_id, req.query.user_id),
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
