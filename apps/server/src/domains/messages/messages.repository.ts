import { sql } from 'kysely';
import type { Executor } from '../../platform/db.js';
import type { MessageRow } from '../../platform/db.types.js';
import { messageColumns } from './message-columns.js';

export interface NewMessageRow {
  id: string;
  cid: string;
  seq: number;
  user_id: string;
  client_msg_id: string | null;
  type: string;
  text: string;
  custom: Record<string, unknown>;
  attachments: unknown[];
  mentioned_user_ids: string[];
  mentioned_channel: boolean;
  mentioned_here: boolean;
  parent_id: string | null;
  reply_to_id: string | null;
  show_in_channel: boolean;
  /** The author is shadow-banned: visible to the author alone (migration 0010). */
  shadowed?: boolean;
  /** The poll the message carries (migration 0014). */
  poll_id?: string | null;
  created_at: Date;
}

/** Just enough of a quoted message for its excerpt. */
export interface QuotedRow {
  id: string;
  user_id: string;
  text: string;
  deleted_at: Date | null;
}

/**
 * A message's new `updated_at` on any change of what it shows (text, reactions, thread counters):
 * the current time at millisecond precision (as the API shows it), and always later than before,
 * so clients that keep the copy with the latest `updated_at` never keep a stale one.
 */
export const nextUpdatedAt = sql<Date>`greatest(date_trunc('milliseconds', clock_timestamp()), messages.updated_at + interval '1 millisecond')`;

/** The parent's participants with `userId` appended unless present; the author always comes first. */
const withParticipant = (userId: string) => {
  const base = sql<
    string[]
  >`(case when cardinality(thread_participants) = 0 then array[user_id]::text[] else thread_participants end)`;
  return sql<
    string[]
  >`(case when ${userId} = any(${base}) then ${base} else array_append(${base}, ${userId}::text) end)`;
};

export interface MessageWindow {
  /** Only messages with seq above this (member's cleared history). */
  afterSeq: number;
  /** Only messages created after this (channel truncation). */
  after: Date | null;
  /**
   * The reader: others' shadowed messages and messages of users the reader blocked are left out.
   * Undefined (server calls acting as nobody) shows everything.
   */
  viewerId?: string | undefined;
}

export const messagesRepository = {
  /** Returns undefined when (channel, user, client_msg_id) already exists: the caller returns that one. */
  async insert(db: Executor, appId: string, m: NewMessageRow): Promise<MessageRow | undefined> {
    return (await messagesRepository.insertMany(db, appId, [m]))[0];
  },

  /**
   * Inserts messages in one statement (one for a send, a batch for group commit, ADR 0016). A row
   * whose client_msg_id already exists is skipped, so fewer rows come back.
   */
  insertMany(db: Executor, appId: string, rows: readonly NewMessageRow[]): Promise<MessageRow[]> {
    return db
      .insertInto('messages')
      .values(
        rows.map((m) => ({
          ...m,
          app_id: appId,
          custom: JSON.stringify(m.custom),
          attachments: JSON.stringify(m.attachments),
          updated_at: m.created_at,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .returning(messageColumns)
      .execute();
  },

  find(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('messages')
      .select(messageColumns)
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  /** Several messages by id (any channel of the app); callers check the channel. */
  findMany(db: Executor, appId: string, ids: string[]) {
    return db
      .selectFrom('messages')
      .select(messageColumns)
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .execute();
  },

  /** Locks the message row until the transaction ends (reactions on one message take turns). */
  findForUpdate(db: Executor, appId: string, id: string) {
    return db
      .selectFrom('messages')
      .select(messageColumns)
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
  },

  /** Excerpt material for quoted messages: at most a little over the excerpt length of text. */
  quoted(db: Executor, appId: string, ids: string[]): Promise<QuotedRow[]> {
    return db
      .selectFrom('messages')
      .select(['id', 'user_id', sql<string>`left(text, 402)`.as('text'), 'deleted_at'])
      .where('app_id', '=', appId)
      .where('id', 'in', ids)
      .execute();
  },

  /**
   * A reply was added: count it, stamp the time and add the replier to the participants (the
   * author first). Done in SQL so concurrent deletes of other replies cannot be lost.
   */
  addReply(db: Executor, appId: string, parentId: string, userId: string, at: Date) {
    return db
      .updateTable('messages')
      .set({
        reply_count: sql<number>`reply_count + 1`,
        last_reply_at: at,
        thread_participants: withParticipant(userId),
        updated_at: nextUpdatedAt,
      })
      .where('app_id', '=', appId)
      .where('id', '=', parentId)
      .returning(messageColumns)
      .executeTakeFirstOrThrow();
  },

  /**
   * A live reply was deleted (after its row was updated or removed): one reply fewer, and the
   * latest live reply's time. Participants stay: taking part in a thread is not undone.
   */
  removeReply(db: Executor, appId: string, parentId: string) {
    return db
      .updateTable('messages')
      .set({
        reply_count: sql<number>`greatest(reply_count - 1, 0)`,
        updated_at: nextUpdatedAt,
        last_reply_at: sql<Date | null>`(select max(r.created_at) from messages r where r.app_id = ${appId} and r.parent_id = ${parentId} and r.deleted_at is null)`,
      })
      .where('app_id', '=', appId)
      .where('id', '=', parentId)
      .returning(messageColumns)
      .executeTakeFirst();
  },

  /**
   * Members of the channel who can be mentioned (everyone on the list except rejected invites):
   * those among `userIds`, or all of them for a wildcard mention.
   */
  async mentionable(db: Executor, appId: string, cid: string, userIds: string[] | 'all'): Promise<string[]> {
    if (userIds !== 'all' && userIds.length === 0) return [];
    let q = db
      .selectFrom('members')
      .select('user_id')
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('invite_rejected_at', 'is', null);
    if (userIds !== 'all') q = q.where('user_id', 'in', userIds);
    return (await q.execute()).map((r) => r.user_id);
  },

  /** Live replies of a thread after `afterSeq` written by others than `userId`. */
  async countUnreadReplies(db: Executor, appId: string, parentId: string, afterSeq: number, userId: string) {
    const row = await db
      .selectFrom('messages')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('app_id', '=', appId)
      .where('parent_id', '=', parentId)
      .where('seq', '>', afterSeq)
      .where('deleted_at', 'is', null)
      .where('user_id', '<>', userId)
      .where('shadowed', '=', false)
      .executeTakeFirstOrThrow();
    return row.n;
  },

  findByClientId(db: Executor, appId: string, cid: string, userId: string, clientMsgId: string) {
    return db
      .selectFrom('messages')
      .select(messageColumns)
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .where('client_msg_id', '=', clientMsgId)
      .executeTakeFirst();
  },

  lastByUserSince(db: Executor, appId: string, cid: string, userId: string, since: Date) {
    return db
      .selectFrom('messages')
      .select(['created_at'])
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('user_id', '=', userId)
      .where('created_at', '>', since)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  },

  /**
   * A page of channel-visible messages (top level, or thread replies also sent to the channel),
   * or of one thread's replies when `parentId` is given, strictly before or after `seq`, in
   * ascending seq order.
   */
  async page(
    db: Executor,
    appId: string,
    cid: string,
    window: MessageWindow,
    opts: {
      direction: 'before' | 'after';
      seq: number | null;
      inclusive?: boolean;
      limit: number;
      parentId?: string;
    },
  ): Promise<MessageRow[]> {
    let q = db
      .selectFrom('messages')
      .select(messageColumns)
      .where('app_id', '=', appId)
      .where('cid', '=', cid)
      .where('seq', '>', window.afterSeq);
    const { parentId } = opts;
    q = parentId
      ? q.where('parent_id', '=', parentId)
      : q.where((eb) => eb.or([eb('parent_id', 'is', null), eb('show_in_channel', '=', true)]));
    if (window.after) q = q.where('created_at', '>', window.after);
    const viewer = window.viewerId;
    if (viewer !== undefined) {
      q = q
        .where((eb) => eb.or([eb('shadowed', '=', false), eb('user_id', '=', viewer)]))
        .where(
          sql<boolean>`not exists (select 1 from blocks b where b.app_id = ${appId} and b.user_id = ${viewer} and b.target_id = messages.user_id)`,
        );
    }
    if (opts.seq !== null) {
      const op = opts.direction === 'before' ? (opts.inclusive ? '<=' : '<') : opts.inclusive ? '>=' : '>';
      q = q.where('seq', op, opts.seq);
    }
    const rows = await q
      .orderBy('seq', opts.direction === 'before' ? 'desc' : 'asc')
      .limit(opts.limit)
      .execute();
    return opts.direction === 'before' ? rows.reverse() : rows;
  },

  update(db: Executor, appId: string, id: string, patch: Record<string, unknown>) {
    return db
      .updateTable('messages')
      .set({ ...patch, updated_at: nextUpdatedAt })
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .returning(messageColumns)
      .executeTakeFirst();
  },

  async delete(db: Executor, appId: string, id: string) {
    await db.deleteFrom('messages').where('app_id', '=', appId).where('id', '=', id).execute();
  },
};
