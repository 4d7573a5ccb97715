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

function table(head, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
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
        'server peak RSS MB',
        'load-gen CPU %',
      ],
      satRows,
    ),
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
}

function fanoutTable(byTarget) {
  const ws = byTarget.ws;
  const rows = entries(byTarget).map(([name, r]) => [
    NAMES[name] ?? name,
    fmt(r.watchers),
    fmt(r.messages),
    fmt(r.timeToFirstP50Ms, 1),
    fmt(r.timeToLastP50Ms, 1),
    ratio(r.timeToLastP50Ms, ws?.timeToLastP50Ms),
    fmt(r.timeToLastMaxMs, 1),
    fmt(r.deliveredPerSecDuringFanout),
    fmt(r.lost),
    fmt(r.usage?.serverCpuPct),
    fmt(r.usage?.loadgenCpuPct),
  ]);
  return table(
    [
      'server',
      'watchers',
      'messages',
      'first receipt p50 ms',
      'last receipt p50 ms',
      '× ws',
      'last receipt max ms',
      'deliveries/s',
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
  return table(
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
  );
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
    title: '2. Chat traffic',
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
