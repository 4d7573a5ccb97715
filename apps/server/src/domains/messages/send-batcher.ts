import type { Message, SendMessageBody } from '@parley/protocol';
import type { RequestContext } from '../../platform/context.js';

export type SendOutcome = { message: Message; created: boolean };

/** A plain send waiting for its app's next batch (ADR 0016). */
export interface QueuedSend {
  ctx: RequestContext;
  cid: string;
  userId: string;
  body: SendMessageBody;
  resolve(outcome: SendOutcome): void;
  reject(error: unknown): void;
}

/** Most sends one batch commits; more wait for the next batch. */
export const MAX_SEND_BATCH = 100;

/**
 * Batches of one app under way at once. Two, so that the database works on one batch while the
 * server fans the previous one out (the two overlap instead of taking turns); they cannot deadlock
 * because every batch locks its channels in cid order and the app's event-log head last, and two
 * batches with a channel in common take its seqs one after the other (ADR 0016).
 */
export const MAX_BATCHES_IN_FLIGHT = 2;

/**
 * Group commit by natural batching, per app: the first send of an idle app is committed at once
 * (on the next turn of the event loop, with whatever arrived in the same turn); sends that arrive
 * while the app's batches commit wait and form the next one. There is no timer: at low load every
 * batch is a single send, under load batches grow with the load. `flush` settles every item it gets.
 */
export class SendBatcher {
  private readonly apps = new Map<string, { queue: QueuedSend[]; inFlight: number }>();

  constructor(private readonly flush: (items: QueuedSend[]) => Promise<void>) {}

  submit(send: Omit<QueuedSend, 'resolve' | 'reject'>): Promise<SendOutcome> {
    return new Promise((resolve, reject) => {
      const appId = send.ctx.app.id;
      let app = this.apps.get(appId);
      if (!app) {
        app = { queue: [], inFlight: 0 };
        this.apps.set(appId, app);
      }
      app.queue.push({ ...send, resolve, reject });
      if (app.queue.length === 1 && app.inFlight < MAX_BATCHES_IN_FLIGHT) {
        // Start on the next turn, with whatever else arrives in this one.
        app.inFlight++;
        setImmediate(() => void this.run(appId));
      }
    });
  }

  /** One lane of an app: commits batch after batch while sends are waiting. */
  private async run(appId: string) {
    const app = this.apps.get(appId)!;
    while (app.queue.length > 0) {
      const batch = app.queue.splice(0, MAX_SEND_BATCH);
      // More than a batch was waiting: the other lane takes the rest instead of waiting for this one.
      if (app.queue.length > 0 && app.inFlight < MAX_BATCHES_IN_FLIGHT) {
        app.inFlight++;
        setImmediate(() => void this.run(appId));
      }
      try {
        await this.flush(batch);
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
    app.inFlight--;
    if (app.inFlight === 0 && app.queue.length === 0) this.apps.delete(appId);
  }
}
