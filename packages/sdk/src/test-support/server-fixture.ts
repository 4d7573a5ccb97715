import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import WebSocket from 'ws';
import {
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../../../apps/server/src/test-support/harness.js';
import { ParleyClient, type ParleyClientOptions } from '../client.js';
import { TcpProxy } from './proxy.js';

/**
 * Test support for SDK integration tests: a real server (PGlite or Postgres) listening on
 * 127.0.0.1 with one app and its users, plus clients and TCP proxies that are closed after each
 * test. Call at the top of a test file; the fields are set once its beforeAll has run.
 */
export interface ServerFixture {
  readonly server: TestServer;
  readonly app: TestApp;
  /** The server's own URL (not through a proxy). */
  readonly baseUrl: string;
  /** Creates a messaging channel `id` of `members` (the first creates it). */
  channel(id: string, members?: string[]): Promise<void>;
  /** A client of the app (disconnected after the test). */
  client(opts?: Partial<ParleyClientOptions>): ParleyClient;
  /** A client connected as `userId`. */
  connected(userId: string, opts?: Partial<ParleyClientOptions>): Promise<ParleyClient>;
  /** A TCP proxy in front of the server (stopped after the test). */
  proxy(): Promise<TcpProxy>;
}

export interface ServerFixtureOptions {
  users: string[];
  /** Default members of `channel()`. */
  members?: string[];
  /** Server configuration, read when the server starts. */
  env?: () => Record<string, string>;
  /** Runs once the app and its users exist. */
  setUp?: (app: TestApp) => Promise<void>;
}

export function useServerFixture(options: ServerFixtureOptions): ServerFixture {
  const clients: ParleyClient[] = [];
  const proxies: TcpProxy[] = [];
  const defaultMembers = options.members ?? ['alice', 'bob'];
  const fixture = {
    async channel(id: string, members = defaultMembers) {
      const res = await fixture.app.server.post('/channels', {
        type: 'messaging',
        id,
        members,
        created_by: members[0],
      });
      expect(res.status).toBe(201);
    },
    client(opts: Partial<ParleyClientOptions> = {}) {
      const c = new ParleyClient(fixture.app.apiKey, {
        baseUrl: fixture.baseUrl,
        WebSocket,
        reconnect: { minDelay: 20, maxDelay: 200 },
        ...opts,
      });
      clients.push(c);
      return c;
    },
    async connected(userId: string, opts: Partial<ParleyClientOptions> = {}) {
      const c = fixture.client(opts);
      await c.connectUser({ id: userId }, () => fixture.app.token(userId));
      expect(c.connectionState).toBe('connected');
      return c;
    },
    async proxy() {
      const p = new TcpProxy(Number(new URL(fixture.baseUrl).port));
      await p.start();
      proxies.push(p);
      return p;
    },
  } as { -readonly [K in keyof ServerFixture]: ServerFixture[K] };

  beforeAll(async () => {
    fixture.server = await createTestServer(options.env?.());
    fixture.baseUrl = await fixture.server.parley.http.listen({ port: 0, host: '127.0.0.1' });
    fixture.app = await fixture.server.createApp();
    await fixture.app.server.post('/users', { users: options.users.map((id) => ({ id })) });
    await options.setUp?.(fixture.app);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.disconnectUser();
    for (const p of proxies.splice(0)) await p.stop();
  });

  afterAll(async () => {
    await fixture.server?.close();
  });

  return fixture;
}
