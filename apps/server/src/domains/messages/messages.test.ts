import type { ParleyEvent } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  type ApiResponse,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { type QueryCounter, queryCounter } from '../../test-support/query-counter.js';

let server: TestServer;
let app: TestApp;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let eve: ApiClient;
let adm: ApiClient;
const seen: ParleyEvent[] = [];

interface Msg {
  id: string;
  seq: number;
  text: string;
  type: string;
  user_id: string;
  parent_id: string | null;
  edited_at: string | null;
  deleted_at: string | null;
}

/** Creates `type:id` owned by alice with bob and carol (a channel moderator) as members. */
async function channel(id: string, extra: Record<string, unknown> = {}, type = 'messaging') {
  const res = await alice.post('/channels', { type, id, members: ['bob', 'carol'], ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect((await alice.patch(`/channels/${type}/${id}/members/carol`, { role: 'moderator' })).status).toBe(
    200,
  );
  return `/channels/${type}/${id}`;
}

async function send(client: ApiClient, path: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await client.post(`${path}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as Msg;
}

const texts = (res: ApiResponse) => {
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.messages as Msg[]).map((m) => m.text);
};

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  await app.server.post('/users', {
    users: [{ id: 'alice' }, { id: 'bob' }, { id: 'carol' }, { id: 'eve' }, { id: 'adm', role: 'admin' }],
  });
  [alice, bob, carol, eve, adm] = (await Promise.all(
    ['alice', 'bob', 'carol', 'eve', 'adm'].map((u) => app.as(u)),
  )) as [ApiClient, ApiClient, ApiClient, ApiClient, ApiClient];
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

describe('send rules', () => {
  it('refuses text over the channel type max_message_length with 400 MESSAGE_TOO_LONG', async () => {
    const type = await app.server.post('/channel-types', {
      name: 'short',
      config: { max_message_length: 10 },
    });
    expect(type.status).toBe(201);
    const path = await channel('short-1', {}, 'short');
    const res = await bob.post(`${path}/messages`, { text: 'x'.repeat(11) });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'MESSAGE_TOO_LONG', details: { field: 'text' } });
    await send(bob, path, 'x'.repeat(10));
    // Characters, not UTF-16 code units: ten emoji fit in ten.
    await send(bob, path, '😀'.repeat(10));
    const msg = await send(bob, path, 'short');
    const edit = await bob.patch(`/messages/${msg.id}`, { text: 'y'.repeat(11) });
    expect(edit.status).toBe(400);
    expect(edit.body).toMatchObject({ code: 'MESSAGE_TOO_LONG', details: { field: 'text' } });
  });

  it('refuses an empty message with MESSAGE_EMPTY; attachments alone are fine', async () => {
    const path = await channel('empty');
    for (const body of [{}, { text: '' }, { text: '  \n ' }]) {
      const res = await bob.post(`${path}/messages`, body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'MESSAGE_EMPTY', details: { field: 'text' } });
    }
    const withImage = await bob.post(`${path}/messages`, {
      attachments: [{ type: 'image', url: 'https://img.example.com/cat.png' }],
    });
    expect(withImage.status).toBe(201);
    const blank = await bob.patch(`/messages/${withImage.body.message.id}`, { attachments: [] });
    expect(blank.status).toBe(400);
    expect(blank.body.code).toBe('MESSAGE_EMPTY');
  });

  it('refuses sends to a frozen channel with 403 CHANNEL_FROZEN, except from the server and admins', async () => {
    const path = await channel('frozen', { frozen: true });
    for (const client of [bob, carol, alice]) {
      const res = await client.post(`${path}/messages`, { text: 'brr' });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('CHANNEL_FROZEN');
    }
    expect((await app.server.post(`${path}/messages`, { text: 'notice', user_id: 'bob' })).status).toBe(201);
    expect((await adm.post(`${path}/messages`, { text: 'admin notice' })).status).toBe(201);
  });

  it('slow mode answers 429 SLOW_MODE with Retry-After; owners and moderators are exempt', async () => {
    const path = await channel('slow', { slow_mode_seconds: 3600 });
    const first = await send(bob, path, 'first', { client_msg_id: 'slow-1' });
    const res = await bob.post(`${path}/messages`, { text: 'second' });
    expect(res.status).toBe(429);
    expect(res.body.code).toBe('SLOW_MODE');
    const retry = Number(res.headers['retry-after']);
    expect(retry).toBeGreaterThan(3500);
    expect(retry).toBeLessThanOrEqual(3600);
    expect(res.body.details.retry_after_seconds).toBe(retry);
    // Retrying the send that counted (same client_msg_id) is not a new message: no 429.
    const retried = await bob.post(`${path}/messages`, { text: 'first', client_msg_id: 'slow-1' });
    expect(retried.status).toBe(200);
    expect(retried.body.message.id).toBe(first.id);
    for (const client of [alice, carol, adm]) {
      await send(client, path, 'one');
      await send(client, path, 'two');
    }
    await send(app.server, path, 'one', { user_id: 'bob' });
  });

  it('slow mode also comes from the channel type', async () => {
    await app.server.post('/channel-types', { name: 'slowtype', config: { slow_mode_seconds: 60 } });
    const path = await channel('slow-type', {}, 'slowtype');
    await send(bob, path, 'first');
    expect((await bob.post(`${path}/messages`, { text: 'again' })).status).toBe(429);
    // The channel can switch it off for itself.
    expect((await alice.patch(path, { set: { slow_mode_seconds: 0 } })).status).toBe(200);
    await send(bob, path, 'again');
  });
});

describe('threads and quotes', () => {
  let path: string;
  let parent: Msg;
  beforeAll(async () => {
    path = await channel('threads');
    parent = await send(alice, path, 'parent');
  });

  it('lists thread replies in the channel only with show_in_channel', async () => {
    const hidden = await send(bob, path, 'in thread only', { parent_id: parent.id });
    expect(hidden).toMatchObject({ type: 'reply', parent_id: parent.id });
    await send(bob, path, 'also in channel', { parent_id: parent.id, show_in_channel: true });
    const quote = await send(carol, path, 'quoting', { reply_to_id: hidden.id });
    expect(texts(await bob.get(`${path}/messages`))).toEqual(['parent', 'also in channel', 'quoting']);
    expect((await bob.get(`/messages/${hidden.id}`)).body.message.text).toBe('in thread only');
    expect((await bob.get(`/messages/${quote.id}`)).body.message.reply_to_id).toBe(hidden.id);
  });

  it('answers 404 MESSAGE_NOT_FOUND for an unknown or foreign parent_id / reply_to_id', async () => {
    const elsewhere = await send(alice, '/channels/messaging/general', 'other channel');
    const unknown = '01900000-0000-7000-8000-000000000000';
    for (const field of ['parent_id', 'reply_to_id']) {
      for (const id of [unknown, elsewhere.id]) {
        const res = await bob.post(`${path}/messages`, { text: 'reply', [field]: id });
        expect(res.status, `${field} ${id}`).toBe(404);
        expect(res.body).toMatchObject({ code: 'MESSAGE_NOT_FOUND', details: { field } });
      }
    }
    const notUuid = await bob.post(`${path}/messages`, { text: 'reply', parent_id: 'abc' });
    expect(notUuid.status).toBe(400);
    expect(notUuid.body.details.field).toBe('body.parent_id');
  });

  it('does not nest threads', async () => {
    const reply = await send(bob, path, 'first level', { parent_id: parent.id });
    const res = await bob.post(`${path}/messages`, { text: 'second level', parent_id: reply.id });
    expect(res.status).toBe(400);
    expect(res.body.details.field).toBe('parent_id');
  });
});

describe('pagination', () => {
  let path: string;
  let all: Msg[];
  const N = 250;

  beforeAll(async () => {
    path = await channel('pages');
    // Sent in concurrent batches (the channel row lock orders them); seq gives the order.
    all = [];
    for (let i = 0; i < N; i += 50) {
      const batch = Array.from({ length: Math.min(50, N - i) }, (_, j) => send(bob, path, `m${i + j}`));
      all.push(...(await Promise.all(batch)));
    }
    all.sort((a, b) => a.seq - b.seq);
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: N }, (_, i) => all[0]!.seq + i));
  });

  const list = async (query: string) => {
    const res = await bob.get(`${path}/messages?${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.messages as Msg[];
  };
  const range = (from: number, to: number) => all.slice(from, to).map((m) => m.text);

  it('returns the latest page in ascending order', async () => {
    expect((await list('')).map((m) => m.text)).toEqual(range(N - 50, N));
    expect((await list('limit=7')).map((m) => m.text)).toEqual(range(N - 7, N));
  });

  it('pages with id_lt, id_gt and id_around', async () => {
    expect((await list(`id_lt=${all[100]!.id}&limit=5`)).map((m) => m.text)).toEqual(range(95, 100));
    expect((await list(`id_gt=${all[100]!.id}&limit=5`)).map((m) => m.text)).toEqual(range(101, 106));
    expect((await list(`id_around=${all[100]!.id}&limit=11`)).map((m) => m.text)).toEqual(range(95, 106));
    expect((await list(`id_around=${all[0]!.id}&limit=6`)).map((m) => m.text)).toEqual(range(0, 3));
    expect((await list(`id_lt=${all[0]!.id}`)).map((m) => m.text)).toEqual([]);
    expect((await list(`id_gt=${all[N - 1]!.id}`)).map((m) => m.text)).toEqual([]);
  });

  it('walks every message backwards and forwards exactly once, in order', async () => {
    const backwards: Msg[] = [];
    let page = await list('limit=37');
    while (page.length > 0) {
      backwards.unshift(...page);
      page = await list(`id_lt=${page[0]!.id}&limit=37`);
    }
    expect(backwards.map((m) => m.id)).toEqual(all.map((m) => m.id));

    const forwards: Msg[] = [all[0]!];
    page = await list(`id_gt=${all[0]!.id}&limit=41`);
    while (page.length > 0) {
      forwards.push(...page);
      page = await list(`id_gt=${page.at(-1)!.id}&limit=41`);
    }
    expect(forwards.map((m) => m.id)).toEqual(all.map((m) => m.id));
    const seqs = forwards.map((m) => m.seq);
    expect(seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1)).toBe(true);
  });

  it('takes at most 300 per page', async () => {
    expect(await list('limit=300')).toHaveLength(N);
    const res = await bob.get(`${path}/messages?limit=301`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'querystring.limit' } });
    expect((await bob.get(`${path}/messages?limit=0`)).status).toBe(400);
    expect((await bob.get(`${path}/messages?offset=10`)).status).toBe(400);
  });

  it('refuses two cursors at once, and cursors from another channel or unknown', async () => {
    const two = await bob.get(`${path}/messages?id_lt=${all[5]!.id}&id_gt=${all[1]!.id}`);
    expect(two.status).toBe(400);
    expect(two.body.code).toBe('VALIDATION_FAILED');
    const elsewhere = await send(alice, '/channels/messaging/general', 'not here');
    for (const cursor of ['id_lt', 'id_gt', 'id_around']) {
      const res = await bob.get(`${path}/messages?${cursor}=${elsewhere.id}`);
      expect(res.status, cursor).toBe(404);
      expect(res.body).toMatchObject({ code: 'MESSAGE_NOT_FOUND', details: { field: `query.${cursor}` } });
    }
    const unknown = await bob.get(`${path}/messages?id_lt=01900000-0000-7000-8000-000000000000`);
    expect(unknown.status).toBe(404);
    expect((await bob.get(`${path}/messages?id_lt=nope`)).status).toBe(400);
  });
});

describe('get, edit and delete', () => {
  let path: string;
  const eventsOf = (type: ParleyEvent['type'], id: string) =>
    seen.filter((e) => e.type === type && 'message' in e && e.message.id === id);

  beforeAll(async () => {
    path = await channel('edits');
  });

  it('gets a message by id for those who can read the channel', async () => {
    const msg = await send(bob, path, 'hello');
    const res = await alice.get(`/messages/${msg.id}`);
    expect(res.status).toBe(200);
    expect(res.body.message).toMatchObject({ id: msg.id, text: 'hello', user_id: 'bob', seq: msg.seq });
    expect((await eve.get(`/messages/${msg.id}`)).status).toBe(403);
    const missing = await alice.get('/messages/01900000-0000-7000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('MESSAGE_NOT_FOUND');
    expect((await alice.get('/messages/not-a-uuid')).status).toBe(400);
  });

  it('edits own messages (edited_at, message.updated) but not others’ unless server or admin', async () => {
    const msg = await send(bob, path, 'draft', { custom: { mood: 'ok' } });
    expect(msg.edited_at).toBeNull();
    const res = await bob.patch(`/messages/${msg.id}`, { text: 'final' });
    expect(res.status).toBe(200);
    expect(res.body.message).toMatchObject({
      id: msg.id,
      seq: msg.seq,
      text: 'final',
      custom: { mood: 'ok' },
    });
    expect(res.body.message.edited_at).not.toBeNull();
    expect(eventsOf('message.updated', msg.id)).toMatchObject([{ message: { text: 'final' } }]);

    for (const client of [alice, carol]) {
      const refused = await client.patch(`/messages/${msg.id}`, { text: 'hijacked' });
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('FORBIDDEN');
    }
    expect((await adm.patch(`/messages/${msg.id}`, { text: 'by admin' })).status).toBe(200);
    const byServer = await app.server.patch(`/messages/${msg.id}`, { text: 'by server' });
    expect(byServer.status).toBe(200);
    expect((await bob.get(`/messages/${msg.id}`)).body.message.text).toBe('by server');
    expect(eventsOf('message.updated', msg.id)).toHaveLength(3);
  });

  it('soft delete leaves a tombstone with the same id and seq', async () => {
    const msg = await send(bob, path, 'regret', {
      custom: { a: 1 },
      attachments: [{ type: 'link', url: 'https://example.com' }],
    });
    const res = await bob.delete(`/messages/${msg.id}`);
    expect(res.status).toBe(200);
    expect(res.body.message).toMatchObject({
      id: msg.id,
      seq: msg.seq,
      type: 'deleted',
      text: '',
      custom: {},
      attachments: [],
    });
    expect(res.body.message.deleted_at).not.toBeNull();
    const listed = (await bob.get(`${path}/messages`)).body.messages as Msg[];
    expect(listed.find((m) => m.id === msg.id)).toMatchObject({ type: 'deleted', text: '' });
    expect(eventsOf('message.deleted', msg.id)).toMatchObject([{ hard: false }]);

    const edit = await bob.patch(`/messages/${msg.id}`, { text: 'undo' });
    expect(edit.status).toBe(400);
    expect(edit.body.code).toBe('MESSAGE_DELETED');
  });

  it('moderators soft delete others’ messages; plain members may not', async () => {
    const msg = await send(alice, path, 'spam?');
    expect((await bob.delete(`/messages/${msg.id}`)).status).toBe(403);
    expect((await carol.delete(`/messages/${msg.id}`)).body.message.type).toBe('deleted');
  });

  it('hard delete is for the server and admins only', async () => {
    const msg = await send(bob, path, 'gone for good');
    const own = await bob.delete(`/messages/${msg.id}?hard=true`);
    expect(own.status).toBe(403);
    expect((await alice.delete(`/messages/${msg.id}?hard=true`)).status).toBe(403);
    const res = await adm.delete(`/messages/${msg.id}?hard=true`);
    expect(res.status).toBe(200);
    expect((await bob.get(`/messages/${msg.id}`)).status).toBe(404);
    expect(eventsOf('message.deleted', msg.id)).toMatchObject([{ hard: true }]);

    const other = await send(bob, path, 'also gone');
    expect((await app.server.delete(`/messages/${other.id}?hard=true`)).status).toBe(200);
    const row = await server.database.db
      .selectFrom('messages')
      .select('id')
      .where('id', '=', other.id)
      .executeTakeFirst();
    expect(row).toBeUndefined();
    expect((await app.server.delete(`/messages/${other.id}`)).status).toBe(404);
  });
});

describe('payload validation', () => {
  let path: string;
  beforeAll(async () => {
    path = await channel('payloads');
  });

  it('refuses custom data over the app limit', async () => {
    const res = await bob.post(`${path}/messages`, { text: 'big', custom: { blob: 'x'.repeat(6000) } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'CUSTOM_DATA_TOO_LARGE', details: { field: 'custom' } });
    const msg = await send(bob, path, 'small', { custom: { n: 1 } });
    const edit = await bob.patch(`/messages/${msg.id}`, { custom: { blob: 'x'.repeat(6000) } });
    expect(edit.status).toBe(400);
    expect(edit.body.code).toBe('CUSTOM_DATA_TOO_LARGE');
  });

  it('refuses attachments with an invalid shape, naming the field', async () => {
    const cases: [unknown, string][] = [
      [[{ type: 'image', url: 'not a url' }], 'body.attachments.0.url'],
      [
        [{ type: 'image', url: 'https://ok.example.com/a.png' }, { type: 'hologram' }],
        'body.attachments.1.type',
      ],
      [[{ type: 'file', file_size: -1 }], 'body.attachments.0.file_size'],
      [['just a string'], 'body.attachments.0'],
      [{ type: 'image' }, 'body.attachments'],
    ];
    for (const [attachments, field] of cases) {
      const res = await bob.post(`${path}/messages`, { text: 'look', attachments });
      expect(res.status, field).toBe(400);
      expect(res.body.code, field).toBe('VALIDATION_FAILED');
      expect(res.body.details.field, JSON.stringify(res.body)).toBe(field);
    }
    const unknownKey = await bob.post(`${path}/messages`, {
      text: 'look',
      attachments: [{ type: 'image', colour: 'red' }],
    });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.details.field).toMatch(/^body\.attachments\.0/);
    const tooMany = await bob.post(`${path}/messages`, {
      text: 'look',
      attachments: Array.from({ length: 31 }, () => ({ type: 'file' })),
    });
    expect(tooMany.status).toBe(400);
    const ok = await send(bob, path, 'look', {
      attachments: [{ type: 'image', url: 'https://ok.example.com/a.png', width: 10, height: 20 }],
    });
    expect(ok).toMatchObject({ attachments: [{ type: 'image', width: 10, height: 20 }] });
  });
});

describe('group commit (ADR 0016): concurrent plain sends share one transaction', () => {
  it('commits a burst in batches: every send answered, seqs gapless per channel, one event each', async () => {
    const paths = [await channel('burst-a'), await channel('burst-b'), await channel('burst-c')];
    const events: { cid: string; seq: number }[] = [];
    const unsubscribe = server.parley.bus.subscribe((e) => {
      if (e.type === 'message.new' && e.cid.startsWith('messaging:burst-')) events.push(e.message);
    });
    const statements = await queryCounter(server.database).during(() =>
      Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          send([alice, bob, carol][i % 3]!, paths[i % 3]!, `burst ${i}`, { client_msg_id: `burst-${i}` }),
        ),
      ),
    );
    unsubscribe();
    expect(events).toHaveLength(30);
    for (const path of paths) {
      const cid = path.replace('/channels/', '').replace('/', ':');
      const seqs = events.filter((e) => e.cid === cid).map((e) => e.seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].slice(0, seqs.length));
      expect(seqs).toHaveLength(10);
      const listed = (await alice.get(`${path}/messages?limit=50`)).body.messages as Msg[];
      expect(listed.map((m) => m.seq)).toEqual(seqs);
    }
    // Fewer inserts than messages: at least one batch held several sends.
    const inserts = statements.filter((q) => q.startsWith('insert into "messages"'));
    expect(inserts.length).toBeLessThan(30);
    expect(statements.some((q) => q.includes('for update of c'))).toBe(true);
  });

  it('refuses only the sends that break a rule, and answers repeats with the first message', async () => {
    const open = await channel('burst-open');
    const frozen = await channel('burst-frozen', { frozen: true });
    const first = await send(bob, open, 'before the burst', { client_msg_id: 'burst-repeat' });
    const results = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => bob.post(`${open}/messages`, { text: `ok ${i}` })),
      eve.post(`${open}/messages`, { text: 'not a member' }),
      bob.post(`${frozen}/messages`, { text: 'brr' }),
      bob.post(`${open}/messages`, { text: 'x'.repeat(5001) }),
      bob.post(`${open}/messages`, { text: 'again', client_msg_id: 'burst-repeat' }),
      bob.post('/channels/messaging/burst-nowhere/messages', { text: 'lost' }),
    ]);
    const codes = results.map((r) => (r.status >= 400 ? r.body.code : r.status));
    expect(codes).toEqual([
      201,
      201,
      201,
      201,
      201,
      201,
      201,
      201,
      'FORBIDDEN',
      'CHANNEL_FROZEN',
      'MESSAGE_TOO_LONG',
      200,
      'CHANNEL_NOT_FOUND',
    ]);
    expect(results[11]!.body.message.id).toBe(first.id);
    const seqs = ((await bob.get(`${open}/messages?limit=50`)).body.messages as Msg[]).map((m) => m.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('attachments of uploads', () => {
  /** A real upload through POST …/uploads (raw body), as bob. */
  async function upload(path: string, name: string) {
    const res = await server.parley.http.inject({
      method: 'POST',
      url: `${path}/uploads?name=${name}`,
      headers: {
        'x-api-key': app.apiKey,
        authorization: `Bearer ${await app.token('bob')}`,
        'content-type': 'text/plain',
      },
      payload: Buffer.from(`the contents of ${name}`),
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { upload: { id: string }; attachment: { upload_id: string } };
  }
  const referencedAt = async (id: string) =>
    (
      await server.database.db
        .selectFrom('uploads')
        .select('referenced_at')
        .where('app_id', '=', app.id)
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).referenced_at;

  it("a send marks its uploads used; an unknown, deleted or other app's upload is refused, naming the attachment", async () => {
    const path = await channel('with-uploads');
    const first = await upload(path, 'a.txt');
    expect(await referencedAt(first.upload.id)).toBeNull();
    const sent = await send(bob, path, 'see attached', {
      attachments: [{ type: 'file', url: 'https://example.com/x' }, first.attachment],
    });
    expect((sent as Msg & { attachments: unknown[] }).attachments).toHaveLength(2);
    expect(await referencedAt(first.upload.id)).toBeInstanceOf(Date);

    const gone = await upload(path, 'b.txt');
    const deleted = await server.parley.http.inject({
      method: 'DELETE',
      url: `${path}/uploads/${gone.upload.id}`,
      headers: { 'x-api-key': app.apiKey, authorization: `Bearer ${await app.token('bob')}` },
    });
    expect(deleted.statusCode, deleted.body).toBe(200);
    const other = await server.createApp();
    const strangers = [
      ['00000000-0000-7000-8000-000000000000', 'does not exist'],
      [gone.upload.id, 'deleted'],
    ];
    for (const [uploadId, why] of strangers) {
      const res = await bob.post(`${path}/messages`, {
        text: 'broken link',
        attachments: [first.attachment, { ...first.attachment, upload_id: uploadId }],
      });
      expect(res.status, why).toBe(404);
      expect(res.body.code, why).toBe('UPLOAD_NOT_FOUND');
      expect(res.body.details.field, why).toBe('body.attachments.1.upload_id');
    }
    // App B cannot name app A's upload (ids are per app).
    await other.server.post('/users', { users: [{ id: 'bob' }] });
    await other.server.post('/channels', { type: 'messaging', id: 'b-room', members: ['bob'] });
    const crossApp = await other.server.post('/channels/messaging/b-room/messages', {
      text: 'not yours',
      user_id: 'bob',
      attachments: [first.attachment],
    });
    expect(crossApp.status).toBe(404);
    expect(crossApp.body.code).toBe('UPLOAD_NOT_FOUND');
    const notUuid = await bob.post(`${path}/messages`, {
      text: 'x',
      attachments: [{ type: 'file', upload_id: '../../etc/passwd' }],
    });
    expect(notUuid.status).toBe(400);
    expect(notUuid.body.details.field).toBe('body.attachments.0.upload_id');

    // An edit that adds an upload marks it too, and is refused for a missing one.
    const later = await upload(path, 'c.txt');
    const edited = await bob.patch(`/messages/${sent.id}`, { attachments: [later.attachment] });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(await referencedAt(later.upload.id)).toBeInstanceOf(Date);
    const badEdit = await bob.patch(`/messages/${sent.id}`, {
      attachments: [{ ...later.attachment, upload_id: gone.upload.id }],
    });
    expect(badEdit.status).toBe(404);
    expect(badEdit.body.details.field).toBe('body.attachments.0.upload_id');
  });
});

describe('query counts of the hot paths (an N+1 fails here)', () => {
  let counter: QueryCounter;
  let path: string;
  beforeAll(async () => {
    counter = queryCounter(server.database);
    path = await channel('queries');
  });

  /**
   * Runs `work` and returns its statements, so a changed count shows what changed. Lookups that
   * are cached for a few seconds (platform/short-cache.ts: the api key, the app's webhook
   * endpoints and whether it has push devices) are left out: whether they run depends on timing.
   */
  const cached = [
    'select * from "apps" where "api_key"',
    'select "id", "events" from "webhook_endpoints"',
    'select "id" from "push_devices"',
  ];
  const statements = async (work: () => Promise<unknown>) =>
    (await counter.during(work)).filter((q) => !cached.some((prefix) => q.startsWith(prefix)));

  it('send: a fixed number of statements, whatever the message holds', async () => {
    // Authentication (the user), begin, one statement that takes the next seq, unhides the channel
    // and reads the channel with the sender's membership and ban (ADR 0015), insert, the sync
    // event log; commit. The channel type config is cached too.
    const plain = await statements(() => send(bob, path, 'plain'));
    expect(plain, plain.join('\n')).toHaveLength(6);

    const parent = await send(alice, path, 'parent');
    const quoted = await send(carol, path, 'quoted');
    await alice.post(`/messages/${parent.id}/reactions`, { type: 'like' });
    // + parent and quote (one query), mention check, parent counters, thread read position,
    //   user_messages flags, the parent's latest reactions for thread_parent.
    const rich = await statements(() =>
      send(bob, path, '@alice @carol look', { parent_id: parent.id, reply_to_id: quoted.id }),
    );
    expect(rich, rich.join('\n')).toHaveLength(12);
    // Twice the mentions cost the same.
    const more = await statements(() =>
      send(bob, path, '@alice @carol @bob @adm look', {
        parent_id: parent.id,
        reply_to_id: quoted.id,
        mentioned_user_ids: ['alice', 'carol'],
      }),
    );
    expect(more, more.join('\n')).toHaveLength(12);
  });

  it('list messages: the same count for 5 or 100 messages with quotes and reactions', async () => {
    const list = await channel('queries-list');
    const sent: Msg[] = [];
    for (let i = 0; i < 100; i++) {
      const quote = i > 0 && i % 3 === 0 ? { reply_to_id: sent[i - 1]!.id } : {};
      sent.push(await send(i % 2 ? bob : carol, list, `m${i}`, quote));
    }
    await Promise.all(
      sent
        .filter((_, i) => i % 4 === 0)
        .flatMap((m) => [
          bob.post(`/messages/${m.id}/reactions`, { type: 'like' }),
          carol.post(`/messages/${m.id}/reactions`, { type: 'fire' }),
        ]),
    );
    // The user (auth), channel with the membership (one statement), page, quoted messages, latest
    // + own reactions (the channel type config is cached).
    const small = await statements(async () =>
      expect((await bob.get(`${list}/messages?limit=5`)).status).toBe(200),
    );
    const large = await statements(async () => {
      const res = await bob.get(`${list}/messages?limit=100`);
      expect(res.body.messages).toHaveLength(100);
      expect(res.body.messages.filter((m: { quoted_message: unknown }) => m.quoted_message)).toHaveLength(33);
    });
    expect(large, large.join('\n')).toHaveLength(5);
    expect(small, small.join('\n')).toHaveLength(large.length);
    // A page without quotes or reactions skips those two queries.
    const bare = await statements(() => bob.get(`${list}/messages?id_lt=${sent[3]!.id}&limit=2`));
    expect(bare, bare.join('\n')).toHaveLength(4); // + the cursor's seq
  });
});
