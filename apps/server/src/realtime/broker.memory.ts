import { randomBytes } from 'node:crypto';
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

interface Stream {
  epoch: string;
  offset: number;
  publications: Publication[];
  expiresAt: number;
}

const newEpoch = () => randomBytes(6).toString('base64url');

/** Single-process broker (the default): streams and presence live in this process's memory. */
export class MemoryBroker implements Broker {
  private handler: BrokerHandler | undefined;
  private readonly streams = new Map<string, Stream>();
  private readonly subscribed = new Set<string>();
  private readonly presenceByChannel = new Map<
    string,
    Map<string, { info: ClientInfo; expiresAt: number }>
  >();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: { presenceTtlSeconds: number } = { presenceTtlSeconds: 60 }) {
    this.sweeper = setInterval(() => this.sweep(), 10_000).unref();
  }

  async start(handler: BrokerHandler) {
    this.handler = handler;
  }

  async subscribe(channel: string) {
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string) {
    this.subscribed.delete(channel);
  }

  async publish(channel: string, data: unknown, options: PublishOptions): Promise<StreamPosition> {
    const stream = this.stream(channel);
    stream.offset += 1;
    stream.expiresAt = Date.now() + options.historyTtlSeconds * 1000;
    const publication: Publication = {
      offset: stream.offset,
      data,
      ...(options.info ? { info: options.info } : {}),
      ...(options.tags ? { tags: options.tags } : {}),
    };
    if (options.historySize > 0) {
      stream.publications.push(publication);
      if (stream.publications.length > options.historySize) {
        stream.publications.splice(0, stream.publications.length - options.historySize);
      }
    }
    if (this.subscribed.has(channel)) this.handler?.onPublication(channel, publication, stream.epoch);
    return { offset: stream.offset, epoch: stream.epoch };
  }

  async publishEphemeral(channel: string, data: unknown, info?: ClientInfo) {
    if (!this.subscribed.has(channel)) return;
    const stream = this.streams.get(channel);
    this.handler?.onPublication(channel, { offset: 0, data, ...(info ? { info } : {}) }, stream?.epoch ?? '');
  }

  async publishJoin(channel: string, info: ClientInfo) {
    if (this.subscribed.has(channel)) this.handler?.onJoin(channel, info);
  }

  async publishLeave(channel: string, info: ClientInfo) {
    if (this.subscribed.has(channel)) this.handler?.onLeave(channel, info);
  }

  async history(channel: string, options: HistoryOptions): Promise<HistoryResult> {
    return this.historySync(channel, options);
  }

  /** Synchronous history read: lets the gateway read and register in one tick (no race). */
  historySync(channel: string, options: HistoryOptions): HistoryResult {
    const stream = this.stream(channel);
    const position = { offset: stream.offset, epoch: stream.epoch };
    if (options.since && options.since.epoch && options.since.epoch !== stream.epoch) {
      throw new UnrecoverablePositionError(position);
    }
    if (options.limit === 0) return { publications: [], position };
    const limit = options.limit < 0 ? MAX_HISTORY_LIMIT : Math.min(options.limit, MAX_HISTORY_LIMIT);
    let candidates = stream.publications;
    if (options.reverse) {
      if (options.since) candidates = candidates.filter((p) => p.offset < options.since!.offset);
      return { publications: candidates.slice(-limit).reverse(), position };
    }
    if (options.since) candidates = candidates.filter((p) => p.offset > options.since!.offset);
    return { publications: candidates.slice(0, limit), position };
  }

  async removeHistory(channel: string) {
    this.streams.delete(channel);
  }

  async addPresence(channel: string, clientId: string, info: ClientInfo) {
    let entries = this.presenceByChannel.get(channel);
    if (!entries) {
      entries = new Map();
      this.presenceByChannel.set(channel, entries);
    }
    entries.set(clientId, { info, expiresAt: Date.now() + this.options.presenceTtlSeconds * 1000 });
  }

  async removePresence(channel: string, clientId: string) {
    const entries = this.presenceByChannel.get(channel);
    entries?.delete(clientId);
    if (entries?.size === 0) this.presenceByChannel.delete(channel);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const now = Date.now();
    const out: Record<string, ClientInfo> = {};
    for (const [clientId, entry] of this.presenceByChannel.get(channel) ?? []) {
      if (entry.expiresAt > now) out[clientId] = entry.info;
    }
    return out;
  }

  async presenceStats(channel: string) {
    const entries = Object.values(await this.presence(channel));
    return { numClients: entries.length, numUsers: new Set(entries.map((e) => e.user)).size };
  }

  async close() {
    clearInterval(this.sweeper);
  }

  private stream(channel: string): Stream {
    let stream = this.streams.get(channel);
    if (!stream || stream.expiresAt <= Date.now()) {
      stream = { epoch: newEpoch(), offset: 0, publications: [], expiresAt: Number.POSITIVE_INFINITY };
      this.streams.set(channel, stream);
    }
    return stream;
  }

  private sweep() {
    const now = Date.now();
    for (const [channel, stream] of this.streams) if (stream.expiresAt <= now) this.streams.delete(channel);
    for (const [channel, entries] of this.presenceByChannel) {
      for (const [clientId, entry] of entries) if (entry.expiresAt <= now) entries.delete(clientId);
      if (entries.size === 0) this.presenceByChannel.delete(channel);
    }
  }
}
