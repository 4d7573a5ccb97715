/** Most distinct users one message may mention (parsed from the text plus given by the client). */
export const MAX_MENTIONS = 100;

/** What the text asks for; the service decides who of these is really mentioned. */
export interface ParsedMentions {
  /** Candidate user ids, in order of first appearance, without duplicates. */
  userIds: string[];
  /** Distinct `@…` tokens written (the wildcards excluded): what "too many mentions" counts. */
  tokens: number;
  channel: boolean;
  here: boolean;
}

// `@` must start a word (not `a@b`), then a user id (letters, digits and @ _ . - =).
const TOKEN = /(?<![A-Za-z0-9_.@=-])@([A-Za-z0-9@_.=-]+)/g;

/**
 * Finds `@user_id`, `@channel` and `@here` tokens. Punctuation that ends a sentence is not part of
 * an id: for `@bob.` both `bob.` and `bob` are candidates, and only ids of channel members survive
 * the membership check. `@channel` and `@here` are always the wildcards, never users with those ids.
 */
export function parseMentions(text: string): ParsedMentions {
  const ids: string[] = [];
  const tokens = new Set<string>();
  let channel = false;
  let here = false;
  for (const match of text.matchAll(TOKEN)) {
    const raw = match[1]!;
    const trimmed = raw.replace(/[.\-=@_]+$/, '');
    if (trimmed === 'channel') {
      channel = true;
      continue;
    }
    if (trimmed === 'here') {
      here = true;
      continue;
    }
    tokens.add(trimmed || raw);
    ids.push(raw);
    if (trimmed && trimmed !== raw) ids.push(trimmed);
  }
  return { userIds: [...new Set(ids)], tokens: tokens.size, channel, here };
}
