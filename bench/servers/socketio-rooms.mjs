/**
 * Baseline (b): Socket.IO with rooms, what many teams build themselves. WebSocket transport only
 * (no long-polling upgrade), no compression. Events: `join(rooms, ack)`; `msg({room, data})` →
 * `msg({room, data})` to the whole room (the sender included).
 * With BENCH_SIO_RECOVERY=1, Socket.IO's connection state recovery is on (2 minutes).
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const server = createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: 64 * 1024,
  ...(process.env.BENCH_SIO_RECOVERY === '1'
    ? { connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true } }
    : {}),
});

io.on('connection', (socket) => {
  socket.on('join', (rooms, ack) => {
    if (!Array.isArray(rooms)) return;
    socket.join(rooms);
    if (typeof ack === 'function') ack(rooms.length);
  });
  socket.on('msg', (msg) => {
    if (msg && typeof msg.room === 'string') io.to(msg.room).emit('msg', msg);
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`socketio-rooms listening at ws://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
