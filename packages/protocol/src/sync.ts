import { z } from 'zod';
import { Cid, IsoDate, UserId } from './common.js';
import { EVENT_NAMES, EventMap, type ParleyEvent } from './events.js';

/** Most events one sync answers with; more since last_sync_at → resync_required. */
export const SYNC_MAX_EVENTS = 250;
/** Oldest last_sync_at a sync accepts (and how long the server keeps its event log), in days. */
export const SYNC_MAX_AGE_DAYS = 30;
/** Most channels one sync request may name. */
export const SYNC_MAX_CHANNELS = 1000;

/** An ISO 8601 date-time with an offset (`Z` or ±hh:mm), up to microsecond precision. */
export const SyncTimestamp = z
  .string()
  .max(64)
  .regex(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/,
    'an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00.000Z',
  )
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid date');

export const SyncBody = z
  .object({
    /**
     * Events committed after this instant are returned. Pass the `last_sync_at` of the previous
     * answer, or the `created_at` of the latest event the client applied (an event's created_at is
     * never after its commit, so nothing is missed; a few events may come again, which reducers
     * ignore).
     */
    last_sync_at: SyncTimestamp,
    /** Only these channels (and the user's own notifications); default: every channel of the user. */
    channel_cids: z.array(Cid).max(SYNC_MAX_CHANNELS).optional(),
    /** Server-side calls sync as this user. */
    user_id: UserId.optional(),
  })
  .strict();
export type SyncBody = z.input<typeof SyncBody>;

const envelope = { id: z.string(), app_id: z.string(), created_at: IsoDate };

/** One event exactly as realtime delivers it: its EventMap payload plus id, type, app and time. */
export const SyncEvent = z.discriminatedUnion(
  'type',
  EVENT_NAMES.map((name) => EventMap[name].extend({ ...envelope, type: z.literal(name) })) as unknown as [
    z.ZodObject,
    ...z.ZodObject[],
  ],
) as unknown as z.ZodType<ParleyEvent>;

export const SyncResyncReason = z.enum(['too_old', 'too_many_events', 'history_pruned']);

/**
 * The answer to POST /sync (always 200 for a valid request).
 * - `resync_required: false`: `events` are every event the user may see since last_sync_at, in
 *   commit order; apply them in order, then use `last_sync_at` for the next sync.
 * - `resync_required: true` (`reason` says why; `events` is empty): the gap is too large to replay.
 *   Refetch the channels over REST, then sync next time from this answer's `last_sync_at`.
 */
export const SyncResponse = z.object({
  events: z.array(SyncEvent),
  resync_required: z.boolean(),
  reason: SyncResyncReason.nullable(),
  /** Where the answer ends: the commit time of its last event (or of the log head). Opaque; send it back. */
  last_sync_at: z.string(),
});
export type SyncResponse = z.infer<typeof SyncResponse>;
