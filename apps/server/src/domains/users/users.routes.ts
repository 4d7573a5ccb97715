import {
  DeleteUserQuery,
  ErrorResponse,
  PartialUpdateUsersBody,
  QueryUsersBody,
  RevokeTokensBody,
  UpsertUsersBody,
  UserId,
  UserResponse,
  UsersResponse,
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
const UserParams = z.object({ user_id: UserId }).strict();
const tags = ['users'];

export const usersRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    const serverOnly = { config: { auth: 'server' as const } };

    app.post(
      '/users',
      { ...anyCaller, schema: { tags, body: UpsertUsersBody, response: { 200: UsersResponse, ...errors } } },
      async (req) => ({
        users: await services.users.upsert(req.ctx, req.body.users),
      }),
    );
    app.patch(
      '/users',
      {
        ...anyCaller,
        schema: { tags, body: PartialUpdateUsersBody, response: { 200: UsersResponse, ...errors } },
      },
      async (req) => ({ users: await services.users.partialUpdate(req.ctx, req.body.users) }),
    );
    app.post(
      '/users/query',
      { ...anyCaller, schema: { tags, body: QueryUsersBody, response: { 200: UsersResponse, ...errors } } },
      async (req) => ({ users: await services.users.query(req.ctx, req.body) }),
    );
    app.get(
      '/users/:user_id',
      { ...anyCaller, schema: { tags, params: UserParams, response: { 200: UserResponse, ...errors } } },
      async (req) => ({ user: await services.users.get(req.ctx, req.params.user_id) }),
    );
    app.delete(
      '/users/:user_id',
      {
        ...serverOnly,
        schema: {
          tags,
          params: UserParams,
          querystring: DeleteUserQuery,
          response: { 200: UserResponse, ...errors },
        },
      },
      async (req) => ({ user: await services.users.delete(req.ctx, req.params.user_id, req.query.hard) }),
    );
    app.post(
      '/users/:user_id/revoke-tokens',
      {
        ...serverOnly,
        schema: {
          tags,
          params: UserParams,
          body: RevokeTokensBody,
          response: { 200: UserResponse, ...errors },
        },
      },
      async (req) => ({
        user: await services.users.revokeTokens(req.ctx, req.params.user_id, req.body.before),
      }),
    );
  };
