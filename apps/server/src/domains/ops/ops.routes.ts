import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type DatabaseHandle, pingDatabase } from '../../platform/db.js';
import type { Metrics } from '../../platform/metrics.js';
import { migrationsAreCurrent } from '../../platform/migrate.js';

const Health = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.boolean()).optional(),
});

export const opsRoutes =
  (database: DatabaseHandle, metrics: Metrics): FastifyPluginAsyncZod =>
  async (app) => {
    const tags = ['ops'];
    app.get('/health/live', { schema: { tags, response: { 200: Health } } }, async () => ({
      status: 'ok' as const,
    }));

    app.get(
      '/health/ready',
      { schema: { tags, response: { 200: Health, 503: Health } } },
      async (_req, reply) => {
        const database_reachable = await pingDatabase(database.db);
        const migrations_current =
          database_reachable && (await migrationsAreCurrent(database.db).catch(() => false));
        const ok = database_reachable && migrations_current;
        reply.status(ok ? 200 : 503);
        return {
          status: ok ? ('ok' as const) : ('unavailable' as const),
          checks: { database_reachable, migrations_current },
        };
      },
    );

    app.get('/metrics', { schema: { tags, hide: true } }, async (_req, reply) => {
      if (database.pool) {
        metrics.dbPool.set({ state: 'total' }, database.pool.totalCount);
        metrics.dbPool.set({ state: 'idle' }, database.pool.idleCount);
        metrics.dbPool.set({ state: 'waiting' }, database.pool.waitingCount);
      }
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  };
