import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The benchmark harness (bench/run.mjs) in its smoke configuration: every server (raw ws,
 * Socket.IO, Parley's gateway engine, the built Parley server on PGlite — or on a fresh PostgreSQL
 * database when DATABASE_URL is set, plus two processes on Redis when REDIS_URL is set too) and
 * every scenario with tiny numbers. It proves the harness measures something and loses nothing;
 * it asserts no timings.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_ENTRY = path.join(ROOT, 'apps/server/dist/main.js');
const DATABASE_URL = process.env.DATABASE_URL;
const REDIS_URL = process.env.REDIS_URL;

if (!existsSync(SERVER_ENTRY)) {
  throw new Error(`${SERVER_ENTRY} is missing: build first (npm run build; npm test does it)`);
}

const parleyTarget = DATABASE_URL ? 'parley-pg' : 'parley-pglite';
const targets = ['ws', 'socketio', 'parley-gw', parleyTarget];
if (DATABASE_URL && REDIS_URL) targets.push('parley-cluster');

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function runBench(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  if (DATABASE_URL) env.DATABASE_URL = DATABASE_URL;
  if (REDIS_URL) env.REDIS_URL = REDIS_URL;
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/run.mjs'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    // Bounds a hung run; not a timing assertion.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench did not finish:\n${stderr}`));
    }, 170_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('bench harness (smoke)', () => {
  it('runs every scenario on every server with numbers and no lost message', {
    timeout: 180_000,
  }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'parley-bench-smoke-'));
    dirs.push(dir);
    const json = path.join(dir, 'report.json');
    const md = path.join(dir, 'report.md');
    const { code, stderr } = await runBench([
      '--smoke',
      '--targets',
      targets.join(','),
      '--json',
      json,
      '--out',
      md,
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.errors).toEqual([]);
    expect(report.machine.cpus).toBeGreaterThan(0);
    // The markdown report: the verdicts on the targets, then one section per scenario.
    const markdown = await readFile(md, 'utf8');
    for (const heading of [
      '## Targets of issue 5',
      '## 1. Idle connections',
      '## 2 and 5. Chat traffic',
      '## 3. Fan-out to one big room',
      '## 4. HTTP API (autocannon)',
      '## 6. Reconnect storm',
    ])
      expect(markdown).toContain(heading);
    expect(markdown).toMatch(/\| raw ws \(baseline\) +\|/);
    const { idle, chat, fanout, storm, http } = report.results;

    for (const target of targets.filter((t) => t !== 'parley-cluster')) {
      const steps = idle[target].steps;
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps) {
        expect(step.failed, target).toBe(0);
        expect(step.connectsPerSec, target).toBeGreaterThan(0);
        expect(step.serverRssMb, target).toBeGreaterThan(0);
        expect(Number.isFinite(step.bytesPerConnection), target).toBe(true);
      }

      // Two levels (the full run: 1,000 and 5,000 watchers), each message to every watcher.
      const levels = fanout[target].levels;
      expect(levels.length, target).toBe(2);
      expect(levels[1].watchers, target).toBeGreaterThan(levels[0].watchers);
      for (const fan of levels) {
        expect(fan.failed, target).toBe(0);
        expect(fan.lost, target).toBe(0);
        expect(fan.timeToLastP50Ms, target).toBeGreaterThan(0);
      }

      const s = storm[target];
      expect(s.failed, target).toBe(0);
      expect(s.lost, target).toBe(0);
      expect(s.resubscribed, target).toBe(s.expectedSubscriptions);
      expect(s.allBackSeconds, target).toBeGreaterThan(0);
      if (target.startsWith('parley')) {
        // Recovery: every subscription recovered, every missed message reached every member.
        expect(s.recoveredSubscriptions, target).toBe(s.expectedSubscriptions);
        expect(s.missedExpected, target).toBeGreaterThan(0);
        expect(s.missedReceived, target).toBe(s.missedExpected);
      }
    }

    for (const target of targets) {
      const c = chat[target];
      expect(c.failed, target).toBe(0);
      expect(c.sendErrors, target).toBe(0);
      expect(c.fixed.length, target).toBeGreaterThan(0);
      for (const run of [...c.fixed, c.saturation]) {
        expect(run.deliveredPerSec, target).toBeGreaterThan(0);
        expect(run.latency.count, target).toBeGreaterThan(0);
        expect(run.latency.p99, target).toBeGreaterThan(0);
        expect(run.duplicates, target).toBe(0);
        expect(run.lost, target).toBe(0);
        expect(run.received, target).toBe(run.expected);
      }
    }

    const endpoints = http[parleyTarget].endpoints;
    expect(endpoints.map((e: { endpoint: string }) => e.endpoint)).toEqual([
      'send message',
      'list messages',
      'query channels',
      'unread counts',
    ]);
    for (const e of endpoints) {
      for (const run of [e.max, e.fixed]) {
        expect(run.requestsPerSec, e.endpoint).toBeGreaterThan(0);
        expect(run.p95Ms, e.endpoint).toBeGreaterThan(0);
        expect(run.non2xx + run.errors + run.timeouts, e.endpoint).toBe(0);
      }
    }
  });
});
