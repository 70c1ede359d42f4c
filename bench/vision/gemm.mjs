// The many-token products of the vision encoder alone: F16 and Q8_0 matrices of SigLIP-400M's shapes
// (1152x1152, 4304->4320x1152, 1152x4320) against 1024 tokens, and one head of its attention
// (encoderAttention, 16 heads of 72), on the wasm kernels. CPU-time medians (the machine is shared):
// GMAC/s = multiply-adds / CPU seconds of this process.
// --crossover: F16 1152x1152 through the dot products and through the GEMM at 1..64 tokens, 1 thread,
// where GEMM_MIN_TOK (kernels/ref/gemm.ts) comes from.
//   node bench/vision/gemm.mjs [--threads 1] [--runs 3] [--tokens 1024] [--types F16,Q8_0] [--crossover]

import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { randomMatrix } from '../../dist/test/kernel-helpers.js';
import { randomFloats } from '../../dist/test/helpers.js';
import { GEMM_FLAG, gemmPackedFloats, gemmScratchBytes } from '../../dist/src/kernels/ref/gemm.js';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const threads = Number(arg('--threads', '1')), runs = Number(arg('--runs', '3')), nTok = Number(arg('--tokens', '1024'));
const types = arg('--types', 'F16,Q8_0').split(',');
const k = await WasmKernels.create({ threads, matmul: 'dequant' });
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
function time(fn) {
  const cpu = [], wall = [];
  for (let r = 0; r <= runs; r++) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    fn();
    const t = performance.now() - t0, c = process.cpuUsage(c0);
    if (r > 0) { wall.push(t); cpu.push((c.user + c.system) / 1000); }
  }
  return { wall: median(wall), cpu: median(cpu) };
}
if (process.argv.includes('--crossover')) {
  // The kernel's export directly, both ways, on the same activations (rounded to f16 for the dot path).
  const e = k.k, rows = 1152, cols = 1152, w = randomMatrix(k, 'F16', rows, cols, 7);
  console.log('| tokens | dot products ms | GEMM ms (with packing) |\n|---|---|---|');
  for (const n of [1, 2, 3, 4, 8, 16, 32, 64]) {
    const x = k.allocF32(n * cols), y = k.allocF32(n * rows), xq = k.allocF32(gemmPackedFloats(cols, n)), panels = k.allocBytes(gemmScratchBytes(rows));
    x.set(randomFloats(n * cols, 8, 1));
    e.round_f16(x.byteOffset, n * cols);
    const dot = time(() => e.matmul(w.format.id, w.data.byteOffset, w.rowBytes, cols, rows, 0, rows, x.byteOffset, 0, 0, 0, y.byteOffset, n));
    const gemm = time(() => { e.gemm_pack_x(x.byteOffset, cols, cols, n, xq.byteOffset, 1); e.matmul(w.format.id | GEMM_FLAG, w.data.byteOffset, w.rowBytes, cols, rows, 0, rows, xq.byteOffset, panels.byteOffset, 0, 0, y.byteOffset, n); });
    console.log(`| ${n} | ${dot.cpu.toFixed(2)} | ${gemm.cpu.toFixed(2)} |`);
  }
  k.dispose();
  process.exit(0);
}
console.log(`| product | tokens | wall ms | CPU ms | GMAC/s by CPU |\n|---|---|---|---|---|`);
const row = (name, macs, t) => console.log(`| ${name} | ${nTok} | ${t.wall.toFixed(1)} | ${t.cpu.toFixed(1)} | ${(macs / t.cpu / 1e6).toFixed(2)} |`);
for (const type of types) {
  for (const [rows, cols] of [[1152, 1152], [4320, 1152], [1152, 4320]]) {
    const w = randomMatrix(k, type, rows, cols, 7);
    k.prepareWeights([w], { gemm: true });
    const x = k.allocF32(nTok * cols), y = k.allocF32(nTok * rows);
    x.set(randomFloats(nTok * cols, 8, 1));
    row(`${type} ${rows}x${cols}${k.inRows4(w) ? ' (four-row)' : ''}`, rows * cols * nTok, time(() => k.matmul(w, x, nTok, y)));
    k.release(x); k.release(y);
  }
}
const nHead = 16, dHead = 72, width = nHead * dHead;
const q = k.allocF32(nTok * width), kk = k.allocF32(nTok * width), v = k.allocF32(nTok * width), out = k.allocF32(nTok * width);
q.set(randomFloats(nTok * width, 9, 1)); kk.set(randomFloats(nTok * width, 10, 1)); v.set(randomFloats(nTok * width, 11, 1));
row(`attention ${nHead}x${dHead}`, 2 * nTok * nTok * width, time(() => k.encoderAttention(q, kk, v, nTok, nTok, nHead, dHead, 1 / Math.sqrt(dHead), out)));
console.log(`\nkernels: ${k.name}`);
k.dispose();
