import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture, waitFor } from '../../test-support/chat-fixture.js';
import type { ApiResponse } from '../../test-support/harness.js';

/**
 * Which messages search reaches: public-read channels the user has not joined (only when named in
 * `cids`), and messages written before a search_language change (re-indexed by a job).
 */
let f: ChatFixture;

beforeAll(async () => {
  f = await chatFixture([{ id: 'host' }, { id: 'viewer' }, { id: 'admin', role: 'admin' }], {
    JOBS_POLL_INTERVAL_MS: '500',
  });
});
afterAll(() => f?.close());

const ok = (res: ApiResponse, status = 200) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res;
};
const db = () => f.server.database.db;

async function search(who: string, body: Record<string, unknown>) {
  return ok(await f.users[who]!.post('/search', { limit: 100, ...body })).body.results.map(
    (r: { message: { id: string } }) => r.message.id,
  ) as string[];
}

describe('public-read channels the user has not joined', () => {
  it('are searched only when named in cids, and only when the policy lets a non-member read them', async () => {
    const live = await f.channel('show', ['host'], 'livestream');
    const closed = await f.channel('backstage', ['host'], 'messaging');
    const joined = await f.channel('lobby', ['host', 'viewer'], 'messaging');
    const onLive = await f.send('host', live.path, 'narwhal sighting live');
    const onClosed = await f.send('host', closed.path, 'narwhal backstage secret');
    const onJoined = await f.send('host', joined.path, 'narwhal in the lobby');
    // The viewer can read the livestream without joining (channels.policy.ts: public_read).
    expect(ok(await f.users.viewer!.get(`${live.path}/messages`)).body.messages).toHaveLength(1);

    // Not named: only the channels the viewer is a member of.
    expect(await search('viewer', { query: 'narwhal' })).toEqual([onJoined.id]);
    // Named: the livestream is searched; a non-public channel the viewer is not in never is.
    expect(await search('viewer', { query: 'narwhal', cids: [live.cid] })).toEqual([onLive.id]);
    expect(await search('viewer', { query: 'narwhal', cids: [closed.cid] })).toEqual([]);
    expect(
      (await search('viewer', { query: 'narwhal', cids: [live.cid, closed.cid, joined.cid] })).sort(),
    ).toEqual([onLive.id, onJoined.id].sort());
    // Unknown channels and channel types are left out like unreadable ones.
    expect(
      await search('viewer', { query: 'narwhal', cids: ['livestream:nope', 'no_such_type:x', live.cid] }),
    ).toEqual([onLive.id]);
    // Server-side calls search as the named user, with the same rule.
    const asServer = ok(
      await f.app.server.post('/search', {
        query: 'narwhal',
        cids: [live.cid, closed.cid],
        user_id: 'viewer',
      }),
    ).body.results.map((r: { message: { id: string } }) => r.message.id);
    expect(asServer).toEqual([onLive.id]);
    // App admins may read any channel: naming it searches it.
    expect(await search('admin', { query: 'narwhal', cids: [closed.cid] })).toEqual([onClosed.id]);
    expect(await search('admin', { query: 'narwhal' })).toEqual([]);
  });
});

describe('changing search_language re-indexes the app’s messages', () => {
  const configs = async () => {
    const { rows } = await sql<{ config: string; n: number }>`
      select search_config::text as config, count(*)::int as n from messages
       where app_id = ${f.app.id} group by 1 order by 1`.execute(db());
    return Object.fromEntries(rows.map((r) => [r.config, r.n]));
  };
  const reindexJobs = async (state: string) =>
    (
      await sql<{ n: number }>`select count(*)::int as n from pgboss.job
        where name = 'search.reindex' and data->>'app_id' = ${f.app.id} and state = ${state}`.execute(db())
    ).rows[0]!.n;

  it('after the job ran, a word stemmed only by the new language is found', async () => {
    const room = await f.channel('sprachen', ['host', 'viewer']);
    const other = await f.channel('andere', ['host', 'viewer']);
    const kinder = await f.send('host', room.path, 'Die Kinder spielen im Garten');
    await f.send('host', other.path, 'Noch mehr Kinder');
    // English does not stem "Kindern" to "kinder": not found.
    expect(await search('viewer', { query: 'Kindern', cids: [room.cid] })).toEqual([]);

    ok(await f.app.server.patch('/app', { settings: { search_language: 'german' } }));
    await waitFor(async () => ((await configs()).english === undefined ? true : undefined));
    await waitFor(async () =>
      (await reindexJobs('created')) + (await reindexJobs('active')) + (await reindexJobs('retry')) === 0
        ? true
        : undefined,
    );
    expect(await reindexJobs('completed')).toBeGreaterThanOrEqual(1);
    expect(await search('viewer', { query: 'Kindern', cids: [room.cid] })).toEqual([kinder.id]);
    // A change that keeps the language enqueues nothing.
    const before = await reindexJobs('completed');
    ok(await f.app.server.patch('/app', { settings: { search_language: 'german', blocklist: null } }));
    expect((await reindexJobs('created')) + (await reindexJobs('completed'))).toBe(before);
  });

  it('works in bounded batches, chains them, stops when the language changed again, and is idempotent', async () => {
    const room = await f.channel('batches', ['host']);
    for (let i = 0; i < 5; i++) await f.send('host', room.path, `Nachricht ${i} über Häuser`);
    const total = Object.values(await configs()).reduce((a, b) => a + b, 0);
    // The language changes underneath (no PATCH, so no job): nothing is re-indexed until a batch runs.
    await sql`update apps set settings = settings || '{"search_language":"french"}'::jsonb
               where id = ${f.app.id}`.execute(db());
    const search = f.server.parley.services.search;

    // A job of an older language is a no-op.
    expect(
      await search.reindexBatch({ app_id: f.app.id, language: 'german', after: null, batch_size: 2 }),
    ).toEqual({
      updated: 0,
      done: true,
    });
    expect((await configs()).french).toBeUndefined();

    const first = await search.reindexBatch({
      app_id: f.app.id,
      language: 'french',
      after: null,
      batch_size: 2,
    });
    expect(first).toEqual({ updated: 2, done: false });
    // The next batches run as jobs, each enqueued by the previous one.
    await waitFor(async () => ((await configs()).french === total ? true : undefined));
    await waitFor(async () =>
      (await reindexJobs('created')) + (await reindexJobs('active')) + (await reindexJobs('retry')) === 0
        ? true
        : undefined,
    );
    const chained = (
      await sql<{ n: number }>`select count(*)::int as n from pgboss.job
        where name = 'search.reindex' and data->>'app_id' = ${f.app.id}
          and data->>'language' = 'french' and state = 'completed'`.execute(db())
    ).rows[0]!.n;
    // After the first batch (run above), one job per batch of 2; a short (or empty) batch is the last.
    expect(chained).toBe(Math.floor(total / 2));
    // Running it again changes nothing.
    expect(
      await search.reindexBatch({ app_id: f.app.id, language: 'french', after: null, batch_size: 1000 }),
    ).toEqual({ updated: 0, done: true });
  });
});
