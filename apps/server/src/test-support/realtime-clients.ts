import { Centrifuge, type Options, type PublicationContext, type Subscription } from 'centrifuge';
import WebSocket from 'ws';
import type { TestServer } from './harness.js';

/**
 * Test clients for the realtime gateway: a raw `ws` client speaking the JSON protocol line by
 * line (to check exact frames and close codes), and helpers around the official `centrifuge`
 * client whose sockets can be killed to exercise reconnect and recovery.
 */

export type Frame = Record<string, any>;
export interface CloseEvent {
  code: number;
  reason: string;
}

export class RawClient {
  /** Every frame received, as text (several replies may share one frame). */
  readonly frames: string[] = [];
  /** Every decoded line, in arrival order (server pings included). */
  readonly messages: Frame[] = [];
  readonly closed: Promise<CloseEvent>;
  closeEvent: CloseEvent | undefined;
  /** Answer server pings (`{}`) with a pong (`{}`), as the official clients do. */
  autoPong = true;
  private nextId = 1;
  private waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeEvent = { code, reason: reason.toString() };
        resolve(this.closeEvent);
        for (const wake of this.waiters) wake();
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? Buffer.from(data as Buffer).toString('hex') : data.toString();
      this.frames.push(text);
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let message: Frame;
        try {
          message = JSON.parse(line);
        } catch {
          message = { unparsable: line };
        }
        this.messages.push(message);
        if (this.autoPong && line === '{}' && ws.readyState === WebSocket.OPEN) ws.send('{}');
      }
      for (const wake of this.waiters) wake();
    });
  }

  static open(url: string, protocols?: string | string[]): Promise<RawClient> {
    const ws = new WebSocket(url, protocols);
    const client = new RawClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  /** Sends raw text (or bytes) as one frame. */
  send(data: string | Buffer) {
    this.ws.send(data);
  }

  /** Allocates a command id. */
  id() {
    return this.nextId++;
  }

  /** Sends one command and resolves with its reply (result or error). */
  async command(method: string, params: unknown = {}): Promise<Frame> {
    const id = this.id();
    this.send(JSON.stringify({ id, [method]: params }));
    return this.waitFor((m) => m.id === id);
  }

  /** Connects with a token; resolves with the connect reply. */
  connect(token: string | undefined, extra: Record<string, unknown> = {}) {
    return this.command('connect', { ...(token !== undefined ? { token } : {}), name: 'raw', ...extra });
  }

  /** Resolves with the first message (already received or future) matching `predicate`. */
  waitFor(predicate: (m: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(predicate);
        if (found) {
          done();
          resolve(found);
        } else if (this.closeEvent) {
          done();
          reject(
            new Error(`socket closed (${this.closeEvent.code} ${this.closeEvent.reason}) while waiting`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting; received ${JSON.stringify(this.messages).slice(0, 2000)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves with the close event, failing after `timeoutMs`. */
  closedWithin(timeoutMs = 5_000): Promise<CloseEvent> {
    return Promise.race([
      this.closed,
      new Promise<CloseEvent>((_, reject) =>
        setTimeout(() => reject(new Error('the server did not close the connection')), timeoutMs).unref(),
      ),
    ]);
  }

  /** Publications pushed for a channel so far. */
  pubs(channel: string): Frame[] {
    return this.messages.filter((m) => m.push?.channel === channel && m.push.pub).map((m) => m.push.pub);
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
  }
}

/** A `ws` WebSocket that records its instances, so tests can kill the official client's socket. */
export function trackedWebSocket() {
  const sockets: WebSocket[] = [];
  class TrackedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      sockets.push(this);
    }
  }
  return { WebSocket: TrackedWebSocket, sockets, current: () => sockets.at(-1) };
}

/** Connects the official client and waits for `connected` (rejects on a terminal disconnect). */
export async function connectCentrifuge(
  url: string,
  token: string,
  options: Partial<Options> = {},
): Promise<{ client: Centrifuge; sockets: WebSocket[] }> {
  const tracked = trackedWebSocket();
  const client = new Centrifuge(url, {
    websocket: tracked.WebSocket,
    token,
    minReconnectDelay: 50,
    maxReconnectDelay: 300,
    ...options,
  });
  const connected = new Promise((resolve, reject) => {
    client.once('connected', resolve);
    client.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  client.connect();
  await connected;
  return { client, sockets: tracked.sockets };
}

/** Subscribes and waits for `subscribed`; rejects if the subscription ends instead. */
export function subscribed(sub: Subscription) {
  return new Promise<void>((resolve, reject) => {
    sub.once('subscribed', () => resolve());
    sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code} ${ctx.reason}`)));
    sub.subscribe();
  });
}

/** Resolves with the next publication whose data matches. */
export function nextPublication(
  sub: Subscription,
  predicate: (data: any) => boolean = () => true,
  timeoutMs = 5_000,
) {
  return new Promise<PublicationContext>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.off('publication', handler);
      reject(new Error(`no matching publication on ${sub.channel} within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (ctx: PublicationContext) => {
      if (!predicate(ctx.data)) return;
      clearTimeout(timer);
      sub.off('publication', handler);
      resolve(ctx);
    };
    sub.on('publication', handler);
  });
}

/** Polls `condition` until it holds (for state that changes asynchronously on the server). */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Makes a test server listen on a free loopback port and returns its gateway's WebSocket URL,
 * with `?api_key=` of `apiKey` when given (realtime tests connect real clients to it).
 */
export async function listenForGateway(server: TestServer, apiKey?: string) {
  const address = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
  const base = `${address.replace('http', 'ws')}/connection/websocket`;
  return apiKey ? `${base}?api_key=${apiKey}` : base;
}
