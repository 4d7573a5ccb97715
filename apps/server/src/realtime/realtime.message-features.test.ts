import type { PublicationContext } from 'centrifuge';
import { describe, expect, it } from 'vitest';
import { useGatewayFixture } from '../test-support/gateway-fixture.js';
import { eventually } from '../test-support/realtime-clients.js';

/**
 * Where the message-feature events go over the gateway: private ones (drafts, stars, mark unread,
 * reminders, scheduled messages) to the user's own channel only; message.delivered to the chat
 * channel, and only when the channel type has delivery events.
 */

const fx = useGatewayFixture(async (app) => {
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  expect(
    (await app.server.post('/channel-types', { name: 'quiet', config: { delivery_events: false } })).status,
  ).toBe(201);
  for (const type of ['messaging', 'quiet']) {
    const res = await app.server.post('/channels', {
      type,
      id: 'room',
      members: ['alice', 'bob'],
      created_by: 'alice',
    });
    expect(res.status).toBe(201);
  }
});
const { listen } = fx;
const types = (received: PublicationContext[]) => received.map((p) => p.data.type as string);

describe('message-feature events over the gateway', () => {
  it('private events reach only the user’s own channel', async () => {
    const bobOwn = await listen('bob', 'chat:user:bob');
    const aliceOwn = await listen('alice', 'chat:user:alice');
    const aliceRoom = await listen('alice', 'chat:channel:messaging:room');
    const alice = await fx.app.as('alice');
    const bob = await fx.app.as('bob');
    const m = (await alice.post('/channels/messaging/room/messages', { text: 'hi' })).body.message;
    expect((await bob.put('/channels/messaging/room/draft', { text: 'typing…' })).status).toBe(200);
    expect((await bob.post(`/messages/${m.id}/star`, {})).status).toBe(200);
    expect((await bob.post('/channels/messaging/room/unread', { message_id: m.id })).status).toBe(200);
    expect((await bob.post(`/messages/${m.id}/reminder`, { remind_in_seconds: 3600 })).status).toBe(201);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect(
      (await bob.post('/channels/messaging/room/scheduled-messages', { send_at: later, text: 'x' })).status,
    ).toBe(201);
    expect((await bob.delete('/channels/messaging/room/draft')).status).toBe(200);
    const expected = [
      'draft.updated',
      'notification.message_starred',
      'notification.mark_unread',
      'reminder.updated',
      'scheduled_message.updated',
      'draft.deleted',
    ];
    await eventually(() => expected.every((t) => types(bobOwn).includes(t)));
    const draft = bobOwn.find((p) => p.data.type === 'draft.updated')!.data;
    expect(draft).toMatchObject({ cid: 'messaging:room', user_id: 'bob', draft: { text: 'typing…' } });
    for (const t of expected) {
      expect(types(aliceOwn)).not.toContain(t);
      expect(types(aliceRoom)).not.toContain(t);
    }
  });

  it('message.delivered goes to the chat channel when the type has delivery events', async () => {
    const loud = await listen('alice', 'chat:channel:messaging:room');
    const quiet = await listen('alice', 'chat:channel:quiet:room');
    const alice = await fx.app.as('alice');
    await alice.post('/channels/messaging/room/messages', { text: 'one' });
    await alice.post('/channels/quiet/room/messages', { text: 'two' });
    const bob = await fx.app.as('bob');
    const res = await bob.post('/channels/delivered', {
      channels: [{ cid: 'messaging:room' }, { cid: 'quiet:room' }],
    });
    expect(res.status).toBe(200);
    await eventually(() => types(loud).includes('message.delivered'));
    expect(loud.find((p) => p.data.type === 'message.delivered')!.data).toMatchObject({
      cid: 'messaging:room',
      user_id: 'bob',
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(types(quiet)).not.toContain('message.delivered');
  });
});
