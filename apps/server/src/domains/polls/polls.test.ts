import { MAX_POLL_OPTIONS, type Message, type ParleyEvent, type Poll } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { queryCounter } from '../../test-support/query-counter.js';

let server: TestServer;
let app: TestApp;
let alice: ApiClient; // channel owner, poll creator
let bob: ApiClient; // member
let carol: ApiClient; // member
let mod: ApiClient; // channel moderator
let guest: ApiClient; // app role guest, member
let eve: ApiClient; // not a member
const seen: ParleyEvent[] = [];

let counter = 0;
const fans = Array.from({ length: 12 }, (_, i) => `fan${i}`);

async function channel(extra: Record<string, unknown> = {}) {
  const id = `p${++counter}`;
  const res = await app.server.post('/channels', {
    type: 'messaging',
    id,
    created_by: 'alice',
    members: ['bob', 'carol', 'guest', ...fans],
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const path = `/channels/messaging/${id}`;
  const added = await app.server.post(`${path}/members`, { user_ids: ['mod'], role: 'moderator' });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  return { path, cid: `messaging:${id}` };
}

async function createPoll(client: ApiClient, body: Record<string, unknown> = {}): Promise<Poll> {
  const res = await client.post('/polls', {
    name: 'Lunch?',
    options: [{ text: 'Pizza' }, { text: 'Sushi' }, { text: 'Tacos' }],
    ...body,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.poll;
}

/** A channel with a poll by alice sent in it; answers the message, poll and paths. */
async function sentPoll(body: Record<string, unknown> = {}) {
  const ch = await channel();
  const poll = await createPoll(alice, body);
  const res = await alice.post(`${ch.path}/messages`, { text: 'Vote!', poll_id: poll.id });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const message = res.body.message as Message;
  const vote = (client: ApiClient, v: Record<string, unknown>) =>
    client.post(`/messages/${message.id}/polls/${poll.id}/vote`, { vote: v });
  return { ...ch, poll, message, vote, option: (i: number) => poll.options[i]!.id };
}

const pollEvents = (pollId: string) =>
  seen.filter((e) => e.type.startsWith('poll.') && 'poll' in e && e.poll.id === pollId) as Extract<
    ParleyEvent,
    { type: `poll.${string}` }
  >[];

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  await app.server.post('/users', {
    users: [
      ...['alice', 'bob', 'carol', 'mod', 'eve', ...fans].map((id) => ({ id })),
      { id: 'guest', role: 'guest' },
    ],
  });
  [alice, bob, carol, mod, guest, eve] = (await Promise.all(
    ['alice', 'bob', 'carol', 'mod', 'guest', 'eve'].map((u) => app.as(u)),
  )) as [ApiClient, ApiClient, ApiClient, ApiClient, ApiClient, ApiClient];
});
afterAll(() => server?.close());

describe('creating and sending polls', () => {
  it('creates a poll, sends it with a message, and the message carries the poll in answers and events', async () => {
    const ch = await channel();
    const poll = await createPoll(alice, { description: 'Friday', max_votes_allowed: 2 });
    expect(poll).toMatchObject({
      name: 'Lunch?',
      description: 'Friday',
      voting_visibility: 'public',
      enforce_unique_vote: false,
      max_votes_allowed: 2,
      is_closed: false,
      vote_count: 0,
      created_by_id: 'alice',
      message_id: null,
      cid: null,
    });
    expect(poll.options.map((o) => o.text)).toEqual(['Pizza', 'Sushi', 'Tacos']);

    // Before it is sent only its creator sees it.
    expect((await bob.get(`/polls/${poll.id}`)).body.code).toBe('POLL_NOT_FOUND');
    expect((await alice.get(`/polls/${poll.id}`)).status).toBe(200);

    // Only its creator may send it (others get "not found"), and a poll alone is enough content.
    const stolen = await bob.post(`${ch.path}/messages`, { poll_id: poll.id });
    expect(stolen.status).toBe(404);
    expect(stolen.body.code).toBe('POLL_NOT_FOUND');
    const sent = await alice.post(`${ch.path}/messages`, { poll_id: poll.id });
    expect(sent.status).toBe(201);
    expect(sent.body.message.poll_id).toBe(poll.id);
    expect(sent.body.message.poll).toMatchObject({
      id: poll.id,
      message_id: sent.body.message.id,
      cid: ch.cid,
    });
    const event = seen.find((e) => e.type === 'message.new' && e.message.id === sent.body.message.id);
    expect(event?.type === 'message.new' && event.message.poll?.options).toHaveLength(3);

    // Sent once only.
    const again = await alice.post(`${ch.path}/messages`, { text: 'again', poll_id: poll.id });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('POLL_ALREADY_SENT');

    // Once sent, channel members see it; non-members do not.
    expect((await bob.get(`/polls/${poll.id}`)).status).toBe(200);
    expect((await eve.get(`/polls/${poll.id}`)).status).toBe(403);
  });

  it('refuses bad polls with stable codes', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ name: '' }, 400, 'VALIDATION_FAILED'],
      [{ name: '   ' }, 400, 'VALIDATION_FAILED'],
      [{ options: [{ text: '' }] }, 400, 'VALIDATION_FAILED'],
      [
        { options: Array.from({ length: MAX_POLL_OPTIONS + 1 }, (_, i) => ({ text: `o${i}` })) },
        400,
        'VALIDATION_FAILED',
      ],
      [{ max_votes_allowed: 0 }, 400, 'VALIDATION_FAILED'],
      [{ max_votes_allowed: 11 }, 400, 'VALIDATION_FAILED'],
      [{ voting_visibility: 'secret' }, 400, 'VALIDATION_FAILED'],
      [{ surprise: true }, 400, 'VALIDATION_FAILED'],
      [{ options: [{ text: 'Same' }, { text: 'same' }] }, 409, 'POLL_OPTION_EXISTS'],
      [{ user_id: 'bob' }, 403, 'FORBIDDEN'],
    ];
    for (const [patch, status, code] of cases) {
      const res = await alice.post('/polls', { name: 'Q', options: [{ text: 'a' }], ...patch });
      expect(res.status, JSON.stringify(patch)).toBe(status);
      expect(res.body.code, JSON.stringify(patch)).toBe(code);
    }
    // Guests may not create polls; server calls must name an existing user.
    expect((await guest.post('/polls', { name: 'Q' })).status).toBe(403);
    expect((await app.server.post('/polls', { name: 'Q' })).body.code).toBe('VALIDATION_FAILED');
    expect((await app.server.post('/polls', { name: 'Q', user_id: 'ghost' })).body.code).toBe(
      'USER_NOT_FOUND',
    );
    expect((await alice.get('/polls/not-a-uuid')).status).toBe(400);
    expect((await alice.get('/polls/0190f0a0-0000-7000-8000-000000000000')).body.code).toBe('POLL_NOT_FOUND');
    const ch = await channel();
    const unknown = await alice.post(`${ch.path}/messages`, {
      poll_id: '0190f0a0-0000-7000-8000-000000000000',
    });
    expect(unknown.body.code).toBe('POLL_NOT_FOUND');
  });

  it('guests may vote but not send polls; the type config can turn polls off', async () => {
    const ch = await channel();
    const poll = await createPoll(app.server, { user_id: 'guest' });
    const res = await guest.post(`${ch.path}/messages`, { poll_id: poll.id });
    expect(res.status).toBe(403);
    await app.server.post('/channel-types', { name: 'nopolls', config: { polls: false } });
    await app.server.post('/channels', { type: 'nopolls', id: 'x', created_by: 'alice' });
    const off = await alice.post('/channels/nopolls/x/messages', { poll_id: (await createPoll(alice)).id });
    expect(off.status).toBe(403);
    expect(off.body.details.field).toBe('poll_id');
  });
});

describe('voting', () => {
  it('is idempotent: the same vote twice is one vote and one event', async () => {
    const p = await sentPoll();
    const first = await p.vote(bob, { option_id: p.option(0) });
    expect(first.status).toBe(201);
    expect(first.body.poll.vote_count).toBe(1);
    expect(first.body.poll.own_votes).toHaveLength(1);
    const second = await p.vote(bob, { option_id: p.option(0) });
    expect(second.status).toBe(200);
    expect(second.body.vote.id).toBe(first.body.vote.id);
    expect(second.body.poll.vote_count).toBe(1);
    expect(second.body.poll.vote_counts_by_option).toEqual({ [p.option(0)]: 1 });
    expect(pollEvents(p.poll.id).map((e) => e.type)).toEqual(['poll.vote_casted']);
  });

  it('shows results on the message: counts, latest votes, and the viewer’s own votes', async () => {
    const p = await sentPoll();
    await p.vote(bob, { option_id: p.option(0) });
    await p.vote(carol, { option_id: p.option(0) });
    await p.vote(carol, { option_id: p.option(1) });
    const asBob = (await bob.get(`${p.path}/messages`)).body.messages as Message[];
    const poll = asBob.find((m) => m.id === p.message.id)!.poll!;
    expect(poll.vote_count).toBe(3);
    expect(poll.vote_counts_by_option).toEqual({ [p.option(0)]: 2, [p.option(1)]: 1 });
    expect(poll.latest_votes_by_option[p.option(0)]!.map((v) => v.user_id)).toEqual(['carol', 'bob']);
    expect(poll.own_votes.map((v) => v.option_id)).toEqual([p.option(0)]);
    const asCarol = (await carol.get(`/messages/${p.message.id}`)).body.message as Message;
    expect(asCarol.poll!.own_votes).toHaveLength(2);
    // Events go to everyone: no own votes in them.
    const last = pollEvents(p.poll.id).at(-1)!;
    expect(last.type).toBe('poll.vote_casted');
    expect(last.poll.own_votes).toEqual([]);
    expect(last.poll.vote_count).toBe(3);
    expect(last.cid).toBe(p.cid);
    expect(last.message_id).toBe(p.message.id);
  });

  it('enforces max_votes_allowed, unknown options and one-of option/answer', async () => {
    const p = await sentPoll({ max_votes_allowed: 2 });
    expect((await p.vote(bob, { option_id: p.option(0) })).status).toBe(201);
    expect((await p.vote(bob, { option_id: p.option(1) })).status).toBe(201);
    const third = await p.vote(bob, { option_id: p.option(2) });
    expect(third.status).toBe(400);
    expect(third.body).toMatchObject({
      code: 'POLL_TOO_MANY_VOTES',
      details: { field: 'vote.option_id', limit: 2 },
    });
    const unknown = await p.vote(bob, { option_id: '0190f0a0-0000-7000-8000-000000000000' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('POLL_OPTION_NOT_FOUND');
    expect((await p.vote(bob, {})).body.code).toBe('VALIDATION_FAILED');
    expect((await p.vote(bob, { option_id: p.option(0), answer_text: 'x' })).body.code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await p.vote(bob, { answer_text: 'x' })).body.code).toBe('POLL_ANSWERS_DISABLED');
    expect((await p.vote(bob, { option_id: 'nope' })).status).toBe(400);
    expect(
      (await bob.post(`/messages/${p.message.id}/polls/${p.poll.id}/vote`, { option_id: p.option(0) }))
        .status,
    ).toBe(400);
    // A poll voted through another message is unknown there.
    const other = await alice.post(`${p.path}/messages`, { text: 'other' });
    const wrong = await bob.post(`/messages/${other.body.message.id}/polls/${p.poll.id}/vote`, {
      vote: { option_id: p.option(0) },
    });
    expect(wrong.body.code).toBe('POLL_NOT_FOUND');
  });

  it('enforce_unique_vote replaces the vote (poll.vote_changed)', async () => {
    const p = await sentPoll({ enforce_unique_vote: true });
    await p.vote(bob, { option_id: p.option(0) });
    const changed = await p.vote(bob, { option_id: p.option(2) });
    expect(changed.status).toBe(201);
    expect(changed.body.poll.vote_counts_by_option).toEqual({ [p.option(2)]: 1 });
    expect(changed.body.poll.own_votes.map((v: { option_id: string }) => v.option_id)).toEqual([p.option(2)]);
    const event = pollEvents(p.poll.id).at(-1)!;
    expect(event.type).toBe('poll.vote_changed');
    if (event.type === 'poll.vote_changed') {
      expect(event.vote.option_id).toBe(p.option(2));
      expect(event.removed_vote.option_id).toBe(p.option(0));
    }
  });

  it('takes free-text answers when allowed; a new answer replaces the old one', async () => {
    const p = await sentPoll({ allow_answers: true });
    const first = await p.vote(bob, { answer_text: 'Ramen' });
    expect(first.status).toBe(201);
    expect(first.body.vote).toMatchObject({ is_answer: true, answer_text: 'Ramen', option_id: null });
    expect((await p.vote(bob, { answer_text: 'Ramen' })).status).toBe(200);
    const second = await p.vote(bob, { answer_text: 'Pho' });
    expect(second.body.poll.answers_count).toBe(1);
    expect(second.body.poll.vote_count).toBe(0);
    expect(second.body.poll.latest_answers.map((v: { answer_text: string }) => v.answer_text)).toEqual([
      'Pho',
    ]);
    expect(pollEvents(p.poll.id).map((e) => e.type)).toEqual(['poll.vote_casted', 'poll.vote_changed']);
  });

  it('anonymous polls never show who voted, except to the voter', async () => {
    const p = await sentPoll({ voting_visibility: 'anonymous', allow_answers: true });
    const res = await p.vote(bob, { option_id: p.option(1) });
    expect(res.body.vote.user_id).toBe('bob');
    expect(res.body.poll.own_votes[0].user_id).toBe('bob');
    await p.vote(carol, { answer_text: 'secret' });
    const seenByCarol = (await carol.get(`/messages/${p.message.id}`)).body.message.poll as Poll;
    expect(seenByCarol.vote_counts_by_option).toEqual({ [p.option(1)]: 1 });
    expect(seenByCarol.latest_votes_by_option).toEqual({});
    expect(seenByCarol.latest_answers.map((v) => v.user_id)).toEqual([null]);
    for (const e of pollEvents(p.poll.id)) {
      if ('vote' in e) expect(e.vote.user_id).toBeNull();
      expect(JSON.stringify(e.poll)).not.toContain('"bob"');
    }
    // The creator votes, then edits the poll's message: the update goes to everyone without
    // anyone's own votes (the answer to the editor keeps theirs).
    await p.vote(alice, { option_id: p.option(2) });
    const edited = await alice.patch(`/messages/${p.message.id}`, { text: 'Vote, please!' });
    expect(edited.body.message.poll.own_votes).toHaveLength(1);
    const update = seen.findLast((e) => e.type === 'message.updated' && e.message.id === p.message.id);
    expect(update?.type === 'message.updated' && update.message.poll?.own_votes).toEqual([]);
    expect(update?.type === 'message.updated' && update.message.poll?.latest_votes_by_option).toEqual({});
  });

  it('removes one’s own vote (poll.vote_removed), not someone else’s', async () => {
    const p = await sentPoll();
    const vote = (await p.vote(bob, { option_id: p.option(0) })).body.vote;
    const url = `/messages/${p.message.id}/polls/${p.poll.id}/vote/${vote.id}`;
    const byCarol = await carol.delete(url);
    expect(byCarol.status).toBe(404);
    expect(byCarol.body.code).toBe('POLL_VOTE_NOT_FOUND');
    const removed = await bob.delete(url);
    expect(removed.status).toBe(200);
    expect(removed.body.poll.vote_count).toBe(0);
    expect(removed.body.poll.vote_counts_by_option).toEqual({});
    expect(pollEvents(p.poll.id).at(-1)!.type).toBe('poll.vote_removed');
    expect((await bob.delete(url)).body.code).toBe('POLL_VOTE_NOT_FOUND');
    // A server call removes a vote as the user it names.
    const again = (await p.vote(bob, { option_id: p.option(1) })).body.vote;
    const byServer = await app.server.delete(
      `/messages/${p.message.id}/polls/${p.poll.id}/vote/${again.id}?user_id=bob`,
    );
    expect(byServer.status).toBe(200);
  });

  it('only members vote: non-members, banned members are refused; guests may', async () => {
    const p = await sentPoll();
    const outsider = await p.vote(eve, { option_id: p.option(0) });
    expect(outsider.status).toBe(403);
    expect((await p.vote(guest, { option_id: p.option(0) })).status).toBe(201);
    await app.server.patch(`${p.path}/members/carol`, { banned: true });
    const banned = await p.vote(carol, { option_id: p.option(0) });
    expect(banned.status).toBe(403);
    expect(banned.body.code).toBe('USER_BANNED');
    await app.server.put(p.path, { frozen: true });
    const frozen = await p.vote(bob, { option_id: p.option(0) });
    expect(frozen.body.code).toBe('CHANNEL_FROZEN');
    expect(pollEvents(p.poll.id)).toHaveLength(1);
  });

  it('refuses votes once the message is deleted; a hard delete takes the poll with it', async () => {
    const p = await sentPoll();
    await p.vote(bob, { option_id: p.option(0) });
    expect((await alice.delete(`/messages/${p.message.id}`)).status).toBe(200);
    const res = await p.vote(carol, { option_id: p.option(0) });
    expect(res.body.code).toBe('MESSAGE_DELETED');
    expect((await bob.get(`/messages/${p.message.id}`)).body.message.poll).toBeNull();
    expect((await app.server.delete(`/messages/${p.message.id}?hard=true`)).status).toBe(200);
    expect((await app.server.get(`/polls/${p.poll.id}`)).body.code).toBe('POLL_NOT_FOUND');
  });
});

describe('suggested options and closing', () => {
  it('members suggest options only when the poll allows it; duplicates are refused', async () => {
    const closedToIdeas = await sentPoll();
    const refused = await bob.post(`/polls/${closedToIdeas.poll.id}/options`, { text: 'Curry' });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('POLL_SUGGESTIONS_DISABLED');
    // The creator always may.
    expect((await alice.post(`/polls/${closedToIdeas.poll.id}/options`, { text: 'Curry' })).status).toBe(201);

    const p = await sentPoll({ allow_user_suggested_options: true });
    const added = await bob.post(`/polls/${p.poll.id}/options`, { text: 'Curry' });
    expect(added.status).toBe(201);
    expect(added.body.poll_option).toMatchObject({ text: 'Curry', suggested_by: 'bob' });
    expect(added.body.poll.options.map((o: { text: string }) => o.text)).toEqual([
      'Pizza',
      'Sushi',
      'Tacos',
      'Curry',
    ]);
    expect(pollEvents(p.poll.id).map((e) => e.type)).toEqual(['poll.updated']);
    const duplicate = await carol.post(`/polls/${p.poll.id}/options`, { text: 'curry' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('POLL_OPTION_EXISTS');
    expect((await eve.post(`/polls/${p.poll.id}/options`, { text: 'Outsider' })).status).toBe(403);
    // The new option takes votes.
    expect((await p.vote(carol, { option_id: added.body.poll_option.id })).status).toBe(201);
  });

  it('the creator or a moderator closes a poll; plain members may not; closed polls take no votes', async () => {
    const p = await sentPoll();
    const byMember = await bob.patch(`/polls/${p.poll.id}`, { is_closed: true });
    expect(byMember.status).toBe(403);
    expect((await bob.patch(`/polls/${p.poll.id}`, { name: 'Renamed' })).status).toBe(403);
    const byMod = await mod.patch(`/polls/${p.poll.id}`, { is_closed: true });
    expect(byMod.status).toBe(200);
    expect(byMod.body.poll.is_closed).toBe(true);
    expect(byMod.body.poll.closed_at).not.toBeNull();
    expect(pollEvents(p.poll.id).map((e) => e.type)).toEqual(['poll.closed']);
    const vote = await p.vote(bob, { option_id: p.option(0) });
    expect(vote.status).toBe(400);
    expect(vote.body.code).toBe('POLL_CLOSED');
    expect((await alice.post(`/polls/${p.poll.id}/options`, { text: 'Late' })).body.code).toBe('POLL_CLOSED');
    // Closing again is a no-op; reopening or editing a closed poll is not possible.
    expect((await alice.patch(`/polls/${p.poll.id}`, { is_closed: true })).status).toBe(200);
    expect((await alice.patch(`/polls/${p.poll.id}`, { is_closed: false })).status).toBe(400);
    expect((await alice.patch(`/polls/${p.poll.id}`, { name: 'x' })).body.code).toBe('POLL_CLOSED');
    expect(pollEvents(p.poll.id)).toHaveLength(1);

    const own = await sentPoll();
    const renamed = await alice.patch(`/polls/${own.poll.id}`, { name: 'Dinner?' });
    expect(renamed.body.poll.name).toBe('Dinner?');
    expect(pollEvents(own.poll.id).map((e) => e.type)).toEqual(['poll.updated']);
    expect((await alice.patch(`/polls/${own.poll.id}`, { is_closed: true })).status).toBe(200);
  });
});

describe('concurrency', () => {
  it('parallel votes stay consistent: limits hold, duplicates collapse, counters match the rows', async () => {
    const p = await sentPoll({ max_votes_allowed: 2 });
    const fanClients = await Promise.all(fans.map((f) => app.as(f)));
    const results = await Promise.all([
      // every fan votes for option 0, three times at once
      ...fanClients.flatMap((c) => [0, 0, 0].map(() => p.vote(c, { option_id: p.option(0) }))),
      // bob tries all three options at once (max 2)
      ...[0, 1, 2].map((i) => p.vote(bob, { option_id: p.option(i) })),
    ]);
    expect(results.every((r) => r.status < 500)).toBe(true);
    const fanResults = results.slice(0, fans.length * 3);
    expect(fanResults.filter((r) => r.status === 201)).toHaveLength(fans.length);
    expect(fanResults.filter((r) => r.status === 200)).toHaveLength(fans.length * 2);
    const bobResults = results.slice(fans.length * 3);
    expect(bobResults.filter((r) => r.status === 201)).toHaveLength(2);
    expect(bobResults.filter((r) => r.status === 400).map((r) => r.body.code)).toEqual([
      'POLL_TOO_MANY_VOTES',
    ]);

    const poll = (await app.server.get(`/polls/${p.poll.id}`)).body.poll as Poll;
    const rows = await server.database.db
      .selectFrom('poll_votes')
      .select(['option_id'])
      .where('app_id', '=', app.id)
      .where('poll_id', '=', p.poll.id)
      .execute();
    expect(poll.vote_count).toBe(rows.length);
    expect(poll.vote_count).toBe(fans.length + 2);
    const counted: Record<string, number> = {};
    for (const r of rows) counted[r.option_id!] = (counted[r.option_id!] ?? 0) + 1;
    expect(poll.vote_counts_by_option).toEqual(counted);
    expect(pollEvents(p.poll.id).filter((e) => e.type === 'poll.vote_casted')).toHaveLength(fans.length + 2);
  });

  it('parallel changes of a unique vote leave exactly one vote', async () => {
    const p = await sentPoll({ enforce_unique_vote: true });
    const results = await Promise.all(
      [0, 1, 2, 0, 1, 2].map((i) => p.vote(carol, { option_id: p.option(i) })),
    );
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    const poll = (await carol.get(`/polls/${p.poll.id}`)).body.poll as Poll;
    expect(poll.vote_count).toBe(1);
    expect(poll.own_votes).toHaveLength(1);
    expect(Object.values(poll.vote_counts_by_option)).toEqual([1]);
  });
});

describe('query counts', () => {
  it('a page of messages loads its polls in a fixed number of queries, and none without polls', async () => {
    const counter = queryCounter(server.database);
    const ch = await channel();
    for (let i = 0; i < 6; i++) {
      const poll = await createPoll(alice, { name: `Q${i}` });
      const sent = await alice.post(`${ch.path}/messages`, { text: `poll ${i}`, poll_id: poll.id });
      await alice.post(`${ch.path}/messages`, { text: `plain ${i}` });
      const vote = await bob.post(`/messages/${sent.body.message.id}/polls/${poll.id}/vote`, {
        vote: { option_id: poll.options[0]!.id },
      });
      expect(vote.status).toBe(201);
    }
    const list = (limit: number) => async () => {
      const res = await bob.get(`${ch.path}/messages?limit=${limit}`);
      expect(res.status).toBe(200);
      return res;
    };
    // Statements reading the poll tables (a message page also selects the poll_id column).
    const pollQueries = (statements: string[]) => statements.filter((q) => /\bfrom "?poll/.test(q));
    const small = pollQueries(await counter.during(list(2)));
    const large = pollQueries(await counter.during(list(12)));
    // polls, options, latest votes, the viewer's own votes: the same four for 1 or 6 polls.
    expect(large, large.join('\n')).toHaveLength(4);
    expect(small).toHaveLength(large.length);
    const plainPath = (await channel()).path;
    await alice.post(`${plainPath}/messages`, { text: 'no poll here' });
    const none = pollQueries(await counter.during(() => bob.get(`${plainPath}/messages`)));
    expect(none).toEqual([]);
  });
});
