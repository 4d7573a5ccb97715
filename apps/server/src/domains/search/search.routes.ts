import { ErrorResponse, SearchBody, SearchResponse } from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};

export const searchRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/search',
      {
        config: { auth: 'app' as const },
        schema: {
          tags: ['search'],
          summary: 'Full-text search over the messages of the channels the user can read',
          body: SearchBody,
          response: { 200: SearchResponse, ...errors },
        },
      },
      async (req) => services.search.search(req.ctx, req.body),
    );
  };
