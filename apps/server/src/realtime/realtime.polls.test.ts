import { describe, expect, it } from 'vitest';
import { useGatewayFixture } from '../test-support/gateway-fixture.js';
import { eventually } from '../test-support/realtime-clients.js';

/**
 * Poll events over the gateway: they reach the channel's subscribers with the poll's new results
 * (and no one's own votes); a command's ephemeral answer is never published.
 */

const fx = useGatewayFixture(async (app) => {
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  const res = await app.server.post('/channels', {
    type: 'messaging',
    id: 'room',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(res.status).toBe(201);
});
const { listen } = fx;

describe('poll events over the gateway', () => {
  it('reach the channel with the new results', async () => {
    const room = await listen('alice', 'chat:channel:messaging:room');
    const alice = await fx.app.as('alice');
    const bob = await fx.app.as('bob');
    const poll = (await alice.post('/polls', { name: 'Q?', options: [{ text: 'a' }, { text: 'b' }] })).body
      .poll;
    const message = (await alice.post('/channels/messaging/room/messages', { poll_id: poll.id })).body
      .message;
    const option = poll.options[1].id;
    const vote = await bob.post(`/messages/${message.id}/polls/${poll.id}/vote`, {
      vote: { option_id: option },
    });
    expect(vote.status).toBe(201);
    expect((await alice.patch(`/polls/${poll.id}`, { is_closed: true })).status).toBe(200);
    // A command preview (here: /mute's confirmation) goes to its sender only, never to the channel.
    expect((await bob.post('/channels/messaging/room/messages', { text: '/mute @alice' })).status).toBe(200);
    await eventually(() => room.some((p) => p.data.type === 'poll.closed'));
    // Presence of the subscribers may come and go on the channel too (Redis broker): not counted.
    const events = room.filter((p) => p.data.type !== 'user.presence');
    const types = events.map((p) => p.data.type);
    expect(types).toEqual(['message.new', 'poll.vote_casted', 'poll.closed']);
    expect(events[0]!.data.message.poll.id).toBe(poll.id);
    const casted = events[1]!.data;
    expect(casted).toMatchObject({ cid: 'messaging:room', message_id: message.id, vote: { user_id: 'bob' } });
    expect(casted.poll.vote_counts_by_option).toEqual({ [option]: 1 });
    expect(casted.poll.own_votes).toEqual([]);
    expect(events[2]!.data.poll.is_closed).toBe(true);
  });
});
