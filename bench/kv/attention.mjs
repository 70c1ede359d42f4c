// One decode step's attention of one layer over a KV cache of each type, Qwen2.5-0.5B's shape
// (14 query heads, 2 KV heads, head size 64), at several depths: the WebAssembly kernels (dense
// f32/f16 stores: Kernels.attention; every other type: Kernels.attentionQuant) and the TypeScript
// reference the quantized caches ran on before. CPU time (process.cpuUsage) of one thread, medians
// over interleaved rounds, so other processes on a loaded machine slow the wall clock, not this.
//   node bench/kv/attention.mjs [--depths 512,2048,4096] [--rounds 7] [--flavor relaxed|simd|plain]
// Run after `npm run build`.

import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { RefKernels } from '../../dist/src/kernels/ref/index.js';
import { weightBytes } from '../../dist/src/quant/types.js';
import { KV_CACHE_TYPES, kvCacheFormat } from '../../dist/src/runtime/kv/cache-types.js';
import { f32ToF16 } from '../../dist/src/core/f16.js';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const depths = arg('--depths', '512,2048,4096').split(',').map(Number);
const rounds = Number(arg('--rounds', '7'));
const flavor = arg('--flavor', undefined);
const nHead = 14, nHeadKv = 2, headDim = 64, nLayer = 24;
const k = await WasmKernels.create({ threads: 1, flavor });
const ref = new RefKernels();
const nCtx = Math.max(...depths) + 1;
let seed = 1;
const rnd = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; a[i] = (seed / 2 ** 32 - 0.5) * 2; } return a; };
const q = k.allocF32(nHead * headDim); q.set(rnd(q.length));
const out = k.allocF32(nHead * headDim);
const keys = rnd(nCtx * nHeadKv * headDim), values = rnd(nCtx * nHeadKv * headDim);

/** A function running one attention step at depth d, per setting. */
const runs = [];
for (const t of KV_CACHE_TYPES) {
  const f = kvCacheFormat(t);
  const rowBytes = (nHeadKv * headDim / f.format.blockSize) * f.format.typeSize;
  const kb = weightBytes(k.allocBytes(nCtx * rowBytes)), vb = weightBytes(k.allocBytes(nCtx * rowBytes));
  f.write(keys, 0, kb.data, 0, keys.length); f.write(values, 0, vb.data, 0, values.length);
  const p = { nHead, nHeadKv, headDim, headDimV: headDim, scale: 0.125, kFormat: f.format, vFormat: f.format, kRowBytes: rowBytes, vRowBytes: rowBytes, spans: null, spanCount: null, spanStride: 0 };
  runs.push({ name: `${t} (packed, wasm)`, fn: (d) => k.attentionQuant(q, kb, vb, 1, d, p, out) });
  if (t === 'q8_0' || t === 'q4_0') runs.push({ name: `${t} (packed, TypeScript reference)`, ref: true, fn: (d) => ref.attentionQuant(q, kb, vb, 1, d, p, out) });
}
{
  // The dense stores: f32 values, and f16 halves (the default cache).
  const kf = k.allocF32(keys.length), vf = k.allocF32(values.length);
  kf.set(keys); vf.set(values);
  const half = (src) => { const b = k.allocBytes(src.length * 2); const h = new Uint16Array(b.buffer, b.byteOffset, src.length); src.forEach((x, i) => { h[i] = f32ToF16(x); }); return h; };
  const kh = half(keys), vh = half(values);
  const p = { nHead, nHeadKv, headDim, headDimV: headDim, scale: 0.125 };
  runs.push({ name: 'f32 (dense, wasm)', fn: (d) => k.attention(q, kf, vf, 1, d, { ...p, f16: false }, out) });
  runs.push({ name: 'f16 (dense, wasm; the default store)', fn: (d) => k.attention(q, kh, vh, 1, d, { ...p, f16: true }, out) });
}

function cpuMs(fn, d, reps) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) fn(d);
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000 / reps;
}

const samples = new Map();
for (let r = 0; r < rounds; r++) {
  for (const d of depths) {
    for (const run of runs) {
      if (run.ref && (d > 2048 || r >= 3)) continue; // the reference is slow: three rounds, up to 2048
      const reps = Math.max(1, Math.round((run.ref ? 40 : 400) * 512 / d));
      run.fn(d); // warm
      const key = `${run.name}|${d}`;
      (samples.get(key) ?? samples.set(key, []).get(key)).push(cpuMs(run.fn, d, reps));
    }
  }
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
console.log(`# ${k.name}; one decode step's attention, one layer, 14/2 heads of 64; CPU ms (median of ${rounds} interleaved rounds)`);
console.log(`| cache | ${depths.map((d) => `depth ${d}: ms/layer | ms/token (x${nLayer})`).join(' | ')} |`);
console.log(`| --- | ${depths.map(() => '---: | ---:').join(' | ')} |`);
for (const run of runs) {
  const cells = depths.map((d) => { const s = samples.get(`${run.name}|${d}`); return s ? `${median(s).toFixed(3)} | ${(median(s) * nLayer).toFixed(1)}` : '- | -'; });
  console.log(`| ${run.name} | ${cells.join(' | ')} |`);
}
k.dispose();
