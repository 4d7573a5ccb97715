import { z } from 'zod';
import { ChannelIdPart, ChannelTypeName, Cid, CustomData, IsoDate, UserId } from './common.js';

export const ChannelTypeConfig = z
  .object({
    typing_events: z.boolean(),
    read_events: z.boolean(),
    connect_events: z.boolean(),
    reactions: z.boolean(),
    replies: z.boolean(),
    quotes: z.boolean(),
    uploads: z.boolean(),
    url_enrichment: z.boolean(),
    search: z.boolean(),
    mutes: z.boolean(),
    /** Anyone in the app may read (and watch) without being a member (livestreams). */
    public_read: z.boolean(),
    max_message_length: z.number().int().min(1).max(20_000),
    /** Default slow mode for channels of this type, in seconds (0 = off); a channel may override it. */
    slow_mode_seconds: z.number().int().min(0).max(3600),
    /** Slash commands enabled in channels of this type (built-ins and the app's custom commands). */
    commands: z.array(z.string().min(1).max(64)).max(50),
    /** Messages may carry polls (default true). */
    polls: z.boolean().optional(),
    /** Name of the app blocklist applied to messages of this type (on send and edit), besides the app-wide one. */
    blocklist: z.string().min(1).max(64).nullable().optional(),
    /** Send message.delivered to the channel and record delivered positions (default true). */
    delivery_events: z.boolean().optional(),
    /** "Read by" lists answer only in channels with at most this many members (default 100). */
    max_receipt_members: z.number().int().min(0).max(1000).optional(),
  })
  .strict();
export type ChannelTypeConfig = z.infer<typeof ChannelTypeConfig>;

export const ChannelType = z.object({
  name: ChannelTypeName,
  config: ChannelTypeConfig,
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type ChannelType = z.infer<typeof ChannelType>;

const base: ChannelTypeConfig = {
  typing_events: true,
  read_events: true,
  connect_events: true,
  reactions: true,
  replies: true,
  quotes: true,
  uploads: true,
  url_enrichment: true,
  search: true,
  mutes: true,
  public_read: false,
  max_message_length: 5000,
  slow_mode_seconds: 0,
  commands: ['giphy', 'mute', 'unmute', 'ban', 'unban'],
};

/** The channel types every new app starts with, modelled on what chat products need most. */
export const DEFAULT_CHANNEL_TYPES: Record<string, ChannelTypeConfig> = {
  messaging: base,
  team: base,
  livestream: {
    ...base,
    typing_events: false,
    read_events: false,
    connect_events: false,
    replies: false,
    public_read: true,
    commands: ['giphy', 'mute', 'unmute', 'ban', 'unban'],
  },
  commerce: { ...base, uploads: true, replies: false, commands: [] },
};

export const CreateChannelTypeBody = z
  .object({ name: ChannelTypeName, config: ChannelTypeConfig.partial().default({}) })
  .strict();
export const UpdateChannelTypeBody = z.object({ config: ChannelTypeConfig.partial() }).strict();
export const ChannelTypeResponse = z.object({ channel_type: ChannelType });
export const ChannelTypesResponse = z.object({ channel_types: z.array(ChannelType) });

export const MemberRole = z.enum(['owner', 'moderator', 'member']);
export type MemberRole = z.infer<typeof MemberRole>;

export const Member = z
  .object({
    user_id: UserId,
    role: MemberRole,
    invited: z.boolean(),
    invite_accepted_at: IsoDate.nullable(),
    invite_rejected_at: IsoDate.nullable(),
    banned: z.boolean(),
    last_read_seq: z.number().int(),
    last_read_at: IsoDate.nullable(),
    /** Delivered position (receipts; always present in server answers): at least last_read_seq once read. */
    last_delivered_seq: z.number().int().optional(),
    last_delivered_at: IsoDate.nullable().optional(),
    hidden: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .meta({ id: 'Member' });
export type Member = z.infer<typeof Member>;

export const Channel = z
  .object({
    cid: Cid,
    type: ChannelTypeName,
    id: ChannelIdPart,
    name: z.string().nullable(),
    image: z.string().nullable(),
    custom: CustomData,
    created_by: UserId.nullable(),
    frozen: z.boolean(),
    /** Slow mode for this channel in seconds; null means the channel type's default. */
    slow_mode_seconds: z.number().int().nullable(),
    member_count: z.number().int(),
    last_message_at: IsoDate.nullable(),
    last_seq: z.number().int(),
    truncated_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .meta({ id: 'Channel' });
export type Channel = z.infer<typeof Channel>;

export const ChannelState = z.object({
  channel: Channel,
  config: ChannelTypeConfig,
  members: z.array(Member),
  membership: Member.nullable(),
});
export type ChannelState = z.infer<typeof ChannelState>;

const ChannelWritable = {
  name: z.string().max(200).nullable().optional(),
  image: z.url().max(2048).nullable().optional(),
  custom: CustomData.optional(),
  frozen: z.boolean().optional(),
  slow_mode_seconds: z.number().int().min(0).max(3600).nullable().optional(),
};

export const CreateChannelBody = z
  .object({
    type: ChannelTypeName,
    /** Omit to have an id generated; omit and give `members` with `distinct: true` for a DM. */
    id: ChannelIdPart.optional(),
    members: z.array(UserId).max(1000).default([]),
    /** Same member set → same channel (direct messages and groups without a name). */
    distinct: z.boolean().default(false),
    /** Server-side calls name the creator; user calls create as themselves. */
    created_by: UserId.optional(),
    ...ChannelWritable,
  })
  .strict();

export const UpdateChannelBody = z.object({ ...ChannelWritable }).strict();

export const PartialUpdateChannelBody = z
  .object({
    set: z.record(z.string(), z.unknown()).default({}),
    unset: z.array(z.string()).max(50).default([]),
  })
  .strict();

export const SortSpec = z
  .array(
    z
      .object({
        field: z.string().min(1).max(100),
        direction: z.union([z.literal(1), z.literal(-1)]).default(-1),
      })
      .strict(),
  )
  .max(3);

export const QueryChannelsBody = z
  .object({
    filter: z.record(z.string(), z.unknown()).default({}),
    sort: SortSpec.default([{ field: 'last_message_at', direction: -1 }]),
    limit: z.number().int().min(1).max(100).default(20),
    offset: z.number().int().min(0).max(10_000).default(0),
    /** Number of members to include per channel. */
    member_limit: z.number().int().min(0).max(100).default(10),
    /** Server-side calls choose whose view to query; user calls query as themselves. */
    user_id: UserId.optional(),
  })
  .strict();

export const ChannelResponse = z.object({ channel: ChannelState });
export const ChannelsResponse = z.object({ channels: z.array(ChannelState) });

export const TruncateChannelBody = z
  .object({ hard: z.boolean().default(false), user_id: UserId.optional() })
  .strict();

export const HideChannelBody = z
  .object({ clear_history: z.boolean().default(false), user_id: UserId.optional() })
  .strict();

export const ActingUserBody = z.object({ user_id: UserId.optional() }).strict();

export const AddMembersBody = z
  .object({
    user_ids: z.array(UserId).min(1).max(100),
    role: MemberRole.default('member'),
    user_id: UserId.optional(),
  })
  .strict();
export const RemoveMembersBody = z
  .object({ user_ids: z.array(UserId).min(1).max(100), user_id: UserId.optional() })
  .strict();
export const InviteMembersBody = z
  .object({ user_ids: z.array(UserId).min(1).max(100), user_id: UserId.optional() })
  .strict();
export const UpdateMemberBody = z
  .object({ role: MemberRole.optional(), banned: z.boolean().optional(), user_id: UserId.optional() })
  .strict();
export const MembersResponse = z.object({ members: z.array(Member) });
export const MemberResponse = z.object({ member: Member });

export const ChannelParams = z.object({ type: ChannelTypeName, id: ChannelIdPart }).strict();
export const MemberParams = ChannelParams.extend({ user_id: UserId }).strict();
