import { type ColumnType, type Selectable, sql } from 'kysely';
import type { Executor } from '../../platform/db.js';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface EmailPreferencesTable {
  app_id: string;
  user_id: string;
  email: string | null;
  mentions: ColumnType<boolean, boolean | undefined, boolean>;
  digest: ColumnType<boolean, boolean | undefined, boolean>;
  unsubscribed_at: Date | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface EmailSendsTable {
  app_id: string;
  key: string;
  user_id: string;
  kind: string;
  created_at: CreatedAt;
}

type EmailTables = { email_preferences: EmailPreferencesTable; email_sends: EmailSendsTable };
export type EmailPreferencesRow = Selectable<EmailPreferencesTable>;

const tables = (db: Executor) => db.withTables<EmailTables>();

/** One unread message for a digest. */
export interface UnreadForDigest {
  cid: string;
  channel_name: string | null;
  id: string;
  seq: number;
  user_id: string;
  author_name: string | null;
  text: string;
  created_at: Date;
}

/** What the mention email needs to know about its message and recipient, in one read. */
export interface MentionFacts {
  cid: string;
  channel_name: string | null;
  seq: number;
  text: string;
  type: string;
  user_id: string;
  author_name: string | null;
  shadowed: boolean;
  deleted: boolean;
  mentioned_user_ids: string[];
  mentioned_channel: boolean;
  member_read_seq: number | null;
  channel_muted: boolean;
  sender_muted: boolean;
  direct: boolean;
}

export const emailRepository = {
  find(db: Executor, appId: string, userId: string) {
    return tables(db)
      .selectFrom('email_preferences')
      .selectAll()
      .where('app_id', '=', appId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  },

  /** Creates or changes a user's preferences; saving clears an "all email" unsubscribe. */
  upsert(
    db: Executor,
    appId: string,
    userId: string,
    patch: { email?: string | null; mentions?: boolean; digest?: boolean },
  ) {
    const now = new Date();
    return tables(db)
      .insertInto('email_preferences')
      .values({ app_id: appId, user_id: userId, email: patch.email ?? null, ...pick(patch), updated_at: now })
      .onConflict((oc) =>
        oc.columns(['app_id', 'user_id']).doUpdateSet({
          ...(patch.email !== undefined ? { email: patch.email } : {}),
          ...pick(patch),
          unsubscribed_at: null,
          updated_at: now,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /** The unsubscribe link: turns off one kind, or all email. Creates the row if needed. */
  unsubscribe(db: Executor, appId: string, userId: string, kind: 'mentions' | 'digest' | 'all') {
    const now = new Date();
    const change =
      kind === 'all'
        ? { unsubscribed_at: now }
        : kind === 'mentions'
          ? { mentions: false }
          : { digest: false };
    return tables(db)
      .insertInto('email_preferences')
      .values({ app_id: appId, user_id: userId, email: null, ...change, updated_at: now })
      .onConflict((oc) => oc.columns(['app_id', 'user_id']).doUpdateSet({ ...change, updated_at: now }))
      .execute();
  },

  /** Of `userIds`, those who want mention emails (an address, mentions on, not unsubscribed). */
  async wantingMentions(db: Executor, appId: string, userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await tables(db)
      .selectFrom('email_preferences')
      .select('user_id')
      .where('app_id', '=', appId)
      .where('user_id', 'in', [...userIds])
      .where('email', 'is not', null)
      .where('mentions', '=', true)
      .where('unsubscribed_at', 'is', null)
      .execute();
    return rows.map((r) => r.user_id);
  },

  /** Members of a channel (other than the sender) who want digests. */
  async digestRecipients(db: Executor, appId: string, cid: string, senderId: string): Promise<string[]> {
    const result = await sql<{ user_id: string }>`
      select p.user_id from email_preferences p
      join members m on m.app_id = p.app_id and m.user_id = p.user_id and m.cid = ${cid}
      where p.app_id = ${appId} and p.user_id <> ${senderId} and p.email is not null and p.digest
        and p.unsubscribed_at is null and not m.banned and m.invite_rejected_at is null`.execute(db);
    return result.rows.map((r) => r.user_id);
  },

  async wasSent(db: Executor, appId: string, key: string): Promise<boolean> {
    const row = await tables(db)
      .selectFrom('email_sends')
      .select('key')
      .where('app_id', '=', appId)
      .where('key', '=', key)
      .executeTakeFirst();
    return row !== undefined;
  },

  async recordSent(db: Executor, appId: string, key: string, userId: string, kind: string) {
    await tables(db)
      .insertInto('email_sends')
      .values({ app_id: appId, key, user_id: userId, kind })
      .onConflict((oc) => oc.columns(['app_id', 'key']).doNothing())
      .execute();
  },

  /** The message, its channel and author, and the recipient's read position and mutes. */
  async mentionFacts(
    db: Executor,
    appId: string,
    messageId: string,
    userId: string,
  ): Promise<MentionFacts | undefined> {
    const result = await sql<MentionFacts>`
      select msg.cid, c.name as channel_name, msg.seq, msg.text, msg.type, msg.user_id,
        author.name as author_name, msg.shadowed, msg.deleted_at is not null as deleted,
        msg.mentioned_user_ids, msg.mentioned_channel, m.last_read_seq as member_read_seq,
        exists (select 1 from channel_mutes cm where cm.app_id = msg.app_id and cm.user_id = ${userId}
          and cm.cid = msg.cid and (cm.expires_at is null or cm.expires_at > now())) as channel_muted,
        exists (select 1 from user_mutes um where um.app_id = msg.app_id and um.user_id = ${userId}
          and um.target_id = msg.user_id and (um.expires_at is null or um.expires_at > now())) as sender_muted,
        (c.distinct_key is not null and c.member_count <= 2) as direct
      from messages msg
      join channels c on c.app_id = msg.app_id and c.cid = msg.cid
      left join users author on author.app_id = msg.app_id and author.id = msg.user_id
      left join members m on m.app_id = msg.app_id and m.cid = msg.cid and m.user_id = ${userId}
      where msg.app_id = ${appId} and msg.id = ${messageId}`.execute(db);
    return result.rows[0];
  },

  /**
   * Unread messages of a user for a digest: in channels they are a member of, after their read
   * position, from others, not deleted or shadowed, not in muted channels, not from muted users.
   */
  async unreadForDigest(db: Executor, appId: string, userId: string, limit: number) {
    const result = await sql<UnreadForDigest>`
      select msg.cid, c.name as channel_name, msg.id, msg.seq, msg.user_id, author.name as author_name,
        msg.text, msg.created_at
      from members m
      join channels c on c.app_id = m.app_id and c.cid = m.cid
      join messages msg on msg.app_id = m.app_id and msg.cid = m.cid
        and msg.seq > greatest(m.last_read_seq, m.cleared_seq)
      left join users author on author.app_id = msg.app_id and author.id = msg.user_id
      where m.app_id = ${appId} and m.user_id = ${userId} and not m.banned and m.invite_rejected_at is null
        and msg.user_id <> ${userId} and msg.deleted_at is null and not msg.shadowed
        and msg.type in ('regular', 'reply')
        and (c.truncated_at is null or msg.created_at > c.truncated_at)
        and not exists (select 1 from channel_mutes cm where cm.app_id = m.app_id and cm.user_id = ${userId}
          and cm.cid = m.cid and (cm.expires_at is null or cm.expires_at > now()))
        and not exists (select 1 from user_mutes um where um.app_id = m.app_id and um.user_id = ${userId}
          and um.target_id = msg.user_id and (um.expires_at is null or um.expires_at > now()))
      order by msg.created_at desc
      limit ${limit}`.execute(db);
    return result.rows;
  },
};

function pick(patch: { mentions?: boolean; digest?: boolean }) {
  return {
    ...(patch.mentions !== undefined ? { mentions: patch.mentions } : {}),
    ...(patch.digest !== undefined ? { digest: patch.digest } : {}),
  };
}
