/**
 * Baseline (a): a raw `ws` server that only fans out to rooms — the practical limit of Node.
 * Protocol (JSON text frames): `{join: [room, ...], id}` → `{joined: n, id}`;
 * `{room, data}` → `{room, data}` to every socket in the room (the sender included).
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const rooms = new Map();
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws) => {
  const joined = [];
  ws.on('error', () => ws.terminate());
  ws.on('message', (raw) => {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      ws.close(1003, 'bad json');
      return;
    }
    if (Array.isArray(msg.join)) {
      for (const room of msg.join) {
        let set = rooms.get(room);
        if (!set) {
          set = new Set();
          rooms.set(room, set);
        }
        set.add(ws);
        joined.push(room);
      }
      ws.send(JSON.stringify({ joined: msg.join.length, id: msg.id }));
      return;
    }
    const set = rooms.get(msg.room);
    if (!set) return;
    const out = JSON.stringify({ room: msg.room, data: msg.data });
    for (const peer of set) peer.send(out);
  });
  ws.on('close', () => {
    for (const room of joined) {
      const set = rooms.get(room);
      set?.delete(ws);
      if (set?.size === 0) rooms.delete(room);
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ws-rooms listening at ws://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
