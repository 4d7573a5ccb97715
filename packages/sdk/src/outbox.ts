import type { Message } from '@parley/protocol';
import { isRetryable, ParleyApiError } from './errors.js';
import { pendingMessage } from './state/reducer.js';
import type { Store } from './state/store.js';
import type { OutboxItem } from './stores/types.js';

export interface OutboxDeps {
  store: Store;
  userId: string;
  send(item: OutboxItem): Promise<Message>;
  /** Persists outbox changes (resolves once stored). */
  persist(change: { put?: OutboxItem[]; delete?: string[] }): Promise<void>;
  now(): string;
}

interface Waiter {
  resolve(message: Message): void;
  reject(error: unknown): void;
}

/**
 * Messages on their way to the server. Each is stored before it is sent, shown at once as
 * `sending`, and sent one at a time in the order the user wrote them. The server deduplicates by
 * client_msg_id, so a message whose answer was lost is simply sent again. Network failures and
 * server overload keep the queue waiting (it resumes on reconnect, or after a backoff); any other
 * error marks that message `failed` (it waits for `retry`) and the queue moves on.
 */
export class Outbox {
  private readonly items = new Map<string, OutboxItem>();
  private readonly waiters = new Map<string, Waiter[]>();
  private running = false;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;

  constructor(private readonly deps: OutboxDeps) {}

  /** Restores the queue from the cache (the reducer already shows these messages). */
  load(items: OutboxItem[]): void {
    for (const item of items) this.items.set(item.client_msg_id, item);
  }

  get pending(): OutboxItem[] {
    return [...this.items.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Queues a message; resolves with the server's message once it is confirmed. */
  async add(item: OutboxItem): Promise<Message> {
    this.items.set(item.client_msg_id, item);
    this.deps.store.dispatch({
      type: 'local/message.sending',
      message: pendingMessage(item.cid, this.deps.userId, item.body, item.created_at),
    });
    const confirmed = this.wait(item.client_msg_id);
    await this.deps.persist({ put: [item] });
    this.kick();
    return confirmed;
  }

  /** Sends a failed message again. */
  retry(clientMsgId: string): Promise<Message> {
    const item = this.items.get(clientMsgId);
    if (!item) return Promise.reject(new Error(`no queued message ${clientMsgId}`));
    const { error: _e, ...rest } = item;
    const again: OutboxItem = { ...rest, failed: false };
    this.items.set(clientMsgId, again);
    this.deps.store.dispatch({
      type: 'local/message.sending',
      message: pendingMessage(item.cid, this.deps.userId, item.body, item.created_at),
    });
    const confirmed = this.wait(clientMsgId);
    void this.deps.persist({ put: [again] }).then(() => this.kick());
    return confirmed;
  }

  /** Gives up on a failed message: it leaves the queue and the message list. */
  async discard(clientMsgId: string): Promise<void> {
    const item = this.items.get(clientMsgId);
    if (!item) return;
    this.items.delete(clientMsgId);
    this.deps.store.dispatch({ type: 'local/message.discard', cid: item.cid, client_msg_id: clientMsgId });
    this.settle(clientMsgId, undefined, new Error('discarded'));
    await this.deps.persist({ delete: [clientMsgId] });
  }

  /** Starts sending now (after adding; on reconnect with `fresh`, which also restarts the backoff). */
  kick(fresh = false): void {
    if (fresh) this.failures = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running && !this.stopped) void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private wait(clientMsgId: string): Promise<Message> {
    const promise = new Promise<Message>((resolve, reject) => {
      const list = this.waiters.get(clientMsgId) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(clientMsgId, list);
    });
    // The UI need not await a send: an unawaited failure must not become an unhandled rejection.
    promise.catch(() => {});
    return promise;
  }

  private settle(clientMsgId: string, message?: Message, error?: unknown) {
    const list = this.waiters.get(clientMsgId) ?? [];
    this.waiters.delete(clientMsgId);
    for (const w of list) message ? w.resolve(message) : w.reject(error);
  }

  private async run() {
    this.running = true;
    try {
      for (;;) {
        if (this.stopped) return;
        const item = this.pending.find((i) => !i.failed);
        if (!item) return;
        try {
          const message = await this.deps.send(item);
          this.failures = 0;
          this.items.delete(item.client_msg_id);
          // A command's ephemeral preview has no client_msg_id: it takes the place of the pending message.
          const confirmed = message.client_msg_id
            ? message
            : { ...message, client_msg_id: item.client_msg_id };
          if (!this.stopped) this.deps.store.dispatch({ type: 'rest/message', message: confirmed });
          await this.deps.persist({ delete: [item.client_msg_id] });
          this.settle(item.client_msg_id, message);
        } catch (error) {
          if (isRetryable(error)) {
            this.failures++;
            // Backoff with full jitter; a reconnect kicks the queue sooner.
            const ceiling = Math.min(30_000, 1000 * 2 ** Math.min(this.failures, 5));
            if (!this.stopped)
              this.timer = setTimeout(() => this.kick(), ceiling / 2 + Math.random() * (ceiling / 2));
            return;
          }
          const detail =
            error instanceof ParleyApiError
              ? { code: error.code, message: error.message }
              : { code: 'INTERNAL', message: String((error as Error)?.message ?? error) };
          const failed: OutboxItem = { ...item, failed: true, error: detail };
          this.items.set(item.client_msg_id, failed);
          this.deps.store.dispatch({
            type: 'local/message.failed',
            cid: item.cid,
            client_msg_id: item.client_msg_id,
            error: detail,
          });
          await this.deps.persist({ put: [failed] });
          this.settle(item.client_msg_id, undefined, error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
