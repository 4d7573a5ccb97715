import { type QueryUsersBody, type User, UserInput, type UserRole } from '@parley/protocol';
import type { z } from 'zod';
import type { RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import type { UserRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction } from '../../platform/events.js';
import { compileFilter, compileSort, type FilterSpec } from '../../platform/filters.js';
import { checkCustomSize } from '../../platform/limits.js';
import { moderationRepository } from '../moderation/moderation.repository.js';
import { usersRepository } from './users.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toUserDto(row: UserRow): User {
  return {
    id: row.id,
    name: row.name,
    image: row.image,
    role: row.role as UserRole,
    custom: row.custom as Record<string, unknown>,
    banned: row.banned,
    invisible: row.invisible,
    ban_expires_at: iso(row.ban_expires_at),
    ban_reason: row.ban_reason,
    deleted_at: iso(row.deleted_at),
    last_active_at: iso(row.last_active_at),
    tokens_revoked_at: iso(row.tokens_revoked_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** A ban is in force when set and not yet expired. */
export const isBanned = (row: UserRow) =>
  row.banned && (!row.ban_expires_at || row.ban_expires_at > new Date());

const USER_FILTER: FilterSpec = {
  fields: {
    id: { column: 'users.id', type: 'string' },
    name: { column: 'users.name', type: 'string' },
    role: { column: 'users.role', type: 'string' },
    banned: { column: 'users.banned', type: 'boolean' },
    created_at: { column: 'users.created_at', type: 'date' },
    updated_at: { column: 'users.updated_at', type: 'date' },
    last_active_at: { column: 'users.last_active_at', type: 'date' },
  },
  customColumn: 'users.custom',
};
const USER_SORT = {
  id: { column: 'users.id' },
  name: { column: 'users.name', nullsLast: true },
  created_at: { column: 'users.created_at' },
  updated_at: { column: 'users.updated_at' },
  last_active_at: { column: 'users.last_active_at', nullsLast: true },
};

/** Fields only the customer's backend may set: an end user cannot promote or unban themselves. */
const SERVER_ONLY_FIELDS = ['role', 'banned', 'ban_expires_at', 'ban_reason'] as const;
const SETTABLE_FIELDS = ['name', 'image', 'custom', 'invisible', ...SERVER_ONLY_FIELDS] as const;

export class UsersService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
  ) {}

  async upsert(ctx: RequestContext, users: UserInput[]): Promise<User[]> {
    for (const [i, u] of users.entries()) {
      this.checkWrite(ctx, u.id, Object.keys(u), `users[${i}]`);
      if (u.custom) checkCustomSize(ctx.app, u.custom, `users[${i}].custom`);
    }
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const out: User[] = [];
      for (const u of users) {
        const before = await usersRepository.find(tx, ctx.app.id, u.id);
        const row = await usersRepository.upsert(tx, ctx.app.id, {
          ...u,
          ban_expires_at:
            u.ban_expires_at === undefined ? undefined : u.ban_expires_at ? new Date(u.ban_expires_at) : null,
        });
        await syncAppBan(tx, ctx.app.id, before, row);
        const dto = toUserDto(row);
        events.record('user.updated', { user: dto });
        if (before && before.banned !== row.banned)
          events.record(row.banned ? 'user.banned' : 'user.unbanned', { user: dto });
        if (!before && row.banned) events.record('user.banned', { user: dto });
        out.push(dto);
      }
      return out;
    });
  }

  async partialUpdate(
    ctx: RequestContext,
    updates: { id: string; set: Record<string, unknown>; unset: string[] }[],
  ): Promise<User[]> {
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const out: User[] = [];
      for (const [i, update] of updates.entries()) {
        const path = `users[${i}]`;
        const topLevel = [...Object.keys(update.set), ...update.unset].map((k) => k.split('.')[0]!);
        this.checkWrite(ctx, update.id, topLevel, path);
        const current = await usersRepository.find(tx, ctx.app.id, update.id);
        if (!current) throw new AppError('USER_NOT_FOUND', undefined, { field: `${path}.id` });
        const merged = applySetUnset(
          {
            id: current.id,
            name: current.name,
            image: current.image,
            role: current.role,
            custom: current.custom,
            banned: current.banned,
            invisible: current.invisible,
            ban_expires_at: current.ban_expires_at?.toISOString() ?? null,
            ban_reason: current.ban_reason,
          },
          update,
          SETTABLE_FIELDS,
          path,
        );
        const parsed = UserInput.safeParse(merged);
        if (!parsed.success) throw validationError(parsed.error, path);
        checkCustomSize(ctx.app, parsed.data.custom ?? {}, `${path}.custom`);
        const row = await usersRepository.update(tx, ctx.app.id, update.id, {
          name: parsed.data.name ?? null,
          image: parsed.data.image ?? null,
          role: parsed.data.role ?? 'user',
          custom: JSON.stringify(parsed.data.custom ?? {}),
          banned: parsed.data.banned ?? false,
          invisible: parsed.data.invisible ?? false,
          ban_expires_at: parsed.data.ban_expires_at ? new Date(parsed.data.ban_expires_at) : null,
          ban_reason: parsed.data.ban_reason ?? null,
        });
        await syncAppBan(tx, ctx.app.id, current, row!);
        const dto = toUserDto(row!);
        events.record('user.updated', { user: dto });
        if (current.banned !== row!.banned)
          events.record(row!.banned ? 'user.banned' : 'user.unbanned', { user: dto });
        out.push(dto);
      }
      return out;
    });
  }

  async get(ctx: RequestContext, id: string): Promise<User> {
    const row = await usersRepository.find(this.db, ctx.app.id, id);
    if (!row) throw new AppError('USER_NOT_FOUND');
    return toUserDto(row);
  }

  async query(ctx: RequestContext, body: z.output<typeof QueryUsersBody>): Promise<User[]> {
    const rows = await usersRepository.query(this.db, ctx.app.id, {
      where: compileFilter(body.filter, USER_FILTER),
      orderBy: compileSort(
        body.sort.length ? body.sort : [{ field: 'created_at', direction: 1 }],
        USER_SORT,
        'users.id',
      ),
      limit: body.limit,
      offset: body.offset,
      includeDeleted: body.include_deleted,
    });
    return rows.map(toUserDto);
  }

  /** Soft delete keeps the row (and the user's messages) but blocks every call; hard delete removes it. */
  async delete(ctx: RequestContext, id: string, hard: boolean): Promise<User> {
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const row = await usersRepository.find(tx, ctx.app.id, id);
      if (!row) throw new AppError('USER_NOT_FOUND');
      if (hard) {
        const cids = await usersRepository.hardDelete(tx, ctx.app.id, id);
        const dto = toUserDto(row);
        for (const cid of cids) events.record('member.removed', { cid, user_id: id });
        events.record('user.deleted', { user: dto, hard: true });
        return dto;
      }
      const updated = await usersRepository.update(tx, ctx.app.id, id, { deleted_at: new Date() });
      const dto = toUserDto(updated!);
      events.record('user.deleted', { user: dto, hard: false });
      return dto;
    });
  }

  /** Every token of the user issued before `before` (default now) stops working. */
  async revokeTokens(ctx: RequestContext, id: string, before?: string): Promise<User> {
    const at = before ? new Date(before) : new Date();
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const row = await usersRepository.update(tx, ctx.app.id, id, { tokens_revoked_at: at });
      if (!row) throw new AppError('USER_NOT_FOUND');
      events.record('user.tokens_revoked', { user_id: id, before: at.toISOString() });
      return toUserDto(row);
    });
  }

  private checkWrite(ctx: RequestContext, id: string, fields: string[], path: string) {
    if (ctx.actor.kind === 'server') return;
    if (id !== ctx.actor.user.id)
      throw new AppError('FORBIDDEN', 'users may only update themselves', { field: `${path}.id` });
    const forbidden = fields.find((f) => (SERVER_ONLY_FIELDS as readonly string[]).includes(f));
    if (forbidden)
      throw new AppError('AUTH_SERVER_ONLY', `only server-side calls may set ${forbidden}`, {
        field: `${path}.${forbidden}`,
      });
  }
}

/**
 * The user API's ban fields (banned, ban_expires_at, ban_reason) and the app-wide row in `bans`
 * are one ban (ADR 0010): a change through the user API is written there too, with its audit entry.
 */
async function syncAppBan(tx: Tx, appId: string, before: UserRow | undefined, after: UserRow) {
  const same =
    before !== undefined &&
    before.banned === after.banned &&
    before.ban_expires_at?.getTime() === after.ban_expires_at?.getTime() &&
    before.ban_reason === after.ban_reason;
  if (same || (!after.banned && !before?.banned)) return;
  if (after.banned) {
    await moderationRepository.putBan(tx, appId, {
      user_id: after.id,
      cid: null,
      reason: after.ban_reason,
      banned_by: null,
      expires_at: after.ban_expires_at,
    });
  } else {
    await moderationRepository.deleteBan(tx, appId, after.id, null);
  }
  await moderationRepository.audit(tx, appId, {
    action: after.banned ? 'ban' : 'unban',
    actor_id: null,
    target_user_id: after.id,
    details: {
      via: 'users',
      reason: after.ban_reason,
      expires_at: after.ban_expires_at?.toISOString() ?? null,
    },
  });
}

/** Applies Stream-style `set` / `unset` (with `custom.<key>` paths) to a plain object. */
export function applySetUnset(
  current: Record<string, unknown>,
  update: { set: Record<string, unknown>; unset: string[] },
  allowed: readonly string[],
  path: string,
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...current, custom: { ...(current.custom as object) } };
  const custom = next.custom as Record<string, unknown>;
  for (const [key, value] of Object.entries(update.set)) {
    if (key.startsWith('custom.')) custom[key.slice(7)] = value;
    else if (allowed.includes(key)) next[key] = value;
    else throw new AppError('VALIDATION_FAILED', `cannot set ${key}`, { field: `${path}.set.${key}` });
  }
  for (const key of update.unset) {
    if (key.startsWith('custom.')) delete custom[key.slice(7)];
    else if (allowed.includes(key)) next[key] = key === 'custom' ? {} : null;
    else throw new AppError('VALIDATION_FAILED', `cannot unset ${key}`, { field: `${path}.unset` });
  }
  // Null for a non-nullable flag means "back to the default".
  if (next.banned === null) next.banned = false;
  if (next.invisible === null) next.invisible = false;
  if (next.role === null) next.role = 'user';
  if (next.frozen === null) next.frozen = false;
  return next;
}

export function validationError(error: z.ZodError, path: string) {
  const issues = error.issues.map((i) => ({ path: [path, ...i.path].join('.'), message: i.message }));
  return new AppError('VALIDATION_FAILED', issues[0]?.message, { field: issues[0]?.path, issues });
}
