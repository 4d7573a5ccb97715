import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../platform/config.js';
import { openDatabase } from '../platform/db.js';
import { createLogger } from '../platform/logger.js';
import { buildServer } from '../server.js';

/**
 * Writes docs/openapi.json from the zod route schemas, or with --check fails when the checked-in
 * document differs from what the code generates (CI's drift check).
 */
const target = fileURLToPath(new URL('../../../../docs/openapi.json', import.meta.url));
const config = loadConfig({ ...process.env, DATABASE_URL: '', LOG_LEVEL: 'silent', REDIS_URL: '' });
const database = await openDatabase(config, { inMemory: true });
const parley = await buildServer(config, database, createLogger(config));
const generated = `${JSON.stringify(parley.http.swagger(), null, 2)}\n`;
await parley.close();
await database.close();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== generated) {
    process.stderr.write('docs/openapi.json is out of date: run `npm run openapi` and commit the result.\n');
    process.exit(1);
  }
  process.stdout.write('docs/openapi.json is up to date.\n');
} else {
  writeFileSync(target, generated);
  process.stdout.write(`wrote ${target}\n`);
}
