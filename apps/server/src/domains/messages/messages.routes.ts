import {
  ActingUserQuery,
  ChannelParams,
  DeleteMessageQuery,
  ErrorResponse,
  ListMentionsQuery,
  ListMessagesQuery,
  ListThreadsQuery,
  MarkThreadReadBody,
  MessageEditsResponse,
  MessageParams,
  MessageResponse,
  MessagesResponse,
  SendMessageBody,
  ThreadResponse,
  ThreadsResponse,
  UnreadMentions,
  UnreadMentionsQuery,
  UpdateMessageBody,
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
const tags = ['messages'];

export const messagesRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/channels/:type/:id/messages',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: SendMessageBody,
          // 409: a poll sent twice; 502/503/504: a slash command's handler (or GIPHY) failed.
          response: {
            200: MessageResponse,
            201: MessageResponse,
            ...errors,
            409: ErrorResponse,
            502: ErrorResponse,
            503: ErrorResponse,
            504: ErrorResponse,
          },
        },
      },
      async (req, reply) => {
        // A text starting with /command runs the command (domains/commands); anything else is sent.
        const { message, created } = await services.commands.send(req.ctx, cidOf(req.params), req.body);
        reply.status(created ? 201 : 200);
        return { message };
      },
    );
    app.get(
      '/channels/:type/:id/messages',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: ListMessagesQuery,
          response: { 200: MessagesResponse, ...errors },
        },
      },
      async (req) => ({ messages: await services.messages.list(req.ctx, cidOf(req.params), req.query) }),
    );
    app.get(
      '/messages/:message_id',
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
        message: await services.messages.get(req.ctx, req.params.message_id, req.query.user_id),
      }),
    );
    app.get(
      '/messages/:message_id/edits',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          querystring: ActingUserQuery,
          response: { 200: MessageEditsResponse, ...errors },
        },
      },
      async (req) => ({
        edits: await services.messages.edits(req.ctx, req.params.message_id, req.query.user_id),
      }),
    );
    app.get(
      '/messages/:message_id/replies',
      {
        ...anyCaller,
        schema: {
          tags: ['threads'],
          params: MessageParams,
          querystring: ListMessagesQuery,
          response: { 200: MessagesResponse, ...errors },
        },
      },
      async (req) => ({
        messages: await services.messages.replies(req.ctx, req.params.message_id, req.query),
      }),
    );
    app.get(
      '/threads',
      {
        ...anyCaller,
        schema: {
          tags: ['threads'],
          querystring: ListThreadsQuery,
          response: { 200: ThreadsResponse, ...errors },
        },
      },
      async (req) => services.threads.list(req.ctx, req.query),
    );
    app.post(
      '/threads/:message_id/read',
      {
        ...anyCaller,
        schema: {
          tags: ['threads'],
          params: MessageParams,
          body: MarkThreadReadBody,
          response: { 200: ThreadResponse, ...errors },
        },
      },
      async (req) => ({ thread: await services.threads.markRead(req.ctx, req.params.message_id, req.body) }),
    );
    app.get(
      '/mentions',
      {
        ...anyCaller,
        schema: {
          tags: ['mentions'],
          querystring: ListMentionsQuery,
          response: { 200: MessagesResponse, ...errors },
        },
      },
      async (req) => ({ messages: await services.mentions.list(req.ctx, req.query) }),
    );
    app.get(
      '/mentions/unread',
      {
        ...anyCaller,
        schema: {
          tags: ['mentions'],
          querystring: UnreadMentionsQuery,
          response: { 200: UnreadMentions, ...errors },
        },
      },
      async (req) => services.mentions.unread(req.ctx, req.query.user_id),
    );
    app.patch(
      '/messages/:message_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: UpdateMessageBody,
          response: { 200: MessageResponse, ...errors },
        },
      },
      async (req) => ({ message: await services.messages.update(req.ctx, req.params.message_id, req.body) }),
    );
    app.delete(
      '/messages/:message_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          querystring: DeleteMessageQuery,
          response: { 200: MessageResponse, ...errors },
        },
      },
      async (req) => ({
        message: await services.messages.delete(
          req.ctx,
          req.params.message_id,
          req.query.hard,
          req.query.user_id,
        ),
      }),
    );
  };
