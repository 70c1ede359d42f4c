// What one core gives WebAssembly's relaxed integer dot product, with no memory traffic: a loop of
// i32x4.relaxed_dot_i8x16_i7x16_add_s on registers, in N independent chains (throughput; on x64 V8
// with VNNI each is one vpdpbusd) and in one chain (latency), as GMAC/s (16 byte products a dot) and
// dots per ns. The kernels' GMAC/s (bench/kernels/gemv.mjs) read against it say how far a kernel is
// from the dot unit's limit rather than from the memory's. Compiles a small AssemblyScript module
// with the repository's asc at run time (nothing of it ships). Medians over rounds of wall and CPU time.
// --threads N (N > 1) also runs the 12-chain loop on N worker threads at once: their sum against one
// thread's says whether the threads have a dot unit each (N x) or share one core's (about 1x: SMT
// siblings, or vCPUs the host places on one core), which bounds how far threads can scale kernels
// that are limited by instructions rather than by memory.
//   node bench/kernels/dot-peak.mjs [--iters 20000000] [--rounds 7] [--threads 2]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values: opt } = parseArgs({ options: { iters: { type: 'string', default: '20000000' }, rounds: { type: 'string', default: '7' }, threads: { type: 'string', default: '1' } } });
const iters = Number(opt.iters), rounds = Number(opt.rounds), threads = Number(opt.threads);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${opt.threads}`);
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

// chains(n): n accumulators, each step one dot per accumulator; the operands vary per chain so V8 cannot merge them.
const chains = (n) => `
export function chains${n}(iters: i32, seed: i32): i32 {
  const a = i8x16.splat(<i8>seed), b = i8x16.splat(<i8>(seed + 3));
  ${Array.from({ length: n }, (_, i) => `let c${i} = i32x4.splat(${i} + seed);`).join(' ')}
  for (let i = 0; i < iters; i++) {
    ${Array.from({ length: n }, (_, i) => `c${i} = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, c${i});`).join(' ')}
  }
  let s = c0;
  ${Array.from({ length: n - 1 }, (_, i) => `s = i32x4.add(s, c${i + 1});`).join(' ')}
  return i32x4.extract_lane(s, 0);
}`;
const N = [1, 4, 8, 12];
const dir = mkdtempSync(join(tmpdir(), 'lutra-dot-peak-'));
let wasm;
try {
  writeFileSync(join(dir, 'peak.ts'), N.map(chains).join('\n'));
  execFileSync(process.execPath, [join(root, 'node_modules/assemblyscript/bin/asc.js'), join(dir, 'peak.ts'), '-o', join(dir, 'peak.wasm'), '-O3', '--runtime', 'stub', '--enable', 'simd,relaxed-simd'], { stdio: 'inherit' });
  wasm = readFileSync(join(dir, 'peak.wasm'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const { instance } = await WebAssembly.instantiate(wasm, { env: { abort() { throw new Error('abort'); } } });
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
const res = new Map(N.map((n) => [n, { wall: [], cpu: [] }]));
for (const n of N) instance.exports[`chains${n}`](100000, 1); // tier up
for (let r = 0; r < rounds; r++) {
  for (const n of N) {
    const f = instance.exports[`chains${n}`];
    const it = Math.max(1, Math.floor(iters / n));
    const u0 = process.cpuUsage(), t0 = performance.now();
    f(it, r + 1);
    const wall = performance.now() - t0, u = process.cpuUsage(u0);
    res.get(n).wall.push(wall / (it * n)); res.get(n).cpu.push(((u.user + u.system) / 1000) / (it * n));
  }
}
console.log(`relaxed dot on registers, 1 thread, median of ${rounds} rounds of ${iters} dots; ${cpus()[0].model}, Node ${process.version}, load ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`);
console.log('| chains | ns/dot (wall) | dots/ns (wall) | GMAC/s (wall) | GMAC/s (CPU) |');
console.log('|---:|---:|---:|---:|---:|');
for (const n of N) {
  const w = median(res.get(n).wall), c = median(res.get(n).cpu);
  console.log(`| ${n} | ${(w * 1e6).toFixed(3)} | ${(1 / (w * 1e6)).toFixed(2)} | ${(16 / (w * 1e6)).toFixed(1)} | ${(16 / (c * 1e6)).toFixed(1)} |`);
}

if (threads > 1) {
  // Each worker instantiates the same module, tiers it up, waits at a shared start flag, then runs
  // the 12-chain loop; the round's figure is the dots of all threads over the slowest one's time.
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { wasm, flag, it } = workerData;
    WebAssembly.instantiate(wasm, { env: { abort() { throw new Error('abort'); } } }).then(({ instance }) => {
      const f = instance.exports.chains12, c = new Int32Array(flag);
      f(100000, 1);
      parentPort.on('message', (r) => {
        Atomics.add(c, 1, 1);
        while (Atomics.load(c, 0) !== r) {}
        const t0 = performance.now();
        f(it, r + 1);
        parentPort.postMessage(performance.now() - t0);
      });
      parentPort.postMessage('ready');
    });`;
  const it = Math.max(1, Math.floor(iters / 12));
  const flag = new SharedArrayBuffer(8), c = new Int32Array(flag);
  const ws = Array.from({ length: threads }, () => new Worker(src, { eval: true, workerData: { wasm, flag, it } }));
  await Promise.all(ws.map((w) => new Promise((ok) => w.once('message', ok))));
  const sums = [];
  for (let r = 1; r <= rounds; r++) {
    Atomics.store(c, 1, 0);
    const done = ws.map((w) => new Promise((ok) => w.once('message', ok)));
    for (const w of ws) w.postMessage(r);
    while (Atomics.load(c, 1) !== threads) await new Promise((ok) => setTimeout(ok, 1));
    Atomics.store(c, 0, r);
    const ms = await Promise.all(done);
    sums.push((threads * it * 12 * 16) / (Math.max(...ms) * 1e6));
  }
  await Promise.all(ws.map((w) => w.terminate()));
  const one = 16 / (median(res.get(12).wall) * 1e6);
  const all = median(sums);
  console.log(`\n${threads} threads at once, 12 chains each: ${all.toFixed(1)} GMAC/s in all (median of ${rounds} rounds) = ${(all / one).toFixed(2)}x one thread's ${one.toFixed(1)}`);
}
