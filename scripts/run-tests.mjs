// Runs every built test file (dist/test/*.test.js) under node:test with the spec reporter, on
// whichever Node runs this script. Node 20 takes a folder but not a glob; Node 22+ takes a glob
// but not a folder: an explicit file list works on both. Extra arguments pass through to node.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/test');
const files = readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(dir, f));
if (files.length === 0) {
  console.error(`no test files in ${dir}: run npm run build first`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
