// Builds @parley/sdk: ESM + type declarations with tsc (dist/), then a CommonJS copy with esbuild
// (dist/cjs/, one file per module, so bundlers can still drop what an app does not import).
// Usage: node packages/sdk/scripts/build.mjs [--skip-tsc]   (the root `npm run build` passes --skip-tsc
// after its own `tsc -b`).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
const dist = join(root, 'dist');
const cjs = join(dist, 'cjs');

if (!process.argv.includes('--skip-tsc')) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', root], { stdio: 'inherit' });
}

/** Library sources: no tests, no test support. */
export function sources(dir = src) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test-support') out.push(...sources(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

rmSync(cjs, { recursive: true, force: true });
await build({
  entryPoints: sources(),
  outdir: cjs,
  outbase: src,
  format: 'cjs',
  platform: 'neutral',
  target: 'es2022',
  bundle: false,
  sourcemap: true,
  logLevel: 'warning',
});
// The package is "type": "module"; this folder's .js files are CommonJS.
writeFileSync(join(cjs, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
// The declarations are the same for both formats; under dist/cjs they describe CommonJS modules.
const copyDeclarations = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== cjs) copyDeclarations(path);
    } else if (entry.name.endsWith('.d.ts')) {
      const target = join(cjs, relative(dist, path));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target);
    }
  }
};
copyDeclarations(dist);
console.log(
  `@parley/sdk built: ${relative(process.cwd(), dist)} (ESM), ${relative(process.cwd(), cjs)} (CJS)`,
);
