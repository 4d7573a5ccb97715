import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer } from '../test-support/harness.js';
import { eventually } from '../test-support/webhook-receiver.js';
import { isPrivateAddress, OutboundBlockedError, outboundRequest } from './outbound.js';

/** The SSRF guard of outbound requests to app-chosen URLs, against a real local HTTP server. */
let local: Server;
let port: number;
const hits: string[] = [];

beforeAll(async () => {
  local = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
    res.writeHead(201).end('hello');
  });
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
  port = (local.address() as AddressInfo).port;
});

afterAll(async () => {
  local.closeAllConnections();
  await new Promise<void>((resolve) => local.close(() => resolve()));
});

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
    'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );
});

describe('outboundRequest', () => {
  it('refuses loopback by literal IP and by a name that resolves to it (checked after DNS)', async () => {
    const before = hits.length;
    for (const url of [
      `http://127.0.0.1:${port}/a`,
      `http://localhost:${port}/b`,
      `http://[::1]:${port}/c`,
    ]) {
      const error = await outboundRequest({ url, timeoutMs: 2000, allowPrivate: false }).catch((e) => e);
      expect(error, url).toBeInstanceOf(OutboundBlockedError);
      expect((error as Error).message).toMatch(/OUTBOUND_ALLOW_PRIVATE/);
    }
    expect(hits.length).toBe(before); // no request reached the server
  });

  it('reaches private targets when allowed, and returns status and body', async () => {
    const res = await outboundRequest({
      url: `http://localhost:${port}/ok`,
      body: '{}',
      headers: { 'content-type': 'application/json' },
      timeoutMs: 2000,
      allowPrivate: true,
    });
    expect(res.status).toBe(201);
    expect(res.body).toBe('hello');
  });

  it('gives up after the time limit', async () => {
    const error = await outboundRequest({
      url: `http://127.0.0.1:${port}/slow`,
      timeoutMs: 200,
      allowPrivate: true,
    }).catch((e) => e);
    expect((error as Error).name).toBe('TimeoutError');
  });

  it('refuses non-HTTP protocols', async () => {
    await expect(
      outboundRequest({ url: 'file:///etc/passwd', timeoutMs: 100, allowPrivate: true }),
    ).rejects.toThrow(/unsupported protocol/);
  });
});

describe('webhook deliveries through the guard', () => {
  it('a webhook pointing at a private address fails (logged) when private targets are not allowed', async () => {
    const server = await createTestServer({
      OUTBOUND_ALLOW_PRIVATE: 'false',
      WEBHOOK_RETRY_LIMIT: '0',
      JOBS_POLL_INTERVAL_MS: '500',
    });
    try {
      const app = await server.createApp();
      const before = hits.length;
      const hook = await app.server.post('/webhooks', {
        url: `http://127.0.0.1:${port}/private-hook`,
        events: ['user.updated'],
      });
      expect(hook.status).toBe(201);
      await app.server.post('/users', { users: [{ id: 'u1' }] });
      const [delivery] = await eventually(async () => {
        const res = await app.server.get(`/webhooks/${hook.body.webhook.id}/deliveries`);
        expect(res.body.deliveries).toHaveLength(1);
        expect(res.body.deliveries[0].status).toBe('failed');
        return res.body.deliveries;
      }, 20_000);
      expect(delivery.error).toMatch(/private, loopback and link-local addresses are blocked/);
      expect(delivery.response_status).toBeNull();
      expect(hits.length).toBe(before);
    } finally {
      await server.close();
    }
  }, 90_000);
});
