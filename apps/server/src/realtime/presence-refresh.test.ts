import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../test-support/harness.js';
import {
  connectCentrifuge,
  eventually,
  listenForGateway,
  subscribed,
} from '../test-support/realtime-clients.js';
import { MemoryBroker } from './broker.memory.js';
import { presenceKey } from './realtime.service.js';
import { watchKey } from './watchers.js';

// Presence and watcher entries live for the broker's TTL (1 s here) unless the node refreshes them;
// the node refreshes every 25 s in production, the test calls the refresh itself.
const broker = new MemoryBroker({ presenceTtlSeconds: 1 });
let server: TestServer;
let app: TestApp;
let url: string;
const disconnects: (() => void)[] = [];

beforeAll(async () => {
  server = await createTestServer({}, { broker });
  app = await server.createApp();
  url = await listenForGateway(server, app.apiKey);
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  await app.server.post('/channels', { type: 'messaging', id: 'refresh', members: ['alice', 'bob'] });
});
afterAll(async () => {
  for (const disconnect of disconnects) disconnect();
  await server?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function entries() {
  const watching = await broker.presence(watchKey(app.id, 'messaging:refresh'));
  const online = await broker.presence(presenceKey(app.id, 'alice'));
  return { watching: Object.values(watching).map((e) => e.user), online: Object.keys(online).length };
}

describe('presence refresh', () => {
  it("keeps a connected session's presence and watcher entries alive past the TTL, and only those", async () => {
    const { client } = await connectCentrifuge(url, await app.token('alice'));
    disconnects.push(() => client.disconnect());
    await subscribed(client.newSubscription('chat:channel:messaging:refresh'));
    await eventually(async () => (await entries()).watching.length === 1);
    expect(await entries()).toEqual({ watching: ['alice'], online: 1 });
    // A stale entry of a session this node no longer has: refreshing must not bring it back.
    await broker.addPresence(watchKey(app.id, 'messaging:refresh'), 'gone-session', {
      user: 'bob',
      client: 'gone-session',
    });

    const refresh = () =>
      (server.parley.realtime as unknown as { refreshUserPresence(): Promise<void> }).refreshUserPresence();
    for (let i = 0; i < 3; i++) {
      await sleep(600);
      await refresh();
    }
    // 1.8 s after the entries were written: only refreshed ones are left.
    expect(await entries()).toEqual({ watching: ['alice'], online: 1 });

    // Without refreshes they expire.
    await sleep(1_200);
    expect(await entries()).toEqual({ watching: [], online: 0 });
  });
});
