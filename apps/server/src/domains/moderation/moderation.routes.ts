import {
  ActingQuery,
  AuditLogQuery,
  AuditLogResponse,
  BanBody,
  BanResponse,
  BansResponse,
  BlocklistParams,
  BlocklistResponse,
  BlocklistsResponse,
  BlockResponse,
  BlocksResponse,
  BlockUserBody,
  ChannelMuteResponse,
  CreateBlocklistBody,
  ErrorResponse,
  FlagBody,
  FlagParams,
  FlagResponse,
  FlagsResponse,
  MuteChannelBody,
  MutesResponse,
  MuteUserBody,
  Ok,
  QueryBansQuery,
  QueryFlagsQuery,
  ReviewFlagBody,
  ReviewFlagResponse,
  ShadowBanBody,
  ShadowBanResponse,
  UnbanBody,
  UnmuteChannelBody,
  UnmuteUserBody,
  UpdateBlocklistBody,
  UserMuteResponse,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['moderation'];

/**
 * Moderation API (docs/guides/moderation.md): personal mutes and blocks, reports, and the
 * moderator tools (bans, shadow bans, flag queue, blocklists, audit log).
 */
export const moderationRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    const m = services.moderation;

    // ---- mutes ----
    app.get(
      '/moderation/mutes',
      {
        ...anyCaller,
        schema: { tags, querystring: ActingQuery, response: { 200: MutesResponse, ...errors } },
      },
      async (req) => m.listMutes(req.ctx, req.query.user_id),
    );
    app.post(
      '/moderation/mute-user',
      { ...anyCaller, schema: { tags, body: MuteUserBody, response: { 200: UserMuteResponse, ...errors } } },
      async (req) => ({ mute: await m.muteUser(req.ctx, req.body) }),
    );
    app.post(
      '/moderation/unmute-user',
      { ...anyCaller, schema: { tags, body: UnmuteUserBody, response: { 200: Ok, ...errors } } },
      async (req) => {
        await m.unmuteUser(req.ctx, req.body);
        return { ok: true as const };
      },
    );
    app.post(
      '/moderation/mute-channel',
      {
        ...anyCaller,
        schema: { tags, body: MuteChannelBody, response: { 200: ChannelMuteResponse, ...errors } },
      },
      async (req) => ({ mute: await m.muteChannel(req.ctx, req.body) }),
    );
    app.post(
      '/moderation/unmute-channel',
      { ...anyCaller, schema: { tags, body: UnmuteChannelBody, response: { 200: Ok, ...errors } } },
      async (req) => {
        await m.unmuteChannel(req.ctx, req.body);
        return { ok: true as const };
      },
    );

    // ---- blocks ----
    app.get(
      '/moderation/blocks',
      {
        ...anyCaller,
        schema: { tags, querystring: ActingQuery, response: { 200: BlocksResponse, ...errors } },
      },
      async (req) => ({ blocks: await m.listBlocks(req.ctx, req.query.user_id) }),
    );
    app.post(
      '/moderation/block',
      { ...anyCaller, schema: { tags, body: BlockUserBody, response: { 200: BlockResponse, ...errors } } },
      async (req) => ({ block: await m.block(req.ctx, req.body) }),
    );
    app.post(
      '/moderation/unblock',
      { ...anyCaller, schema: { tags, body: BlockUserBody, response: { 200: Ok, ...errors } } },
      async (req) => {
        await m.unblock(req.ctx, req.body);
        return { ok: true as const };
      },
    );

    // ---- bans ----
    app.post(
      '/moderation/ban',
      { ...anyCaller, schema: { tags, body: BanBody, response: { 200: BanResponse, ...errors } } },
      async (req) => ({ ban: await m.ban(req.ctx, req.body) }),
    );
    app.post(
      '/moderation/unban',
      { ...anyCaller, schema: { tags, body: UnbanBody, response: { 200: Ok, ...errors } } },
      async (req) => {
        await m.unban(req.ctx, req.body);
        return { ok: true as const };
      },
    );
    app.get(
      '/moderation/bans',
      {
        ...anyCaller,
        schema: { tags, querystring: QueryBansQuery, response: { 200: BansResponse, ...errors } },
      },
      async (req) => m.queryBans(req.ctx, req.query),
    );

    // ---- shadow bans ----
    app.post(
      '/moderation/shadow-ban',
      {
        ...anyCaller,
        schema: { tags, body: ShadowBanBody, response: { 200: ShadowBanResponse, ...errors } },
      },
      async (req) => m.setShadowBan(req.ctx, req.body, true),
    );
    app.post(
      '/moderation/remove-shadow-ban',
      {
        ...anyCaller,
        schema: { tags, body: ShadowBanBody, response: { 200: ShadowBanResponse, ...errors } },
      },
      async (req) => m.setShadowBan(req.ctx, req.body, false),
    );

    // ---- flags ----
    app.post(
      '/moderation/flag',
      {
        ...anyCaller,
        schema: { tags, body: FlagBody, response: { 200: FlagResponse, 201: FlagResponse, ...errors } },
      },
      async (req, reply) => {
        const { flag, created } = await m.flag(req.ctx, req.body);
        reply.code(created ? 201 : 200);
        return { flag };
      },
    );
    app.get(
      '/moderation/flags',
      {
        ...anyCaller,
        schema: { tags, querystring: QueryFlagsQuery, response: { 200: FlagsResponse, ...errors } },
      },
      async (req) => m.queryFlags(req.ctx, req.query),
    );
    app.post(
      '/moderation/flags/:flag_id/review',
      {
        ...anyCaller,
        schema: {
          tags,
          params: FlagParams,
          body: ReviewFlagBody,
          response: { 200: ReviewFlagResponse, ...errors },
        },
      },
      async (req) => ({ flags: await m.reviewFlag(req.ctx, req.params.flag_id, req.body) }),
    );

    // ---- blocklists ----
    app.get(
      '/moderation/blocklists',
      { ...anyCaller, schema: { tags, response: { 200: BlocklistsResponse, ...errors } } },
      async (req) => ({ blocklists: await m.listBlocklists(req.ctx) }),
    );
    app.post(
      '/moderation/blocklists',
      {
        ...anyCaller,
        schema: { tags, body: CreateBlocklistBody, response: { 201: BlocklistResponse, ...errors } },
      },
      async (req, reply) => {
        const blocklist = await m.createBlocklist(req.ctx, req.body);
        reply.code(201);
        return { blocklist };
      },
    );
    app.get(
      '/moderation/blocklists/:blocklist_name',
      {
        ...anyCaller,
        schema: { tags, params: BlocklistParams, response: { 200: BlocklistResponse, ...errors } },
      },
      async (req) => ({ blocklist: await m.getBlocklist(req.ctx, req.params.blocklist_name) }),
    );
    app.patch(
      '/moderation/blocklists/:blocklist_name',
      {
        ...anyCaller,
        schema: {
          tags,
          params: BlocklistParams,
          body: UpdateBlocklistBody,
          response: { 200: BlocklistResponse, ...errors },
        },
      },
      async (req) => ({
        blocklist: await m.updateBlocklist(req.ctx, req.params.blocklist_name, req.body),
      }),
    );
    app.delete(
      '/moderation/blocklists/:blocklist_name',
      { ...anyCaller, schema: { tags, params: BlocklistParams, response: { 200: Ok, ...errors } } },
      async (req) => {
        await m.deleteBlocklist(req.ctx, req.params.blocklist_name);
        return { ok: true as const };
      },
    );

    // ---- audit log ----
    app.get(
      '/moderation/audit-log',
      {
        ...anyCaller,
        schema: { tags, querystring: AuditLogQuery, response: { 200: AuditLogResponse, ...errors } },
      },
      async (req) => m.auditLog(req.ctx, req.query),
    );
  };
