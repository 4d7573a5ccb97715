import type { ChannelTypeConfig } from '@parley/protocol';
import type { Actor } from '../../platform/context.js';
import type { MemberRow, UserRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { isBanned } from '../users/users.service.js';

/**
 * The one place that decides who may do what in a channel. Services ask `authorize(action, …)`;
 * nothing else compares roles. The permission matrix test walks every action × role.
 */
export type ChannelAction =
  | 'read'
  | 'send'
  | 'send_when_frozen'
  | 'skip_slow_mode'
  | 'edit_own_message'
  | 'edit_any_message'
  | 'delete_own_message'
  | 'delete_any_message'
  | 'hard_delete_message'
  | 'react'
  | 'mention_channel'
  | 'update_channel'
  | 'freeze_channel'
  | 'truncate_channel'
  | 'delete_channel'
  | 'add_members'
  | 'remove_members'
  | 'invite_members'
  | 'update_member_role'
  | 'ban_member'
  | 'flag_message'
  | 'leave_channel'
  | 'pin_message'
  | 'view_edit_history'
  | 'send_poll'
  | 'cast_poll_vote'
  | 'close_any_poll'
  | 'delete_any_upload';

export interface PolicySubject {
  actor: Actor;
  config: ChannelTypeConfig;
  membership: MemberRow | null | undefined;
}

type Who = 'admin' | 'app_moderator' | 'owner' | 'channel_moderator' | 'member' | 'public_reader';

/** Who may do each action (server-side calls may always). */
const RULES: Record<ChannelAction, readonly Who[]> = {
  read: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member', 'public_reader'],
  send: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  send_when_frozen: ['admin'],
  skip_slow_mode: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  edit_own_message: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  edit_any_message: ['admin'],
  delete_own_message: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  delete_any_message: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  hard_delete_message: ['admin'],
  /** Add and remove one's own reactions. */
  react: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  /** Mention everyone with @channel / @here (from others they stay plain text). */
  mention_channel: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  update_channel: ['admin', 'owner', 'channel_moderator'],
  freeze_channel: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  truncate_channel: ['admin', 'owner'],
  delete_channel: ['admin', 'owner'],
  add_members: ['admin', 'owner', 'channel_moderator'],
  remove_members: ['admin', 'owner', 'channel_moderator'],
  invite_members: ['admin', 'owner', 'channel_moderator'],
  update_member_role: ['admin', 'owner'],
  ban_member: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  /** Report a message one can read to the moderation queue. */
  flag_message: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member', 'public_reader'],
  leave_channel: ['member'],
  /** Pin and unpin messages (Slack and Stream let members pin; guests may not). */
  pin_message: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  /** See the earlier versions of anyone's edited messages (authors see their own: edit_own_message). */
  view_edit_history: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  /** Send a message carrying a poll (the poll's creator sends it; guests may not). */
  send_poll: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  /** Vote on, and suggest options for, a poll sent in the channel. */
  cast_poll_vote: ['admin', 'app_moderator', 'owner', 'channel_moderator', 'member'],
  /** Close a poll someone else created (creators close their own). */
  close_any_poll: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
  /** Delete a file someone else uploaded to the channel (uploaders delete their own). */
  delete_any_upload: ['admin', 'app_moderator', 'owner', 'channel_moderator'],
};

/**
 * Actions a user banned from the app or the channel may still do. Leaving is not one of them (a
 * banned member stays listed as banned; the ban itself lives in `bans` and outlives membership).
 */
const ALLOWED_WHEN_BANNED: ReadonlySet<ChannelAction> = new Set(['read']);

/** Guests (app role `guest`) may read, send, react, handle their own messages and leave; nothing else. */
const GUEST_ACTIONS: ReadonlySet<ChannelAction> = new Set([
  'read',
  'send',
  'react',
  'edit_own_message',
  'delete_own_message',
  'flag_message',
  'cast_poll_vote',
  'leave_channel',
]);

function rolesOf(subject: PolicySubject): Set<Who> {
  const roles = new Set<Who>();
  if (subject.actor.kind !== 'user') return roles;
  const { user } = subject.actor;
  if (user.role === 'admin') roles.add('admin');
  if (user.role === 'moderator') roles.add('app_moderator');
  const m = subject.membership;
  // An invite not yet accepted lets the user see the channel, not act in it.
  const active = m && !(m.invited && !m.invite_accepted_at);
  if (m && (active || m.invited) && !m.invite_rejected_at) roles.add('public_reader');
  if (active && !m.invite_rejected_at) {
    roles.add('member');
    if (m.role === 'owner') roles.add('owner');
    if (m.role === 'moderator') roles.add('channel_moderator');
  }
  if (subject.config.public_read) roles.add('public_reader');
  return roles;
}

export function can(action: ChannelAction, subject: PolicySubject): boolean {
  if (subject.actor.kind === 'server') return true;
  const user = subject.actor.user;
  const banned = isBanned(user) || subject.membership?.banned === true;
  if (banned && !ALLOWED_WHEN_BANNED.has(action)) return false;
  if (user.role === 'guest' && !GUEST_ACTIONS.has(action)) return false;
  const roles = rolesOf(subject);
  return RULES[action].some((who) => roles.has(who));
}

/** Actions done to another member, where the target's own channel role matters. */
export type MemberAction = Extract<ChannelAction, 'remove_members' | 'ban_member' | 'update_member_role'>;

/**
 * `can(action)`, and the actor outranks the target: a channel moderator may act only on plain
 * members (not on owners or fellow moderators); owners, app moderators, admins and server calls
 * may act on anyone.
 */
export function canActOn(
  action: MemberAction,
  subject: PolicySubject,
  target: MemberRow | undefined,
): boolean {
  if (!can(action, subject)) return false;
  if (!target || subject.actor.kind === 'server') return true;
  const roles = rolesOf(subject);
  if (roles.has('admin') || roles.has('app_moderator') || roles.has('owner')) return true;
  return target.role === 'member';
}

export function authorizeOn(
  action: MemberAction,
  subject: PolicySubject,
  target: MemberRow | undefined,
): void {
  authorize(action, subject);
  if (!canActOn(action, subject, target)) {
    throw new AppError(
      'FORBIDDEN',
      `a channel moderator cannot ${action.replaceAll('_', ' ')} a ${target?.role}`,
      {
        action,
        user_id: target?.user_id,
      },
    );
  }
}

export function authorize(action: ChannelAction, subject: PolicySubject): void {
  if (can(action, subject)) return;
  if (subject.actor.kind === 'user' && isBanned(subject.actor.user)) throw new AppError('USER_BANNED');
  if (subject.membership?.banned) throw new AppError('USER_BANNED', 'the user is banned from this channel');
  throw new AppError('FORBIDDEN', `not allowed to ${action.replaceAll('_', ' ')} in this channel`, {
    action,
  });
}

export const POLICY_ACTIONS = Object.keys(RULES) as ChannelAction[];

/**
 * App-level actions (no channel involved). Moderator actions belong to app admins and app
 * moderators (and server calls); the personal ones (mute, block, flag a user) to every user,
 * except that a banned user may not report others.
 */
export type AppAction =
  | 'mute'
  | 'block'
  | 'flag_user'
  | 'ban_user'
  | 'shadow_ban'
  | 'query_bans'
  | 'review_flags'
  | 'manage_blocklists'
  | 'read_audit_log';

const APP_RULES: Record<AppAction, 'anyone' | 'not_banned' | 'moderators'> = {
  mute: 'anyone',
  block: 'anyone',
  flag_user: 'not_banned',
  ban_user: 'moderators',
  shadow_ban: 'moderators',
  query_bans: 'moderators',
  review_flags: 'moderators',
  manage_blocklists: 'moderators',
  read_audit_log: 'moderators',
};

export function canApp(action: AppAction, actor: Actor): boolean {
  if (actor.kind === 'server') return true;
  const rule = APP_RULES[action];
  if (rule === 'anyone') return true;
  if (isBanned(actor.user)) return false;
  if (rule === 'not_banned') return true;
  return actor.user.role === 'admin' || actor.user.role === 'moderator';
}

export function authorizeApp(action: AppAction, actor: Actor): void {
  if (canApp(action, actor)) return;
  if (actor.kind === 'user' && isBanned(actor.user)) throw new AppError('USER_BANNED');
  throw new AppError('FORBIDDEN', `only app moderators may ${action.replaceAll('_', ' ')}`, { action });
}

/**
 * `authorizeApp(action)`, and the actor outranks the target user: an app moderator may not ban or
 * shadow-ban an app admin or another app moderator; admins and server calls may act on anyone.
 */
export function authorizeAppOn(action: AppAction, actor: Actor, target: UserRow): void {
  authorizeApp(action, actor);
  if (actor.kind === 'server' || actor.user.role === 'admin') return;
  if (target.role === 'admin' || target.role === 'moderator') {
    throw new AppError(
      'FORBIDDEN',
      `an app moderator cannot ${action.replaceAll('_', ' ')} a ${target.role}`,
      {
        action,
        user_id: target.id,
      },
    );
  }
}

export const APP_POLICY_ACTIONS = Object.keys(APP_RULES) as AppAction[];
