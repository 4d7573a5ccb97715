import {
  AppSettings,
  type ChannelTypeConfig,
  type SearchBody,
  type SearchResponse,
  type SearchSnippet,
} from '@parley/protocol';
import type { z } from 'zod';
import type { JobSystem } from '../../jobs/boss.js';
import type { JobData } from '../../jobs/job-map.js';
import { actingUserId, type RequestContext } from '../../platform/context.js';
import type { Db } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import type { ChannelTypesService } from '../channel-types/channel-types.service.js';
import { can } from '../channels/channels.policy.js';
import type { ChannelsService } from '../channels/channels.service.js';
import { messageColumns } from '../messages/message-columns.js';
import { enrich } from '../messages/messages.dto.js';
import { syncRepository } from '../sync/sync.repository.js';
import {
  HIGHLIGHT_START,
  HIGHLIGHT_STOP,
  type SearchCursor,
  type SearchOrder,
  searchRepository,
} from './search.repository.js';

/** Messages re-indexed per `search.reindex` job (one short transaction each). */
export const REINDEX_BATCH = 500;

const encodeCursor = (c: SearchCursor) =>
  Buffer.from(
    JSON.stringify(c.sort === 'relevance' ? ['r', c.rank, c.id] : [c.sort[0], c.at, c.id]),
  ).toString('base64url');

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const instant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/** A `next` this search returned for the same sort, or VALIDATION_FAILED on `next`. */
export function decodeCursor(next: string, sort: SearchOrder): SearchCursor {
  const invalid = () =>
    new AppError('VALIDATION_FAILED', 'next is not a cursor this search returned (same sort)', {
      field: 'next',
    });
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(next, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parts) || parts.length !== 3) throw invalid();
  const [kind, value, id] = parts as unknown[];
  if (typeof id !== 'string' || !uuid.test(id)) throw invalid();
  if (sort === 'relevance') {
    if (kind !== 'r' || typeof value !== 'number' || !Number.isFinite(value)) throw invalid();
    return { sort, rank: value, id };
  }
  if (kind !== sort[0] || typeof value !== 'string' || !instant.test(value)) throw invalid();
  return { sort, at: value, id };
}

/** ts_headline output (with private-use markers) → plain-text segments. */
export function toSnippet(headline: string): SearchSnippet {
  const segments: SearchSnippet = [];
  let rest = headline;
  while (rest.length > 0) {
    const start = rest.indexOf(HIGHLIGHT_START);
    if (start === -1) {
      segments.push({ text: rest, highlighted: false });
      break;
    }
    if (start > 0) segments.push({ text: rest.slice(0, start), highlighted: false });
    const stop = rest.indexOf(HIGHLIGHT_STOP, start + 1);
    const end = stop === -1 ? rest.length : stop;
    const word = rest.slice(start + 1, end);
    if (word) segments.push({ text: word, highlighted: true });
    rest = stop === -1 ? '' : rest.slice(stop + 1);
  }
  // Adjacent segments of the same kind merge (ts_headline marks each word of a phrase).
  return segments.reduce<SearchSnippet>((out, s) => {
    const last = out.at(-1);
    if (last && last.highlighted === s.highlighted) last.text += s.text;
    else out.push({ ...s });
    return out;
  }, []);
}

export class SearchService {
  private readonly configs = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly channels: ChannelsService,
    private readonly channelTypes: ChannelTypesService,
    /** Chains the batches of a re-index (absent: reindexBatch does one batch only). */
    private readonly jobs?: JobSystem,
  ) {}

  /**
   * One batch of the re-index that a search_language change enqueued (job `search.reindex`):
   * REINDEX_BATCH messages at most, in one transaction that also enqueues the next batch (a job id
   * derived from the cursor, so a retried batch does not enqueue it twice). Stops when the app's
   * language is no longer the job's (a newer change enqueued its own re-index) or at the end.
   */
  async reindexBatch(data: JobData<'search.reindex'>): Promise<{ updated: number; done: boolean }> {
    const limit = data.batch_size ?? REINDEX_BATCH;
    // Before the transaction: it reads through this.db (PGlite has one connection).
    const config = await this.configFor(data.language);
    return this.db.transaction().execute(async (tx) => {
      // Locks the app row: a concurrent language change waits, then its own job takes over.
      const app = await tx
        .selectFrom('apps')
        .select('settings')
        .where('id', '=', data.app_id)
        .forShare()
        .executeTakeFirst();
      if (!app || AppSettings.parse(app.settings ?? {}).search_language !== data.language)
        return { updated: 0, done: true };
      const batch = await searchRepository.reindexBatch(tx, data.app_id, config, data.after, limit);
      // A short batch was the last one.
      if (!batch.last || batch.scanned < limit || !this.jobs) return { updated: batch.updated, done: true };
      const next = { ...data, after: batch.last };
      await this.jobs.send(tx, 'search.reindex', next, {
        idempotencyKey: `${data.app_id} ${data.language} ${batch.last.cid} ${batch.last.id}`,
      });
      return { updated: batch.updated, done: false };
    });
  }

  /**
   * Full-text search over the messages of the channels the user can read (their memberships the
   * channel policy allows to read, plus channels named in `cids` that the policy lets them read
   * without joining), newest or most relevant first, with cursor pagination.
   */
  async search(ctx: RequestContext, body: z.output<typeof SearchBody>): Promise<SearchResponse> {
    const appId = ctx.app.id;
    const userId = actingUserId(ctx, body.user_id);
    const user =
      ctx.actor.kind === 'user'
        ? ctx.actor.user
        : await this.channels.requireUser(this.db, appId, userId, 'user_id');
    if (
      body.created_after &&
      body.created_before &&
      Date.parse(body.created_after) > Date.parse(body.created_before)
    )
      throw new AppError('VALIDATION_FAILED', 'created_after is after created_before', {
        field: 'created_after',
      });
    if (body.parent_id && body.is_reply === false)
      throw new AppError('VALIDATION_FAILED', 'parent_id finds replies: is_reply cannot be false', {
        field: 'is_reply',
      });
    const cursor = body.next ? decodeCursor(body.next, body.sort) : undefined;

    const memberships = await syncRepository.membershipsOf(this.db, appId, userId);
    const wanted = body.cids ? new Set(body.cids) : null;
    const types = new Map<string, ChannelTypeConfig | null>();
    const configOf = async (cid: string) => {
      const type = cid.split(':')[0]!;
      if (!types.has(type)) {
        // An unknown type in `cids` is a channel the user cannot read: left out, like the others.
        const config = await this.channelTypes.config(this.db, appId, type).catch((error: unknown) => {
          if (error instanceof AppError) return null;
          throw error;
        });
        types.set(type, config);
      }
      return types.get(type)!;
    };
    const actor = { kind: 'user' as const, user };
    const cids: string[] = [];
    for (const m of memberships) {
      if (wanted && !wanted.has(m.cid)) continue;
      const config = await configOf(m.cid);
      if (config && can('read', { actor, config, membership: m })) cids.push(m.cid);
    }
    // Channels the user has not joined are searched only when named in `cids` and the policy lets
    // a non-member read them (public_read channel types; app admins and moderators): naming them is
    // the "livestream" case. Never all of them: that would scan every public channel of the app.
    if (wanted) {
      const joined = new Set(memberships.map((m) => m.cid));
      for (const cid of wanted) {
        if (joined.has(cid)) continue;
        const config = await configOf(cid);
        if (config && can('read', { actor, config, membership: null })) cids.push(cid);
      }
    }
    if (cids.length === 0) return { results: [], next: null };

    const hits = await searchRepository.search(this.db, appId, {
      config: await this.textSearchConfig(ctx),
      query: body.query,
      viewerId: userId,
      cids,
      authorId: body.author_id,
      hasAttachments: body.has_attachments,
      createdAfter: body.created_after,
      createdBefore: body.created_before,
      parentId: body.parent_id,
      isReply: body.is_reply,
      sort: body.sort,
      cursor,
      limit: body.limit + 1,
    });
    const page = hits.slice(0, body.limit);
    const rows = page.length
      ? await this.db
          .selectFrom('messages')
          .select(messageColumns)
          .where('app_id', '=', appId)
          .where(
            'id',
            'in',
            page.map((h) => h.id),
          )
          .execute()
      : [];
    const messages = new Map((await enrich(this.db, appId, rows, userId)).map((m) => [m.id, m]));
    const results = page.flatMap((hit) => {
      const message = messages.get(hit.id);
      return message ? [{ message, snippet: toSnippet(hit.headline), rank: hit.rank }] : [];
    });
    const last = page.at(-1);
    const next =
      hits.length > body.limit && last
        ? encodeCursor(
            body.sort === 'relevance'
              ? { sort: 'relevance', rank: last.rank, id: last.id }
              : { sort: body.sort, at: last.created_at, id: last.id },
          )
        : null;
    return { results, next };
  }

  /** The app's search_language if the database has that configuration, else `simple`. */
  async textSearchConfig(ctx: RequestContext): Promise<string> {
    return this.configFor(AppSettings.parse(ctx.app.settings ?? {}).search_language);
  }

  /** `language` if the database has that text search configuration, else `simple`. */
  private async configFor(language: string): Promise<string> {
    let config = this.configs.get(language);
    if (!config) {
      config = (await searchRepository.textSearchConfig(this.db, language)) ?? 'simple';
      this.configs.set(language, config);
    }
    return config;
  }
}
