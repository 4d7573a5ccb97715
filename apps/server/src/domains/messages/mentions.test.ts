import type { Message, ParleyEvent } from '@parley/protocol';
import { Centrifuge, type PublicationContext } from 'centrifuge';
import { type Compilable, CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type ApiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { listenForGateway } from '../../test-support/realtime-clients.js';
import { MAX_MENTIONS, parseMentions } from './mentions.js';
import { userMessagesRepository } from './user-messages.repository.js';

describe('parseMentions', () => {
  it('finds @user_id tokens at word starts, in order, once each', () => {
    expect(parseMentions('hi @bob and @carol, @bob again')).toMatchObject({
      userIds: ['bob', 'carol'],
      channel: false,
      here: false,
    });
    expect(parseMentions('mail me at bob@example.com').userIds).toEqual([]);
    expect(parseMentions('(@alice) @user-1=x').userIds).toEqual(['alice', 'user-1=x']);
  });

  it('offers ids with and without sentence punctuation, counting the token once', () => {
    const parsed = parseMentions('thanks @bob. and @j.doe');
    expect(parsed.userIds).toEqual(['bob.', 'bob', 'j.doe']);
    expect(parsed.tokens).toBe(2);
  });

  it('reads @channel and @here as wildcards, never as user ids', () => {
    expect(parseMentions('@channel heads up')).toMatchObject({
      userIds: [],
      channel: true,
      here: false,
      tokens: 0,
    });
    expect(parseMentions('@here: standup')).toMatchObject({ userIds: [], channel: false, here: true });
    expect(parseMentions('@channelling @hereford').userIds).toEqual(['channelling', 'hereford']);
  });

  it('counts distinct tokens for the mention limit', () => {
    const text = Array.from({ length: MAX_MENTIONS + 1 }, (_, i) => `@u${i}`).join(' ');
    expect(parseMentions(text).tokens).toBe(MAX_MENTIONS + 1);
    expect(parseMentions('@a @a @a').tokens).toBe(1);
  });
});

let server: TestServer;
let app: TestApp;
let url: string;
let alice: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let dave: ApiClient;
const seen: ParleyEvent[] = [];
const clients: Centrifuge[] = [];

let counter = 0;
/** A fresh channel owned by alice with bob, carol and dave as plain members. */
async function channel() {
  const id = `m${++counter}`;
  const res = await alice.post('/channels', { type: 'messaging', id, members: ['bob', 'carol', 'dave'] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { path: `/channels/messaging/${id}`, cid: `messaging:${id}` };
}

async function send(client: ApiClient, path: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await client.post(`${path}/messages`, { text, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as Message;
}

const mentionedIn = (messageId: string) =>
  seen
    .filter((e) => e.type === 'notification.mention' && e.message.id === messageId)
    .map((e) => (e.type === 'notification.mention' ? e.user_id : ''))
    .sort();

const mentionsOf = async (client: ApiClient, query = '') => {
  const res = await client.get(`/mentions${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.messages as Message[]).map((m) => m.text);
};

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  url = await listenForGateway(server, app.apiKey);
  server.parley.bus.subscribe((e) => {
    if (e.app_id === app.id) seen.push(e);
  });
  await app.server.post('/users', {
    users: [{ id: 'alice' }, { id: 'bob' }, { id: 'carol' }, { id: 'dave' }, { id: 'eve' }, { id: 'j.doe' }],
  });
  [alice, bob, carol, dave] = (await Promise.all(
    ['alice', 'bob', 'carol', 'dave'].map((u) => app.as(u)),
  )) as [ApiClient, ApiClient, ApiClient, ApiClient];
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.close();
});

describe('mentions on send', () => {
  it('keeps only channel members from the text and from mentioned_user_ids, and notifies them', async () => {
    const { path } = await channel();
    const msg = await send(bob, path, 'hey @carol, @eve and @nobody. also @bob', {
      mentioned_user_ids: ['dave', 'eve'],
    });
    // eve exists but is not a member; nobody does not exist; bob may mention himself.
    expect(msg.mentioned_user_ids).toEqual(['carol', 'bob', 'dave']);
    expect(mentionedIn(msg.id)).toEqual(['carol', 'dave']);
    expect(await mentionsOf(carol)).toContain(msg.text);
    expect(await mentionsOf(bob)).not.toContain(msg.text);
  });

  it('@channel and @here mention every member when an owner or moderator writes them', async () => {
    const { path } = await channel();
    const fromOwner = await send(alice, path, '@channel release at noon');
    expect(fromOwner).toMatchObject({
      mentioned_channel: true,
      mentioned_here: false,
      mentioned_user_ids: [],
    });
    expect(mentionedIn(fromOwner.id)).toEqual(['bob', 'carol', 'dave']);
    const fromServer = await send(app.server, path, '@here standup', { user_id: 'bob' });
    expect(fromServer).toMatchObject({ mentioned_channel: false, mentioned_here: true });
    expect(mentionedIn(fromServer.id)).toEqual(['alice', 'carol', 'dave']);
    // From a plain member they stay text: nobody is mentioned, nothing is refused.
    const fromMember = await send(bob, path, '@channel lunch?');
    expect(fromMember).toMatchObject({
      mentioned_channel: false,
      mentioned_here: false,
      mentioned_user_ids: [],
    });
    expect(mentionedIn(fromMember.id)).toEqual([]);
  });

  it('refuses more than MAX_MENTIONS distinct mentions with 400 TOO_MANY_MENTIONS', async () => {
    const { path } = await channel();
    const text = Array.from({ length: MAX_MENTIONS + 1 }, (_, i) => `@u${i}`).join(' ');
    const res = await bob.post(`${path}/messages`, { text });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'TOO_MANY_MENTIONS', details: { field: 'text' } });
    const tooManyIds = await bob.post(`${path}/messages`, {
      text: 'hi',
      mentioned_user_ids: Array.from({ length: 101 }, (_, i) => `u${i}`),
    });
    expect(tooManyIds.status).toBe(400);
    expect(tooManyIds.body.details.field).toBe('body.mentioned_user_ids');
  });

  it('delivers notification.mention on the mentioned user’s own realtime channel', async () => {
    const { path } = await channel();
    const client = new Centrifuge(url, { websocket: WebSocket, token: await app.token('dave') });
    clients.push(client);
    const sub = client.newSubscription('chat:user:dave');
    const received = new Promise<PublicationContext>((resolve) => {
      sub.on('publication', (ctx) => {
        if (ctx.data.type === 'notification.mention') resolve(ctx);
      });
    });
    const subscribed = new Promise<void>((resolve) => sub.once('subscribed', () => resolve()));
    sub.subscribe();
    client.connect();
    await subscribed;
    const msg = await send(carol, path, 'ping @dave');
    const pub = await received;
    expect(pub.data).toMatchObject({
      type: 'notification.mention',
      user_id: 'dave',
      message: { id: msg.id },
    });
  });
});

describe('my mentions and unread mentions', () => {
  it('lists mentions newest first with a cursor, per channel, unread only; counts unread per channel', async () => {
    const a = await channel();
    const b = await channel();
    const m1 = await send(alice, a.path, '@carol one');
    await send(alice, a.path, 'no mention');
    const m2 = await send(bob, b.path, '@carol two');
    const m3 = await send(dave, a.path, '@carol three');

    const all = await mentionsOf(carol, `?cid=${a.cid}`);
    expect(all).toEqual(['@carol three', '@carol one']);
    expect(await mentionsOf(carol, `?cid=${a.cid}&limit=1&id_lt=${m3.id}`)).toEqual(['@carol one']);
    const unread = await carol.get('/mentions/unread');
    expect(unread.status).toBe(200);
    const counts = Object.fromEntries(
      (unread.body.channels as { cid: string; unread_mentions: number }[]).map((c) => [
        c.cid,
        c.unread_mentions,
      ]),
    );
    expect(counts[a.cid]).toBe(2);
    expect(counts[b.cid]).toBe(1);

    // Reading up to m1 leaves one unread mention in a; reading b clears it.
    expect((await carol.post(`${a.path}/read`, { message_id: m1.id })).status).toBe(200);
    expect((await carol.post(`${b.path}/read`, {})).status).toBe(200);
    expect(await mentionsOf(carol, `?cid=${a.cid}&unread_only=true`)).toEqual(['@carol three']);
    expect(await mentionsOf(carol, `?cid=${b.cid}&unread_only=true`)).toEqual([]);
    const after = (await carol.get('/mentions/unread')).body;
    const afterCounts = Object.fromEntries(
      (after.channels as { cid: string; unread_mentions: number }[]).map((c) => [c.cid, c.unread_mentions]),
    );
    expect(afterCounts[a.cid]).toBe(1);
    expect(afterCounts[b.cid]).toBeUndefined();
    expect(after.total_unread_mentions).toBe(Object.values(afterCounts).reduce((s, n) => s + n, 0));
    expect(m2.mentioned_user_ids).toEqual(['carol']);
  });

  it('edits re-resolve mentions (only new ones notified); deletes drop them from the lists', async () => {
    const { path, cid } = await channel();
    const msg = await send(bob, path, 'hi @carol');
    const edited = await bob.patch(`/messages/${msg.id}`, { text: 'hi @carol and @dave' });
    expect(edited.status).toBe(200);
    expect(edited.body.message.mentioned_user_ids).toEqual(['carol', 'dave']);
    // carol was notified by the send; the edit notifies only dave.
    expect(mentionedIn(msg.id)).toEqual(['carol', 'dave']);
    expect(await mentionsOf(dave, `?cid=${cid}`)).toEqual(['hi @carol and @dave']);

    await bob.patch(`/messages/${msg.id}`, { text: 'hi @dave' });
    expect(await mentionsOf(carol, `?cid=${cid}`)).toEqual([]);
    expect(await mentionsOf(dave, `?cid=${cid}`)).toEqual(['hi @dave']);
    // An edit of custom data alone keeps mentions as they are.
    await bob.patch(`/messages/${msg.id}`, { custom: { x: 1 } });
    expect(await mentionsOf(dave, `?cid=${cid}`)).toEqual(['hi @dave']);

    await bob.delete(`/messages/${msg.id}`);
    expect(await mentionsOf(dave, `?cid=${cid}`)).toEqual([]);
    const unread = (await dave.get('/mentions/unread')).body.channels as { cid: string }[];
    expect(unread.map((c) => c.cid)).not.toContain(cid);
  });

  it('server calls name the user; users cannot read others’ mentions', async () => {
    const { path } = await channel();
    await send(alice, path, '@bob server-side');
    expect(
      (await app.server.get('/mentions?user_id=bob')).body.messages.map((m: Message) => m.text),
    ).toContain('@bob server-side');
    expect((await app.server.get('/mentions')).status).toBe(400);
    expect((await carol.get('/mentions?user_id=bob')).status).toBe(403);
  });

  it('"my mentions" and "unread mentions" are index lookups (EXPLAIN with sequential scans off)', async () => {
    const plan = async (query: Compilable) =>
      server.database.db.transaction().execute(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx);
        const compiled = query.compile();
        const result = await tx.executeQuery<{ 'QUERY PLAN': string }>(
          CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]),
        );
        return result.rows.map((r) => r['QUERY PLAN']).join('\n');
      });
    const db = server.database.db;
    const mine = await plan(
      userMessagesRepository.mentionsQuery(db, app.id, 'carol', { unreadOnly: false, limit: 25 }),
    );
    expect(mine).toContain('user_messages_mentioned_idx');
    const unread = await plan(userMessagesRepository.unreadMentionsQuery(db, app.id, 'carol'));
    expect(unread).toMatch(/user_messages_(unread_mentions|mentioned)_idx/);
    const threads = await plan(userMessagesRepository.threadsQuery(db, app.id, 'carol', { limit: 25 }));
    expect(threads).toContain('user_messages_threads_idx');
  });
});
