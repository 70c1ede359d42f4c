// One decode step's attention of one layer at depth, dense vs InfLLM v2 (MiniCPM4's defaults:
// 64-token blocks, top-64, 2048-token local window, dense below 8192), Qwen2.5-0.5B's attention
// shape (14 query heads, 2 KV heads of 64) over an f16 and a q8_0 cache; InfLLM v2's time includes
// its block selection (compressed-key scores, pooling, top-k). CPU time (process.cpuUsage) of one
// thread, medians of interleaved rounds, so other processes on a loaded machine slow the wall
// clock, not this. Random keys: the selection's cost, not its quality (see eval ppl for that).
//   node bench/kv/sparse.mjs [--depths 4096,16384] [--rounds 5] [--types f16,q8_0]
// Run after `npm run build`.

import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { createKVStore } from '../../dist/src/runtime/kv/index.js';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const depths = arg('--depths', '4096,16384').split(',').map(Number);
const rounds = Number(arg('--rounds', '5'));
const types = arg('--types', 'f16,q8_0').split(',');
const nHead = 14, nHeadKv = 2, headDim = 64;
const shape = { nHead, nHeadKv, headDim, headDimV: headDim, scale: 0.125 };
const k = await WasmKernels.create({ threads: 1 });
const nCtx = Math.max(...depths) + 1;
let seed = 1;
const rnd = (n) => { const a = k.allocF32(n); for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; a[i] = (seed / 2 ** 32 - 0.5) * 2; } return a; };
const q = rnd(nHead * headDim), out = k.allocF32(nHead * headDim);
const chunk = 512, kv = rnd(chunk * nHeadKv * headDim);
const runs = [];
for (const t of types) {
  for (const sparse of [false, true]) {
    const s = createKVStore(sparse ? { k: t, infllm2: true } : t, k, { nLayer: 1, nCtx, nHeadKv, headDim, headDimV: headDim });
    for (let p = 0; p < nCtx; p += chunk) s.append(0, p, kv, kv, Math.min(chunk, nCtx - p));
    runs.push({ name: `${t}${sparse ? ' + InfLLM v2' : ' dense'}`, s });
  }
}
const samples = new Map();
for (let r = 0; r < rounds; r++) {
  for (const d of depths) {
    for (const run of runs) {
      const reps = Math.max(2, Math.round(40 * 4096 / d));
      run.s.attend(0, q, 1, d, shape, out);
      const t0 = process.cpuUsage();
      for (let i = 0; i < reps; i++) run.s.attend(0, q, 1, d, shape, out);
      const t = process.cpuUsage(t0);
      const key = `${run.name}|${d}`;
      (samples.get(key) ?? samples.set(key, []).get(key)).push((t.user + t.system) / 1000 / reps);
    }
  }
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
console.log(`# ${k.name}; one decode step's attention at depth d, one layer, 14/2 heads of 64; CPU ms (median of ${rounds} rounds)`);
console.log(`| cache | ${depths.map((d) => `d${d} ms/layer | x dense`).join(' | ')} |`);
console.log(`| --- | ${depths.map(() => '---: | ---:').join(' | ')} |`);
for (const run of runs) {
  const cells = depths.map((d) => {
    const m = median(samples.get(`${run.name}|${d}`));
    const base = median(samples.get(`${run.name.replace(' + InfLLM v2', ' dense')}|${d}`));
    return `${m.toFixed(3)} | ${(m / base).toFixed(2)}`;
  });
  console.log(`| ${run.name} | ${cells.join(' | ')} |`);
}
k.dispose();
