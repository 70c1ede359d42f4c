// A/B of the four-row kernels of two builds in one process: two copies of the repository's dist/
// (say, one built before a kernel change and one after, each a folder holding dist/), the same
// matrices and activations in each, cases interleaved round by round, CPU-time and wall medians,
// and whether the two builds' outputs are bit-identical. On a machine shared with other work this
// is the comparison that survives the load: both builds see the same drift.
//   node bench/kernels/ab.mjs DIR_A DIR_B SHAPES TYPES TOKENS [REPS] [THREADS]
//   e.g. node bench/kernels/ab.mjs bm/base bm/new 4864x896,896x4864 Q5_0,Q6_K,Q4_K 1,16 5
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const [distA, distB, shapes, types, tokens, repsS, threadsS] = process.argv.slice(2);
const reps = Number(repsS ?? 7), threads = Number(threadsS ?? 1);
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
const mods = [];
for (const d of [distA, distB]) {
  const { WasmKernels } = await import(pathToFileURL(resolve(d, 'dist/src/kernels/wasm/index.js')).href);
  const { quantFormat, ggmlTypeByName } = await import(pathToFileURL(resolve(d, 'dist/src/quant/table.js')).href);
  const { weightBytes } = await import(pathToFileURL(resolve(d, 'dist/src/quant/types.js')).href);
  const k = await WasmKernels.create({ threads, matmul: 'dequant' });
  mods.push({ d, k, quantFormat, ggmlTypeByName, weightBytes });
}
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
const cases = [];
for (const shape of shapes.split(',')) {
  const [N, K] = shape.split('x').map(Number);
  for (const type of types.split(',')) {
    for (const m of mods) {
      const fmt = m.quantFormat(m.ggmlTypeByName(type).id);
      if (K % fmt.blockSize) continue;
      const rowBytes = (K / fmt.blockSize) * fmt.typeSize;
      seed = 999;
      const data = m.k.allocBytes(N * rowBytes);
      const f = new Float32Array(K);
      for (let r = 0; r < N; r++) { for (let i = 0; i < K; i++) f[i] = rnd() * 2 - 1; fmt.quantize(f, 0, data, r * rowBytes, K); }
      const w = { name: `${type} ${shape}`, format: fmt, rows: N, cols: K, rowBytes, ...m.weightBytes(data) };
      m.k.prepareWeights([w]);
      for (const nTok of tokens.split(',').map(Number)) {
        const x = m.k.allocF32(K * nTok), y = m.k.allocF32(N * nTok);
        seed = 5; for (let i = 0; i < K * nTok; i++) x[i] = rnd() * 2 - 1;
        cases.push({ tag: m.d.replace(/\/$/, '').split('/').pop(), shape, type, nTok, N, K, y, run: () => m.k.matmul(w, x, nTok, y), cpu: [], wall: [] });
      }
    }
  }
}
for (const c of cases) for (const t0 = performance.now(); performance.now() - t0 < 100;) c.run();
for (let r = 0; r < reps; r++) for (const c of cases) {
  const n = Math.max(1, Math.round(30e6 / (c.N * c.K * c.nTok)));
  const t0 = performance.now(), u0 = process.cpuUsage();
  for (let i = 0; i < n; i++) c.run();
  const u = process.cpuUsage(u0);
  c.wall.push((performance.now() - t0) / n); c.cpu.push((u.user + u.system) / 1000 / n);
}
const os = await import('node:os');
console.log(`load ${os.loadavg()[0].toFixed(1)}, threads ${threads}`);
for (const c of cases) {
  const macs = c.N * c.K * c.nTok;
  const twin = cases.find((d) => d !== c && d.shape === c.shape && d.type === c.type && d.nTok === c.nTok);
  const same = twin ? c.y.every((v, i) => Object.is(v, twin.y[i])) : '-';
  console.log(`${c.tag.padEnd(8)} ${c.shape.padEnd(10)} ${c.type.padEnd(5)} t=${String(c.nTok).padEnd(3)} cpu ${median(c.cpu).toFixed(3)} ms ${(macs / median(c.cpu) / 1e6).toFixed(2)} GMAC/s  wall ${(macs / median(c.wall) / 1e6).toFixed(2)}  same=${same}`);
}
for (const m of mods) m.k.dispose();
