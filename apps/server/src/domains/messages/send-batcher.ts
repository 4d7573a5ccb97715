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
 * Group commit by natural batching, per app: the first send of an idle app is committed at once
 * (on the next turn of the event loop, with whatever arrived in the same turn); sends that arrive
 * while a batch commits wait and form the next one. There is no timer: at low load every batch
 * is a single send, under load batches grow with the load. `flush` settles every item it gets.
 */
export class SendBatcher {
  private readonly queues = new Map<string, QueuedSend[]>();

  constructor(private readonly flush: (items: QueuedSend[]) => Promise<void>) {}

  submit(send: Omit<QueuedSend, 'resolve' | 'reject'>): Promise<SendOutcome> {
    return new Promise((resolve, reject) => {
      const appId = send.ctx.app.id;
      const queue = this.queues.get(appId);
      if (queue) return void queue.push({ ...send, resolve, reject });
      this.queues.set(appId, [{ ...send, resolve, reject }]);
      setImmediate(() => void this.drain(appId));
    });
  }

  /** Commits the app's queue batch after batch; the queue exists (the app is busy) until it is empty. */
  private async drain(appId: string) {
    const queue = this.queues.get(appId)!;
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_SEND_BATCH);
      try {
        await this.flush(batch);
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
    this.queues.delete(appId);
  }
}
