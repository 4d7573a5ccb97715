import type { EventName, EventPayload, ParleyEvent } from '@parley/protocol';
import type { Db, Tx } from './db.js';
import { uuidv7 } from './ids.js';

export type EventListener = (event: ParleyEvent) => void | Promise<void>;

/**
 * Runs inside the transaction of a write, after its work and before its commit, with the events it
 * recorded: the place to write an outbox (durable jobs) that must commit with the write. Whatever it
 * writes through `tx` commits or rolls back with the write; if it throws, the write rolls back.
 * `afterCommit` registers a callback run once the transaction has committed (e.g. to wake workers).
 */
export type CommittingConsumer = (
  tx: Tx,
  events: readonly ParleyEvent[],
  afterCommit: (callback: () => void) => void,
) => Promise<void>;

/**
 * In-process fan-out of domain events to consumers (realtime gateway, webhooks, push, metrics).
 * Contract: `publish` is called only after the write that caused the events has committed, in the
 * order the events were recorded; a listener that throws never stops the others.
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private readonly committing = new Set<CommittingConsumer>();
  constructor(private readonly onListenerError: (error: unknown, event: ParleyEvent) => void = () => {}) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Registers a transactional consumer (see CommittingConsumer); `inTransaction` calls it. */
  onCommitting(consumer: CommittingConsumer): () => void {
    this.committing.add(consumer);
    return () => this.committing.delete(consumer);
  }

  /** Hands a transaction's events to every transactional consumer, in registration order. */
  async beforeCommit(tx: Tx, events: readonly ParleyEvent[], afterCommit: (callback: () => void) => void) {
    if (events.length === 0) return;
    for (const consumer of this.committing) await consumer(tx, events, afterCommit);
  }

  publish(events: readonly ParleyEvent[]) {
    for (const event of events) {
      for (const listener of this.listeners) {
        try {
          const pending = listener(event);
          if (pending instanceof Promise) pending.catch((error) => this.onListenerError(error, event));
        } catch (error) {
          this.onListenerError(error, event);
        }
      }
    }
  }
}

/** Events recorded during a unit of work; published by `inTransaction` after commit. */
export class PendingEvents {
  readonly events: ParleyEvent[] = [];
  constructor(private readonly appId: string) {}

  record<N extends EventName>(type: N, payload: EventPayload<N>) {
    // The envelope comes last so a payload can never overwrite the event's id (webhook and sync
    // consumers dedup by it); events.test.ts in packages/protocol keeps those keys out of payloads.
    this.events.push({
      ...payload,
      id: uuidv7(),
      type,
      app_id: this.appId,
      created_at: new Date().toISOString(),
    } as ParleyEvent);
  }
}

/**
 * Runs `work` in one transaction, hands the events it recorded to the bus's transactional consumers
 * (the outbox) inside that transaction, and publishes them only once the transaction has committed.
 * A rollback (thrown error) publishes nothing and enqueues nothing.
 */
export async function inTransaction<T>(
  db: Db,
  bus: EventBus,
  appId: string,
  work: (tx: Tx, events: PendingEvents) => Promise<T>,
): Promise<T> {
  const events = new PendingEvents(appId);
  const afterCommit: (() => void)[] = [];
  const result = await db.transaction().execute(async (tx) => {
    const value = await work(tx, events);
    await bus.beforeCommit(tx, events.events, (callback) => afterCommit.push(callback));
    return value;
  });
  bus.publish(events.events);
  for (const callback of afterCommit) {
    try {
      callback();
    } catch {
      // after-commit callbacks are hints (waking workers): the write is done either way
    }
  }
  return result;
}
