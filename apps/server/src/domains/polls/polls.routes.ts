import {
  CastVoteBody,
  CreatePollBody,
  ErrorResponse,
  PollOptionResponse,
  PollParams,
  PollQuery,
  PollResponse,
  PollVoteIdParams,
  PollVoteParams,
  PollVoteResponse,
  SuggestPollOptionBody,
  UpdatePollBody,
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
const tags = ['polls'];

export const pollsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/polls',
      { ...anyCaller, schema: { tags, body: CreatePollBody, response: { 201: PollResponse, ...errors } } },
      async (req, reply) => {
        reply.status(201);
        return { poll: await services.polls.create(req.ctx, req.body) };
      },
    );
    app.get(
      '/polls/:poll_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: PollParams,
          querystring: PollQuery,
          response: { 200: PollResponse, ...errors },
        },
      },
      async (req) => ({ poll: await services.polls.get(req.ctx, req.params.poll_id, req.query.user_id) }),
    );
    app.patch(
      '/polls/:poll_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: PollParams,
          body: UpdatePollBody,
          response: { 200: PollResponse, ...errors },
        },
      },
      async (req) => ({ poll: await services.polls.update(req.ctx, req.params.poll_id, req.body) }),
    );
    app.post(
      '/polls/:poll_id/options',
      {
        ...anyCaller,
        schema: {
          tags,
          params: PollParams,
          body: SuggestPollOptionBody,
          response: { 201: PollOptionResponse, ...errors },
        },
      },
      async (req, reply) => {
        const { poll, option } = await services.polls.suggestOption(req.ctx, req.params.poll_id, req.body);
        reply.status(201);
        return { poll, poll_option: option };
      },
    );
    app.post(
      '/messages/:message_id/polls/:poll_id/vote',
      {
        ...anyCaller,
        schema: {
          tags,
          params: PollVoteParams,
          body: CastVoteBody,
          response: { 200: PollVoteResponse, 201: PollVoteResponse, ...errors },
        },
      },
      async (req, reply) => {
        const { poll, vote, created } = await services.polls.castVote(
          req.ctx,
          req.params.message_id,
          req.params.poll_id,
          req.body,
        );
        reply.status(created ? 201 : 200);
        return { poll, vote };
      },
    );
    app.delete(
      '/messages/:message_id/polls/:poll_id/vote/:vote_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: PollVoteIdParams,
          querystring: PollQuery,
          response: { 200: PollVoteResponse, ...errors },
        },
      },
      async (req) =>
        services.polls.removeVote(
          req.ctx,
          req.params.message_id,
          req.params.poll_id,
          req.params.vote_id,
          req.query.user_id,
        ),
    );
  };
