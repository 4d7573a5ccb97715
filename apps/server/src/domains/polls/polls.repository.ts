import { LATEST_POLL_VOTES_LIMIT } from '@parley/protocol';
import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { PollOptionRow, PollRow, PollVoteRow } from '../../platform/db.types.js';

export interface NewPoll {
  id: string;
  created_by: string;
  name: string;
  description: string | null;
  voting_visibility: string;
  enforce_unique_vote: boolean;
  max_votes_allowed: number | null;
  allow_user_suggested_options: boolean;
  allow_answers: boolean;
  custom: Record<string, unknown>;
  created_at: Date;
}

export interface NewPollOption {
  id: string;
  text: string;
  custom: Record<string, unknown>;
  suggested_by: string | null;
}

export const pollsRepository = {
  async insert(db: Executor, appId: string, poll: NewPoll, options: NewPollOption[]): Promise<PollRow> {
    const row = await db
      .insertInto('polls')
      .values({
        ...poll,
        app_id: appId,
        custom: JSON.stringify(poll.custom),
        vote_counts_by_option: '{}',
        updated_at: poll.created_at,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (options.length > 0) {
      await db
        .insertInto('poll_options')
        .values(
          options.map((o, position) => ({
            ...o,
            app_id: appId,
            poll_id: poll.id,
            position,
            custom: JSON.stringify(o.custom),
            created_at: poll.created_at,
          })),
        )
        .execute();
    }
    return row;
  },

  find(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('polls')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  /** The poll row, locked until commit: every vote and change of one poll takes its turn. */
  findForUpdate(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('polls')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
  },

  findMany(db: Executor, appId: string, ids: string[]) {
    return db.selectFrom('polls').selectAll().where('app_id', '=', appId).where('id', 'in', ids).execute();
  },

  update(
    db: Executor,
    appId: string,
    id: string,
    patch: Partial<
      Pick<PollRow, 'name' | 'description' | 'allow_user_suggested_options' | 'is_closed' | 'closed_at'>
    > & { custom?: string; cid?: string; message_id?: string },
  ) {
    return db
      .updateTable('polls')
      .set({ ...patch, updated_at: new Date() })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /** Options of the polls, in their order (created, then suggested). */
  options(db: Executor, appId: string, pollIds: string[]) {
    return db
      .selectFrom('poll_options')
      .selectAll()
      .where('app_id', '=', appId)
      .where('poll_id', 'in', pollIds)
      .orderBy('poll_id')
      .orderBy('position')
      .execute();
  },

  async addOption(
    db: Executor,
    appId: string,
    pollId: string,
    option: NewPollOption,
  ): Promise<PollOptionRow> {
    const position = await db
      .selectFrom('poll_options')
      .select(sql<number>`coalesce(max(position) + 1, 0)`.as('next'))
      .where('app_id', '=', appId)
      .where('poll_id', '=', pollId)
      .executeTakeFirstOrThrow();
    return db
      .insertInto('poll_options')
      .values({
        ...option,
        app_id: appId,
        poll_id: pollId,
        position: Number(position.next),
        custom: JSON.stringify(option.custom),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  votesOf(db: Executor, appId: string, pollId: string, userId: string) {
    return db
      .selectFrom('poll_votes')
      .selectAll()
      .where('app_id', '=', appId)
      .where('poll_id', '=', pollId)
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  },

  /** The viewer's votes on several polls. */
  ownVotes(db: Executor, appId: string, pollIds: string[], userId: string) {
    return db
      .selectFrom('poll_votes')
      .selectAll()
      .where('app_id', '=', appId)
      .where('poll_id', 'in', pollIds)
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  },

  findVote(db: Executor, appId: string, pollId: string, voteId: string) {
    return db
      .selectFrom('poll_votes')
      .selectAll()
      .where('app_id', '=', appId)
      .where('poll_id', '=', pollId)
      .where('id', '=', voteId)
      .executeTakeFirst();
  },

  /** Inserts a vote; undefined when the same vote (user, option) or the user's answer exists. */
  insertVote(db: Executor, appId: string, vote: Omit<PollVoteRow, 'app_id' | 'updated_at'>) {
    return db
      .insertInto('poll_votes')
      .values({ ...vote, app_id: appId, updated_at: vote.created_at })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  },

  deleteVote(db: Executor, appId: string, pollId: string, voteId: string) {
    return db
      .deleteFrom('poll_votes')
      .where('app_id', '=', appId)
      .where('poll_id', '=', pollId)
      .where('id', '=', voteId)
      .returningAll()
      .executeTakeFirst();
  },

  /** Recomputes the poll's counters from its votes (under the poll's row lock). */
  async refreshCounts(db: Executor, appId: string, pollId: string): Promise<PollRow> {
    const counts = await db
      .selectFrom('poll_votes')
      .select(['option_id', sql<number>`count(*)::int`.as('n')])
      .where('app_id', '=', appId)
      .where('poll_id', '=', pollId)
      .groupBy('option_id')
      .execute();
    const byOption: Record<string, number> = {};
    let votes = 0;
    let answers = 0;
    for (const c of counts) {
      const n = Number(c.n);
      if (c.option_id === null) answers += n;
      else {
        byOption[c.option_id] = n;
        votes += n;
      }
    }
    return db
      .updateTable('polls')
      .set({
        vote_counts_by_option: JSON.stringify(byOption),
        vote_count: votes,
        answers_count: answers,
        updated_at: new Date(),
      })
      .where('app_id', '=', appId)
      .where('id', '=', pollId)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /**
   * The latest votes of each option and the latest answers (option_id null) of the polls, newest
   * first, at most LATEST_POLL_VOTES_LIMIT per group: one query whatever the number of polls.
   */
  async latestVotes(db: Executor, appId: string, pollIds: string[]): Promise<PollVoteRow[]> {
    const result = await sql<PollVoteRow>`
      select app_id, poll_id, id, user_id, option_id, answer_text, created_at, updated_at from (
        select v.*, row_number() over (
          partition by v.poll_id, v.option_id order by v.created_at desc, v.id desc
        ) as rank
        from poll_votes v
        where v.app_id = ${appId} and v.poll_id in (${sql.join(pollIds)})
      ) ranked
      where rank <= ${LATEST_POLL_VOTES_LIMIT}
      order by poll_id, option_id, created_at desc, id desc`.execute(db);
    return result.rows.map((r) => ({
      ...r,
      created_at: new Date(r.created_at),
      updated_at: new Date(r.updated_at),
    }));
  },
};
