import type { SyncBody } from '@parley/protocol';
import {
  type ChannelTypeConfig,
  type ParleyEvent,
  SYNC_MAX_AGE_DAYS,
  SYNC_MAX_EVENTS,
  type SyncResponse,
} from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Tx } from '../../platform/db.js';
import type { ChannelTypesService } from '../channel-types/channel-types.service.js';
import { can } from '../channels/channels.policy.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { type LogEntry, syncRepository } from './sync.repository.js';

/**
 * What /sync replays mirrors what realtime publishes to clients (realtime.service.ts `route`):
 * - channel events, to the channel's members at the time (message.read / message.delivered only
 *   when the channel type has read / delivery events, or for the reader's own);
 * - user-only events, to their user (realtime's `chat:user:{id}` channel).
 * Everything else is not for clients and is not logged: typing and presence (live only), user.*
 * (realtime turns them into disconnects and presence), channel.created (not published), moderation
 * events for the backend (flag.*, user.shadow_banned), and any new type until it is added here.
 */
const CHANNEL_EVENTS: ReadonlySet<string> = new Set([
  'message.new',
  'message.updated',
  'message.deleted',
  'reaction.new',
  'reaction.updated',
  'reaction.deleted',
  'channel.updated',
  'channel.truncated',
  'channel.deleted',
  'member.added',
  'member.updated',
  'member.removed',
  'member.banned',
  'member.unbanned',
  'message.read',
  'message.delivered',
  'poll.updated',
  'poll.closed',
  'poll.vote_casted',
  'poll.vote_changed',
  'poll.vote_removed',
]);

/** Only the user themselves sees these (their private realtime channel). */
const isUserOnly = (type: string) =>
  type.startsWith('notification.') ||
  type.startsWith('draft.') ||
  type.startsWith('reminder.') ||
  type.startsWith('scheduled_message.') ||
  type === 'channel.hidden' ||
  type === 'channel.visible';

/** How many candidate rows one sync reads at most (events of the user's channels before filtering). */
const SCAN_LIMIT = 4 * SYNC_MAX_EVENTS;
/** Pruning runs on the write that crosses each multiple of this many events, deleting at most PRUNE_BATCH. */
const PRUNE_EVERY = 256;
const PRUNE_BATCH = 1000;

type Loose = Record<string, unknown> & {
  type: string;
  cid?: unknown;
  user_id?: unknown;
  shadowed?: unknown;
  member?: { user_id?: unknown };
  message?: { id?: unknown; user_id?: unknown };
};

const str = (v: unknown) => (typeof v === 'string' ? v : null);

/** The author of the message an event is about (`message.user_id`), or null. */
const authorOf = (payload: Record<string, unknown>) => str((payload as Loose).message?.user_id);

/**
 * Where an event belongs: its channel, the user it is about, and who alone may see it; null for
 * events that are not replayed to clients.
 */
export function classify(
  event: ParleyEvent,
): (Omit<LogEntry, 'payload' | 'audience'> & { messageId: string | null; shadowedBy: string | null }) | null {
  const e = event as unknown as Loose;
  const userOnly = isUserOnly(e.type);
  if (!userOnly && !CHANNEL_EVENTS.has(e.type)) return null;
  const subject = str(e.user_id) ?? str(e.member?.user_id);
  if (userOnly && !subject) return null;
  if (!userOnly && !str(e.cid)) return null;
  return {
    type: e.type,
    cid: str(e.cid),
    user_id: subject,
    only_user_id: userOnly ? subject : null,
    messageId: str(e.message?.id),
    shadowedBy: e.shadowed === true ? str(e.message?.user_id) : null,
  };
}

export class SyncService {
  constructor(
    private readonly db: Db,
    private readonly channels: ChannelsService,
    private readonly channelTypes: ChannelTypesService,
  ) {}

  /**
   * The event-log consumer (EventBus.onCommitting): appends the transaction's durable events in
   * its transaction, after taking the app's next seqs (the head row lock orders commits). Shadowed
   * messages' events are logged for their author only.
   */
  async log(tx: Tx, events: readonly ParleyEvent[]): Promise<void> {
    const classified = events.flatMap((event) => {
      const where = classify(event);
      return where ? [{ event, ...where }] : [];
    });
    if (classified.length === 0) return;
    const durable = classified.map((c) => c.event);
    const appId = durable[0]!.app_id;
    // Whether a message is shadowed: message.new always says so itself (`shadowed`), and a
    // shadowed message mentions nobody (MessagesService), so notification.mention never is; other
    // events about a message (edits, deletes, reactions, polls) are checked against the row.
    const selfDescribing = new Set(['message.new', 'notification.mention']);
    const messageIds = [
      ...new Set(
        classified.flatMap((c) =>
          c.messageId && !selfDescribing.has(c.type) && !c.shadowedBy ? [c.messageId] : [],
        ),
      ),
    ];
    const shadowed = messageIds.length
      ? await syncRepository.shadowedAuthors(tx, appId, messageIds)
      : new Map<string, string>();
    const deleted = durable.some((e) => e.type === 'channel.deleted')
      ? await syncRepository.deletedChannelMembers(tx)
      : {};
    const entries: LogEntry[] = [];
    for (const { event, messageId, shadowedBy, ...where } of classified) {
      let only = where.only_user_id;
      const author = shadowedBy ?? (messageId ? shadowed.get(messageId) : undefined);
      if (author) {
        if (only && only !== author) continue; // someone else's copy of a shadowed message: nobody sees it
        only = author;
      }
      const audience = event.type === 'channel.deleted' ? (deleted[`${appId} ${where.cid}`] ?? []) : null;
      // As realtime: the author gets their shadowed message's event without the `shadowed` flag.
      const { shadowed: _flag, ...payload } = event as unknown as Record<string, unknown>;
      entries.push({ ...where, only_user_id: only, audience, payload });
    }
    if (entries.length === 0) return;
    // ISO 8601 UTC strings sort as the instants they name.
    const notBefore = durable
      .map((e) => e.created_at)
      .sort()
      .at(-1)!;
    const head = await syncRepository.append(tx, appId, entries, notBefore);
    const firstSeq = head.lastSeq - BigInt(entries.length) + 1n;
    if (head.lastSeq / BigInt(PRUNE_EVERY) !== (firstSeq - 1n) / BigInt(PRUNE_EVERY)) {
      const before = new Date(head.loggedAt.getTime() - SYNC_MAX_AGE_DAYS * 86_400_000);
      await syncRepository.prune(tx, appId, before, PRUNE_BATCH);
    }
  }

  /**
   * POST /sync: the events since `last_sync_at` the user may see, in commit order, or
   * resync_required when that is more than SYNC_MAX_EVENTS events, older than SYNC_MAX_AGE_DAYS
   * or older than the log keeps. Visibility matches realtime: events of channels the user was a
   * member of (able to read) when the event happened, the user's own notifications, shadowed
   * messages' events only for their author, none about messages of users the user blocked,
   * message.read only when the channel type has read events (or it is the user's own).
   */
  async sync(ctx: RequestContext, body: z.output<typeof SyncBody>): Promise<SyncResponse> {
    const appId = ctx.app.id;
    const userId = actingUserId(ctx, body.user_id);
    const user =
      ctx.actor.kind === 'user'
        ? ctx.actor.user
        : await this.channels.requireUser(this.db, appId, userId, 'user_id');
    const since = body.last_sync_at;
    const head = await syncRepository.head(this.db, appId, since, SYNC_MAX_AGE_DAYS);
    const answer = (events: ParleyEvent[], reason: SyncResponse['reason'] = null): SyncResponse => ({
      events,
      resync_required: reason !== null,
      reason,
      last_sync_at: head.cursor,
    });
    if (head.too_old) return answer([], 'too_old');
    if (head.pruned) return answer([], 'history_pruned');
    if (head.last_seq === null) return answer([]);
    const fromSeq = await syncRepository.firstSeqAfter(this.db, appId, since, head.last_seq);
    if (fromSeq === null) return answer([]);
    const range = { fromSeq, toSeq: head.last_seq };

    // Channels the user can read now (members; the policy decides), and those they left or lost.
    const memberships = await syncRepository.membershipsOf(this.db, appId, userId);
    const configs = new Map<string, ChannelTypeConfig>();
    const configOf = async (type: string) => {
      let config = configs.get(type);
      if (!config) {
        config = await this.channelTypes.config(this.db, appId, type);
        configs.set(type, config);
      }
      return config;
    };
    const readableNow = new Set<string>();
    for (const m of memberships) {
      const config = await configOf(m.cid.split(':')[0]!);
      if (can('read', { actor: { kind: 'user', user }, config, membership: m })) readableNow.add(m.cid);
    }
    const about = await syncRepository.cidsAboutUser(this.db, appId, userId, fromSeq, head.last_seq);
    const wanted = body.channel_cids ? new Set(body.channel_cids) : null;
    const cids = [...new Set([...readableNow, ...about])].filter((cid) => !wanted || wanted.has(cid));
    const rows = await syncRepository.candidates(this.db, appId, userId, cids, range, SCAN_LIMIT + 1);
    if (rows.length > SCAN_LIMIT) return answer([], 'too_many_events');

    // Membership over the range, per channel: at the start it is the opposite of the user's first
    // membership change in the range, or (no change) what it is at the end.
    const deletedWithUser = new Set(rows.filter((r) => r.type === 'channel.deleted').map((r) => r.cid!));
    const member = new Map<string, boolean>();
    for (const r of rows) {
      if (!r.cid || member.has(r.cid) || r.user_id !== userId) continue;
      if (r.type === 'member.added') member.set(r.cid, false);
      if (r.type === 'member.removed') member.set(r.cid, true);
    }
    const isMember = (cid: string) => {
      if (!member.has(cid)) member.set(cid, readableNow.has(cid) || deletedWithUser.has(cid));
      return member.get(cid)!;
    };

    // Messages of users the viewer blocked are hidden for them in every read (message lists,
    // search, pins): their events (new, updated, deleted, reactions, polls, mentions) are too.
    const blocked = rows.some((r) => authorOf(r.payload) !== null)
      ? await syncRepository.blockedBy(this.db, appId, userId)
      : new Set<string>();

    const events: ParleyEvent[] = [];
    for (const r of rows) {
      const event = r.payload as unknown as ParleyEvent;
      if (r.only_user_id && r.only_user_id !== userId) continue;
      const author = authorOf(r.payload);
      if (author !== null && blocked.has(author)) continue;
      if (isUserOnly(r.type)) {
        if (r.user_id === userId || r.only_user_id === userId) events.push(event);
        continue;
      }
      if (!r.cid) continue;
      const self = r.user_id === userId;
      const inScope = !wanted || wanted.has(r.cid);
      // The user's own joins and leaves always come as their notification copy (as realtime sends
      // to the user's own channel), even for channels outside channel_cids.
      if (r.type === 'member.added' && self) {
        member.set(r.cid, true);
        if (inScope) events.push(event);
        events.push({ ...event, type: 'notification.added_to_channel' } as ParleyEvent);
        continue;
      }
      if (r.type === 'member.removed' && self) {
        member.set(r.cid, false);
        if (inScope) events.push(event);
        events.push({ ...event, type: 'notification.removed_from_channel' } as ParleyEvent);
        continue;
      }
      if (!inScope) continue;
      if (!isMember(r.cid)) continue;
      if ((r.type === 'message.read' || r.type === 'message.delivered') && !self) {
        const config = await configOf(r.cid.split(':')[0]!).catch(() => null);
        if (r.type === 'message.read' && !config?.read_events) continue;
        if (r.type === 'message.delivered' && config?.delivery_events === false) continue;
      }
      events.push(event);
    }
    if (events.length > SYNC_MAX_EVENTS) return answer([], 'too_many_events');
    return answer(events);
  }
}
