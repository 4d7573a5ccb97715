import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Outbound HTTP to URLs chosen by apps (webhook endpoints, the before-send hook, commands), with
 * an SSRF guard: unless `allowPrivate`, a request whose host resolves to a private, loopback,
 * link-local, CGNAT, multicast or reserved address is refused.
 *
 * The check runs on the address the socket actually connects to (a `lookup` hook on the request),
 * not on a separate resolution beforehand, so a host that resolves to a public address when checked
 * and to 127.0.0.1 a moment later (DNS rebinding) is still refused. Literal IP hosts are checked
 * before connecting (Node skips `lookup` for them). Redirects are never followed.
 */

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['2001:db8::', 32], // documentation
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const hi = Number.parseInt(hex[1]!, 16);
  const lo = Number.parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True for addresses an app's URL must not reach unless private targets are allowed. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4) return blocked.check(v4, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true; // not an IP address at all: refuse
}

/** Thrown (or passed to the socket) when the guard refuses a destination. */
export class OutboundBlockedError extends Error {
  readonly code = 'OUTBOUND_BLOCKED';
  constructor(host: string, address: string) {
    super(
      `refused to connect to ${host} (${address}): private, loopback and link-local addresses are blocked (OUTBOUND_ALLOW_PRIVATE)`,
    );
    this.name = 'OutboundBlockedError';
  }
}

/** A `lookup` for http.request that resolves as usual, then refuses private addresses. */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const usable = allowPrivate ? addresses : addresses.filter((a) => !isPrivateAddress(a.address));
      if (usable.length === 0) {
        return callback(new OutboundBlockedError(hostname, addresses[0]?.address ?? 'no address'));
      }
      if ((options as { all?: boolean }).all) return callback(null, usable);
      return callback(null, usable[0]!.address, usable[0]!.family);
    });
  }) as LookupFunction;
}

export interface OutboundRequest {
  url: string;
  method?: 'POST' | 'GET';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  allowPrivate: boolean;
  /** The most characters of the answer's body kept (the rest is discarded). */
  maxBodyChars?: number;
}

export interface OutboundResponse {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** Thrown when no answer came within the time limit. */
export class OutboundTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * One request to an app-chosen URL through the SSRF guard. Resolves with any HTTP answer (the
 * caller judges the status); rejects on a refused destination, a network error or the time limit
 * (which covers the whole exchange, body included).
 */
export function outboundRequest(request: OutboundRequest): Promise<OutboundResponse> {
  const url = new URL(request.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new Error(`unsupported protocol ${url.protocol}`));
  }
  if (isIP(host) && !request.allowPrivate && isPrivateAddress(host)) {
    return Promise.reject(new OutboundBlockedError(host, host));
  }
  const maxChars = request.maxBodyChars ?? 64 * 1024;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, value?: OutboundResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(value!);
    };
    const req = client.request(
      url,
      {
        method: request.method ?? 'POST',
        headers: {
          ...(request.body !== undefined ? { 'content-length': Buffer.byteLength(request.body) } : {}),
          ...request.headers,
        },
        lookup: guardedLookup(request.allowPrivate),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < maxChars) body += chunk;
        });
        res.on('end', () =>
          finish(undefined, {
            status: res.statusCode ?? 0,
            body: body.slice(0, maxChars),
            headers: res.headers,
          }),
        );
        res.on('error', (error) => finish(error));
      },
    );
    const timer = setTimeout(() => {
      const error = new OutboundTimeoutError(request.timeoutMs);
      req.destroy(error);
      finish(error);
    }, request.timeoutMs);
    req.on('error', (error) => finish(error));
    req.end(request.body);
  });
}
