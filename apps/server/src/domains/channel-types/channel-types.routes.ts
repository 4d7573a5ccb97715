import {
  ChannelTypeName,
  ChannelTypeResponse,
  ChannelTypesResponse,
  CreateChannelTypeBody,
  ErrorResponse,
  Ok,
  UpdateChannelTypeBody,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
};
const Params = z.object({ name: ChannelTypeName }).strict();
const tags = ['channel types'];

export const channelTypesRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    const serverOnly = { config: { auth: 'server' as const } };
    app.get(
      '/channel-types',
      { ...anyCaller, schema: { tags, response: { 200: ChannelTypesResponse, ...errors } } },
      async (req) => ({
        channel_types: await services.channelTypes.list(req.ctx),
      }),
    );
    app.get(
      '/channel-types/:name',
      { ...anyCaller, schema: { tags, params: Params, response: { 200: ChannelTypeResponse, ...errors } } },
      async (req) => ({ channel_type: await services.channelTypes.get(req.ctx, req.params.name) }),
    );
    app.post(
      '/channel-types',
      {
        ...serverOnly,
        schema: { tags, body: CreateChannelTypeBody, response: { 201: ChannelTypeResponse, ...errors } },
      },
      async (req, reply) => {
        reply.status(201);
        return { channel_type: await services.channelTypes.create(req.ctx, req.body.name, req.body.config) };
      },
    );
    app.patch(
      '/channel-types/:name',
      {
        ...serverOnly,
        schema: {
          tags,
          params: Params,
          body: UpdateChannelTypeBody,
          response: { 200: ChannelTypeResponse, ...errors },
        },
      },
      async (req) => ({
        channel_type: await services.channelTypes.update(req.ctx, req.params.name, req.body.config),
      }),
    );
    app.delete(
      '/channel-types/:name',
      { ...serverOnly, schema: { tags, params: Params, response: { 200: Ok, ...errors } } },
      async (req) => {
        await services.channelTypes.delete(req.ctx, req.params.name);
        return { ok: true as const };
      },
    );
  };
