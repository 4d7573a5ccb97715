import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test-support/chat-fixture.js';
import {
  ADMIN_TOKEN,
  apiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../test-support/harness.js';
import { type S3StandIn, startS3StandIn } from '../../test-support/s3-stand-in.js';
import { Semaphore } from './uploads.images.js';
import { uploadsRepository } from './uploads.repository.js';

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the API
  body: any;
  headers: Headers;
}

/** A gradient, so the thumbnail and blurhash have something to show. */
async function png(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 128;
    }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

describe.each(['disk', 's3'] as const)('uploads with %s storage', (kind) => {
  let server: TestServer;
  let app: TestApp;
  let appB: TestApp;
  let base: string;
  let dataDir: string;
  let s3: S3StandIn | undefined;
  const room = '/channels/messaging/files-room';
  const tokens = new Map<string, string>();

  const s3Env = (stand: S3StandIn, secret = stand.secretAccessKey) => ({
    UPLOAD_STORAGE: 's3',
    S3_ENDPOINT: stand.url,
    S3_BUCKET: stand.bucket,
    S3_REGION: stand.region,
    S3_ACCESS_KEY_ID: stand.accessKeyId,
    S3_SECRET_ACCESS_KEY: secret,
  });

  /** Every stored object key (disk: files under the uploads directory, temp files included). */
  async function storedKeys(): Promise<string[]> {
    if (s3) return [...s3.objects.keys()].sort();
    const root = join(dataDir, 'uploads');
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
      .sort();
  }

  async function auth(who: string, target = app): Promise<Record<string, string>> {
    if (who === 'server') return { 'x-api-key': target.apiKey, authorization: `Secret ${target.secret}` };
    const cacheKey = `${target.id}:${who}`;
    if (!tokens.has(cacheKey)) tokens.set(cacheKey, await target.token(who));
    return { 'x-api-key': target.apiKey, authorization: `Bearer ${tokens.get(cacheKey)}` };
  }

  async function answer(res: Response): Promise<Answer> {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, body, headers: res.headers };
  }

  async function upload(
    who: string,
    bytes: Buffer,
    opts: { name?: string | null; type?: string; path?: string; target?: TestApp; query?: string } = {},
  ): Promise<Answer> {
    const name = opts.name === undefined ? 'file.bin' : opts.name;
    const qs = [name === null ? '' : `name=${encodeURIComponent(name)}`, opts.query ?? '']
      .filter(Boolean)
      .join('&');
    const res = await fetch(`${base}${opts.path ?? room}/uploads?${qs}`, {
      method: 'POST',
      headers: { ...(await auth(who, opts.target)), 'content-type': opts.type ?? 'application/octet-stream' },
      body: bytes,
    });
    return answer(res);
  }

  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    return {
      status: res.status,
      headers: res.headers,
      bytes: Buffer.from(await res.arrayBuffer()),
    };
  };
  const json = (bytes: Buffer) => JSON.parse(bytes.toString('utf8'));
  const rowsOf = (appId: string) =>
    server.database.db.selectFrom('uploads').selectAll().where('app_id', '=', appId).execute();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parley-uploads-'));
    if (kind === 's3') s3 = await startS3StandIn();
    server = await createTestServer({
      PARLEY_DATA_DIR: dataDir,
      JOBS_WORKERS: 'false',
      UPLOAD_IDLE_TIMEOUT_MS: '1500',
      ...(s3 ? s3Env(s3) : {}),
    });
    const address = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
    base = address.replace('[::1]', '127.0.0.1');
    app = await server.createApp();
    appB = await server.createApp();
    const users = ['owner', 'member', 'mod', 'outsider'].map((id) => ({ id }));
    expect((await app.server.post('/users', { users })).status).toBe(200);
    expect((await appB.server.post('/users', { users: [{ id: 'owner' }] })).status).toBe(200);
    const created = await app.server.post('/channels', {
      type: 'messaging',
      id: 'files-room',
      members: ['owner', 'member', 'mod'],
      created_by: 'owner',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const owner = await app.as('owner');
    expect((await owner.patch(`${room}/members/mod`, { role: 'moderator' })).status).toBe(200);
    expect(
      (await app.server.post('/channel-types', { name: 'no-files', config: { uploads: false } })).status,
    ).toBe(201);
    expect(
      (
        await app.server.post('/channels', {
          type: 'no-files',
          id: 'r',
          members: ['owner'],
          created_by: 'owner',
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await appB.server.post('/channels', {
          type: 'messaging',
          id: 'files-room',
          members: ['owner'],
          created_by: 'owner',
        })
      ).status,
    ).toBe(201);
  });

  afterAll(async () => {
    // Drop the fetch clients' keep-alive sockets first: a failed test must not leave close()
    // waiting for Fastify's keep-alive timeout.
    server?.parley.http.server.closeAllConnections();
    await server?.close();
    await s3?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('stores an image: real type from the bytes, size, blurhash, thumbnail; serves the same bytes', async () => {
    const image = await png(800, 600);
    // The declared type is wrong on purpose: the bytes decide.
    const res = await upload('member', image, { name: 'cat.png', type: 'application/octet-stream' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const { upload: up, attachment } = res.body;
    expect(up).toMatchObject({
      cid: 'messaging:files-room',
      user_id: 'member',
      name: 'cat.png',
      mime_type: 'image/png',
      file_size: image.length,
      width: 800,
      height: 600,
    });
    expect(up.blurhash).toMatch(/^[0-9A-Za-z#$%*+,-.:;=?@[\]^_{|}~]{6,100}$/);
    expect(up.url.startsWith(`${base}/files/${app.id}/${up.id}/original/`)).toBe(true);
    expect(attachment).toEqual({
      type: 'image',
      url: up.url,
      thumb_url: up.thumb_url,
      title: 'cat.png',
      mime_type: 'image/png',
      file_size: image.length,
      width: 800,
      height: 600,
      blurhash: up.blurhash,
      upload_id: up.id,
    });

    // No credentials: the URL is the capability.
    const file = await get(up.url);
    expect(file.status).toBe(200);
    expect(file.bytes.equals(image)).toBe(true);
    expect(file.headers.get('content-type')).toBe('image/png');
    expect(file.headers.get('content-length')).toBe(String(image.length));
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    expect(file.headers.get('content-disposition')).toBe(
      `inline; filename="cat.png"; filename*=UTF-8''cat.png`,
    );
    expect(file.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(file.headers.get('accept-ranges')).toBe('bytes');
    const etag = file.headers.get('etag')!;
    expect(etag).toBe(`"${up.id}-original"`);

    const head = await fetch(up.url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), (await head.arrayBuffer()).byteLength]).toEqual([
      200,
      String(image.length),
      0,
    ]);

    const thumb = await get(up.thumb_url);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const meta = await sharp(thumb.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 400, 300]);

    // Range (video seeking): a slice, the tail, a range past the end.
    const part = await get(up.url, { range: 'bytes=0-99' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 0-99/${image.length}`);
    expect(part.bytes.equals(image.subarray(0, 100))).toBe(true);
    const tail = await get(up.url, { range: 'bytes=-10' });
    expect([tail.status, tail.bytes.equals(image.subarray(image.length - 10))]).toEqual([206, true]);
    const open = await get(up.url, { range: `bytes=${image.length - 5}-` });
    expect([open.status, open.bytes.length]).toEqual([206, 5]);
    const past = await get(up.url, { range: `bytes=${image.length}-` });
    expect([past.status, json(past.bytes).code]).toEqual([416, 'RANGE_NOT_SATISFIABLE']);
    expect(past.headers.get('content-range')).toBe(`bytes */${image.length}`);
    // An If-Range that no longer matches: the whole file.
    const stale = await get(up.url, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect([stale.status, stale.bytes.length]).toEqual([200, image.length]);

    // Conditional requests.
    const cached = await get(up.url, { 'if-none-match': etag });
    expect([cached.status, cached.bytes.length]).toEqual([304, 0]);

    // A tampered signature, or a signature for another variant, is refused.
    const sig = up.url.split('/').at(-1)!;
    for (const at of [0, 20, 42]) {
      // Every position, the last one included (its spare bits must not make two spellings valid).
      const flipped = `${sig.slice(0, at)}${sig[at] === 'A' ? 'B' : 'A'}${sig.slice(at + 1)}`;
      const tampered = await get(up.url.replace(sig, flipped));
      expect([tampered.status, json(tampered.bytes).code]).toEqual([403, 'FILE_SIGNATURE_INVALID']);
    }
    const otherVariant = await get(up.url.replace('/original/', '/thumb/'));
    expect(otherVariant.status).toBe(403);
    const malformed = await get(up.url.replace(sig, 'short'));
    expect([malformed.status, json(malformed.bytes).code]).toEqual([400, 'VALIDATION_FAILED']);

    // The attachment goes into a message as is.
    const member = await app.as('member');
    const sent = await member.post(`${room}/messages`, { text: 'look', attachments: [attachment] });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    expect(sent.body.message.attachments).toEqual([attachment]);
  });

  it('applies EXIF orientation to the size and the thumbnail', async () => {
    const raw = await png(600, 400);
    const jpeg = await sharp(raw).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const res = await upload('member', jpeg, { name: 'phone.jpg', type: 'image/jpeg' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.upload).toMatchObject({ mime_type: 'image/jpeg', width: 400, height: 600 });
    const meta = await sharp((await get(res.body.upload.thumb_url)).bytes).metadata();
    expect([meta.width, meta.height]).toEqual([267, 400]);
  });

  it('stores other files as plain files, served as downloads; risky types as application/octet-stream', async () => {
    const text = Buffer.from('hello, world\n');
    const res = await upload('owner', text, {
      name: 'notes/../hello wörld.txt',
      type: 'text/plain; charset=utf-8',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.upload).toMatchObject({
      name: 'hello wörld.txt',
      mime_type: 'text/plain',
      file_size: 13,
    });
    expect(res.body.upload).not.toHaveProperty('thumb_url');
    expect(res.body.upload).not.toHaveProperty('width');
    expect(res.body.attachment).toMatchObject({
      type: 'file',
      title: 'hello wörld.txt',
      upload_id: res.body.upload.id,
    });
    const file = await get(res.body.upload.url);
    expect(file.bytes.equals(text)).toBe(true);
    expect(file.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(file.headers.get('content-disposition')).toBe(
      `attachment; filename="hello w_rld.txt"; filename*=UTF-8''hello%20w%C3%B6rld.txt`,
    );

    for (const [name, type] of [
      ['page.html', 'text/html'],
      ['logo.svg', 'image/svg+xml'],
    ] as const) {
      const risky = await upload('owner', Buffer.from('<svg onload="alert(1)"></svg>'), { name, type });
      expect(risky.status).toBe(201);
      expect(risky.body.attachment.type).toBe('file');
      const served = await get(risky.body.upload.url);
      expect(served.headers.get('content-type')).toBe('application/octet-stream');
      expect(served.headers.get('content-disposition')).toMatch(/^attachment;/);
      expect(served.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    }

    // Claims to be an image, is not: kept as a plain file of unknown type (documented choice).
    const fake = await upload('owner', Buffer.from('definitely not a png file'), {
      name: 'x.png',
      type: 'image/png',
    });
    expect(fake.status).toBe(201);
    expect(fake.body.upload).toMatchObject({ mime_type: 'application/octet-stream' });
    expect(fake.body.attachment.type).toBe('file');
    // A PNG header over garbage: decoding fails, so it is a plain file too.
    const broken = Buffer.concat([(await png(10, 10)).subarray(0, 40), Buffer.alloc(100, 7)]);
    const brokenRes = await upload('owner', broken, { name: 'broken.png', type: 'image/png' });
    expect([brokenRes.status, brokenRes.body.attachment.type]).toEqual([201, 'file']);

    // Video and audio are shown inline (by their type).
    const video = await upload('owner', Buffer.alloc(64, 1), { name: 'clip.mp4', type: 'video/mp4' });
    expect(video.body.attachment.type).toBe('video');
    const clip = await get(video.body.upload.url, { range: 'bytes=10-19' });
    expect([clip.status, clip.bytes.length, clip.headers.get('content-type')]).toEqual([
      206,
      10,
      'video/mp4',
    ]);
  });

  it('refuses images over 50 megapixels (decompression bombs) with 422, keeping nothing', async () => {
    const keys = await storedKeys();
    const bomb = await sharp({ create: { width: 8000, height: 7000, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const res = await upload('member', bomb, { name: 'bomb.png', type: 'image/png' });
    expect([res.status, res.body.code, res.body.details?.field]).toEqual([
      422,
      'UPLOAD_INVALID_IMAGE',
      'file',
    ]);
    expect(await storedKeys()).toEqual(keys);
    expect((await rowsOf(app.id)).some((r) => r.name === 'bomb.png')).toBe(false);
  });

  it('streams files larger than BODY_LIMIT_BYTES (the JSON limit) to storage and back', async () => {
    expect(server.config.BODY_LIMIT_BYTES).toBeLessThan(3 * 1024 * 1024);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const res = await upload('member', bytes, { name: 'big.bin' });
    expect([res.status, res.body.upload?.file_size]).toEqual([201, bytes.length]);
    const file = await get(res.body.upload.url);
    expect(file.bytes.equals(bytes)).toBe(true);
    const middle = await get(res.body.upload.url, { range: 'bytes=1048576-2097151' });
    expect([middle.status, middle.bytes.equals(bytes.subarray(1048576, 2097152))]).toEqual([206, true]);
  });

  it('server-side calls upload as a named user, or as nobody', async () => {
    const named = await upload('server', Buffer.from('abc'), { name: 'a.txt', query: 'user_id=owner' });
    expect([named.status, named.body.upload?.user_id]).toEqual([201, 'owner']);
    const anonymous = await upload('server', Buffer.from('abc'), { name: 'b.txt' });
    expect([anonymous.status, anonymous.body.upload?.user_id]).toEqual([201, null]);
  });

  it('refuses files over the limit with 413 before reading them, and keeps nothing', async () => {
    const admin = apiClient(server.parley, { 'x-admin-token': ADMIN_TOKEN });
    expect((await admin.patch(`/admin/apps/${app.id}`, { limits: { max_upload_bytes: 1000 } })).status).toBe(
      200,
    );
    try {
      const keys = await storedKeys();
      const rows = (await rowsOf(app.id)).length;
      const res = await upload('member', Buffer.alloc(2000, 1), { name: 'big.bin' });
      expect([res.status, res.body.code, res.body.details?.field, res.body.details?.max_bytes]).toEqual([
        413,
        'UPLOAD_TOO_LARGE',
        'file',
        1000,
      ]);
      expect(await storedKeys()).toEqual(keys);
      expect(await rowsOf(app.id)).toHaveLength(rows);
      // Exactly the limit is fine.
      expect((await upload('member', Buffer.alloc(1000, 1), { name: 'fits.bin' })).status).toBe(201);
    } finally {
      await admin.patch(`/admin/apps/${app.id}`, { limits: { max_upload_bytes: null } });
    }
  });

  it('refuses bad requests: no or empty name, no Content-Length, blocked types', async () => {
    const keys = await storedKeys();
    const rows = (await rowsOf(app.id)).length;
    const noName = await upload('member', Buffer.from('x'), { name: null });
    expect([noName.status, noName.body.code, noName.body.details?.field]).toEqual([
      400,
      'VALIDATION_FAILED',
      'querystring.name',
    ]);
    const empty = await upload('member', Buffer.from('x'), { name: '' });
    expect([empty.status, empty.body.details?.field]).toEqual([400, 'querystring.name']);
    const onlyControl = await upload('member', Buffer.from('x'), { name: '\u202e\u0007' });
    expect([onlyControl.status, onlyControl.body.details?.field]).toEqual([400, 'querystring.name']);
    const long = await upload('member', Buffer.from('x'), { name: `${'n'.repeat(256)}` });
    expect([long.status, long.body.details?.field]).toEqual([400, 'querystring.name']);

    // Chunked: no Content-Length.
    const chunked = await new Promise<Answer>((resolve, reject) => {
      void auth('member').then((headers) => {
        const req = httpRequest(`${base}${room}/uploads?name=c.txt`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'text/plain', 'transfer-encoding': 'chunked' },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: new Headers() }),
          );
        });
        req.write('some');
        req.end('bytes');
      });
    });
    expect([chunked.status, chunked.body.code, chunked.body.details?.field]).toEqual([
      400,
      'VALIDATION_FAILED',
      'Content-Length',
    ]);

    for (const [name, bytes, type] of [
      ['setup.exe', Buffer.from('hello'), 'application/octet-stream'],
      ['SETUP.EXE. ', Buffer.from('hello'), 'application/octet-stream'],
      ['tool.bin', Buffer.from('MZ\x90\x00 an executable header'), 'application/octet-stream'],
      ['innocent.dat', Buffer.from('hello'), 'application/x-msdownload'],
    ] as const) {
      const res = await upload('member', bytes, { name, type });
      expect([name, res.status, res.body.code, res.body.details?.field]).toEqual([
        name,
        415,
        'UPLOAD_TYPE_NOT_ALLOWED',
        'file',
      ]);
    }
    expect(await storedKeys()).toEqual(keys);
    expect(await rowsOf(app.id)).toHaveLength(rows);
  });

  it('checks the channel: uploads off for the type, non-members, unknown channels', async () => {
    const off = await upload('owner', Buffer.from('x'), { path: '/channels/no-files/r' });
    expect([off.status, off.body.code]).toEqual([403, 'FORBIDDEN']);
    const outsider = await upload('outsider', Buffer.from('x'));
    expect([outsider.status, outsider.body.code]).toEqual([403, 'FORBIDDEN']);
    const unknown = await upload('owner', Buffer.from('x'), { path: '/channels/messaging/nope' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'CHANNEL_NOT_FOUND']);
    const anonymous = await fetch(`${base}${room}/uploads?name=a.txt`, { method: 'POST', body: 'x' });
    expect(anonymous.status).toBe(401);
  });

  it('keeps tenants apart: app A can neither delete nor fetch app B’s upload', async () => {
    const b = await upload('owner', Buffer.from('B private bytes'), { name: 'b.txt', target: appB });
    expect(b.status).toBe(201);
    const bId = b.body.upload.id;
    // A's callers, on A's channel of the same name and through B's cid (which A does not have).
    for (const who of ['server', 'owner']) {
      const headers = await auth(who);
      const res = await answer(await fetch(`${base}${room}/uploads/${bId}`, { method: 'DELETE', headers }));
      expect([res.status, res.body.code]).toEqual([404, 'UPLOAD_NOT_FOUND']);
    }
    // A URL signed with A's key: for B's upload under A's app id it finds nothing; under B's app
    // id the signature does not verify.
    const keyA = (
      await server.database.db
        .selectFrom('upload_url_keys')
        .select('key')
        .where('app_id', '=', app.id)
        .executeTakeFirstOrThrow()
    ).key;
    const signA = (appId: string) =>
      createHmac('sha256', keyA).update(`parley-file.${appId}.${bId}.original`).digest('base64url');
    const underA = await get(`${base}/files/${app.id}/${bId}/original/${signA(app.id)}`);
    expect([underA.status, json(underA.bytes).code]).toEqual([404, 'FILE_NOT_FOUND']);
    const underB = await get(`${base}/files/${appB.id}/${bId}/original/${signA(appB.id)}`);
    expect([underB.status, json(underB.bytes).code]).toEqual([403, 'FILE_SIGNATURE_INVALID']);
    // B's own URL still works, and B's row is untouched.
    expect((await get(b.body.upload.url)).bytes.toString()).toBe('B private bytes');
    expect(await rowsOf(appB.id)).toHaveLength(1);
  });

  it('deletes: the uploader and moderators may, other members may not; the URL then answers 404', async () => {
    const del = async (who: string, id: string) =>
      answer(await fetch(`${base}${room}/uploads/${id}`, { method: 'DELETE', headers: await auth(who) }));
    const one = (await upload('member', await png(50, 50), { name: 'one.png' })).body.upload;
    const keysBefore = await storedKeys();
    expect(keysBefore).toEqual(
      expect.arrayContaining([`${app.id}/${one.id}/original`, `${app.id}/${one.id}/thumb`]),
    );

    const denied = await del('outsider', one.id);
    expect([denied.status, denied.body.code]).toEqual([403, 'FORBIDDEN']);
    const other = (await upload('owner', Buffer.from('owner file'), { name: 'o.txt' })).body.upload;
    const byMember = await del('member', other.id);
    expect([byMember.status, byMember.body.code]).toEqual([403, 'FORBIDDEN']);

    const own = await del('member', one.id);
    expect([own.status, own.body]).toEqual([200, { upload_id: one.id }]);
    const gone = await get(one.url);
    expect([gone.status, json(gone.bytes).code]).toEqual([404, 'FILE_NOT_FOUND']);
    expect((await get(one.thumb_url)).status).toBe(404);
    const keysAfter = await storedKeys();
    expect(keysAfter).not.toContain(`${app.id}/${one.id}/original`);
    expect(keysAfter).not.toContain(`${app.id}/${one.id}/thumb`);
    expect((await del('member', one.id)).status).toBe(404);

    const byModerator = await del('mod', other.id);
    expect(byModerator.status).toBe(200);
    expect((await get(other.url)).status).toBe(404);
    const third = (await upload('member', Buffer.from('x'), { name: 't.txt' })).body.upload;
    expect((await del('server', third.id)).status).toBe(200);
    // The upload id must belong to the channel of the path.
    const fourth = (await upload('owner', Buffer.from('x'), { name: 'f.txt' })).body.upload;
    const wrongChannel = await answer(
      await fetch(`${base}/channels/no-files/r/uploads/${fourth.id}`, {
        method: 'DELETE',
        headers: await auth('owner'),
      }),
    );
    expect(wrongChannel.status).toBe(404);
  });

  it('an aborted upload leaves no row and no file', async () => {
    const keys = await storedKeys();
    const rows = (await rowsOf(app.id)).length;
    const headers = await auth('member');
    const req = httpRequest(`${base}${room}/uploads?name=aborted.bin`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': '1000000' },
    });
    req.on('error', () => {});
    req.write(Buffer.alloc(64 * 1024, 3));
    // The server has started: the upload's row exists while its bytes stream in. Then hang up.
    await waitFor(async () =>
      (await rowsOf(app.id)).some((r) => r.name === 'aborted.bin' && r.completed_at === null)
        ? true
        : undefined,
    );
    req.destroy();
    await waitFor(async () => ((await rowsOf(app.id)).length === rows ? true : undefined), 5000);
    await waitFor(
      async () => (JSON.stringify(await storedKeys()) === JSON.stringify(keys) ? true : undefined),
      5000,
    );
  });

  it('serves scripts and styles, whatever their type, as application/octet-stream downloads', async () => {
    for (const type of ['text/jscript', 'text/css', 'application/javascript', 'text/vbscript', 'text/csv']) {
      const res = await upload('owner', Buffer.from('alert(1)'), { name: 'x.dat', type });
      expect(res.status, type).toBe(201);
      const served = await get(res.body.upload.url);
      expect([type, served.headers.get('content-type')]).toEqual([type, 'application/octet-stream']);
      expect(served.headers.get('content-disposition')).toMatch(/^attachment;/);
      expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const pdf = await upload('owner', Buffer.from('%PDF-1.4'), { name: 'a.pdf', type: 'application/pdf' });
    const servedPdf = await get(pdf.body.upload.url);
    expect(servedPdf.headers.get('content-type')).toBe('application/pdf');
    expect(servedPdf.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  it('error answers carry no validator and are not cached; an empty file ignores Range', async () => {
    const res = await upload('owner', Buffer.from('0123456789'), { name: 'ten.txt', type: 'text/plain' });
    const unsatisfiable = await get(res.body.upload.url, { range: 'bytes=50-' });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get('etag')).toBeNull();
    expect(unsatisfiable.headers.get('cache-control') ?? '').not.toMatch(/immutable|max-age/);
    const ok = await get(res.body.upload.url);
    expect([ok.status, ok.headers.get('cache-control')]).toEqual([
      200,
      'private, max-age=31536000, immutable',
    ]);
    expect(ok.headers.get('etag')).toBeTruthy();
    const notModified = await get(res.body.upload.url, { 'if-none-match': ok.headers.get('etag')! });
    expect(notModified.status).toBe(304);

    // Gone from the store under a live row (a failed removal): 404 without the year-long cache.
    await server.parley.services.uploads.storage.delete(`${app.id}/${res.body.upload.id}/original`);
    const missing = await get(res.body.upload.url);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('etag')).toBeNull();
    expect(missing.headers.get('cache-control') ?? '').not.toMatch(/immutable|max-age/);

    const empty = await upload('owner', Buffer.alloc(0), { name: 'empty.txt', type: 'text/plain' });
    expect(empty.status, JSON.stringify(empty.body)).toBe(201);
    for (const range of ['bytes=-5', 'bytes=0-', 'bytes=0-0']) {
      const served = await get(empty.body.upload.url, { range });
      expect([range, served.status, served.bytes.length]).toEqual([range, 200, 0]);
    }
  });

  it('strips zero-width characters from names; accepts text starting with "MZ", refuses programs', async () => {
    const res = await upload('owner', Buffer.from('x'), { name: 'inv\u200boice.ex\u200de\ufeff\u2060' });
    expect([res.status, res.body.code]).toEqual([415, 'UPLOAD_TYPE_NOT_ALLOWED']);
    const named = await upload('owner', Buffer.from('x'), { name: 'a\u200cb\u200b.txt', type: 'text/plain' });
    expect(named.body.upload.name).toBe('ab.txt');

    const text = Buffer.from('MZ is the start of this sentence, not of a program.\n');
    const ok = await upload('owner', text, { name: 'notes.txt', type: 'text/plain' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    const program = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(100)]);
    for (const opts of [
      { name: 'notes.bin', type: 'text/plain' },
      { name: 'notes.txt', type: 'application/octet-stream' },
    ]) {
      const refused = await upload('owner', program, opts);
      expect([refused.status, refused.body.code]).toEqual([415, 'UPLOAD_TYPE_NOT_ALLOWED']);
    }
  });

  it('an upload that stops sending is cut off after UPLOAD_IDLE_TIMEOUT_MS, leaving nothing', async () => {
    const keys = await storedKeys();
    const rows = (await rowsOf(app.id)).length;
    const headers = await auth('member');
    const req = httpRequest(`${base}${room}/uploads?name=stalled.bin`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': '1000000' },
    });
    req.on('error', () => {});
    const status = new Promise<number>((resolve) => req.on('response', (r) => resolve(r.statusCode ?? 0)));
    req.write(Buffer.alloc(64 * 1024, 3));
    // Never ends, never hangs up: the server gives up on its own.
    expect(await status).toBe(400);
    req.destroy();
    await waitFor(async () => ((await rowsOf(app.id)).length === rows ? true : undefined), 5000);
    await waitFor(
      async () => (JSON.stringify(await storedKeys()) === JSON.stringify(keys) ? true : undefined),
      5000,
    );
  });

  it('an upload the cleanup job gave up on while it streamed fails cleanly (400), leaving nothing', async () => {
    const keys = await storedKeys();
    const rows = (await rowsOf(app.id)).length;
    const req = httpRequest(`${base}${room}/uploads?name=late.bin`, {
      method: 'POST',
      headers: {
        ...(await auth('member')),
        'content-type': 'application/octet-stream',
        'content-length': '2000',
      },
    });
    req.on('error', () => {});
    const answer = new Promise<{ status: number; body: string }>((resolve) =>
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c) => {
          body += c;
        });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      }),
    );
    req.write(Buffer.alloc(1000, 1));
    const row = await waitFor(async () =>
      (await rowsOf(app.id)).find((r) => r.name === 'late.bin' && r.completed_at === null),
    );
    // What the job's pending sweep does to an upload it takes for dead.
    await uploadsRepository.markDeleted(server.database.db, app.id, row.id);
    req.end(Buffer.alloc(1000, 1));
    const res = await answer;
    expect(res.status, res.body).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'file' } });
    await waitFor(async () => ((await rowsOf(app.id)).length === rows ? true : undefined), 5000);
    expect(await storedKeys()).toEqual(keys);
  });

  it('cleanup decides and marks in one statement: a claim after its candidate list wins', async () => {
    const owner = await app.as('owner');
    const claimed = await upload('owner', Buffer.from('claimed'), { name: 'claimed.txt' });
    // A server-side upload (no user) in a user's draft is kept like any other.
    const serverSide = await upload('server', Buffer.from('server'), { name: 'server.txt' });
    expect(serverSide.body.upload.user_id ?? null).toBeNull();
    expect(
      (await owner.put(`${room}/draft`, { text: 'soon', attachments: [serverSide.body.attachment] })).status,
    ).toBe(200);
    const db = server.database.db;
    const later = new Date(Date.now() + 25 * 3_600_000);
    const candidates = await uploadsRepository.unreferencedCandidates(db, later, undefined, 10_000);
    const ids = candidates.filter((c) => c.app_id === app.id).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining([claimed.body.upload.id, serverSide.body.upload.id]));
    // A send claims one between the job's read and its decision.
    expect(await uploadsRepository.claimForMessage(db, app.id, [claimed.body.upload.id])).toEqual([
      claimed.body.upload.id,
    ]);
    const deleted = (await uploadsRepository.deleteUnreferenced(db, app.id, ids)).map((r) => r.id);
    expect(deleted).not.toContain(claimed.body.upload.id);
    expect(deleted).not.toContain(serverSide.body.upload.id);
    await server.parley.services.uploads.cleanup(later);
    expect((await get(claimed.body.upload.url)).status).toBe(200);
    expect((await get(serverSide.body.upload.url)).status).toBe(200);
    expect((await owner.delete(`${room}/draft`)).status).toBeLessThan(300);
  });

  it.runIf(kind === 'disk')('cleanup removes partial files a crash left in .tmp', async () => {
    const tmp = join(dataDir, 'uploads', '.tmp');
    await mkdir(tmp, { recursive: true });
    const old = join(tmp, 'dead.part');
    const fresh = join(tmp, 'alive.part');
    await writeFile(old, 'half an upload');
    await writeFile(fresh, 'an upload in progress');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(old, hourAgo, hourAgo);
    await server.parley.services.uploads.cleanup();
    expect((await readdir(tmp)).sort()).toEqual(['alive.part']);
    await rm(fresh);
  });

  it('cleanup removes unreferenced uploads and those of deleted channels, keeps referenced ones', async () => {
    const owner = await app.as('owner');
    expect(
      (
        await app.server.post('/channels', {
          type: 'messaging',
          id: 'doomed',
          members: ['owner'],
          created_by: 'owner',
        })
      ).status,
    ).toBe(201);
    const kept = await upload('owner', Buffer.from('kept'), { name: 'kept.txt' });
    const orphan = await upload('owner', Buffer.from('orphan'), { name: 'orphan.txt' });
    const drafted = await upload('owner', Buffer.from('drafted'), { name: 'drafted.txt' });
    const doomed = await upload('owner', Buffer.from('doomed'), {
      name: 'doomed.txt',
      path: '/channels/messaging/doomed',
    });
    expect(
      (await owner.post(`${room}/messages`, { text: 'x', attachments: [kept.body.attachment] })).status,
    ).toBe(201);
    expect(
      (await owner.put(`${room}/draft`, { text: 'later', attachments: [drafted.body.attachment] })).status,
    ).toBe(200);
    expect((await owner.delete('/channels/messaging/doomed')).status).toBe(200);

    // Not old enough yet: only the deleted channel's upload goes.
    await server.parley.services.uploads.cleanup();
    expect((await get(doomed.body.upload.url)).status).toBe(404);
    expect((await get(orphan.body.upload.url)).status).toBe(200);

    // A day later: the orphan goes; the sent and the drafted ones stay.
    const later = new Date(Date.now() + 25 * 3_600_000);
    const result = await server.parley.services.uploads.cleanup(later);
    expect(result.removed).toBeGreaterThanOrEqual(1);
    expect((await get(orphan.body.upload.url)).status).toBe(404);
    expect((await get(kept.body.upload.url)).status).toBe(200);
    expect((await get(drafted.body.upload.url)).status).toBe(200);
    const keys = await storedKeys();
    expect(keys).not.toContain(`${app.id}/${orphan.body.upload.id}/original`);
    expect(keys).not.toContain(`${app.id}/${doomed.body.upload.id}/original`);
    expect(keys).toContain(`${app.id}/${kept.body.upload.id}/original`);
    const keptRow = (await rowsOf(app.id)).find((r) => r.id === kept.body.upload.id);
    expect(keptRow?.referenced_at).toBeInstanceOf(Date);
    // Nothing is left half-written.
    expect(keys.filter((k) => k.startsWith('.tmp'))).toEqual([]);
  });

  it.runIf(kind === 's3')(
    'a store that refuses our signature: 502 UPLOAD_STORAGE_FAILED and no row',
    async () => {
      const wrong = await createTestServer({
        PARLEY_DATA_DIR: dataDir,
        JOBS_WORKERS: 'false',
        ...s3Env(s3!, 'the-wrong-secret'),
      });
      try {
        const other = await wrong.createApp();
        expect((await other.server.post('/users', { users: [{ id: 'u' }] })).status).toBe(200);
        expect(
          (
            await other.server.post('/channels', {
              type: 'messaging',
              id: 'r',
              members: ['u'],
              created_by: 'u',
            })
          ).status,
        ).toBe(201);
        const objects = s3!.objects.size;
        const res = await wrong.parley.http.inject({
          method: 'POST',
          url: '/channels/messaging/r/uploads?name=a.txt&user_id=u',
          headers: {
            'x-api-key': other.apiKey,
            authorization: `Secret ${other.secret}`,
            'content-type': 'text/plain',
          },
          payload: 'hello',
        });
        expect(res.statusCode).toBe(502);
        expect(res.json()).toMatchObject({
          code: 'UPLOAD_STORAGE_FAILED',
          details: { storage_code: 'SignatureDoesNotMatch' },
        });
        expect(s3!.log.at(-1)).toMatchObject({ method: 'PUT', status: 403 });
        expect(s3!.objects.size).toBe(objects);
        expect(
          await wrong.database.db.selectFrom('uploads').selectAll().where('app_id', '=', other.id).execute(),
        ).toEqual([]);
      } finally {
        await wrong.close();
      }
    },
  );
});

describe('image decoding', () => {
  it('runs at most `limit` tasks at once; the others wait their turn', async () => {
    const gate = new Semaphore(2);
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        gate.run(async () => {
          peak = Math.max(peak, gate.active);
          await new Promise((r) => setTimeout(r, 20));
          order.push(i);
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(gate.active).toBe(0);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
