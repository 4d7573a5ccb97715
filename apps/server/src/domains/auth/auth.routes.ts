import { DevTokenBody, ErrorResponse, TokenResponse } from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError } from '../../platform/errors.js';
import type { Services } from '../../server.js';

export const authRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    /**
     * Development only: an unsigned request gets a user token when the app has `dev_tokens` on
     * (the seeded demo app). Real apps mint tokens in their backend with the api secret.
     */
    app.post(
      '/auth/dev-token',
      {
        schema: {
          tags: ['auth'],
          body: DevTokenBody,
          response: { 200: TokenResponse, 401: ErrorResponse, 403: ErrorResponse, 400: ErrorResponse },
        },
      },
      async (req) => {
        const apiKey = req.headers['x-api-key'] as string | undefined;
        if (!apiKey) throw new AppError('AUTH_MISSING', 'send the api key in the X-Api-Key header');
        const appRow = await services.apps.resolveApiKey(apiKey);
        return { token: await services.auth.devToken(appRow, req.body.user_id), user_id: req.body.user_id };
      },
    );
  };
