import type { AuditEntry, Ban, Blocklist, ChannelMute, Flag, UserMute } from '@parley/protocol';
import type { AuditRow, BanRow, BlocklistRow } from '../../platform/db.types.js';
import type { FlagWithCount } from './moderation.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const toUserMuteDto = (r: {
  user_id: string;
  target_id: string;
  expires_at: Date | null;
  created_at: Date;
}): UserMute => ({
  user_id: r.user_id,
  target_id: r.target_id,
  expires_at: iso(r.expires_at),
  created_at: r.created_at.toISOString(),
});

export const toChannelMuteDto = (r: {
  user_id: string;
  cid: string;
  expires_at: Date | null;
  created_at: Date;
}): ChannelMute => ({
  user_id: r.user_id,
  cid: r.cid,
  expires_at: iso(r.expires_at),
  created_at: r.created_at.toISOString(),
});

export const toBanDto = (r: BanRow): Ban => ({
  id: r.id,
  user_id: r.user_id,
  cid: r.cid,
  reason: r.reason,
  banned_by: r.banned_by,
  expires_at: iso(r.expires_at),
  created_at: r.created_at.toISOString(),
});

export const toFlagDto = (r: FlagWithCount): Flag => ({
  id: r.id,
  target_type: r.target_type as Flag['target_type'],
  message_id: r.message_id,
  cid: r.cid,
  target_user_id: r.target_user_id,
  flagged_by: r.flagged_by,
  reason: r.reason,
  status: r.status as Flag['status'],
  reviewed_by: r.reviewed_by,
  reviewed_at: iso(r.reviewed_at),
  created_at: r.created_at.toISOString(),
  flag_count: r.flag_count,
});

export const toBlocklistDto = (r: BlocklistRow): Blocklist => ({
  name: r.name,
  words: r.words,
  behavior: r.behavior as Blocklist['behavior'],
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

export const toAuditDto = (r: AuditRow): AuditEntry => ({
  id: r.id,
  action: r.action as AuditEntry['action'],
  actor_id: r.actor_id,
  target_user_id: r.target_user_id,
  cid: r.cid,
  message_id: r.message_id,
  details: r.details as Record<string, unknown>,
  created_at: r.created_at.toISOString(),
});
