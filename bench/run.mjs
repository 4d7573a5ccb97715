#!/usr/bin/env node
/**
 * Parley's benchmark: Parley against a raw `ws` room server and Socket.IO rooms, in one run on one
 * machine. Every server is its own child process, the load generator another (bench/load/worker.mjs,
 * a fresh one per scenario and server), all on loopback.
 *
 *   npm run bench                  full numbers, writes bench/RESULTS.md
 *   npm run bench:smoke            tiny numbers (proves the harness works; no file written)
 *   node bench/run.mjs --scale 0.5 --scenarios chat,fanout --targets ws,parley-pglite
 *
 * Flags: --smoke | --quick (full connection counts, shorter measuring phases: about half the time)
 *        | --scale <f> (multiplies connection counts) | --scenarios idle,chat,fanout,storm,http
 *        | --targets ws,socketio,parley-gw,parley-pglite,parley-pg,parley-cluster | --out <file.md>
 *        | --json <file.json> | --cpu-prof <dir> (profiles the Parley server processes)
 * Environment: DATABASE_URL (a PostgreSQL server: fresh databases are created and dropped; enables
 * parley-pg), REDIS_URL (with DATABASE_URL enables parley-cluster: two processes on Redis + PostgreSQL).
 */
import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { realtimeConnections, setupParleyData, startParley } from './lib/parley.mjs';
import { startChild, startSampler, sumSamples, track } from './lib/proc.mjs';
import { renderReport } from './lib/report.mjs';
import { sleep } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(here, 'load', 'worker.mjs');

// ---- options ----

function parseArgs(argv) {
  const opts = { smoke: false, scale: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') opts.smoke = true;
    else if (a === '--quick') opts.quick = true;
    else if (a === '--scale') opts.scale = Number(value());
    else if (a === '--scenarios') opts.scenarios = value().split(',');
    else if (a === '--targets') opts.targets = value().split(',');
    else if (a === '--out') opts.out = value();
    else if (a === '--json') opts.json = value();
    else if (a === '--cpu-prof') opts.cpuProf = path.resolve(value());
    else throw new Error(`unknown flag ${a}`);
  }
  if (!(opts.scale > 0)) throw new Error('--scale must be a positive number');
  return opts;
}

/** Scenario parameters: full numbers (issue 5) or the smoke preset; counts scaled by --scale. */
function presets(smoke, scale, quick = false) {
  const n = (x, min = 1) => Math.max(min, Math.round(x * scale));
  if (smoke) {
    return {
      members: 4,
      idle: { levels: [n(40, 4)], window: 20, settleMs: 300, connectTimeoutMs: 20_000 },
      chat: {
        channels: n(5),
        rates: [40],
        durationMs: 1_500,
        saturation: { window: 10, durationMs: 1_500 },
        drainMs: 5_000,
        maxInflight: 100,
        window: 20,
        connectTimeoutMs: 20_000,
      },
      fanout: { levels: [n(10, 2), n(30, 2)], messages: 3, gapMs: 100, window: 20, connectTimeoutMs: 20_000 },
      storm: { clients: n(20, 4), window: 20, connectTimeoutMs: 20_000, recoverTimeoutMs: 20_000 },
      http: { durationSec: 1, connections: 2, rate: 50, seedMessages: 5, pauseMs: 0 },
      jobTimeoutMs: 90_000,
      startTimeoutMs: 90_000,
    };
  }
  return {
    members: 10,
    idle: {
      levels: [n(1000, 10), n(5000, 10), n(10_000, 10)],
      window: 100,
      settleMs: quick ? 1_500 : 3_000,
      connectTimeoutMs: 300_000,
    },
    chat: {
      channels: n(1000),
      // Messages sent per second (× 10 members = delivered per second): 200 → 2,000 delivered/s.
      rates: [50, 200],
      durationMs: quick ? 6_000 : 15_000,
      saturation: { window: 200, durationMs: quick ? 6_000 : 15_000 },
      drainMs: 20_000,
      maxInflight: 1000,
      window: 100,
      connectTimeoutMs: 300_000,
    },
    // Broadcast to 1,000 connections, then the 5,000-watcher livestream.
    fanout: {
      levels: [n(1000, 2), n(5000, 2)],
      messages: quick ? 5 : 10,
      gapMs: 300,
      window: 100,
      connectTimeoutMs: 300_000,
    },
    storm: { clients: n(2000, 10), window: 100, connectTimeoutMs: 300_000, recoverTimeoutMs: 120_000 },
    http: { durationSec: quick ? 4 : 10, connections: 10, rate: 500, seedMessages: 60, pauseMs: 1_000 },
    jobTimeoutMs: 20 * 60_000,
    startTimeoutMs: 180_000,
  };
}

const ALL_SCENARIOS = ['idle', 'chat', 'fanout', 'storm', 'http'];
const APPLIES = {
  idle: ['ws', 'socketio', 'parley-gw', 'parley-pglite', 'parley-pg'],
  chat: ['ws', 'socketio', 'parley-gw', 'parley-pglite', 'parley-pg', 'parley-cluster'],
  fanout: ['ws', 'socketio', 'parley-gw', 'parley-pglite', 'parley-pg'],
  storm: ['ws', 'socketio', 'parley-gw', 'parley-pglite', 'parley-pg'],
  http: ['parley-pglite', 'parley-pg'],
};

// ---- report file ----

/**
 * Hand-written analysis below this line of a previous report (profiles, before/after of fixes) is
 * kept when the report is written again; everything above it is regenerated.
 */
const NOTES_MARKER = '<!-- hand-written notes below: kept by bench/run.mjs -->';
function keptNotes(file) {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  const at = text.indexOf(NOTES_MARKER);
  return at < 0 ? '' : `\n${text.slice(at)}`;
}

// ---- machine ----

function loadAverage() {
  const [one, five, fifteen] = os.loadavg();
  return { one: Number(one.toFixed(2)), five: Number(five.toFixed(2)), fifteen: Number(fifteen.toFixed(2)) };
}

function machine() {
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {}
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    uptime,
    load: loadAverage(),
  };
}

// ---- servers ----

async function startTarget(name, opts, p) {
  const env = { HOST: '127.0.0.1' };
  const timeoutMs = p.startTimeoutMs;
  if (name === 'ws' || name === 'socketio' || name === 'parley-gw') {
    const file = { ws: 'ws-rooms.mjs', socketio: 'socketio-rooms.mjs', 'parley-gw': 'parley-gateway.mjs' }[
      name
    ];
    const proc = await startChild({
      label: name,
      args: [path.join(here, 'servers', file)],
      env,
      ready: /listening at (\S+)/,
      timeoutMs,
    });
    return {
      pids: [proc.pid],
      target: name === 'parley-gw' ? { kind: 'parley-gw', url: proc.url } : { kind: name, url: proc.url },
      stop: () => proc.stop(),
      connections: async () => undefined,
    };
  }
  const db = name === 'parley-pglite' ? 'pglite' : 'postgres';
  const cluster = name === 'parley-cluster';
  const parley = await startParley({
    db,
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: cluster ? process.env.REDIS_URL : undefined,
    nodes: cluster ? 2 : 1,
    cpuProfDir: opts.cpuProf,
    startTimeoutMs: timeoutMs,
  });
  try {
    const users = Math.max(
      p.idle.levels.at(-1),
      p.chat.channels * p.members,
      p.fanout.levels.at(-1),
      p.storm.clients,
    );
    const t0 = performance.now();
    const creds = await setupParleyData(parley.urls[0], {
      users,
      channels: Math.ceil(users / p.members),
      members: p.members,
    });
    log(
      `  ${name}: ${users} users, ${Math.ceil(users / p.members)} channels set up in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return {
      pids: parley.pids,
      target: { kind: 'parley', urls: parley.urls, apiKey: creds.apiKey, secret: creds.secret },
      stop: () => parley.stop(),
      connections: async () => {
        let total = 0;
        for (const url of parley.urls) total += (await realtimeConnections(url)) ?? 0;
        return total;
      },
    };
  } catch (error) {
    await parley.stop();
    throw error;
  }
}

// ---- load generator ----

function runJob(job, serverPids, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const sampler = startSampler([...serverPids, child.pid]);
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const samples = sampler.stop();
      fn(fn === resolve ? { ...value, samples } : value);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(reject, new Error(`${job.scenario} on ${job.target.kind}: no result within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('message', (msg) => {
      if (msg.ok) finish(resolve, { result: msg.result });
      else finish(reject, new Error(`${job.scenario} on ${job.target.kind} failed:\n${msg.error}`));
    });
    // 'close', not 'exit': 'exit' can fire before the child's last IPC message (its result) is read.
    child.once('close', (code) => finish(reject, new Error(`load generator exited with ${code}`)));
    child.send({ ...job, serverPids });
  });
}

const log = (line) => process.stderr.write(`${line}\n`);

/**
 * With --cpu-prof: the measured phases (monotonic µs, the profiles' clock) of every profiled
 * server, in <dir>/phases.json, for `profile-summary.mjs --window`. Profiles are named
 * CPU.<date>.<time>.<pid>.*.cpuprofile.
 */
const phases = [];
function recordPhases(dir, target, scenario, pids, result) {
  const add = (phase, window) => {
    if (window) phases.push({ target, scenario, phase, pids, window: `${window.fromUs}-${window.toUs}` });
  };
  for (const f of result.fixed ?? []) add(`fixed ${f.targetSendRate} msg/s`, f.clock);
  add('saturation', result.saturation?.clock);
  writeFileSync(path.join(dir, 'phases.json'), `${JSON.stringify(phases, null, 2)}\n`);
}

/** Servers running now: stopped (databases dropped, temp dirs removed) on Ctrl-C too. */
const running = new Set();

// ---- main ----

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const p = presets(opts.smoke, opts.scale, opts.quick);
  const scenarios = opts.scenarios ?? ALL_SCENARIOS;
  for (const s of scenarios) if (!APPLIES[s]) throw new Error(`unknown scenario ${s}`);
  const defaultTargets = ['ws', 'socketio', 'parley-gw', 'parley-pglite'];
  if (process.env.DATABASE_URL) defaultTargets.push('parley-pg');
  if (process.env.DATABASE_URL && process.env.REDIS_URL && !opts.smoke) defaultTargets.push('parley-cluster');
  const targets = opts.targets ?? defaultTargets;
  if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });

  const startedAt = new Date();
  const before = machine();
  log(
    `bench: ${opts.smoke ? 'smoke' : `${opts.quick ? 'quick' : 'full'} (scale ${opts.scale})`}, targets ${targets.join(', ')}`,
  );
  log(
    `bench: load average at start ${before.load.one} / ${before.load.five} / ${before.load.fifteen} on ${before.cpus} CPUs`,
  );

  const results = {};
  const errors = [];
  const makeReport = () => {
    const after = machine();
    return {
      mode: opts.smoke ? 'smoke' : opts.quick ? 'quick' : 'full',
      scale: opts.scale,
      command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: before,
      loadAtEnd: after.load,
      uptimeAtEnd: after.uptime,
      params: p,
      targets,
      scenarios,
      results,
      errors,
    };
  };
  /** With --json, the results so far after every scenario (a long run that dies keeps them). */
  const checkpoint = () => {
    if (opts.json) writeFileSync(opts.json, `${JSON.stringify(makeReport(), null, 2)}\n`);
  };
  const runTarget = async (name) => {
    const mine = scenarios.filter((s) => APPLIES[s].includes(name));
    if (mine.length === 0) return;
    log(`bench: starting ${name}`);
    let server;
    try {
      const t0 = performance.now();
      server = await startTarget(name, opts, p);
      running.add(server);
      log(`bench: ${name} up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (error) {
      errors.push({ target: name, error: String(error?.message ?? error) });
      log(`bench: ${name} did not start: ${error?.message ?? error}`);
      return;
    }
    try {
      for (const scenario of mine) {
        const params = { ...p[scenario], members: p.members };
        const t0 = performance.now();
        try {
          const { result, samples } = await runJob(
            { scenario, target: server.target, params },
            server.pids,
            p.jobTimeoutMs,
          );
          const serverSamples = samples.slice(0, server.pids.length);
          const loadgen = samples.at(-1);
          log(`bench:   ${scenario} on ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          results[scenario] ??= {};
          results[scenario][name] = {
            ...result,
            server: sumSamples(serverSamples),
            loadgen: { cpuPct: loadgen.cpuPct, peakRssMb: loadgen.peakRssMb },
          };
          if (opts.cpuProf) recordPhases(opts.cpuProf, name, scenario, server.pids, result);
          checkpoint();
        } catch (error) {
          errors.push({ target: name, scenario, error: String(error?.message ?? error) });
          log(`bench:   ${scenario} on ${name} failed: ${error?.message ?? error}`);
        }
        // Let the server notice the closed connections before the next scenario.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const open = await server.connections();
          if (!open || Date.now() > deadline) break;
          await sleep(200);
        }
        await sleep(opts.smoke ? 200 : 2_000);
      }
    } finally {
      await server.stop();
      running.delete(server);
    }
  };
  // Smoke runs only prove the harness works: servers run side by side to keep it short. Real runs
  // measure one server at a time.
  if (opts.smoke) await Promise.all(targets.map(runTarget));
  else for (const name of targets) await runTarget(name);

  const report = makeReport();
  const markdown = renderReport(report);
  process.stdout.write(`${markdown}\n`);
  const out = opts.out ?? (opts.smoke ? undefined : path.join(here, 'RESULTS.md'));
  if (out) writeFileSync(out, `${markdown.trimEnd()}\n${keptNotes(out)}`);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
  if (errors.length) {
    log(`bench: ${errors.length} failure(s):`);
    for (const e of errors)
      log(`  ${e.target}${e.scenario ? `/${e.scenario}` : ''}: ${e.error.split('\n')[0]}`);
    process.exitCode = 1;
  }
}

/** Ctrl-C: stop through process.exit so the children are killed (proc.mjs) and nothing is left running. */
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    log(`bench: ${signal}, stopping the servers`);
    await Promise.race([Promise.all([...running].map((s) => s.stop().catch(() => {}))), sleep(20_000)]);
    process.exit(130);
  });
}

main().catch((error) => {
  log(String(error?.stack ?? error));
  process.exit(1);
});
