import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestServer,
  type TestApp,
  type TestServer,
} from '../../../apps/server/src/test-support/harness.js';

/**
 * The package as users get it: the built files (ESM and CommonJS) through its `exports` map, run by
 * plain Node in a child process (no vitest aliases), and the browser bundle's size and imports.
 */
const run = promisify(execFile);
const sdkDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const BUILT = ['dist/index.js', 'dist/cjs/index.js', 'dist/stores/dexie.js', 'dist/cjs/stores/dexie.js'];

let server: TestServer;
let app: TestApp;
let baseUrl: string;

beforeAll(async () => {
  const missing = BUILT.filter((f) => !existsSync(`${sdkDir}/${f}`));
  if (missing.length > 0)
    throw new Error(`@parley/sdk is not built (${missing.join(', ')}): run npm run build (npm test does it)`);
  server = await createTestServer();
  baseUrl = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
  app = await server.createApp();
  await app.server.post('/users', { users: [{ id: 'alice' }, { id: 'bob' }] });
  const res = await app.server.post('/channels', {
    type: 'messaging',
    id: 'built',
    members: ['alice', 'bob'],
    created_by: 'alice',
  });
  expect(res.status).toBe(201);
});
afterAll(() => server?.close());

/** Connects with the built client, sends one message, prints what the store and exports show. */
const program = (load: string) => `
${load}
const WebSocket = require('ws');
(async () => {
  const { ParleyClient, selectMessages, MemoryStore } = sdk;
  const client = new ParleyClient(process.env.KEY, { baseUrl: process.env.URL, WebSocket, store: new MemoryStore() });
  await client.connectUser({ id: 'alice' }, process.env.TOKEN);
  const channel = client.channel('messaging', 'built');
  await channel.watch();
  const sent = await channel.sendMessage({ text: process.env.TEXT });
  const shown = selectMessages(client.store.getState(), channel.cid).map((m) => m.text + ':' + m.status);
  await client.disconnectUser();
  console.log(JSON.stringify({
    exports: Object.keys(sdk).sort(),
    dexie: typeof dexie.DexieStore,
    sent: sent.text,
    shown,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function runBuilt(kind: 'esm' | 'cjs', text: string) {
  const source =
    kind === 'cjs'
      ? program(`const sdk = require('@parley/sdk'); const dexie = require('@parley/sdk/dexie');`)
      : program(`
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const sdk = await import('@parley/sdk'); const dexie = await import('@parley/sdk/dexie');`);
  const args = kind === 'cjs' ? ['-e', source] : ['--input-type=module', '-e', source];
  const { stdout } = await run(process.execPath, args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      KEY: app.apiKey,
      URL: baseUrl,
      TOKEN: await app.token('alice'),
      TEXT: text,
    },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    exports: string[];
    dexie: string;
    sent: string;
    shown: string[];
  };
}

describe('@parley/sdk as built', () => {
  it('works through its exports map from ESM (import) and CommonJS (require), with the same API', async () => {
    const esm = await runBuilt('esm', 'from ESM');
    const cjs = await runBuilt('cjs', 'from CJS');
    expect(esm.sent).toBe('from ESM');
    expect(cjs.sent).toBe('from CJS');
    expect(cjs.shown).toEqual(['from ESM:sent', 'from CJS:sent']);
    expect(esm.dexie).toBe('function');
    expect(cjs.dexie).toBe('function');
    expect(cjs.exports).toEqual(esm.exports);
    expect(esm.exports).toEqual(
      expect.arrayContaining(['ParleyClient', 'ParleyApiError', 'MemoryStore', 'Store', 'reduce']),
    );
  });

  it('stays within its size budget, tree-shakes, and has no Node built-ins in the browser bundles', async () => {
    const { stdout } = await run(process.execPath, ['scripts/size.mjs', '--json'], {
      cwd: sdkDir,
      timeout: 120_000,
    });
    const rows = JSON.parse(stdout) as {
      name: string;
      gzip: number;
      budget: number;
      nodeImports: string[];
    }[];
    expect(rows.map((r) => r.name)).toContain('@parley/sdk');
    for (const row of rows) {
      expect({ name: row.name, nodeImports: row.nodeImports }).toEqual({ name: row.name, nodeImports: [] });
      expect(row.gzip, row.name).toBeLessThanOrEqual(row.budget);
    }
    // Tree-shaking: the reducers alone are a fraction of the whole SDK.
    const whole = rows.find((r) => r.name === '@parley/sdk')!.gzip;
    const reducersOnly = rows.find((r) => r.name.startsWith('{ reduce'))!.gzip;
    expect(reducersOnly * 4).toBeLessThan(whole);
  });

  it('the size check catches a Node built-in in a browser bundle', async () => {
    const probe = `
      const { measure } = await import('./scripts/size.mjs');
      const r = await measure({ code: "import { readFileSync } from 'node:fs'; export const f = readFileSync;" });
      console.log(JSON.stringify(r.nodeImports));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: sdkDir });
    expect(JSON.parse(stdout)).toEqual([expect.stringMatching(/^node:fs /)]);
  });
});
