import type { Broker } from './broker.js';

/**
 * Who is watching a chat channel right now, on any node: a presence set per channel in the broker
 * (Redis when configured, so every process sees every node's sockets), kept for every
 * subscription to `chat:channel:{cid}` — also for invisible users and channel types without
 * connect events, because it is never shown to clients. Push asks it to skip users who see a
 * message live. Entries expire with the broker's presence TTL unless the node refreshes them, so a
 * dead node's sockets stop counting.
 */
export interface ChannelWatchers {
  /** Ids of the users subscribed to the channel on a live socket. */
  watching(appId: string, cid: string): Promise<Set<string>>;
}

export const watchKey = (appId: string, cid: string) => `${appId}/__watch:${cid}`;

export class BrokerChannelWatchers implements ChannelWatchers {
  constructor(private readonly broker: Broker) {}

  add(appId: string, cid: string, sessionId: string, userId: string) {
    return this.broker.addPresence(watchKey(appId, cid), sessionId, { user: userId, client: sessionId });
  }

  remove(appId: string, cid: string, sessionId: string) {
    return this.broker.removePresence(watchKey(appId, cid), sessionId);
  }

  async watching(appId: string, cid: string): Promise<Set<string>> {
    const entries = await this.broker.presence(watchKey(appId, cid));
    return new Set(Object.values(entries).map((info) => info.user));
  }
}

/** For processes that cannot see sockets (a worker without Redis): nobody is watching. */
export const noWatchers: ChannelWatchers = { watching: async () => new Set() };
