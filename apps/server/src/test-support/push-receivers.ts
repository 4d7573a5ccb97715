import { createDecipheriv, createECDH, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';

/**
 * Local stand-ins for push services that speak their real contracts:
 * - a Web Push endpoint (RFC 8030) that receives the encrypted request, verifies the VAPID
 *   Authorization (RFC 8292) and decrypts the aes128gcm body (RFC 8291) with a browser-side key
 *   pair generated here — exactly what a browser's push service + service worker would do;
 * - a OneSignal REST API (`POST /notifications`, `Authorization: Key <key>`) that records requests
 *   and answers invalid subscription ids the way OneSignal does.
 */

const b64u = (buf: Buffer) => buf.toString('base64url');

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** A browser's push subscription: its keys stay here, the server only gets `toJSON()`. */
export class BrowserSubscription {
  private readonly ecdh = createECDH('prime256v1');
  readonly publicKey: Buffer;
  readonly auth = randomBytes(16);

  constructor(readonly endpoint: string) {
    this.publicKey = this.ecdh.generateKeys();
  }

  toJSON() {
    return {
      endpoint: this.endpoint,
      expirationTime: null,
      keys: { p256dh: b64u(this.publicKey), auth: b64u(this.auth) },
    };
  }

  /** RFC 8291 §3.4 + RFC 8188: decrypts one aes128gcm message for this subscription. */
  decrypt(body: Buffer): Buffer {
    const salt = body.subarray(0, 16);
    const rs = body.readUInt32BE(16);
    const idLength = body[20]!;
    const serverPublicKey = body.subarray(21, 21 + idLength);
    const records = body.subarray(21 + idLength);
    if (records.length > rs) throw new Error('expected a single record');
    const ecdhSecret = this.ecdh.computeSecret(serverPublicKey);
    const prkKey = hmac(this.auth, ecdhSecret);
    const keyInfo = Buffer.concat([
      Buffer.from('WebPush: info\0'),
      this.publicKey,
      serverPublicKey,
      Buffer.from([1]),
    ]);
    const ikm = hmac(prkKey, keyInfo);
    const prk = hmac(salt, ikm);
    const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01', 'binary')).subarray(0, 16);
    const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01', 'binary')).subarray(0, 12);
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(records.subarray(records.length - 16));
    const padded = Buffer.concat([
      decipher.update(records.subarray(0, records.length - 16)),
      decipher.final(),
    ]);
    // Last record: content, then the delimiter 0x02, then zero padding.
    let end = padded.length - 1;
    while (end >= 0 && padded[end] === 0) end--;
    if (padded[end] !== 2) throw new Error('missing last-record padding delimiter');
    return padded.subarray(0, end);
  }
}

export interface WebPushArrival {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The VAPID claims (verified signature) from `Authorization: vapid t=…, k=…`. */
  vapid: { aud: string; sub: string; exp: number; k: string };
}

export interface WebPushService {
  url: string;
  arrivals: WebPushArrival[];
  /** Status to answer per path (default 201). */
  statuses: Map<string, number>;
  /** A subscription whose endpoint is on this service. */
  subscribe(name: string): BrowserSubscription;
  close(): Promise<void>;
}

/** An uncompressed P-256 public key (65 bytes) as a PEM SPKI, for jose. */
function p256SpkiPem(raw: Buffer): string {
  const prefix = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
  const der = Buffer.concat([prefix, raw]);
  return `-----BEGIN PUBLIC KEY-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PUBLIC KEY-----\n`;
}

export async function startWebPushService(): Promise<WebPushService> {
  const arrivals: WebPushArrival[] = [];
  const statuses = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const auth = String(req.headers.authorization ?? '');
        const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(auth);
        if (!match) throw new Error(`bad Authorization: ${auth}`);
        const key = await importSPKI(p256SpkiPem(Buffer.from(match[2]!, 'base64url')), 'ES256');
        const { payload } = await jwtVerify(match[1]!, key);
        arrivals.push({
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
          vapid: { ...(payload as { aud: string; sub: string; exp: number }), k: match[2]! },
        });
        res.statusCode = statuses.get(req.url ?? '') ?? 201;
        res.end();
      } catch (error) {
        res.statusCode = 401;
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    arrivals,
    statuses,
    subscribe: (name) => new BrowserSubscription(`${url}/push/${name}`),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface OneSignalRequest {
  authorization: string;
  body: {
    app_id: string;
    include_subscription_ids: string[];
    headings: Record<string, string>;
    contents: Record<string, string>;
    data: Record<string, unknown>;
    idempotency_key?: string;
    ios_badgeCount?: number;
    [key: string]: unknown;
  };
}

export interface OneSignalStandIn {
  url: string;
  requests: OneSignalRequest[];
  /** Subscription ids OneSignal does not know (or that unsubscribed). */
  invalid: Set<string>;
  close(): Promise<void>;
}

/**
 * OneSignal's create-notification contract: 400 `{ errors: [...] }` for a bad request or app id,
 * 403 for a wrong key; 200 `{ id, errors: { invalid_player_ids } }` when some ids are invalid;
 * 200 `{ id: "", errors: ["All included players are not subscribed"] }` when all are. Requests with
 * an idempotency key seen before get the first answer's id and create nothing new.
 */
export async function startOneSignal(appId: string, apiKey: string): Promise<OneSignalStandIn> {
  const requests: OneSignalRequest[] = [];
  const invalid = new Set<string>();
  const seen = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/notifications')
        return send(404, { errors: ['Not Found'] });
      if (req.headers.authorization !== `Key ${apiKey}`)
        return send(403, {
          errors: ["Access denied.  Please include an 'Authorization: ...' header with a valid API key"],
        });
      let body: OneSignalRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, { errors: ['Invalid JSON'] });
      }
      if (body.app_id !== appId)
        return send(400, {
          errors: ['app_id not found. You may be missing a Content-Type: application/json header.'],
        });
      if (!body.contents?.en)
        return send(400, { errors: ['Notification contents for each language must be a string'] });
      requests.push({ authorization: req.headers.authorization, body });
      if (body.idempotency_key && seen.has(body.idempotency_key))
        return send(200, { id: seen.get(body.idempotency_key), external_id: null });
      const ids = body.include_subscription_ids ?? [];
      const bad = ids.filter((id) => invalid.has(id));
      if (bad.length === ids.length)
        return send(200, { id: '', errors: ['All included players are not subscribed'] });
      const id = crypto.randomUUID();
      if (body.idempotency_key) seen.set(body.idempotency_key, id);
      return send(
        200,
        bad.length
          ? { id, external_id: null, errors: { invalid_player_ids: bad } }
          : { id, external_id: null },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    invalid,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
