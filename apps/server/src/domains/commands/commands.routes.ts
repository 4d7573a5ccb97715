import {
  ActingUserQuery,
  ChannelParams,
  CommandParams,
  CommandResponse,
  CommandsResponse,
  CommandWithSecretResponse,
  CreateCommandBody,
  ErrorResponse,
  MessageActionBody,
  MessageActionResponse,
  MessageParams,
  Ok,
  UpdateCommandBody,
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
/** A command that calls out (custom handler, GIPHY) may also answer these. */
const upstreamErrors = { 502: ErrorResponse, 503: ErrorResponse, 504: ErrorResponse };
const tags = ['commands'];

export const commandsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const server = { config: { auth: 'server' as const } };
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/commands',
      {
        ...server,
        schema: { tags, body: CreateCommandBody, response: { 201: CommandWithSecretResponse, ...errors } },
      },
      async (req, reply) => {
        reply.status(201);
        return services.commands.create(req.ctx, req.body);
      },
    );
    app.get(
      '/commands',
      { ...server, schema: { tags, response: { 200: CommandsResponse, ...errors } } },
      async (req) => ({
        commands: await services.commands.list(req.ctx),
      }),
    );
    app.get(
      '/commands/:command_name',
      { ...server, schema: { tags, params: CommandParams, response: { 200: CommandResponse, ...errors } } },
      async (req) => ({ command: await services.commands.get(req.ctx, req.params.command_name) }),
    );
    app.put(
      '/commands/:command_name',
      {
        ...server,
        schema: {
          tags,
          params: CommandParams,
          body: UpdateCommandBody,
          response: { 200: CommandWithSecretResponse, ...errors },
        },
      },
      async (req) => services.commands.update(req.ctx, req.params.command_name, req.body),
    );
    app.delete(
      '/commands/:command_name',
      { ...server, schema: { tags, params: CommandParams, response: { 200: Ok, ...errors } } },
      async (req) => {
        await services.commands.delete(req.ctx, req.params.command_name);
        return { ok: true as const };
      },
    );
    app.get(
      '/channels/:type/:id/commands',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: ActingUserQuery,
          response: { 200: CommandsResponse, ...errors },
        },
      },
      async (req) => ({
        commands: await services.commands.forChannel(req.ctx, cidOf(req.params), req.query.user_id),
      }),
    );
    app.post(
      '/messages/:message_id/action',
      {
        ...anyCaller,
        schema: {
          tags,
          params: MessageParams,
          body: MessageActionBody,
          response: { 200: MessageActionResponse, 201: MessageActionResponse, ...errors, ...upstreamErrors },
        },
      },
      async (req, reply) => {
        const { message, created } = await services.commands.action(req.ctx, req.params.message_id, req.body);
        reply.status(created ? 201 : 200);
        return { message };
      },
    );
  };
