import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Broker,
  type ClientInfo,
  MAX_HISTORY_LIMIT,
  type Publication,
  type PublishOptions,
  type StreamPosition,
  UnrecoverablePositionError,
} from './broker.js';

/** Creates a fresh broker ("node"); every call of one suite must share the same backing store. */
export type BrokerFactory = (options?: { presenceTtlSeconds?: number }) => Promise<Broker>;

export interface BrokerContractOptions {
  /** Two brokers made by the factory are two nodes of one cluster (false for the in-memory broker). */
  multiNode: boolean;
}

type Received =
  | { kind: 'pub'; channel: string; publication: Publication; epoch: string }
  | { kind: 'join' | 'leave'; channel: string; info: ClientInfo };

interface Node {
  broker: Broker;
  received: Received[];
  /** Publications received on one channel, in delivery order. */
  pubs(channel: string): { publication: Publication; epoch: string }[];
}

const OPTIONS: PublishOptions = { historySize: 100, historyTtlSeconds: 600 };
// Generous polling limit for deliveries that cross a network hop; never a timing assertion.
const WAIT = { timeout: 10_000, interval: 10 };

/**
 * The contract of broker.ts, run against every implementation (broker.memory.test.ts,
 * broker.redis.test.ts). Each test uses its own channel names, so implementations backed by a
 * shared store need no cleanup between tests.
 */
export function brokerContract(name: string, make: BrokerFactory, options: BrokerContractOptions) {
  describe(`Broker contract: ${name}`, () => {
    const started: Broker[] = [];
    afterEach(async () => {
      await Promise.all(started.splice(0).map((broker) => broker.close()));
    });

    async function node(factoryOptions?: { presenceTtlSeconds?: number }): Promise<Node> {
      const broker = await make(factoryOptions);
      started.push(broker);
      const received: Received[] = [];
      await broker.start({
        onPublication: (channel, publication, epoch) =>
          received.push({ kind: 'pub', channel, publication, epoch }),
        onJoin: (channel, info) => received.push({ kind: 'join', channel, info }),
        onLeave: (channel, info) => received.push({ kind: 'leave', channel, info }),
      });
      return {
        broker,
        received,
        pubs: (channel) =>
          received.flatMap((r) =>
            r.kind === 'pub' && r.channel === channel ? [{ publication: r.publication, epoch: r.epoch }] : [],
          ),
      };
    }

    const channelName = () => `contract/${randomUUID()}`;

    async function publishMany(broker: Broker, channel: string, count: number, publishOptions = OPTIONS) {
      const positions: StreamPosition[] = [];
      for (let n = 1; n <= count; n++) positions.push(await broker.publish(channel, { n }, publishOptions));
      return positions;
    }

    const offsets = (publications: Publication[]) => publications.map((p) => p.offset);

    async function historyError(broker: Broker, channel: string, since: StreamPosition) {
      const error = await broker.history(channel, { since, limit: 10 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UnrecoverablePositionError);
      return error as UnrecoverablePositionError;
    }

    describe('stream positions', () => {
      it('starts offsets at 1, keeps them contiguous and the epoch stable', async () => {
        const { broker } = await node();
        const channel = channelName();
        const before = await broker.history(channel, { limit: 0 });
        expect(before).toEqual({ publications: [], position: { offset: 0, epoch: expect.any(String) } });
        const positions = await publishMany(broker, channel, 5);
        expect(positions.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5]);
        expect(new Set(positions.map((p) => p.epoch))).toEqual(new Set([before.position.epoch]));
        expect(before.position.epoch).not.toBe('');
      });

      it('keeps channels independent', async () => {
        const { broker } = await node();
        const [a, b] = [channelName(), channelName()];
        await publishMany(broker, a, 3);
        const first = await broker.publish(b, 'x', OPTIONS);
        expect(first.offset).toBe(1);
        expect((await broker.history(a, { limit: 0 })).position.offset).toBe(3);
      });

      it('advances offsets without keeping history when historySize is 0', async () => {
        const { broker } = await node();
        const channel = channelName();
        const positions = await publishMany(broker, channel, 3, { historySize: 0, historyTtlSeconds: 600 });
        expect(positions.map((p) => p.offset)).toEqual([1, 2, 3]);
        const history = await broker.history(channel, { limit: -1 });
        expect(history).toEqual({ publications: [], position: positions[2] });
      });
    });

    describe('history', () => {
      it('returns publications ascending with data, info and tags, and the position', async () => {
        const { broker } = await node();
        const channel = channelName();
        const info: ClientInfo = { user: 'u1', client: 'c1', conn_info: { name: 'Ann' } };
        await broker.publish(channel, { text: 'hi', list: [], nested: { a: [1, 2] } }, { ...OPTIONS, info });
        const last = await broker.publish(channel, 'plain', { ...OPTIONS, tags: { kind: 'x' } });
        const history = await broker.history(channel, { limit: 10 });
        expect(history).toEqual({
          publications: [
            { offset: 1, data: { text: 'hi', list: [], nested: { a: [1, 2] } }, info },
            { offset: 2, data: 'plain', tags: { kind: 'x' } },
          ],
          position: last,
        });
      });

      it('pages with since, limit and reverse', async () => {
        const { broker } = await node();
        const channel = channelName();
        const positions = await publishMany(broker, channel, 6);
        const top = positions[5]!;
        const since = (offset: number) => ({ offset, epoch: top.epoch });

        const firstPage = await broker.history(channel, { limit: 2 });
        expect(offsets(firstPage.publications)).toEqual([1, 2]);
        expect(firstPage.publications.map((p) => p.data)).toEqual([{ n: 1 }, { n: 2 }]);
        expect(firstPage.position).toEqual(top);
        expect(offsets((await broker.history(channel, { since: since(2), limit: 2 })).publications)).toEqual([
          3, 4,
        ]);
        expect(offsets((await broker.history(channel, { since: since(4), limit: 10 })).publications)).toEqual(
          [5, 6],
        );
        expect((await broker.history(channel, { since: since(6), limit: 10 })).publications).toEqual([]);
        expect(offsets((await broker.history(channel, { limit: 2, reverse: true })).publications)).toEqual([
          6, 5,
        ]);
        expect(
          offsets(
            (await broker.history(channel, { since: since(4), limit: 10, reverse: true })).publications,
          ),
        ).toEqual([3, 2, 1]);
        expect(
          offsets((await broker.history(channel, { since: since(4), limit: 2, reverse: true })).publications),
        ).toEqual([3, 2]);
        expect(
          (await broker.history(channel, { since: since(1), limit: 10, reverse: true })).publications,
        ).toEqual([]);
        // An empty since.epoch skips the epoch check.
        expect(
          offsets(
            (await broker.history(channel, { since: { offset: 5, epoch: '' }, limit: 10 })).publications,
          ),
        ).toEqual([6]);
      });

      it('returns the position only for limit 0 and everything kept for limit -1', async () => {
        const { broker } = await node();
        const channel = channelName();
        const positions = await publishMany(broker, channel, 4);
        expect(await broker.history(channel, { limit: 0 })).toEqual({
          publications: [],
          position: positions[3],
        });
        expect(
          await broker.history(channel, { limit: 0, since: { offset: 1, epoch: positions[0]!.epoch } }),
        ).toEqual({ publications: [], position: positions[3] });
        expect(offsets((await broker.history(channel, { limit: -1 })).publications)).toEqual([1, 2, 3, 4]);
      });

      it(`caps every page at MAX_HISTORY_LIMIT (${MAX_HISTORY_LIMIT})`, async () => {
        const { broker } = await node();
        const channel = channelName();
        const total = MAX_HISTORY_LIMIT + 10;
        const options = { historySize: total + 100, historyTtlSeconds: 600 };
        const positions = await Promise.all(
          Array.from({ length: total }, (_, i) => broker.publish(channel, { i }, options)),
        );
        expect(positions.map((p) => p.offset).sort((a, b) => a - b)).toEqual(
          Array.from({ length: total }, (_, i) => i + 1),
        );
        const all = await broker.history(channel, { limit: -1 });
        expect(offsets(all.publications)).toEqual(Array.from({ length: MAX_HISTORY_LIMIT }, (_, i) => i + 1));
        expect(all.position.offset).toBe(total);
        const big = await broker.history(channel, { limit: total });
        expect(big.publications).toHaveLength(MAX_HISTORY_LIMIT);
        const newest = await broker.history(channel, { limit: -1, reverse: true });
        expect(newest.publications[0]!.offset).toBe(total);
        expect(newest.publications).toHaveLength(MAX_HISTORY_LIMIT);
      });

      it('keeps only the newest historySize publications', async () => {
        const { broker } = await node();
        const channel = channelName();
        await publishMany(broker, channel, 7, { historySize: 3, historyTtlSeconds: 600 });
        const history = await broker.history(channel, { limit: -1 });
        expect(offsets(history.publications)).toEqual([5, 6, 7]);
        expect(history.publications.map((p) => p.data)).toEqual([{ n: 5 }, { n: 6 }, { n: 7 }]);
        expect(history.position.offset).toBe(7);
        // A reader at offset 2 gets offsets 5.. only: the gap tells it recovery is impossible.
        const since = { offset: 2, epoch: history.position.epoch };
        expect(offsets((await broker.history(channel, { since, limit: 10 })).publications)).toEqual([
          5, 6, 7,
        ]);
      });

      it('refuses a position from another epoch with UnrecoverablePositionError carrying the current one', async () => {
        const { broker } = await node();
        const channel = channelName();
        const top = (await publishMany(broker, channel, 2))[1]!;
        const error = await historyError(broker, channel, { offset: 1, epoch: 'not-the-epoch' });
        expect(error.current).toEqual(top);
      });

      it('starts a new epoch after removeHistory, continued by later publishes', async () => {
        const { broker } = await node();
        const channel = channelName();
        const old = (await publishMany(broker, channel, 3))[2]!;
        await broker.removeHistory(channel);
        const error = await historyError(broker, channel, old);
        expect(error.current.offset).toBe(0);
        expect(error.current.epoch).not.toBe(old.epoch);
        const next = await broker.publish(channel, { n: 'new' }, OPTIONS);
        expect(next).toEqual({ offset: 1, epoch: error.current.epoch });
        expect(await broker.history(channel, { limit: 10 })).toEqual({
          publications: [{ offset: 1, data: { n: 'new' } }],
          position: next,
        });
      });

      it('starts a new epoch when the history TTL passes without a publish', async () => {
        const { broker } = await node();
        const channel = channelName();
        const ttl = { historySize: 10, historyTtlSeconds: 0.3 };
        await broker.publish(channel, { n: 1 }, ttl);
        const old = await broker.publish(channel, { n: 2 }, ttl);
        let current: StreamPosition = old;
        await vi.waitFor(async () => {
          current = (await broker.history(channel, { limit: 0 })).position;
          expect(current.epoch).not.toBe(old.epoch);
        }, WAIT);
        expect(current.offset).toBe(0);
        expect((await historyError(broker, channel, old)).current.epoch).not.toBe(old.epoch);
        expect((await broker.history(channel, { limit: -1 })).publications).toEqual([]);
        const next = await broker.publish(channel, { n: 3 }, OPTIONS);
        expect(next.offset).toBe(1);
        expect(next.epoch).not.toBe(old.epoch);
      });
    });

    describe('fan-out', () => {
      it('delivers every publication exactly once, in offset order, with its epoch', async () => {
        const subscriber = await node();
        const channel = channelName();
        await subscriber.broker.subscribe(channel);
        const count = 200;
        const positions = await Promise.all(
          Array.from({ length: count }, (_, i) => subscriber.broker.publish(channel, { i }, OPTIONS)),
        );
        await vi.waitFor(() => expect(subscriber.pubs(channel)).toHaveLength(count), WAIT);
        // A marker published last arrives after everything before it: nothing more is coming.
        const marker = await subscriber.broker.publish(channel, 'marker', OPTIONS);
        await vi.waitFor(
          () => expect(subscriber.pubs(channel).at(-1)?.publication.data).toBe('marker'),
          WAIT,
        );

        const received = subscriber.pubs(channel);
        expect(received.map((r) => r.publication.offset)).toEqual(
          Array.from({ length: count + 1 }, (_, i) => i + 1),
        );
        expect(new Set(received.map((r) => r.epoch))).toEqual(new Set([marker.epoch]));
        // Each delivered publication carries the data of the publish that got that offset.
        const dataByOffset = new Map(positions.map((p, i) => [p.offset, { i }]));
        for (const { publication } of received.slice(0, count)) {
          expect(publication.data).toEqual(dataByOffset.get(publication.offset));
        }
      });

      it('delivers info and tags', async () => {
        const subscriber = await node();
        const channel = channelName();
        await subscriber.broker.subscribe(channel);
        const info = { user: 'u1', client: 'c1' };
        await subscriber.broker.publish(channel, { a: 1 }, { ...OPTIONS, info, tags: { t: 'v' } });
        await vi.waitFor(() => expect(subscriber.pubs(channel)).toHaveLength(1), WAIT);
        expect(subscriber.pubs(channel)[0]!.publication).toEqual({
          offset: 1,
          data: { a: 1 },
          info,
          tags: { t: 'v' },
        });
      });

      it('delivers nothing for channels not subscribed or after unsubscribe', async () => {
        const subscriber = await node();
        const [channel, other, marker] = [channelName(), channelName(), channelName()];
        await subscriber.broker.subscribe(channel);
        await subscriber.broker.subscribe(marker);
        await subscriber.broker.publish(channel, 'before', OPTIONS);
        await vi.waitFor(() => expect(subscriber.pubs(channel)).toHaveLength(1), WAIT);
        await subscriber.broker.unsubscribe(channel);
        await subscriber.broker.publish(channel, 'after', OPTIONS);
        await subscriber.broker.publishJoin(channel, { user: 'u', client: 'c' });
        await subscriber.broker.publish(other, 'never subscribed', OPTIONS);
        await subscriber.broker.publish(marker, 'marker', OPTIONS);
        await vi.waitFor(() => expect(subscriber.pubs(marker)).toHaveLength(1), WAIT);
        expect(subscriber.received.filter((r) => r.channel !== marker)).toEqual([
          { kind: 'pub', channel, publication: { offset: 1, data: 'before' }, epoch: expect.any(String) },
        ]);
      });

      it('delivers join and leave in order with publications', async () => {
        const subscriber = await node();
        const channel = channelName();
        await subscriber.broker.subscribe(channel);
        const info: ClientInfo = { user: 'u1', client: 'c1', chan_info: { role: 'member' } };
        await subscriber.broker.publishJoin(channel, info);
        await subscriber.broker.publish(channel, 'hello', OPTIONS);
        await subscriber.broker.publishLeave(channel, info);
        await vi.waitFor(() => expect(subscriber.received).toHaveLength(3), WAIT);
        expect(subscriber.received).toEqual([
          { kind: 'join', channel, info },
          { kind: 'pub', channel, publication: { offset: 1, data: 'hello' }, epoch: expect.any(String) },
          { kind: 'leave', channel, info },
        ]);
      });

      it('delivers ephemeral publications with offset 0, in order, without moving the stream', async () => {
        const subscriber = await node();
        const channel = channelName();
        await subscriber.broker.subscribe(channel);
        await subscriber.broker.publish(channel, 'one', OPTIONS);
        await subscriber.broker.publishEphemeral(channel, { typing: true }, { user: 'u1', client: 'c1' });
        const last = await subscriber.broker.publish(channel, 'two', OPTIONS);
        await vi.waitFor(() => expect(subscriber.pubs(channel)).toHaveLength(3), WAIT);
        expect(subscriber.pubs(channel).map((r) => r.publication)).toEqual([
          { offset: 1, data: 'one' },
          { offset: 0, data: { typing: true }, info: { user: 'u1', client: 'c1' } },
          { offset: 2, data: 'two' },
        ]);
        expect(await subscriber.broker.history(channel, { limit: -1 })).toEqual({
          publications: [
            { offset: 1, data: 'one' },
            { offset: 2, data: 'two' },
          ],
          position: last,
        });
      });
    });

    describe('presence', () => {
      it('adds, lists, counts clients and distinct users, and removes', async () => {
        const { broker } = await node();
        const channel = channelName();
        expect(await broker.presence(channel)).toEqual({});
        expect(await broker.presenceStats(channel)).toEqual({ numClients: 0, numUsers: 0 });
        const phone: ClientInfo = { user: 'alice', client: 'phone', conn_info: { device: 'phone' } };
        const laptop: ClientInfo = { user: 'alice', client: 'laptop' };
        const bob: ClientInfo = { user: 'bob', client: 'bob-1', chan_info: { role: 'owner' } };
        await broker.addPresence(channel, 'phone', phone);
        await broker.addPresence(channel, 'laptop', laptop);
        await broker.addPresence(channel, 'bob-1', bob);
        await broker.addPresence(channel, 'phone', phone); // a refresh does not count twice
        expect(await broker.presence(channel)).toEqual({ phone, laptop, 'bob-1': bob });
        expect(await broker.presenceStats(channel)).toEqual({ numClients: 3, numUsers: 2 });
        expect(await broker.presenceStats(channelName())).toEqual({ numClients: 0, numUsers: 0 });

        await broker.removePresence(channel, 'phone');
        expect(await broker.presenceStats(channel)).toEqual({ numClients: 2, numUsers: 2 });
        await broker.removePresence(channel, 'laptop');
        expect(await broker.presence(channel)).toEqual({ 'bob-1': bob });
        expect(await broker.presenceStats(channel)).toEqual({ numClients: 1, numUsers: 1 });
        await broker.removePresence(channel, 'bob-1');
        await broker.removePresence(channel, 'unknown');
        expect(await broker.presenceStats(channel)).toEqual({ numClients: 0, numUsers: 0 });
      });

      it('expires entries that are not refreshed and keeps refreshed ones', async () => {
        const { broker } = await node({ presenceTtlSeconds: 0.5 });
        const channel = channelName();
        const kept: ClientInfo = { user: 'u1', client: 'kept' };
        await broker.addPresence(channel, 'kept', kept);
        await broker.addPresence(channel, 'dropped', { user: 'u2', client: 'dropped' });
        // Heartbeat only one of them until the other expires.
        await vi.waitFor(
          async () => {
            await broker.addPresence(channel, 'kept', kept);
            expect(Object.keys(await broker.presence(channel))).toEqual(['kept']);
          },
          { timeout: 10_000, interval: 50 },
        );
        await broker.addPresence(channel, 'kept', kept);
        expect(await broker.presenceStats(channel)).toEqual({ numClients: 1, numUsers: 1 });
        await vi.waitFor(
          () => expect(broker.presenceStats(channel)).resolves.toEqual({ numClients: 0, numUsers: 0 }),
          {
            timeout: 10_000,
            interval: 50,
          },
        );
      });
    });

    describe.runIf(options.multiNode)('several nodes', () => {
      it('fans out publications, joins and leaves to every subscribed node, in one stream', async () => {
        const [a, b] = [await node(), await node()];
        const channel = channelName();
        await a.broker.subscribe(channel);
        await b.broker.subscribe(channel);
        const info = { user: 'u1', client: 'c1' };
        await a.broker.publish(channel, 'from a', OPTIONS);
        await b.broker.publish(channel, 'from b', OPTIONS);
        await a.broker.publishJoin(channel, info);
        await b.broker.publishEphemeral(channel, 'typing');
        for (const n of [a, b]) {
          await vi.waitFor(() => expect(n.received).toHaveLength(4), WAIT);
          expect(
            n.received.map((r) => (r.kind === 'pub' ? [r.publication.offset, r.publication.data] : r.kind)),
          ).toEqual([[1, 'from a'], [2, 'from b'], 'join', [0, 'typing']]);
        }
        const history = await b.broker.history(channel, { limit: -1 });
        expect(history.publications.map((p) => p.data)).toEqual(['from a', 'from b']);
        expect(history.position).toEqual((await a.broker.history(channel, { limit: 0 })).position);
      });

      it('delivers to the nodes that subscribed only', async () => {
        const [a, b] = [await node(), await node()];
        const [channel, marker] = [channelName(), channelName()];
        await a.broker.subscribe(channel);
        await b.broker.subscribe(marker);
        await a.broker.publish(channel, 'only a', OPTIONS);
        await a.broker.publish(marker, 'marker', OPTIONS);
        await vi.waitFor(() => expect(a.pubs(channel)).toHaveLength(1), WAIT);
        await vi.waitFor(() => expect(b.pubs(marker)).toHaveLength(1), WAIT);
        expect(b.pubs(channel)).toEqual([]);
        expect(a.pubs(marker)).toEqual([]);
      });

      it('shares presence between nodes', async () => {
        const [a, b] = [await node(), await node()];
        const channel = channelName();
        await a.broker.addPresence(channel, 'phone', { user: 'alice', client: 'phone' });
        await b.broker.addPresence(channel, 'laptop', { user: 'alice', client: 'laptop' });
        await b.broker.addPresence(channel, 'bob-1', { user: 'bob', client: 'bob-1' });
        for (const n of [a, b]) {
          expect(await n.broker.presenceStats(channel)).toEqual({ numClients: 3, numUsers: 2 });
        }
        await b.broker.removePresence(channel, 'phone');
        expect(Object.keys(await a.broker.presence(channel)).sort()).toEqual(['bob-1', 'laptop']);
      });
    });
  });
}
