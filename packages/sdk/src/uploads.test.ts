import { resolveObjectURL } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../../../apps/server/src/test-support/harness.js';
import { ParleyApiError, ParleyNetworkError, ParleyUploadCancelledError } from './errors.js';
import { FileMessages, MAX_UPLOAD_ATTEMPTS } from './file-messages.js';
import { RestClient } from './rest.js';
import { selectMessages, selectUploads } from './state/selectors.js';
import type { FileUpload } from './state/types.js';
import { browserUnavailable, launchChromium } from './test-support/browser.js';
import { eventually } from './test-support/proxy.js';
import { useServerFixture } from './test-support/server-fixture.js';
import { TokenManager } from './token.js';
import type { UploadProgress } from './uploads.js';

const dataDir = mkdtempSync(join(tmpdir(), 'parley-sdk-uploads-'));
const fx = useServerFixture({ users: ['alice', 'bob'], env: () => ({ PARLEY_DATA_DIR: dataDir }) });
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
// After an aborted request with a streamed body, Node's fetch (undici) opens one more connection
// it never uses (nodejs/undici#5845); the server's graceful close would wait for it until its
// headers timeout. The clients are gone by now (this runs before the fixture's close).
afterAll(() => fx.server.parley.http.server.closeAllConnections());

/** A 1×1 PNG: the server sniffs images, so an image upload has to be a real one. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
const MiB = 1024 * 1024;

/** The app's upload rows, by file name (what the server kept). */
async function storedUploads(): Promise<string[]> {
  const { rows } = await sql<{
    name: string;
  }>`select name from uploads where app_id = ${fx.app.id} order by name`.execute(fx.server.database.db);
  return rows.map((r) => r.name);
}

/** Files under the data directory's uploads/ (originals and thumbnails). */
function storedFiles(dir = join(dataDir, 'uploads')): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? storedFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** The app's own upload limit (null: the deployment's). */
async function setUploadLimit(bytes: number | null) {
  const res = await fx.server.parley.http.inject({
    method: 'PATCH',
    url: `/admin/apps/${fx.app.id}`,
    headers: { 'x-admin-token': ADMIN_TOKEN, 'content-type': 'application/json' },
    payload: JSON.stringify({ limits: { max_upload_bytes: bytes } }),
  });
  expect(res.statusCode).toBe(200);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A REST client of alice's whose token provider is `provider` (counted). */
function restWith(provider: () => Promise<string>, baseUrl = fx.baseUrl) {
  const tokens = new TokenManager(provider);
  return new RestClient({
    baseUrl,
    apiKey: fx.app.apiKey,
    fetch: fetch.bind(globalThis),
    tokens: () => tokens,
  });
}

/**
 * The queue of messages with files on its own (the client's is the same class), so a test can
 * say whether the client is online, shorten the backoff and count the upload attempts.
 */
async function fileQueue(options: { baseUrl?: string; online?: boolean } = {}) {
  const alice = await fx.connected('alice');
  const rest = restWith(() => fx.app.token('alice'), options.baseUrl);
  const attempts: string[] = [];
  const queue = new FileMessages({
    store: alice.store,
    userId: 'alice',
    upload: (cid, data, opts) => {
      attempts.push(cid);
      const [type, id] = cid.split(':') as [string, string];
      return rest.uploadFile(type, id, data, opts);
    },
    deleteUpload: (cid, uploadId) => {
      const [type, id] = cid.split(':') as [string, string];
      return rest.deleteUpload(type, id, uploadId);
    },
    enqueue: async (item) => {
      const [type, id] = item.cid.split(':') as [string, string];
      return (await rest.sendMessage(type, id, item.body)).message;
    },
    online: () => options.online ?? true,
    retryDelay: () => 20,
  });
  const item = (cid: string, client_msg_id: string) => ({
    cid,
    client_msg_id,
    body: { text: 'with a file', client_msg_id },
    created_at: new Date().toISOString(),
    failed: false,
  });
  return { alice, queue, attempts, item };
}

describe('channel.uploadFile (Node: fetch with a streamed body)', () => {
  it('uploads bytes with monotonic progress ending at the total, and the URL serves the same bytes', async () => {
    await fx.channel('up-bytes');
    const alice = await fx.connected('alice');
    const bytes = randomBytes(MiB + 123);
    const events: UploadProgress[] = [];
    const { upload, attachment } = await alice
      .channel('messaging', 'up-bytes')
      .uploadFile(bytes, { name: 'data.bin', onProgress: (p) => events.push(p) });

    expect(events.length).toBeGreaterThan(10); // 64 KiB steps
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThan(events[i - 1]!.loaded);
    expect(events.every((e) => e.total === bytes.length)).toBe(true);
    expect(events.at(-1)).toEqual({ loaded: bytes.length, total: bytes.length });
    expect(upload).toMatchObject({
      cid: 'messaging:up-bytes',
      user_id: 'alice',
      name: 'data.bin',
      mime_type: 'application/octet-stream',
      file_size: bytes.length,
    });
    expect(attachment).toMatchObject({
      type: 'file',
      title: 'data.bin',
      url: upload.url,
      upload_id: upload.id,
    });

    const served = await fetch(upload.url); // a capability URL: no credentials
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('takes the name and type of a File; an image gets its size and a thumbnail', async () => {
    await fx.channel('up-file');
    const alice = await fx.connected('alice');
    const photo = new File([PNG], 'cat.png', { type: 'image/png' });
    const { upload, attachment } = await alice.channel('messaging', 'up-file').uploadFile(photo);
    expect(upload).toMatchObject({ name: 'cat.png', mime_type: 'image/png', width: 1, height: 1 });
    expect(attachment).toMatchObject({ type: 'image', title: 'cat.png', width: 1, height: 1 });
    const thumb = await fetch(attachment.thumb_url!);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    await thumb.arrayBuffer();

    // A Blob streams in 64 KiB steps too (Node hands its bytes over in one chunk).
    const events: UploadProgress[] = [];
    const blob = new Blob([randomBytes(MiB)]);
    const answer = await alice
      .channel('messaging', 'up-file')
      .uploadFile(blob, { onProgress: (p) => events.push(p) });
    expect(answer.upload).toMatchObject({
      name: 'file',
      mime_type: 'application/octet-stream',
      file_size: MiB,
    });
    expect(events).toHaveLength(16);
  });

  it('cancels mid-upload: a cancelled error, and the server keeps no row and no file', async () => {
    await fx.channel('up-cancel');
    const alice = await fx.connected('alice');
    const rows = await storedUploads();
    const files = storedFiles();
    const controller = new AbortController();
    const events: UploadProgress[] = [];
    const size = 16 * MiB;
    const error = await alice
      .channel('messaging', 'up-cancel')
      .uploadFile(new Uint8Array(size), {
        name: 'big.bin',
        signal: controller.signal,
        onProgress: (p) => {
          events.push(p);
          controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyUploadCancelledError);
    expect(error).toMatchObject({ name: 'AbortError', code: 'UPLOAD_CANCELLED' });
    expect(events[0]!.loaded).toBeLessThan(size); // it really stopped mid-body
    await sleep(300); // the server notices the aborted request on its own time
    expect(await storedUploads()).toEqual(rows);
    expect(storedFiles()).toEqual(files);

    // A signal aborted before the start sends nothing at all.
    const early = await alice
      .channel('messaging', 'up-cancel')
      .uploadFile(new Uint8Array(10), { name: 'x.bin', signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect(early).toBeInstanceOf(ParleyUploadCancelledError);
  });

  it('an abort while the token provider is still answering cancels: nothing is sent', async () => {
    await fx.channel('up-abort-token');
    const rows = await storedUploads();
    const controller = new AbortController();
    const rest = restWith(async () => {
      controller.abort(); // the user cancels while the SDK waits for a token
      await sleep(50);
      return fx.app.token('alice');
    });
    const error = await rest
      .uploadFile('messaging', 'up-abort-token', new Uint8Array(1000), {
        name: 'late.bin',
        signal: controller.signal,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyUploadCancelledError);
    await sleep(100);
    expect(await storedUploads()).toEqual(rows);
  });

  it('a 401 sends the file again after the token refresh; progress starts from 0 for that send', async () => {
    await fx.channel('up-401');
    const tokens = ['not.a-valid.token', await fx.app.token('alice')];
    let asked = 0;
    const rest = restWith(async () => tokens[asked++]!);
    const events: UploadProgress[] = [];
    const size = 4 * MiB;
    const { upload } = await rest.uploadFile('messaging', 'up-401', new Uint8Array(size), {
      name: 'again.bin',
      onProgress: (p) => events.push(p),
    });
    expect(asked).toBe(2);
    expect(upload.file_size).toBe(size);
    expect(events.at(-1)).toEqual({ loaded: size, total: size });
    // Rising within each send; the second send, when the first had reported bytes, starts at 0.
    const restart = events.findIndex((e, i) => i > 0 && e.loaded < events[i - 1]!.loaded);
    const sends = [events.slice(0, restart), events.slice(restart)];
    expect(restart).toBeGreaterThan(0); // the first send got bytes out before its 401
    expect(events[restart]!.loaded).toBe(0);
    for (const send of sends)
      for (let i = 1; i < send.length; i++) expect(send[i]!.loaded).toBeGreaterThan(send[i - 1]!.loaded);
  });

  it('maps refusals to ParleyApiError with the server’s code: too large, blocked type, not a member', async () => {
    await fx.channel('up-errors');
    await fx.channel('up-not-mine', ['bob']);
    const alice = await fx.connected('alice');
    const channel = alice.channel('messaging', 'up-errors');
    await setUploadLimit(1000);
    try {
      const big = await channel.uploadFile(new Uint8Array(5000), { name: 'x.bin' }).catch((e: unknown) => e);
      expect(big).toBeInstanceOf(ParleyApiError);
      expect(big).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' });
    } finally {
      await setUploadLimit(null);
    }
    const exe = await channel.uploadFile(new Uint8Array(10), { name: 'setup.exe' }).catch((e: unknown) => e);
    expect(exe).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_NOT_ALLOWED' });
    const forbidden = await alice
      .channel('messaging', 'up-not-mine')
      .uploadFile(new Uint8Array(10), { name: 'a.txt' })
      .catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ status: 403, code: 'FORBIDDEN' });
  });
});

describe('channel.sendMessage({ files }): optimistic, with progress', () => {
  it('shows the message at once with placeholders, reports progress, then sends it with the server’s attachments', async () => {
    await fx.channel('send-files');
    const alice = await fx.connected('alice');
    const bob = await fx.connected('bob');
    const bobChannel = bob.channel('messaging', 'send-files');
    await bobChannel.watch();
    const channel = alice.channel('messaging', 'send-files');
    await channel.watch();

    const id = 'f17e5000-0000-4000-8000-000000000001';
    const seen: FileUpload[][] = [];
    const off = alice.store.select(
      (s) => selectUploads(s, id),
      (files) => seen.push(files),
      {
        fireImmediately: false,
      },
    );
    const notes = randomBytes(300 * 1024);
    const sent = channel.sendMessage({
      text: 'holiday',
      client_msg_id: id,
      files: [
        new File([PNG], 'cat.png', { type: 'image/png' }),
        { data: notes, name: 'notes.txt', type: 'text/plain' },
      ],
    });

    // At once: the message, placeholders (a local preview for the File), both files uploading.
    const pending = selectMessages(alice.store.getState(), channel.cid).at(-1)!;
    expect(pending).toMatchObject({ id, status: 'sending', text: 'holiday' });
    expect(pending.attachments).toEqual([
      {
        type: 'image',
        title: 'cat.png',
        mime_type: 'image/png',
        file_size: PNG.length,
        url: expect.stringMatching(/^blob:/),
      },
      { type: 'file', title: 'notes.txt', mime_type: 'text/plain', file_size: notes.length },
    ]);
    const preview = pending.attachments[0]!.url!;
    expect(resolveObjectURL(preview)).toBeDefined();
    expect(selectUploads(alice.store.getState(), id).map((f) => f.state)).toEqual(['uploading', 'uploading']);

    const message = await sent;
    off();
    expect(message).toMatchObject({ client_msg_id: id, text: 'holiday', user_id: 'alice' });
    expect(message.attachments).toMatchObject([
      {
        type: 'image',
        title: 'cat.png',
        mime_type: 'image/png',
        width: 1,
        height: 1,
        upload_id: expect.any(String),
      },
      { type: 'file', title: 'notes.txt', file_size: notes.length, upload_id: expect.any(String) },
    ]);
    expect(message.attachments[0]!.url).toMatch(/^http/);
    expect(selectMessages(alice.store.getState(), channel.cid).at(-1)).toMatchObject({
      id: message.id,
      status: 'sent',
      attachments: message.attachments,
    });

    // Progress went up for the larger file, each file ended done, then the entry went away.
    const notesLoaded = seen.filter((files) => files.length > 0).map((files) => files[1]!.loaded);
    expect(new Set(notesLoaded).size).toBeGreaterThan(2);
    expect(notesLoaded).toEqual([...notesLoaded].sort((a, b) => a - b));
    expect(seen.at(-2)!.map((f) => [f.state, f.loaded])).toEqual([
      ['done', PNG.length],
      ['done', notes.length],
    ]);
    expect(seen.at(-1)).toEqual([]);
    expect(alice.store.getState().uploads).toEqual({});
    expect(resolveObjectURL(preview)).toBeUndefined(); // the local preview was revoked

    // Bob gets the message with the attachments, and the file URLs work for him.
    await eventually(() =>
      expect(bobChannel.messages.at(-1)).toMatchObject({ id: message.id, attachments: message.attachments }),
    );
    const image = await fetch(message.attachments[0]!.url!);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('a failed upload fails the message; retry uploads only the missing file and sends', async () => {
    await fx.channel('send-retry');
    const alice = await fx.connected('alice');
    const channel = alice.channel('messaging', 'send-retry');
    await channel.watch();
    const id = 'f17e5000-0000-4000-8000-000000000002';
    const before = await storedUploads();
    await setUploadLimit(100 * 1024);
    let error: unknown;
    try {
      error = await channel
        .sendMessage({
          text: 'two files',
          client_msg_id: id,
          files: [
            { data: randomBytes(10 * 1024), name: 'retry-small.bin' },
            { data: randomBytes(200 * 1024), name: 'retry-large.bin' },
          ],
        })
        .catch((e: unknown) => e);
    } finally {
      await setUploadLimit(null);
    }
    expect(error).toMatchObject({ code: 'UPLOAD_TOO_LARGE' });
    expect(channel.messages.at(-1)).toMatchObject({
      id,
      status: 'failed',
      error: { code: 'UPLOAD_TOO_LARGE' },
    });
    expect(selectUploads(alice.store.getState(), id)).toMatchObject([
      { state: 'done' },
      { state: 'failed', loaded: 0, error: { code: 'UPLOAD_TOO_LARGE' } },
    ]);
    expect(await storedUploads()).toEqual([...before, 'retry-small.bin'].sort());

    const message = await channel.retry(id);
    expect(message.attachments.map((a) => a.title)).toEqual(['retry-small.bin', 'retry-large.bin']);
    expect(channel.messages.at(-1)).toMatchObject({ id: message.id, status: 'sent' });
    // Uploaded once each: the retry did not send the small file again.
    expect(await storedUploads()).toEqual([...before, 'retry-large.bin', 'retry-small.bin'].sort());
  });

  it('network failures while online are tried MAX_UPLOAD_ATTEMPTS times, then the message fails; retry works', async () => {
    await fx.channel('send-capped');
    const net = await fx.proxy();
    const { alice, queue, attempts, item } = await fileQueue({ baseUrl: net.url });
    await net.stop();
    const id = 'f17e5000-0000-4000-8000-000000000005';
    const error = await queue
      .send(item('messaging:send-capped', id), [{ data: randomBytes(1024), name: 'capped.bin' }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyNetworkError);
    expect(attempts).toHaveLength(MAX_UPLOAD_ATTEMPTS);
    const pending = selectMessages(alice.store.getState(), 'messaging:send-capped').at(-1);
    expect(pending).toMatchObject({ id, status: 'failed', error: { code: 'NETWORK' } });
    expect(selectUploads(alice.store.getState(), id)).toMatchObject([
      { state: 'failed', error: { code: 'NETWORK' } },
    ]);

    await net.start();
    const message = await queue.retry(id)!;
    expect(message.attachments).toMatchObject([{ title: 'capped.bin', upload_id: expect.any(String) }]);
    expect(attempts).toHaveLength(MAX_UPLOAD_ATTEMPTS + 1);
  });

  it('while offline, failures do not count: the message keeps waiting', async () => {
    await fx.channel('send-waiting');
    const net = await fx.proxy();
    const { alice, queue, attempts, item } = await fileQueue({ baseUrl: net.url, online: false });
    await net.stop();
    const id = 'f17e5000-0000-4000-8000-000000000006';
    const sent = queue.send(item('messaging:send-waiting', id), [{ data: PNG, name: 'wait.png' }]);
    await eventually(() => expect(attempts.length).toBeGreaterThan(2 * MAX_UPLOAD_ATTEMPTS));
    expect(selectMessages(alice.store.getState(), 'messaging:send-waiting').at(-1)).toMatchObject({
      id,
      status: 'sending',
    });
    expect(queue.cancel(id)).toBe(true);
    await expect(sent).rejects.toBeInstanceOf(ParleyUploadCancelledError);
  });

  it('a file the server refuses before reading it fails the message, whatever the client saw (413 or a reset)', async () => {
    await fx.channel('send-refused');
    const { alice, queue, attempts, item } = await fileQueue();
    const id = 'f17e5000-0000-4000-8000-000000000007';
    await setUploadLimit(1000);
    let error: unknown;
    try {
      error = await queue
        .send(item('messaging:send-refused', id), [{ data: new Uint8Array(16 * MiB), name: 'huge.bin' }])
        .catch((e: unknown) => e);
    } finally {
      await setUploadLimit(null);
    }
    // A 413 ends it at once; a connection reset (the server closed while the body was on its
    // way) is retried, but not forever.
    expect(attempts.length).toBeLessThanOrEqual(MAX_UPLOAD_ATTEMPTS);
    const code = error instanceof ParleyApiError ? error.code : 'NETWORK';
    if (code === 'NETWORK') expect(error).toBeInstanceOf(ParleyNetworkError);
    else expect(code).toBe('UPLOAD_TOO_LARGE');
    expect(selectMessages(alice.store.getState(), 'messaging:send-refused').at(-1)).toMatchObject({
      id,
      status: 'failed',
      error: { code },
    });
  });

  it('sending the same client_msg_id again while its files upload returns that send, not a second one', async () => {
    await fx.channel('send-twice');
    const alice = await fx.connected('alice');
    const channel = alice.channel('messaging', 'send-twice');
    await channel.watch();
    const id = 'f17e5000-0000-4000-8000-000000000008';
    const before = await storedUploads();
    const input = { text: 'twice', client_msg_id: id };
    const first = channel.sendMessage({ ...input, files: [{ data: randomBytes(MiB), name: 'twice-a.bin' }] });
    const photo = new File([PNG], 'twice-b.png', { type: 'image/png' });
    const second = channel.sendMessage({ ...input, files: [photo] });
    const [a, b] = await Promise.all([first, second]);
    expect(b).toEqual(a);
    expect(a.attachments.map((x) => x.title)).toEqual(['twice-a.bin']);
    expect(await storedUploads()).toEqual([...before, 'twice-a.bin'].sort());
  });

  it('cancelUpload stops the uploads, deletes what was uploaded, removes the message', async () => {
    await fx.channel('send-cancel');
    const alice = await fx.connected('alice');
    const channel = alice.channel('messaging', 'send-cancel');
    await channel.watch();
    const id = 'f17e5000-0000-4000-8000-000000000003';
    const before = await storedUploads();
    const sent = channel.sendMessage({
      text: 'never mind',
      client_msg_id: id,
      files: [
        { data: randomBytes(1024), name: 'cancel-small.bin' },
        { data: new Uint8Array(20 * MiB), name: 'cancel-big.bin' },
      ],
    });
    // Cancel once the small file is on the server and the big one is on its way.
    await eventually(() => expect(selectUploads(alice.store.getState(), id)[0]?.state).toBe('done'));
    expect(await storedUploads()).toContain('cancel-small.bin');
    expect(alice.cancelUpload(id)).toBe(true);

    expect(channel.messages.some((m) => m.id === id)).toBe(false);
    expect(alice.store.getState().uploads).toEqual({});
    await expect(sent).rejects.toBeInstanceOf(ParleyUploadCancelledError);
    await eventually(async () => expect(await storedUploads()).toEqual(before));
    expect(alice.cancelUpload(id)).toBe(false); // nothing left to cancel
  });

  it('offline: the message waits (files in memory), uploads and sends once the network is back', async () => {
    await fx.channel('send-offline');
    const net = await fx.proxy();
    const alice = await fx.connected('alice', { baseUrl: net.url });
    const channel = alice.channel('messaging', 'send-offline');
    await channel.watch();
    await net.stop();
    await eventually(() => expect(alice.connectionState).toBe('offline'));

    const id = 'f17e5000-0000-4000-8000-000000000004';
    const sent = channel.sendMessage({
      text: 'later',
      client_msg_id: id,
      files: [{ data: PNG, name: 'dot.png' }],
    });
    await eventually(() =>
      expect(selectUploads(alice.store.getState(), id)).toMatchObject([
        { state: 'queued', error: { code: 'NETWORK' } },
      ]),
    );
    expect(channel.messages.at(-1)).toMatchObject({ id, status: 'sending' });
    // Not in the outbox (whose items are persisted as JSON) until the files are uploaded.
    expect(alice.outbox).toEqual([]);

    await net.start();
    const message = await sent;
    expect(message.attachments).toMatchObject([
      { type: 'image', title: 'dot.png', upload_id: expect.any(String) },
    ]);
    expect(channel.messages.at(-1)).toMatchObject({ id: message.id, status: 'sent' });
  });

  it('a disconnect while files upload loses the message (documented: files are memory only)', async () => {
    await fx.channel('send-lost');
    const alice = await fx.connected('alice');
    const channel = alice.channel('messaging', 'send-lost');
    await channel.watch();
    const sent = channel.sendMessage({
      text: 'bye',
      files: [{ data: new Uint8Array(20 * MiB), name: 'lost.bin' }],
    });
    await alice.disconnectUser();
    await expect(sent).rejects.toBeInstanceOf(ParleyUploadCancelledError);
    expect(alice.outbox).toEqual([]);
  });
});

// The XMLHttpRequest path (browsers, React Native) needs a real browser: there is no honest
// stand-in for XHR upload progress in Node.
interface BrowserResult {
  events: UploadProgress[];
  size: number;
  same: boolean;
  cancelled: { name: string; code: string } | null;
  lateAbort: { name: string; code: string } | null;
}
const noBrowser = browserUnavailable();

describe.skipIf(noBrowser !== '')(
  `uploadFile in Chromium (XMLHttpRequest)${noBrowser ? ` — skipped: ${noBrowser}` : ''}`,
  () => {
    it('reports upload progress, uploads the bytes, and aborts with a cancelled error (also while waiting for a token)', async () => {
      await fx.channel('up-browser');
      const token = await fx.app.token('alice');
      const root = fileURLToPath(new URL('.', import.meta.url));
      const bundle = await build({
        stdin: {
          contents: `
          import { RestClient } from './rest.ts';
          import { TokenManager } from './token.ts';
          window.run = async (baseUrl, apiKey, token) => {
            const tokens = new TokenManager(token);
            const rest = new RestClient({ baseUrl, apiKey, fetch: fetch.bind(globalThis), tokens: () => tokens });
            const bytes = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
            const events = [];
            const { upload } = await rest.uploadFile('messaging', 'up-browser', new Blob([bytes]), {
              name: 'browser.bin', onProgress: (p) => events.push(p),
            });
            const served = new Uint8Array(await (await fetch(upload.url)).arrayBuffer());
            const controller = new AbortController();
            const cancelled = await rest.uploadFile('messaging', 'up-browser', new Blob([bytes]), {
              name: 'cancelled.bin', signal: controller.signal, onProgress: () => controller.abort(),
            }).then(() => null, (e) => ({ name: e.name, code: e.code }));
            // Aborted while the SDK waits for a token: the XHR must not start at all.
            const late = new AbortController();
            const slowTokens = new TokenManager(async () => {
              late.abort();
              await new Promise((r) => setTimeout(r, 50));
              return token;
            });
            const slow = new RestClient({ baseUrl, apiKey, fetch: fetch.bind(globalThis), tokens: () => slowTokens });
            const lateAbort = await slow.uploadFile('messaging', 'up-browser', new Blob([bytes]), {
              name: 'late.bin', signal: late.signal,
            }).then(() => null, (e) => ({ name: e.name, code: e.code }));
            return { events, size: upload.file_size, same: served.every((b, i) => b === bytes[i]), cancelled, lateAbort };
          };`,
          resolveDir: root,
          loader: 'ts',
        },
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'browser',
      });
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        // Served at the server's own origin: the XHR is same-origin, as in an app behind one host.
        await page.route(`${fx.baseUrl}/__upload_test`, (route) =>
          route.fulfill({
            contentType: 'text/html',
            body: `<script type="module">${bundle.outputFiles[0]!.text}</script>`,
          }),
        );
        await page.goto(`${fx.baseUrl}/__upload_test`);
        await page.waitForFunction(() => 'run' in window);
        const result = await page.evaluate(
          ([baseUrl, apiKey, t]: string[]) =>
            (window as unknown as { run(...args: string[]): Promise<BrowserResult> }).run(
              baseUrl!,
              apiKey!,
              t!,
            ),
          [fx.baseUrl, fx.app.apiKey, token],
        );
        const size = 4 * MiB;
        expect(result.size).toBe(size);
        expect(result.same).toBe(true);
        expect(result.events.at(-1)).toEqual({ loaded: size, total: size });
        const loaded = result.events.map((e) => e.loaded);
        expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
        expect(result.cancelled).toEqual({ name: 'AbortError', code: 'UPLOAD_CANCELLED' });
        expect(result.lateAbort).toEqual({ name: 'AbortError', code: 'UPLOAD_CANCELLED' });
        expect(await storedUploads()).not.toContain('late.bin');
      } finally {
        await browser.close();
      }
    });
  },
);
