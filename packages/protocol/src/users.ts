import { z } from 'zod';
import { CustomData, IsoDate, UserId } from './common.js';

export const UserRole = z.enum(['user', 'admin', 'moderator', 'guest']);
export type UserRole = z.infer<typeof UserRole>;

export const User = z
  .object({
    id: UserId,
    name: z.string().nullable(),
    image: z.string().nullable(),
    role: UserRole,
    custom: CustomData,
    banned: z.boolean(),
    /** Appears offline to others: no presence events, not listed in channel presence. */
    invisible: z.boolean(),
    ban_expires_at: IsoDate.nullable(),
    ban_reason: z.string().nullable(),
    deleted_at: IsoDate.nullable(),
    last_active_at: IsoDate.nullable(),
    tokens_revoked_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof User>;

/** Fields a client may write. Role and ban fields are honoured only for server-side calls. */
export const UserInput = z
  .object({
    id: UserId,
    name: z.string().max(200).nullable().optional(),
    image: z.url().max(2048).nullable().optional(),
    role: UserRole.optional(),
    custom: CustomData.optional(),
    banned: z.boolean().optional(),
    invisible: z.boolean().optional(),
    ban_expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
    ban_reason: z.string().max(500).nullable().optional(),
  })
  .strict();
export type UserInput = z.infer<typeof UserInput>;

export const UpsertUsersBody = z.object({ users: z.array(UserInput).min(1).max(100) }).strict();

export const PartialUpdateUser = z
  .object({
    id: UserId,
    /** Top-level fields to set; `custom.<key>` sets one custom key. */
    set: z.record(z.string(), z.unknown()).default({}),
    /** Fields to clear; `custom.<key>` removes one custom key. */
    unset: z.array(z.string()).max(50).default([]),
  })
  .strict();
export const PartialUpdateUsersBody = z
  .object({ users: z.array(PartialUpdateUser).min(1).max(100) })
  .strict();

export const UsersResponse = z.object({ users: z.array(User) });
export const UserResponse = z.object({ user: User });

export const QueryUsersBody = z
  .object({
    filter: z.record(z.string(), z.unknown()).default({}),
    sort: z
      .array(
        z
          .object({ field: z.string(), direction: z.union([z.literal(1), z.literal(-1)]).default(1) })
          .strict(),
      )
      .max(3)
      .default([]),
    limit: z.number().int().min(1).max(100).default(30),
    offset: z.number().int().min(0).max(1000).default(0),
    include_deleted: z.boolean().default(false),
  })
  .strict();

export const DeleteUserQuery = z
  .object({
    hard: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
  })
  .strict();

export const RevokeTokensBody = z
  .object({
    /** Tokens issued before this moment stop working; defaults to now. */
    before: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const DevTokenBody = z.object({ user_id: UserId }).strict();
export const TokenResponse = z.object({ token: z.string(), user_id: UserId });
