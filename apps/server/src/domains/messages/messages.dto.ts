import {
  type Attachment,
  type Message,
  type Poll,
  QUOTE_EXCERPT_LENGTH,
  type QuotedMessage,
  type Reaction,
} from '@parley/protocol';
import type { Executor } from '../../platform/db.js';
import type { MessageRow, ReactionRow } from '../../platform/db.types.js';
import { pollsOfMessages } from '../polls/polls.dto.js';
import { reactionsRepository } from '../reactions/reactions.repository.js';
import { messagesRepository, type QuotedRow } from './messages.repository.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toReactionDto(row: ReactionRow): Reaction {
  return {
    message_id: row.message_id,
    user_id: row.user_id,
    type: row.type,
    score: row.score,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** What a message row alone does not hold: loaded for a whole page at once (see `enrich`). */
export interface MessageExtras {
  quoted?: QuotedMessage | null;
  own?: Reaction[];
  latest?: Reaction[];
  /** The poll the message carries (domains/polls). */
  poll?: Poll | null;
}

export function toMessageDto(row: MessageRow, extras: MessageExtras = {}): Message {
  return {
    id: row.id,
    cid: row.cid,
    seq: row.seq,
    user_id: row.user_id,
    client_msg_id: row.client_msg_id,
    type: row.type as Message['type'],
    text: row.text,
    custom: row.custom as Record<string, unknown>,
    attachments: row.attachments as Attachment[],
    mentioned_user_ids: row.mentioned_user_ids,
    parent_id: row.parent_id,
    reply_to_id: row.reply_to_id,
    show_in_channel: row.show_in_channel,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    edited_at: iso(row.edited_at),
    deleted_at: iso(row.deleted_at),
    reply_count: row.reply_count,
    thread_participants: row.thread_participants,
    last_reply_at: iso(row.last_reply_at),
    quoted_message: row.reply_to_id ? (extras.quoted ?? null) : null,
    mentioned_channel: row.mentioned_channel,
    mentioned_here: row.mentioned_here,
    reaction_counts: row.reaction_counts,
    reaction_scores: row.reaction_scores,
    own_reactions: extras.own ?? [],
    latest_reactions: extras.latest ?? [],
    ...pinFields(row),
    poll_id: row.poll_id,
    poll: row.poll_id && !row.deleted_at ? (extras.poll ?? null) : null,
  };
}

/** A pin counts until its pin_expires_at (expired pins read as not pinned, without a sweep job). */
export function pinFields(
  row: Pick<MessageRow, 'pinned_at' | 'pinned_by' | 'pin_expires_at'>,
  now = Date.now(),
) {
  const live = row.pinned_at !== null && (row.pin_expires_at === null || row.pin_expires_at.getTime() > now);
  return {
    pinned: live,
    pinned_at: live ? iso(row.pinned_at) : null,
    pinned_by: live ? row.pinned_by : null,
    pin_expires_at: live ? iso(row.pin_expires_at) : null,
  };
}

/**
 * A message as events carry it to everyone: without the viewer-specific parts (own reactions, own
 * poll votes: in an anonymous poll those would tell everyone how the viewer voted).
 */
export function forEveryone(message: Message): Message {
  return {
    ...message,
    own_reactions: [],
    ...(message.poll ? { poll: { ...message.poll, own_votes: [] } } : {}),
  };
}

/** The embedded quote: an excerpt of the live message, or a tombstone once deleted (or gone). */
export function quotedOf(id: string, row: QuotedRow | MessageRow | undefined): QuotedMessage {
  if (!row) return { id, user_id: null, text: '', deleted: true };
  const chars = [...row.text.slice(0, QUOTE_EXCERPT_LENGTH * 2 + 2)];
  const text =
    chars.length > QUOTE_EXCERPT_LENGTH
      ? `${chars.slice(0, QUOTE_EXCERPT_LENGTH - 1).join('')}…`
      : chars.join('');
  return { id, user_id: row.user_id, text: row.deleted_at ? '' : text, deleted: row.deleted_at !== null };
}

const hasReactions = (row: MessageRow) => Object.keys(row.reaction_counts).length > 0;

/**
 * Message DTOs for a page of rows in a fixed number of queries, whatever the page size: one for
 * every quoted message of the page (only if some row quotes), one for latest + own reactions
 * (only if some row has reactions). `viewerId` picks own_reactions; events pass none.
 */
export async function enrich(
  db: Executor,
  appId: string,
  rows: MessageRow[],
  viewerId: string | undefined,
): Promise<Message[]> {
  const quotedIds = [...new Set(rows.flatMap((r) => (r.reply_to_id ? [r.reply_to_id] : [])))];
  const reactedIds = rows.filter(hasReactions).map((r) => r.id);
  const [quotedRows, reactions, polls] = await Promise.all([
    quotedIds.length ? messagesRepository.quoted(db, appId, quotedIds) : Promise.resolve([]),
    reactedIds.length
      ? reactionsRepository.forMessages(db, appId, reactedIds, viewerId)
      : Promise.resolve({ latest: [], own: [] }),
    pollsOfMessages(db, appId, rows, viewerId),
  ]);
  const quotedById = new Map(quotedRows.map((q) => [q.id, q]));
  const group = (list: ReactionRow[]) => {
    const byMessage = new Map<string, Reaction[]>();
    for (const r of list) {
      const entry = byMessage.get(r.message_id) ?? [];
      entry.push(toReactionDto(r));
      byMessage.set(r.message_id, entry);
    }
    return byMessage;
  };
  const latest = group(reactions.latest);
  const own = group(reactions.own);
  return rows.map((row) =>
    toMessageDto(row, {
      quoted: row.reply_to_id ? quotedOf(row.reply_to_id, quotedById.get(row.reply_to_id)) : null,
      latest: latest.get(row.id) ?? [],
      own: own.get(row.id) ?? [],
      poll: row.poll_id ? (polls.get(row.poll_id) ?? null) : null,
    }),
  );
}

export async function enrichOne(
  db: Executor,
  appId: string,
  row: MessageRow,
  viewerId: string | undefined,
): Promise<Message> {
  return (await enrich(db, appId, [row], viewerId))[0]!;
}
