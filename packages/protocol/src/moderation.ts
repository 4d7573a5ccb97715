import { z } from 'zod';
import { Cid, IsoDate, UserId } from './common.js';

/** Longest ban / flag / review reason, in characters. */
export const MAX_MODERATION_REASON_LENGTH = 500;
/** Longest timed ban or mute: one year, in minutes. */
export const MAX_TIMEOUT_MINUTES = 525_600;

const Reason = z.string().min(1).max(MAX_MODERATION_REASON_LENGTH);
const TimeoutMinutes = z.number().int().min(1).max(MAX_TIMEOUT_MINUTES);
/** A future ISO date-time (checked against the server clock by the service). */
const ExpiresAt = z.iso.datetime({ offset: true });
/** Server-side calls act as this user (the muter, blocker, reporter or moderator). */
const Acting = { user_id: UserId.optional() };

// ---- mutes ----

export const UserMute = z.object({
  user_id: UserId,
  target_id: UserId,
  expires_at: IsoDate.nullable(),
  created_at: IsoDate,
});
export type UserMute = z.infer<typeof UserMute>;

export const ChannelMute = z.object({
  user_id: UserId,
  cid: Cid,
  expires_at: IsoDate.nullable(),
  created_at: IsoDate,
});
export type ChannelMute = z.infer<typeof ChannelMute>;

export const MuteUserBody = z
  .object({
    target_id: UserId,
    /** Until then (default: until unmuted). Give at most one of expires_at and timeout_minutes. */
    expires_at: ExpiresAt.optional(),
    timeout_minutes: TimeoutMinutes.optional(),
    ...Acting,
  })
  .strict();
export const UnmuteUserBody = z.object({ target_id: UserId, ...Acting }).strict();
export const MuteChannelBody = z
  .object({
    cid: Cid,
    expires_at: ExpiresAt.optional(),
    timeout_minutes: TimeoutMinutes.optional(),
    ...Acting,
  })
  .strict();
export const UnmuteChannelBody = z.object({ cid: Cid, ...Acting }).strict();
export const ActingQuery = z.object(Acting).strict();

export const UserMuteResponse = z.object({ mute: UserMute });
export const ChannelMuteResponse = z.object({ mute: ChannelMute });
/** The caller's mutes in force (expired ones are left out). */
export const MutesResponse = z.object({ user_mutes: z.array(UserMute), channel_mutes: z.array(ChannelMute) });

// ---- blocks ----

export const Block = z.object({ user_id: UserId, target_id: UserId, created_at: IsoDate });
export type Block = z.infer<typeof Block>;
export const BlockUserBody = z.object({ target_id: UserId, ...Acting }).strict();
export const BlockResponse = z.object({ block: Block });
export const BlocksResponse = z.object({ blocks: z.array(Block) });

// ---- bans ----

export const Ban = z.object({
  id: z.string(),
  user_id: UserId,
  /** Null for an app-wide ban. */
  cid: Cid.nullable(),
  reason: z.string().nullable(),
  banned_by: UserId.nullable(),
  /** Null for a permanent ban. */
  expires_at: IsoDate.nullable(),
  created_at: IsoDate,
});
export type Ban = z.infer<typeof Ban>;

export const BanBody = z
  .object({
    target_id: UserId,
    /** Ban from this channel only; without it the ban is app-wide. */
    cid: Cid.optional(),
    reason: Reason.optional(),
    /** A timed ban; without it the ban is permanent. */
    timeout_minutes: TimeoutMinutes.optional(),
    ...Acting,
  })
  .strict();
export type BanInput = z.infer<typeof BanBody>;
export const UnbanBody = z.object({ target_id: UserId, cid: Cid.optional(), ...Acting }).strict();
export const BanResponse = z.object({ ban: Ban });

export const QueryBansQuery = z
  .object({
    /** Bans of this channel (channel moderators may ask); without it, every ban (app moderators). */
    cid: Cid.optional(),
    /** Only app-wide bans (cid null). */
    app_wide: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .optional(),
    target_id: UserId.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    /** Cursor: the last ban id of the previous page. */
    id_lt: z.uuid().optional(),
    ...Acting,
  })
  .strict();
export const BansResponse = z.object({ bans: z.array(Ban), next_id_lt: z.string().nullable() });

// ---- shadow bans ----

export const ShadowBanBody = z.object({ target_id: UserId, ...Acting }).strict();
export const ShadowBanResponse = z.object({ user_id: UserId, shadow_banned: z.boolean() });

// ---- flags ----

export const FlagStatus = z.enum(['open', 'dismissed', 'message_removed', 'user_banned']);
export const Flag = z.object({
  id: z.string(),
  target_type: z.enum(['message', 'user']),
  message_id: z.string().nullable(),
  cid: Cid.nullable(),
  /** The flagged user (the author, for a flagged message). */
  target_user_id: UserId,
  /** Null when a blocklist raised the flag. */
  flagged_by: UserId.nullable(),
  reason: z.string(),
  status: FlagStatus,
  reviewed_by: UserId.nullable(),
  reviewed_at: IsoDate.nullable(),
  created_at: IsoDate,
  /** Open flags on the same target (message, or user for user flags), this one included. */
  flag_count: z.number().int(),
});
export type Flag = z.infer<typeof Flag>;

export const FlagBody = z
  .object({
    /** Give exactly one of message_id and target_id. */
    message_id: z.uuid().optional(),
    target_id: UserId.optional(),
    reason: Reason,
    ...Acting,
  })
  .strict();
export const FlagResponse = z.object({ flag: Flag });

export const QueryFlagsQuery = z
  .object({
    status: FlagStatus.default('open'),
    target_type: z.enum(['message', 'user']).optional(),
    cid: Cid.optional(),
    target_id: UserId.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    id_lt: z.uuid().optional(),
    ...Acting,
  })
  .strict();
export const FlagsResponse = z.object({ flags: z.array(Flag), next_id_lt: z.string().nullable() });

export const ReviewFlagBody = z
  .object({
    /** dismiss: no action; remove_message: soft-delete the message; ban_user: app-wide ban of the target. */
    action: z.enum(['dismiss', 'remove_message', 'ban_user']),
    reason: Reason.optional(),
    /** For ban_user: a timed ban. */
    timeout_minutes: TimeoutMinutes.optional(),
    ...Acting,
  })
  .strict();
/** Every open flag on the same target is closed with the reviewed one. */
export const ReviewFlagResponse = z.object({ flags: z.array(Flag) });
export const FlagParams = z.object({ flag_id: z.uuid() }).strict();

// ---- blocklists ----

export const BlocklistBehavior = z.enum(['block', 'flag', 'mask']);
export const BlocklistName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_-]+$/, 'blocklist names are lower-case letters, digits, _ and -');
const BlockedWord = z
  .string()
  .min(1)
  .max(64)
  .refine((w) => w.trim() === w && w !== '', 'words have no surrounding spaces');
export const Blocklist = z.object({
  name: BlocklistName,
  words: z.array(z.string()),
  behavior: BlocklistBehavior,
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type Blocklist = z.infer<typeof Blocklist>;
export const CreateBlocklistBody = z
  .object({ name: BlocklistName, words: z.array(BlockedWord).min(1).max(1000), behavior: BlocklistBehavior })
  .strict();
export const UpdateBlocklistBody = z
  .object({ words: z.array(BlockedWord).min(1).max(1000).optional(), behavior: BlocklistBehavior.optional() })
  .strict();
export const BlocklistParams = z.object({ blocklist_name: BlocklistName }).strict();
export const BlocklistResponse = z.object({ blocklist: Blocklist });
export const BlocklistsResponse = z.object({ blocklists: z.array(Blocklist) });

// ---- audit log ----

export const AuditAction = z.enum([
  'ban',
  'unban',
  'shadow_ban',
  'remove_shadow_ban',
  'flag_review',
  'message_removed',
  'blocklist_created',
  'blocklist_updated',
  'blocklist_deleted',
  'channel_frozen',
  'channel_unfrozen',
]);
export type AuditAction = z.infer<typeof AuditAction>;
export const AuditEntry = z.object({
  id: z.string(),
  action: AuditAction,
  /** The moderator; null for server-side calls acting as nobody. */
  actor_id: UserId.nullable(),
  target_user_id: UserId.nullable(),
  cid: Cid.nullable(),
  message_id: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  created_at: IsoDate,
});
export type AuditEntry = z.infer<typeof AuditEntry>;
export const AuditLogQuery = z
  .object({
    action: AuditAction.optional(),
    target_id: UserId.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    /** Cursor: newest first; pass the previous page's next_id_lt. */
    id_lt: z.uuid().optional(),
    ...Acting,
  })
  .strict();
export const AuditLogResponse = z.object({ entries: z.array(AuditEntry), next_id_lt: z.string().nullable() });
