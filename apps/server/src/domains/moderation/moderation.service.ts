import type { AuditEntry, Ban, Block, Blocklist, ChannelMute, Flag, UserMute } from '@parley/protocol';
import { actingUserId, optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import type { UserRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction, type PendingEvents } from '../../platform/events.js';
import { authorizeApp, authorizeAppOn, authorizeOn, canApp } from '../channels/channels.policy.js';
import { type ChannelsService, subjectOf, toMemberDto } from '../channels/channels.service.js';
import { membersRepository } from '../members/members.repository.js';
import { messagesRepository } from '../messages/messages.repository.js';
import type { MessagesService } from '../messages/messages.service.js';
import { usersRepository } from '../users/users.repository.js';
import { toUserDto } from '../users/users.service.js';
import {
  toAuditDto,
  toBanDto,
  toBlocklistDto,
  toChannelMuteDto,
  toFlagDto,
  toUserMuteDto,
} from './moderation.dto.js';
import { type FlagWithCount, moderationRepository } from './moderation.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Input of a ban, as the REST route and the /ban slash command give it. */
export interface BanInput {
  target_id: string;
  cid?: string | undefined;
  reason?: string | undefined;
  timeout_minutes?: number | undefined;
  /** Server-side calls: the moderator acting (optional). */
  user_id?: string | undefined;
}

export interface MuteInput {
  target_id: string;
  /** ISO date-time in the future; or give timeout_minutes. */
  expires_at?: string | undefined;
  timeout_minutes?: number | undefined;
  /** Server-side calls: the muting user (required for them). */
  user_id?: string | undefined;
}

/** The expiry of a mute or ban from either form; null = until lifted. */
function expiryOf(input: { expires_at?: string | undefined; timeout_minutes?: number | undefined }) {
  if (input.expires_at !== undefined && input.timeout_minutes !== undefined) {
    throw new AppError('VALIDATION_FAILED', 'give expires_at or timeout_minutes, not both', {
      field: 'timeout_minutes',
    });
  }
  if (input.timeout_minutes !== undefined) return new Date(Date.now() + input.timeout_minutes * 60_000);
  if (input.expires_at === undefined) return null;
  const at = new Date(input.expires_at);
  if (Number.isNaN(at.getTime()))
    throw new AppError('VALIDATION_FAILED', 'expires_at is not a date', { field: 'expires_at' });
  if (at.getTime() <= Date.now())
    throw new AppError('EXPIRY_IN_PAST', undefined, { field: 'expires_at', expires_at: input.expires_at });
  return at;
}

function notSelf(actorId: string | undefined, targetId: string, field = 'target_id') {
  if (actorId !== undefined && actorId === targetId)
    throw new AppError('CANNOT_MODERATE_SELF', undefined, { field });
}

/**
 * Moderation: personal tools (mute users and channels, block users, report), moderator tools
 * (bans, shadow bans, the flag queue, blocklists) and the audit log. Every moderator action writes
 * its audit entry in the action's own transaction. The slash-command layer calls `muteUser`,
 * `unmuteUser`, `ban` and `unban` directly.
 */
export class ModerationService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
    /** Resolved lazily (the message service is built alongside this one). */
    private readonly messages: () => MessagesService,
  ) {}

  // ---- mutes ----

  async muteUser(ctx: RequestContext, input: MuteInput): Promise<UserMute> {
    const userId = actingUserId(ctx, input.user_id);
    notSelf(userId, input.target_id);
    const expiresAt = expiryOf(input);
    authorizeApp('mute', ctx.actor);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.requireUser(tx, ctx.app.id, input.target_id);
      const row = await moderationRepository.upsertUserMute(
        tx,
        ctx.app.id,
        userId,
        input.target_id,
        expiresAt,
      );
      const mute = toUserMuteDto(row);
      events.record('notification.user_muted', { user_id: userId, mute });
      return mute;
    });
  }

  /** Lifting a mute that does not exist is not an error (the outcome is the same). */
  async unmuteUser(ctx: RequestContext, input: { target_id: string; user_id?: string | undefined }) {
    const userId = actingUserId(ctx, input.user_id);
    notSelf(userId, input.target_id);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.requireUser(tx, ctx.app.id, input.target_id);
      if (await moderationRepository.deleteUserMute(tx, ctx.app.id, userId, input.target_id))
        events.record('notification.user_unmuted', { user_id: userId, target_id: input.target_id });
    });
  }

  async muteChannel(
    ctx: RequestContext,
    input: {
      cid: string;
      expires_at?: string | undefined;
      timeout_minutes?: number | undefined;
      user_id?: string | undefined;
    },
  ): Promise<ChannelMute> {
    const userId = actingUserId(ctx, input.user_id);
    const expiresAt = expiryOf(input);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, input.cid, 'read', userId);
      if (!access.config.mutes)
        throw new AppError('FORBIDDEN', 'mutes are off for this channel type', { field: 'cid' });
      const row = await moderationRepository.upsertChannelMute(tx, ctx.app.id, userId, input.cid, expiresAt);
      const mute = toChannelMuteDto(row);
      events.record('notification.channel_muted', { cid: input.cid, user_id: userId, mute });
      return mute;
    });
  }

  async unmuteChannel(ctx: RequestContext, input: { cid: string; user_id?: string | undefined }) {
    const userId = actingUserId(ctx, input.user_id);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.channels.access(tx, ctx, input.cid, 'read', userId);
      if (await moderationRepository.deleteChannelMute(tx, ctx.app.id, userId, input.cid))
        events.record('notification.channel_unmuted', { cid: input.cid, user_id: userId });
    });
  }

  async listMutes(ctx: RequestContext, requestedUserId?: string) {
    const userId = actingUserId(ctx, requestedUserId);
    const [users, channels] = await Promise.all([
      moderationRepository.listUserMutes(this.db, ctx.app.id, userId),
      moderationRepository.listChannelMutes(this.db, ctx.app.id, userId),
    ]);
    return { user_mutes: users.map(toUserMuteDto), channel_mutes: channels.map(toChannelMuteDto) };
  }

  // ---- blocks ----

  async block(
    ctx: RequestContext,
    input: { target_id: string; user_id?: string | undefined },
  ): Promise<Block> {
    const userId = actingUserId(ctx, input.user_id);
    notSelf(userId, input.target_id);
    authorizeApp('block', ctx.actor);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.requireUser(tx, ctx.app.id, input.target_id);
      const row = await moderationRepository.insertBlock(tx, ctx.app.id, userId, input.target_id);
      events.record('notification.user_blocked', { user_id: userId, target_id: input.target_id });
      return { user_id: row.user_id, target_id: row.target_id, created_at: row.created_at.toISOString() };
    });
  }

  async unblock(ctx: RequestContext, input: { target_id: string; user_id?: string | undefined }) {
    const userId = actingUserId(ctx, input.user_id);
    notSelf(userId, input.target_id);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.requireUser(tx, ctx.app.id, input.target_id);
      if (await moderationRepository.deleteBlock(tx, ctx.app.id, userId, input.target_id))
        events.record('notification.user_unblocked', { user_id: userId, target_id: input.target_id });
    });
  }

  async listBlocks(ctx: RequestContext, requestedUserId?: string): Promise<Block[]> {
    const userId = actingUserId(ctx, requestedUserId);
    const rows = await moderationRepository.listBlocks(this.db, ctx.app.id, userId);
    return rows.map((r) => ({
      user_id: r.user_id,
      target_id: r.target_id,
      created_at: r.created_at.toISOString(),
    }));
  }

  // ---- bans ----

  /**
   * Bans a user from one channel (`cid`; channel owners and moderators may, for members they
   * outrank) or from the whole app (app admins and moderators). Timed with `timeout_minutes`,
   * else permanent. The target need not be a member. A repeat replaces the earlier ban.
   */
  async ban(ctx: RequestContext, input: BanInput): Promise<Ban> {
    const actingId = optionalActingUserId(ctx, input.user_id);
    notSelf(actingId, input.target_id);
    return inTransaction(this.db, this.bus, ctx.app.id, (tx, events) =>
      this.banWithin(tx, events, ctx, input, actingId),
    );
  }

  async unban(
    ctx: RequestContext,
    input: { target_id: string; cid?: string | undefined; user_id?: string | undefined },
  ) {
    const actingId = optionalActingUserId(ctx, input.user_id);
    notSelf(actingId, input.target_id);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const target = await this.requireUser(tx, ctx.app.id, input.target_id);
      if (input.cid !== undefined) {
        const access = await this.channels.access(tx, ctx, input.cid, 'read', actingId);
        const member = await membersRepository.find(tx, ctx.app.id, input.cid, target.id);
        authorizeOn('ban_member', subjectOf(ctx, access), member);
        const removed = await moderationRepository.deleteBan(tx, ctx.app.id, target.id, input.cid);
        if (!removed) throw new AppError('BAN_NOT_FOUND', undefined, { field: 'target_id' });
        if (member) {
          const row = await membersRepository.update(tx, ctx.app.id, input.cid, target.id, { banned: false });
          if (row) events.record('member.updated', { cid: input.cid, member: toMemberDto(row) });
        }
        events.record('member.unbanned', { cid: input.cid, user_id: target.id });
      } else {
        authorizeAppOn('ban_user', ctx.actor, target);
        const removed = await moderationRepository.deleteBan(tx, ctx.app.id, target.id, null);
        if (!removed && !target.banned)
          throw new AppError('BAN_NOT_FOUND', undefined, { field: 'target_id' });
        const row = await usersRepository.update(tx, ctx.app.id, target.id, {
          banned: false,
          ban_expires_at: null,
          ban_reason: null,
        });
        const user = toUserDto(row!);
        events.record('user.updated', { user });
        events.record('user.unbanned', { user });
      }
      await moderationRepository.audit(tx, ctx.app.id, {
        action: 'unban',
        actor_id: actingId ?? null,
        target_user_id: target.id,
        cid: input.cid ?? null,
      });
    });
  }

  /** The ban itself, inside a caller's transaction (flag review bans with it). */
  private async banWithin(
    tx: Tx,
    events: PendingEvents,
    ctx: RequestContext,
    input: BanInput,
    actingId: string | undefined,
  ): Promise<Ban> {
    const target = await this.requireUser(tx, ctx.app.id, input.target_id);
    const expiresAt =
      input.timeout_minutes !== undefined ? new Date(Date.now() + input.timeout_minutes * 60_000) : null;
    const reason = input.reason ?? null;
    let ban: Ban;
    if (input.cid !== undefined) {
      const access = await this.channels.access(tx, ctx, input.cid, 'read', actingId);
      const member = await membersRepository.find(tx, ctx.app.id, input.cid, target.id);
      authorizeOn('ban_member', subjectOf(ctx, access), member);
      const row = await moderationRepository.putBan(tx, ctx.app.id, {
        user_id: target.id,
        cid: input.cid,
        reason,
        banned_by: actingId ?? null,
        expires_at: expiresAt,
      });
      ban = toBanDto(row);
      if (member) {
        const updated = await membersRepository.update(tx, ctx.app.id, input.cid, target.id, {
          banned: true,
        });
        if (updated) events.record('member.updated', { cid: input.cid, member: toMemberDto(updated) });
      }
      events.record('member.banned', { cid: input.cid, user_id: target.id, ban });
    } else {
      authorizeAppOn('ban_user', ctx.actor, target);
      const row = await moderationRepository.putBan(tx, ctx.app.id, {
        user_id: target.id,
        cid: null,
        reason,
        banned_by: actingId ?? null,
        expires_at: expiresAt,
      });
      ban = toBanDto(row);
      const updated = await usersRepository.update(tx, ctx.app.id, target.id, {
        banned: true,
        ban_expires_at: expiresAt,
        ban_reason: reason,
      });
      const user = toUserDto(updated!);
      events.record('user.updated', { user });
      events.record('user.banned', { user });
    }
    await moderationRepository.audit(tx, ctx.app.id, {
      action: 'ban',
      actor_id: actingId ?? null,
      target_user_id: target.id,
      cid: input.cid ?? null,
      details: { reason, expires_at: iso(expiresAt) },
    });
    return ban;
  }

  /**
   * Bans in force. With `cid`: that channel's bans (whoever may ban there may list them);
   * without: every ban of the app (app admins and moderators).
   */
  async queryBans(
    ctx: RequestContext,
    query: {
      cid?: string | undefined;
      app_wide?: boolean | undefined;
      target_id?: string | undefined;
      limit: number;
      id_lt?: string | undefined;
      user_id?: string | undefined;
    },
  ): Promise<{ bans: Ban[]; next_id_lt: string | null }> {
    const actingId = optionalActingUserId(ctx, query.user_id);
    if (query.cid !== undefined) await this.channels.access(this.db, ctx, query.cid, 'ban_member', actingId);
    else authorizeApp('query_bans', ctx.actor);
    const rows = await moderationRepository.queryBans(this.db, ctx.app.id, {
      ...(query.cid !== undefined ? { cid: query.cid } : {}),
      ...(query.app_wide !== undefined ? { appWide: query.app_wide } : {}),
      ...(query.target_id !== undefined ? { targetId: query.target_id } : {}),
      ...(query.id_lt !== undefined ? { idLt: query.id_lt } : {}),
      limit: query.limit,
    });
    return {
      bans: rows.map(toBanDto),
      next_id_lt: rows.length === query.limit ? rows[rows.length - 1]!.id : null,
    };
  }

  // ---- shadow bans ----

  /** A shadow-banned user's new messages are visible to that user alone (see docs/guides/moderation.md). */
  async setShadowBan(
    ctx: RequestContext,
    input: { target_id: string; user_id?: string | undefined },
    value: boolean,
  ): Promise<{ user_id: string; shadow_banned: boolean }> {
    const actingId = optionalActingUserId(ctx, input.user_id);
    notSelf(actingId, input.target_id);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const target = await this.requireUser(tx, ctx.app.id, input.target_id);
      authorizeAppOn('shadow_ban', ctx.actor, target);
      await moderationRepository.setShadowBanned(tx, ctx.app.id, target.id, value);
      await moderationRepository.audit(tx, ctx.app.id, {
        action: value ? 'shadow_ban' : 'remove_shadow_ban',
        actor_id: actingId ?? null,
        target_user_id: target.id,
      });
      events.record('user.shadow_banned', { user_id: target.id, shadow_banned: value });
      return { user_id: target.id, shadow_banned: value };
    });
  }

  // ---- flags ----

  /**
   * Reports a message (the reporter must be able to read it) or a user. One open report per
   * reporter and target: a repeat returns the open one.
   */
  async flag(
    ctx: RequestContext,
    input: {
      message_id?: string | undefined;
      target_id?: string | undefined;
      reason: string;
      user_id?: string | undefined;
    },
  ): Promise<{ flag: Flag; created: boolean }> {
    const reporter = optionalActingUserId(ctx, input.user_id);
    if ((input.message_id === undefined) === (input.target_id === undefined)) {
      throw new AppError('VALIDATION_FAILED', 'give exactly one of message_id and target_id', {
        field: input.message_id === undefined ? 'message_id' : 'target_id',
      });
    }
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      let result: { row: FlagWithCount; created: boolean };
      if (input.message_id !== undefined) {
        const message = await messagesRepository.find(tx, ctx.app.id, input.message_id);
        const hidden = message?.shadowed && reporter !== undefined && message.user_id !== reporter;
        if (!message || hidden) throw new AppError('MESSAGE_NOT_FOUND', undefined, { field: 'message_id' });
        await this.channels.access(tx, ctx, message.cid, 'flag_message', reporter);
        notSelf(reporter, message.user_id, 'message_id');
        result = await moderationRepository.insertFlag(tx, ctx.app.id, {
          target_type: 'message',
          message_id: message.id,
          cid: message.cid,
          target_user_id: message.user_id,
          flagged_by: reporter ?? null,
          reason: input.reason,
        });
      } else {
        authorizeApp('flag_user', ctx.actor);
        notSelf(reporter, input.target_id!);
        const target = await this.requireUser(tx, ctx.app.id, input.target_id!);
        result = await moderationRepository.insertFlag(tx, ctx.app.id, {
          target_type: 'user',
          message_id: null,
          cid: null,
          target_user_id: target.id,
          flagged_by: reporter ?? null,
          reason: input.reason,
        });
      }
      const flag = toFlagDto(result.row);
      if (result.created) events.record('flag.created', { flag });
      return { flag, created: result.created };
    });
  }

  /** The moderation queue (app admins and moderators). */
  async queryFlags(
    ctx: RequestContext,
    query: {
      status: string;
      target_type?: string | undefined;
      cid?: string | undefined;
      target_id?: string | undefined;
      limit: number;
      id_lt?: string | undefined;
      user_id?: string | undefined;
    },
  ): Promise<{ flags: Flag[]; next_id_lt: string | null }> {
    optionalActingUserId(ctx, query.user_id);
    authorizeApp('review_flags', ctx.actor);
    const rows = await moderationRepository.queryFlags(this.db, ctx.app.id, {
      status: query.status,
      ...(query.target_type !== undefined ? { targetType: query.target_type } : {}),
      ...(query.cid !== undefined ? { cid: query.cid } : {}),
      ...(query.target_id !== undefined ? { targetId: query.target_id } : {}),
      ...(query.id_lt !== undefined ? { idLt: query.id_lt } : {}),
      limit: query.limit,
    });
    return {
      flags: rows.map(toFlagDto),
      next_id_lt: rows.length === query.limit ? rows[rows.length - 1]!.id : null,
    };
  }

  /**
   * Reviews a flag: dismiss it, remove (soft-delete) the flagged message, or ban the flagged user
   * app-wide. Every open flag on the same target is closed with it, in one transaction with the
   * action and its audit entry.
   */
  async reviewFlag(
    ctx: RequestContext,
    flagId: string,
    input: {
      action: 'dismiss' | 'remove_message' | 'ban_user';
      reason?: string | undefined;
      timeout_minutes?: number | undefined;
      user_id?: string | undefined;
    },
  ): Promise<Flag[]> {
    const actingId = optionalActingUserId(ctx, input.user_id);
    authorizeApp('review_flags', ctx.actor);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const flag = await moderationRepository.findFlag(tx, ctx.app.id, flagId);
      if (!flag) throw new AppError('FLAG_NOT_FOUND', undefined, { field: 'flag_id' });
      if (flag.status !== 'open')
        throw new AppError('FLAG_ALREADY_REVIEWED', undefined, { field: 'flag_id', status: flag.status });
      let status = 'dismissed';
      if (input.action === 'remove_message') {
        if (!flag.message_id)
          throw new AppError('VALIDATION_FAILED', 'remove_message needs a message flag', { field: 'action' });
        const message = await messagesRepository.find(tx, ctx.app.id, flag.message_id);
        if (message && !message.deleted_at)
          await this.messages().deleteWithin(tx, events, ctx, message.id, false, actingId);
        status = 'message_removed';
      } else if (input.action === 'ban_user') {
        if (actingId === flag.target_user_id)
          throw new AppError('CANNOT_MODERATE_SELF', undefined, { field: 'flag_id' });
        await this.banWithin(
          tx,
          events,
          ctx,
          {
            target_id: flag.target_user_id,
            reason: input.reason ?? flag.reason,
            timeout_minutes: input.timeout_minutes,
          },
          actingId,
        );
        status = 'user_banned';
      }
      const closed = await moderationRepository.closeFlags(tx, ctx.app.id, flag, status, actingId ?? null);
      await moderationRepository.audit(tx, ctx.app.id, {
        action: 'flag_review',
        actor_id: actingId ?? null,
        target_user_id: flag.target_user_id,
        cid: flag.cid,
        message_id: flag.message_id,
        details: {
          flag_id: flag.id,
          decision: input.action,
          closed: closed.length,
          reason: input.reason ?? null,
        },
      });
      const dtos = closed.map(toFlagDto);
      const reviewed = dtos.find((f) => f.id === flag.id)!;
      events.record('flag.reviewed', { flag: reviewed, action: input.action });
      return dtos;
    });
  }

  // ---- blocklists ----

  async listBlocklists(ctx: RequestContext): Promise<Blocklist[]> {
    authorizeApp('manage_blocklists', ctx.actor);
    return (await moderationRepository.listBlocklists(this.db, ctx.app.id)).map(toBlocklistDto);
  }

  async getBlocklist(ctx: RequestContext, name: string): Promise<Blocklist> {
    authorizeApp('manage_blocklists', ctx.actor);
    const row = await moderationRepository.findBlocklist(this.db, ctx.app.id, name);
    if (!row) throw new AppError('BLOCKLIST_NOT_FOUND', undefined, { field: 'blocklist_name' });
    return toBlocklistDto(row);
  }

  async createBlocklist(
    ctx: RequestContext,
    input: { name: string; words: string[]; behavior: string },
  ): Promise<Blocklist> {
    authorizeApp('manage_blocklists', ctx.actor);
    const words = normalizeWords(input.words);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx) => {
      const row = await moderationRepository.insertBlocklist(tx, ctx.app.id, { ...input, words });
      if (!row) throw new AppError('BLOCKLIST_EXISTS', undefined, { field: 'name' });
      await moderationRepository.audit(tx, ctx.app.id, {
        action: 'blocklist_created',
        actor_id: actorIdOf(ctx),
        details: { name: row.name, behavior: row.behavior, words: row.words.length },
      });
      return toBlocklistDto(row);
    });
  }

  async updateBlocklist(
    ctx: RequestContext,
    name: string,
    patch: { words?: string[] | undefined; behavior?: string | undefined },
  ): Promise<Blocklist> {
    authorizeApp('manage_blocklists', ctx.actor);
    if (patch.words === undefined && patch.behavior === undefined)
      throw new AppError('VALIDATION_FAILED', 'give words or behavior', { field: 'body' });
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx) => {
      const row = await moderationRepository.updateBlocklist(tx, ctx.app.id, name, {
        ...(patch.words ? { words: normalizeWords(patch.words) } : {}),
        ...(patch.behavior ? { behavior: patch.behavior } : {}),
      });
      if (!row) throw new AppError('BLOCKLIST_NOT_FOUND', undefined, { field: 'blocklist_name' });
      await moderationRepository.audit(tx, ctx.app.id, {
        action: 'blocklist_updated',
        actor_id: actorIdOf(ctx),
        details: { name, behavior: row.behavior, words: row.words.length },
      });
      return toBlocklistDto(row);
    });
  }

  async deleteBlocklist(ctx: RequestContext, name: string): Promise<void> {
    authorizeApp('manage_blocklists', ctx.actor);
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx) => {
      const row = await moderationRepository.deleteBlocklist(tx, ctx.app.id, name);
      if (!row) throw new AppError('BLOCKLIST_NOT_FOUND', undefined, { field: 'blocklist_name' });
      await moderationRepository.audit(tx, ctx.app.id, {
        action: 'blocklist_deleted',
        actor_id: actorIdOf(ctx),
        details: { name },
      });
    });
  }

  // ---- audit log ----

  async auditLog(
    ctx: RequestContext,
    query: {
      action?: string | undefined;
      target_id?: string | undefined;
      limit: number;
      id_lt?: string | undefined;
      user_id?: string | undefined;
    },
  ): Promise<{ entries: AuditEntry[]; next_id_lt: string | null }> {
    optionalActingUserId(ctx, query.user_id);
    authorizeApp('read_audit_log', ctx.actor);
    const rows = await moderationRepository.queryAudit(this.db, ctx.app.id, {
      ...(query.action !== undefined ? { action: query.action } : {}),
      ...(query.target_id !== undefined ? { targetId: query.target_id } : {}),
      ...(query.id_lt !== undefined ? { idLt: query.id_lt } : {}),
      limit: query.limit,
    });
    return {
      entries: rows.map(toAuditDto),
      next_id_lt: rows.length === query.limit ? rows[rows.length - 1]!.id : null,
    };
  }

  /** Whether the caller may see the moderation queue (used by clients to show moderator tools). */
  isModerator(ctx: RequestContext): boolean {
    return canApp('review_flags', ctx.actor);
  }

  private async requireUser(tx: Tx, appId: string, id: string, field = 'target_id'): Promise<UserRow> {
    const user = await usersRepository.find(tx, appId, id);
    if (!user || user.deleted_at)
      throw new AppError('USER_NOT_FOUND', `user ${id} does not exist`, { field });
    return user;
  }
}

const actorIdOf = (ctx: RequestContext) => (ctx.actor.kind === 'user' ? ctx.actor.user.id : null);

/** Lower-cased, de-duplicated words (matching ignores case). */
function normalizeWords(words: string[]): string[] {
  return [...new Set(words.map((w) => w.toLowerCase()))];
}
