import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';
import { RawClient } from '../../test-support/realtime-clients.js';
import { type SmtpSink, startSmtpSink } from '../../test-support/smtp-sink.js';
import { eventually } from '../../test-support/webhook-receiver.js';
import { EmailService } from './email.service.js';
import { digestEmail, escapeHtml, inviteEmail, mentionEmail } from './email.templates.js';

/**
 * Email end to end: real jobs (pg-boss) on a real database, nodemailer to a real SMTP server
 * (smtp-server from npm) that parses what it receives. Delays are 1–2 s here; "not sent" is
 * asserted once the job has run (completed in pg-boss), never by sleeping.
 */
let sink: SmtpSink;
let server: TestServer;
let app: TestApp;
let wsUrl: string;

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'ivy'];

beforeAll(async () => {
  sink = await startSmtpSink();
  server = await createTestServer({
    SMTP_URL: sink.url,
    EMAIL_FROM: 'Parley <chat@parley.test>',
    EMAIL_MENTION_DELAY_SECONDS: '2',
    EMAIL_DIGEST_DELAY_SECONDS: '2',
    JOBS_POLL_INTERVAL_MS: '500',
    PARLEY_PUBLIC_URL: 'https://chat.parley.test',
  });
  const address = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
  wsUrl = `${address.replace('http', 'ws')}/connection/websocket`;
  app = await server.createApp();
  const users = await app.server.post('/users', {
    users: USERS.map((id) => ({ id, name: id === 'alice' ? 'Alice <Admin>' : id })),
  });
  expect(users.status).toBe(200);
  const channel = await app.server.post('/channels', {
    type: 'messaging',
    id: 'mail',
    name: 'Mail & <Friends>',
    members: USERS,
    created_by: 'alice',
  });
  expect(channel.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await sink?.close();
});

async function prefs(userId: string, body: Record<string, unknown>) {
  const res = await app.server.put('/email/preferences', { user_id: userId, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.preferences;
}

async function send(userId: string, text: string, mentioned: string[] = []) {
  const res = await app.server.post('/channels/messaging/mail/messages', {
    text,
    user_id: userId,
    mentioned_user_ids: mentioned,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.message as { id: string; seq: number };
}

/** Waits until every job of `name` about `userId` has run (completed). */
async function jobsDone(name: string, userId: string) {
  await eventually(
    async () => {
      const { rows } = await sql<{ state: string }>`
        select state from pgboss.job where name = ${name} and data->>'user_id' = ${userId}`.execute(
        server.database.db,
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.state === 'completed')).toBe(true);
    },
    20_000,
    100,
  );
}

describe('templates', () => {
  it('escape user content in HTML and keep it plain in text', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const mail = mentionEmail({
      appName: 'Acme',
      authorName: 'Eve <script>',
      channelName: 'general',
      text: 'hi <b>there</b> & welcome',
      unsubscribeUrl: 'https://x.test/email/unsubscribe?token=a.b',
    });
    expect(mail.subject).toBe('Eve <script> mentioned you in general');
    expect(mail.text).toContain('hi <b>there</b> & welcome');
    expect(mail.html).toContain('Eve &lt;script&gt;');
    expect(mail.html).toContain('hi &lt;b&gt;there&lt;/b&gt; &amp; welcome');
    expect(mail.html).not.toContain('<script>');
    const digest = digestEmail({
      appName: 'Acme',
      total: 12,
      messages: [{ channelName: 'c', authorName: 'a', text: '<i>x</i>' }],
      unsubscribeUrl: 'u',
    });
    expect(digest.subject).toBe('12 unread messages in Acme');
    expect(digest.text).toContain('… and 11 more.');
    expect(digest.html).toContain('&lt;i&gt;x&lt;/i&gt;');
    const invite = inviteEmail({ appName: 'Acme', inviterName: null, link: 'https://a.test/i?x=1&y=2' });
    expect(invite.subject).toBe('You are invited to Acme');
    expect(invite.html).toContain('href="https://a.test/i?x=1&amp;y=2"');
  });
});

describe('email preferences', () => {
  it('defaults, partial updates, and who may change them', async () => {
    const initial = await app.server.get('/email/preferences?user_id=ivy');
    expect(initial.status).toBe(200);
    expect(initial.body.preferences).toEqual({
      user_id: 'ivy',
      email: null,
      mentions: true,
      digest: true,
      unsubscribed_at: null,
      updated_at: null,
    });
    const ivy = await app.as('ivy');
    const set = await ivy.put('/email/preferences', { email: 'ivy@example.com', digest: false });
    expect(set.status).toBe(200);
    expect(set.body.preferences).toMatchObject({ email: 'ivy@example.com', mentions: true, digest: false });
    const partial = await ivy.put('/email/preferences', { mentions: false });
    expect(partial.body.preferences).toMatchObject({
      email: 'ivy@example.com',
      mentions: false,
      digest: false,
    });
    expect((await ivy.get('/email/preferences')).body.preferences).toEqual(partial.body.preferences);

    expect((await ivy.put('/email/preferences', { user_id: 'bob', digest: false })).body.code).toBe(
      'FORBIDDEN',
    );
    const noUser = await app.server.put('/email/preferences', { digest: false });
    expect(noUser.status).toBe(400);
    expect(noUser.body.details.field).toBe('user_id');
    const unknown = await app.server.get('/email/preferences?user_id=nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('USER_NOT_FOUND');
    const bad = await ivy.put('/email/preferences', { email: 'not an address' });
    expect(bad.status).toBe(400);
    expect(bad.body.details.field).toBe('body.email');
  });
});

describe('offline mention emails', () => {
  it('sends one after the delay when the mention is still unread and the user offline', async () => {
    await prefs('bob', { email: 'bob@example.com', digest: false });
    const message = await send('alice', 'hey @bob, look at <this>', ['bob']);
    const [mail] = await eventually(() => {
      const mails = sink.to('bob@example.com');
      expect(mails).toHaveLength(1);
      return mails;
    }, 20_000);
    expect(mail!.headers.get('from')).toContain('chat@parley.test');
    expect(mail!.subject).toBe('Alice <Admin> mentioned you in Mail & <Friends>');
    expect(mail!.text).toContain('hey @bob, look at <this>');
    expect(mail!.html).toContain('hey @bob, look at &lt;this&gt;');
    expect(mail!.html).toContain('Alice &lt;Admin&gt;');
    const listUnsubscribe = mail!.headers.get('list-unsubscribe')!;
    expect(listUnsubscribe).toMatch(
      /^<https:\/\/chat\.parley\.test\/email\/unsubscribe\?token=[\w-]+\.[\w-]+>$/,
    );
    expect(mail!.text).toContain(listUnsubscribe.slice(1, -1));
    // The job ran once; a retry or a second run would find the email_sends row.
    await jobsDone('email.mention', 'bob');
    expect(sink.to('bob@example.com')).toHaveLength(1);
    void message;
  }, 40_000);

  it('sends none when the mention was read before the delay', async () => {
    await prefs('carol', { email: 'carol@example.com', digest: false });
    const message = await send('alice', '@carol quick one', ['carol']);
    const carol = await app.as('carol');
    expect((await carol.post('/channels/messaging/mail/read', { message_id: message.id })).status).toBe(200);
    await jobsDone('email.mention', 'carol');
    expect(sink.to('carol@example.com')).toHaveLength(0);
  }, 40_000);

  it('sends none while the user is online on a socket', async () => {
    await prefs('dave', { email: 'dave@example.com', digest: false });
    const client = await RawClient.open(`${wsUrl}?api_key=${app.apiKey}`);
    try {
      const reply = await client.connect(await app.token('dave'));
      expect(reply.error).toBeUndefined();
      await send('alice', '@dave are you there?', ['dave']);
      await jobsDone('email.mention', 'dave');
      expect(sink.to('dave@example.com')).toHaveLength(0);
    } finally {
      client.close();
    }
  }, 40_000);

  it('respects user mutes (a muted sender) and the mention preference', async () => {
    await prefs('erin', { email: 'erin@example.com', digest: false });
    await sql`insert into user_mutes (app_id, user_id, target_id) values (${app.id}, 'erin', 'alice')`.execute(
      server.database.db,
    );
    await send('alice', '@erin muted me', ['erin']);
    await jobsDone('email.mention', 'erin');
    expect(sink.to('erin@example.com')).toHaveLength(0);

    await prefs('frank', { email: 'frank@example.com', mentions: false, digest: false });
    await send('alice', '@frank no mention mails', ['frank']);
    // No job at all: frank does not want mention emails.
    const { rows } =
      await sql`select 1 from pgboss.job where name = 'email.mention' and data->>'user_id' = 'frank'`.execute(
        server.database.db,
      );
    expect(rows).toHaveLength(0);
  }, 40_000);
});

describe('digest of unread messages and unsubscribe', () => {
  it('sends one digest per window listing unread messages; the link unsubscribes', async () => {
    await prefs('gina', { email: 'gina@example.com', mentions: false });
    await send('alice', 'first for the digest');
    await send('bob', 'second <b>for</b> the digest');
    await send('gina', 'my own message is not listed');
    const [mail] = await eventually(() => {
      const mails = sink.to('gina@example.com');
      expect(mails).toHaveLength(1);
      return mails;
    }, 20_000);
    expect(mail!.subject).toMatch(/^\d+ unread messages? in /);
    expect(mail!.text).toContain('Alice <Admin>: first for the digest');
    expect(mail!.text).toContain('bob: second <b>for</b> the digest');
    expect(mail!.text).not.toContain('my own message');
    expect(mail!.html).toContain('second &lt;b&gt;for&lt;/b&gt; the digest');
    await jobsDone('email.digest', 'gina');
    expect(sink.to('gina@example.com')).toHaveLength(1);

    // The unsubscribe link (public, no credentials) turns digests off.
    const link = new URL(mail!.headers.get('list-unsubscribe')!.slice(1, -1));
    const res = await server.parley.http.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, user_id: 'gina', unsubscribed: 'digest' });
    const after = await app.server.get('/email/preferences?user_id=gina');
    expect(after.body.preferences).toMatchObject({ email: 'gina@example.com', digest: false });
  }, 40_000);

  it('refuses forged, tampered or foreign unsubscribe tokens', async () => {
    const row = await server.parley.services.apps.getRow(app.id);
    const good = EmailService.unsubscribeToken(row, 'hank', 'all');
    const [payload, signature] = good.split('.');
    const forged = `${Buffer.from(JSON.stringify({ a: app.id, u: 'bob', k: 'all' })).toString('base64url')}.${signature}`;
    for (const token of ['x', `${payload}.AAAA`, forged, `${good}.extra`]) {
      const res = await server.parley.http.inject({
        method: 'GET',
        url: `/email/unsubscribe?token=${encodeURIComponent(token)}`,
      });
      expect(res.statusCode, token).toBe(400);
      expect(res.json().code).toBe('EMAIL_UNSUBSCRIBE_TOKEN_INVALID');
    }
    const missing = await server.parley.http.inject({ method: 'GET', url: '/email/unsubscribe' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('VALIDATION_FAILED');

    const ok = await server.parley.http.inject({ method: 'GET', url: `/email/unsubscribe?token=${good}` });
    expect(ok.json()).toEqual({ ok: true, user_id: 'hank', unsubscribed: 'all' });
    const prefsAfter = (await app.server.get('/email/preferences?user_id=hank')).body.preferences;
    expect(prefsAfter.unsubscribed_at).not.toBeNull();
    // Saving preferences again opts back in.
    expect((await prefs('hank', { email: 'hank@example.com' })).unsubscribed_at).toBeNull();
  });
});

describe('invite emails', () => {
  it('sends the invitation queued in a transaction, once per key', async () => {
    const row = await server.parley.services.apps.getRow(app.id);
    const invite = {
      key: 'inv-1',
      to: 'new.person@example.com',
      inviter_name: 'Alice <Admin>',
      link: 'https://chat.parley.test/accept?code=abc&x=1',
      note: 'Join us & <bring> snacks',
    };
    await server.database.db.transaction().execute(async (tx) => {
      expect(await server.parley.services.email.sendInvite(tx, row, invite)).toBe(true);
      expect(await server.parley.services.email.sendInvite(tx, row, invite)).toBe(true);
    });
    server.parley.jobs.wake('email.invite');
    const [mail] = await eventually(() => {
      const mails = sink.to('new.person@example.com');
      expect(mails).toHaveLength(1);
      return mails;
    }, 20_000);
    expect(mail!.subject).toBe(`Alice <Admin> invited you to ${row.name}`);
    expect(mail!.text).toContain('Accept the invitation: https://chat.parley.test/accept?code=abc&x=1');
    expect(mail!.html).toContain('href="https://chat.parley.test/accept?code=abc&amp;x=1"');
    expect(mail!.html).toContain('Join us &amp; &lt;bring&gt; snacks');
    // A rolled-back transaction queues nothing.
    await expect(
      server.database.db.transaction().execute(async (tx) => {
        await server.parley.services.email.sendInvite(tx, row, {
          ...invite,
          key: 'inv-2',
          to: 'ghost@example.com',
        });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    const { rows } =
      await sql`select 1 from pgboss.job where name = 'email.invite' and data->>'key' = 'inv-2'`.execute(
        server.database.db,
      );
    expect(rows).toHaveLength(0);
  }, 40_000);
});

describe('without SMTP_URL', () => {
  it('queues no email jobs', async () => {
    const plain = await createTestServer();
    try {
      const a = await plain.createApp();
      await a.server.post('/users', { users: [{ id: 'u1' }, { id: 'u2' }] });
      await a.server.put('/email/preferences', { user_id: 'u2', email: 'u2@example.com' });
      await a.server.post('/channels', {
        type: 'messaging',
        id: 'c',
        members: ['u1', 'u2'],
        created_by: 'u1',
      });
      const sent = await a.server.post('/channels/messaging/c/messages', {
        text: 'hi',
        user_id: 'u1',
        mentioned_user_ids: ['u2'],
      });
      expect(sent.status).toBe(201);
      const { rows } = await sql`select 1 from pgboss.job where name like 'email.%'`.execute(
        plain.database.db,
      );
      expect(rows).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });
});
