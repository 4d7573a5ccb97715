import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { connect, type NatsConnection, headers as natsHeaders } from 'nats';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { JobRun, QueuePolicy } from './boss.js';

type ExportConfig = Pick<
  Config,
  'AMQP_URL' | 'AMQP_EXCHANGE' | 'NATS_URL' | 'NATS_SUBJECT_PREFIX' | 'EVENT_EXPORT_RETRY_LIMIT'
>;

export const eventExportPolicy = (config: ExportConfig): QueuePolicy => ({
  retryLimit: config.EVENT_EXPORT_RETRY_LIMIT,
  retryDelaySeconds: 2,
  expireInSeconds: 60,
});

/** An exported event: the EventMap payload with its id, type, app and time (the webhook body). */
export interface ExportedEvent {
  id: string;
  type: string;
  app_id: string;
  [key: string]: unknown;
}

/** The body published for an event: the same JSON as a webhook body. */
export function exportBody(event: ExportedEvent): Buffer {
  const { id, type, created_at, app_id, ...payload } = event;
  return Buffer.from(JSON.stringify({ id, type, created_at, app_id, ...payload }));
}

export const amqpRoutingKey = (event: ExportedEvent) => `${event.app_id}.${event.type}`;
export const natsSubject = (prefix: string, event: ExportedEvent) =>
  `${prefix}.${event.app_id}.${event.type}`;

/**
 * Publishers of one process, connected on first use and kept; a failed connection is dropped and
 * made again by the next attempt.
 *
 * - RabbitMQ: a durable topic exchange (AMQP_EXCHANGE), routing key `<app id>.<event type>`,
 *   persistent messages with `messageId` = event id, on a confirm channel: `publish` resolves only
 *   once the broker confirmed every message (else the job fails and is retried).
 * - NATS: subject `<prefix>.<app id>.<event type>`, header `Nats-Msg-Id` = event id (JetStream
 *   streams dedup on it), then a flush (a round trip: the server has the messages).
 */
export class EventPublishers {
  private amqp: { connection: ChannelModel; channel: ConfirmChannel } | undefined;
  private nats: NatsConnection | undefined;

  constructor(
    private readonly config: ExportConfig,
    private readonly logger: Logger,
  ) {}

  async publishAmqp(events: readonly ExportedEvent[]) {
    const url = this.config.AMQP_URL;
    if (!url) throw new Error('AMQP_URL is not set');
    try {
      if (!this.amqp) {
        const connection = await amqp.connect(url);
        connection.on('error', (err) => this.logger.warn({ err }, 'AMQP connection error'));
        connection.on('close', () => {
          if (this.amqp?.connection === connection) this.amqp = undefined;
        });
        const channel = await connection.createConfirmChannel();
        channel.on('error', (err) => this.logger.warn({ err }, 'AMQP channel error'));
        await channel.assertExchange(this.config.AMQP_EXCHANGE, 'topic', { durable: true });
        this.amqp = { connection, channel };
      }
      const { channel } = this.amqp;
      for (const event of events) {
        channel.publish(this.config.AMQP_EXCHANGE, amqpRoutingKey(event), exportBody(event), {
          persistent: true,
          messageId: event.id,
          type: event.type,
          appId: 'parley',
          contentType: 'application/json',
          headers: { 'x-parley-app-id': event.app_id },
        });
      }
      await channel.waitForConfirms();
    } catch (error) {
      await this.closeAmqp();
      throw error;
    }
  }

  async publishNats(events: readonly ExportedEvent[]) {
    const url = this.config.NATS_URL;
    if (!url) throw new Error('NATS_URL is not set');
    try {
      if (!this.nats || this.nats.isClosed()) {
        this.nats = await connect({ servers: url, name: 'parley-event-export', timeout: 5000 });
      }
      for (const event of events) {
        const h = natsHeaders();
        h.set('Nats-Msg-Id', event.id);
        h.set('Parley-Event-Type', event.type);
        this.nats.publish(natsSubject(this.config.NATS_SUBJECT_PREFIX, event), exportBody(event), {
          headers: h,
        });
      }
      await this.nats.flush();
    } catch (error) {
      await this.nats?.close().catch(() => {});
      this.nats = undefined;
      throw error;
    }
  }

  async close() {
    await this.closeAmqp();
    await this.nats?.drain().catch(() => {});
    this.nats = undefined;
  }

  private async closeAmqp() {
    const current = this.amqp;
    this.amqp = undefined;
    await current?.connection.close().catch(() => {});
  }
}

/** Publishes one transaction's events to one broker; a failure throws, so the job is retried. */
export function eventExportHandler(publishers: EventPublishers) {
  return async (job: JobRun<'events.export'>) => {
    const events = job.data.events as ExportedEvent[];
    if (job.data.target === 'amqp') await publishers.publishAmqp(events);
    else await publishers.publishNats(events);
  };
}
