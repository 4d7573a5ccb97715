// The SDK's size budget: bundles each public entry point for browsers from source (esbuild,
// minified, tree-shaken, dependencies included), gzips it, and fails when a bundle is over its
// budget or pulls in a Node built-in module. Usage: npm run size -w @parley/sdk [-- --json]
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const KiB = 1024;
/**
 * What an app ships, gzipped. The main entry includes the centrifuge client (about 2/3 of it).
 * Raised once (42 → 43.5, 18 → 19.5, 6.5 → 7 KiB) for the typed methods of pins, stars,
 * reminders, scheduled messages, receipts, push/email preferences, message actions, and the
 * store's blocks, mutes, drafts, reminders, scheduled messages and stars (+2.1 KiB gzip of own
 * code); see docs/guides/sdk.md "Size". Raised again (43.5 → 46, 19.5 → 22.5 KiB) for uploads
 * with progress and cancel, optimistic file messages (+2.4 KiB gzip of own code) and the
 * persistent cache of threads, replies, mentions and the user's lists (+1.0 KiB).
 */
export const BUDGETS = [
  { name: '@parley/sdk', code: `export * from './src/index.ts';`, budget: 46 * KiB },
  // The SDK's own code: everything but centrifuge.
  {
    name: '@parley/sdk (own code)',
    code: `export * from './src/index.ts';`,
    external: ['centrifuge'],
    budget: 22.5 * KiB,
  },
  { name: '@parley/sdk/dexie', code: `export * from './src/stores/dexie.ts';`, budget: 36 * KiB },
  // Tree-shaking probe: an app that uses only the reducers must not carry the client and centrifuge.
  {
    name: '{ reduce, Store } only',
    code: `export { reduce, Store } from './src/index.ts';`,
    budget: 7 * KiB,
  },
];

export async function measure({ code, external = [] }) {
  const nodeImports = [];
  const result = await build({
    stdin: { contents: code, resolveDir: root, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
    write: false,
    minify: true,
    treeShaking: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
    external,
    plugins: [
      {
        name: 'no-node-builtins',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (!builtins.has(args.path)) return undefined;
            nodeImports.push(`${args.path} (from ${args.importer})`);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  const bytes = result.outputFiles[0].contents;
  return { minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, nodeImports };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === join(process.argv[1]);
if (isMain) {
  const rows = [];
  for (const entry of BUDGETS) rows.push({ ...entry, ...(await measure(entry)) });
  const failures = rows.filter((r) => r.gzip > r.budget || r.nodeImports.length > 0);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows.map(({ code: _c, ...r }) => r)));
  } else {
    for (const r of rows)
      console.log(
        `${r.name.padEnd(26)} ${(r.minified / 1024).toFixed(1).padStart(7)} KiB min  ${(r.gzip / 1024).toFixed(1).padStart(6)} KiB gzip  (budget ${(r.budget / 1024).toFixed(1)} KiB)${r.nodeImports.length ? `  NODE IMPORTS: ${r.nodeImports.join(', ')}` : ''}`,
      );
  }
  if (failures.length > 0) {
    console.error(`size budget failed: ${failures.map((f) => f.name).join(', ')}`);
    process.exit(1);
  }
}
