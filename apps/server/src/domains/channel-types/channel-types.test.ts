import { DEFAULT_CHANNEL_TYPES } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestApp, type TestServer } from '../../test-support/harness.js';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await createTestServer();
  app = await server.createApp();
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
});
afterAll(() => server?.close());

describe('reading channel types', () => {
  it('lists the app’s types by name; users may read them too', async () => {
    const res = await app.server.get('/channel-types');
    expect(res.status).toBe(200);
    expect(res.body.channel_types.map((t: { name: string }) => t.name)).toEqual([
      'commerce',
      'livestream',
      'messaging',
      'team',
    ]);
    const alice = await app.as('alice');
    const asUser = await alice.get('/channel-types');
    expect(asUser.status).toBe(200);
    expect(asUser.body).toEqual(res.body);
  });

  it('gets one type with its full config', async () => {
    const res = await app.server.get('/channel-types/livestream');
    expect(res.status).toBe(200);
    expect(res.body.channel_type).toMatchObject({
      name: 'livestream',
      config: DEFAULT_CHANNEL_TYPES.livestream,
    });
    expect(Date.parse(res.body.channel_type.created_at)).not.toBeNaN();
  });

  it('answers 404 CHANNEL_TYPE_NOT_FOUND for an unknown type and 400 for an invalid name', async () => {
    const res = await app.server.get('/channel-types/nope');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('CHANNEL_TYPE_NOT_FOUND');
    const bad = await app.server.get('/channel-types/Bad%20Name');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'params.name' } });
  });

  it('types are per app: another app does not see this app’s types', async () => {
    const other = await server.createApp();
    expect((await app.server.post('/channel-types', { name: 'only-here' })).status).toBe(201);
    expect((await other.server.get('/channel-types/only-here')).status).toBe(404);
    expect((await other.server.get('/channel-types')).body.channel_types).toHaveLength(4);
  });
});

describe('creating channel types', () => {
  it('creates a type from the messaging defaults plus the given config', async () => {
    const res = await app.server.post('/channel-types', {
      name: 'support',
      config: { max_message_length: 500, reactions: false, commands: ['giphy'] },
    });
    expect(res.status).toBe(201);
    expect(res.body.channel_type).toMatchObject({
      name: 'support',
      config: {
        ...DEFAULT_CHANNEL_TYPES.messaging,
        max_message_length: 500,
        reactions: false,
        commands: ['giphy'],
      },
    });
    expect((await app.server.get('/channel-types/support')).body).toEqual(res.body);

    // Channels of the new type follow its config.
    const ch = await app.server.post('/channels', { type: 'support', id: 's1', members: ['alice'] });
    expect(ch.status).toBe(201);
    const alice = await app.as('alice');
    const long = await alice.post('/channels/support/s1/messages', { text: 'x'.repeat(501) });
    expect(long.status).toBe(400);
    expect(long.body.code).toBe('MESSAGE_TOO_LONG');
    expect((await alice.post('/channels/support/s1/messages', { text: 'x'.repeat(500) })).status).toBe(201);
  });

  it('refuses a duplicate name with 409 CHANNEL_TYPE_EXISTS, leaving the existing type unchanged', async () => {
    const res = await app.server.post('/channel-types', { name: 'messaging', config: { reactions: false } });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'CHANNEL_TYPE_EXISTS', details: { field: 'name' } });
    expect((await app.server.get('/channel-types/messaging')).body.channel_type.config.reactions).toBe(true);
  });

  it('validates the name and the config', async () => {
    const cases: [unknown, string][] = [
      [{}, 'body.name'],
      [{ name: 'Upper' }, 'body.name'],
      [{ name: 'has space' }, 'body.name'],
      [{ name: 'x'.repeat(65) }, 'body.name'],
      [{ name: 'ok-type', config: { max_message_length: 0 } }, 'body.config.max_message_length'],
      [{ name: 'ok-type', config: { slow_mode_seconds: 3601 } }, 'body.config.slow_mode_seconds'],
      [{ name: 'ok-type', config: { reactions: 'yes' } }, 'body.config.reactions'],
      [{ name: 'ok-type', config: { unknown_flag: true } }, 'body.config.unknown_flag'],
      [{ name: 'ok-type', extra: 1 }, 'body.extra'],
    ];
    for (const [body, field] of cases) {
      const res = await app.server.post('/channel-types', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details.field, JSON.stringify(body)).toBe(field);
    }
    expect((await app.server.get('/channel-types/ok-type')).status).toBe(404);
  });
});

describe('updating channel types', () => {
  it('merges the given config into the stored one', async () => {
    await app.server.post('/channel-types', { name: 'upd', config: { max_message_length: 300 } });
    const res = await app.server.patch('/channel-types/upd', { config: { typing_events: false } });
    expect(res.status).toBe(200);
    expect(res.body.channel_type.config).toEqual({
      ...DEFAULT_CHANNEL_TYPES.messaging,
      max_message_length: 300,
      typing_events: false,
    });
    const again = await app.server.patch('/channel-types/upd', { config: { slow_mode_seconds: 5 } });
    expect(again.body.channel_type.config).toMatchObject({
      max_message_length: 300,
      typing_events: false,
      slow_mode_seconds: 5,
    });
    expect((await app.server.get('/channel-types/upd')).body).toEqual(again.body);
  });

  it('answers 404 for an unknown type and 400 for a bad config', async () => {
    const missing = await app.server.patch('/channel-types/nope', { config: { reactions: false } });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('CHANNEL_TYPE_NOT_FOUND');
    const bad = await app.server.patch('/channel-types/messaging', { config: { max_message_length: -1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.details.field).toBe('body.config.max_message_length');
    expect(
      (await app.server.get('/channel-types/messaging')).body.channel_type.config.max_message_length,
    ).toBe(DEFAULT_CHANNEL_TYPES.messaging!.max_message_length);
  });
});

describe('deleting channel types', () => {
  it('deletes an unused type; it is then 404', async () => {
    await app.server.post('/channel-types', { name: 'temp' });
    const res = await app.server.delete('/channel-types/temp');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true });
    expect((await app.server.get('/channel-types/temp')).status).toBe(404);
    const again = await app.server.delete('/channel-types/temp');
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('CHANNEL_TYPE_NOT_FOUND');
    // The name is free again.
    expect((await app.server.post('/channel-types', { name: 'temp' })).status).toBe(201);
  });

  it('is refused while channels of that type exist, and allowed once they are gone', async () => {
    await app.server.post('/channel-types', { name: 'busy' });
    expect((await app.server.post('/channels', { type: 'busy', id: 'b1' })).status).toBe(201);
    const res = await app.server.delete('/channel-types/busy');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'name' } });
    expect((await app.server.get('/channel-types/busy')).status).toBe(200);
    expect((await app.server.get('/channels/busy/b1')).status).toBe(200);

    expect((await app.server.delete('/channels/busy/b1')).status).toBe(200);
    expect((await app.server.delete('/channel-types/busy')).status).toBe(200);
  });

  it('a channel of the same type name in another app does not block deletion', async () => {
    const other = await server.createApp();
    await other.server.post('/channel-types', { name: 'shared' });
    await app.server.post('/channel-types', { name: 'shared' });
    expect((await other.server.post('/channels', { type: 'shared', id: 'x' })).status).toBe(201);
    expect((await app.server.delete('/channel-types/shared')).status).toBe(200);
    expect((await other.server.get('/channel-types/shared')).status).toBe(200);
  });
});

describe('permissions', () => {
  it('users cannot create, update or delete channel types (403 AUTH_SERVER_ONLY)', async () => {
    const alice = await app.as('alice');
    const attempts = [
      await alice.post('/channel-types', { name: 'mine' }),
      await alice.patch('/channel-types/messaging', { config: { reactions: false } }),
      await alice.delete('/channel-types/team'),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('AUTH_SERVER_ONLY');
    }
    expect((await app.server.get('/channel-types/mine')).status).toBe(404);
    expect((await app.server.get('/channel-types/messaging')).body.channel_type.config.reactions).toBe(true);
    expect((await app.server.get('/channel-types/team')).status).toBe(200);
  });

  it('another app’s credentials cannot touch this app’s types', async () => {
    const other = await server.createApp();
    await app.server.post('/channel-types', { name: 'private-type' });
    expect((await other.server.patch('/channel-types/private-type', { config: {} })).status).toBe(404);
    expect((await other.server.delete('/channel-types/private-type')).status).toBe(404);
    expect((await app.server.get('/channel-types/private-type')).status).toBe(200);
  });
});
