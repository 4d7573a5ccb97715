import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 for S3 (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html),
 * written out so the server needs no AWS SDK. Pure functions: the S3 client signs with them, and
 * the test stand-in recomputes the signature of what it received with them. The signer is pinned
 * against AWS's published example in s3-signing.test.ts, so the two sides cannot share a mistake.
 */

export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** The payload hash of a streamed body (allowed by S3 and MinIO; TLS protects it in transit). */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service?: string;
}

export interface RequestToSign {
  method: string;
  /** The path exactly as sent on the wire (already percent-encoded). */
  path: string;
  /** The raw query string without `?` ('' for none). */
  query: string;
  /** Every header to sign (names in any case); must include host, x-amz-date, x-amz-content-sha256. */
  headers: Record<string, string>;
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** An object key as a path: each segment encoded, slashes kept. */
export const encodeKeyPath = (key: string) => key.split('/').map(uriEncode).join('/');

/** `20130524T000000Z` */
export const amzDate = (now: Date) =>
  now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

function canonicalQuery(query: string): string {
  if (!query) return '';
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      const k = decodeURIComponent(i < 0 ? pair : pair.slice(0, i));
      const v = i < 0 ? '' : decodeURIComponent(pair.slice(i + 1).replace(/\+/g, ' '));
      return [uriEncode(k), uriEncode(v)] as const;
    })
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export function canonicalRequest(req: RequestToSign): { text: string; signedHeaders: string } {
  const headers = Object.entries(req.headers)
    .map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([k]) => k).join(';');
  const payloadHash = headers.find(([k]) => k === 'x-amz-content-sha256')?.[1] ?? UNSIGNED_PAYLOAD;
  const text = [
    req.method.toUpperCase(),
    req.path || '/',
    canonicalQuery(req.query),
    ...headers.map(([k, v]) => `${k}:${v}`),
    '',
    signedHeaders,
    payloadHash,
  ].join('\n');
  return { text, signedHeaders };
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/**
 * The signature of a request whose headers already carry `x-amz-date` (YYYYMMDDTHHMMSSZ).
 * Returns the Authorization header value and the signature alone.
 */
export function sign(
  req: RequestToSign,
  creds: SigningCredentials,
): { authorization: string; signature: string } {
  const service = creds.service ?? 's3';
  const date = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'x-amz-date')?.[1];
  if (!date || !/^\d{8}T\d{6}Z$/.test(date)) throw new Error('x-amz-date header missing or malformed');
  const scope = `${date.slice(0, 8)}/${creds.region}/${service}/aws4_request`;
  const { text, signedHeaders } = canonicalRequest(req);
  const stringToSign = [ALGORITHM, date, scope, createHash('sha256').update(text).digest('hex')].join('\n');
  const signature = createHmac(
    'sha256',
    signingKey(creds.secretAccessKey, date.slice(0, 8), creds.region, service),
  )
    .update(stringToSign)
    .digest('hex');
  return {
    signature,
    authorization: `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

/** The parts of an `Authorization: AWS4-HMAC-SHA256 …` header; undefined when it is not one. */
export function parseAuthorization(header: string | undefined):
  | {
      accessKeyId: string;
      date: string;
      region: string;
      service: string;
      signedHeaders: string[];
      signature: string;
    }
  | undefined {
  const m = header?.match(
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/,
  );
  if (!m) return undefined;
  return {
    accessKeyId: m[1]!,
    date: m[2]!,
    region: m[3]!,
    service: m[4]!,
    signedHeaders: m[5]!.split(';'),
    signature: m[6]!,
  };
}
