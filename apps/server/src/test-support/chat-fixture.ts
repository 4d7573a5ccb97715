import type { ParleyEvent } from '@parley/protocol';
import { expect } from 'vitest';
import { type ApiClient, createTestServer, type TestApp, type TestServer } from './harness.js';

/**
 * A server with one app, the users named (first one owns the channels `channel` makes) and an
 * event log: the common setup of the message-feature tests (pins, stars, drafts, reminders,
 * scheduled messages, edit history).
 */
export interface ChatFixture {
  server: TestServer;
  app: TestApp;
  users: Record<string, ApiClient>;
  events: ParleyEvent[];
  eventsOf<T extends ParleyEvent['type']>(type: T): Extract<ParleyEvent, { type: T }>[];
  /** Creates `type:id` with `members` (the first is its creator and owner). */
  channel(id: string, members: string[], type?: string): Promise<{ cid: string; path: string }>;
  send(
    user: string,
    path: string,
    text: string,
    extra?: Record<string, unknown>,
  ): Promise<{ id: string; seq: number; cid: string; text: string }>;
  close(): Promise<void>;
}

export async function chatFixture(
  users: { id: string; role?: string }[],
  env: Partial<Record<string, string>> = {},
): Promise<ChatFixture> {
  const server = await createTestServer(env);
  const app = await server.createApp();
  const events: ParleyEvent[] = [];
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) events.push(e);
  });
  const created = await app.server.post('/users', { users });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  const clients: Record<string, ApiClient> = {};
  for (const u of users) clients[u.id] = await app.as(u.id);
  return {
    server,
    app,
    users: clients,
    events,
    eventsOf: <T extends ParleyEvent['type']>(type: T) =>
      events.filter((e): e is Extract<ParleyEvent, { type: T }> => e.type === type),
    async channel(id, members, type = 'messaging') {
      const res = await app.server.post('/channels', { type, id, members, created_by: members[0] });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return { cid: `${type}:${id}`, path: `/channels/${type}/${id}` };
    },
    async send(user, path, text, extra = {}) {
      const res = await clients[user]!.post(`${path}/messages`, { text, ...extra });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.message;
    },
    close: () => server.close(),
  };
}

/** An id no message has. */
export const UNKNOWN_ID = '0190a0a0-0000-7000-8000-000000000000';

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
