// Kernel-level decode GEMV (one token) and small batches, one thread: Q4_0 and Q8_0 in the four-row
// layout built at load (assembly/rows4.ts) beside the row layout it replaces and, for Q4_0, the
// table-lookup kernels; GMAC/s and weight GB/s beside a WebAssembly read-bandwidth loop over a
// buffer of the same size. Rounds visit every case in turn (machine drift hits all alike); each
// figure is the median over rounds, of wall time and of the process's CPU time (on a machine
// shared with other work, CPU time is the closer estimate of what one free core does).
//   node bench/kernels/gemv.mjs [--shapes 4864x896,8960x1536] [--types Q4_0,Q8_0] [--tokens 1,4] [--reps 15] [--layouts four-row,row layout,lut,read loop] [--json]
import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { quantFormat, ggmlTypeByName } from '../../dist/src/quant/table.js';
import { weightBytes } from '../../dist/src/quant/types.js';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const { values: a } = parseArgs({ options: { shapes: { type: 'string', default: '4864x896,8960x1536' }, types: { type: 'string', default: 'Q4_0,Q8_0' }, tokens: { type: 'string', default: '1,4' }, reps: { type: 'string', default: '15' }, json: { type: 'boolean', default: false }, flavor: { type: 'string' }, layouts: { type: 'string', default: 'four-row,row layout,lut,read loop' } } });
const wanted = new Set(a.layouts.split(','));
const reps = Number(a.reps), tokens = a.tokens.split(',').map(Number);

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];

/** A v128.load loop summing a buffer (the read bandwidth one thread gets from WebAssembly). */
async function readLoop() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
  const tmp = mkdtempSync(join(tmpdir(), 'lutra-bw-'));
  writeFileSync(join(tmp, 'bw.ts'), `export function read(p: usize, n: i32): i32 {
  let a = i32x4.splat(0), b = i32x4.splat(0), c = i32x4.splat(0), d = i32x4.splat(0);
  for (let i = 0; i < n; i += 64) { const q = p + <usize>i; a = i32x4.add(a, v128.load(q)); b = i32x4.add(b, v128.load(q, 16)); c = i32x4.add(c, v128.load(q, 32)); d = i32x4.add(d, v128.load(q, 48)); }
  const s = i32x4.add(i32x4.add(a, b), i32x4.add(c, d));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}`);
  execFileSync(process.execPath, [join(root, 'node_modules/assemblyscript/bin/asc.js'), join(tmp, 'bw.ts'), '-o', join(tmp, 'bw.wasm'), '-O3', '--runtime', 'stub', '--enable', 'simd', '--importMemory', '--initialMemory', '1'], { stdio: 'ignore' });
  const bytes = readFileSync(join(tmp, 'bw.wasm'));
  rmSync(tmp, { recursive: true, force: true });
  return bytes;
}

const k = await WasmKernels.create({ threads: 1, matmul: 'dequant', flavor: a.flavor });
const lutK = await WasmKernels.create({ threads: 1, matmul: 'lut', flavor: a.flavor });
const bwMem = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
const bw = new WebAssembly.Instance(new WebAssembly.Module(await readLoop()), { env: { memory: bwMem } }).exports;
const cases = [];
for (const shape of a.shapes.split(',')) {
  const [N, K] = shape.split('x').map(Number);
  for (const type of a.types.split(',')) {
    const fmt = quantFormat(ggmlTypeByName(type).id);
    const rowBytes = (K / fmt.blockSize) * fmt.typeSize;
    const make = (kk, layout) => {
      const data = kk.allocBytes(N * rowBytes);
      const f = new Float32Array(K);
      for (let r = 0; r < N; r++) { for (let i = 0; i < K; i++) f[i] = rnd() * 2 - 1; fmt.quantize(f, 0, data, r * rowBytes, K); }
      const w = { name: `${type} ${shape}`, format: fmt, rows: N, cols: K, rowBytes, ...weightBytes(data) };
      if (layout !== 'row layout') kk.prepareWeights([w]);
      return w;
    };
    const layouts = [['four-row', k], ['row layout', k], ...(fmt.lut ? [['lut', lutK]] : [])].filter(([l]) => wanted.has(l));
    for (const [layout, kk] of layouts) {
      const w = make(kk, layout);
      for (const nTok of tokens) {
        const x = kk.allocF32(K * nTok), y = kk.allocF32(N * nTok);
        for (let i = 0; i < K * nTok; i++) x[i] = rnd() * 2 - 1;
        cases.push({ shape, type, layout, nTok, N, K, bytes: N * rowBytes, run: () => kk.matmul(w, x, nTok, y), t: [], cpu: [] });
      }
    }
    // The read loop over a buffer of the weights' size.
    const need = 65536 + N * rowBytes;
    if (bwMem.buffer.byteLength < need) bwMem.grow(Math.ceil((need - bwMem.buffer.byteLength) / 65536));
    // Written, so that the pages are real memory and not the shared zero page.
    new Uint8Array(bwMem.buffer).fill(1);
    if (wanted.has('read loop')) cases.push({ shape, type, layout: 'read loop', nTok: 0, N, K, bytes: N * rowBytes, run: () => bw.read(65536, N * rowBytes & ~63), t: [], cpu: [] });
  }
}
for (const c of cases) for (const t0 = performance.now(); performance.now() - t0 < 200;) c.run();
const batch = 10;
for (let r = 0; r < reps; r++) {
  for (const c of cases) {
    const t0 = performance.now(), u0 = process.cpuUsage();
    for (let i = 0; i < batch; i++) c.run();
    c.t.push((performance.now() - t0) / batch);
    const u = process.cpuUsage(u0);
    c.cpu.push((u.user + u.system) / 1000 / batch);
  }
}
k.dispose(); lutK.dispose();
const rows = cases.map((c) => {
  const ms = median(c.t), cpuMs = median(c.cpu);
  const macs = c.N * c.K * c.nTok;
  return { shape: c.shape, type: c.type, layout: c.layout, nTok: c.nTok, ms, cpuMs, gmacs: c.nTok ? macs / ms / 1e6 : null, gmacsCpu: c.nTok ? macs / cpuMs / 1e6 : null, gbs: c.bytes / ms / 1e6, gbsCpu: c.bytes / cpuMs / 1e6 };
});
const cpu = os.cpus()[0]?.model ?? 'unknown';
if (a.json) console.log(JSON.stringify({ cpu, node: process.version, flavor: k.flavor, reps, rows }, null, 2));
else {
  console.log(`GEMV, 1 thread, wasm-${k.flavor}, median of ${reps} interleaved rounds of ${batch} calls; ${cpu}, Node ${process.version}, load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
  console.log('| shape (rows x cols) | type | kernel | tokens | wall ms | GMAC/s (wall) | GB/s (wall) | CPU ms | GMAC/s (CPU) | GB/s (CPU) |\n|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.shape} | ${r.type} | ${r.layout} | ${r.nTok || '-'} | ${r.ms.toFixed(3)} | ${r.gmacs?.toFixed(2) ?? '-'} | ${r.gbs.toFixed(2)} | ${r.cpuMs.toFixed(3)} | ${r.gmacsCpu?.toFixed(2) ?? '-'} | ${r.gbsCpu.toFixed(2)} |`);
}
