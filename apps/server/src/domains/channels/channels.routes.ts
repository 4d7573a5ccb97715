import {
  ActingUserBody,
  ActingUserQuery,
  ChannelParams,
  ChannelResponse,
  ChannelsResponse,
  CreateChannelBody,
  ErrorResponse,
  HideChannelBody,
  Ok,
  PartialUpdateChannelBody,
  QueryChannelsBody,
  TruncateChannelBody,
  UpdateChannelBody,
  UserId,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
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
const tags = ['channels'];
const WithUser = { user_id: UserId.optional() };

export const channelsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.post(
      '/channels',
      {
        ...anyCaller,
        schema: {
          tags,
          body: CreateChannelBody,
          response: { 200: ChannelResponse, 201: ChannelResponse, ...errors },
        },
      },
      async (req, reply) => {
        const { state, created } = await services.channels.create(req.ctx, req.body);
        reply.status(created ? 201 : 200);
        return { channel: state };
      },
    );
    app.post(
      '/channels/query',
      {
        ...anyCaller,
        schema: { tags, body: QueryChannelsBody, response: { 200: ChannelsResponse, ...errors } },
      },
      async (req) => ({ channels: await services.channels.query(req.ctx, req.body) }),
    );
    app.get(
      '/channels/:type/:id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: ActingUserQuery,
          response: { 200: ChannelResponse, ...errors },
        },
      },
      async (req) => ({
        channel: await services.channels.get(req.ctx, cidOf(req.params), req.query.user_id),
      }),
    );
    app.put(
      '/channels/:type/:id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: UpdateChannelBody.extend(WithUser),
          response: { 200: ChannelResponse, ...errors },
        },
      },
      async (req) => {
        const { user_id, ...body } = req.body;
        return { channel: await services.channels.update(req.ctx, cidOf(req.params), body, user_id) };
      },
    );
    app.patch(
      '/channels/:type/:id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: PartialUpdateChannelBody.extend(WithUser),
          response: { 200: ChannelResponse, ...errors },
        },
      },
      async (req) => {
        const { user_id, ...body } = req.body;
        return { channel: await services.channels.partialUpdate(req.ctx, cidOf(req.params), body, user_id) };
      },
    );
    app.post(
      '/channels/:type/:id/truncate',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: TruncateChannelBody,
          response: { 200: ChannelResponse, ...errors },
        },
      },
      async (req) => ({
        channel: await services.channels.truncate(
          req.ctx,
          cidOf(req.params),
          req.body.hard,
          req.body.user_id,
        ),
      }),
    );
    app.post(
      '/channels/:type/:id/hide',
      {
        ...anyCaller,
        schema: { tags, params: ChannelParams, body: HideChannelBody, response: { 200: Ok, ...errors } },
      },
      async (req) => {
        await services.channels.setHidden(
          req.ctx,
          cidOf(req.params),
          true,
          req.body.clear_history,
          req.body.user_id,
        );
        return { ok: true as const };
      },
    );
    app.post(
      '/channels/:type/:id/show',
      {
        ...anyCaller,
        schema: { tags, params: ChannelParams, body: ActingUserBody, response: { 200: Ok, ...errors } },
      },
      async (req) => {
        await services.channels.setHidden(req.ctx, cidOf(req.params), false, false, req.body.user_id);
        return { ok: true as const };
      },
    );
    app.delete(
      '/channels/:type/:id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: ActingUserQuery,
          response: { 200: z.object({ channel: ChannelResponse.shape.channel.shape.channel }), ...errors },
        },
      },
      async (req) => ({
        channel: await services.channels.delete(req.ctx, cidOf(req.params), req.query.user_id),
      }),
    );
  };
