import type { EventName, EventPayload, ParleyEvent } from '@parley/protocol';
import type { Db, Tx } from './db.js';
import { uuidv7 } from './ids.js';

export type EventListener = (event: ParleyEvent) => void | Promise<void>;

/**
 * In-process fan-out of domain events to consumers (realtime gateway, webhooks, push, metrics).
 * Contract: `publish` is called only after the write that caused the events has committed, in the
 * order the events were recorded; a listener that throws never stops the others.
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  constructor(private readonly onListenerError: (error: unknown, event: ParleyEvent) => void = () => {}) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
    this.events.push({
      id: uuidv7(),
      type,
      app_id: this.appId,
      created_at: new Date().toISOString(),
      ...payload,
    } as ParleyEvent);
  }
}

/**
 * Runs `work` in one transaction and publishes the events it recorded only once the transaction
 * has committed. A rollback (thrown error) publishes nothing.
 */
export async function inTransaction<T>(
  db: Db,
  bus: EventBus,
  appId: string,
  work: (tx: Tx, events: PendingEvents) => Promise<T>,
): Promise<T> {
  const events = new PendingEvents(appId);
  const result = await db.transaction().execute((tx) => work(tx, events));
  bus.publish(events.events);
  return result;
}
