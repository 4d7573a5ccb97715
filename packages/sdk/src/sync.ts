import type { ServerEvent } from './state/types.js';

/** What a sync source answers: the events since `since`, or that the client must refetch. */
export type SyncAnswer = { events: ServerEvent[] } | { resync_required: true };

/**
 * Catches a client up on channels whose realtime history was lost (the gateway answered a
 * reconnect with `recovered: false`).
 *
 * Contract: `sync` returns, in the order they happened, every event of the given channels
 * created after `since` (the created_at of the last event the client applied), or
 * `resync_required` when it cannot (too long ago, too many events). It never returns a partial
 * list: the client applies the events through its reducers, or refetches the channels.
 *
 * The server has no `/sync` endpoint yet: the default source always answers `resync_required`,
 * so the client refetches the watched channels over REST.
 */
export interface SyncSource {
  sync(request: { since: string; cids: string[] }): Promise<SyncAnswer>;
}

export const refetchOnly: SyncSource = {
  async sync() {
    return { resync_required: true };
  },
};
