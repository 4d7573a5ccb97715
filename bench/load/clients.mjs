/**
 * One client interface over the three servers, so every scenario runs the same code against each:
 * `adapter.connect({user, rooms, onMessage})` resolves once the connection is open and every room
 * is joined (ws: join acked; Socket.IO: join ack; Parley: every subscription `subscribed`).
 * `conn.send(room, payload)` sends `payload` ({k, t}: key and send time) to a room, and
 * `onMessage(room, payload)` is called on every receipt of a bench payload.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { Centrifuge } from 'centrifuge';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

// As many sockets as the chat scenario has sends in flight (its `window`): in the scenario's world
// every sender is a different user on their own connection, so a send never queues behind another
// in the load generator (with 64 sockets, at most 64 sends could reach the server at once).
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** A JSON request over a keep-alive agent (lighter than fetch at thousands per second). */
export function httpJson(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {}
          resolve({ status: res.statusCode, body: json ?? text });
        });
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** HS256 user token signed with the app's api secret (what an app backend hands its clients). */
export function userToken(secret, userId) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ user_id: userId, iat: Math.floor(Date.now() / 1000) })}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

const wsUrl = (httpUrl) => httpUrl.replace(/^http/, 'ws');

/** `chat:channel:messaging:c1` → `/channels/messaging/c1/messages`. */
const messagesPath = (room) => {
  const [type, id] = room.slice('chat:channel:'.length).split(':');
  return `/channels/${type}/${id}/messages`;
};

// ---- raw ws ----

function wsAdapter(target) {
  return {
    name: 'ws',
    async connect({ rooms, onMessage }) {
      const ws = new WebSocket(target.url, { perMessageDeflate: false });
      await new Promise((resolve, reject) => {
        ws.once('open', () => ws.send(JSON.stringify({ join: rooms, id: 1 })));
        ws.on('message', function first(raw) {
          const msg = JSON.parse(raw);
          if (msg.joined !== undefined) {
            ws.off('message', first);
            resolve();
          }
        });
        ws.once('error', reject);
        ws.once('close', () => reject(new Error('closed before joined')));
      });
      ws.removeAllListeners('error');
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw);
        if (msg.room && msg.data) onMessage(msg.room, msg.data);
      });
      return {
        send(room, payload) {
          ws.send(JSON.stringify({ room, data: payload }));
          return Promise.resolve();
        },
        close() {
          ws.terminate();
        },
      };
    },
  };
}

// ---- Socket.IO ----

function socketioAdapter(target) {
  return {
    name: 'socketio',
    async connect({ rooms, onMessage }) {
      const socket = io(target.url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        timeout: 60_000,
      });
      await new Promise((resolve, reject) => {
        socket.once('connect', () => socket.emit('join', rooms, () => resolve()));
        socket.once('connect_error', reject);
      });
      socket.on('msg', (msg) => onMessage(msg.room, msg.data));
      return {
        send(room, payload) {
          socket.emit('msg', { room, data: payload });
          return Promise.resolve();
        },
        close() {
          socket.disconnect();
        },
      };
    },
  };
}

// ---- Parley (centrifuge SDK): full server (REST send) or gateway engine (rpc publish) ----

function parleyAdapter(target) {
  const gatewayOnly = target.kind === 'parley-gw';
  const urls = target.urls ?? [target.url];
  /** What clients went through: reconnects and resubscribes (code ≠ 0: not started by the bench). */
  const stats = { reconnects: 0, errors: 0, subscribeErrors: 0, resubscribes: 0 };
  return {
    name: target.kind,
    stats,
    async connect({ user, userIndex = 0, rooms, onMessage, onSubscribed }) {
      const base = urls[userIndex % urls.length];
      const token = gatewayOnly ? user : userToken(target.secret, user);
      const client = new Centrifuge(
        `${wsUrl(base)}/connection/websocket?api_key=${target.apiKey ?? 'bench'}`,
        {
          websocket: WebSocket,
          token,
          timeout: 120_000,
          minReconnectDelay: 200,
          maxReconnectDelay: 5_000,
        },
      );
      client.on('connecting', (ctx) => {
        if (ctx.code !== 0) stats.reconnects++;
      });
      client.on('error', () => stats.errors++);
      const subs = rooms.map((room) => {
        const sub = client.newSubscription(room);
        sub.on('publication', (ctx) => {
          const payload = gatewayOnly ? ctx.data : benchPayload(ctx.data);
          if (payload) onMessage(room, payload);
        });
        sub.on('error', () => stats.subscribeErrors++);
        sub.on('subscribing', (ctx) => {
          if (ctx.code !== 0) stats.resubscribes++;
        });
        if (onSubscribed) sub.on('subscribed', (ctx) => onSubscribed(room, ctx));
        return sub;
      });
      const subscribed = Promise.all(
        subs.map(
          (sub) =>
            new Promise((resolve, reject) => {
              sub.once('subscribed', resolve);
              sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code} ${ctx.reason}`)));
            }),
        ),
      );
      let onDisconnected;
      const closed = new Promise((_, reject) => {
        onDisconnected = (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`));
        client.on('disconnected', onDisconnected);
      });
      subscribed.catch(() => {});
      closed.catch(() => {});
      for (const sub of subs) sub.subscribe();
      client.connect();
      try {
        await Promise.race([subscribed, closed]);
      } catch (error) {
        client.disconnect();
        throw error;
      } finally {
        client.removeListener('disconnected', onDisconnected);
      }
      const headers = gatewayOnly ? {} : { 'x-api-key': target.apiKey, authorization: `Bearer ${token}` };
      return {
        client,
        send(room, payload) {
          if (gatewayOnly) return client.rpc('publish', { channel: room, data: payload });
          return httpJson(`${base}${messagesPath(room)}`, {
            method: 'POST',
            headers,
            body: { text: 'bench', custom: { bench_k: payload.k, bench_t: payload.t } },
          }).then((res) => {
            if (res.status !== 201) throw new Error(`send ${res.status} ${JSON.stringify(res.body)}`);
          });
        },
        close() {
          client.disconnect();
        },
      };
    },
  };
}

/** The bench payload of a Parley `message.new` event (other events — presence, ... — are ignored). */
function benchPayload(data) {
  if (data?.type !== 'message.new') return undefined;
  const custom = data.message?.custom;
  if (custom?.bench_k === undefined) return undefined;
  return { k: custom.bench_k, t: custom.bench_t };
}

export function makeAdapter(target) {
  if (target.kind === 'ws') return wsAdapter(target);
  if (target.kind === 'socketio') return socketioAdapter(target);
  return parleyAdapter(target);
}
