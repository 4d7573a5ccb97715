import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T = Record<string, unknown>> = ColumnType<T, string, string>;

export interface AppsTable {
  id: string;
  name: string;
  api_key: string;
  /** SHA-256 of the api secret (see docs/decisions/0002-api-secret-storage.md). */
  secret_hash: Buffer;
  previous_secret_hash: Buffer | null;
  previous_secret_expires_at: Date | null;
  webhook_url: string | null;
  settings: Json;
  limits: Json;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface UsersTable {
  app_id: string;
  id: string;
  name: string | null;
  image: string | null;
  role: string;
  custom: Json;
  banned: Generated<boolean>;
  ban_expires_at: Date | null;
  ban_reason: string | null;
  /** Appears offline to everyone (presence). */
  invisible: Generated<boolean>;
  /** New messages are `shadowed` (migration 0010). */
  shadow_banned: Generated<boolean>;
  deleted_at: Date | null;
  last_active_at: Date | null;
  tokens_revoked_at: Date | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ChannelTypesTable {
  app_id: string;
  name: string;
  config: Json;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ChannelsTable {
  app_id: string;
  cid: string;
  type: string;
  id: string;
  name: string | null;
  image: string | null;
  custom: Json;
  created_by: string | null;
  frozen: Generated<boolean>;
  slow_mode_seconds: number | null;
  /** Sorted member ids joined, for distinct (DM) channels; unique per app. */
  distinct_key: string | null;
  member_count: Generated<number>;
  last_message_at: Date | null;
  last_seq: Generated<number>;
  truncated_at: Date | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface MembersTable {
  app_id: string;
  cid: string;
  user_id: string;
  role: string;
  invited: Generated<boolean>;
  invite_accepted_at: Date | null;
  invite_rejected_at: Date | null;
  banned: Generated<boolean>;
  last_read_seq: Generated<number>;
  last_read_at: Date | null;
  hidden: Generated<boolean>;
  /** Messages at or below this seq are hidden for this member (hide with clear_history). */
  cleared_seq: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface MessagesTable {
  app_id: string;
  id: string;
  cid: string;
  seq: number;
  user_id: string;
  client_msg_id: string | null;
  type: string;
  text: string;
  custom: Json;
  attachments: Json<unknown[]>;
  mentioned_user_ids: ColumnType<string[], string[], string[]>;
  parent_id: string | null;
  reply_to_id: string | null;
  show_in_channel: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  edited_at: Date | null;
  deleted_at: Date | null;
  /** Thread parents: live replies, participants (author first), latest live reply time. */
  reply_count: Generated<number>;
  thread_participants: ColumnType<string[], string[] | undefined, string[]>;
  last_reply_at: Date | null;
  /** Reactions per type and score sums per type, kept in step with `reactions`. */
  reaction_counts: ColumnType<Record<string, number>, string | undefined, string>;
  reaction_scores: ColumnType<Record<string, number>, string | undefined, string>;
  mentioned_channel: Generated<boolean>;
  mentioned_here: Generated<boolean>;
  /** From a shadow-banned author: visible only to that author (migration 0010). */
  shadowed: Generated<boolean>;
}

export interface ReactionsTable {
  app_id: string;
  message_id: string;
  user_id: string;
  type: string;
  score: number;
  created_at: Date;
  updated_at: Date;
}

/** Per-user flags on messages that matter to the user (see migration 0009). */
export interface UserMessagesTable {
  app_id: string;
  user_id: string;
  message_id: string;
  cid: string;
  seq: number;
  flags: number;
  created_at: CreatedAt;
}

export interface ThreadReadsTable {
  app_id: string;
  user_id: string;
  parent_id: string;
  last_read_seq: number;
  last_read_at: Date;
}

/** A user muted a channel (migration 0010); null expires_at = until unmuted. */
export interface ChannelMutesTable {
  app_id: string;
  user_id: string;
  cid: string;
  expires_at: Date | null;
  created_at: CreatedAt;
}

/** A user muted another user (migration 0010). */
export interface UserMutesTable {
  app_id: string;
  user_id: string;
  target_id: string;
  expires_at: Date | null;
  created_at: CreatedAt;
}

export interface Database {
  apps: AppsTable;
  users: UsersTable;
  channel_types: ChannelTypesTable;
  channels: ChannelsTable;
  members: MembersTable;
  messages: MessagesTable;
  reactions: ReactionsTable;
  user_messages: UserMessagesTable;
  thread_reads: ThreadReadsTable;
  channel_mutes: ChannelMutesTable;
  user_mutes: UserMutesTable;
}

export type AppRow = Selectable<AppsTable>;
export type UserRow = Selectable<UsersTable>;
export type ChannelTypeRow = Selectable<ChannelTypesTable>;
export type ChannelRow = Selectable<ChannelsTable>;
export type MemberRow = Selectable<MembersTable>;
export type MessageRow = Selectable<MessagesTable>;
export type ReactionRow = Selectable<ReactionsTable>;
export type NewMessage = Insertable<MessagesTable>;
export type UserUpdate = Updateable<UsersTable>;
