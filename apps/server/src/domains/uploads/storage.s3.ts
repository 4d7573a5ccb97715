import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { amzDate, EMPTY_SHA256, encodeKeyPath, sign, UNSIGNED_PAYLOAD } from './s3-signing.js';
import {
  assertValidKey,
  type ByteRange,
  type FileStorage,
  StorageError,
  type StoredObject,
} from './storage.js';

export interface S3Options {
  /** Base URL of the S3-compatible service, e.g. https://s3.eu-west-1.amazonaws.com or http://minio:9000. */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Idle time limit of one request (no byte sent or received for this long). */
  timeoutMs?: number;
}

/** Reads a small response body (an S3 error document), at most 64 KiB. */
async function readSmall(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < 65_536) text += chunk.toString('utf8');
  }
  return text;
}

const xmlField = (xml: string, name: string) => xml.match(new RegExp(`<${name}>([^<]*)</${name}>`))?.[1];

/**
 * An S3-compatible object store (AWS S3, MinIO, R2, …) over plain HTTP with path-style addressing
 * (`<endpoint>/<bucket>/<key>`) and Signature V4. PutObject streams the body with a known
 * Content-Length and an unsigned payload hash; S3 stores an object only when the whole body
 * arrived, so an aborted upload leaves nothing (the `put` contract).
 */
export class S3Storage implements FileStorage {
  readonly kind = 's3' as const;
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly options: S3Options) {
    this.base = new URL(options.endpoint);
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true })
        : new http.Agent({ keepAlive: true });
  }

  private request(
    method: 'PUT' | 'GET' | 'HEAD' | 'DELETE',
    key: string,
    extra: { headers?: Record<string, string>; body?: Readable } = {},
  ): Promise<IncomingMessage> {
    assertValidKey(key);
    const path = `/${encodeKeyPath(this.options.bucket)}/${encodeKeyPath(key)}`;
    const signed: Record<string, string> = {
      host: this.base.host,
      'x-amz-date': amzDate(new Date()),
      'x-amz-content-sha256': extra.body ? UNSIGNED_PAYLOAD : EMPTY_SHA256,
    };
    const { authorization } = sign({ method, path, query: '', headers: signed }, this.options);
    const transport = this.base.protocol === 'https:' ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = transport.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port || undefined,
          method,
          path,
          agent: this.agent,
          headers: { ...signed, ...extra.headers, authorization },
        },
        resolve,
      );
      req.setTimeout(this.options.timeoutMs ?? 30_000, () =>
        req.destroy(new StorageError(`S3 ${method} timed out`)),
      );
      req.on('error', (error) =>
        reject(
          error instanceof StorageError ? error : new StorageError(`S3 ${method} failed: ${error.message}`),
        ),
      );
      if (!extra.body) {
        req.end();
        return;
      }
      const body = extra.body;
      // A failing body (client abort, over the limit) aborts the PUT: S3 keeps nothing.
      body.once('error', (error) => {
        req.destroy();
        reject(error);
      });
      body.pipe(req);
    });
  }

  /** Turns an S3 error answer into a StorageError (its XML Code, e.g. SignatureDoesNotMatch). */
  private async failure(res: IncomingMessage, what: string): Promise<StorageError> {
    const xml = res.statusCode === 404 && what.startsWith('HEAD') ? '' : await readSmall(res);
    const code = xmlField(xml, 'Code');
    return new StorageError(`S3 ${what} answered ${res.statusCode}${code ? ` ${code}` : ''}`, {
      status: res.statusCode ?? 0,
      ...(code ? { code } : {}),
    });
  }

  async put(key: string, body: Readable, meta: { contentType: string; size: number }): Promise<void> {
    const res = await this.request('PUT', key, {
      body,
      headers: { 'content-type': meta.contentType, 'content-length': String(meta.size) },
    });
    if (res.statusCode !== 200) throw await this.failure(res, `PUT ${key}`);
    res.resume();
  }

  async get(key: string, range?: ByteRange): Promise<StoredObject | undefined> {
    const res = await this.request(
      'GET',
      key,
      range ? { headers: { range: `bytes=${range.start}-${range.end}` } } : {},
    );
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode === 206) {
      const total = Number(String(res.headers['content-range'] ?? '').split('/')[1]);
      if (!Number.isFinite(total)) {
        res.destroy();
        throw new StorageError(`S3 GET ${key}: no usable Content-Range`);
      }
      return { body: res, size: total };
    }
    if (res.statusCode === 200) return { body: res, size: Number(res.headers['content-length']) };
    throw await this.failure(res, `GET ${key}`);
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    const res = await this.request('HEAD', key);
    res.resume();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw await this.failure(res, `HEAD ${key}`);
    return { size: Number(res.headers['content-length']) };
  }

  async delete(key: string): Promise<void> {
    const res = await this.request('DELETE', key);
    if (res.statusCode === 204 || res.statusCode === 200 || res.statusCode === 404) {
      res.resume();
      return;
    }
    throw await this.failure(res, `DELETE ${key}`);
  }
}
