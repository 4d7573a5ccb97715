import {
  ActingUserBody,
  AddMembersBody,
  ChannelParams,
  ErrorResponse,
  InviteMembersBody,
  MemberParams,
  MemberResponse,
  MembersResponse,
  Ok,
  RemoveMembersBody,
  UpdateMemberBody,
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
  429: ErrorResponse,
};
const tags = ['members'];
const ListMembersQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(300).default(100),
    offset: z.coerce.number().int().min(0).max(100_000).default(0),
    user_id: UserId.optional(),
  })
  .strict();

export const membersRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    const base = '/channels/:type/:id';
    app.get(
      `${base}/members`,
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          querystring: ListMembersQuery,
          response: { 200: MembersResponse, ...errors },
        },
      },
      async (req) => ({
        members: await services.members.list(req.ctx, cidOf(req.params), {
          limit: req.query.limit,
          offset: req.query.offset,
          userId: req.query.user_id,
        }),
      }),
    );
    app.post(
      `${base}/members`,
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: AddMembersBody,
          response: { 200: MembersResponse, ...errors },
        },
      },
      async (req) => ({
        members: await services.members.add(
          req.ctx,
          cidOf(req.params),
          req.body.user_ids,
          req.body.role,
          req.body.user_id,
        ),
      }),
    );
    app.post(
      `${base}/members/remove`,
      {
        ...anyCaller,
        schema: { tags, params: ChannelParams, body: RemoveMembersBody, response: { 200: Ok, ...errors } },
      },
      async (req) => {
        await services.members.remove(req.ctx, cidOf(req.params), req.body.user_ids, req.body.user_id);
        return { ok: true as const };
      },
    );
    app.patch(
      `${base}/members/:user_id`,
      {
        ...anyCaller,
        schema: {
          tags,
          params: MemberParams,
          body: UpdateMemberBody,
          response: { 200: MemberResponse, ...errors },
        },
      },
      async (req) => {
        const { user_id, ...patch } = req.body;
        return {
          member: await services.members.update(
            req.ctx,
            cidOf(req.params),
            req.params.user_id,
            patch,
            user_id,
          ),
        };
      },
    );
    app.post(
      `${base}/invites`,
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: InviteMembersBody,
          response: { 200: MembersResponse, ...errors },
        },
      },
      async (req) => ({
        members: await services.members.invite(
          req.ctx,
          cidOf(req.params),
          req.body.user_ids,
          req.body.user_id,
        ),
      }),
    );
    app.post(
      `${base}/invites/accept`,
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: ActingUserBody,
          response: { 200: MemberResponse, ...errors },
        },
      },
      async (req) => ({
        member: await services.members.answerInvite(req.ctx, cidOf(req.params), true, req.body.user_id),
      }),
    );
    app.post(
      `${base}/invites/reject`,
      {
        ...anyCaller,
        schema: {
          tags,
          params: ChannelParams,
          body: ActingUserBody,
          response: { 200: MemberResponse, ...errors },
        },
      },
      async (req) => ({
        member: await services.members.answerInvite(req.ctx, cidOf(req.params), false, req.body.user_id),
      }),
    );
  };
