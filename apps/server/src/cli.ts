import { parseArgs } from 'node:util';
import { AppsService } from './domains/apps/apps.service.js';
import { AuthService } from './domains/auth/auth.service.js';
import { createJobSystem } from './jobs/boss.js';
import { queuePolicies, startWorkers } from './jobs/index.js';
import { openMigratedDatabase } from './platform/bootstrap.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { EventBus } from './platform/events.js';
import { createLogger } from './platform/logger.js';
import { createMetrics } from './platform/metrics.js';
import { RedisBroker } from './realtime/broker.redis.js';
import { presenceKey } from './realtime/realtime.service.js';
import { BrokerChannelWatchers } from './realtime/watchers.js';
import { seedDemo } from './seed/demo.js';
import { createServices } from './server.js';

const USAGE = `Usage: npm run parley -- <command>

  app create <name> [--dev-tokens]                      create an app; prints its api key and secret (once)
  app list                                                list apps
  app rotate-secret <name> [--grace SECONDS]              issue a new secret (old one valid for --grace)
  user token <app name> <user_id> [--expires SECONDS]     sign a user token with the app's secret
  seed demo                                               create the demo app, users and channels
  migrate                                                 apply pending migrations
  worker                                                  run the job workers (webhooks, ...) without HTTP

Uses the same configuration as the server (DATABASE_URL, PARLEY_DATA_DIR, ...).`;

async function run(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'dev-tokens': { type: 'boolean', default: false },
      grace: { type: 'string', default: '0' },
      expires: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [group, command, ...rest] = positionals;
  if (values.help || !group) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const config = loadConfig();
  const database = await openMigratedDatabase(config);
  const logger = createLogger(config);
  const jobs = createJobSystem(config, database, logger, createMetrics());
  const services = createServices(database, new EventBus(), jobs, { config, logger });
  const out = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const appByName = async (name: string | undefined) => {
    const row = name ? await services.apps.findByName(name) : undefined;
    if (!row) throw new Error(`no app named ${JSON.stringify(name)} (see: npm run parley -- app list)`);
    return row;
  };
  /** Runs every job worker until SIGINT/SIGTERM, then lets running jobs finish (graceful stop). */
  const runWorkers = async () => {
    await jobs.start(queuePolicies(config));
    // Presence (who is online, for email) lives in the realtime broker: reachable here through Redis.
    const presenceBroker = config.REDIS_URL
      ? new RedisBroker({ url: config.REDIS_URL, prefix: config.REALTIME_REDIS_PREFIX })
      : undefined;
    const presence = presenceBroker && {
      isOnline: async (appId: string, userId: string) =>
        (await presenceBroker.presenceStats(presenceKey(appId, userId))).numClients > 0,
    };
    // Who watches which channel (push skips them): also in the broker; without Redis, nobody.
    const watchers = presenceBroker && new BrokerChannelWatchers(presenceBroker);
    const workers = await startWorkers(jobs, {
      db: database.db,
      config,
      logger,
      services,
      ...(presence ? { presence } : {}),
      ...(watchers ? { watchers } : {}),
    });
    logger.info({ database: database.kind }, 'job workers running');
    process.stdout.write(`Parley workers running (database: ${database.kind})\n`);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    logger.info({ signal }, 'stopping workers: letting running jobs finish');
    await jobs.stop();
    await workers.stop();
    await presenceBroker?.close();
  };
  try {
    if (group === 'app' && command === 'create' && rest[0]) {
      const { app, api_secret } = await services.apps.create({
        name: rest[0],
        settings: { dev_tokens: values['dev-tokens'] },
      });
      out({ ...app, api_secret });
    } else if (group === 'app' && command === 'list') {
      out(await services.apps.list());
    } else if (group === 'app' && command === 'rotate-secret') {
      const row = await appByName(rest[0]);
      out(await services.apps.rotateSecret(row.id, Number(values.grace)));
    } else if (group === 'user' && command === 'token' && rest[1]) {
      const row = await appByName(rest[0]);
      const expires = values.expires ? Number(values.expires) : undefined;
      out({
        user_id: rest[1],
        token: await AuthService.signUserToken(AppsService.verificationKeys(row)[0]!, rest[1], expires),
      });
    } else if (group === 'seed' && command === 'demo') {
      const result = await seedDemo(services);
      out({
        created: result.created,
        api_key: result.app.api_key,
        api_secret: result.apiSecret ?? '(shown only when created)',
      });
    } else if (group === 'migrate') {
      out({ ok: true });
    } else if (group === 'worker') {
      await runWorkers();
    } else {
      process.stderr.write(`Unknown command: ${positionals.join(' ')}\n\n${USAGE}\n`);
      return 2;
    }
    return 0;
  } finally {
    await jobs.stop();
    await database.close();
    database.unlock();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(
      `${error instanceof ConfigError ? error.message : `Error: ${error instanceof Error ? error.message : String(error)}`}\n`,
    );
    process.exit(1);
  },
);
