// Decode attention at depth, kernel alone: one query token of the Qwen2.5-0.5B shape (14 query
// heads, 2 KV heads, head size 64) against DEPTH cached positions, f16 cache (llama.cpp's default)
// and f32, for one or more builds (folders holding dist/), rounds interleaved; medians of the
// process's CPU time per call. Reads as "ms of attention per layer and token"; a 24-layer model
// pays it 24 times a token.
//   node bench/kernels/attn-decode.mjs [--depth 4096] [--rounds 9] [--threads 1] DIR...
//   e.g. node bench/kernels/attn-decode.mjs --depth 4096 /tmp/ab/base /tmp/ab/new
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';

const { values: o, positionals: dirs } = parseArgs({ allowPositionals: true, options: { depth: { type: 'string', default: '4096' }, rounds: { type: 'string', default: '9' }, threads: { type: 'string', default: '1' }, calls: { type: 'string', default: '20' } } });
const depth = Number(o.depth), rounds = Number(o.rounds), threads = Number(o.threads), calls = Number(o.calls);
if (dirs.length === 0) dirs.push('.');
const nHead = 14, nHeadKv = 2, headDim = 64, headDimV = 64;
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216 - 0.5;

const runs = [];
for (const d of dirs) {
  const { WasmKernels } = await import(pathToFileURL(resolve(d, 'dist/src/kernels/wasm/index.js')).href);
  const { f32ToF16 } = await import(pathToFileURL(resolve(d, 'dist/src/core/f16.js')).href);
  const k = await WasmKernels.create({ threads });
  for (const f16 of [true, false]) {
    const n = (depth + 1) * nHeadKv * headDim;
    const u16 = () => { const b = k.allocBytes(n * 2); return new Uint16Array(b.buffer, b.byteOffset, n); };
    const kc = f16 ? u16() : k.allocF32(n), vc = f16 ? u16() : k.allocF32(n);
    for (let i = 0; i < n; i++) { const a = rnd(), b = rnd(); kc[i] = f16 ? f32ToF16(a) : a; vc[i] = f16 ? f32ToF16(b) : b; }
    const q = k.allocF32(nHead * headDim); for (let i = 0; i < q.length; i++) q[i] = rnd();
    const out = k.allocF32(nHead * headDimV);
    const p = { nHead, nHeadKv, headDim, headDimV, scale: 1 / 8, f16 };
    runs.push({ name: `${d} ${f16 ? 'f16' : 'f32'} cache`, call: () => k.attention(q, kc, vc, 1, depth, p, out), cpu: [], out });
  }
}
for (const r of runs) r.call();
for (let i = 0; i < rounds; i++) for (const r of runs) {
  const u0 = process.cpuUsage();
  for (let c = 0; c < calls; c++) r.call();
  const u = process.cpuUsage(u0);
  r.cpu.push((u.user + u.system) / 1000 / calls);
}
console.log(`decode attention, depth ${depth}, ${nHead} heads / ${nHeadKv} KV heads x ${headDim}, ${threads} thread(s), ${rounds} rounds of ${calls} calls; ${os.cpus()[0].model}, Node ${process.version}, load ${os.loadavg()[0].toFixed(1)}`);
for (const r of runs) console.log(`${r.name}: ${median(r.cpu).toFixed(3)} ms CPU per call (${r.cpu.map((x) => x.toFixed(2)).join(' ')})`);
