import type { Message, SearchResponse } from '@parley/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { searchStatement } from './search.repository.js';
import { decodeCursor, toSnippet } from './search.service.js';

let server: TestServer;
let app: TestApp;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;

const general = '/channels/messaging/general';
const random = '/channels/messaging/random';
const secret = '/channels/messaging/secret';
const sent: Record<string, Message> = {};

async function send(client: ApiClient, path: string, key: string, body: Record<string, unknown>) {
  const res = await client.post(`${path}/messages`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  sent[key] = res.body.message;
  return res.body.message as Message;
}

async function search(client: ApiClient, body: Record<string, unknown>) {
  const res = await client.post('/search', body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as SearchResponse;
}
const texts = (r: SearchResponse) => r.results.map((x) => x.message.text);

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  await app.server.post('/users', { users: ['alice', 'bob', 'carol'].map((id) => ({ id })) });
  [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => app.as(u)))) as [
    ApiClient,
    ApiClient,
    ApiClient,
  ];
  expect(
    (await alice.post('/channels', { type: 'messaging', id: 'general', members: ['bob', 'carol'] })).status,
  ).toBe(201);
  expect((await alice.post('/channels', { type: 'messaging', id: 'random', members: ['bob'] })).status).toBe(
    201,
  );
  expect((await bob.post('/channels', { type: 'messaging', id: 'secret', members: ['carol'] })).status).toBe(
    201,
  );
  await send(alice, general, 'deploy', { text: 'We are deploying the new release tonight' });
  await send(bob, general, 'deployed', {
    text: 'Deployed! The release went fine',
    attachments: [{ type: 'image', url: 'https://example.com/a.png' }],
  });
  await send(carol, general, 'xss', {
    text: 'release notes: <script>alert(1)</script> \uE000sneaky\uE001 marker',
  });
  await send(bob, random, 'cats', { text: 'cats are running everywhere, the release of cats' });
  await send(bob, secret, 'secret', { text: 'the secret release plan' });
  await send(alice, general, 'reply', {
    text: 'release checklist in the thread',
    parent_id: sent.deploy!.id,
  });
});
afterAll(async () => server?.close());

describe('POST /search', () => {
  it('finds stemmed words (english) in the channels the user is a member of only', async () => {
    const r = await search(alice, { query: 'releases', sort: 'newest' });
    expect(texts(r)).toEqual([
      sent.reply!.text,
      sent.cats!.text,
      sent.xss!.text,
      sent.deployed!.text,
      sent.deploy!.text,
    ]);
    expect(texts(await search(alice, { query: 'secret' }))).toEqual([]);
    expect(texts(await search(carol, { query: 'secret' }))).toEqual([sent.secret!.text]);
    // "running" is stemmed to "run"; "deploying" and "Deployed" to "deploy".
    expect(texts(await search(alice, { query: 'run' }))).toEqual([sent.cats!.text]);
    expect(texts(await search(alice, { query: 'deploy', sort: 'oldest' }))).toEqual([
      sent.deploy!.text,
      sent.deployed!.text,
    ]);
  });

  it('understands web search syntax: phrases, or, exclusion', async () => {
    expect(texts(await search(alice, { query: '"new release"' }))).toEqual([sent.deploy!.text]);
    expect(texts(await search(alice, { query: 'release -cats -thread -notes', sort: 'oldest' }))).toEqual([
      sent.deploy!.text,
      sent.deployed!.text,
    ]);
    expect(texts(await search(alice, { query: 'checklist or everywhere', sort: 'oldest' }))).toEqual([
      sent.cats!.text,
      sent.reply!.text,
    ]);
  });

  it('sorts by relevance (rank) by default', async () => {
    const r = await search(alice, { query: 'cats release' });
    expect(r.results[0]!.message.id).toBe(sent.cats!.id);
    const ranks = (await search(alice, { query: 'release' })).results.map((x) => x.rank);
    expect(ranks).toEqual([...ranks].sort((a, b) => b - a));
  });

  it('filters: cids, author, attachments, dates, thread', async () => {
    expect(texts(await search(alice, { query: 'release', cids: ['messaging:random'] }))).toEqual([
      sent.cats!.text,
    ]);
    // Naming a channel the user cannot read finds nothing in it.
    expect(texts(await search(alice, { query: 'release', cids: ['messaging:secret'] }))).toEqual([]);
    expect(texts(await search(alice, { query: 'release', author_id: 'bob', sort: 'oldest' }))).toEqual([
      sent.deployed!.text,
      sent.cats!.text,
    ]);
    expect(texts(await search(alice, { query: 'release', has_attachments: true }))).toEqual([
      sent.deployed!.text,
    ]);
    expect((await search(alice, { query: 'release', has_attachments: false })).results).toHaveLength(4);
    const at = sent.xss!.created_at;
    expect(texts(await search(alice, { query: 'release', created_after: at, sort: 'oldest' }))).toEqual([
      sent.xss!.text,
      sent.cats!.text,
      sent.reply!.text,
    ]);
    expect(texts(await search(alice, { query: 'release', created_before: at, sort: 'oldest' }))).toEqual([
      sent.deploy!.text,
      sent.deployed!.text,
    ]);
    expect(texts(await search(alice, { query: 'release', parent_id: sent.deploy!.id }))).toEqual([
      sent.reply!.text,
    ]);
    expect(texts(await search(alice, { query: 'release', is_reply: true }))).toEqual([sent.reply!.text]);
    expect((await search(alice, { query: 'release', is_reply: false })).results).toHaveLength(4);
  });

  it('paginates with a stable cursor: every page continues where the last ended, no gaps or repeats', async () => {
    const path = '/channels/messaging/paged';
    expect((await alice.post('/channels', { type: 'messaging', id: 'paged', members: ['bob'] })).status).toBe(
      201,
    );
    for (let i = 0; i < 9; i++)
      await alice.post(`${path}/messages`, { text: `pagination word${i} ${'pagination '.repeat(i % 3)}` });
    for (const sort of ['relevance', 'newest', 'oldest'] as const) {
      const all = await search(bob, { query: 'pagination', sort, limit: 100 });
      expect(all.results).toHaveLength(9);
      expect(all.next).toBeNull();
      const paged: string[] = [];
      let next: string | null | undefined;
      do {
        const page = await search(bob, { query: 'pagination', sort, limit: 2, ...(next ? { next } : {}) });
        paged.push(...page.results.map((x) => x.message.id));
        next = page.next;
      } while (next);
      expect(paged).toEqual(all.results.map((x) => x.message.id));
    }
  });

  it('returns highlighted snippets as plain-text segments (no markup from the text is interpreted)', async () => {
    const r = await search(alice, { query: 'notes' });
    expect(r.results).toHaveLength(1);
    const snippet = r.results[0]!.snippet;
    expect(snippet.filter((s) => s.highlighted).map((s) => s.text)).toEqual(['notes']);
    const text = snippet.map((s) => s.text).join('');
    // The text search parser drops tags from headlines: markup never reaches the snippet.
    expect(text).not.toContain('<');
    expect(text).toContain('alert(1)');
    // The private-use marker characters the server uses are removed from the text first.
    expect(text).not.toMatch(/[\uE000\uE001]/);
    expect(text).toContain('sneaky');
    expect(toSnippet('a \uE000b\uE001 \uE000c\uE001 d')).toEqual([
      { text: 'a ', highlighted: false },
      { text: 'b', highlighted: true },
      { text: ' ', highlighted: false },
      { text: 'c', highlighted: true },
      { text: ' d', highlighted: false },
    ]);
  });

  it('leaves out deleted messages, others’ shadowed messages, and history cleared or truncated', async () => {
    const path = '/channels/messaging/hidden-things';
    expect(
      (await alice.post('/channels', { type: 'messaging', id: 'hidden-things', members: ['bob'] })).status,
    ).toBe(201);
    const gone = await send(alice, path, 'gone', { text: 'zebra deleted' });
    await alice.delete(`/messages/${gone.id}`);
    const shadowed = await send(bob, path, 'shadowed', { text: 'zebra shadowed' });
    await sql`update messages set shadowed = true where id = ${shadowed.id}`.execute(server.database.db);
    expect(texts(await search(alice, { query: 'zebra' }))).toEqual([]);
    expect(texts(await search(bob, { query: 'zebra' }))).toEqual(['zebra shadowed']);
    // bob hides the channel clearing his history: earlier messages are gone for him only.
    expect((await bob.post(`${path}/hide`, { clear_history: true })).status).toBe(200);
    await send(alice, path, 'later', { text: 'zebra later' });
    expect(texts(await search(bob, { query: 'zebra' }))).toEqual(['zebra later']);
    expect(texts(await search(alice, { query: 'zebra' }))).toEqual(['zebra later']);
    expect((await alice.post(`${path}/truncate`, {})).status).toBe(200);
    expect(texts(await search(alice, { query: 'zebra' }))).toEqual([]);
  });

  it('reindexes edited text', async () => {
    const m = await send(alice, general, 'edit', { text: 'original wording' });
    expect((await alice.patch(`/messages/${m.id}`, { text: 'replacement wording' })).status).toBe(200);
    expect(texts(await search(alice, { query: 'original' }))).toEqual([]);
    expect(texts(await search(alice, { query: 'replacement' }))).toEqual(['replacement wording']);
  });

  it('uses the app’s search_language; an unknown language falls back to simple', async () => {
    for (const [language, stems] of [
      ['simple', false],
      ['klingon', false],
      ['german', true],
    ] as const) {
      const other = await server.createApp();
      expect((await other.server.patch('/app', { settings: { search_language: language } })).status).toBe(
        200,
      );
      await other.server.post('/users', { users: [{ id: 'u' }] });
      const u = await other.as('u');
      await u.post('/channels', { type: 'messaging', id: 'c', members: [] });
      await u.post('/channels/messaging/c/messages', {
        text: language === 'german' ? 'Die Häuser' : 'running',
      });
      const query = language === 'german' ? 'Haus' : 'run';
      const r = await u.post('/search', { query });
      expect(r.status).toBe(200);
      expect(r.body.results.length > 0).toBe(stems);
    }
  });

  it('server-side calls search as user_id', async () => {
    const r = await app.server.post('/search', { query: 'secret', user_id: 'carol' });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { message: Message }) => x.message.text)).toEqual([sent.secret!.text]);
    const missing = await app.server.post('/search', { query: 'secret' });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('VALIDATION_FAILED');
  });

  it('uses the GIN index (EXPLAIN)', async () => {
    const db = server.database.db;
    // A channel with 3,000 messages, three of which contain the searched word, with fresh
    // statistics: the shape where the index matters (scanning every message of the user's
    // channels would not scale).
    const path = '/channels/messaging/big';
    expect((await alice.post('/channels', { type: 'messaging', id: 'big', members: ['bob'] })).status).toBe(
      201,
    );
    await sql`
      insert into messages (app_id, id, cid, seq, user_id, text)
      select ${app.id}, gen_random_uuid(), 'messaging:big', n, 'alice',
             case when n % 1000 = 0 then 'the xylophone solo ' || n else 'ordinary chatter number ' || n end
        from generate_series(1, 3000) as n`.execute(db);
    await sql`update channels set last_seq = 3000 where app_id = ${app.id} and cid = 'messaging:big'`.execute(
      db,
    );
    await sql`analyze messages`.execute(db);
    expect(texts(await search(bob, { query: 'xylophone', cids: ['messaging:big'] }))).toHaveLength(3);
    expect(path).toBeTruthy();
    const statement = searchStatement(app.id, {
      config: 'english',
      query: 'xylophone',
      viewerId: 'alice',
      cids: ['messaging:general', 'messaging:random', 'messaging:big'],
      sort: 'relevance',
      limit: 21,
    }).compile(db);
    const plan = await db.transaction().execute(async (tx) => {
      // The other tables of the test (members, channels) hold a handful of rows, where sequential
      // scans are cheapest and the planner's choice around them could vary between PGlite and
      // PostgreSQL; turning sequential scans off for this transaction keeps the plan comparable.
      // Whether the messages side uses the GIN index or the (app_id, cid, seq) btree is still the
      // planner's own costing choice.
      await sql`set local enable_seqscan = off`.execute(tx);
      const { rows } = await tx.executeQuery<{ 'QUERY PLAN': string }>({
        ...statement,
        sql: `explain ${statement.sql}`,
      });
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan, plan).toContain('messages_search_idx');
  });
});

describe('POST /search: bad input', () => {
  it.each<[Record<string, unknown>, string]>([
    [{ query: '' }, 'query'],
    [{ query: '    ' }, 'query'],
    [{ query: 'x'.repeat(301) }, 'query'],
    [{}, 'query'],
    [{ query: 'a', created_after: 'yesterday' }, 'created_after'],
    [{ query: 'a', created_before: '2026-02-30T25:00:00Z' }, 'created_before'],
    [{ query: 'a', cids: [] }, 'cids'],
    [{ query: 'a', cids: ['bad'] }, 'cids'],
    [{ query: 'a', limit: 0 }, 'limit'],
    [{ query: 'a', limit: 101 }, 'limit'],
    [{ query: 'a', sort: 'random' }, 'sort'],
    [{ query: 'a', parent_id: 'not-a-uuid' }, 'parent_id'],
    [{ query: 'a', unknown: 1 }, ''],
  ])('%j → 400 VALIDATION_FAILED', async (body) => {
    const res = await alice.post('/search', body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });

  it('a cursor that is not one (or of another sort) → 400 VALIDATION_FAILED on next', async () => {
    const first = await search(alice, { query: 'release', limit: 1 });
    expect(first.next).not.toBeNull();
    for (const [next, sort] of [
      ['garbage', 'relevance'],
      [Buffer.from('["r","x","y"]').toString('base64url'), 'relevance'],
      [first.next!, 'newest'],
    ] as const) {
      const res = await alice.post('/search', { query: 'release', next, sort });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'next' } });
    }
    expect(() => decodeCursor(first.next!, 'relevance')).not.toThrow();
  });

  it('created_after after created_before → 400 VALIDATION_FAILED', async () => {
    const res = await alice.post('/search', {
      query: 'a',
      created_after: '2026-02-01T00:00:00Z',
      created_before: '2026-01-01T00:00:00Z',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'created_after' } });
  });
});
