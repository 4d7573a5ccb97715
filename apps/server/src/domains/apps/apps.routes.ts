import {
  App,
  AppWithSecret,
  CreateAppBody,
  ErrorResponse,
  RotateSecretBody,
  UpdateAppBody,
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
const AppIdParams = z.object({ app_id: z.string().min(1).max(64) }).strict();
/** An app may change its own webhook and settings; its limits protect the platform and are the admin's. */
const UpdateOwnAppBody = UpdateAppBody.omit({ limits: true });

/** Platform admin API (X-Admin-Token) for tenants, plus an app's own settings (server auth). */
export const appsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const admin = { config: { auth: 'admin' as const } };
    const tags = ['admin'];
    app.post(
      '/admin/apps',
      {
        ...admin,
        schema: { tags, body: CreateAppBody, response: { 201: z.object({ app: AppWithSecret }), ...errors } },
      },
      async (req, reply) => {
        const { app: created, api_secret } = await services.apps.create(req.body);
        reply.status(201);
        return { app: { ...created, api_secret } };
      },
    );
    app.get(
      '/admin/apps',
      { ...admin, schema: { tags, response: { 200: z.object({ apps: z.array(App) }), ...errors } } },
      async () => ({
        apps: await services.apps.list(),
      }),
    );
    app.get(
      '/admin/apps/:app_id',
      {
        ...admin,
        schema: { tags, params: AppIdParams, response: { 200: z.object({ app: App }), ...errors } },
      },
      async (req) => ({ app: await services.apps.get(req.params.app_id) }),
    );
    app.patch(
      '/admin/apps/:app_id',
      {
        ...admin,
        schema: {
          tags,
          params: AppIdParams,
          body: UpdateAppBody,
          response: { 200: z.object({ app: App }), ...errors },
        },
      },
      async (req) => ({ app: await services.apps.update(req.params.app_id, req.body) }),
    );
    app.post(
      '/admin/apps/:app_id/rotate-secret',
      {
        ...admin,
        schema: {
          tags,
          params: AppIdParams,
          body: RotateSecretBody,
          response: { 200: z.object({ app: AppWithSecret }), ...errors },
        },
      },
      async (req) => {
        const { app: rotated, api_secret } = await services.apps.rotateSecret(
          req.params.app_id,
          req.body.grace_period_seconds,
        );
        return { app: { ...rotated, api_secret } };
      },
    );

    const server = { config: { auth: 'server' as const } };
    app.get(
      '/app',
      { ...server, schema: { tags: ['app'], response: { 200: z.object({ app: App }), ...errors } } },
      async (req) => ({
        app: await services.apps.get(req.ctx.app.id),
      }),
    );
    app.patch(
      '/app',
      {
        ...server,
        schema: {
          tags: ['app'],
          body: UpdateOwnAppBody,
          response: { 200: z.object({ app: App }), ...errors },
        },
      },
      async (req) => ({ app: await services.apps.update(req.ctx.app.id, req.body) }),
    );
  };
