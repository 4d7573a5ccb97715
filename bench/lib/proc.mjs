import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on every Linux we target). */
const CLK_TCK = 100;

/** CPU time (ms, user + system) and resident memory (bytes) of a live process, from /proc. */
export function procStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": field 3 is state, so utime (14) and stime (15) are at 11 and 12.
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuMs, rss: rssKb * 1024, at: performance.now() };
  } catch {
    return undefined;
  }
}

/**
 * Samples processes every `intervalMs` while a phase runs: average CPU (% of one core), peak and
 * last RSS. `stop()` returns one summary per pid.
 */
export function startSampler(pids, intervalMs = 250) {
  const first = new Map(pids.map((pid) => [pid, procStats(pid)]));
  const peak = new Map(pids.map((pid) => [pid, first.get(pid)?.rss ?? 0]));
  const timer = setInterval(() => {
    for (const pid of pids) {
      const s = procStats(pid);
      if (s && s.rss > peak.get(pid)) peak.set(pid, s.rss);
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return pids.map((pid) => {
        const a = first.get(pid);
        const b = procStats(pid);
        if (!a || !b) return { pid };
        const wall = b.at - a.at;
        return {
          pid,
          cpuPct: wall > 0 ? ((b.cpuMs - a.cpuMs) / wall) * 100 : 0,
          rssMb: b.rss / 2 ** 20,
          peakRssMb: Math.max(peak.get(pid), b.rss) / 2 ** 20,
          wallMs: wall,
        };
      });
    },
  };
}

/** Sums per-process samples (a Parley cluster is several processes). */
export function sumSamples(samples) {
  const sum = (k) => samples.reduce((acc, s) => acc + (s[k] ?? 0), 0);
  return {
    cpuPct: sum('cpuPct'),
    rssMb: sum('rssMb'),
    peakRssMb: sum('peakRssMb'),
    processes: samples.length,
  };
}

/** The environment a child starts from: PATH only, so the caller's DATABASE_URL etc. never leak in. */
export const baseEnv = () => ({ PATH: process.env.PATH ?? '' });

/** Children still running: killed if the harness itself exits early (error, Ctrl-C). */
const live = new Set();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Registers a child process so that it is killed if the harness exits before it. */
export function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/**
 * Starts a Node child and resolves once a line of its stdout matches `ready` (group 1 = the URL).
 * The child is killed if it does not get there within `timeoutMs`.
 */
export function startChild({ label, args, env, ready, timeoutMs = 120_000, nodeArgs = [] }) {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  const keep = (d) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code} before it was ready:\n${out}`));
    });
  });
  return started.then((url) => ({
    label,
    url,
    pid: child.pid,
    child,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  }));
}
