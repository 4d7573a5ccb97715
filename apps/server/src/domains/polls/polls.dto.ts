import type { Poll, PollOption, PollVote } from '@parley/protocol';
import type { Executor } from '../../platform/db.js';
import type { MessageRow, PollOptionRow, PollRow, PollVoteRow } from '../../platform/db.types.js';
import { pollsRepository } from './polls.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const isAnonymous = (poll: Pick<PollRow, 'voting_visibility'>) =>
  poll.voting_visibility === 'anonymous';

export function toPollOptionDto(row: PollOptionRow): PollOption {
  return {
    id: row.id,
    text: row.text,
    custom: row.custom as Record<string, unknown>,
    suggested_by: row.suggested_by,
  };
}

/** A vote as others see it: without the voter in anonymous polls (`own` shows the voter). */
export function toPollVoteDto(row: PollVoteRow, anonymous: boolean, own = false): PollVote {
  return {
    id: row.id,
    poll_id: row.poll_id,
    option_id: row.option_id,
    is_answer: row.option_id === null,
    answer_text: row.answer_text,
    user_id: anonymous && !own ? null : row.user_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface PollExtras {
  options: PollOptionRow[];
  latest: PollVoteRow[];
  own: PollVoteRow[];
}

export function toPollDto(row: PollRow, extras: PollExtras): Poll {
  const anonymous = isAnonymous(row);
  const latestByOption: Record<string, PollVote[]> = {};
  const answers: PollVote[] = [];
  for (const vote of extras.latest) {
    if (vote.option_id === null) answers.push(toPollVoteDto(vote, anonymous));
    else if (!anonymous) {
      const list = latestByOption[vote.option_id] ?? [];
      list.push(toPollVoteDto(vote, anonymous));
      latestByOption[vote.option_id] = list;
    }
  }
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    voting_visibility: row.voting_visibility as Poll['voting_visibility'],
    enforce_unique_vote: row.enforce_unique_vote,
    max_votes_allowed: row.max_votes_allowed,
    allow_user_suggested_options: row.allow_user_suggested_options,
    allow_answers: row.allow_answers,
    is_closed: row.is_closed,
    options: extras.options.map(toPollOptionDto),
    vote_count: row.vote_count,
    answers_count: row.answers_count,
    vote_counts_by_option: row.vote_counts_by_option,
    latest_votes_by_option: latestByOption,
    latest_answers: answers,
    own_votes: extras.own.map((v) => toPollVoteDto(v, anonymous, true)),
    created_by_id: row.created_by,
    message_id: row.message_id,
    cid: row.cid,
    custom: row.custom as Record<string, unknown>,
    closed_at: iso(row.closed_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * Poll DTOs for poll rows in a fixed number of queries (options, latest votes, and the viewer's
 * votes when there is a viewer), whatever the number of polls. Events pass no viewer.
 */
export async function loadPollDtos(
  db: Executor,
  appId: string,
  rows: PollRow[],
  viewerId: string | undefined,
): Promise<Map<string, Poll>> {
  const result = new Map<string, Poll>();
  if (rows.length === 0) return result;
  const ids = rows.map((r) => r.id);
  const [options, latest, own] = await Promise.all([
    pollsRepository.options(db, appId, ids),
    pollsRepository.latestVotes(db, appId, ids),
    viewerId ? pollsRepository.ownVotes(db, appId, ids, viewerId) : Promise.resolve([]),
  ]);
  for (const row of rows) {
    result.set(
      row.id,
      toPollDto(row, {
        options: options.filter((o) => o.poll_id === row.id),
        latest: latest.filter((v) => v.poll_id === row.id),
        own: own.filter((v) => v.poll_id === row.id),
      }),
    );
  }
  return result;
}

export async function loadPollDto(db: Executor, appId: string, row: PollRow, viewerId: string | undefined) {
  return (await loadPollDtos(db, appId, [row], viewerId)).get(row.id)!;
}

/**
 * The polls of a page of messages (live messages with a poll_id), by poll id: no query at all
 * when no message of the page carries a poll. Used by the message DTO assembly (`enrich`).
 */
export async function pollsOfMessages(
  db: Executor,
  appId: string,
  rows: Pick<MessageRow, 'poll_id' | 'deleted_at'>[],
  viewerId: string | undefined,
): Promise<Map<string, Poll>> {
  const ids = [...new Set(rows.flatMap((r) => (r.poll_id && !r.deleted_at ? [r.poll_id] : [])))];
  if (ids.length === 0) return new Map();
  return loadPollDtos(db, appId, await pollsRepository.findMany(db, appId, ids), viewerId);
}
