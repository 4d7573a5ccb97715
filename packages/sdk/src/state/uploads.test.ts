import { describe, expect, it } from 'vitest';
import { at, CID, channelState, fetched, message, messages } from '../test-support/fixtures.js';
import { pendingMessage, reduce } from './reducer.js';
import { selectMessages, selectUploadProgress, selectUploads } from './selectors.js';
import type { FileUpload } from './types.js';

const file = (name: string, total: number, change: Partial<FileUpload> = {}): FileUpload => ({
  name,
  mime_type: 'image/png',
  loaded: 0,
  total,
  state: 'queued',
  ...change,
});

describe('reduce: uploads of messages sent with files', () => {
  const body = { client_msg_id: 'c-1', text: 'look' };
  const placeholder = { type: 'image' as const, title: 'cat.png', mime_type: 'image/png', file_size: 300 };

  it('keeps per-file progress by client_msg_id, and selectors add it up', () => {
    let state = reduce(fetched(channelState({}), []), {
      type: 'local/uploads',
      client_msg_id: 'c-1',
      files: [file('a.png', 100), file('b.png', 300)],
    });
    expect(selectUploadProgress(state, 'c-1')).toBe(0);
    state = reduce(state, {
      type: 'local/upload',
      client_msg_id: 'c-1',
      index: 1,
      change: { state: 'uploading', loaded: 150 },
    });
    expect(selectUploads(state, 'c-1')).toEqual([
      file('a.png', 100),
      file('b.png', 300, { state: 'uploading', loaded: 150 }),
    ]);
    expect(selectUploadProgress(state, 'c-1')).toBe(150 / 400);
    // The other file's object is the same: a UI row per file re-renders only when its file changed.
    const before = selectUploads(state, 'c-1');
    state = reduce(state, { type: 'local/upload', client_msg_id: 'c-1', index: 1, change: { loaded: 300 } });
    expect(selectUploads(state, 'c-1')[0]).toBe(before[0]);
    expect(selectUploads(state, 'c-1')).not.toBe(before);
  });

  it('an error stays until the next change of that file; unknown messages and files change nothing', () => {
    let state = reduce(fetched(channelState({}), []), {
      type: 'local/uploads',
      client_msg_id: 'c-1',
      files: [file('a', 10)],
    });
    const error = { code: 'UPLOAD_TOO_LARGE', message: 'too large' };
    state = reduce(state, {
      type: 'local/upload',
      client_msg_id: 'c-1',
      index: 0,
      change: { state: 'failed', error },
    });
    expect(selectUploads(state, 'c-1')[0]).toMatchObject({ state: 'failed', error });
    state = reduce(state, {
      type: 'local/upload',
      client_msg_id: 'c-1',
      index: 0,
      change: { state: 'uploading' },
    });
    expect(selectUploads(state, 'c-1')[0]).not.toHaveProperty('error');
    expect(
      reduce(state, { type: 'local/upload', client_msg_id: 'c-1', index: 5, change: { loaded: 1 } }),
    ).toBe(state);
    expect(
      reduce(state, { type: 'local/upload', client_msg_id: 'nope', index: 0, change: { loaded: 1 } }),
    ).toBe(state);
    expect(reduce(state, { type: 'local/uploads', client_msg_id: 'nope', files: null })).toBe(state);
  });

  it('removing the entry leaves [] (the same array every time) and progress 1', () => {
    let state = reduce(fetched(channelState({}), []), {
      type: 'local/uploads',
      client_msg_id: 'c-1',
      files: [file('a', 10)],
    });
    state = reduce(state, { type: 'local/uploads', client_msg_id: 'c-1', files: null });
    expect(state.uploads).toEqual({});
    expect(selectUploads(state, 'c-1')).toBe(selectUploads(state, 'other'));
    expect(selectUploadProgress(state, 'c-1')).toBe(1);
  });

  it('`replace` swaps the placeholder attachments of a pending message for the uploaded ones', () => {
    const cs = channelState({ channel: { last_seq: 1 } });
    const local = pendingMessage(CID, 'alice', { ...body, attachments: [placeholder] }, at(15));
    let state = reduce(fetched(cs, messages(1, 1)), { type: 'local/message.sending', message: local });
    const uploaded = { ...placeholder, url: 'https://files.example/cat.png', upload_id: 'u-1' };
    const real = pendingMessage(CID, 'alice', { ...body, attachments: [uploaded] }, at(15));
    // Without `replace` a known pending message keeps its content (a retry re-marks it only).
    expect(
      selectMessages(reduce(state, { type: 'local/message.sending', message: real }), CID)[1]!.attachments,
    ).toEqual([placeholder]);
    state = reduce(state, { type: 'local/message.sending', message: real, replace: true });
    expect(selectMessages(state, CID)[1]).toMatchObject({ status: 'sending', attachments: [uploaded] });
    // Confirmed: the server's copy takes its place, as for any message.
    const confirmed = message(2, {
      user_id: 'alice',
      client_msg_id: 'c-1',
      text: 'look',
      attachments: [uploaded],
    });
    state = reduce(state, { type: 'rest/message', message: confirmed });
    expect(selectMessages(state, CID).map((m) => [m.id, m.status])).toEqual([
      [message(1).id, 'sent'],
      [confirmed.id, 'sent'],
    ]);
  });

  it('a reset forgets the uploads', () => {
    const state = reduce(fetched(channelState({}), []), {
      type: 'local/uploads',
      client_msg_id: 'c-1',
      files: [file('a', 1)],
    });
    expect(reduce(state, { type: 'local/reset', userId: 'alice' }).uploads).toEqual({});
  });
});
