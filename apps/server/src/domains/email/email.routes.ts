import {
  EmailPreferences,
  EmailPreferencesQuery,
  ErrorResponse,
  UnsubscribeQuery,
  UnsubscribeResponse,
  UpdateEmailPreferencesBody,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['email'];

/** A user's email preferences (the user, or the app's backend with user_id) and the public unsubscribe link. */
export const emailRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const auth = { config: { auth: 'app' as const } };
    app.get(
      '/email/preferences',
      {
        ...auth,
        schema: {
          tags,
          description: 'The email address and email choices of the user (server calls name `user_id`).',
          querystring: EmailPreferencesQuery,
          response: { 200: z.object({ preferences: EmailPreferences }), ...errors },
        },
      },
      async (req) => ({ preferences: await services.email.getPreferences(req.ctx, req.query.user_id) }),
    );
    app.put(
      '/email/preferences',
      {
        ...auth,
        schema: {
          tags,
          description:
            'Sets the address and which emails are wanted; fields left out keep their value. Saving clears an "all email" unsubscribe.',
          body: UpdateEmailPreferencesBody,
          response: { 200: z.object({ preferences: EmailPreferences }), ...errors },
        },
      },
      async (req) => ({ preferences: await services.email.updatePreferences(req.ctx, req.body) }),
    );
    app.get(
      '/email/unsubscribe',
      {
        config: { auth: 'public' as const },
        schema: {
          tags,
          description:
            'The unsubscribe link of an email (also in its List-Unsubscribe header): a signed token, no credentials.',
          querystring: UnsubscribeQuery,
          response: { 200: UnsubscribeResponse, 400: ErrorResponse, 429: ErrorResponse },
        },
      },
      async (req) => ({ ok: true as const, ...(await services.email.unsubscribe(req.query.token)) }),
    );
  };
