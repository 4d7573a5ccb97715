import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  canonicalRequest,
  parseAuthorization,
  sign,
  UNSIGNED_PAYLOAD,
} from '../domains/uploads/s3-signing.js';

/**
 * A local S3 stand-in speaking the real REST contract, path-style (`/<bucket>/<key>`):
 * PutObject, GetObject (with Range), HeadObject and DeleteObject, each authenticated with
 * Signature V4 that it recomputes from the request and its known secret. A wrong signature is
 * 403 SignatureDoesNotMatch, an unknown key id 403 InvalidAccessKeyId, as S3 answers them (XML).
 * A PUT stores the object only once the whole body (Content-Length bytes) arrived, like S3.
 */
export interface S3StandIn {
  url: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stored objects by key (without the bucket). */
  objects: Map<string, { body: Buffer; contentType: string }>;
  /** Every request seen: method, key, status answered. */
  log: { method: string; key: string; status: number }[];
  close(): Promise<void>;
}

const xmlError = (res: ServerResponse, status: number, code: string, message: string, resource = '') => {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${resource}</Resource><RequestId>stand-in</RequestId></Error>`,
  );
};

export async function startS3StandIn(
  opts: { bucket?: string; region?: string; accessKeyId?: string; secretAccessKey?: string } = {},
): Promise<S3StandIn> {
  const bucket = opts.bucket ?? 'parley-test';
  const region = opts.region ?? 'us-east-1';
  const accessKeyId = opts.accessKeyId ?? 'STANDINACCESSKEY';
  const secretAccessKey = opts.secretAccessKey ?? 'stand-in-secret-access-key-0123456789';
  const objects: S3StandIn['objects'] = new Map();
  const log: S3StandIn['log'] = [];

  /** Recomputes the request's signature; answers the S3 error and returns false when it differs. */
  function authenticate(req: IncomingMessage, res: ServerResponse, path: string, query: string): boolean {
    const auth = parseAuthorization(req.headers.authorization);
    if (!auth) {
      xmlError(res, 403, 'AccessDenied', 'Missing or malformed Authorization header');
      return false;
    }
    if (auth.accessKeyId !== accessKeyId) {
      xmlError(
        res,
        403,
        'InvalidAccessKeyId',
        'The AWS Access Key Id you provided does not exist in our records.',
      );
      return false;
    }
    const headers: Record<string, string> = {};
    for (const name of auth.signedHeaders) {
      const value = req.headers[name];
      if (value === undefined) {
        xmlError(res, 403, 'SignatureDoesNotMatch', `Signed header ${name} is missing`);
        return false;
      }
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
      if (!(required in headers)) {
        xmlError(res, 403, 'AccessDenied', `${required} must be signed`);
        return false;
      }
    }
    if (headers['x-amz-date']!.slice(0, 8) !== auth.date || auth.region !== region || auth.service !== 's3') {
      xmlError(res, 403, 'SignatureDoesNotMatch', 'Credential scope does not match the request');
      return false;
    }
    const skew = Math.abs(
      Date.now() -
        Date.parse(
          headers['x-amz-date']!.replace(
            /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
            '$1-$2-$3T$4:$5:$6Z',
          ),
        ),
    );
    if (!(skew < 15 * 60_000)) {
      xmlError(
        res,
        403,
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
      );
      return false;
    }
    const expected = sign(
      { method: req.method ?? 'GET', path, query, headers },
      { accessKeyId, secretAccessKey, region },
    ).signature;
    if (expected !== auth.signature) {
      const { text } = canonicalRequest({ method: req.method ?? 'GET', path, query, headers });
      xmlError(
        res,
        403,
        'SignatureDoesNotMatch',
        `The request signature we calculated does not match the signature you provided. Check your key and signing method. (canonical request: ${text.replaceAll('\n', '\\n')})`,
      );
      return false;
    }
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 ? '' : raw.slice(q + 1);
    const [, bucketPart, ...keyParts] = path.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    res.on('finish', () => log.push({ method: req.method ?? '', key, status: res.statusCode }));
    if (!authenticate(req, res, path, query)) {
      req.resume();
      return;
    }
    if (decodeURIComponent(bucketPart ?? '') !== bucket) {
      req.resume();
      return xmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist', path);
    }
    if (!key) {
      req.resume();
      return xmlError(res, 400, 'InvalidRequest', 'Bucket operations are not supported by the stand-in');
    }

    if (req.method === 'PUT') {
      const declared = req.headers['content-length'];
      if (declared === undefined) {
        req.resume();
        return xmlError(res, 411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
      }
      const chunks: Buffer[] = [];
      let aborted = false;
      req.on('aborted', () => {
        aborted = true;
      });
      try {
        for await (const chunk of req) chunks.push(chunk as Buffer);
      } catch {
        return; // the client went away: nothing is stored
      }
      const body = Buffer.concat(chunks);
      if (aborted || body.length !== Number(declared)) return;
      const hash = req.headers['x-amz-content-sha256'];
      if (hash !== UNSIGNED_PAYLOAD && hash !== createHash('sha256').update(body).digest('hex')) {
        return xmlError(
          res,
          400,
          'XAmzContentSHA256Mismatch',
          'The provided x-amz-content-sha256 header does not match what was computed.',
        );
      }
      objects.set(key, { body, contentType: String(req.headers['content-type'] ?? 'binary/octet-stream') });
      res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` });
      return res.end();
    }
    req.resume();
    const object = objects.get(key);
    if (req.method === 'DELETE') {
      objects.delete(key);
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'HEAD') {
      if (!object) {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { 'content-length': object.body.length, 'content-type': object.contentType });
      return res.end();
    }
    if (req.method === 'GET') {
      if (!object) return xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.', key);
      const range = req.headers.range?.match(/^bytes=(\d*)-(\d*)$/);
      const size = object.body.length;
      if (range && (range[1] || range[2])) {
        const suffix = !range[1];
        const start = suffix ? Math.max(0, size - Number(range[2])) : Number(range[1]);
        const end = suffix || !range[2] ? size - 1 : Math.min(Number(range[2]), size - 1);
        if (start >= size || start > end) {
          res.setHeader('content-range', `bytes */${size}`);
          return xmlError(res, 416, 'InvalidRange', 'The requested range is not satisfiable');
        }
        res.writeHead(206, {
          'content-length': end - start + 1,
          'content-range': `bytes ${start}-${end}/${size}`,
          'content-type': object.contentType,
        });
        return res.end(object.body.subarray(start, end + 1));
      }
      res.writeHead(200, { 'content-length': size, 'content-type': object.contentType });
      return res.end(object.body);
    }
    return xmlError(
      res,
      405,
      'MethodNotAllowed',
      'The specified method is not allowed against this resource.',
    );
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) xmlError(res, 500, 'InternalError', String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    objects,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
