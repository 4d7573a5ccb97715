import type { ChannelTypeConfig } from '@parley/protocol';
import type { Executor } from '../../platform/db.js';
import type { AppRow, BlocklistRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import type { PendingEvents } from '../../platform/events.js';
import { toFlagDto } from './moderation.dto.js';
import { moderationRepository } from './moderation.repository.js';

/** What replaces a masked word. */
export const MASK = '***';

export interface Screened {
  /** The text to store: masked words replaced. */
  text: string;
  /** Blocklists with behaviour `flag` that matched: the message is sent and flagged once per list. */
  flaggedBy: string[];
}

const escapeRegExp = (word: string) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whole words (letters and digits around do not count as a match), case-insensitive. */
function wordPattern(words: string[]): RegExp {
  const alternatives = [...words].sort((a, b) => b.length - a.length).map(escapeRegExp);
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, 'giu');
}

/** The blocklists that govern messages of this channel type: the app-wide one and the type's own. */
export function blocklistNames(app: AppRow, config: ChannelTypeConfig): string[] {
  const appWide = (app.settings as { blocklist?: string | null }).blocklist ?? null;
  return [...new Set([appWide, config.blocklist ?? null].filter((n): n is string => n !== null))];
}

/** Applies blocklists to a text: `block` refuses it, `mask` replaces words, `flag` marks it for review. */
export function applyBlocklists(text: string, lists: BlocklistRow[]): Screened {
  for (const list of lists) {
    if (list.behavior === 'block' && wordPattern(list.words).test(text)) {
      throw new AppError('MESSAGE_BLOCKED', `the message contains a word of blocklist ${list.name}`, {
        field: 'text',
        blocklist: list.name,
      });
    }
  }
  const flaggedBy = lists
    .filter((l) => l.behavior === 'flag' && wordPattern(l.words).test(text))
    .map((l) => l.name);
  let out = text;
  for (const list of lists) {
    if (list.behavior === 'mask') out = out.replace(wordPattern(list.words), MASK);
  }
  return { text: out, flaggedBy };
}

/**
 * Screens a message text with the blocklists that apply. No query at all when none is configured
 * (the common case), so the send path costs nothing extra.
 */
export async function screenText(
  db: Executor,
  app: AppRow,
  config: ChannelTypeConfig,
  text: string,
): Promise<Screened> {
  const names = blocklistNames(app, config);
  if (names.length === 0 || text === '') return { text, flaggedBy: [] };
  return applyBlocklists(text, await moderationRepository.findBlocklists(db, app.id, names));
}

/**
 * Flags raised by blocklists with behaviour `flag`, in the send (or edit) transaction: one open
 * flag per list and message, with no reporter, and a flag.created event each.
 */
export async function flagFromBlocklists(
  tx: Executor,
  events: PendingEvents,
  appId: string,
  message: { id: string; cid: string; user_id: string },
  blocklists: string[],
) {
  for (const name of blocklists) {
    const { row, created } = await moderationRepository.insertFlag(tx, appId, {
      target_type: 'message',
      message_id: message.id,
      cid: message.cid,
      target_user_id: message.user_id,
      flagged_by: null,
      reason: `blocklist:${name}`,
    });
    if (created) events.record('flag.created', { flag: toFlagDto(row) });
  }
}
