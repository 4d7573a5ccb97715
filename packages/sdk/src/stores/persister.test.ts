import { describe, expect, it } from 'vitest';
import { reduce } from '../state/reducer.js';
import { initialState } from '../state/types.js';
import { at, CID, channelState, event, fetched, message, messages } from '../test-support/fixtures.js';
import { MemoryStore } from './memory.js';
import { CACHED_MESSAGES_PER_CHANNEL, diff, Persister } from './persister.js';

describe('Persister: what the cache keeps comes back the same after a restart', () => {
  it('writes the changed parts, and hydrating the cache restores channels, messages, lists and counts', async () => {
    let state = fetched(channelState({ channel: { last_seq: 3 }, lastRead: 1 }), messages(1, 3));
    state = reduce(state, {
      type: 'rest/query',
      key: 'q',
      sort: [{ field: 'last_message_at', direction: -1 }],
      channels: [channelState({ channel: { last_seq: 3 }, lastRead: 1 })],
      offset: 0,
      limit: 20,
    });
    state = reduce(state, {
      type: 'rest/unread',
      counts: {
        total_unread_count: 2,
        unread_channels: 1,
        channels: [{ cid: CID, unread_count: 2, last_read_seq: 1, last_read_at: null }],
      },
    });
    const store = new MemoryStore();
    const persister = new Persister(store, 'alice', initialState('alice'), (e) => {
      throw e;
    });
    persister.update(state);
    await persister.flush();
    const restored = reduce(initialState('alice'), {
      type: 'local/hydrate',
      cache: await store.load('alice'),
    });
    expect(restored.channels).toEqual(state.channels);
    expect(restored.messages).toEqual(state.messages);
    expect(restored.queries).toEqual(state.queries);
    expect(restored.unread).toEqual(state.unread);

    // Only what changed is written next time.
    const next = reduce(state, event('message.new', { cid: CID, message: message(4) }));
    const batch = diff(state, next);
    expect(Object.keys(batch).sort()).toEqual(['messages', 'putChannels', 'unread']);
    expect(batch.messages?.[CID]?.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('keeps the newest messages of a long channel and remembers there are older ones', () => {
    const n = CACHED_MESSAGES_PER_CHANNEL + 20;
    const state = fetched(channelState({ channel: { last_seq: n } }), messages(1, n), n + 1);
    expect(state.messages[CID]!.hasOlder).toBe(false);
    const batch = diff(initialState('alice'), state);
    expect(batch.messages?.[CID]?.messages).toHaveLength(CACHED_MESSAGES_PER_CHANNEL);
    expect(batch.messages?.[CID]?.messages[0]?.seq).toBe(21);
    expect(batch.messages?.[CID]?.hasOlder).toBe(true);
  });

  it('does not cache unconfirmed messages with the channel (they live in the outbox)', () => {
    const state = reduce(fetched(channelState({}), []), {
      type: 'local/message.sending',
      message: {
        ...message(0, { id: 'c-1', client_msg_id: 'c-1', user_id: 'alice', created_at: at(1) }),
        status: 'sending',
      },
    });
    expect(diff(initialState('alice'), state).messages?.[CID]?.messages).toEqual([]);
  });
});
