/** Turns a bench report (run.mjs) into markdown: one table per scenario, servers side by side. */

const NAMES = {
  ws: 'raw ws (baseline)',
  socketio: 'Socket.IO',
  'parley-gw': 'Parley gateway engine, no DB',
  'parley-pglite': 'Parley full, PGlite',
  'parley-pg': 'Parley full, PostgreSQL',
  'parley-cluster': 'Parley ×2, Redis + PostgreSQL',
};

const ORDER = Object.keys(NAMES);
/** A scenario's results in the fixed server order (raw ws first). */
const entries = (byTarget) =>
  Object.entries(byTarget).sort(([a], [b]) => ORDER.indexOf(a) - ORDER.indexOf(b));

const fmt = (x, digits = 0) => {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  return Number(x).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};
/** Parley ÷ raw ws (both from this run). */
const ratio = (x, base) => (x > 0 && base > 0 ? `${(x / base).toFixed(2)}×` : '–');
const kib = (bytes) => (bytes === undefined ? undefined : bytes / 1024);

/** A markdown table with padded columns (as Biome formats markdown). */
function table(head, rows) {
  const width = (cell) => [...String(cell)].length;
  const columns = Math.max(head.length, ...rows.map((r) => r.length));
  const all = [head, ...rows].map((r) => Array.from({ length: columns }, (_, i) => String(r[i] ?? '')));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(3, ...all.map((r) => width(r[i]))));
  const line = (cells) => `| ${cells.map((c, i) => c + ' '.repeat(widths[i] - width(c))).join(' | ')} |`;
  return [
    line(all[0]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...all.slice(1).map(line),
  ].join('\n');
}

function idleTable(byTarget) {
  const ws = byTarget.ws?.steps ?? [];
  const rows = [];
  for (const [name, r] of entries(byTarget)) {
    for (const step of r.steps ?? []) {
      const base = ws.find((s) => s.connections === step.connections);
      rows.push([
        NAMES[name] ?? name,
        fmt(step.connections),
        fmt(step.connectsPerSec),
        ratio(step.connectsPerSec, base?.connectsPerSec),
        fmt(kib(step.bytesPerConnection), 1),
        ratio(step.bytesPerConnection, base?.bytesPerConnection),
        fmt(step.serverRssMb, 0),
        fmt(step.connectPhase?.serverCpuPct),
        fmt(step.connectPhase?.loadgenCpuPct),
        fmt(step.failed),
      ]);
    }
  }
  return table(
    [
      'server',
      'connections',
      'connects/s',
      '× ws',
      'KiB / connection',
      '× ws',
      'server RSS MB',
      'server CPU % (connecting)',
      'load-gen CPU %',
      'failed',
    ],
    rows,
  );
}

/**
 * Server CPU time per message sent (all processes, ms): CPU % of one core × 10 ÷ messages/s. Less
 * sensitive to a busy machine than throughput, so it is the number to compare before and after a fix.
 */
const cpuMsPerMessage = (s) =>
  s.usage?.serverCpuPct > 0 && s.sentPerSec > 0 ? (s.usage.serverCpuPct * 10) / s.sentPerSec : undefined;

function chatTables(byTarget) {
  const fixedRows = [];
  const satRows = [];
  const wsFixed = byTarget.ws?.fixed;
  const wsSat = byTarget.ws?.saturation;
  for (const [name, r] of entries(byTarget)) {
    for (const f of r.fixed ?? []) {
      const wsSame = wsFixed?.find((w) => w.targetSendRate === f.targetSendRate);
      fixedRows.push([
        NAMES[name] ?? name,
        `${fmt(f.achievedSendRate)} / ${fmt(f.targetSendRate)}`,
        fmt(f.deliveredPerSec),
        fmt(f.latency?.p50, 2),
        fmt(f.latency?.p95, 2),
        fmt(f.latency?.p99, 2),
        ratio(f.latency?.p99, wsSame?.latency?.p99),
        fmt(f.latency?.max, 1),
        fmt(f.lost),
        fmt(f.usage?.serverCpuPct),
        fmt(f.usage?.serverPeakRssMb),
        fmt(f.usage?.loadgenCpuPct),
      ]);
    }
    if (r.saturation) {
      const s = r.saturation;
      satRows.push([
        NAMES[name] ?? name,
        fmt(s.window),
        fmt(s.sentPerSec),
        fmt(s.deliveredPerSec),
        ratio(s.deliveredPerSec, wsSat?.deliveredPerSec),
        fmt(s.latency?.p50, 1),
        fmt(s.latency?.p99, 1),
        fmt(s.lost),
        fmt(s.usage?.serverCpuPct),
        fmt(cpuMsPerMessage(s), 2),
        fmt(s.usage?.serverPeakRssMb),
        fmt(s.usage?.loadgenCpuPct),
      ]);
    }
    if (r.failed) fixedRows.push([NAMES[name] ?? name, `${r.failed} connections failed: ${r.firstError}`]);
  }
  const notes = [];
  for (const [name, r] of entries(byTarget)) {
    if (r.sendErrors)
      notes.push(`${NAMES[name] ?? name}: ${r.sendErrors} sends failed (first: ${r.firstSendError})`);
    const st = r.clientStats;
    if (st && (st.reconnects || st.errors || st.subscribeErrors || st.resubscribes)) {
      notes.push(
        `${NAMES[name] ?? name}: clients went through ${st.reconnects} reconnects, ${st.resubscribes} ` +
          `resubscribes, ${st.errors} client errors, ${st.subscribeErrors} subscribe errors`,
      );
    }
  }
  return [
    '**(a) fixed send rate** — latency from the send call to the receipt on every member (the sender included)',
    '',
    table(
      [
        'server',
        'sent/s (done / asked)',
        'delivered msg/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'p99 × ws',
        'max ms',
        'lost',
        'server CPU %',
        'server peak RSS MB',
        'load-gen CPU %',
      ],
      fixedRows,
    ),
    '',
    '**(b) saturation** — closed loop: `window` messages in flight, the next sent when one has reached every member',
    '',
    table(
      [
        'server',
        'window',
        'sent/s',
        'delivered msg/s',
        '× ws',
        'p50 ms',
        'p99 ms',
        'lost',
        'server CPU %',
        'server CPU ms / message',
        'server peak RSS MB',
        'load-gen CPU %',
      ],
      satRows,
    ),
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
}

/** Fan-out results per level (older reports: one level at the top). */
const fanLevels = (r) => r?.levels ?? (r ? [r] : []);

function fanoutTable(byTarget) {
  const wsLevels = fanLevels(byTarget.ws);
  const rows = [];
  for (const [name, r] of entries(byTarget)) {
    for (const l of fanLevels(r)) {
      const ws = wsLevels.find((w) => w.watchers === l.watchers);
      if (l.failed) {
        rows.push([NAMES[name] ?? name, fmt(l.watchers), `${l.failed} connections failed: ${l.firstError}`]);
        continue;
      }
      rows.push([
        NAMES[name] ?? name,
        fmt(l.watchers),
        fmt(l.messages),
        fmt(l.timeToFirstP50Ms, 1),
        fmt(l.timeToLastP50Ms, 1),
        ratio(l.timeToLastP50Ms, ws?.timeToLastP50Ms),
        fmt(l.timeToLastMaxMs, 1),
        fmt(l.deliveredPerSecDuringFanout),
        ratio(l.deliveredPerSecDuringFanout, ws?.deliveredPerSecDuringFanout),
        fmt(l.lost),
        fmt(l.usage?.serverCpuPct),
        fmt(l.usage?.loadgenCpuPct),
      ]);
    }
  }
  return table(
    [
      'server',
      'watchers',
      'messages',
      'first receipt p50 ms',
      'last receipt p50 ms',
      'time × ws',
      'last receipt max ms',
      'deliveries/s',
      'rate × ws',
      'lost',
      'server CPU %',
      'load-gen CPU %',
    ],
    rows,
  );
}

function stormTable(byTarget) {
  const ws = byTarget.ws;
  const rows = entries(byTarget).map(([name, r]) => [
    NAMES[name] ?? name,
    fmt(r.clients),
    r.recovery ?? '–',
    fmt(r.allBackSeconds, 2),
    ratio(r.allBackSeconds, ws?.allBackSeconds),
    `${fmt(r.resubscribed)} / ${fmt(r.expectedSubscriptions)}`,
    r.recoveredSubscriptions === undefined ? '–' : fmt(r.recoveredSubscriptions),
    r.missedExpected ? `${fmt(r.missedReceived)} / ${fmt(r.missedExpected)}` : '–',
    fmt(r.lost),
    fmt(r.failed),
    fmt(r.usage?.serverCpuPct),
  ]);
  const notes = [];
  for (const [name, r] of entries(byTarget)) {
    const st = r.clientStats;
    if (st && (st.errors || st.subscribeErrors)) {
      notes.push(
        `${NAMES[name] ?? name}: clients went through ${st.reconnects} reconnects, ${st.resubscribes} ` +
          `resubscribes, ${st.errors} client errors, ${st.subscribeErrors} subscribe errors`,
      );
    }
  }
  return [
    table(
      [
        'server',
        'clients',
        'on reconnect',
        'all back, s',
        '× ws',
        'resubscribed',
        'recovered',
        'missed msgs received',
        'lost',
        'failed',
        'server CPU %',
      ],
      rows,
    ),
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
}

function httpTable(byTarget) {
  const rows = [];
  for (const [name, r] of entries(byTarget)) {
    for (const e of r.endpoints ?? []) {
      rows.push([
        NAMES[name] ?? name,
        e.endpoint,
        fmt(e.max.requestsPerSec),
        fmt(e.max.p95Ms, 1),
        `${fmt(e.fixed.requestsPerSec)} / ${fmt(e.fixed.rate)}`,
        fmt(e.fixed.p50Ms, 1),
        fmt(e.fixed.p95Ms, 1),
        fmt(e.fixed.p99Ms, 1),
        fmt(e.max.non2xx + e.fixed.non2xx + e.max.errors + e.fixed.errors),
      ]);
    }
  }
  return table(
    [
      'server',
      'endpoint',
      'max req/s',
      'p95 ms at max',
      'req/s at fixed rate (done / asked)',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'non-2xx + errors',
    ],
    rows,
  );
}

const SECTIONS = {
  idle: {
    title: '1. Idle connections',
    about:
      'Connections opened with at most `window` handshakes in flight; each joins two rooms (Parley: ' +
      '`chat:channel:messaging:c{i}` + `chat:user:u{i}`, both acked). A connection counts once every ' +
      'subscription is acked. Levels are cumulative (1k, then 4k more, ...). Memory = (server RSS after ' +
      'settling − RSS before the first connection) ÷ connections; RSS includes garbage not yet collected.',
    render: idleTable,
  },
  chat: {
    title: '2 and 5. Chat traffic (5: two Parley processes on Redis + PostgreSQL)',
    about:
      'Channels × members connections, each in its channel and its user channel. Messages go round-robin ' +
      'over the channels, sent by the members in turn. ws / Socket.IO / the gateway engine: the client ' +
      'publishes over its socket. Parley full: `POST /channels/messaging/c{i}/messages` with the ' +
      "sender's user token (validation, database commit, after-commit event, gateway) — the realtime " +
      'protocol has no client publish (publish → 103), so the pure-gateway row uses the bench host ' +
      '(bench/servers/parley-gateway.mjs: the built gateway + memory broker, an rpc `publish`, no DB, no ' +
      'token check).',
    render: chatTables,
  },
  fanout: {
    title: '3. Fan-out to one big room',
    about:
      'N watchers in one room (Parley: `livestream:fan`, readable by anyone in the app, one subscription ' +
      'each); one member sends a message, the next after the last watcher got it. Time from the send call ' +
      'to the first and to the last receipt.',
    render: fanoutTable,
  },
  storm: {
    title: '6. Reconnect storm',
    about:
      'Every client (2 subscriptions each) drops at once; while they are away one message is sent to ' +
      'every channel; then all reconnect at the same moment. Parley: the SDK resubscribes with ' +
      '`recover: true`; "all back" = until every subscription is subscribed again and every missed ' +
      'message has reached every member. ws / Socket.IO have no recovery here: they only reconnect and ' +
      'rejoin (no messages are sent to them while away).',
    render: stormTable,
  },
  http: {
    title: '4. HTTP API (autocannon)',
    about:
      'autocannon from the load-generator process against the REST API as user u0 (Bearer token): send ' +
      '(`POST /channels/messaging/c0/messages`), list (`GET …/messages?limit=50`), query channels ' +
      '(`POST /channels/query`, members $in [u0], limit 20) and unread counts (`GET /unread`). First ' +
      'as fast as `connections` allow, then at a fixed overall rate. Percentiles from every response.',
    render: httpTable,
  },
};

// ---- targets of issue 5 (every number below is read from this run's results) ----

const FULL = ['parley-pglite', 'parley-pg', 'parley-cluster'];
const x2 = (v) => (v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(2)}×`);

/** One verdict row: met when `ok`, else the gap; "not measured" when a number is missing. */
function verdict(target, server, measured, ok, gap) {
  if (ok === undefined) return [target, server, measured || '–', 'not measured'];
  return [target, server, measured, ok ? '**met**' : `**not met**${gap ? ` (${gap})` : ''}`];
}

function targetRows(results, members) {
  const rows = [];
  const present = (scenario, names) => names.filter((n) => results[scenario]?.[n]);
  const chat = results.chat ?? {};
  const wsSat = chat.ws?.saturation?.deliveredPerSec;
  const sioSat = chat.socketio?.saturation?.deliveredPerSec;
  // 1. chat throughput ratios
  {
    const gw = chat['parley-gw']?.saturation?.deliveredPerSec;
    const r = gw && wsSat ? gw / wsSat : undefined;
    rows.push(
      verdict(
        'Chat 1,000 × 10, pure gateway path: delivered msg/s ≥ 0.6 × raw ws',
        NAMES['parley-gw'],
        r === undefined ? '' : `${fmt(gw)} vs ${fmt(wsSat)} msg/s = ${x2(r)}`,
        r === undefined ? undefined : r >= 0.6,
        r === undefined ? '' : `${x2(0.6 - r)} short`,
      ),
    );
  }
  for (const name of present('chat', FULL)) {
    const v = chat[name].saturation?.deliveredPerSec;
    const r = v && wsSat ? v / wsSat : undefined;
    rows.push(
      verdict(
        'Chat with persistence: ≥ 0.25 × raw ws (aim 0.5)',
        NAMES[name],
        r === undefined ? '' : `${fmt(v)} vs ${fmt(wsSat)} msg/s = ${x2(r)}`,
        r === undefined ? undefined : r >= 0.25,
        r === undefined ? '' : `${fmt((0.25 * wsSat) / v, 1)}× more throughput needed`,
      ),
    );
    rows.push(
      verdict(
        'Chat with persistence: above Socket.IO',
        NAMES[name],
        v && sioSat ? `${fmt(v)} vs ${fmt(sioSat)} msg/s = ${x2(v / sioSat)} of Socket.IO` : '',
        v && sioSat ? v > sioSat : undefined,
      ),
    );
  }
  // 2. latency at 2,000 delivered msg/s with persistence
  for (const name of present('chat', FULL)) {
    const r = chat[name];
    const f = (r.fixed ?? []).find((x) => x.targetSendRate * members === 2000);
    rows.push(
      verdict(
        'Chat at 2,000 delivered msg/s with persistence: p99 < 50 ms, p50 < 10 ms, 0 lost',
        NAMES[name],
        f
          ? `delivered ${fmt(f.deliveredPerSec)}/s, p50 ${fmt(f.latency?.p50, 1)} ms, p99 ${fmt(f.latency?.p99, 1)} ms, lost ${fmt(f.lost)}`
          : '',
        f ? f.latency?.p99 < 50 && f.latency?.p50 < 10 && f.lost === 0 : undefined,
        f
          ? [
              f.latency?.p99 >= 50 ? `p99 ${fmt(f.latency.p99 - 50, 1)} ms over` : '',
              f.latency?.p50 >= 10 ? `p50 ${fmt(f.latency.p50 - 10, 1)} ms over` : '',
              f.lost ? `${fmt(f.lost)} lost` : '',
            ]
              .filter(Boolean)
              .join(', ')
          : '',
      ),
    );
  }
  // 3. idle memory and connect rate
  const idle = results.idle ?? {};
  const wsSteps = idle.ws?.steps ?? [];
  for (const name of present('idle', ['parley-gw', 'parley-pglite', 'parley-pg'])) {
    const steps = idle[name].steps ?? [];
    const step = steps.at(-1);
    const base = wsSteps.find((w) => w.connections === step?.connections);
    const kibPer = step && kib(step.bytesPerConnection);
    const wsKib = base && kib(base.bytesPerConnection);
    const r = kibPer && wsKib > 0 ? kibPer / wsKib : undefined;
    rows.push(
      verdict(
        'Idle memory per connection (2 subscriptions) ≤ 2 × raw ws and < 20 KiB',
        NAMES[name],
        step
          ? `${fmt(kibPer, 1)} KiB vs ${fmt(wsKib, 1)} KiB at ${fmt(step.connections)} connections = ${x2(r)}`
          : '',
        r === undefined ? undefined : r <= 2 && kibPer < 20,
        r === undefined
          ? ''
          : [r > 2 ? `${x2(r)} of ws` : '', kibPer >= 20 ? `${fmt(kibPer - 20, 1)} KiB over 20` : '']
              .filter(Boolean)
              .join(', '),
      ),
    );
    if (name === 'parley-gw') continue;
    const ratios = steps.map((st) => {
      const w = wsSteps.find((x) => x.connections === st.connections);
      return { n: st.connections, r: w?.connectsPerSec ? st.connectsPerSec / w.connectsPerSec : undefined };
    });
    const known = ratios.filter((x) => x.r !== undefined);
    const worst = known.length ? Math.min(...known.map((x) => x.r)) : undefined;
    rows.push(
      verdict(
        'Connect rate with token check and two subscribes ≥ 0.3 × raw ws',
        NAMES[name],
        known
          .map(
            (x) =>
              `${fmt(x.n)}: ${fmt(steps.find((s2) => s2.connections === x.n).connectsPerSec)}/s = ${x2(x.r)}`,
          )
          .join('; '),
        worst === undefined ? undefined : worst >= 0.3,
        worst === undefined ? '' : `worst ${x2(worst)}`,
      ),
    );
  }
  // 4. fan-out
  const fan = results.fanout ?? {};
  const wsFan = fanLevels(fan.ws);
  for (const name of present('fanout', ['parley-gw', 'parley-pglite', 'parley-pg'])) {
    const levels = fanLevels(fan[name]).filter((l) => !l.failed);
    const small = levels[0];
    const big = levels.at(-1);
    const wsSmall = wsFan.find((w) => w.watchers === small?.watchers);
    const wsBig = wsFan.find((w) => w.watchers === big?.watchers);
    const rSmall =
      small && wsSmall ? small.deliveredPerSecDuringFanout / wsSmall.deliveredPerSecDuringFanout : undefined;
    rows.push(
      verdict(
        `Broadcast to ${fmt(small?.watchers ?? 1000)} connections ≥ 0.5 × raw ws (deliveries/s)`,
        NAMES[name],
        rSmall === undefined
          ? ''
          : `last receipt ${fmt(small.timeToLastP50Ms, 1)} ms vs ${fmt(wsSmall.timeToLastP50Ms, 1)} ms = ${x2(rSmall)} of the rate`,
        rSmall === undefined ? undefined : rSmall >= 0.5 && small.lost === 0,
        rSmall === undefined ? '' : `${x2(rSmall)}${small.lost ? `, ${small.lost} lost` : ''}`,
      ),
    );
    if (big && big !== small) {
      const rBig = wsBig ? big.timeToLastP50Ms / wsBig.timeToLastP50Ms : undefined;
      rows.push(
        verdict(
          `Fan-out to ${fmt(big.watchers)} watchers: time to the last ≤ 1.5 × raw ws`,
          NAMES[name],
          rBig === undefined
            ? ''
            : `${fmt(big.timeToLastP50Ms, 1)} ms vs ${fmt(wsBig.timeToLastP50Ms, 1)} ms = ${x2(rBig)}`,
          rBig === undefined ? undefined : rBig <= 1.5 && big.lost === 0,
          rBig === undefined ? '' : `${x2(rBig)}${big.lost ? `, ${big.lost} lost` : ''}`,
        ),
      );
    }
  }
  // 5. reconnect storm
  const storm = results.storm ?? {};
  for (const name of present('storm', ['parley-gw', 'parley-pglite', 'parley-pg'])) {
    const r = storm[name];
    const ok =
      r.failed === 0 && r.lost === 0 && r.resubscribed === r.expectedSubscriptions && r.allBackSeconds < 10;
    rows.push(
      verdict(
        `Reconnect storm: ${fmt(r.clients)} clients back with recovery in < 10 s, nothing lost`,
        NAMES[name],
        `${fmt(r.allBackSeconds, 2)} s, ${fmt(r.recoveredSubscriptions)} / ${fmt(r.expectedSubscriptions)} recovered, ${fmt(r.lost)} lost, ${fmt(r.failed)} failed`,
        r.allBackSeconds === undefined ? undefined : ok,
        ok
          ? ''
          : r.allBackSeconds >= 10
            ? `${fmt(r.allBackSeconds - 10, 2)} s over`
            : 'something lost or failed',
      ),
    );
  }
  // 6. HTTP API
  const http = results.http ?? {};
  for (const name of present('http', ['parley-pglite', 'parley-pg'])) {
    for (const e of http[name].endpoints ?? []) {
      if (e.endpoint !== 'send message' && e.endpoint !== 'list messages') continue;
      const f = e.fixed;
      const kept = f.requestsPerSec >= 0.95 * f.rate;
      const clean = f.non2xx + f.errors + f.timeouts === 0;
      rows.push(
        verdict(
          `API ${e.endpoint}: p95 < 25 ms at ${fmt(f.rate)} req/s`,
          NAMES[name],
          `${fmt(f.requestsPerSec)} req/s, p95 ${fmt(f.p95Ms, 1)} ms`,
          f.p95Ms < 25 && kept && clean,
          [
            f.p95Ms >= 25 ? `p95 ${fmt(f.p95Ms - 25, 1)} ms over` : '',
            kept ? '' : `only ${fmt(f.requestsPerSec)} of ${fmt(f.rate)} req/s`,
            clean ? '' : 'errors',
          ]
            .filter(Boolean)
            .join(', '),
        ),
      );
    }
  }
  return rows;
}

function targetsSection(report) {
  const rows = targetRows(report.results, report.params?.members ?? 10);
  return [
    '## Targets of issue 5',
    '',
    'Computed by bench/lib/report.mjs from the tables below (ratios are Parley ÷ raw ws of this run). ' +
      'The servers run one after another: when the load of the machine changes during the run (see ' +
      'the load average above), the ratios carry that change.',
    '',
    table(['target', 'server', 'measured', 'verdict'], rows),
  ].join('\n');
}

export function renderReport(report) {
  const { machine: m, loadAtEnd } = report;
  const busy = m.load.one > 2 || loadAtEnd.one > 2;
  const out = [];
  out.push('# Parley benchmark results', '');
  out.push(
    'Parley against a raw `ws` room server (the practical Node limit) and Socket.IO rooms, measured in the ' +
      'same run on the same machine: every server in its own process, the load generator in another, all ' +
      'on loopback. Ratios are to the raw ws baseline of this run. Nothing here is adjusted by hand.',
    '',
  );
  if (report.mode === 'smoke') {
    out.push(
      '> Smoke run: tiny numbers and all servers side by side at once. It proves the harness works; ' +
        'its numbers mean nothing.',
      '',
    );
  }
  if (busy) {
    out.push(
      `> **⚠ The machine was busy with other work during this run** (1-minute load ${m.load.one} at the ` +
        `start and ${loadAtEnd.one} at the end, on ${m.cpus} CPUs). Treat throughputs as lower bounds and ` +
        'latencies as upper bounds; all servers shared the same noise, so the ratios are the more useful ' +
        'numbers, but they are noisy too.',
      '',
    );
  }
  out.push(
    `- Mode: **${report.mode}**${report.scale !== 1 ? ` (scale ${report.scale})` : ''}`,
    `- Command: \`${report.command}\``,
    `- Date: ${report.startedAt} → ${report.finishedAt}`,
    `- Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB RAM, ${m.platform}, Node ${m.node}`,
    `- Load average (1/5/15 min): start ${m.load.one} / ${m.load.five} / ${m.load.fifteen}, end ${loadAtEnd.one} / ${loadAtEnd.five} / ${loadAtEnd.fifteen}`,
    `- \`uptime\` at start: \`${m.uptime}\``,
    `- \`uptime\` at end: \`${report.uptimeAtEnd}\``,
    '- CPU % is of one core (100 % = one core busy), averaged over the measured phase; RSS from /proc.',
    '',
  );
  out.push(targetsSection(report), '');
  for (const scenario of ['idle', 'chat', 'fanout', 'http', 'storm']) {
    const byTarget = report.results[scenario];
    if (!byTarget) continue;
    const section = SECTIONS[scenario];
    out.push(`## ${section.title}`, '', section.about, '', section.render(byTarget), '');
  }
  if (report.errors.length) {
    out.push('## Failures', '');
    for (const e of report.errors) {
      out.push(`- ${e.target}${e.scenario ? ` / ${e.scenario}` : ''}: ${e.error.split('\n')[0]}`);
    }
    out.push('');
  }
  return out.join('\n');
}
