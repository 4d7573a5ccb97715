import { describe, expect, it } from 'vitest';
import { ParleyApiError } from './errors.js';
import { selectMessage } from './state/selectors.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';

/** The thin typed methods for polls, search, drafts, mute/block/flag, against a real server. */

const fx = useServerFixture({ users: ['alice', 'bob', 'carol'] });
const { channel, connected } = fx;

describe('polls', () => {
  it('votes show on both sides; the voter keeps their own votes, others see the counts', async () => {
    await channel('polls');
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.channel('messaging', 'polls');
    const b = bob.channel('messaging', 'polls');
    await Promise.all([a.watch(), b.watch()]);
    const { poll } = await alice.rest.createPoll({
      name: 'Lunch?',
      options: [{ text: 'pizza' }, { text: 'sushi' }],
    });
    const message = await a.sendMessage({ text: 'vote please', poll_id: poll.id });
    await eventually(() =>
      expect(selectMessage(bob.store.getState(), b.cid, message.id)?.poll?.id).toBe(poll.id),
    );

    const sushi = poll.options.find((o) => o.text === 'sushi')!.id;
    const { vote } = await b.castPollVote(message.id, poll.id, { option_id: sushi });
    expect(selectMessage(bob.store.getState(), b.cid, message.id)?.poll?.own_votes.map((v) => v.id)).toEqual([
      vote.id,
    ]);
    await eventually(() =>
      expect(selectMessage(alice.store.getState(), a.cid, message.id)?.poll?.vote_counts_by_option).toEqual({
        [sushi]: 1,
      }),
    );
    expect(selectMessage(alice.store.getState(), a.cid, message.id)?.poll?.own_votes).toEqual([]);
    await b.removePollVote(message.id, poll.id, vote.id);
    expect(selectMessage(bob.store.getState(), b.cid, message.id)?.poll?.own_votes).toEqual([]);
    await eventually(() =>
      expect(selectMessage(alice.store.getState(), a.cid, message.id)?.poll?.vote_count).toBe(0),
    );
  });
});

describe('search, drafts, mute, block, flag', () => {
  it('searches the user’s channels', async () => {
    await channel('search');
    const alice = await connected('alice');
    const ch = alice.channel('messaging', 'search');
    await ch.watch();
    await ch.sendMessage({ text: 'the quick brown fox' });
    await ch.sendMessage({ text: 'a lazy dog' });
    const { results } = await alice.rest.search({ query: 'fox', cids: [ch.cid] });
    expect(results.map((r) => r.message.text)).toEqual(['the quick brown fox']);
  });

  it('saves, reads, lists and deletes a draft', async () => {
    await channel('drafts');
    const alice = await connected('alice');
    const { draft } = await alice.rest.saveDraft('messaging', 'drafts', { text: 'half a thought' });
    expect(draft).toMatchObject({ cid: 'messaging:drafts', text: 'half a thought', parent_id: null });
    expect((await alice.rest.getDraft('messaging', 'drafts')).draft.text).toBe('half a thought');
    expect((await alice.rest.listDrafts()).drafts.map((d) => d.cid)).toContain('messaging:drafts');
    await alice.rest.deleteDraft('messaging', 'drafts');
    const gone = await alice.rest.getDraft('messaging', 'drafts').catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(ParleyApiError);
    expect((gone as ParleyApiError).status).toBe(404);
  });

  it('mutes and unmutes a user and a channel, blocks and unblocks, flags a message', async () => {
    await channel('moderation', ['alice', 'carol']);
    const alice = await connected('alice');
    await alice.rest.muteUser({ target_id: 'carol' });
    await alice.rest.muteChannel({ cid: 'messaging:moderation' });
    let mutes = await alice.rest.listMutes();
    expect(mutes.user_mutes.map((m) => m.target_id)).toEqual(['carol']);
    expect(mutes.channel_mutes.map((m) => m.cid)).toEqual(['messaging:moderation']);
    await alice.rest.unmuteUser({ target_id: 'carol' });
    await alice.rest.unmuteChannel({ cid: 'messaging:moderation' });
    mutes = await alice.rest.listMutes();
    expect([mutes.user_mutes, mutes.channel_mutes]).toEqual([[], []]);

    await alice.rest.blockUser({ target_id: 'carol' });
    expect((await alice.rest.listBlocks()).blocks.map((b) => b.target_id)).toEqual(['carol']);
    await alice.rest.unblockUser({ target_id: 'carol' });
    expect((await alice.rest.listBlocks()).blocks).toEqual([]);

    const carol = await fx.app.as('carol');
    const sent = (await carol.post('/channels/messaging/moderation/messages', { text: 'spam spam' })).body
      .message;
    const { flag } = await alice.rest.flag({ message_id: sent.id, reason: 'spam' });
    expect(flag).toMatchObject({ message_id: sent.id, status: 'open' });
  });
});
