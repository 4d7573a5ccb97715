import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }, { id: 'eve' }] });
  const res = await app.server.post('/channels', {
    type: 'messaging',
    id: 'general',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(res.status).toBe(201);
});
afterAll(() => server?.close());

describe('sending messages', () => {
  it('assigns increasing seq numbers and UUIDv7 ids', async () => {
    const alice = await app.as('alice');
    const a = await alice.post('/channels/messaging/general/messages', { text: 'one' });
    const b = await alice.post('/channels/messaging/general/messages', { text: 'two' });
    expect(a.status).toBe(201);
    expect(b.body.message.seq).toBe(a.body.message.seq + 1);
    expect(a.body.message.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('100 concurrent sends with one client_msg_id make one row and return the same message to all', async () => {
    const alice = await app.as('alice');
    const events: string[] = [];
    const unsubscribe = server.parley.bus.subscribe((e) => {
      if (e.type === 'message.new' && e.message.client_msg_id === 'dup-1') events.push(e.message.id);
    });
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        alice.post('/channels/messaging/general/messages', { text: 'once', client_msg_id: 'dup-1' }),
      ),
    );
    unsubscribe();
    const ids = new Set(results.map((r) => r.body.message.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    expect(events).toEqual([...ids]);
    const { count } = await server.database.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('app_id', '=', app.id)
      .where('client_msg_id', '=', 'dup-1')
      .executeTakeFirstOrThrow();
    expect(Number(count)).toBe(1);
  });

  it('refuses non-members with 403', async () => {
    const eve = await app.as('eve');
    const res = await eve.post('/channels/messaging/general/messages', { text: 'hi' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('FORBIDDEN');
  });
});
