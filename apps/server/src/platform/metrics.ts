import client from 'prom-client';

/** One registry per server instance, so tests can run several servers in one process. */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const events = new client.Counter({
    name: 'parley_events_total',
    help: 'Domain events published after commit, by type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const dbPool = new client.Gauge({
    name: 'parley_db_pool_connections',
    help: 'Database pool connections by state (real Postgres only)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const gauge = (name: string, help: string) => new client.Gauge({ name, help, registers: [registry] });
  const counter = (name: string, help: string) => new client.Counter({ name, help, registers: [registry] });
  /** Realtime gateway counters (the load harness reads these). */
  const realtime = {
    connections: gauge('parley_realtime_connections', 'Open WebSocket connections'),
    subscriptions: gauge('parley_realtime_subscriptions', 'Active channel subscriptions'),
    publications: counter('parley_realtime_publications_total', 'Publications sent to the broker'),
    delivered: counter('parley_realtime_delivered_total', 'Publications written to client connections'),
    dropped: counter('parley_realtime_dropped_total', 'Publications not delivered (gaps, slow clients)'),
    slowDisconnects: counter(
      'parley_realtime_slow_disconnects_total',
      'Connections closed for being too slow',
    ),
  };
  /** Durable jobs (pg-boss), by job name: what the workers of this process did. */
  const jobCounter = (name: string, help: string) =>
    new client.Counter({ name, help, labelNames: ['job'] as const, registers: [registry] });
  const jobs = {
    completed: jobCounter('parley_jobs_completed_total', 'Jobs that ran to completion'),
    failed: jobCounter('parley_jobs_failed_total', 'Job attempts that failed (retried or dead-lettered)'),
    retried: jobCounter('parley_jobs_retried_total', 'Failed job attempts that will be retried'),
    deadLettered: jobCounter(
      'parley_jobs_dead_lettered_total',
      'Jobs that failed their last attempt and went to the dead-letter queue',
    ),
    duration: new client.Histogram({
      name: 'parley_job_duration_seconds',
      help: 'Job attempt duration by job name',
      labelNames: ['job'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
  return { registry, httpDuration, events, dbPool, realtime, jobs };
}

export type Metrics = ReturnType<typeof createMetrics>;
