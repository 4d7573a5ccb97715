import { z } from 'zod';
import { Cid, CustomData, IsoDate, UserId } from './common.js';

/** Most options a poll may have (including suggested ones). */
export const MAX_POLL_OPTIONS = 100;
/** Highest `max_votes_allowed` a poll may set. */
export const MAX_VOTES_ALLOWED_LIMIT = 10;
/** How many of the latest votes per option (and latest answers) ride along with a poll. */
export const LATEST_POLL_VOTES_LIMIT = 10;

export const PollVotingVisibility = z.enum(['public', 'anonymous']);

export const PollOption = z.object({
  id: z.string(),
  text: z.string(),
  custom: CustomData,
  /** Who suggested it; null for the options the poll was created with. */
  suggested_by: UserId.nullable(),
});
export type PollOption = z.infer<typeof PollOption>;

/**
 * One vote: for an option, or a free-text answer (`is_answer`, when the poll allows answers).
 * `user_id` is null in anonymous polls, except in the voter's own `own_votes`.
 */
export const PollVote = z.object({
  id: z.string(),
  poll_id: z.string(),
  option_id: z.string().nullable(),
  is_answer: z.boolean(),
  answer_text: z.string().nullable(),
  user_id: UserId.nullable(),
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type PollVote = z.infer<typeof PollVote>;

export const Poll = z
  .object({
    id: z.string(),
    /** The question. */
    name: z.string(),
    description: z.string().nullable(),
    voting_visibility: PollVotingVisibility,
    /** One vote per user: a new vote replaces the previous one (poll.vote_changed). */
    enforce_unique_vote: z.boolean(),
    /** Most option votes one user may cast (null = one per option); ignored with enforce_unique_vote. */
    max_votes_allowed: z.number().int().nullable(),
    allow_user_suggested_options: z.boolean(),
    allow_answers: z.boolean(),
    is_closed: z.boolean(),
    options: z.array(PollOption),
    /** Option votes (answers not counted). */
    vote_count: z.number().int(),
    answers_count: z.number().int(),
    /** Votes per option id (options without votes are left out). */
    vote_counts_by_option: z.record(z.string(), z.number().int()),
    /** Newest first, at most LATEST_POLL_VOTES_LIMIT per option; empty in anonymous polls. */
    latest_votes_by_option: z.record(z.string(), z.array(PollVote)),
    /** Newest first, at most LATEST_POLL_VOTES_LIMIT (user_id null in anonymous polls). */
    latest_answers: z.array(PollVote),
    /** The viewer's own votes and answer. Always empty in events (they go to everyone). */
    own_votes: z.array(PollVote),
    created_by_id: UserId,
    /** The message the poll was sent with (null until it is sent). */
    message_id: z.string().nullable(),
    cid: Cid.nullable(),
    custom: CustomData,
    closed_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .meta({ id: 'Poll' });
export type Poll = z.infer<typeof Poll>;

const OptionText = z.string().trim().min(1).max(500);

export const PollOptionInput = z.object({ text: OptionText, custom: CustomData.optional() }).strict();

export const CreatePollBody = z
  .object({
    name: z.string().trim().min(1).max(1000),
    description: z.string().max(5000).optional(),
    options: z.array(PollOptionInput).max(MAX_POLL_OPTIONS).default([]),
    voting_visibility: PollVotingVisibility.default('public'),
    enforce_unique_vote: z.boolean().default(false),
    max_votes_allowed: z.number().int().min(1).max(MAX_VOTES_ALLOWED_LIMIT).nullable().default(null),
    allow_user_suggested_options: z.boolean().default(false),
    allow_answers: z.boolean().default(false),
    custom: CustomData.optional(),
    /** Server-side calls create on behalf of this user. */
    user_id: UserId.optional(),
  })
  .strict();
export type CreatePollBody = z.output<typeof CreatePollBody>;

/** Creator, channel moderators and admins may close a poll; only the creator may change the rest. */
export const UpdatePollBody = z
  .object({
    name: z.string().trim().min(1).max(1000).optional(),
    description: z.string().max(5000).nullable().optional(),
    allow_user_suggested_options: z.boolean().optional(),
    /** Closing is final: a closed poll takes no votes and cannot be reopened. */
    is_closed: z.literal(true).optional(),
    custom: CustomData.optional(),
    user_id: UserId.optional(),
  })
  .strict();
export type UpdatePollBody = z.output<typeof UpdatePollBody>;

export const CastVoteBody = z
  .object({
    /** Exactly one of option_id (a vote) and answer_text (a free-text answer). */
    vote: z
      .object({ option_id: z.uuid().optional(), answer_text: z.string().trim().min(1).max(1000).optional() })
      .strict(),
    user_id: UserId.optional(),
  })
  .strict();
export type CastVoteBody = z.output<typeof CastVoteBody>;

export const SuggestPollOptionBody = z
  .object({ text: OptionText, custom: CustomData.optional(), user_id: UserId.optional() })
  .strict();
export type SuggestPollOptionBody = z.output<typeof SuggestPollOptionBody>;

export const PollParams = z.object({ poll_id: z.uuid() }).strict();
export const PollVoteParams = z.object({ message_id: z.uuid(), poll_id: z.uuid() }).strict();
export const PollVoteIdParams = PollVoteParams.extend({ vote_id: z.uuid() }).strict();
export const PollQuery = z.object({ user_id: UserId.optional() }).strict();

export const PollResponse = z.object({ poll: Poll });
export const PollVoteResponse = z.object({ poll: Poll, vote: PollVote });
export const PollOptionResponse = z.object({ poll: Poll, poll_option: PollOption });

/** Payloads of the poll.* events (to the channel of the poll's message). */
export const PollEventShape = { cid: Cid, message_id: z.string(), poll: Poll };
