import type { RestClient } from './rest.js';
import type { ServerEvent } from './state/types.js';

/**
 * What a sync source answers: the events since `since` (and where the next sync starts), or that
 * the client must refetch (`last_sync_at` then says where to sync from after the refetch).
 */
export type SyncAnswer =
  | { events: ServerEvent[]; last_sync_at?: string }
  | { resync_required: true; last_sync_at?: string };

/**
 * Catches a client up on channels whose realtime history was lost (the gateway answered a
 * reconnect, or a subscribe from a position saved before a reload, with `recovered: false`).
 *
 * Contract: `sync` returns, in the order they were committed, every event of the given channels
 * (and of the user's own notifications) created after `since`, or `resync_required` when it
 * cannot (too long ago, too many events, history pruned). It never returns a partial list: the
 * client applies the events through its reducers, or refetches the channels. Events that come
 * twice are harmless (the reducers are idempotent). A failure (offline, an old server without
 * `/sync`) makes the client refetch.
 */
export interface SyncSource {
  sync(request: { since: string; cids: string[] }): Promise<SyncAnswer>;
}

/** Never syncs: the client always refetches the channels over REST. */
export const refetchOnly: SyncSource = {
  async sync() {
    return { resync_required: true };
  },
};

/** The server's `POST /sync` (the default). */
export function restSync(rest: RestClient): SyncSource {
  return {
    async sync({ since, cids }) {
      const answer = await rest.sync({ last_sync_at: since, channel_cids: cids });
      return answer.resync_required
        ? { resync_required: true, last_sync_at: answer.last_sync_at }
        : { events: answer.events as ServerEvent[], last_sync_at: answer.last_sync_at };
    },
  };
}
