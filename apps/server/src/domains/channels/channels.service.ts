import { createHash } from 'node:crypto';
import {
  type Channel,
  type ChannelState,
  type ChannelTypeConfig,
  type CreateChannelBody,
  type Member,
  type MemberRole,
  type QueryChannelsBody,
  UpdateChannelBody,
} from '@parley/protocol';
import { sql } from 'kysely';
import type { z } from 'zod';
import { optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import type { ChannelRow, MemberRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { checkList, compileFilter, compileSort, type FilterSpec } from '../../platform/filters.js';
import { randomToken } from '../../platform/ids.js';
import { checkCustomSize } from '../../platform/limits.js';
import { byApp, ReadBatcher } from '../../platform/read-batcher.js';
import { channelTypesRepository } from '../channel-types/channel-types.repository.js';
import type { ChannelTypesService } from '../channel-types/channel-types.service.js';
import { membersRepository } from '../members/members.repository.js';
import { moderationRepository } from '../moderation/moderation.repository.js';
import { usersRepository } from '../users/users.repository.js';
import { applySetUnset, isBanned } from '../users/users.service.js';
import { authorize, type ChannelAction } from './channels.policy.js';
import { channelsRepository } from './channels.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toChannelDto(row: ChannelRow): Channel {
  return {
    cid: row.cid,
    type: row.type,
    id: row.id,
    name: row.name,
    image: row.image,
    custom: row.custom as Record<string, unknown>,
    created_by: row.created_by,
    frozen: row.frozen,
    slow_mode_seconds: row.slow_mode_seconds,
    member_count: row.member_count,
    last_message_at: iso(row.last_message_at),
    last_seq: row.last_seq,
    truncated_at: iso(row.truncated_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toMemberDto(row: MemberRow): Member {
  return {
    user_id: row.user_id,
    role: row.role as MemberRole,
    invited: row.invited,
    invite_accepted_at: iso(row.invite_accepted_at),
    invite_rejected_at: iso(row.invite_rejected_at),
    banned: row.banned,
    last_read_seq: row.last_read_seq,
    last_read_at: iso(row.last_read_at),
    last_delivered_seq: row.last_delivered_seq,
    last_delivered_at: iso(row.last_delivered_at),
    hidden: row.hidden,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export const parseCid = (cid: string) => {
  const i = cid.indexOf(':');
  return { type: cid.slice(0, i), id: cid.slice(i + 1) };
};

/** What a caller may see and do in one channel, loaded once per request. */
export interface ChannelAccess {
  channel: ChannelRow;
  config: ChannelTypeConfig;
  membership: MemberRow | undefined;
  /** The user the call acts as; undefined for a server call acting as nobody. */
  userId: string | undefined;
}

/** The policy subject for an already loaded access. */
export const subjectOf = (ctx: RequestContext, access: ChannelAccess) => ({
  actor: ctx.actor,
  config: access.config,
  membership: access.membership,
});

/** Whether a filter names `key` anywhere, including inside $and / $or. */
function mentions(filter: unknown, key: string): boolean {
  if (Array.isArray(filter)) return filter.some((f) => mentions(f, key));
  if (typeof filter !== 'object' || filter === null) return false;
  return Object.entries(filter).some(
    ([k, v]) => k === key || ((k === '$and' || k === '$or') && mentions(v, key)),
  );
}

/** The viewer's own membership in the channel has `hidden = value`. */
const hiddenFor = (appId: string, viewerId: string, value: boolean) =>
  sql<boolean>`exists (select 1 from members hm where hm.app_id = ${appId} and hm.cid = channels.cid and hm.user_id = ${viewerId} and hm.hidden = ${value})`;

const CHANNEL_FILTER = (appId: string, viewerId: string | undefined): FilterSpec => ({
  fields: {
    cid: { column: 'channels.cid', type: 'string' },
    type: { column: 'channels.type', type: 'string' },
    id: { column: 'channels.id', type: 'string' },
    name: { column: 'channels.name', type: 'string' },
    frozen: { column: 'channels.frozen', type: 'boolean' },
    created_by: { column: 'channels.created_by', type: 'string' },
    member_count: { column: 'channels.member_count', type: 'number' },
    created_at: { column: 'channels.created_at', type: 'date' },
    updated_at: { column: 'channels.updated_at', type: 'date' },
    last_message_at: { column: 'channels.last_message_at', type: 'date' },
  },
  customColumn: 'channels.custom',
  special: {
    members: (op, value) => {
      if (op !== '$in' && op !== '$eq')
        throw new AppError('FILTER_INVALID', 'members supports $in and $eq', { field: 'filter.members' });
      const ids = op === '$in' ? checkList(value, 'filter.members') : [value];
      if (!ids.every((v) => typeof v === 'string')) {
        throw new AppError('FILTER_INVALID', 'members takes user ids', { field: 'filter.members' });
      }
      return sql<boolean>`exists (select 1 from members fm where fm.app_id = ${appId} and fm.cid = channels.cid and fm.user_id in (${sql.join(ids)}))`;
    },
    // Channel columns that are not filterable must not fall through to custom-data keys of the same name.
    ...Object.fromEntries(
      ['app_id', 'custom', 'image', 'distinct_key', 'last_seq', 'slow_mode_seconds', 'truncated_at'].map(
        (name) => [
          name,
          () => {
            throw new AppError('FILTER_INVALID', `cannot filter on ${name}`, { field: `filter.${name}` });
          },
        ],
      ),
    ),
    /** Channels the viewer hid (true) or did not hide (false); without the filter, hidden ones are left out. */
    hidden: (op, value) => {
      if (op !== '$eq' || typeof value !== 'boolean')
        throw new AppError('FILTER_INVALID', 'hidden takes true or false', { field: 'filter.hidden' });
      if (!viewerId)
        throw new AppError('FILTER_INVALID', 'hidden needs a viewer: pass user_id', {
          field: 'filter.hidden',
        });
      return value ? hiddenFor(appId, viewerId, true) : sql<boolean>`not ${hiddenFor(appId, viewerId, true)}`;
    },
  },
});

const CHANNEL_SORT = {
  last_message_at: { column: 'channels.last_message_at', nullsLast: true },
  created_at: { column: 'channels.created_at' },
  updated_at: { column: 'channels.updated_at' },
  member_count: { column: 'channels.member_count' },
  name: { column: 'channels.name', nullsLast: true },
  cid: { column: 'channels.cid' },
};

interface AccessKey {
  appId: string;
  cid: string;
  userId: string | undefined;
}
type ChannelWithMembership = { channel: ChannelRow; membership: MemberRow | undefined };
const accessKeyOf = (key: AccessKey) => `${key.appId}/${key.cid}/${key.userId ?? ''}`;

export class ChannelsService {
  /** `access` outside a transaction: concurrent reads share one query (ADR 0017). */
  private readonly accessReads: ReadBatcher<AccessKey, ChannelWithMembership>;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channelTypes: ChannelTypesService,
  ) {
    this.accessReads = new ReadBatcher<AccessKey, ChannelWithMembership>(
      async (keys) => {
        const pairs = keys.map((key) => ({ cid: key.cid, user_id: key.userId ?? null }));
        const rows = await channelsRepository.findManyWithMembership(db, keys[0]!.appId, pairs);
        const found = new Map<string, ChannelWithMembership>();
        rows.forEach((row, i) => {
          if (row) found.set(accessKeyOf(keys[i]!), row);
        });
        return found;
      },
      accessKeyOf,
      byApp,
    );
  }

  /**
   * Loads the channel, its type config and the acting user's membership, and checks `action`.
   * Unknown channels (and channels of other apps) are 404; a known channel the caller may not act
   * in is 403 (USER_BANNED when a ban is the reason).
   */
  async access(
    db: Executor,
    ctx: RequestContext,
    cid: string,
    action: ChannelAction,
    userId?: string,
  ): Promise<ChannelAccess> {
    const actingId = optionalActingUserId(ctx, userId);
    const found =
      db === this.db
        ? await this.accessReads.load({ appId: ctx.app.id, cid, userId: actingId })
        : await channelsRepository.findWithMembership(db, ctx.app.id, cid, actingId);
    if (!found) throw new AppError('CHANNEL_NOT_FOUND', `channel ${cid} does not exist`, { field: 'cid' });
    const { channel, membership } = found;
    const config = await this.channelTypes.config(db, ctx.app.id, channel.type);
    // A server call naming a user must name a real one, but keeps the backend's full rights.
    if (ctx.actor.kind === 'server' && actingId) await this.requireUser(db, ctx.app.id, actingId, 'user_id');
    authorize(action, { actor: ctx.actor, config, membership });
    return { channel, config, membership, userId: actingId };
  }

  /**
   * `access(…, 'send')` fused with taking the next seq (channelsRepository.claimSeqForSend): one
   * database round trip instead of four on the hottest path. Must run inside the send
   * transaction: a refusal throws, and the rollback returns the seq.
   */
  async accessForSend(
    tx: Tx,
    ctx: RequestContext,
    cid: string,
    userId: string | undefined,
    opts: { shadowed: boolean; at: Date },
  ): Promise<{ access: ChannelAccess; seq: number; created_at: Date }> {
    const actingId = optionalActingUserId(ctx, userId);
    const claimed = await channelsRepository.claimSeqForSend(tx, ctx.app.id, cid, actingId, opts.at, opts);
    if (!claimed) throw new AppError('CHANNEL_NOT_FOUND', `channel ${cid} does not exist`, { field: 'cid' });
    const config = await this.channelTypes.config(tx, ctx.app.id, claimed.channel.type);
    if (ctx.actor.kind === 'server' && actingId) await this.requireUser(tx, ctx.app.id, actingId, 'user_id');
    authorize('send', { actor: ctx.actor, config, membership: claimed.membership });
    return {
      access: { channel: claimed.channel, config, membership: claimed.membership, userId: actingId },
      seq: claimed.last_seq,
      created_at: claimed.created_at,
    };
  }

  /**
   * Group commit (ADR 0016): `access(…, 'send')` for a channel and membership already read and
   * locked by channelsRepository.lockForBatch. For user callers acting as themselves.
   */
  async sendAccessFromRow(
    db: Executor,
    ctx: RequestContext,
    found: { channel: ChannelRow; membership: MemberRow | undefined },
    userId: string,
  ): Promise<ChannelAccess> {
    const config = await this.channelTypes.config(db, ctx.app.id, found.channel.type);
    authorize('send', { actor: ctx.actor, config, membership: found.membership });
    return { channel: found.channel, config, membership: found.membership, userId };
  }

  async create(
    ctx: RequestContext,
    body: z.output<typeof CreateChannelBody>,
  ): Promise<{ state: ChannelState; created: boolean }> {
    const creatorId = optionalActingUserId(ctx, body.created_by);
    if (ctx.actor.kind === 'user') {
      if (isBanned(ctx.actor.user)) throw new AppError('USER_BANNED');
      if (ctx.actor.user.role === 'guest') throw new AppError('FORBIDDEN', 'guests cannot create channels');
    }
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    await this.channelTypes.config(this.db, ctx.app.id, body.type); // the type must exist
    const memberIds = [...new Set([...(creatorId ? [creatorId] : []), ...body.members])].sort();

    let distinctKey: string | null = null;
    let id = body.id;
    if (body.distinct) {
      if (body.id)
        throw new AppError('VALIDATION_FAILED', 'distinct channels get their id from their members', {
          field: 'id',
        });
      if (memberIds.length < 2)
        throw new AppError('VALIDATION_FAILED', 'a distinct channel needs at least two members', {
          field: 'members',
        });
      distinctKey = `${body.type}:${memberIds.join(',')}`;
      id = `!members-${createHash('sha256')
        .update(distinctKey)
        .digest('base64url')
        .slice(0, 32)
        .replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const existing = await channelsRepository.findByDistinctKey(this.db, ctx.app.id, distinctKey);
      if (existing) return { state: await this.existingDistinct(ctx, existing, creatorId), created: false };
    }
    id ??= randomToken(12).replace(/[^A-Za-z0-9_-]/g, '_');
    const cid = `${body.type}:${id}`;

    const result = await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const users = await usersRepository.findMany(tx, ctx.app.id, memberIds);
      const missing = memberIds.find((m) => !users.some((u) => u.id === m));
      if (missing)
        throw new AppError('USER_NOT_FOUND', `user ${missing} does not exist`, {
          field: 'members',
          user_id: missing,
        });
      const channel = await channelsRepository.insert(tx, ctx.app.id, {
        cid,
        type: body.type,
        id,
        name: body.name ?? null,
        image: body.image ?? null,
        custom: body.custom ?? {},
        created_by: creatorId ?? null,
        frozen: body.frozen ?? false,
        slow_mode_seconds: body.slow_mode_seconds ?? null,
        distinct_key: distinctKey,
      });
      if (!channel) return undefined;
      const members = await membersRepository.insertMany(
        tx,
        ctx.app.id,
        cid,
        memberIds.map((user_id) => ({ user_id, role: user_id === creatorId ? 'owner' : 'member' })),
      );
      await channelsRepository.refreshMemberCount(tx, ctx.app.id, cid);
      const fresh = (await channelsRepository.find(tx, ctx.app.id, cid))!;
      events.record('channel.created', { cid, channel: toChannelDto(fresh) });
      for (const m of members) events.record('member.added', { cid, member: toMemberDto(m) });
      return fresh;
    });
    if (!result) {
      // Lost a race: a distinct channel with these members was created meanwhile; or the id is taken.
      const existing = distinctKey
        ? await channelsRepository.findByDistinctKey(this.db, ctx.app.id, distinctKey)
        : undefined;
      if (existing) return { state: await this.existingDistinct(ctx, existing, creatorId), created: false };
      throw new AppError('CHANNEL_EXISTS', `channel ${cid} already exists`, { field: 'id' });
    }
    return { state: await this.state(this.db, ctx, result, creatorId), created: true };
  }

  /** A distinct channel that already exists: the caller gets it only if they may still read it. */
  private async existingDistinct(ctx: RequestContext, channel: ChannelRow, creatorId: string | undefined) {
    const access = await this.access(this.db, ctx, channel.cid, 'read', creatorId);
    return this.state(this.db, ctx, access.channel, access.userId);
  }

  async get(ctx: RequestContext, cid: string, userId?: string): Promise<ChannelState> {
    const access = await this.access(this.db, ctx, cid, 'read', userId);
    return this.state(this.db, ctx, access.channel, access.userId);
  }

  async update(
    ctx: RequestContext,
    cid: string,
    body: z.output<typeof UpdateChannelBody>,
    userId?: string,
  ): Promise<ChannelState> {
    return this.applyUpdate(ctx, cid, userId, Object.keys(body), () => body);
  }

  async partialUpdate(
    ctx: RequestContext,
    cid: string,
    body: { set: Record<string, unknown>; unset: string[] },
    userId?: string,
  ): Promise<ChannelState> {
    const touched = [...Object.keys(body.set), ...body.unset].map((k) =>
      k.startsWith('custom.') ? 'custom' : k,
    );
    return this.applyUpdate(ctx, cid, userId, touched, (current) => {
      const merged = applySetUnset(
        {
          name: current.name,
          image: current.image,
          custom: current.custom,
          frozen: current.frozen,
          slow_mode_seconds: current.slow_mode_seconds,
        },
        body,
        ['name', 'image', 'custom', 'frozen', 'slow_mode_seconds'],
        'body',
      );
      return merged as z.output<typeof UpdateChannelBody>;
    });
  }

  /**
   * Updates a channel. Touching only `frozen` / `slow_mode_seconds` is a moderation act
   * (freeze_channel); touching anything else needs update_channel. PUT replaces the fields it
   * names (custom as a whole) and leaves the others as they are.
   */
  private async applyUpdate(
    ctx: RequestContext,
    cid: string,
    userId: string | undefined,
    touched: string[],
    next: (current: ChannelRow) => z.output<typeof UpdateChannelBody>,
  ): Promise<ChannelState> {
    const channel = await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.access(tx, ctx, cid, 'read', userId);
      const parsed = UpdateChannelBody.safeParse(next(access.channel));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new AppError('VALIDATION_FAILED', issue.message, { field: issue.path.join('.') });
      }
      const patch = parsed.data;
      const onlyFreeze =
        touched.length > 0 && touched.every((k) => k === 'frozen' || k === 'slow_mode_seconds');
      authorize(onlyFreeze ? 'freeze_channel' : 'update_channel', subjectOf(ctx, access));
      if (patch.custom) checkCustomSize(ctx.app, patch.custom, 'custom');
      const row = await channelsRepository.update(tx, ctx.app.id, cid, patch);
      if (row!.frozen !== access.channel.frozen) {
        await moderationRepository.audit(tx, ctx.app.id, {
          action: row!.frozen ? 'channel_frozen' : 'channel_unfrozen',
          actor_id: access.userId ?? null,
          cid,
        });
      }
      events.record('channel.updated', { cid, channel: toChannelDto(row!) });
      return { row: row!, userId: access.userId };
    });
    return this.state(this.db, ctx, channel.row, channel.userId);
  }

  /** Soft truncate hides earlier messages (truncated_at); hard truncate deletes them. */
  async truncate(ctx: RequestContext, cid: string, hard: boolean, userId?: string): Promise<ChannelState> {
    const result = await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.access(tx, ctx, cid, 'truncate_channel', userId);
      if (hard)
        await tx.deleteFrom('messages').where('app_id', '=', ctx.app.id).where('cid', '=', cid).execute();
      const row = await channelsRepository.truncate(tx, ctx.app.id, cid, new Date());
      events.record('channel.truncated', { cid, channel: toChannelDto(row) });
      return { row, userId: access.userId };
    });
    return this.state(this.db, ctx, result.row, result.userId);
  }

  /** Hides the channel from the member's lists until a new message arrives. */
  async setHidden(
    ctx: RequestContext,
    cid: string,
    hidden: boolean,
    clearHistory: boolean,
    userId?: string,
  ): Promise<void> {
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.access(tx, ctx, cid, 'read', userId);
      if (!access.userId || !access.membership)
        throw new AppError('MEMBER_NOT_FOUND', undefined, { field: 'user_id' });
      await membersRepository.update(tx, ctx.app.id, cid, access.userId, {
        hidden,
        ...(hidden && clearHistory ? { cleared_seq: access.channel.last_seq } : {}),
      });
      if (hidden)
        events.record('channel.hidden', { cid, user_id: access.userId, clear_history: clearHistory });
      else events.record('channel.visible', { cid, user_id: access.userId });
    });
  }

  async delete(ctx: RequestContext, cid: string, userId?: string): Promise<Channel> {
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.access(tx, ctx, cid, 'delete_channel', userId);
      await channelsRepository.delete(tx, ctx.app.id, cid);
      const dto = toChannelDto(access.channel);
      events.record('channel.deleted', { cid, channel: dto });
      return dto;
    });
  }

  async query(ctx: RequestContext, body: z.output<typeof QueryChannelsBody>): Promise<ChannelState[]> {
    const viewerId = optionalActingUserId(ctx, body.user_id);
    const types = await channelTypesRepository.list(this.db, ctx.app.id);
    const publicTypes = types.filter((t) => (t.config as ChannelTypeConfig).public_read).map((t) => t.name);
    const filter = compileFilter(body.filter, CHANNEL_FILTER(ctx.app.id, viewerId));
    // Like Stream: a channel the viewer hid stays out of their lists unless the filter asks for it.
    const where =
      viewerId && !mentions(body.filter, 'hidden')
        ? sql<boolean>`(${filter} and not ${hiddenFor(ctx.app.id, viewerId, true)})`
        : filter;
    const rows = await channelsRepository.query(this.db, ctx.app.id, {
      where,
      orderBy: compileSort(body.sort, CHANNEL_SORT, 'channels.cid'),
      limit: body.limit,
      offset: body.offset,
      viewerId,
      publicTypes,
    });
    return this.states(this.db, ctx, rows, viewerId, body.member_limit, types);
  }

  /** Channel + config + first members + the viewer's membership, for one channel. */
  async state(
    db: Executor,
    ctx: RequestContext,
    channel: ChannelRow,
    viewerId: string | undefined,
  ): Promise<ChannelState> {
    const [state] = await this.states(db, ctx, [channel], viewerId, 100);
    return state!;
  }

  /** The same for many channels in a fixed number of queries, whatever their count. */
  private async states(
    db: Executor,
    ctx: RequestContext,
    channels: ChannelRow[],
    viewerId: string | undefined,
    memberLimit: number,
    knownTypes?: { name: string; config: unknown }[],
  ): Promise<ChannelState[]> {
    if (channels.length === 0) return [];
    const cids = channels.map((c) => c.cid);
    const [types, members, own] = await Promise.all([
      knownTypes ?? channelTypesRepository.list(db, ctx.app.id),
      membersRepository.listForChannels(db, ctx.app.id, cids, memberLimit),
      viewerId ? membersRepository.findForUser(db, ctx.app.id, viewerId, cids) : Promise.resolve([]),
    ]);
    const configByType = new Map(types.map((t) => [t.name, t.config as ChannelTypeConfig]));
    return channels.map((channel) => ({
      channel: toChannelDto(channel),
      config: configByType.get(channel.type)!,
      members: members.filter((m) => m.cid === channel.cid).map(toMemberDto),
      membership: (() => {
        const mine = own.find((m) => m.cid === channel.cid);
        return mine ? toMemberDto(mine) : null;
      })(),
    }));
  }

  async requireUser(db: Executor, appId: string, userId: string, field: string) {
    const user = await usersRepository.find(db, appId, userId);
    if (!user || user.deleted_at)
      throw new AppError('USER_NOT_FOUND', `user ${userId} does not exist`, { field });
    return user;
  }
}
