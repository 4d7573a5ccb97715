import { AuthService } from './domains/auth/auth.service.js';
import { openMigratedDatabase } from './platform/bootstrap.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { createLogger } from './platform/logger.js';
import { seedDemo } from './seed/demo.js';
import { buildServer } from './server.js';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config);
  const database = await openMigratedDatabase(config);
  logger.info({ database: database.kind }, 'database ready, migrations applied');
  const parley = await buildServer(config, database, logger);

  let demo: Awaited<ReturnType<typeof seedDemo>> | undefined;
  if (config.PARLEY_SEED_DEMO) demo = await seedDemo(parley.services);

  const address = await parley.http.listen({ host: config.HOST, port: config.PORT });
  const url = config.PARLEY_PUBLIC_URL ?? address;
  printBanner(
    url,
    database.kind,
    demo && { ...demo, token: await AuthService.signUserToken(demo.app.secret_hash, 'alice') },
  );

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: draining requests');
    const force = setTimeout(() => {
      logger.error('shutdown took over 10 s: exiting anyway');
      database.unlock();
      process.exit(1);
    }, 10_000).unref();
    let code = 0;
    try {
      await parley.close();
      await database.close();
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      code = 1;
    } finally {
      database.unlock();
      clearTimeout(force);
      process.exit(code);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

function printBanner(
  url: string,
  kind: string,
  demo?: { app: { api_key: string }; apiSecret?: string; created: boolean; token: string },
) {
  const lines = [``, `  Parley is running at ${url}  (database: ${kind})`, `  API docs:  ${url}/docs`];
  if (demo) {
    lines.push(
      `  Demo app api key:  ${demo.app.api_key}`,
      ...(demo.apiSecret ? [`  Demo app secret:   ${demo.apiSecret}   (shown once: keep it)`] : []),
      `  Token for alice:   ${demo.token}`,
      ``,
      `  Try it:`,
      `    curl -s ${url}/channels/messaging/general/messages -H 'X-Api-Key: ${demo.app.api_key}' -H 'Authorization: Bearer ${demo.token}'`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

main().catch((error) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(
      `Parley failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
});
