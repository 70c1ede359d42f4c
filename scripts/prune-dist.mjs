// Deletes compiled files in dist/src/ whose TypeScript source is gone (a renamed or removed module),
// so that `npm pack` ships only what the sources build. tsc never deletes outputs itself; a clean
// rebuild would, but dist/ is shared by whatever else is running. The web bundle (dist/src/web/static,
// esbuild's) is left alone. Usage: node scripts/prune-dist.mjs [--dry-run]
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const dryRun = process.argv.includes('--dry-run');
const OUTPUT = /\.(js|d\.ts|js\.map|d\.ts\.map)$/;

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (p !== join(DIST, 'src/web/static')) yield* walk(p); } else yield p;
  }
}

let removed = 0;
if (existsSync(join(DIST, 'src'))) {
  for (const f of walk(join(DIST, 'src'))) {
    if (!OUTPUT.test(f)) continue;
    const source = join(ROOT, relative(DIST, f).replace(OUTPUT, '.ts'));
    if (existsSync(source)) continue;
    process.stdout.write(`${dryRun ? 'would remove' : 'removed'} ${relative(ROOT, f)} (no ${relative(ROOT, source)})\n`);
    if (!dryRun) rmSync(f);
    removed++;
  }
}
if (removed === 0) process.stdout.write('dist: nothing stale\n');
