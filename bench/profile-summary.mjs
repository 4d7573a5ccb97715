#!/usr/bin/env node
/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from `node bench/run.mjs --cpu-prof <dir>`):
 * self time by function and by package/area, as a share of all samples.
 *
 *   node bench/profile-summary.mjs bench/profiles/*.cpuprofile [--top 30] [--window FROM_US-TO_US]
 *
 * --window keeps only the samples taken between two instants of the monotonic clock in µs (the
 * clock of the profiles): the load generator records the window of every measured phase, and
 * `run.mjs --cpu-prof <dir>` writes them to <dir>/phases.json.
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
const windowIndex = args.indexOf('--window');
const window = windowIndex >= 0 ? args[windowIndex + 1].split('-').map(Number) : undefined;
if (window && !(window.length === 2 && window[0] < window[1])) {
  process.stderr.write('--window wants FROM_US-TO_US\n');
  process.exit(2);
}
const files = args.filter(
  (a, i) => !a.startsWith('--') && i !== topIndex + 1 && (windowIndex < 0 || i !== windowIndex + 1),
);
if (files.length === 0) {
  process.stderr.write('usage: node bench/profile-summary.mjs <file.cpuprofile>... [--top N]\n');
  process.exit(2);
}

/** Where a frame's code lives: our source, a package, Node internals or V8. */
function area(url) {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/')[0];
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = /\/(apps|packages)\/([^/]+)\/(?:dist|src)\/(.+)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}/${ours[3].split('/').slice(0, -1).join('/') || '.'}`;
  return url;
}

const shortUrl = (url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/(apps|packages)\//, '$1/');

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  if (window) {
    // Sample i was taken at startTime + the sum of timeDeltas[0..i].
    let t = profile.startTime;
    const kept = [];
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i];
      if (t >= window[0] && t <= window[1]) kept.push(profile.samples[i]);
    }
    profile.samples = kept;
    profile.startTime = Math.max(profile.startTime, window[0]);
    profile.endTime = Math.min(profile.endTime, window[1]);
    if (kept.length === 0) {
      process.stdout.write(`\n${file}\nno samples in the window\n`);
      continue;
    }
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfSamples = new Map();
  for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const byFunction = new Map();
  const byArea = new Map();
  let idle = 0;
  for (const [id, count] of selfSamples) {
    const { callFrame } = byId.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') idle += count;
    const key = `${name}  ${callFrame.url ? `${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + count);
    const a = name === '(idle)' ? '(idle)' : name === '(garbage collector)' ? '(GC)' : area(callFrame.url);
    byArea.set(a, (byArea.get(a) ?? 0) + count);
  }
  // Inclusive time: every function on a sample's stack (counted once per sample).
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map();
  for (const id of profile.samples) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const { callFrame } = byId.get(cur);
      if (!callFrame.url || callFrame.url.startsWith('node:')) continue;
      const key = `${callFrame.functionName || '(anonymous)'}  ${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + 1);
    }
  }
  const busy = total - idle;
  const pct = (n, of) => `${((100 * n) / of).toFixed(1).padStart(5)} %`;
  const seconds = (profile.endTime - profile.startTime) / 1e6;
  process.stdout.write(
    `\n${file}\n${total} samples over ${seconds.toFixed(1)} s; busy (not idle) ${pct(busy, total)}\n` +
      `shares below are of the busy samples\n\nBy area:\n`,
  );
  const sorted = (m) => [...m].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]);
  for (const [k, n] of sorted(byArea).slice(0, top)) process.stdout.write(`  ${pct(n, busy)}  ${k}\n`);
  process.stdout.write('\nBy function (self time):\n');
  for (const [k, n] of sorted(byFunction).slice(0, top)) process.stdout.write(`  ${pct(n, busy)}  ${k}\n`);
  process.stdout.write('\nBy function (inclusive: on the stack), apps/ and packages/ only:\n');
  const ours = sorted(inclusive).filter(([k]) => /\s(apps|packages)\//.test(k));
  for (const [k, n] of ours.slice(0, top)) process.stdout.write(`  ${pct(n, busy)}  ${k}\n`);
}
