import {
  type CastVoteBody,
  type CreatePollBody,
  MAX_POLL_OPTIONS,
  type Poll,
  type PollOption,
  type PollVote,
  type SuggestPollOptionBody,
  type UpdatePollBody,
} from '@parley/protocol';
import { actingUserId, optionalActingUserId, type RequestContext } from '../../platform/context.js';
import { type Db, type Executor, isUniqueViolation, type Tx } from '../../platform/db.js';
import type { MessageRow, PollRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { type EventBus, inTransaction, type PendingEvents } from '../../platform/events.js';
import { uuidv7 } from '../../platform/ids.js';
import { checkCustomSize } from '../../platform/limits.js';
import { authorize, can } from '../channels/channels.policy.js';
import { type ChannelAccess, type ChannelsService, subjectOf } from '../channels/channels.service.js';
import { messagesRepository } from '../messages/messages.repository.js';
import { isBanned } from '../users/users.service.js';
import { isAnonymous, loadPollDto, toPollOptionDto, toPollVoteDto } from './polls.dto.js';
import { pollsRepository } from './polls.repository.js';

/**
 * Polls: created on their own (POST /polls), sent once with a message (`poll_id` on send, see
 * `preparePollForSending` / `attachPoll`), then voted on through that message.
 *
 * Every write locks the poll row first (SELECT … FOR UPDATE), so writes to one poll take turns:
 * max_votes_allowed and enforce_unique_vote hold under concurrent votes, and the counters on the
 * poll row are recomputed from the vote rows in the same transaction. Casting the same vote twice
 * is one vote (the second answers `created: false` and emits nothing). Events go to the channel of
 * the poll's message and carry the poll without own_votes (they go to everyone).
 */
export class PollsService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly channels: ChannelsService,
  ) {}

  async create(ctx: RequestContext, body: CreatePollBody): Promise<Poll> {
    const userId = actingUserId(ctx, body.user_id);
    if (ctx.actor.kind === 'user') {
      if (isBanned(ctx.actor.user)) throw new AppError('USER_BANNED');
      if (ctx.actor.user.role === 'guest') throw new AppError('FORBIDDEN', 'guests cannot create polls');
    } else {
      await this.channels.requireUser(this.db, ctx.app.id, userId, 'user_id');
    }
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    const seen = new Set<string>();
    body.options.forEach((o, i) => {
      if (o.custom) checkCustomSize(ctx.app, o.custom, `options.${i}.custom`);
      const key = o.text.toLowerCase();
      if (seen.has(key))
        throw new AppError('POLL_OPTION_EXISTS', `option "${o.text}" is given twice`, {
          field: `options.${i}.text`,
        });
      seen.add(key);
    });
    const now = new Date();
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx) => {
      const row = await pollsRepository.insert(
        tx,
        ctx.app.id,
        {
          id: uuidv7(now.getTime()),
          created_by: userId,
          name: body.name,
          description: body.description ?? null,
          voting_visibility: body.voting_visibility,
          enforce_unique_vote: body.enforce_unique_vote,
          max_votes_allowed: body.max_votes_allowed,
          allow_user_suggested_options: body.allow_user_suggested_options,
          allow_answers: body.allow_answers,
          custom: body.custom ?? {},
          created_at: now,
        },
        body.options.map((o) => ({
          id: uuidv7(now.getTime()),
          text: o.text,
          custom: o.custom ?? {},
          suggested_by: null,
        })),
      );
      return loadPollDto(tx, ctx.app.id, row, userId);
    });
  }

  /** A poll: its creator sees it before it is sent; afterwards whoever may read its channel. */
  async get(ctx: RequestContext, pollId: string, requestedUserId?: string): Promise<Poll> {
    const userId = optionalActingUserId(ctx, requestedUserId);
    const poll = await pollsRepository.find(this.db, ctx.app.id, pollId);
    if (!poll) throw new AppError('POLL_NOT_FOUND');
    await this.checkVisible(this.db, ctx, poll, userId, 'read');
    return loadPollDto(this.db, ctx.app.id, poll, userId);
  }

  /**
   * Changes a poll. Closing (`is_closed: true`, final) is for the creator, channel moderators,
   * owners and admins; every other change is the creator's. Closing an already closed poll is a
   * no-op; other changes of a closed poll are refused (POLL_CLOSED).
   */
  async update(ctx: RequestContext, pollId: string, body: UpdatePollBody): Promise<Poll> {
    const userId = optionalActingUserId(ctx, body.user_id);
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const poll = await this.lock(tx, ctx, pollId);
      const access = await this.checkVisible(tx, ctx, poll, userId, 'read');
      const creator = ctx.actor.kind === 'server' || userId === poll.created_by;
      const closing = body.is_closed === true;
      const edits = Object.keys(body).filter((k) => k !== 'is_closed' && k !== 'user_id');
      if (edits.length > 0 && !creator)
        throw new AppError('FORBIDDEN', 'only the creator may change a poll', { field: edits[0] });
      if (closing && !creator) {
        if (!access) throw new AppError('FORBIDDEN', 'only the creator may close this poll');
        authorize('close_any_poll', subjectOf(ctx, access));
      }
      if (poll.is_closed) {
        if (edits.length === 0) return loadPollDto(tx, ctx.app.id, poll, userId);
        throw new AppError('POLL_CLOSED');
      }
      if (edits.length === 0 && !closing) return loadPollDto(tx, ctx.app.id, poll, userId);
      const row = await pollsRepository.update(tx, ctx.app.id, pollId, {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.allow_user_suggested_options !== undefined
          ? { allow_user_suggested_options: body.allow_user_suggested_options }
          : {}),
        ...(body.custom !== undefined ? { custom: JSON.stringify(body.custom) } : {}),
        ...(closing ? { is_closed: true, closed_at: new Date() } : {}),
      });
      await this.recordPollEvent(tx, events, row, closing ? 'poll.closed' : 'poll.updated');
      return loadPollDto(tx, ctx.app.id, row, userId);
    });
  }

  /**
   * Adds an option: the creator always may (before or after sending); channel members may when
   * the poll allows user-suggested options. Texts are unique per poll (case-insensitive).
   */
  async suggestOption(
    ctx: RequestContext,
    pollId: string,
    body: SuggestPollOptionBody,
  ): Promise<{ poll: Poll; option: PollOption }> {
    const userId = actingUserId(ctx, body.user_id);
    if (body.custom) checkCustomSize(ctx.app, body.custom, 'custom');
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const poll = await this.lock(tx, ctx, pollId);
      const access = await this.checkVisible(tx, ctx, poll, userId, 'cast_poll_vote');
      if (access) this.checkChannelOpen(ctx, access);
      const creator = ctx.actor.kind === 'server' || userId === poll.created_by;
      if (!creator && !poll.allow_user_suggested_options) throw new AppError('POLL_SUGGESTIONS_DISABLED');
      if (poll.is_closed) throw new AppError('POLL_CLOSED');
      const existing = await pollsRepository.options(tx, ctx.app.id, [pollId]);
      if (existing.length >= MAX_POLL_OPTIONS) {
        throw new AppError('POLL_TOO_MANY_OPTIONS', `a poll has at most ${MAX_POLL_OPTIONS} options`, {
          field: 'text',
          limit: MAX_POLL_OPTIONS,
        });
      }
      if (existing.some((o) => o.text.toLowerCase() === body.text.toLowerCase()))
        throw new AppError('POLL_OPTION_EXISTS', undefined, { field: 'text' });
      let option: Awaited<ReturnType<typeof pollsRepository.addOption>>;
      try {
        option = await pollsRepository.addOption(tx, ctx.app.id, pollId, {
          id: uuidv7(),
          text: body.text,
          custom: body.custom ?? {},
          suggested_by: userId,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new AppError('POLL_OPTION_EXISTS', undefined, { field: 'text' });
        throw error;
      }
      const row = await pollsRepository.update(tx, ctx.app.id, pollId, {});
      await this.recordPollEvent(tx, events, row, 'poll.updated');
      return { poll: await loadPollDto(tx, ctx.app.id, row, userId), option: toPollOptionDto(option) };
    });
  }

  /**
   * Casts a vote (option_id) or an answer (answer_text) through the poll's message. The same vote
   * again is a no-op (`created: false`). With enforce_unique_vote a vote for another option
   * replaces the user's vote, and a new answer always replaces the user's answer
   * (poll.vote_changed). Otherwise a vote beyond max_votes_allowed is refused.
   */
  async castVote(
    ctx: RequestContext,
    messageId: string,
    pollId: string,
    body: CastVoteBody,
  ): Promise<{ poll: Poll; vote: PollVote; created: boolean }> {
    const userId = actingUserId(ctx, body.user_id);
    const { option_id: optionId, answer_text: answer } = body.vote;
    if ((optionId === undefined) === (answer === undefined)) {
      throw new AppError('VALIDATION_FAILED', 'give exactly one of vote.option_id and vote.answer_text', {
        field: 'vote',
      });
    }
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const { poll, message } = await this.lockForVoting(tx, ctx, messageId, pollId, userId);
      const anonymous = isAnonymous(poll);
      const mine = await pollsRepository.votesOf(tx, ctx.app.id, pollId, userId);
      let replaced: typeof mine;
      if (answer !== undefined) {
        if (!poll.allow_answers)
          throw new AppError('POLL_ANSWERS_DISABLED', undefined, { field: 'vote.answer_text' });
        const current = mine.find((v) => v.option_id === null);
        if (current?.answer_text === answer) return this.unchanged(tx, ctx, poll, current, userId);
        replaced = current ? [current] : [];
      } else {
        const options = await pollsRepository.options(tx, ctx.app.id, [pollId]);
        if (!options.some((o) => o.id === optionId)) {
          throw new AppError('POLL_OPTION_NOT_FOUND', `the poll has no option ${optionId}`, {
            field: 'vote.option_id',
          });
        }
        const same = mine.find((v) => v.option_id === optionId);
        if (same) return this.unchanged(tx, ctx, poll, same, userId);
        const optionVotes = mine.filter((v) => v.option_id !== null);
        if (poll.enforce_unique_vote) replaced = optionVotes;
        else {
          replaced = [];
          if (poll.max_votes_allowed !== null && optionVotes.length >= poll.max_votes_allowed) {
            throw new AppError(
              'POLL_TOO_MANY_VOTES',
              `this poll allows at most ${poll.max_votes_allowed} votes per user`,
              { field: 'vote.option_id', limit: poll.max_votes_allowed },
            );
          }
        }
      }
      for (const old of replaced) await pollsRepository.deleteVote(tx, ctx.app.id, pollId, old.id);
      const now = new Date();
      const vote = await pollsRepository.insertVote(tx, ctx.app.id, {
        poll_id: pollId,
        id: uuidv7(now.getTime()),
        user_id: userId,
        option_id: optionId ?? null,
        answer_text: answer ?? null,
        created_at: now,
      });
      if (!vote) throw new Error('vote conflict under the poll lock');
      const row = await pollsRepository.refreshCounts(tx, ctx.app.id, pollId);
      const broadcast = await loadPollDto(tx, ctx.app.id, row, undefined);
      const base = { cid: message.cid, message_id: message.id, poll: broadcast };
      const [first] = replaced;
      if (first) {
        events.record('poll.vote_changed', {
          ...base,
          vote: toPollVoteDto(vote, anonymous),
          removed_vote: toPollVoteDto(first, anonymous),
        });
      } else {
        events.record('poll.vote_casted', { ...base, vote: toPollVoteDto(vote, anonymous) });
      }
      return {
        poll: await loadPollDto(tx, ctx.app.id, row, userId),
        vote: toPollVoteDto(vote, anonymous, true),
        created: true,
      };
    });
  }

  /** Removes one of the user's own votes (or their answer). */
  async removeVote(
    ctx: RequestContext,
    messageId: string,
    pollId: string,
    voteId: string,
    requestedUserId?: string,
  ): Promise<{ poll: Poll; vote: PollVote }> {
    const userId = actingUserId(ctx, requestedUserId);
    return inTransaction(this.db, this.bus, ctx.app.id, async (tx, events) => {
      const { poll, message } = await this.lockForVoting(tx, ctx, messageId, pollId, userId);
      const vote = await pollsRepository.findVote(tx, ctx.app.id, pollId, voteId);
      if (!vote || vote.user_id !== userId)
        throw new AppError('POLL_VOTE_NOT_FOUND', undefined, { field: 'vote_id' });
      await pollsRepository.deleteVote(tx, ctx.app.id, pollId, voteId);
      const row = await pollsRepository.refreshCounts(tx, ctx.app.id, pollId);
      const anonymous = isAnonymous(poll);
      events.record('poll.vote_removed', {
        cid: message.cid,
        message_id: message.id,
        poll: await loadPollDto(tx, ctx.app.id, row, undefined),
        vote: toPollVoteDto(vote, anonymous),
      });
      return {
        poll: await loadPollDto(tx, ctx.app.id, row, userId),
        vote: toPollVoteDto(vote, anonymous, true),
      };
    });
  }

  private async unchanged(
    tx: Tx,
    ctx: RequestContext,
    poll: PollRow,
    vote: Parameters<typeof toPollVoteDto>[0],
    userId: string,
  ) {
    return {
      poll: await loadPollDto(tx, ctx.app.id, poll, userId),
      vote: toPollVoteDto(vote, isAnonymous(poll), true),
      created: false,
    };
  }

  private async lock(tx: Tx, ctx: RequestContext, pollId: string): Promise<PollRow> {
    const poll = await pollsRepository.findForUpdate(tx, ctx.app.id, pollId);
    if (!poll) throw new AppError('POLL_NOT_FOUND');
    return poll;
  }

  /**
   * Locks the poll and checks a vote through `messageId`: the poll was sent with that message,
   * the user may vote in its channel (cast_poll_vote: members, not banned), the channel is not
   * frozen, the message is live and the poll open.
   */
  private async lockForVoting(
    tx: Tx,
    ctx: RequestContext,
    messageId: string,
    pollId: string,
    userId: string,
  ): Promise<{ poll: PollRow; message: MessageRow; access: ChannelAccess }> {
    const poll = await this.lock(tx, ctx, pollId);
    if (poll.message_id !== messageId || !poll.cid)
      throw new AppError('POLL_NOT_FOUND', `message ${messageId} carries no poll ${pollId}`, {
        field: 'poll_id',
      });
    const message = await messagesRepository.find(tx, ctx.app.id, messageId);
    if (!message) throw new AppError('MESSAGE_NOT_FOUND');
    const access = await this.channels.access(tx, ctx, poll.cid, 'cast_poll_vote', userId);
    this.checkChannelOpen(ctx, access);
    if (message.deleted_at) throw new AppError('MESSAGE_DELETED', 'the poll’s message was deleted');
    if (poll.is_closed) throw new AppError('POLL_CLOSED');
    return { poll, message, access };
  }

  private checkChannelOpen(ctx: RequestContext, access: ChannelAccess) {
    if (access.channel.frozen && !can('send_when_frozen', subjectOf(ctx, access)))
      throw new AppError('CHANNEL_FROZEN');
  }

  /**
   * Who may see (and act on) a poll: before it is sent only its creator (others get
   * POLL_NOT_FOUND, as if it did not exist); once sent, whoever passes `action` in its channel.
   * Answers the channel access of a sent poll.
   */
  private async checkVisible(
    db: Executor,
    ctx: RequestContext,
    poll: PollRow,
    userId: string | undefined,
    action: 'read' | 'cast_poll_vote',
  ): Promise<ChannelAccess | undefined> {
    if (!poll.cid) {
      if (ctx.actor.kind === 'server' || userId === poll.created_by) return undefined;
      throw new AppError('POLL_NOT_FOUND');
    }
    return this.channels.access(db, ctx, poll.cid, action, userId);
  }

  private async recordPollEvent(
    tx: Tx,
    events: PendingEvents,
    row: PollRow,
    type: 'poll.updated' | 'poll.closed',
  ) {
    if (!row.cid || !row.message_id) return; // not sent yet: nobody else sees it
    const poll = await loadPollDto(tx, row.app_id, row, undefined);
    events.record(type, { cid: row.cid, message_id: row.message_id, poll });
  }
}

/**
 * The send path's part (MessagesService.send, inside its transaction): locks the poll named by
 * `poll_id` and checks it may be sent by this user in this channel — it exists, was created by
 * the sender (server calls may send any), was not sent before, polls are on for the channel type
 * and the sender may `send_poll`.
 */
export async function preparePollForSending(
  tx: Tx,
  ctx: RequestContext,
  access: ChannelAccess,
  userId: string,
  pollId: string,
): Promise<PollRow> {
  if (access.config.polls === false)
    throw new AppError('FORBIDDEN', 'polls are off for this channel type', { field: 'poll_id' });
  authorize('send_poll', subjectOf(ctx, access));
  const poll = await pollsRepository.findForUpdate(tx, ctx.app.id, pollId);
  if (!poll || (ctx.actor.kind === 'user' && poll.created_by !== userId))
    throw new AppError('POLL_NOT_FOUND', `poll ${pollId} does not exist`, { field: 'poll_id' });
  if (poll.message_id) throw new AppError('POLL_ALREADY_SENT', undefined, { field: 'poll_id' });
  return poll;
}

/** Links a prepared poll to its new message (same transaction); answers the poll DTO for message.new. */
export async function attachPoll(tx: Tx, appId: string, poll: PollRow, message: MessageRow): Promise<Poll> {
  const row = await pollsRepository.update(tx, appId, poll.id, { cid: message.cid, message_id: message.id });
  return loadPollDto(tx, appId, row, undefined);
}
