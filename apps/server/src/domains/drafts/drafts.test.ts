import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatFixture, chatFixture, UNKNOWN_ID } from '../../test-support/chat-fixture.js';

let f: ChatFixture;
let path: string;
let cid: string;

beforeAll(async () => {
  f = await chatFixture([{ id: 'writer' }, { id: 'other' }, { id: 'outsider' }]);
  ({ path, cid } = await f.channel('drafts', ['writer', 'other']));
});
afterAll(() => f?.close());

describe('drafts', () => {
  it('saves one draft per channel and per thread, syncs devices by events, and deletes', async () => {
    const parent = await f.send('other', path, 'a thread');
    const put = await f.users.writer!.put(`${path}/draft`, { text: 'half a thought' });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.draft).toMatchObject({ cid, parent_id: null, text: 'half a thought', attachments: [] });
    expect(f.eventsOf('draft.updated').at(-1)).toMatchObject({
      cid,
      user_id: 'writer',
      draft: put.body.draft,
    });
    const replaced = await f.users.writer!.put(`${path}/draft`, {
      text: 'a whole thought',
      custom: { k: 1 },
    });
    expect(replaced.body.draft).toMatchObject({ text: 'a whole thought', custom: { k: 1 } });
    expect(replaced.body.draft.created_at).toBe(put.body.draft.created_at);
    const inThread = await f.users.writer!.put(`${path}/draft`, {
      text: 'reply draft',
      parent_id: parent.id,
    });
    expect(inThread.body.draft.parent_id).toBe(parent.id);

    expect((await f.users.writer!.get(`${path}/draft`)).body.draft.text).toBe('a whole thought');
    expect((await f.users.writer!.get(`${path}/draft?parent_id=${parent.id}`)).body.draft.text).toBe(
      'reply draft',
    );
    // Drafts are private: another member has none.
    const theirs = await f.users.other!.get(`${path}/draft`);
    expect([theirs.status, theirs.body.code]).toEqual([404, 'DRAFT_NOT_FOUND']);

    const list = await f.users.writer!.get('/drafts?limit=1');
    expect(list.body.drafts.map((d: { text: string }) => d.text)).toEqual(['reply draft']);
    const rest = await f.users.writer!.get(`/drafts?limit=1&next=${list.body.next}`);
    expect(rest.body.drafts.map((d: { text: string }) => d.text)).toEqual(['a whole thought']);
    expect(rest.body.next).toBeNull();

    expect((await f.users.writer!.delete(`${path}/draft?parent_id=${parent.id}`)).body).toEqual({ ok: true });
    expect(f.eventsOf('draft.deleted').at(-1)).toEqual(
      expect.objectContaining({ cid, user_id: 'writer', parent_id: parent.id }),
    );
    const gone = await f.users.writer!.delete(`${path}/draft?parent_id=${parent.id}`);
    expect([gone.status, gone.body.code]).toEqual([404, 'DRAFT_NOT_FOUND']);
    expect((await f.users.writer!.get('/drafts')).body.drafts).toHaveLength(1);
  });

  it('holds drafts to the rules of the message they become', async () => {
    const other = await f.channel('drafts-other', ['other']);
    const foreign = await f.send('other', other.path, 'elsewhere');
    const reply = await f.send('other', path, 'r', { parent_id: (await f.send('other', path, 'p')).id });
    const long = await f.users.writer!.put(`${path}/draft`, { text: 'x'.repeat(5001) });
    expect([long.status, long.body.code, long.body.details?.field]).toEqual([
      400,
      'MESSAGE_TOO_LONG',
      'text',
    ]);
    const tooLongForSchema = await f.users.writer!.put(`${path}/draft`, { text: 'x'.repeat(20_001) });
    expect(tooLongForSchema.body.code).toBe('VALIDATION_FAILED');
    const unknownParent = await f.users.writer!.put(`${path}/draft`, { text: 't', parent_id: UNKNOWN_ID });
    expect([unknownParent.status, unknownParent.body.code, unknownParent.body.details?.field]).toEqual([
      404,
      'MESSAGE_NOT_FOUND',
      'parent_id',
    ]);
    const crossQuote = await f.users.writer!.put(`${path}/draft`, { text: 't', reply_to_id: foreign.id });
    expect([crossQuote.status, crossQuote.body.details?.field]).toEqual([404, 'reply_to_id']);
    const nested = await f.users.writer!.put(`${path}/draft`, { text: 't', parent_id: reply.id });
    expect(nested.body.code).toBe('THREAD_NESTED');
    const outsider = await f.users.outsider!.put(`${path}/draft`, { text: 't' });
    expect(outsider.status).toBe(403);
    expect((await f.users.outsider!.get(`${path}/draft`)).status).toBe(403);
    expect((await f.users.writer!.put(`${path}/draft`, { text: 't', extra: 1 })).body.code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await f.users.writer!.get('/drafts?next=%%%')).body.code).toBe('VALIDATION_FAILED');
  });
});
