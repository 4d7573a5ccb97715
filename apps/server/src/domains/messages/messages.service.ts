import type {
  Attachment,
  ListMessagesQuery,
  Message,
  MessageEdit,
  SendMessageBody,
  UpdateMessageBody,
} from '@parley/protocol';
import type { z } from 'zod';
import { actingUserId, optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction, type PendingEvents } from '../../platform/events.js';
import { uuidv7 } from '../../platform/ids.js';
import { checkCustomSize } from '../../platform/limits.js';
import { authorize, can } from '../channels/channels.policy.js';
import { channelsRepository } from '../channels/channels.repository.js';
import { type ChannelAccess, type ChannelsService, subjectOf } from '../channels/channels.service.js';
import { blocklistNames, flagFromBlocklists, screenText } from '../moderation/blocklists.js';
import { moderationRepository } from '../moderation/moderation.repository.js';
import { attachPoll, preparePollForSending } from '../polls/polls.service.js';
import { reactionsRepository } from '../reactions/reactions.repository.js';
import { uploadsRepository } from '../uploads/uploads.repository.js';
import { usersRepository } from '../users/users.repository.js';
import { BeforeSendHookService } from '../webhooks/before-send.service.js';
import { MAX_MENTIONS, parseMentions } from './mentions.js';
import { messageEditsRepository } from './message-edits.repository.js';
import { enrich, enrichOne, forEveryone, quotedOf, toMessageDto } from './messages.dto.js';
import { type MessageWindow, messagesRepository } from './messages.repository.js';
import { type QueuedSend, SendBatcher } from './send-batcher.js';
import { type FlagRow, MessageFlag, userMessagesRepository } from './user-messages.repository.js';

export { toMessageDto } from './messages.dto.js';

/** @channel / @here are refused in channels with more members than this (one row and event each). */
export const MAX_WILDCARD_MENTION_MEMBERS = 1000;

/** Text length is counted in characters (code points), so an emoji counts once. */
function checkLength(text: string, max: number) {
  const length = text.length > max ? [...text].length : text.length;
  if (length > max) {
    throw new AppError('MESSAGE_TOO_LONG', `the text is ${length} characters; the limit is ${max}`, {
      field: 'text',
    });
  }
}

/** Who a message mentions, after the membership and permission checks. */
interface ResolvedMentions {
  /** Stored as mentioned_user_ids: named users who are channel members, in order of appearance. */
  explicit: string[];
  channel: boolean;
  here: boolean;
  /** Who gets the MENTIONED flag and a notification: named users, or every member for a wildcard; never the sender. */
  targets: string[];
}

const NO_MENTIONS: ResolvedMentions = { explicit: [], channel: false, here: false, targets: [] };

/**
 * Checks that the uploads a message's attachments name exist in the app and marks them used (in
 * the send or edit transaction, so the cleanup of unused uploads cannot remove them meanwhile).
 * An attachment without upload_id (a link, a GIF, a file stored elsewhere) is not checked.
 */
async function claimUploads(tx: Executor, appId: string, attachments: readonly Attachment[]) {
  const named = attachments.flatMap((a, index) => (a.upload_id ? [{ id: a.upload_id, index }] : []));
  if (named.length === 0) return;
  const live = new Set(
    await uploadsRepository.claimForMessage(tx, appId, [...new Set(named.map((n) => n.id))]),
  );
  const missing = named.find((n) => !live.has(n.id));
  if (missing) {
    throw new AppError('UPLOAD_NOT_FOUND', `upload ${missing.id} does not exist or was deleted`, {
      field: `body.attachments.${missing.index}.upload_id`,
    });
  }
}

/**
 * Whether a send can join a batch (ADR 0016): a user sending as themselves a plain message — no
 * thread, quote, poll, mention or upload to check, no before-send hook, not shadow-banned. The
 * batch sends the rest of what a plain send checks (membership, bans, freeze, length) itself.
 */
function batchable(ctx: RequestContext, userId: string, body: SendMessageBody): boolean {
  if (ctx.actor.kind !== 'user' || ctx.actor.user.id !== userId || ctx.actor.user.shadow_banned) return false;
  if (body.parent_id || body.reply_to_id || body.poll_id || body.mentioned_user_ids.length > 0) return false;
  if (body.attachments.some((a) => a.upload_id !== undefined)) return false;
  const mentions = parseMentions(body.text);
  if (mentions.tokens > 0 || mentions.channel || mentions.here) return false;
  return BeforeSendHookService.hookOf(ctx) === undefined;
}

/** Thrown inside the send transaction to roll it back when the client_msg_id already exists. */
class DuplicateSend extends Error {}

type CursorQuery = z.output<typeof ListMessagesQuery>;

export class MessagesService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
    /** The app's before-message-send hook (domains/webhooks/before-send.service.ts). */
    private readonly beforeSend?: BeforeSendHookService,
    opts: { groupCommit?: boolean } = {},
  ) {
    if (opts.groupCommit) this.batcher = new SendBatcher((items) => this.flushSends(items));
  }

  /** Group commit of plain sends (ADR 0016); off when MESSAGE_GROUP_COMMIT is false. */
  private readonly batcher: SendBatcher | undefined;

  /**
   * Sends a message. Idempotent on (channel, user, client_msg_id): a repeat returns the first
   * message with `created: false` and emits nothing. Checks, in order: membership and bans,
   * freeze, slow mode, length, thread/quote targets, mentions; then takes the next seq and
   * inserts. A thread reply also updates its parent (reply_count, participants, last_reply_at),
   * flags both as thread participants and moves the replier's thread read position, all in the
   * same transaction; message.new carries the updated parent as `thread_parent`.
   */
  async send(
    ctx: RequestContext,
    cid: string,
    body: SendMessageBody,
  ): Promise<{ message: Message; created: boolean }> {
    const userId = actingUserId(ctx, body.user_id);
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    if (this.batcher && batchable(ctx, userId, body)) return this.batcher.submit({ ctx, cid, userId, body });
    if (this.beforeSend && BeforeSendHookService.hookOf(ctx)) {
      // A repeat must not call the app's hook again, so with a hook the lookup comes first.
      const repeat = body.client_msg_id
        ? await this.previousSend(ctx, cid, userId, body.client_msg_id)
        : undefined;
      if (repeat) return repeat;
      // The app's hook sees only messages the sender may send; it runs outside the transaction
      // (no lock is held while the endpoint answers), and its rewrite goes through every check below.
      await this.channels.access(this.db, ctx, cid, 'send', userId);
      body = (await this.beforeSend.run(ctx, cid, userId, body)).body;
      if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    }
    return this.sendOne(ctx, cid, userId, body);
  }

  /** One send in its own transaction: every kind of message, and the fallback of a batch. */
  private async sendOne(
    ctx: RequestContext,
    cid: string,
    userId: string,
    body: SendMessageBody,
  ): Promise<{ message: Message; created: boolean }> {
    try {
      const message = await inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
        const shadowed = await this.isShadowBanned(tx, ctx, userId);
        const {
          access,
          seq,
          created_at: now,
        } = await this.channels.accessForSend(tx, ctx, cid, userId, {
          shadowed,
          at: new Date(),
        });
        const { parent, quoted } = await this.checkSendRules(tx, ctx, access, userId, body);
        await claimUploads(tx, ctx.app.id, body.attachments);
        const poll = body.poll_id
          ? await preparePollForSending(tx, ctx, access, userId, body.poll_id)
          : undefined;
        // Moderation: DMs from a blocked user are refused; blocklists block, mask or flag words;
        // a shadow-banned author's message is visible to them alone (no mentions, no thread counts).
        if (access.channel.distinct_key !== null) await this.refuseIfBlocked(tx, ctx.app.id, cid, userId);
        const screened = await screenText(tx, ctx.app, access.config, body.text);
        const resolved = await this.resolveMentions(
          tx,
          ctx,
          access,
          userId,
          screened.text,
          body.mentioned_user_ids,
        );
        const mentions = shadowed ? { ...resolved, targets: [] } : resolved;
        const inserted = await messagesRepository.insert(tx, ctx.app.id, {
          id: uuidv7(now.getTime()),
          cid,
          seq,
          user_id: userId,
          client_msg_id: body.client_msg_id ?? null,
          type: body.parent_id ? 'reply' : 'regular',
          text: screened.text,
          custom: body.custom ?? {},
          attachments: body.attachments,
          mentioned_user_ids: mentions.explicit,
          mentioned_channel: mentions.channel,
          mentioned_here: mentions.here,
          parent_id: body.parent_id ?? null,
          reply_to_id: body.reply_to_id ?? null,
          show_in_channel: body.parent_id ? body.show_in_channel : false,
          poll_id: poll?.id ?? null,
          created_at: now,
          shadowed,
        });
        if (!inserted) throw new DuplicateSend();
        const pollDto = poll ? await attachPoll(tx, ctx.app.id, poll, inserted) : undefined;

        const flags: FlagRow[] = mentions.targets.map((user_id) => ({
          user_id,
          message_id: inserted.id,
          cid,
          seq: inserted.seq,
          flags: MessageFlag.MENTIONED,
        }));
        let threadParent: Message | undefined;
        if (parent && !shadowed) {
          const updated = await messagesRepository.addReply(tx, ctx.app.id, parent.id, userId, now);
          await userMessagesRepository.markThreadRead(tx, ctx.app.id, userId, parent.id, inserted.seq, now);
          for (const user_id of new Set([parent.user_id, userId])) {
            flags.push({
              user_id,
              message_id: parent.id,
              cid,
              seq: parent.seq,
              flags: MessageFlag.THREAD_PARTICIPANT,
            });
          }
          threadParent = await enrichOne(tx, ctx.app.id, updated, undefined);
        }
        await userMessagesRepository.addFlags(tx, ctx.app.id, flags);

        const dto = toMessageDto(inserted, {
          quoted: quoted ? quotedOf(quoted.id, quoted) : null,
          poll: pollDto ?? null,
        });
        events.record('message.new', {
          cid,
          message: dto,
          ...(threadParent ? { thread_parent: threadParent } : {}),
          ...(shadowed ? { shadowed: true as const } : {}),
        });
        recordMentions(events, cid, mentions.targets, dto);
        if (screened.flaggedBy.length > 0)
          await flagFromBlocklists(tx, events, ctx.app.id, inserted, screened.flaggedBy);
        return dto;
      });
      return { message, created: true };
    } catch (error) {
      // A repeat is found only when the send fails (the insert conflicts, or a rule such as slow
      // mode refuses the copy): the first send never pays for the lookup.
      const repeatable = error instanceof DuplicateSend || error instanceof AppError;
      if (!repeatable || !body.client_msg_id) throw error;
      const repeat = await this.previousSend(ctx, cid, userId, body.client_msg_id);
      if (repeat) return repeat;
      throw error;
    }
  }

  /**
   * Commits a batch of plain sends (ADR 0016). A batch of one, and every send the batch cannot
   * take (slow mode, DMs, blocklists), goes through sendOne; if the batch transaction fails for
   * any reason (a repeated client_msg_id, a lost race, a database error), every send in it is
   * retried through sendOne, which answers each on its own.
   */
  private async flushSends(items: QueuedSend[]): Promise<void> {
    let single = items;
    if (items.length > 1) {
      try {
        single = await this.sendBatch(items);
      } catch {
        single = items;
      }
    }
    await Promise.all(
      single.map((item) =>
        this.sendOne(item.ctx, item.cid, item.userId, item.body).then(item.resolve, item.reject),
      ),
    );
  }

  /**
   * One transaction for many plain sends of one app: lock their channels (cid order) and read the
   * senders' memberships, check each send, take the seqs of each channel at once, insert all
   * messages in one statement; the event log records all message.new events in one statement.
   * Settles the sends it commits or refuses; returns the ones sendOne must do.
   */
  private async sendBatch(items: QueuedSend[]): Promise<QueuedSend[]> {
    const app = items[0]!.ctx.app;
    const settled: (() => void)[] = [];
    const single: QueuedSend[] = [];
    await inTransaction(this.db, this.bus, app.id, async (tx, events) => {
      const found = await channelsRepository.lockForBatch(
        tx,
        app.id,
        items.map((i) => ({ cid: i.cid, user_id: i.userId })),
      );
      const accepted: QueuedSend[] = [];
      for (const [index, item] of items.entries()) {
        const row = found[index];
        try {
          if (!row)
            throw new AppError('CHANNEL_NOT_FOUND', `channel ${item.cid} does not exist`, { field: 'cid' });
          const access = await this.channels.sendAccessFromRow(tx, item.ctx, row, item.userId);
          const { channel, config } = access;
          const slowMode = channel.slow_mode_seconds ?? config.slow_mode_seconds;
          if (slowMode > 0 || channel.distinct_key !== null || blocklistNames(app, config).length > 0) {
            single.push(item);
            continue;
          }
          await this.checkSendRules(tx, item.ctx, access, item.userId, item.body);
          accepted.push(item);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          settled.push(() => item.reject(error));
        }
      }
      if (accepted.length === 0) return;
      const counts = new Map<string, number>();
      for (const item of accepted) counts.set(item.cid, (counts.get(item.cid) ?? 0) + 1);
      const claimed = await channelsRepository.claimSeqsForBatch(
        tx,
        app.id,
        [...counts].map(([cid, count]) => ({ cid, count })),
        new Date(),
      );
      const nextSeq = new Map([...counts].map(([cid, n]) => [cid, claimed.get(cid)!.last_seq - n + 1]));
      const rows = accepted.map((item) => {
        const seq = nextSeq.get(item.cid)!;
        nextSeq.set(item.cid, seq + 1);
        const at = claimed.get(item.cid)!.created_at;
        return {
          id: uuidv7(at.getTime()),
          cid: item.cid,
          seq,
          user_id: item.userId,
          client_msg_id: item.body.client_msg_id ?? null,
          type: 'regular',
          text: item.body.text,
          custom: item.body.custom ?? {},
          attachments: item.body.attachments,
          mentioned_user_ids: [],
          mentioned_channel: false,
          mentioned_here: false,
          parent_id: null,
          reply_to_id: null,
          show_in_channel: false,
          poll_id: null,
          created_at: at,
          shadowed: false,
        };
      });
      const inserted = await messagesRepository.insertMany(tx, app.id, rows);
      // A repeated client_msg_id was skipped: roll back, and let sendOne answer each send.
      if (inserted.length !== rows.length) throw new DuplicateSend();
      const byId = new Map(inserted.map((row) => [row.id, row]));
      for (const [index, item] of accepted.entries()) {
        const message = toMessageDto(byId.get(rows[index]!.id)!, { quoted: null, poll: null });
        events.record('message.new', { cid: item.cid, message });
        settled.push(() => item.resolve({ message, created: true }));
      }
    });
    // Only after the commit: a send is answered once its message is durable.
    for (const settle of settled) settle();
    return single;
  }

  /** The message an earlier send with this client_msg_id created, if the caller may still read it. */
  private async previousSend(
    ctx: RequestContext,
    cid: string,
    userId: string,
    clientMsgId: string,
  ): Promise<{ message: Message; created: false } | undefined> {
    const existing = await messagesRepository.findByClientId(this.db, ctx.app.id, cid, userId, clientMsgId);
    if (!existing) return undefined;
    await this.channels.access(this.db, ctx, cid, 'read', userId);
    return { message: await enrichOne(this.db, ctx.app.id, existing, userId), created: false };
  }

  /** A DM (distinct channel) whose other member blocked the sender is refused. */
  private async refuseIfBlocked(tx: Executor, appId: string, cid: string, senderId: string) {
    const blocker = await moderationRepository.blockedByMemberOf(tx, appId, cid, senderId);
    if (blocker) throw new AppError('BLOCKED_BY_USER', undefined, { field: 'cid', cid });
  }

  /** The author's shadow ban: from the loaded user for users, one lookup for server calls. */
  private async isShadowBanned(tx: Executor, ctx: RequestContext, userId: string): Promise<boolean> {
    if (ctx.actor.kind === 'user' && ctx.actor.user.id === userId) return ctx.actor.user.shadow_banned;
    return (await usersRepository.find(tx, ctx.app.id, userId))?.shadow_banned === true;
  }

  private async checkSendRules(
    tx: Executor,
    ctx: RequestContext,
    access: ChannelAccess,
    userId: string,
    body: SendMessageBody,
  ): Promise<{ parent: MessageRow | undefined; quoted: MessageRow | undefined }> {
    const { channel, config } = access;
    const subject = subjectOf(ctx, access);
    if (channel.frozen && !can('send_when_frozen', subject)) throw new AppError('CHANNEL_FROZEN');
    checkLength(body.text, config.max_message_length);
    if (body.text.trim() === '' && body.attachments.length === 0 && !body.poll_id)
      throw new AppError('MESSAGE_EMPTY', undefined, { field: 'text' });
    const slowMode = channel.slow_mode_seconds ?? config.slow_mode_seconds;
    if (slowMode > 0 && !can('skip_slow_mode', subject)) {
      const since = new Date(Date.now() - slowMode * 1000);
      const last = await messagesRepository.lastByUserSince(tx, ctx.app.id, channel.cid, userId, since);
      if (last) {
        const retry = Math.max(
          1,
          Math.ceil((last.created_at.getTime() + slowMode * 1000 - Date.now()) / 1000),
        );
        throw new AppError('SLOW_MODE', `slow mode: wait ${retry}s before sending again`, {
          retry_after_seconds: retry,
        });
      }
    }
    if (body.parent_id && !config.replies)
      throw new AppError('FORBIDDEN', 'replies are off for this channel type', { field: 'parent_id' });
    if (body.reply_to_id && !config.quotes)
      throw new AppError('FORBIDDEN', 'quoted replies are off for this channel type', {
        field: 'reply_to_id',
      });
    // Parent and quoted message in one query.
    const ids = [body.parent_id, body.reply_to_id].filter((id): id is string => id !== undefined);
    if (ids.length === 0) return { parent: undefined, quoted: undefined };
    const found = await messagesRepository.findMany(tx, ctx.app.id, [...new Set(ids)]);
    const target = (id: string, field: string) => {
      const row = found.find((m) => m.id === id);
      // Others' shadowed messages do not exist for the sender.
      if (!row || row.cid !== channel.cid || (row.shadowed && row.user_id !== userId)) {
        throw new AppError('MESSAGE_NOT_FOUND', `message ${id} does not exist in this channel`, { field });
      }
      if (row.deleted_at) throw new AppError('MESSAGE_DELETED', `message ${id} was deleted`, { field });
      return row;
    };
    const parent = body.parent_id ? target(body.parent_id, 'parent_id') : undefined;
    if (parent?.parent_id) {
      throw new AppError('THREAD_NESTED', 'threads do not nest: reply to the thread parent', {
        field: 'parent_id',
        parent_id: parent.parent_id,
      });
    }
    const quoted = body.reply_to_id ? target(body.reply_to_id, 'reply_to_id') : undefined;
    return { parent, quoted };
  }

  /**
   * Mentions of a text: `@user_id` tokens plus the ids the client names, kept only for channel
   * members (others are dropped, not refused). `@channel` / `@here` count only when the actor
   * may mention the whole channel (owners, moderators, admins, server calls); from anyone else
   * they stay plain text. More than MAX_MENTIONS named users → TOO_MANY_MENTIONS.
   */
  private async resolveMentions(
    tx: Executor,
    ctx: RequestContext,
    access: ChannelAccess,
    senderId: string,
    text: string,
    given: readonly string[],
  ): Promise<ResolvedMentions> {
    const parsed = parseMentions(text);
    if (parsed.tokens > MAX_MENTIONS) {
      throw new AppError('TOO_MANY_MENTIONS', `at most ${MAX_MENTIONS} users may be mentioned`, {
        field: 'text',
      });
    }
    const wildcard = (parsed.channel || parsed.here) && can('mention_channel', subjectOf(ctx, access));
    const candidates = [...new Set([...parsed.userIds, ...given])];
    if (candidates.length === 0 && !wildcard) return NO_MENTIONS;
    if (wildcard && access.channel.member_count > MAX_WILDCARD_MENTION_MEMBERS) {
      throw new AppError(
        'TOO_MANY_MENTIONS',
        `@channel and @here work in channels of at most ${MAX_WILDCARD_MENTION_MEMBERS} members`,
        { field: 'text' },
      );
    }
    const members = new Set(
      await messagesRepository.mentionable(tx, ctx.app.id, access.channel.cid, wildcard ? 'all' : candidates),
    );
    const explicit = candidates.filter((id) => members.has(id));
    if (explicit.length > MAX_MENTIONS) {
      throw new AppError('TOO_MANY_MENTIONS', `at most ${MAX_MENTIONS} users may be mentioned`, {
        field: 'mentioned_user_ids',
      });
    }
    const targets = (wildcard ? [...members] : explicit).filter((id) => id !== senderId);
    return { explicit, channel: wildcard && parsed.channel, here: wildcard && parsed.here, targets };
  }

  async get(ctx: RequestContext, id: string, userId?: string): Promise<Message> {
    const row = await this.findRow(ctx, id);
    const access = await this.channels.access(
      this.db,
      ctx,
      row.cid,
      'read',
      optionalActingUserId(ctx, userId),
    );
    if (!visibleTo(row, access.userId)) throw new AppError('MESSAGE_NOT_FOUND');
    return enrichOne(this.db, ctx.app.id, row, access.userId);
  }

  /** Cursor pagination by message id (never offset): latest, before, after or around a message. */
  async list(ctx: RequestContext, cid: string, query: CursorQuery): Promise<Message[]> {
    const access = await this.channels.access(this.db, ctx, cid, 'read', query.user_id);
    const rows = await this.pageOf(ctx, access, query, undefined);
    return enrich(this.db, ctx.app.id, rows, access.userId);
  }

  /** A thread's replies, with the same cursors as a channel's messages (ids of replies of this thread). */
  async replies(ctx: RequestContext, parentId: string, query: CursorQuery): Promise<Message[]> {
    const parent = await this.findRow(ctx, parentId);
    const access = await this.channels.access(this.db, ctx, parent.cid, 'read', query.user_id);
    if (parent.parent_id) {
      throw new AppError('THREAD_NESTED', 'this message is a reply; list the replies of its parent', {
        field: 'message_id',
        parent_id: parent.parent_id,
      });
    }
    const rows = await this.pageOf(ctx, access, query, parentId);
    return enrich(this.db, ctx.app.id, rows, access.userId);
  }

  private async pageOf(
    ctx: RequestContext,
    access: ChannelAccess,
    query: CursorQuery,
    parentId: string | undefined,
  ): Promise<MessageRow[]> {
    const cursors = (['id_lt', 'id_gt', 'id_around'] as const).filter((k) => query[k] !== undefined);
    if (cursors.length > 1) {
      throw new AppError('VALIDATION_FAILED', 'use at most one of id_lt, id_gt, id_around', {
        field: `query.${cursors[1]}`,
      });
    }
    const cid = access.channel.cid;
    const window: MessageWindow = {
      afterSeq: access.membership?.cleared_seq ?? 0,
      after: access.channel.truncated_at,
      viewerId: access.userId,
    };
    const seqOf = async (id: string, field: string) => {
      const target = await messagesRepository.find(this.db, ctx.app.id, id);
      if (!target || target.cid !== cid || (parentId !== undefined && target.parent_id !== parentId)) {
        const where = parentId ? 'this thread' : 'this channel';
        throw new AppError('MESSAGE_NOT_FOUND', `message ${id} does not exist in ${where}`, {
          field: `query.${field}`,
        });
      }
      return target.seq;
    };
    const page = (direction: 'before' | 'after', seq: number | null, limit: number, inclusive = false) =>
      messagesRepository.page(this.db, ctx.app.id, cid, window, {
        direction,
        seq,
        limit,
        inclusive,
        ...(parentId ? { parentId } : {}),
      });

    if (query.id_lt) return page('before', await seqOf(query.id_lt, 'id_lt'), query.limit);
    if (query.id_gt) return page('after', await seqOf(query.id_gt, 'id_gt'), query.limit);
    if (query.id_around) {
      const seq = await seqOf(query.id_around, 'id_around');
      const before = Math.floor(query.limit / 2);
      const [older, newer] = await Promise.all([
        before > 0 ? page('before', seq, before) : Promise.resolve([]),
        page('after', seq, query.limit - before, true),
      ]);
      return [...older, ...newer];
    }
    return page('before', null, query.limit);
  }

  /**
   * Edits a message. A new text (or a new mentioned_user_ids) re-resolves mentions: flags follow
   * the new set, and only users mentioned for the first time are notified.
   */
  async update(ctx: RequestContext, id: string, body: z.output<typeof UpdateMessageBody>): Promise<Message> {
    const userId = optionalActingUserId(ctx, body.user_id);
    const current = await this.findRow(ctx, id);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const access = await this.channels.access(tx, ctx, current.cid, 'read', userId);
      const own = userId === current.user_id;
      authorize(own ? 'edit_own_message' : 'edit_any_message', subjectOf(ctx, access));
      if (current.deleted_at) throw new AppError('MESSAGE_DELETED');
      if (body.text !== undefined) checkLength(body.text, access.config.max_message_length);
      const screened =
        body.text !== undefined ? await screenText(tx, ctx.app, access.config, body.text) : undefined;
      const text = screened?.text ?? current.text;
      const attachments = body.attachments ?? (current.attachments as unknown[]);
      if (text.trim() === '' && attachments.length === 0)
        throw new AppError('MESSAGE_EMPTY', undefined, { field: 'text' });
      if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
      if (body.attachments) await claimUploads(tx, ctx.app.id, body.attachments);
      const remention = body.text !== undefined || body.mentioned_user_ids !== undefined;
      const mentions = remention
        ? await this.resolveMentions(tx, ctx, access, current.user_id, text, body.mentioned_user_ids ?? [])
        : undefined;
      if (mentions && current.shadowed) mentions.targets = [];
      const now = new Date();
      if (text !== current.text || JSON.stringify(attachments) !== JSON.stringify(current.attachments)) {
        // Edit history: the replaced version, who replaced it and when (GET /messages/:id/edits).
        await messageEditsRepository.insert(tx, ctx.app.id, {
          id: uuidv7(now.getTime()),
          message_id: id,
          cid: current.cid,
          edited_by: userId ?? null,
          text: current.text,
          attachments: current.attachments as unknown[],
          version_created_at: current.edited_at ?? current.created_at,
          edited_at: now,
        });
      }
      const row = await messagesRepository.update(tx, ctx.app.id, id, {
        text,
        attachments: JSON.stringify(attachments),
        ...(body.custom ? { custom: JSON.stringify(body.custom) } : {}),
        ...(mentions
          ? {
              mentioned_user_ids: mentions.explicit,
              mentioned_channel: mentions.channel,
              mentioned_here: mentions.here,
            }
          : {}),
        edited_at: now,
      });
      let newlyMentioned: string[] = [];
      if (mentions) {
        const before = new Set(current.mentioned_user_ids);
        const everyone = current.mentioned_channel || current.mentioned_here;
        newlyMentioned = everyone ? [] : mentions.targets.filter((u) => !before.has(u));
        await userMessagesRepository.clearFlag(tx, ctx.app.id, id, MessageFlag.MENTIONED, mentions.targets);
        await userMessagesRepository.addFlags(
          tx,
          ctx.app.id,
          mentions.targets.map((user_id) => ({
            user_id,
            message_id: id,
            cid: current.cid,
            seq: current.seq,
            flags: MessageFlag.MENTIONED,
          })),
        );
      }
      const dto = await enrichOne(tx, ctx.app.id, row!, access.userId);
      const broadcast = forEveryone(dto);
      events.record('message.updated', {
        cid: current.cid,
        message: broadcast,
        ...(current.shadowed ? { shadowed: true as const } : {}),
      });
      recordMentions(events, current.cid, newlyMentioned, broadcast);
      if (screened && screened.flaggedBy.length > 0)
        await flagFromBlocklists(tx, events, ctx.app.id, current, screened.flaggedBy);
      return dto;
    });
  }

  /**
   * Soft delete leaves a tombstone (id and seq kept; text, attachments, custom data, mentions and
   * reactions cleared); hard delete removes the row (reactions and flags go with it). Deleting a
   * live thread reply takes it out of the parent's reply_count and last_reply_at (participants
   * stay); message.deleted then carries the updated parent.
   */
  async delete(ctx: RequestContext, id: string, hard: boolean, requestedUserId?: string): Promise<Message> {
    const userId = optionalActingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, (tx, events) =>
      this.deleteWithin(tx, events, ctx, id, hard, userId),
    );
  }

  /**
   * The delete itself, inside a caller's transaction (the moderation queue removes messages with
   * it). Removing someone else's message is a moderator action: it is written to the audit log.
   */
  async deleteWithin(
    tx: Tx,
    events: PendingEvents,
    ctx: RequestContext,
    id: string,
    hard: boolean,
    userId: string | undefined,
  ): Promise<Message> {
    // Locked, so two deletes of one reply cannot both take it off the parent's count.
    const current = await messagesRepository.findForUpdate(tx, ctx.app.id, id);
    if (!current) throw new AppError('MESSAGE_NOT_FOUND');
    const access = await this.channels.access(tx, ctx, current.cid, 'read', userId);
    const subject = subjectOf(ctx, access);
    authorize(userId === current.user_id ? 'delete_own_message' : 'delete_any_message', subject);
    let dto: Message;
    if (hard) {
      authorize('hard_delete_message', subject);
      await messagesRepository.delete(tx, ctx.app.id, id);
      dto = await enrichOne(tx, ctx.app.id, current, undefined);
    } else {
      if (Object.keys(current.reaction_counts).length > 0)
        await reactionsRepository.deleteAllForMessage(tx, ctx.app.id, id);
      const row = await messagesRepository.update(tx, ctx.app.id, id, {
        type: 'deleted',
        text: '',
        attachments: '[]',
        custom: '{}',
        mentioned_user_ids: [],
        mentioned_channel: false,
        mentioned_here: false,
        reaction_counts: '{}',
        reaction_scores: '{}',
        deleted_at: current.deleted_at ?? new Date(),
      });
      if (current.mentioned_user_ids.length > 0 || current.mentioned_channel || current.mentioned_here)
        await userMessagesRepository.clearFlag(tx, ctx.app.id, id, MessageFlag.MENTIONED);
      dto = await enrichOne(tx, ctx.app.id, row!, undefined);
    }
    let threadParent: Message | undefined;
    // A shadowed reply never counted on its parent.
    if (current.parent_id && !current.deleted_at && !current.shadowed) {
      const parent = await messagesRepository.removeReply(tx, ctx.app.id, current.parent_id);
      if (parent) threadParent = await enrichOne(tx, ctx.app.id, parent, undefined);
    }
    if (userId !== current.user_id) {
      await moderationRepository.audit(tx, ctx.app.id, {
        action: 'message_removed',
        actor_id: userId ?? null,
        target_user_id: current.user_id,
        cid: current.cid,
        message_id: current.id,
        details: { hard },
      });
    }
    events.record('message.deleted', {
      cid: current.cid,
      message: dto,
      hard,
      ...(threadParent ? { thread_parent: threadParent } : {}),
      ...(current.shadowed ? { shadowed: true as const } : {}),
    });
    return dto;
  }

  /**
   * A message's edit history, oldest first: each entry holds the text the message had before
   * that edit. Moderators, owners and admins see any message's history (view_edit_history); an
   * author sees their own while they may still edit it. A hard delete removes the history; a soft
   * delete keeps it for moderators.
   */
  async edits(ctx: RequestContext, id: string, requestedUserId?: string): Promise<MessageEdit[]> {
    const userId = optionalActingUserId(ctx, requestedUserId);
    const row = await this.findRow(ctx, id);
    const access = await this.channels.access(this.db, ctx, row.cid, 'read', userId);
    const subject = subjectOf(ctx, access);
    const own = userId !== undefined && userId === row.user_id && !row.deleted_at;
    if (!(own && can('edit_own_message', subject))) authorize('view_edit_history', subject);
    const rows = await messageEditsRepository.list(this.db, ctx.app.id, id);
    return rows.map((e) => ({
      id: e.id,
      message_id: e.message_id,
      edited_by: e.edited_by,
      text: e.text,
      attachments: e.attachments as MessageEdit['attachments'],
      version_created_at: e.version_created_at.toISOString(),
      edited_at: e.edited_at.toISOString(),
    }));
  }

  private async findRow(ctx: RequestContext, id: string): Promise<MessageRow> {
    const row = await messagesRepository.find(this.db, ctx.app.id, id);
    if (!row) throw new AppError('MESSAGE_NOT_FOUND');
    return row;
  }
}

/** One notification.mention per mentioned user, to their own channel. */
function recordMentions(events: PendingEvents, cid: string, userIds: string[], message: Message) {
  for (const user_id of userIds) events.record('notification.mention', { cid, user_id, message });
}

/** Shadowed messages are visible to their author alone (and to server calls acting as nobody). */
function visibleTo(row: MessageRow, viewerId: string | undefined): boolean {
  return !row.shadowed || viewerId === undefined || row.user_id === viewerId;
}
