import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Test support: a real HTTP receiver on 127.0.0.1 that checks every request with the verification
 * snippet of docs/webhooks.md (loaded from the document itself, so the documented code is what
 * runs) and dedups by event id the way the document tells receivers to.
 */
export interface Snippet {
  verifyParleyWebhook(
    secret: string,
    headers: IncomingHttpHeaders,
    rawBody: string,
    nowMs?: number,
  ): { id: string; type: string; [key: string]: unknown };
  firstDelivery(eventId: string, nowMs?: number): boolean;
}

const DOC = fileURLToPath(new URL('../../../../docs/webhooks.md', import.meta.url));

/** Imports the code block between the verify-snippet markers of docs/webhooks.md. */
export async function loadDocumentedSnippet(): Promise<Snippet> {
  const doc = readFileSync(DOC, 'utf8');
  const match = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(
    doc,
  );
  if (!match) throw new Error('docs/webhooks.md has no verify-snippet block');
  const file = path.join(tmpdir(), `parley-webhook-snippet-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(file, match[1]!);
  return (await import(pathToFileURL(file).href)) as Snippet;
}

export interface Arrival {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The verified event, or undefined when verification threw. */
  event?: { id: string; type: string; [key: string]: unknown };
  error?: string;
  /** False when the event id had been processed before (a retry or redelivery). */
  first?: boolean;
}

/**
 * What an endpoint path answers: `ok` verifies, dedups and answers 200; `fail` answers 500; a
 * number answers that status; `hold` processes (dedups) the event but never answers: the request
 * stays open until the sender goes away or the receiver closes.
 */
export type Behaviour = 'ok' | 'fail' | 'hold' | number;

export interface Receiver {
  url(pathname: string): string;
  arrivals: Arrival[];
  /** Secrets by path (set after creating the endpoint). */
  secrets: Map<string, string>;
  /** Behaviour per path; a function gets the arrival number at that path (1-based). */
  behave: Map<string, Behaviour | ((n: number) => Behaviour)>;
  onArrival?: (arrival: Arrival) => void;
  /** Events processed once (after dedup), by path. */
  processed(pathname: string): Arrival[];
  close(): Promise<void>;
}

export async function startReceiver(snippet: Snippet): Promise<Receiver> {
  const arrivals: Arrival[] = [];
  const secrets = new Map<string, string>();
  const behave = new Map<string, Behaviour | ((n: number) => Behaviour)>();
  const counts = new Map<string, number>();
  const receiver: Receiver = {
    url: (pathname) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${pathname}`,
    arrivals,
    secrets,
    behave,
    processed: (pathname) => arrivals.filter((a) => a.path === pathname && a.first === true),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const pathname = req.url ?? '/';
      const n = (counts.get(pathname) ?? 0) + 1;
      counts.set(pathname, n);
      const rule = behave.get(pathname) ?? 'ok';
      const behaviour = typeof rule === 'function' ? rule(n) : rule;
      const arrival: Arrival = { path: pathname, headers: req.headers, body };
      try {
        arrival.event = snippet.verifyParleyWebhook(secrets.get(pathname) ?? '', req.headers, body);
      } catch (error) {
        arrival.error = (error as Error).message;
      }
      // A receiver per endpoint: dedup by event id within this path. `hold` processes the event
      // but never answers (the answer is lost, e.g. the sender died).
      if (arrival.event && (behaviour === 'ok' || behaviour === 'hold'))
        arrival.first = snippet.firstDelivery(`${pathname} ${arrival.event.id}`);
      arrivals.push(arrival);
      receiver.onArrival?.(arrival);
      if (behaviour === 'hold') return;
      if (behaviour === 'ok') res.writeHead(arrival.event ? 200 : 400).end(arrival.error ?? 'ok');
      else if (behaviour === 'fail') res.writeHead(500).end('receiver is down');
      else res.writeHead(behaviour).end(`answering ${behaviour}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return receiver;
}

/** Waits until `check` stops throwing (or throws its last error after `timeoutMs`). */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  stepMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, stepMs));
    }
  }
}
