import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
// Only the package's public entry point (aliased to src/index.ts, as `@parley/sdk` resolves for users).
import { MemoryStore, ParleyApiError, ParleyClient, reduce, Store, selectMessages } from '@parley/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../../apps/server/src/test-support/harness.js';

let server: TestServer;
let app: TestApp;
let baseUrl: string;

beforeAll(async () => {
  server = await createTestServer();
  baseUrl = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
  app = await server.createApp();
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
});
afterAll(() => server?.close());

describe('@parley/sdk public entry point', () => {
  it('exports the client, the store, the reducers and the errors', () => {
    expect(typeof ParleyClient).toBe('function');
    expect(typeof reduce).toBe('function');
    expect(typeof selectMessages).toBe('function');
    expect(new Store().getState().userId).toBeNull();
    expect(new ParleyApiError(404, { code: 'NOT_FOUND', message: 'gone' }).code).toBe('NOT_FOUND');
  });

  it('runs the quickstart of docs/guides/sdk.md', async () => {
    const client = new ParleyClient(app.apiKey, { baseUrl, WebSocket, store: new MemoryStore() });
    await client.connectUser({ id: 'alice', name: 'Alice' }, () => app.token('alice'));
    const created = await client.rest.createChannel({
      type: 'messaging',
      id: 'quickstart',
      members: ['alice', 'bob'],
    });
    expect(created.channel.channel.cid).toBe('messaging:quickstart');
    const channel = client.channel('messaging', 'quickstart');
    await channel.watch();
    const seen: string[] = [];
    const off = client.store.select(
      (state) => selectMessages(state, channel.cid),
      (messages) => seen.push(messages.map((m) => `${m.text}:${m.status}`).join(',')),
    );
    client.on('message.new', (event) => expect(event.cid).toBe('messaging:quickstart'));
    await channel.sendMessage({ text: 'Hello from the SDK' });
    off();
    expect(seen).toEqual(['', 'Hello from the SDK:sending', 'Hello from the SDK:sent']);
    expect(client.store.getState().users.alice?.name).toBe('Alice');
    await client.disconnectUser();
    expect(client.connectionState).toBe('disconnected');
  });

  it('has no Node-only imports outside tests (the same code runs in browsers and React Native)', () => {
    const sources: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'test-support') walk(path);
        } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) sources.push(path);
      }
    };
    walk(import.meta.dirname);
    expect(sources.length).toBeGreaterThan(10);
    for (const file of sources) {
      const imports = [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      const foreign = imports.filter(
        (i) => !i.startsWith('.') && !['@parley/protocol', 'centrifuge', 'dexie', 'zod'].includes(i),
      );
      expect({ file, foreign }).toEqual({ file, foreign: [] });
    }
  });
});
