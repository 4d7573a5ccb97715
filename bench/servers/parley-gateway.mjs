/**
 * Parley's gateway engine alone — the "pure gateway path" of the benchmark. It runs the BUILT
 * protocol engine (apps/server/dist/realtime/gateway.js: Centrifugo protocol v2, JSON codec,
 * per-connection ordered command queue, batching flush, offsets, history, recovery) on the
 * in-memory broker, exactly as the server wires it, but with a bench authorizer instead of the
 * chat rules: no database, no token check (the token is the user id), every subscribe allowed
 * (chat:channel:* with presence, as the messaging type grants), and one extra rpc, `publish`
 * `{channel, data}`, that calls `gateway.publish` (Parley itself has no client publish: 103).
 * `POST /publish {channel, data}` does the same over HTTP (used while clients are away).
 */
import { createServer } from 'node:http';
import { MemoryBroker } from '../../apps/server/dist/realtime/broker.memory.js';
import { Gateway, GatewayError } from '../../apps/server/dist/realtime/gateway.js';

const APP_ID = 'bench';
const counter = () => ({ inc() {}, dec() {} });
const metrics = {
  connections: counter(),
  subscriptions: counter(),
  publications: counter(),
  delivered: counter(),
  dropped: counter(),
  slowDisconnects: counter(),
};
const log = {
  warn: (obj, msg) => process.stderr.write(`warn ${msg} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`error ${msg} ${String(obj?.err?.stack ?? obj?.err)}\n`),
};

let gateway;
const authorizer = {
  async connect({ token }) {
    if (!token) throw GatewayError.close({ code: 3501, reason: 'bad request' });
    return { appId: APP_ID, userId: token };
  },
  async refresh() {
    return {};
  },
  async subscribe(_session, channel) {
    return { presence: channel.startsWith('chat:channel:') };
  },
  async rpc(_session, method, data) {
    if (method !== 'publish') throw GatewayError.reply(104, 'unknown method');
    await gateway.publish(APP_ID, data.channel, data.data);
    return undefined;
  },
};

gateway = new Gateway(new MemoryBroker(), authorizer, metrics, log);
await gateway.start(() => {});

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') return void res.writeHead(404).end();
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', async () => {
    try {
      const { channel, data } = JSON.parse(body);
      const position = await gateway.publish(APP_ID, channel, data);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(position));
    } catch (error) {
      res.writeHead(400).end(String(error));
    }
  });
});
gateway.attach(server);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`parley-gateway listening at http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', async () => {
  await gateway.close().catch(() => {});
  process.exit(0);
});
