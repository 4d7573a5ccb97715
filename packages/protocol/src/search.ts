import { z } from 'zod';
import { Cid, UserId } from './common.js';
import { Message } from './messages.js';
import { SyncTimestamp } from './sync.js';

/** Longest search query, in characters. */
export const SEARCH_QUERY_MAX_LENGTH = 300;
/** Most channels one search may name in `cids`. */
export const SEARCH_MAX_CIDS = 100;

export const SearchSort = z.enum(['relevance', 'newest', 'oldest']);

export const SearchBody = z
  .object({
    /**
     * Web search syntax (Postgres `websearch_to_tsquery`): words are ANDed, `"a phrase"`, `or`,
     * `-excluded`. Stemmed with the app's `search_language` setting.
     */
    query: z.string().trim().min(1).max(SEARCH_QUERY_MAX_LENGTH),
    /** Only these channels (still only those the user can read). Default: every channel of the user. */
    cids: z.array(Cid).min(1).max(SEARCH_MAX_CIDS).optional(),
    /** Only messages by this user. */
    author_id: UserId.optional(),
    /** Only messages with (true) or without (false) attachments. */
    has_attachments: z.boolean().optional(),
    /** Only messages created at or after this instant. */
    created_after: SyncTimestamp.optional(),
    /** Only messages created before this instant. */
    created_before: SyncTimestamp.optional(),
    /** Only replies in this thread. */
    parent_id: z.uuid().optional(),
    /** true: only thread replies; false: only top-level messages; omitted: both. */
    is_reply: z.boolean().optional(),
    sort: SearchSort.default('relevance'),
    limit: z.number().int().min(1).max(100).default(20),
    /** The `next` of the previous page (same query and filters). */
    next: z.string().min(1).max(500).optional(),
    /** Server-side calls search as this user. */
    user_id: UserId.optional(),
  })
  .strict();
export type SearchBody = z.input<typeof SearchBody>;

/**
 * A highlighted excerpt as plain-text segments: render `highlighted` segments emphasised. No
 * markup is ever embedded in the text, so clients need not sanitise anything.
 */
export const SearchSnippet = z.array(z.object({ text: z.string(), highlighted: z.boolean() }));
export type SearchSnippet = z.infer<typeof SearchSnippet>;

export const SearchResult = z.object({
  message: Message,
  snippet: SearchSnippet,
  /** Postgres ts_rank of the message for the query (higher is more relevant). */
  rank: z.number(),
});
export type SearchResult = z.infer<typeof SearchResult>;

export const SearchResponse = z.object({
  results: z.array(SearchResult),
  /** Pass as `next` to get the following page; null on the last page. */
  next: z.string().nullable(),
});
export type SearchResponse = z.infer<typeof SearchResponse>;
