import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerContract } from './broker.contract.js';
import { type Broker, type Publication, UnrecoverablePositionError } from './broker.js';
import { RedisBroker } from './broker.redis.js';

// These tests need a real Redis: they run when REDIS_URL is set (CI's second pass, or locally with
// `REDIS_URL=redis://127.0.0.1:6379`) and are skipped otherwise, like the rest of the Redis-backed suite.
const url = process.env.REDIS_URL;
// A unique prefix per run isolates these keys and pub/sub channels from other runs and processes.
const prefix = `parley-test-${randomUUID()}`;
const OPTIONS = { historySize: 100, historyTtlSeconds: 600 };

describe.skipIf(!url)('RedisBroker', () => {
  let admin: Redis;
  const brokers: Broker[] = [];

  beforeAll(() => {
    admin = new Redis(url!);
  });
  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
  });

  brokerContract(
    'RedisBroker',
    async (options) =>
      new RedisBroker({ url: url!, prefix, presenceTtlSeconds: options?.presenceTtlSeconds ?? 60 }),
    { multiNode: true },
  );

  async function startedBroker() {
    const broker = new RedisBroker({ url: url!, prefix });
    brokers.push(broker);
    const received: Publication[] = [];
    await broker.start({
      onPublication: (_channel, publication) => received.push(publication),
      onJoin: () => {},
      onLeave: () => {},
    });
    return { broker, received };
  }

  const channelName = () => `restart/${randomUUID()}`;
  const keysOf = (channel: string) => admin.keys(`${prefix}:*{${channel}}*`);

  async function unrecoverable(broker: Broker, channel: string, since: { offset: number; epoch: string }) {
    const error = await broker.history(channel, { since, limit: 10 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnrecoverablePositionError);
    return (error as UnrecoverablePositionError).current;
  }

  describe('when Redis loses the stream (restart without persistence)', () => {
    it('reports a new epoch on the next history read, so old positions are unrecoverable', async () => {
      const { broker } = await startedBroker();
      const channel = channelName();
      await broker.publish(channel, 1, OPTIONS);
      const old = await broker.publish(channel, 2, OPTIONS);
      const keys = await keysOf(channel);
      expect(keys.sort()).toEqual([
        `${prefix}:stream:{${channel}}:meta`,
        `${prefix}:stream:{${channel}}:pubs`,
      ]);
      await admin.del(...keys);

      const current = await unrecoverable(broker, channel, old);
      expect(current.offset).toBe(0);
      expect(current.epoch).not.toBe(old.epoch);
      // The new epoch is persisted: the next publish continues it instead of starting yet another.
      expect(await broker.publish(channel, 3, OPTIONS)).toEqual({ offset: 1, epoch: current.epoch });
      expect(await broker.history(channel, { limit: -1 })).toEqual({
        publications: [{ offset: 1, data: 3 }],
        position: { offset: 1, epoch: current.epoch },
      });
    });

    it('reports a new epoch on the next publish, and live subscribers see it', async () => {
      const { broker, received } = await startedBroker();
      const channel = channelName();
      await broker.subscribe(channel);
      const old = await broker.publish(channel, 'before', OPTIONS);
      await admin.del(...(await keysOf(channel)));

      const next = await broker.publish(channel, 'after', OPTIONS);
      expect(next.offset).toBe(1);
      expect(next.epoch).not.toBe(old.epoch);
      expect((await unrecoverable(broker, channel, old)).epoch).toBe(next.epoch);
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(2);
      expect(received).toEqual([
        { offset: 1, data: 'before' },
        { offset: 1, data: 'after' },
      ]);
    });

    it('drops a stream that outlived its meta instead of mixing two epochs', async () => {
      const { broker } = await startedBroker();
      const channel = channelName();
      const old = (await Promise.all([1, 2, 3].map((n) => broker.publish(channel, n, OPTIONS))))[2]!;
      await admin.del(`${prefix}:stream:{${channel}}:meta`);

      const next = await broker.publish(channel, 'fresh', OPTIONS);
      expect(next.offset).toBe(1);
      expect(next.epoch).not.toBe(old.epoch);
      expect(await broker.history(channel, { limit: -1 })).toEqual({
        publications: [{ offset: 1, data: 'fresh' }],
        position: next,
      });
    });

    it('reloads its Lua scripts when Redis lost the script cache', async () => {
      const { broker } = await startedBroker();
      const channel = channelName();
      await broker.publish(channel, 1, OPTIONS);
      await admin.script('FLUSH');
      expect(await broker.publish(channel, 2, OPTIONS)).toMatchObject({ offset: 2 });
      expect((await broker.history(channel, { limit: -1 })).publications.map((p) => p.data)).toEqual([1, 2]);
    });
  });

  it('sets a TTL on every key it creates', async () => {
    const { broker } = await startedBroker();
    const channel = channelName();
    await broker.history(channel, { limit: 0 });
    await broker.publish(channel, 1, OPTIONS);
    await broker.addPresence(channel, 'c1', { user: 'u1', client: 'c1' });
    const keys = await keysOf(channel);
    expect(keys).toHaveLength(4);
    for (const key of keys) expect(await admin.pttl(key)).toBeGreaterThan(0);
  });
});
