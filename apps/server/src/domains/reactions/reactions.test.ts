import {
  LATEST_REACTIONS_LIMIT,
  MAX_REACTIONS_PER_USER_PER_MESSAGE,
  type Message,
  type ParleyEvent,
  type Reaction,
  ReactionType,
} from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture } from '../../test-support/chat-fixture.js';
import type { ApiClient } from '../../test-support/harness.js';

let fx: ChatFixture;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let eve: ApiClient;

let counter = 0;
/** A fresh channel owned by alice with bob and carol; returns its path and one message by alice. */
async function channelWithMessage(extra: Record<string, unknown> = {}, type = 'messaging') {
  const id = `r${++counter}`;
  const res = await alice.post('/channels', { type, id, members: ['bob', 'carol'], ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const path = `/channels/${type}/${id}`;
  const sent = await alice.post(`${path}/messages`, { text: 'react to me' });
  expect(sent.status).toBe(201);
  return { path, cid: `${type}:${id}`, message: sent.body.message as Message };
}

const react = (client: ApiClient, messageId: string, body: Record<string, unknown>) =>
  client.post(`/messages/${messageId}/reactions`, body);

const getMessage = async (client: ApiClient, id: string) => {
  const res = await client.get(`/messages/${id}`);
  expect(res.status).toBe(200);
  return res.body.message as Message;
};

const reactionEvents = (messageId: string) =>
  fx.events.filter(
    (e): e is Extract<ParleyEvent, { type: 'reaction.new' | 'reaction.updated' | 'reaction.deleted' }> =>
      e.type.startsWith('reaction.') && 'message' in e && e.message.id === messageId,
  );

beforeAll(async () => {
  fx = await chatFixture(
    ['alice', 'bob', 'carol', 'eve', ...Array.from({ length: 12 }, (_, i) => `fan${i}`)].map((id) => ({
      id,
    })),
  );
  ({ alice, bob, carol, eve } = fx.users as Record<'alice' | 'bob' | 'carol' | 'eve', ApiClient>);
});
afterAll(() => fx?.close());

describe('reaction types', () => {
  it('accepts shortcodes and unicode emoji, refuses anything else and over-long types', () => {
    for (const ok of [
      'like',
      '+1',
      ':+1:',
      'party_parrot',
      'thumbs-up',
      '👍',
      '👍🏽',
      '🏳️‍🌈',
      '🇫🇷',
      '1️⃣',
      '❤️',
    ]) {
      expect(ReactionType.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['', 'two words', '<b>', 'a:b', ':like', 'x'.repeat(65), 'é', '👍 ', 'like👍']) {
      expect(ReactionType.safeParse(bad).success, bad).toBe(false);
    }
    expect(ReactionType.safeParse('x'.repeat(64)).success).toBe(true);
  });
});

describe('adding and removing reactions', () => {
  it('adds (201), updates the score (200), removes; the message carries counts, scores, own and latest', async () => {
    const { cid, message } = await channelWithMessage();
    const first = await react(bob, message.id, { type: 'like' });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.reaction).toMatchObject({
      message_id: message.id,
      user_id: 'bob',
      type: 'like',
      score: 1,
    });
    expect(first.body.message).toMatchObject({ reaction_counts: { like: 1 }, reaction_scores: { like: 1 } });
    expect(first.body.message.own_reactions).toEqual([first.body.reaction]);
    // Every change moves updated_at forward, so last-writer-wins clients keep the newest copy.
    expect(first.body.message.updated_at > message.updated_at).toBe(true);
    expect(first.body.message.edited_at).toBeNull();

    expect((await react(carol, message.id, { type: 'like' })).status).toBe(201);
    const clap = await react(carol, message.id, { type: 'clap', score: 5 });
    expect(clap.body.message).toMatchObject({
      reaction_counts: { like: 2, clap: 1 },
      reaction_scores: { like: 2, clap: 5 },
    });
    const more = await react(carol, message.id, { type: 'clap', score: 12 });
    expect(more.status).toBe(200);
    expect(more.body.message.updated_at > clap.body.message.updated_at).toBe(true);
    expect(more.body.reaction.score).toBe(12);
    expect(more.body.message.reaction_scores).toEqual({ like: 2, clap: 12 });

    const asBob = await getMessage(bob, message.id);
    expect(asBob.own_reactions!.map((r) => r.type)).toEqual(['like']);
    expect(asBob.latest_reactions!.map((r) => `${r.user_id}:${r.type}`)).toEqual([
      'carol:clap',
      'carol:like',
      'bob:like',
    ]);
    expect((await getMessage(alice, message.id)).own_reactions).toEqual([]);

    const removed = await bob.delete(`/messages/${message.id}/reactions/like`);
    expect(removed.status).toBe(200);
    expect(removed.body.message.reaction_counts).toEqual({ like: 1, clap: 1 });
    expect(removed.body.message.own_reactions).toEqual([]);
    const again = await bob.delete(`/messages/${message.id}/reactions/like`);
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('REACTION_NOT_FOUND');

    // Events: new, new, new, updated, deleted; each carries the message as a fresh fetch shows it
    // (own_reactions empty: events go to everyone).
    const events = reactionEvents(message.id);
    expect(events.map((e) => e.type)).toEqual([
      'reaction.new',
      'reaction.new',
      'reaction.new',
      'reaction.updated',
      'reaction.deleted',
    ]);
    expect(events.every((e) => e.cid === cid)).toBe(true);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ user_id: 'bob', reaction: { type: 'like', user_id: 'bob' } });
    expect(last.message).toEqual(await getMessage(alice, message.id));
  });

  it('enforce_unique replaces the user’s other reactions', async () => {
    const { message } = await channelWithMessage();
    await react(bob, message.id, { type: 'like' });
    await react(bob, message.id, { type: 'love' });
    await react(carol, message.id, { type: 'like' });
    const res = await react(bob, message.id, { type: 'haha', enforce_unique: true });
    expect(res.status).toBe(201);
    expect(res.body.message.reaction_counts).toEqual({ like: 1, haha: 1 });
    expect(res.body.message.own_reactions.map((r: Reaction) => r.type)).toEqual(['haha']);
    const types = reactionEvents(message.id)
      .slice(-3)
      .map((e) => `${e.type}:${e.reaction.type}`);
    expect(types.sort()).toEqual(['reaction.deleted:like', 'reaction.deleted:love', 'reaction.new:haha']);
  });

  it('lists a message’s reactions newest first with a cursor, optionally by type', async () => {
    const { message } = await channelWithMessage({
      members: ['bob', 'carol', ...Array.from({ length: 12 }, (_, i) => `fan${i}`)],
    });
    for (let i = 0; i < 12; i++) {
      const res = await fx.app.server.post(`/messages/${message.id}/reactions`, {
        type: i % 3 === 0 ? 'fire' : 'like',
        user_id: `fan${i}`,
      });
      expect(res.status).toBe(201);
    }
    const seenIds: string[] = [];
    let next: string | null = null;
    do {
      const res: { status: number; body: { reactions: Reaction[]; next: string | null } } = await bob.get(
        `/messages/${message.id}/reactions?limit=5${next ? `&next=${next}` : ''}`,
      );
      expect(res.status).toBe(200);
      seenIds.push(...res.body.reactions.map((r) => r.user_id));
      next = res.body.next;
    } while (next);
    expect(seenIds).toEqual(Array.from({ length: 12 }, (_, i) => `fan${11 - i}`));
    const fire = await bob.get(`/messages/${message.id}/reactions?type=fire`);
    expect(fire.body.reactions.map((r: Reaction) => r.user_id)).toEqual(['fan9', 'fan6', 'fan3', 'fan0']);
    // latest_reactions holds at most LATEST_REACTIONS_LIMIT, newest first.
    const msg = await getMessage(bob, message.id);
    expect(msg.latest_reactions!.map((r) => r.user_id)).toEqual(seenIds.slice(0, LATEST_REACTIONS_LIMIT));
    expect(msg.reaction_counts).toEqual({ like: 8, fire: 4 });
    expect((await bob.get(`/messages/${message.id}/reactions?next=nope`)).status).toBe(400);
    expect((await eve.get(`/messages/${message.id}/reactions`)).status).toBe(403);
  });

  it('channel message lists carry reactions per message (own for the viewer)', async () => {
    const { path, message } = await channelWithMessage();
    const second = (await bob.post(`${path}/messages`, { text: 'second' })).body.message as Message;
    await react(bob, message.id, { type: 'like' });
    await react(carol, second.id, { type: '👍' });
    const listed = (await bob.get(`${path}/messages`)).body.messages as Message[];
    expect(listed.map((m) => [m.reaction_counts, m.own_reactions!.map((r) => r.type)])).toEqual([
      [{ like: 1 }, ['like']],
      [{ '👍': 1 }, []],
    ]);
    // Unicode types work in the URL too.
    const del = await carol.delete(`/messages/${second.id}/reactions/${encodeURIComponent('👍')}`);
    expect(del.status).toBe(200);
    expect(del.body.message.reaction_counts).toEqual({});
  });
});

describe('concurrency', () => {
  it('concurrent identical adds make one reaction; concurrent adds by many users are all counted', async () => {
    const { message } = await channelWithMessage({
      members: ['bob', 'carol', ...Array.from({ length: 12 }, (_, i) => `fan${i}`)],
    });
    const same = await Promise.all(
      Array.from({ length: 20 }, () => react(bob, message.id, { type: 'like' })),
    );
    expect(same.filter((r) => r.status === 201)).toHaveLength(1);
    expect(same.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    const many = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fx.app.server.post(`/messages/${message.id}/reactions`, { type: 'like', user_id: `fan${i}` }),
      ),
    );
    expect(many.every((r) => r.status === 201)).toBe(true);
    const msg = await getMessage(bob, message.id);
    expect(msg.reaction_counts).toEqual({ like: 13 });
    const rows = await fx.server.database.db
      .selectFrom('reactions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('message_id', '=', message.id)
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(13);
  });

  it('the per-user limit holds under concurrent adds of different types', async () => {
    const { message } = await channelWithMessage();
    const results = await Promise.all(
      Array.from({ length: MAX_REACTIONS_PER_USER_PER_MESSAGE + 5 }, (_, i) =>
        react(bob, message.id, { type: `t${i}` }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(MAX_REACTIONS_PER_USER_PER_MESSAGE);
    const refused = results.filter((r) => r.status !== 201);
    expect(refused).toHaveLength(5);
    expect(refused.every((r) => r.status === 400 && r.body.code === 'TOO_MANY_REACTIONS')).toBe(true);
    // Updating the score of an existing one is still fine at the limit.
    const existing = results.find((r) => r.status === 201)!.body.reaction.type;
    expect((await react(bob, message.id, { type: existing, score: 3 })).status).toBe(200);
    expect(Object.keys((await getMessage(bob, message.id)).reaction_counts!)).toHaveLength(
      MAX_REACTIONS_PER_USER_PER_MESSAGE,
    );
  });
});

describe('rules and bad input', () => {
  it('refuses reactions on deleted messages (400), off channel types (403), frozen channels and non-members', async () => {
    const { path, message } = await channelWithMessage();
    await react(bob, message.id, { type: 'like' });
    const doomed = (await bob.post(`${path}/messages`, { text: 'doomed' })).body.message as Message;
    await react(carol, doomed.id, { type: 'like' });
    await bob.delete(`/messages/${doomed.id}`);
    const tombstone = await getMessage(carol, doomed.id);
    expect(tombstone).toMatchObject({ reaction_counts: {}, latest_reactions: [], own_reactions: [] });
    const onDeleted = await react(carol, doomed.id, { type: 'like' });
    expect(onDeleted.status).toBe(400);
    expect(onDeleted.body.code).toBe('MESSAGE_DELETED');

    const nonMember = await react(eve, message.id, { type: 'like' });
    expect(nonMember.status).toBe(403);
    expect(nonMember.body).toMatchObject({ code: 'FORBIDDEN', details: { action: 'react' } });
    const unknown = await react(bob, '01900000-0000-7000-8000-000000000000', { type: 'like' });
    expect(unknown.status).toBe(404);

    expect((await alice.patch(path, { set: { frozen: true } })).status).toBe(200);
    const frozen = await react(carol, message.id, { type: 'like' });
    expect(frozen.status).toBe(403);
    expect(frozen.body.code).toBe('CHANNEL_FROZEN');
    expect((await bob.delete(`/messages/${message.id}/reactions/like`)).body.code).toBe('CHANNEL_FROZEN');

    await fx.app.server.post('/channel-types', { name: 'quiet', config: { reactions: false } });
    const quiet = await channelWithMessage({}, 'quiet');
    const off = await react(bob, quiet.message.id, { type: 'like' });
    expect(off.status).toBe(403);
    expect(off.body).toMatchObject({ code: 'FORBIDDEN', details: { action: 'react' } });
  });

  it('banned members may not react', async () => {
    const { path, message } = await channelWithMessage();
    expect((await alice.patch(`${path}/members/carol`, { banned: true })).status).toBe(200);
    const res = await react(carol, message.id, { type: 'like' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('USER_BANNED');
  });

  it('validates bodies and parameters with field names', async () => {
    const { message } = await channelWithMessage();
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'body.type'],
      [{ type: 'x'.repeat(65) }, 'body.type'],
      [{ type: 'two words' }, 'body.type'],
      [{ type: 'like', score: 0 }, 'body.score'],
      [{ type: 'like', score: 1.5 }, 'body.score'],
      [{ type: 'like', colour: 'red' }, 'body.colour'],
    ];
    for (const [body, field] of cases) {
      const res = await react(bob, message.id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details.field, JSON.stringify(res.body)).toBe(field);
    }
    const longType = await bob.delete(`/messages/${message.id}/reactions/${'x'.repeat(65)}`);
    expect(longType.status).toBe(400);
    expect(longType.body.details.field).toBe('params.reaction_type');
    expect((await react(fx.app.server, message.id, { type: 'like' })).status).toBe(400);
    expect((await react(bob, message.id, { type: 'like', user_id: 'carol' })).status).toBe(403);
  });
});
