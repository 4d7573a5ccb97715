import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Broker, BrokerHandler } from './broker.js';
import { MemoryBroker } from './broker.memory.js';
import { RedisBroker } from './broker.redis.js';
import { BrokerChannelWatchers, noWatchers, watchKey } from './watchers.js';

const handler: BrokerHandler = { onPublication() {}, onJoin() {}, onLeave() {} };

describe('channel watchers', () => {
  it('tracks subscribers per app and channel (memory broker)', async () => {
    const broker = new MemoryBroker();
    await broker.start(handler);
    const watchers = new BrokerChannelWatchers(broker);
    await watchers.add('app1', 'messaging:general', 's1', 'alice');
    await watchers.add('app1', 'messaging:general', 's2', 'alice');
    await watchers.add('app1', 'messaging:general', 's3', 'bob');
    await watchers.add('app2', 'messaging:general', 's4', 'carol');
    expect([...(await watchers.watching('app1', 'messaging:general'))].sort()).toEqual(['alice', 'bob']);
    expect([...(await watchers.watching('app2', 'messaging:general'))]).toEqual(['carol']);
    expect(await watchers.watching('app1', 'messaging:other')).toEqual(new Set());
    await watchers.remove('app1', 'messaging:general', 's1');
    expect(await watchers.watching('app1', 'messaging:general')).toEqual(new Set(['alice', 'bob']));
    await watchers.remove('app1', 'messaging:general', 's2');
    expect(await watchers.watching('app1', 'messaging:general')).toEqual(new Set(['bob']));
    // Not the channel's visible presence: a different key.
    expect(await broker.presence('app1/chat:channel:messaging:general')).toEqual({});
    expect(watchKey('app1', 'messaging:general')).toBe('app1/__watch:messaging:general');
    expect(await noWatchers.watching('app1', 'messaging:general')).toEqual(new Set());
    await broker.close();
  });

  it('entries expire with the presence TTL unless refreshed (a dead node stops counting)', async () => {
    const broker = new MemoryBroker({ presenceTtlSeconds: 1 });
    await broker.start(handler);
    const watchers = new BrokerChannelWatchers(broker);
    await watchers.add('app1', 'messaging:general', 's1', 'alice');
    expect(await watchers.watching('app1', 'messaging:general')).toEqual(new Set(['alice']));
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await watchers.watching('app1', 'messaging:general')).toEqual(new Set());
    await broker.close();
  });

  const url = process.env.REDIS_URL;
  describe.skipIf(!url)('across processes (Redis broker)', () => {
    const prefix = `parley-test-${randomUUID()}`;
    const brokers: Broker[] = [];
    afterAll(async () => {
      await Promise.all(brokers.map((b) => b.close()));
      const admin = new Redis(url!);
      const keys = await admin.keys(`${prefix}:*`);
      if (keys.length) await admin.del(...keys);
      await admin.quit();
    });

    it('a socket on one node is seen by a job on another', async () => {
      const nodeA = new RedisBroker({ url: url!, prefix });
      const nodeB = new RedisBroker({ url: url!, prefix });
      brokers.push(nodeA, nodeB);
      await nodeA.start(handler);
      await nodeB.start(handler);
      const onA = new BrokerChannelWatchers(nodeA);
      const onB = new BrokerChannelWatchers(nodeB);
      await onA.add('app1', 'messaging:general', 'sess-a', 'alice');
      expect(await onB.watching('app1', 'messaging:general')).toEqual(new Set(['alice']));
      await onA.remove('app1', 'messaging:general', 'sess-a');
      expect(await onB.watching('app1', 'messaging:general')).toEqual(new Set());
    });
  });
});
