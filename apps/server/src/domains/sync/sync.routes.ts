import { ErrorResponse, SyncBody, SyncResponse } from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};

export const syncRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/sync',
      {
        config: { auth: 'app' as const },
        schema: {
          tags: ['sync'],
          summary: 'Events since last_sync_at for the user’s channels, or resync_required',
          body: SyncBody,
          response: { 200: SyncResponse, ...errors },
        },
      },
      async (req) => services.sync.sync(req.ctx, req.body),
    );
  };
