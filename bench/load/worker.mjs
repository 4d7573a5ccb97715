/**
 * The load generator: a child process of run.mjs, separate from every server. It receives one job
 * over IPC ({scenario, target, params, serverPids}), runs it, answers {ok, result} and exits.
 * Every loop is bounded in count and in time; latencies use this process's monotonic clock
 * (send and receipt happen here), so no clock sync is involved.
 */
import { procStats, startSampler, sumSamples } from '../lib/proc.mjs';
import { latencySummary, mapLimit, round, sleep, withTimeout } from '../lib/stats.mjs';
import { httpJson, makeAdapter, userToken } from './clients.mjs';

/** Unmeasured sending before the chat scenario's first measured phase. */
const WARMUP_MS = 1_000;

const chatRoom = (c) => `chat:channel:messaging:c${c}`;
const userRoom = (u) => `chat:user:u${u}`;
const FAN_ROOM = 'chat:channel:livestream:fan';

/**
 * Now on the monotonic clock in µs: the clock of V8 CPU profiles (`node --cpu-prof`) on Linux, so
 * bench/profile-summary.mjs --window can keep only the samples of a measured phase.
 */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Server RSS (bytes, summed over the target's processes). */
const serverRss = (pids) => pids.reduce((sum, pid) => sum + (procStats(pid)?.rss ?? 0), 0);

/** CPU and memory of the servers and of this load generator during one phase. */
function phase(pids) {
  const sampler = startSampler([...pids, process.pid]);
  return () => {
    const samples = sampler.stop();
    const server = sumSamples(samples.slice(0, -1));
    const loadgen = samples.at(-1);
    return {
      serverCpuPct: round(server.cpuPct, 0),
      serverPeakRssMb: round(server.peakRssMb, 0),
      loadgenCpuPct: round(loadgen.cpuPct, 0),
    };
  };
}

/**
 * Opens connections for users [from, to) with at most `window` handshakes in flight.
 * Returns the connections (null where one failed) and how many failed.
 */
async function connectMany(adapter, { from, to, window, rooms, onMessage, onSubscribed, timeoutMs }) {
  const ids = Array.from({ length: to - from }, (_, i) => from + i);
  let failed = 0;
  let firstError;
  const conns = await mapLimit(ids, window, async (u) => {
    try {
      return await withTimeout(
        adapter.connect({
          user: `u${u}`,
          userIndex: u,
          rooms: rooms(u),
          onMessage: (room, payload) => onMessage?.(u, room, payload),
          onSubscribed: onSubscribed && ((room, ctx) => onSubscribed(u, room, ctx)),
        }),
        timeoutMs,
        `connect u${u}`,
      );
    } catch (error) {
      failed++;
      firstError ??= String(error?.message ?? error);
      return null;
    }
  });
  return { conns, failed, firstError };
}

/**
 * Delivery bookkeeping: every sent message expects `expected` receipts; latency is measured from
 * the send call to each receipt.
 */
function tracker() {
  const sentAt = new Map();
  const receipts = new Map();
  const latencies = [];
  let received = 0;
  let lastReceipt = 0;
  let duplicates = 0;
  return {
    sent(k, t, expected) {
      sentAt.set(k, { t, expected });
      receipts.set(k, 0);
    },
    /** Returns true when this receipt completes the message. */
    receive(payload, now) {
      const entry = sentAt.get(payload.k);
      if (!entry) return false;
      const n = receipts.get(payload.k) + 1;
      receipts.set(payload.k, n);
      if (n > entry.expected) {
        duplicates++;
        return false;
      }
      received++;
      lastReceipt = now;
      latencies.push(now - entry.t);
      return n === entry.expected;
    },
    forget(k) {
      sentAt.delete(k);
      receipts.delete(k);
    },
    get received() {
      return received;
    },
    get lastReceipt() {
      return lastReceipt;
    },
    expectedTotal() {
      let total = 0;
      for (const { expected } of sentAt.values()) total += expected;
      return total;
    },
    summary() {
      return { received, expected: this.expectedTotal(), duplicates, latency: latencySummary(latencies) };
    },
  };
}

async function waitFor(predicate, timeoutMs, stepMs = 20) {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) return false;
    await sleep(stepMs);
  }
  return true;
}

// ---- scenario 1: idle connections ----

async function idle(adapter, params, pids) {
  const { levels, members, window, settleMs, connectTimeoutMs } = params;
  await sleep(settleMs);
  const rss0 = serverRss(pids);
  const steps = [];
  const all = [];
  let connected = 0;
  for (const level of levels) {
    const started = performance.now();
    const measure = phase(pids);
    const { conns, failed, firstError } = await connectMany(adapter, {
      from: connected,
      to: level,
      window,
      rooms: (u) => [chatRoom(Math.floor(u / members)), userRoom(u)],
      timeoutMs: connectTimeoutMs,
    });
    const seconds = (performance.now() - started) / 1000;
    const usage = measure();
    all.push(...conns);
    const added = level - connected;
    connected = level;
    await sleep(settleMs);
    const rss = serverRss(pids);
    steps.push({
      connections: level,
      added,
      failed,
      firstError,
      connectSeconds: round(seconds, 2),
      connectsPerSec: round((added - failed) / seconds, 0),
      serverRssMb: round(rss / 2 ** 20, 1),
      bytesPerConnection: round((rss - rss0) / (level - failed), 0),
      connectPhase: usage,
    });
  }
  for (const c of all) c?.close();
  return { baselineRssMb: round(rss0 / 2 ** 20, 1), steps };
}

// ---- scenario 2: chat traffic ----

async function chat(adapter, params, pids) {
  const { channels, members, window, connectTimeoutMs, rates, durationMs, saturation, drainMs, maxInflight } =
    params;
  const total = channels * members;
  const track = { current: undefined };
  const t0 = performance.now();
  const { conns, failed, firstError } = await connectMany(adapter, {
    from: 0,
    to: total,
    window,
    rooms: (u) => [chatRoom(Math.floor(u / members)), userRoom(u)],
    onMessage: (_u, _room, payload) => track.current?.onReceive(payload),
    timeoutMs: connectTimeoutMs,
  });
  const connectSeconds = (performance.now() - t0) / 1000;
  if (failed) {
    for (const c of conns) c?.close();
    return { connections: total, failed, firstError };
  }

  let seq = 0;
  const sendErrors = { count: 0, first: undefined };
  /** Sends the next message (round-robin over channels, rotating senders); resolves when accepted. */
  const sendNext = (t, prefix) => {
    const n = seq++;
    const channel = n % channels;
    const sender = channel * members + (Math.floor(n / channels) % members);
    const k = `${prefix}${n}`;
    t.sent(k, performance.now(), members);
    return conns[sender].send(chatRoom(channel), { k, t: performance.now() }).then(
      () => true,
      (error) => {
        sendErrors.count++;
        sendErrors.first ??= String(error?.message ?? error);
        t.forget(k);
        return false;
      },
    );
  };

  // Warm-up, not measured: the first sends of a run open the load generator's HTTP sockets and take
  // the servers' cold code paths (JIT, first statements on new pool connections), which would
  // otherwise land in the first measured phase's tail. One second at the lowest rate, every server.
  {
    const warm = tracker();
    track.current = { onReceive: (p) => warm.receive(p, performance.now()) };
    let inflight = 0;
    let sent = 0;
    const start = performance.now();
    while (performance.now() - start < WARMUP_MS) {
      const due = Math.floor((rates[0] * (performance.now() - start)) / 1000);
      while (sent < due && inflight < maxInflight) {
        sent++;
        inflight++;
        void sendNext(warm, 'w_').finally(() => inflight--);
      }
      await sleep(2);
    }
    await waitFor(() => warm.received >= warm.expectedTotal() && inflight === 0, drainMs);
    await sleep(500);
  }

  // (a) open loop at fixed send rates: latency at a given load.
  const fixedResults = [];
  for (const rate of rates) {
    const fixed = tracker();
    track.current = { onReceive: (p) => fixed.receive(p, performance.now()) };
    let inflight = 0;
    let sent = 0;
    const fixedUsage = phase(pids);
    const fromUs = monotonicUs();
    const start = performance.now();
    while (performance.now() - start < durationMs) {
      const due = Math.floor((rate * (performance.now() - start)) / 1000);
      while (sent < due && inflight < maxInflight) {
        sent++;
        inflight++;
        void sendNext(fixed, `f${rate}_`).finally(() => inflight--);
      }
      await sleep(2);
    }
    const sendSeconds = (performance.now() - start) / 1000;
    const toUs = monotonicUs();
    await waitFor(() => fixed.received >= fixed.expectedTotal() && inflight === 0, drainMs);
    const fixedSummary = fixed.summary();
    fixedResults.push({
      clock: { fromUs, toUs },
      usage: fixedUsage(),
      targetSendRate: rate,
      achievedSendRate: round(sent / sendSeconds, 0),
      deliveredPerSec: round(fixedSummary.received / ((fixed.lastReceipt - start) / 1000 || 1), 0),
      ...fixedSummary,
      lost: fixedSummary.expected - fixedSummary.received,
    });
    await sleep(500);
  }

  // (b) closed loop with `window` messages in flight: the most this server delivers.
  let satResult;
  if (saturation) {
    const sat = tracker();
    let satInflight = 0;
    let satSent = 0;
    let stopAt = 0;
    let scheduled = false;
    let receivedInWindow = 0;
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(pump);
    };
    const pump = () => {
      scheduled = false;
      while (satInflight < saturation.window && performance.now() < stopAt) {
        satInflight++;
        satSent++;
        void sendNext(sat, 's').then((ok) => {
          if (ok) return;
          satInflight--; // a failed send completes nothing: free its slot
          schedule();
        });
      }
    };
    track.current = {
      onReceive: (p) => {
        const now = performance.now();
        const done = sat.receive(p, now);
        if (now < stopAt) receivedInWindow = sat.received;
        if (done) {
          satInflight--;
          schedule();
        }
      },
    };
    await sleep(500);
    const satUsage = phase(pids);
    const satFromUs = monotonicUs();
    const satStart = performance.now();
    stopAt = satStart + saturation.durationMs;
    pump();
    // Messages that lose a receipt never complete: the loop may stall, so watch the clock too.
    await waitFor(() => performance.now() >= stopAt, saturation.durationMs + 1000, 50);
    const usage = satUsage();
    const satToUs = monotonicUs();
    await waitFor(() => sat.received >= sat.expectedTotal(), drainMs);
    const s = sat.summary();
    satResult = {
      clock: { fromUs: satFromUs, toUs: satToUs },
      usage,
      window: saturation.window,
      seconds: round(saturation.durationMs / 1000, 1),
      sentPerSec: round(satSent / (saturation.durationMs / 1000), 0),
      deliveredPerSec: round(receivedInWindow / (saturation.durationMs / 1000), 0),
      ...s,
      lost: s.expected - s.received,
    };
  }
  track.current = undefined;
  const stats = adapter.stats ? { ...adapter.stats } : undefined;
  for (const c of conns) c.close();
  return {
    connections: total,
    failed,
    connectSeconds: round(connectSeconds, 2),
    fixed: fixedResults,
    saturation: satResult,
    sendErrors: sendErrors.count,
    firstSendError: sendErrors.first,
    clientStats: stats,
  };
}

// ---- scenario 3: fan-out to one big room ----

/**
 * One room, watched by `levels` connections in turn (cumulative: 1,000, then 4,000 more, ...).
 * At each level, `messages` messages are sent one after the other by watcher 0, each once the last
 * watcher has the previous one; time from the send call to the first and to the last receipt.
 */
async function fanout(adapter, params, pids) {
  const { messages, gapMs, window, connectTimeoutMs, messageTimeoutMs } = params;
  const levels = params.levels ?? [params.watchers];
  const current = { k: undefined, t: 0, count: 0, first: 0, last: 0 };
  const onMessage = (_u, _room, payload) => {
    if (payload.k !== current.k) return;
    const now = performance.now();
    if (current.count === 0) current.first = now;
    current.count++;
    current.last = now;
  };
  const all = [];
  const results = [];
  let connected = 0;
  try {
    for (const watchers of levels) {
      const { conns, failed, firstError } = await connectMany(adapter, {
        from: connected,
        to: watchers,
        window,
        rooms: () => [FAN_ROOM],
        onMessage,
        timeoutMs: connectTimeoutMs,
      });
      all.push(...conns);
      connected = watchers;
      if (failed) {
        results.push({ watchers, failed, firstError });
        break;
      }
      await sleep(500);
      const rounds = [];
      let lost = 0;
      const usage = phase(pids);
      for (let i = 0; i < messages; i++) {
        Object.assign(current, {
          k: `fan${watchers}_${i}`,
          t: performance.now(),
          count: 0,
          first: 0,
          last: 0,
        });
        await all[0].send(FAN_ROOM, { k: current.k, t: current.t });
        await waitFor(() => current.count >= watchers, messageTimeoutMs ?? 30_000, 1);
        lost += watchers - Math.min(current.count, watchers);
        rounds.push({ firstMs: current.first - current.t, lastMs: current.last - current.t });
        await sleep(gapMs);
      }
      const lastSummary = latencySummary(rounds.map((r) => r.lastMs));
      results.push({
        watchers,
        messages,
        failed: 0,
        lost,
        timeToFirstP50Ms: latencySummary(rounds.map((r) => r.firstMs)).p50,
        timeToLastP50Ms: lastSummary.p50,
        timeToLastMaxMs: lastSummary.max,
        deliveredPerSecDuringFanout: round(watchers / (lastSummary.p50 / 1000), 0),
        usage: usage(),
      });
    }
  } finally {
    for (const c of all) c?.close();
  }
  // The top-level fields are those of the largest level (what older reports read).
  return { ...results.at(-1), levels: results };
}

// ---- scenario 6: reconnect storm ----

async function storm(adapter, target, params, pids) {
  const { clients, members, window, connectTimeoutMs, recoverTimeoutMs } = params;
  const channels = Math.ceil(clients / members);
  const recovers = target.kind === 'parley' || target.kind === 'parley-gw';
  const missed = new Map(); // k → receipts
  const subscribedAgain = { count: 0, recovered: 0, wasRecovering: 0, last: 0 };
  let stage = 'before';
  const rooms = (u) => [chatRoom(Math.floor(u / members)), userRoom(u)];
  const onMessage = (_u, _room, payload) => {
    if (!missed.has(payload.k)) return;
    missed.set(payload.k, missed.get(payload.k) + 1);
    subscribedAgain.lastReceipt = performance.now();
  };
  const onSubscribed = (_u, _room, ctx) => {
    if (stage !== 'storm') return;
    subscribedAgain.count++;
    if (ctx.wasRecovering) subscribedAgain.wasRecovering++;
    if (ctx.recovered) subscribedAgain.recovered++;
    subscribedAgain.last = performance.now();
  };
  const first = await connectMany(adapter, {
    from: 0,
    to: clients,
    window,
    rooms,
    onMessage,
    onSubscribed,
    timeoutMs: connectTimeoutMs,
  });
  if (first.failed) {
    for (const c of first.conns) c?.close();
    return { clients, failed: first.failed, firstError: first.firstError };
  }
  // Give every subscription a position: one message per channel, delivered while connected.
  if (recovers) {
    for (let c = 0; c < channels; c++) {
      await first.conns[c * members].send(chatRoom(c), { k: `warm${c}`, t: performance.now() });
    }
    await sleep(1000);
  }
  // Everyone drops at once.
  const dropped = performance.now();
  if (recovers) for (const c of first.conns) c.client.disconnect();
  else for (const c of first.conns) c.close();
  await sleep(500);
  // Messages sent while everybody is away (only servers with recovery can give them back).
  let missedSendErrors = 0;
  if (recovers) {
    for (let c = 0; c < channels; c++) {
      const k = `missed${c}`;
      missed.set(k, 0);
      const payload = { k, t: performance.now() };
      try {
        if (target.kind === 'parley') await first.conns[c * members].send(chatRoom(c), payload);
        else {
          const res = await httpJson(`${target.url}/publish`, {
            method: 'POST',
            body: { channel: chatRoom(c), data: payload },
          });
          if (res.status !== 200) throw new Error(String(res.status));
        }
      } catch {
        missedSendErrors++;
        missed.delete(k);
      }
    }
  }
  // The storm: every client reconnects at the same moment.
  stage = 'storm';
  const measure = phase(pids);
  const t0 = performance.now();
  let failed = 0;
  let firstError;
  if (recovers) {
    for (const c of first.conns) c.client.connect();
    const subs = clients * 2;
    await waitFor(() => subscribedAgain.count >= subs, recoverTimeoutMs, 10);
    await waitFor(() => [...missed.values()].every((n) => n >= members), 2_000, 10);
  } else {
    const again = await connectMany(adapter, {
      from: 0,
      to: clients,
      window: clients,
      rooms,
      timeoutMs: recoverTimeoutMs,
    });
    subscribedAgain.last = performance.now();
    subscribedAgain.count = (clients - again.failed) * 2;
    failed = again.failed;
    firstError = again.firstError;
    for (const c of again.conns) c?.close();
  }
  const expectedMissed = missed.size * members;
  const receivedMissed = [...missed.values()].reduce((a, n) => a + Math.min(n, members), 0);
  const end = Math.max(subscribedAgain.last, subscribedAgain.lastReceipt ?? 0);
  const usage = measure();
  if (recovers) for (const c of first.conns) c.close();
  return {
    clients,
    failed,
    firstError,
    awaySeconds: round((t0 - dropped) / 1000, 3),
    resubscribed: subscribedAgain.count,
    expectedSubscriptions: clients * 2,
    recoveredSubscriptions: recovers ? subscribedAgain.recovered : undefined,
    wasRecovering: recovers ? subscribedAgain.wasRecovering : undefined,
    missedSent: missed.size,
    missedSendErrors,
    missedExpected: expectedMissed,
    missedReceived: receivedMissed,
    lost: expectedMissed - receivedMissed,
    allBackSeconds: round((end - t0) / 1000, 3),
    recovery: recovers ? 'recover' : 'none (reconnect + rejoin only)',
    usage,
    clientStats: adapter.stats ? { ...adapter.stats } : undefined,
  };
}

// ---- scenario 4: HTTP API under autocannon ----

async function httpApi(target, params) {
  const { default: autocannon } = await import('autocannon');
  const base = target.urls[0];
  const auth = { 'x-api-key': target.apiKey, authorization: `Bearer ${userToken(target.secret, 'u0')}` };
  const json = { ...auth, 'content-type': 'application/json' };
  // Some history to list.
  for (let i = 0; i < params.seedMessages; i++) {
    const res = await httpJson(`${base}/channels/messaging/c0/messages`, {
      method: 'POST',
      headers: auth,
      body: { text: `history ${i}` },
    });
    if (res.status !== 201) throw new Error(`seeding history: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const endpoints = [
    {
      name: 'send message',
      method: 'POST',
      path: '/channels/messaging/c0/messages',
      headers: json,
      body: JSON.stringify({ text: 'autocannon' }),
    },
    { name: 'list messages', method: 'GET', path: '/channels/messaging/c0/messages?limit=50', headers: auth },
    {
      name: 'query channels',
      method: 'POST',
      path: '/channels/query',
      headers: json,
      body: JSON.stringify({ filter: { members: { $in: ['u0'] } }, limit: 20 }),
    },
    { name: 'unread counts', method: 'GET', path: '/unread', headers: auth },
  ];
  const runOne = (endpoint, options) =>
    new Promise((resolve, reject) => {
      const latencies = [];
      const statuses = {};
      const instance = autocannon(
        {
          url: `${base}${endpoint.path}`,
          method: endpoint.method,
          headers: endpoint.headers,
          ...(endpoint.body ? { body: endpoint.body } : {}),
          duration: params.durationSec,
          timeout: 30,
          ...options,
        },
        (error, result) => {
          if (error) return reject(error);
          const sum = latencySummary(latencies);
          resolve({
            requestsPerSec: round(result.requests.average, 0),
            p50Ms: sum.p50,
            p95Ms: sum.p95,
            p99Ms: sum.p99,
            total: result.requests.total,
            non2xx: result.non2xx,
            errors: result.errors,
            timeouts: result.timeouts,
            statuses,
          });
        },
      );
      instance.on('response', (_client, status, _bytes, responseTime) => {
        latencies.push(responseTime);
        statuses[status] = (statuses[status] ?? 0) + 1;
      });
    });
  const results = [];
  for (const endpoint of endpoints) {
    const max = await runOne(endpoint, { connections: params.connections });
    await sleep(params.pauseMs);
    const fixed = await runOne(endpoint, { connections: params.connections, overallRate: params.rate });
    await sleep(params.pauseMs);
    results.push({ endpoint: endpoint.name, max, fixed: { rate: params.rate, ...fixed } });
  }
  return { connections: params.connections, durationSec: params.durationSec, endpoints: results };
}

// ---- entry ----

async function run(job) {
  const adapter = makeAdapter(job.target);
  switch (job.scenario) {
    case 'idle':
      return idle(adapter, job.params, job.serverPids);
    case 'chat':
      return chat(adapter, job.params, job.serverPids);
    case 'fanout':
      return fanout(adapter, job.params, job.serverPids);
    case 'storm':
      return storm(adapter, job.target, job.params, job.serverPids);
    case 'http':
      return httpApi(job.target, job.params);
    default:
      throw new Error(`unknown scenario ${job.scenario}`);
  }
}

process.once('message', async (job) => {
  try {
    const result = await run(job);
    process.send({ ok: true, result }, () => process.exit(0));
  } catch (error) {
    process.send({ ok: false, error: String(error?.stack ?? error) }, () => process.exit(0));
  }
});
