import type { Centrifuge, PublicationContext } from 'centrifuge';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from './harness.js';
import { connectCentrifuge, listenForGateway, subscribed } from './realtime-clients.js';

/**
 * Test support for realtime tests: a server listening on 127.0.0.1 with one app, set up by
 * `setUp` (users, channels), and `listen()` to collect what a user's client receives on a gateway
 * channel. Clients are disconnected after each test. Call at the top of a test file; the fields
 * are set once its beforeAll has run.
 */
export interface GatewayFixture {
  readonly server: TestServer;
  readonly app: TestApp;
  /** The gateway's WebSocket URL for the app. */
  readonly url: string;
  /** Subscribes a client of `userId` to `channel`; the array fills with its publications. */
  listen(userId: string, channel: string): Promise<PublicationContext[]>;
}

export function useGatewayFixture(setUp: (app: TestApp) => Promise<void>): GatewayFixture {
  const clients: Centrifuge[] = [];
  const fixture = {
    async listen(userId: string, channel: string) {
      const { client } = await connectCentrifuge(fixture.url, await fixture.app.token(userId));
      clients.push(client);
      const sub = client.newSubscription(channel);
      const received: PublicationContext[] = [];
      sub.on('publication', (ctx) => received.push(ctx));
      await subscribed(sub);
      return received;
    },
  } as { -readonly [K in keyof GatewayFixture]: GatewayFixture[K] };

  beforeAll(async () => {
    fixture.server = await createTestServer();
    fixture.app = await fixture.server.createApp();
    fixture.url = await listenForGateway(fixture.server, fixture.app.apiKey);
    await setUp(fixture.app);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await fixture.server?.close();
  });

  return fixture;
}
