import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  type Broker,
  type BrokerHandler,
  type ClientInfo,
  type HistoryOptions,
  type HistoryResult,
  MAX_HISTORY_LIMIT,
  type Publication,
  type PublishOptions,
  type StreamPosition,
  UnrecoverablePositionError,
} from './broker.js';

export interface RedisBrokerOptions {
  url: string;
  /** Prefix of every key and pub/sub channel; tests use a unique one per run. Must not contain `{`. */
  prefix?: string;
  presenceTtlSeconds?: number;
  /**
   * Lifetime of a stream that `history` created before any publish (a channel that is read but
   * never written). Publishes set the stream's TTL to their `historyTtlSeconds` instead.
   */
  idleStreamTtlSeconds?: number;
  /** Connection errors (ioredis reconnects by itself); unhandled they would only be logged by ioredis. */
  onError?: (error: Error) => void;
}

/**
 * Redis layout (per broker channel `c`, prefix `p`; `{c}` is a cluster hash tag so that one
 * script's keys share a slot):
 * - `p:stream:{c}:meta`  hash `e` = epoch, `s` = top offset; TTL = history TTL.
 * - `p:stream:{c}:pubs`  stream, entry id `<offset>-0`, field `d` = JSON {d: data, i?: info, t?: tags}.
 * - `p:presence:{c}:z`   sorted set clientId → expiry time (ms, Redis clock).
 * - `p:presence:{c}:h`   hash clientId → JSON ClientInfo.
 * - `p:channel:c`        pub/sub channel carrying `p<offset>:<epoch>:<json>` (publication; offset 0
 *   for ephemeral ones), `j<json info>` (join) or `l<json info>` (leave).
 */

// Appends one publication atomically: a missing meta (expired, removed, lost in a Redis restart)
// starts a new epoch and drops any stale stream, so offsets restart at 1 only with a new epoch.
// PUBLISH inside the script makes pub/sub order equal offset order.
const PUBLISH_LUA = `
local meta, stream = KEYS[1], KEYS[2]
local body, size, ttl, channel, new_epoch = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local epoch = redis.call('hget', meta, 'e')
if not epoch then
  epoch = new_epoch
  redis.call('del', stream)
  redis.call('hset', meta, 'e', epoch)
end
local offset = redis.call('hincrby', meta, 's', 1)
redis.call('pexpire', meta, ttl)
if size > 0 then
  redis.call('xadd', stream, 'MAXLEN', size, offset .. '-0', 'd', body)
  redis.call('pexpire', stream, ttl)
else
  redis.call('del', stream)
end
redis.call('publish', channel, 'p' .. offset .. ':' .. epoch .. ':' .. body)
return {offset, epoch}
`;

// Reads the position and (unless count is 0 or the epoch differs) one page of the stream.
// A missing meta is created with a new epoch so that later publishes continue that epoch.
const HISTORY_LUA = `
local meta, stream = KEYS[1], KEYS[2]
local new_epoch, idle_ttl, since_epoch, dir, from, to, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local m = redis.call('hmget', meta, 'e', 's')
local epoch, top = m[1], tonumber(m[2]) or 0
if not epoch then
  epoch = new_epoch
  top = 0
  redis.call('del', stream)
  redis.call('hset', meta, 'e', epoch, 's', 0)
  redis.call('pexpire', meta, idle_ttl)
end
if count == 0 or (since_epoch ~= '' and since_epoch ~= epoch) then
  return {top, epoch, {}}
end
local pubs
if dir == 'f' then
  pubs = redis.call('xrange', stream, from, to, 'COUNT', count)
else
  pubs = redis.call('xrevrange', stream, from, to, 'COUNT', count)
end
return {top, epoch, pubs}
`;

const EPHEMERAL_LUA = `
local epoch = redis.call('hget', KEYS[1], 'e') or ''
redis.call('publish', ARGV[1], 'p0:' .. epoch .. ':' .. ARGV[2])
return 1
`;

// Presence timestamps come from the Redis clock so that every node agrees on expiry.
const PRESENCE_ADD_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('zadd', KEYS[1], now + ttl, ARGV[1])
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ttl)
redis.call('pexpire', KEYS[2], ttl)
return 1
`;

const PRESENCE_GET_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', now)
for i = 1, #expired do
  redis.call('hdel', KEYS[2], expired[i])
end
if #expired > 0 then
  redis.call('zremrangebyscore', KEYS[1], '-inf', now)
end
return redis.call('hgetall', KEYS[2])
`;

/** A Lua script run with EVALSHA, falling back to EVAL when Redis lost its script cache (restart, SCRIPT FLUSH). */
class LuaScript {
  readonly sha: string;

  constructor(
    readonly source: string,
    private readonly numKeys: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, this.numKeys, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, this.numKeys, ...keys, ...args);
    }
  }
}

const scripts = {
  publish: new LuaScript(PUBLISH_LUA, 2),
  history: new LuaScript(HISTORY_LUA, 2),
  ephemeral: new LuaScript(EPHEMERAL_LUA, 1),
  presenceAdd: new LuaScript(PRESENCE_ADD_LUA, 2),
  presenceGet: new LuaScript(PRESENCE_GET_LUA, 2),
};

/** What the stream and pub/sub messages store besides offset and epoch. */
interface StoredBody {
  d?: unknown;
  i?: ClientInfo;
  t?: Record<string, string>;
}

const newEpoch = () => randomBytes(6).toString('base64url');

const encodeBody = (data: unknown, info?: ClientInfo, tags?: Record<string, string>) =>
  JSON.stringify({
    d: data,
    ...(info ? { i: info } : {}),
    ...(tags ? { t: tags } : {}),
  } satisfies StoredBody);

function toPublication(offset: number, json: string): Publication {
  const body = JSON.parse(json) as StoredBody;
  return {
    offset,
    data: body.d,
    ...(body.i ? { info: body.i } : {}),
    ...(body.t ? { tags: body.t } : {}),
  };
}

const toMs = (seconds: number) => Math.max(1, Math.round(seconds * 1000));

/** Stream entries as XRANGE returns them: [id, [field, value, ...]]. */
function parseEntries(raw: unknown): Publication[] {
  if (!Array.isArray(raw)) throw new Error('unexpected history reply from Redis');
  return raw.map((entry: unknown) => {
    if (!Array.isArray(entry)) throw new Error('unexpected stream entry from Redis');
    const [id, fields] = entry as [unknown, unknown];
    if (typeof id !== 'string' || !Array.isArray(fields))
      throw new Error('unexpected stream entry from Redis');
    const index = fields.indexOf('d');
    const body = fields[index + 1];
    if (index < 0 || typeof body !== 'string') throw new Error('stream entry without a body');
    return toPublication(Number.parseInt(id, 10), body);
  });
}

/**
 * Broker for many server processes on one Redis, after Centrifuge's Redis broker: each publish is
 * one Lua script (offset + epoch in a meta hash, history in a Redis Stream trimmed to
 * `historySize`, TTLs, PUBLISH for fan-out); one dedicated subscriber connection per process
 * receives the channels this node subscribed to, in the order Redis executed the publishes.
 * History lost in Redis (restart, eviction, expiry) shows up as a new epoch, so clients holding an
 * old position are told it is unrecoverable instead of silently missing publications.
 */
export class RedisBroker implements Broker {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly presenceTtlMs: number;
  private readonly idleStreamTtlMs: number;
  private readonly channelPrefix: string;
  private handler: BrokerHandler | undefined;

  constructor(private readonly options: RedisBrokerOptions) {
    this.prefix = options.prefix ?? 'parley';
    if (this.prefix.includes('{')) throw new Error('RedisBroker prefix must not contain "{"');
    this.channelPrefix = `${this.prefix}:channel:`;
    this.presenceTtlMs = toMs(options.presenceTtlSeconds ?? 60);
    this.idleStreamTtlMs = toMs(options.idleStreamTtlSeconds ?? 24 * 3600);
    const onError = (error: Error) => this.options.onError?.(error);
    // Auto-pipelining: the commands of one turn of the event loop go out in one write. A group
    // commit publishes up to 100 messages at once; without it each is its own socket write.
    this.redis = new Redis(options.url, { enableAutoPipelining: true });
    this.subscriber = new Redis(options.url);
    this.redis.on('error', onError);
    this.subscriber.on('error', onError);
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
  }

  async start(handler: BrokerHandler) {
    this.handler = handler;
    // Preload the scripts so that EVALSHA normally succeeds on the first try.
    await Promise.all(Object.values(scripts).map((script) => this.redis.script('LOAD', script.source)));
  }

  async subscribe(channel: string) {
    await this.subscriber.subscribe(this.pubsubChannel(channel));
  }

  async unsubscribe(channel: string) {
    await this.subscriber.unsubscribe(this.pubsubChannel(channel));
  }

  async publish(channel: string, data: unknown, options: PublishOptions): Promise<StreamPosition> {
    const reply = await scripts.publish.run(
      this.redis,
      [this.metaKey(channel), this.streamKey(channel)],
      [
        encodeBody(data, options.info, options.tags),
        Math.max(0, Math.floor(options.historySize)),
        toMs(options.historyTtlSeconds),
        this.pubsubChannel(channel),
        newEpoch(),
      ],
    );
    const [offset, epoch] = Array.isArray(reply) ? reply : [];
    if (typeof offset !== 'number' || typeof epoch !== 'string') throw new Error('unexpected publish reply');
    return { offset, epoch };
  }

  async publishEphemeral(channel: string, data: unknown, info?: ClientInfo) {
    await scripts.ephemeral.run(
      this.redis,
      [this.metaKey(channel)],
      [this.pubsubChannel(channel), encodeBody(data, info)],
    );
  }

  async publishJoin(channel: string, info: ClientInfo) {
    await this.redis.publish(this.pubsubChannel(channel), `j${JSON.stringify(info)}`);
  }

  async publishLeave(channel: string, info: ClientInfo) {
    await this.redis.publish(this.pubsubChannel(channel), `l${JSON.stringify(info)}`);
  }

  async history(channel: string, options: HistoryOptions): Promise<HistoryResult> {
    const count = options.limit < 0 ? MAX_HISTORY_LIMIT : Math.min(options.limit, MAX_HISTORY_LIMIT);
    const since = options.since ? Math.max(0, Math.floor(options.since.offset)) : undefined;
    let range: [dir: 'f' | 'r', from: string, to: string];
    let pageSize = Math.max(0, Math.floor(count));
    if (options.reverse) {
      // Strictly before `since`, newest first; nothing is before offset 1.
      if (since !== undefined && since <= 1) pageSize = 0;
      range = ['r', since !== undefined ? `${Math.max(since - 1, 0)}-0` : '+', '-'];
    } else {
      range = ['f', since !== undefined ? `${since + 1}-0` : '-', '+'];
    }
    const reply = await scripts.history.run(
      this.redis,
      [this.metaKey(channel), this.streamKey(channel)],
      [newEpoch(), this.idleStreamTtlMs, options.since?.epoch ?? '', ...range, pageSize],
    );
    const [top, epoch, entries] = Array.isArray(reply) ? reply : [];
    if (typeof top !== 'number' || typeof epoch !== 'string') throw new Error('unexpected history reply');
    const position = { offset: top, epoch };
    if (options.since?.epoch && options.since.epoch !== epoch) throw new UnrecoverablePositionError(position);
    return { publications: pageSize === 0 ? [] : parseEntries(entries), position };
  }

  async removeHistory(channel: string) {
    await this.redis.del(this.metaKey(channel), this.streamKey(channel));
  }

  async addPresence(channel: string, clientId: string, info: ClientInfo) {
    await scripts.presenceAdd.run(this.redis, this.presenceKeys(channel), [
      clientId,
      JSON.stringify(info),
      this.presenceTtlMs,
    ]);
  }

  async removePresence(channel: string, clientId: string) {
    const [zset, hash] = this.presenceKeys(channel);
    const results = await this.redis.multi().zrem(zset, clientId).hdel(hash, clientId).exec();
    for (const [error] of results ?? []) if (error) throw error;
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const reply = await scripts.presenceGet.run(this.redis, this.presenceKeys(channel), []);
    if (!Array.isArray(reply)) throw new Error('unexpected presence reply');
    const out: Record<string, ClientInfo> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const clientId: unknown = reply[i];
      const json: unknown = reply[i + 1];
      if (typeof clientId === 'string' && typeof json === 'string')
        out[clientId] = JSON.parse(json) as ClientInfo;
    }
    return out;
  }

  async presenceStats(channel: string) {
    const entries = Object.values(await this.presence(channel));
    return { numClients: entries.length, numUsers: new Set(entries.map((e) => e.user)).size };
  }

  async close() {
    this.handler = undefined;
    await Promise.all(
      [this.redis, this.subscriber].map(async (connection) => {
        if (connection.status !== 'ready') {
          connection.disconnect();
          return;
        }
        await connection.quit().catch(() => connection.disconnect());
      }),
    );
  }

  private onMessage(pubsubChannel: string, message: string) {
    const handler = this.handler;
    if (!handler || !pubsubChannel.startsWith(this.channelPrefix)) return;
    const channel = pubsubChannel.slice(this.channelPrefix.length);
    try {
      const kind = message[0];
      if (kind === 'p') {
        const offsetEnd = message.indexOf(':');
        const epochEnd = message.indexOf(':', offsetEnd + 1);
        const offset = Number.parseInt(message.slice(1, offsetEnd), 10);
        const epoch = message.slice(offsetEnd + 1, epochEnd);
        handler.onPublication(channel, toPublication(offset, message.slice(epochEnd + 1)), epoch);
      } else if (kind === 'j') {
        handler.onJoin(channel, JSON.parse(message.slice(1)) as ClientInfo);
      } else if (kind === 'l') {
        handler.onLeave(channel, JSON.parse(message.slice(1)) as ClientInfo);
      }
    } catch (error) {
      // A throwing handler must not break the subscriber connection's reply parsing.
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private pubsubChannel(channel: string) {
    return this.channelPrefix + channel;
  }

  private metaKey(channel: string) {
    return `${this.prefix}:stream:{${channel}}:meta`;
  }

  private streamKey(channel: string) {
    return `${this.prefix}:stream:{${channel}}:pubs`;
  }

  private presenceKeys(channel: string): [zset: string, hash: string] {
    return [`${this.prefix}:presence:{${channel}}:z`, `${this.prefix}:presence:{${channel}}:h`];
  }
}
