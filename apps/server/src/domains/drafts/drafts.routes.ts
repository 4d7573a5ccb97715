import {
  ChannelParams,
  DraftQuery,
  DraftResponse,
  DraftsResponse,
  ErrorResponse,
  ListDraftsQuery,
  Ok,
  PutDraftBody,
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
const tags = ['drafts'];

export const draftsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.get(
      '/drafts',
      {
        ...anyCaller,
        schema: { tags, querystring: ListDraftsQuery, response: { 200: DraftsResponse, ...errors } },
      },
      async (req) => services.drafts.list(req.ctx, req.query),
    );
    app.get(
      '/channels/:type/:id/draft',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: DraftQuery,
          response: { 200: DraftResponse, ...errors },
        },
      },
      async (req) => ({
        draft: await services.drafts.get(req.ctx, cidOf(req.params), req.query.parent_id, req.query.user_id),
      }),
    );
    app.put(
      '/channels/:type/:id/draft',
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: PutDraftBody,
          response: { 200: DraftResponse, ...errors },
        },
      },
      async (req) => ({ draft: await services.drafts.put(req.ctx, cidOf(req.params), req.body) }),
    );
    app.delete(
      '/channels/:type/:id/draft',
      {
        ...anyCaller,
        schema: { tags, params: ChannelParams, querystring: DraftQuery, response: { 200: Ok, ...errors } },
      },
      async (req) => {
        await services.drafts.delete(req.ctx, cidOf(req.params), req.query.parent_id, req.query.user_id);
        return { ok: true as const };
      },
    );
  };
