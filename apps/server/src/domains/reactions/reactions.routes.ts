import {
  ActingUserQuery,
  ErrorResponse,
  ListReactionsQuery,
  MessageParams,
  ReactionParams,
  ReactionResponse,
  ReactionsResponse,
  SendReactionBody,
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
const tags = ['reactions'];

export const reactionsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/messages/:message_id/reactions',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: SendReactionBody,
          response: { 200: ReactionResponse, 201: ReactionResponse, ...errors },
        },
      },
      async (req, reply) => {
        const { created, ...result } = await services.reactions.add(req.ctx, req.params.message_id, req.body);
        reply.status(created ? 201 : 200);
        return result;
      },
    );
    app.delete(
      '/messages/:message_id/reactions/:reaction_type',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ReactionParams,
          querystring: ActingUserQuery,
          response: { 200: ReactionResponse, ...errors },
        },
      },
      async (req) =>
        services.reactions.remove(
          req.ctx,
          req.params.message_id,
          req.params.reaction_type,
          req.query.user_id,
        ),
    );
    app.get(
      '/messages/:message_id/reactions',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          querystring: ListReactionsQuery,
          response: { 200: ReactionsResponse, ...errors },
        },
      },
      async (req) => services.reactions.list(req.ctx, req.params.message_id, req.query),
    );
  };
