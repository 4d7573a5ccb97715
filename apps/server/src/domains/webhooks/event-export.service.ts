import type { ParleyEvent } from '@parley/protocol';
import type { JobSystem } from '../../jobs/boss.js';
import type { Config } from '../../platform/config.js';
import type { Tx } from '../../platform/db.js';

/**
 * Event export to message brokers (docs/webhooks.md#event-export): when AMQP_URL and/or NATS_URL
 * are set, every committed event also goes to RabbitMQ and/or NATS. The outbox: one
 * `events.export` job per target, inserted in the write's transaction, so an event is exported if
 * and only if its write commits, and retried until the broker takes it (at least once; consumers
 * dedup by event id, carried as the AMQP messageId and the NATS `Nats-Msg-Id` header).
 */
export class EventExportService {
  constructor(
    private readonly jobs: JobSystem,
    private readonly config: Pick<Config, 'AMQP_URL' | 'NATS_URL'>,
  ) {}

  /** The configured targets. */
  get targets(): ('amqp' | 'nats')[] {
    return [
      ...(this.config.AMQP_URL ? ['amqp' as const] : []),
      ...(this.config.NATS_URL ? ['nats' as const] : []),
    ];
  }

  async enqueue(tx: Tx, events: readonly ParleyEvent[], afterCommit: (callback: () => void) => void) {
    const targets = this.targets;
    if (targets.length === 0 || events.length === 0) return;
    await this.jobs.sendMany(
      tx,
      'events.export',
      targets.map((target) => ({
        data: { target, events: events as unknown as { id: string; type: string; app_id: string }[] },
        // The same events recorded twice (a retried consumer) export once.
        idempotencyKey: `${target}:${events[0]!.id}:${events.length}`,
      })),
    );
    afterCommit(() => this.jobs.wake('events.export'));
  }
}
