import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  freshPostgresDatabase,
  SERVER_ENTRY,
  type ServerProcess,
  startServerProcess,
} from '../../../test/support/processes.js';
import { ParleyClient } from './client.js';
import { MemoryStore } from './stores/memory.js';
import { eventually, TcpProxy } from './test-support/proxy.js';

/**
 * The SDK against the built server as a child process (`node apps/server/dist/main.js`, built by
 * `npm test`), restarted while the client has messages queued. The server keeps realtime history
 * in memory (no REDIS_URL), so a restart loses it: the client must catch up through POST /sync.
 * On PGlite in a temp data dir, or on a fresh PostgreSQL database when DATABASE_URL is set.
 */
const DATABASE_URL = process.env.DATABASE_URL;
if (!existsSync(SERVER_ENTRY)) throw new Error(`${SERVER_ENTRY} is missing: build first (npm run build)`);

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function storage(): Promise<Record<string, string>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'parley-sdk-process-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const env: Record<string, string> = { PARLEY_DATA_DIR: path.join(dir, 'data') };
  if (DATABASE_URL) {
    const db = await freshPostgresDatabase(DATABASE_URL);
    cleanup.push(() => db.drop());
    env.DATABASE_URL = db.url;
  }
  return env;
}

describe('the SDK across a server restart (child process)', () => {
  it('replays the offline queue in order, exactly once, and catches up through /sync after the restart', async () => {
    const env = { ...(await storage()), PORT: String(await freePort()) };
    let proc: ServerProcess = await startServerProcess(env, 120_000);
    cleanup.push(() => proc.stop('SIGKILL'));
    const apiKey = /Demo app api key:\s+(\S+)/.exec(proc.output())![1]!;
    const baseUrl = proc.url;
    const token = (userId: string) => async () => {
      const res = await fetch(`${baseUrl}/auth/dev-token`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: userId }),
      });
      if (!res.ok) throw new Error(`dev-token: ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    };
    // The network between the client and the server, cut while the server restarts.
    const link = new TcpProxy(Number(new URL(baseUrl).port));
    await link.start();
    cleanup.push(() => link.stop());
    const calls: string[] = [];
    const countingFetch: typeof fetch = (input, init) => {
      calls.push(
        `${init?.method ?? 'GET'} ${new URL(String(input instanceof Request ? input.url : input)).pathname}`,
      );
      return fetch(input, init);
    };

    const alice = new ParleyClient(apiKey, {
      baseUrl: link.url,
      WebSocket,
      fetch: countingFetch,
      store: new MemoryStore(),
      reconnect: { minDelay: 50, maxDelay: 300 },
    });
    cleanup.push(() => alice.disconnectUser());
    await alice.connectUser({ id: 'alice' }, token('alice'));
    const general = alice.channel('messaging', 'general');
    await general.watch();
    const seeded = general.messages.length;
    const bobToken = await token('bob')();
    const asBob = (text: string) =>
      fetch(`${baseUrl}/channels/messaging/general/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': apiKey,
          authorization: `Bearer ${bobToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ text }),
      }).then(async (r) => {
        expect(r.status).toBe(201);
        return ((await r.json()) as { message: { id: string } }).message;
      });
    await asBob('bob live');
    await eventually(() => expect(general.messages.at(-1)?.text).toBe('bob live'));
    await general.sendMessage({ text: 'alice 1' });

    // Offline: queued, shown as sending.
    await link.stop();
    await eventually(() => expect(alice.connectionState).toBe('offline'), 30_000);
    void general.sendMessage({ text: 'alice 2 (queued)' });

    // The server restarts (its in-memory realtime history is gone); more is queued meanwhile.
    expect(await proc.stop('SIGTERM')).toBe(0);
    void general.sendMessage({ text: 'alice 3 (queued during the restart)' });
    proc = await startServerProcess(env, 120_000);
    expect(proc.url).toBe(baseUrl);
    await asBob('bob while alice was away');
    void general.sendMessage({ text: 'alice 4 (queued)' });
    expect(general.messages.slice(seeded).map((m) => [m.text, m.status])).toEqual([
      ['bob live', 'sent'],
      ['alice 1', 'sent'],
      ['alice 2 (queued)', 'sending'],
      ['alice 3 (queued during the restart)', 'sending'],
      ['alice 4 (queued)', 'sending'],
    ]);

    const syncsBefore = calls.filter((c) => c === 'POST /sync').length;
    await link.start();
    // Generous deadlines: they bound a hung replay on a loaded machine, they do not time it.
    await eventually(() => expect(alice.outbox).toEqual([]), 90_000);
    await eventually(() => expect(alice.connectionState).toBe('connected'), 90_000);
    await eventually(
      () =>
        expect(general.messages.slice(seeded).map((m) => m.text)).toEqual([
          'bob live',
          'alice 1',
          'bob while alice was away',
          'alice 2 (queued)',
          'alice 3 (queued during the restart)',
          'alice 4 (queued)',
        ]),
      30_000,
    );
    expect(general.messages.every((m) => m.status === 'sent')).toBe(true);
    // Bob's message came through /sync (the restarted gateway could not recover the channel).
    expect(calls.filter((c) => c === 'POST /sync').length).toBeGreaterThan(syncsBefore);

    // On the server: each queued message exactly once, in the order it was written.
    const stored = (await alice.rest.listMessages('messaging', 'general', { limit: 100 })).messages;
    expect(stored.slice(seeded).map((m) => m.text)).toEqual(
      general.messages.slice(seeded).map((m) => m.text),
    );
    expect(stored.map((m) => m.id)).toEqual(general.messages.map((m) => m.id));
  }, 300_000);
});
