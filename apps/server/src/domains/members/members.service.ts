import type { Member, MemberRole } from '@parley/protocol';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { authorize, authorizeOn } from '../channels/channels.policy.js';
import { channelsRepository } from '../channels/channels.repository.js';
import { type ChannelsService, subjectOf, toMemberDto } from '../channels/channels.service.js';
import { toBanDto } from '../moderation/moderation.dto.js';
import { moderationRepository } from '../moderation/moderation.repository.js';
import { usersRepository } from '../users/users.repository.js';
import { membersRepository } from './members.repository.js';

export class MembersService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  async list(
    ctx: RequestContext,
    cid: string,
    opts: { limit: number; offset: number; userId?: string },
  ): Promise<Member[]> {
    await this.channels.access(this.db, ctx, cid, 'read', opts.userId);
    return (await membersRepository.list(this.db, ctx.app.id, cid, opts.limit, opts.offset)).map(toMemberDto);
  }

  async add(
    ctx: RequestContext,
    cid: string,
    userIds: string[],
    role: MemberRole,
    actingId?: string,
  ): Promise<Member[]> {
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, cid, 'add_members', actingId);
      if (role !== 'member') authorize('update_member_role', subjectOf(ctx, access));
      await this.requireUsers(tx, ctx.app.id, userIds);
      const added = await membersRepository.insertMany(
        tx,
        ctx.app.id,
        cid,
        userIds.map((user_id) => ({ user_id, role })),
      );
      await channelsRepository.refreshMemberCount(tx, ctx.app.id, cid);
      for (const m of added) events.record('member.added', { cid, member: toMemberDto(m) });
      return added.map(toMemberDto);
    });
  }

  /**
   * Removes members. Any member may remove themselves (leave) unless banned from the channel;
   * removing others needs remove_members and outranking each of them.
   */
  async remove(ctx: RequestContext, cid: string, userIds: string[], actingId?: string): Promise<void> {
    await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const leavingSelf =
        ctx.actor.kind === 'user' && userIds.length === 1 && userIds[0] === ctx.actor.user.id;
      const access = await this.channels.access(
        tx,
        ctx,
        cid,
        leavingSelf ? 'leave_channel' : 'remove_members',
        actingId,
      );
      if (!leavingSelf) {
        for (const userId of userIds) {
          const target = await membersRepository.find(tx, ctx.app.id, cid, userId);
          authorizeOn('remove_members', subjectOf(ctx, access), target);
        }
      }
      const removed = await membersRepository.deleteMany(tx, ctx.app.id, cid, userIds);
      await channelsRepository.refreshMemberCount(tx, ctx.app.id, cid);
      for (const m of removed) events.record('member.removed', { cid, user_id: m.user_id });
    });
  }

  async invite(ctx: RequestContext, cid: string, userIds: string[], actingId?: string): Promise<Member[]> {
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      await this.channels.access(tx, ctx, cid, 'invite_members', actingId);
      await this.requireUsers(tx, ctx.app.id, userIds);
      const invited = await membersRepository.insertMany(
        tx,
        ctx.app.id,
        cid,
        userIds.map((user_id) => ({ user_id, role: 'member', invited: true })),
      );
      await channelsRepository.refreshMemberCount(tx, ctx.app.id, cid);
      for (const m of invited) events.record('notification.invited', { cid, member: toMemberDto(m) });
      return invited.map(toMemberDto);
    });
  }

  async answerInvite(
    ctx: RequestContext,
    cid: string,
    accept: boolean,
    requestedUserId?: string,
  ): Promise<Member> {
    const userId = actingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      // Without a pending invite (never invited, already answered, or not a member at all) the
      // answer is NOT_INVITED, also for a user who turned the invite down and can no longer read.
      const m = await membersRepository.find(tx, ctx.app.id, cid, userId);
      if (!m?.invited || m.invite_accepted_at || m.invite_rejected_at) {
        if (!(await channelsRepository.find(tx, ctx.app.id, cid)))
          throw new AppError('CHANNEL_NOT_FOUND', `channel ${cid} does not exist`, { field: 'cid' });
        throw new AppError('NOT_INVITED');
      }
      await this.channels.access(tx, ctx, cid, 'read', userId);
      const now = new Date();
      const row = await membersRepository.update(
        tx,
        ctx.app.id,
        cid,
        userId,
        accept ? { invite_accepted_at: now } : { invite_rejected_at: now },
      );
      if (!accept) await channelsRepository.refreshMemberCount(tx, ctx.app.id, cid);
      const dto = toMemberDto(row!);
      events.record(accept ? 'notification.invite_accepted' : 'notification.invite_rejected', {
        cid,
        member: dto,
      });
      events.record('member.updated', { cid, member: dto });
      return dto;
    });
  }

  async update(
    ctx: RequestContext,
    cid: string,
    targetUserId: string,
    patch: { role?: MemberRole; banned?: boolean },
    actingId?: string,
  ): Promise<Member> {
    if (patch.role === undefined && patch.banned === undefined)
      throw new AppError('VALIDATION_FAILED', 'give role or banned', { field: 'body' });
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, cid, 'read', actingId);
      const target = await membersRepository.find(tx, ctx.app.id, cid, targetUserId);
      if (patch.role !== undefined) authorizeOn('update_member_role', subjectOf(ctx, access), target);
      if (patch.banned !== undefined) authorizeOn('ban_member', subjectOf(ctx, access), target);
      if (!target) throw new AppError('MEMBER_NOT_FOUND', undefined, { field: 'user_id' });
      // The ban itself lives in `bans` (it outlives membership): same record as POST /moderation/ban.
      if (patch.banned !== undefined && patch.banned !== target.banned) {
        const actorId = access.userId ?? null;
        if (patch.banned) {
          const ban = await moderationRepository.putBan(tx, ctx.app.id, {
            user_id: targetUserId,
            cid,
            reason: null,
            banned_by: actorId,
            expires_at: null,
          });
          events.record('member.banned', { cid, user_id: targetUserId, ban: toBanDto(ban) });
        } else {
          await moderationRepository.deleteBan(tx, ctx.app.id, targetUserId, cid);
          events.record('member.unbanned', { cid, user_id: targetUserId });
        }
        await moderationRepository.audit(tx, ctx.app.id, {
          action: patch.banned ? 'ban' : 'unban',
          actor_id: actorId,
          target_user_id: targetUserId,
          cid,
        });
      }
      const row = await membersRepository.update(tx, ctx.app.id, cid, targetUserId, patch);
      if (!row) throw new AppError('MEMBER_NOT_FOUND', undefined, { field: 'user_id' });
      const dto = toMemberDto(row);
      events.record('member.updated', { cid, member: dto });
      return dto;
    });
  }

  private async requireUsers(tx: Tx, appId: string, userIds: string[]) {
    const found = await usersRepository.findMany(tx, appId, userIds);
    const missing = userIds.find((id) => !found.some((u) => u.id === id && !u.deleted_at));
    if (missing)
      throw new AppError('USER_NOT_FOUND', `user ${missing} does not exist`, {
        field: 'user_ids',
        user_id: missing,
      });
  }
}
