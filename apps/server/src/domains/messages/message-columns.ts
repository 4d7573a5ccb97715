import type { MessagesTable } from '../../platform/db.types.js';

/**
 * The columns of a message row, for every query that returns whole messages. Not `select *`: the
 * table also holds the search columns (search_config, search_vector, migration 0012), which no
 * reader needs and which would roughly double the bytes of every message page.
 */
export const messageColumns = [
  'app_id',
  'id',
  'cid',
  'seq',
  'user_id',
  'client_msg_id',
  'type',
  'text',
  'custom',
  'attachments',
  'mentioned_user_ids',
  'parent_id',
  'reply_to_id',
  'show_in_channel',
  'created_at',
  'updated_at',
  'edited_at',
  'deleted_at',
  'reply_count',
  'thread_participants',
  'last_reply_at',
  'reaction_counts',
  'reaction_scores',
  'mentioned_channel',
  'mentioned_here',
  'shadowed',
  'pinned_at',
  'pinned_by',
  'pin_expires_at',
  'poll_id',
] as const satisfies readonly (keyof MessagesTable)[];

/** A new column in MessagesTable that is missing above fails to compile here. */
type MissingColumn = Exclude<keyof MessagesTable, (typeof messageColumns)[number]>;
export const everyMessageColumnListed: [MissingColumn] extends [never] ? true : MissingColumn = true;

/** The same columns qualified by table, for joins. */
export const qualifiedMessageColumns = messageColumns.map((c) => `messages.${c}` as const);
