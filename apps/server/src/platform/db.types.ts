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
  /** Delivered position (receipts, migration 0013); never behind last_read_seq after a mark-read. */
  last_delivered_seq: Generated<number>;
  last_delivered_at: Date | null;
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
  /** Pins (migration 0013): a pin with a past pin_expires_at no longer counts. */
  pinned_at: Date | null;
  pinned_by: string | null;
  pin_expires_at: Date | null;
  /** The poll this message carries (migration 0014). */
  poll_id: string | null;
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
  /** When STARRED was last set (migration 0013). */
  starred_at: Date | null;
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

/** App-wide (cid null) or channel ban; in force while expires_at is null or later than now (0011). */
export interface BansTable {
  app_id: string;
  id: string;
  user_id: string;
  cid: string | null;
  reason: string | null;
  banned_by: string | null;
  expires_at: Date | null;
  created_at: CreatedAt;
}

/** A user blocked another user (0011). */
export interface BlocksTable {
  app_id: string;
  user_id: string;
  target_id: string;
  created_at: CreatedAt;
}

/** A report of a message or a user, and its review (0011). */
export interface FlagsTable {
  app_id: string;
  id: string;
  target_type: string;
  message_id: string | null;
  cid: string | null;
  target_user_id: string;
  flagged_by: string | null;
  reason: string;
  status: Generated<string>;
  reviewed_by: string | null;
  reviewed_at: Date | null;
  created_at: CreatedAt;
}

/** A per-app word list: block, flag or mask messages containing its words (0011). */
export interface BlocklistsTable {
  app_id: string;
  name: string;
  words: ColumnType<string[], string[], string[]>;
  behavior: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** Every moderator action (0011). */
export interface ModerationAuditLogTable {
  app_id: string;
  id: string;
  action: string;
  actor_id: string | null;
  target_user_id: string | null;
  cid: string | null;
  message_id: string | null;
  details: Json;
  created_at: CreatedAt;
}

/** The text a message had before one edit (migration 0013). */
export interface MessageEditsTable {
  app_id: string;
  id: string;
  message_id: string;
  cid: string;
  /** Who made the edit (null: a server-side call acting as nobody). */
  edited_by: string | null;
  /** The replaced text and attachments. */
  text: string;
  attachments: Json<unknown[]>;
  /** When the replaced version was written (the message's creation or the previous edit). */
  version_created_at: Date;
  edited_at: Date;
}

export interface DraftsTable {
  app_id: string;
  user_id: string;
  cid: string;
  /** The thread parent's id, or '' for the channel itself. */
  thread_key: string;
  parent_id: string | null;
  reply_to_id: string | null;
  text: string;
  attachments: Json<unknown[]>;
  custom: Json;
  mentioned_user_ids: ColumnType<string[], string[], string[]>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface RemindersTable {
  app_id: string;
  user_id: string;
  message_id: string;
  cid: string;
  remind_at: Date;
  note: string | null;
  delivered_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ScheduledMessagesTable {
  app_id: string;
  id: string;
  user_id: string;
  cid: string;
  send_at: Date;
  text: string;
  attachments: Json<unknown[]>;
  custom: Json;
  mentioned_user_ids: ColumnType<string[], string[], string[]>;
  parent_id: string | null;
  reply_to_id: string | null;
  show_in_channel: boolean;
  /** scheduled → sent | failed. */
  status: Generated<string>;
  message_id: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A user's push target (migration 0015); web_push rows carry the subscription keys. */
export interface PushDevicesTable {
  app_id: string;
  id: string;
  user_id: string;
  provider: 'web_push' | 'onesignal' | 'apns' | 'fcm';
  token: string;
  p256dh: string | null;
  auth: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A user's push preferences (0015); no row = defaults (all, no DND). */
export interface PushPreferencesTable {
  app_id: string;
  user_id: string;
  level: 'all' | 'mentions' | 'none';
  dnd_start: string | null;
  dnd_end: string | null;
  dnd_tz: string | null;
  snooze_until: Date | null;
  deliver_after_dnd: boolean;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A user's push level for one channel (0015). */
export interface PushChannelPreferencesTable {
  app_id: string;
  user_id: string;
  cid: string;
  level: 'all' | 'mentions' | 'none';
  created_at: CreatedAt;
}

/** One (user, message) that passed the push rules (0015): idempotency key and bundle queue. */
export interface PushNotificationsTable {
  app_id: string;
  user_id: string;
  message_id: string;
  cid: string;
  parent_id: string | null;
  status: 'pending' | 'sending' | 'sent' | 'dropped';
  /** The push (flush job) that sent or is sending this row. */
  bundle_id: string | null;
  reason: string | null;
  deliver_after: Date | null;
  created_at: CreatedAt;
  sent_at: Date | null;
}

/** Durable domain events for POST /sync (migration 0012): per-app seq in commit order. */
export interface EventLogTable {
  app_id: string;
  seq: ColumnType<string, string | number, never>;
  type: string;
  /** The channel of channel-scoped events. */
  cid: string | null;
  /** The user the event is about (member, notification recipient, user.* subject). */
  user_id: string | null;
  /** When set, only this user may see the event (shadowed messages: their author). */
  only_user_id: string | null;
  /** channel.deleted: the members at deletion (the member rows are gone afterwards). */
  audience: string[] | null;
  payload: Json<Record<string, unknown>>;
  logged_at: Timestamp;
}

/** Per-app head of the event log: the row lock on it orders commits (migration 0012). */
export interface EventLogHeadsTable {
  app_id: string;
  last_seq: ColumnType<string, string | number, string | number>;
  last_logged_at: Timestamp;
  pruned_through: Timestamp;
}

/** Polls (migration 0014): counters kept in step with poll_votes under the poll's row lock. */
export interface PollsTable {
  app_id: string;
  id: string;
  created_by: string;
  name: string;
  description: string | null;
  voting_visibility: string;
  enforce_unique_vote: boolean;
  max_votes_allowed: number | null;
  allow_user_suggested_options: boolean;
  allow_answers: boolean;
  is_closed: Generated<boolean>;
  closed_at: Date | null;
  custom: Json;
  vote_count: Generated<number>;
  answers_count: Generated<number>;
  vote_counts_by_option: ColumnType<Record<string, number>, string | undefined, string>;
  cid: string | null;
  message_id: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface PollOptionsTable {
  app_id: string;
  poll_id: string;
  id: string;
  position: number;
  text: string;
  custom: Json;
  suggested_by: string | null;
  created_at: CreatedAt;
}

/** A vote for an option (option_id) or a free-text answer (answer_text): exactly one is set. */
export interface PollVotesTable {
  app_id: string;
  poll_id: string;
  id: string;
  user_id: string;
  option_id: string | null;
  answer_text: string | null;
  created_at: Timestamp;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Custom slash commands of an app (migration 0014). */
export interface CommandsTable {
  app_id: string;
  name: string;
  description: string;
  args: string;
  set: string;
  url: string | null;
  secret: string;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** An ephemeral command preview (e.g. /giphy) its user may send, shuffle or cancel (migration 0014). */
export interface CommandPreviewsTable {
  app_id: string;
  id: string;
  cid: string;
  user_id: string;
  command: string;
  args: string;
  parent_id: string | null;
  state: Json;
  expires_at: Date;
  created_at: CreatedAt;
}

/** A stored file (migration 0017); `completed_at` null while its bytes stream in. */
export interface UploadsTable {
  app_id: string;
  id: string;
  cid: string;
  user_id: string | null;
  name: string;
  mime_type: string;
  file_size: number;
  storage_key: string;
  thumb_key: string | null;
  thumb_size: number | null;
  width: number | null;
  height: number | null;
  blurhash: string | null;
  completed_at: Date | null;
  /** Set by the send or edit that attaches the upload (or by the cleanup job when it finds it in a message); the job never removes it then. */
  referenced_at: Date | null;
  deleted_at: Date | null;
  created_at: CreatedAt;
}

/** The per-app HMAC key of file URLs (migration 0017). */
export interface UploadUrlKeysTable {
  app_id: string;
  key: Buffer;
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
  polls: PollsTable;
  poll_options: PollOptionsTable;
  poll_votes: PollVotesTable;
  commands: CommandsTable;
  command_previews: CommandPreviewsTable;
  push_devices: PushDevicesTable;
  push_preferences: PushPreferencesTable;
  push_channel_preferences: PushChannelPreferencesTable;
  push_notifications: PushNotificationsTable;
  message_edits: MessageEditsTable;
  drafts: DraftsTable;
  reminders: RemindersTable;
  scheduled_messages: ScheduledMessagesTable;
  bans: BansTable;
  blocks: BlocksTable;
  flags: FlagsTable;
  blocklists: BlocklistsTable;
  moderation_audit_log: ModerationAuditLogTable;
  event_log: EventLogTable;
  event_log_heads: EventLogHeadsTable;
  uploads: UploadsTable;
  upload_url_keys: UploadUrlKeysTable;
}

export type AppRow = Selectable<AppsTable>;
export type UserRow = Selectable<UsersTable>;
export type ChannelTypeRow = Selectable<ChannelTypesTable>;
export type ChannelRow = Selectable<ChannelsTable>;
export type MemberRow = Selectable<MembersTable>;
export type MessageRow = Selectable<MessagesTable>;
export type ReactionRow = Selectable<ReactionsTable>;
export type MessageEditRow = Selectable<MessageEditsTable>;
export type DraftRow = Selectable<DraftsTable>;
export type ReminderRow = Selectable<RemindersTable>;
export type ScheduledMessageRow = Selectable<ScheduledMessagesTable>;
export type NewMessage = Insertable<MessagesTable>;
export type UploadRow = Selectable<UploadsTable>;
export type UserUpdate = Updateable<UsersTable>;
export type BanRow = Selectable<BansTable>;
export type ModerationFlagRow = Selectable<FlagsTable>;
export type BlocklistRow = Selectable<BlocklistsTable>;
export type AuditRow = Selectable<ModerationAuditLogTable>;
export type PollRow = Selectable<PollsTable>;
export type PollOptionRow = Selectable<PollOptionsTable>;
export type PollVoteRow = Selectable<PollVotesTable>;
export type CommandRow = Selectable<CommandsTable>;
export type CommandPreviewRow = Selectable<CommandPreviewsTable>;
