import { z } from 'zod';
import { Channel, Member } from './channels.js';
import { Cid, UserId } from './common.js';
import { Message } from './messages.js';
import { User } from './users.js';

/**
 * Every domain event, by name → payload schema. Services emit these after commit; the realtime
 * gateway, webhooks, push and the SDK's reducers all consume the same shapes.
 */
export const EventMap = {
  'user.updated': z.object({ user: User }),
  'user.deleted': z.object({ user: User, hard: z.boolean() }),
  'user.banned': z.object({ user: User }),
  'user.unbanned': z.object({ user: User }),
  'user.tokens_revoked': z.object({ user_id: UserId, before: z.string() }),
  'channel.created': z.object({ cid: Cid, channel: Channel }),
  'channel.updated': z.object({ cid: Cid, channel: Channel }),
  'channel.truncated': z.object({ cid: Cid, channel: Channel }),
  'channel.deleted': z.object({ cid: Cid, channel: Channel }),
  'channel.hidden': z.object({ cid: Cid, user_id: UserId, clear_history: z.boolean() }),
  'channel.visible': z.object({ cid: Cid, user_id: UserId }),
  'member.added': z.object({ cid: Cid, member: Member }),
  'member.updated': z.object({ cid: Cid, member: Member }),
  'member.removed': z.object({ cid: Cid, user_id: UserId }),
  'notification.invited': z.object({ cid: Cid, member: Member }),
  'notification.invite_accepted': z.object({ cid: Cid, member: Member }),
  'notification.invite_rejected': z.object({ cid: Cid, member: Member }),
  'message.new': z.object({ cid: Cid, message: Message }),
  'message.updated': z.object({ cid: Cid, message: Message }),
  'message.deleted': z.object({ cid: Cid, message: Message, hard: z.boolean() }),
} as const;

export type EventName = keyof typeof EventMap;
export type EventPayload<N extends EventName> = z.infer<(typeof EventMap)[N]>;

/** What consumers receive: the payload plus its name, app and time. */
export type ParleyEvent<N extends EventName = EventName> = {
  [K in N]: { id: string; type: K; app_id: string; created_at: string } & EventPayload<K>;
}[N];

export const EVENT_NAMES = Object.keys(EventMap) as EventName[];
