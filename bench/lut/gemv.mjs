// Kernel-level table: one GEMV (decode: one token) of an N x K matrix at 1, 2, 3 and 4 bits through
// the table-lookup kernels, beside the dequantize kernels of Q4_0 / Q8_0 / TQ2_0 on the same shape.
// T-MAC's claim to check: LUT cost scales with the number of bits.
//   node bench/lut/gemv.mjs [--n 4096] [--k 4096] [--threads 1] [--reps 30] [--bits 1,2,3,4] [--types TQ2_0,Q4_0,Q8_0] [--json]
import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { quantFormat, ggmlTypeByName } from '../../dist/src/quant/table.js';
import { weightBytes } from '../../dist/src/quant/types.js';
import { parseArgs } from 'node:util';
import os from 'node:os';

const { values: a } = parseArgs({ options: { n: { type: 'string', default: '4096' }, k: { type: 'string', default: '4096' }, threads: { type: 'string', default: '1' }, reps: { type: 'string', default: '30' }, json: { type: 'boolean', default: false }, types: { type: 'string', default: 'TQ2_0,Q4_0,Q8_0' }, bits: { type: 'string', default: '1,2,3,4' }, tables: { type: 'string', default: 'int8' } } });
const N = Number(a.n), K = Number(a.k), threads = Number(a.threads), reps = Number(a.reps);

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;

/** A format with only a LUT decomposition: b-bit codes, groups of 128, f16 scale 1/64. */
function synthetic(bits) {
  return { id: -1, name: `LUT${bits}`, blockSize: 128, typeSize: 0, vecDot: 'f32',
    lut: { bits, group: 128, offset: 'none', zero: (1 << bits) / 2,
      unpack(src, rowOff, g, codes) { for (let i = 0; i < 128; i++) codes[i] = (rnd() * (1 << bits)) | 0; return 0x2400; } } };
}

function median(v) { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]; }

// Every kernel is prepared once; then rounds visit every kernel in turn (so machine drift hits
// all alike), each round timing a batch of calls; the figure is the median over rounds.
const lutK = await WasmKernels.create({ threads, matmul: 'lut', lutTables: a.tables });
const deqK = await WasmKernels.create({ threads, matmul: 'dequant' });
const cases = [];
function add(kernel, k, w) {
  if (w.alloc) w = w.alloc(k);
  k.prepareWeights([w]);
  const x = k.allocF32(K), y = k.allocF32(N);
  for (let i = 0; i < K; i++) x[i] = rnd() * 2 - 1;
  cases.push({ kernel, k, w, x, y, t: [] });
}
for (const bits of a.bits.split(',').filter(Boolean).map(Number)) {
  const fmt = synthetic(bits);
  add(`LUT ${bits}-bit`, lutK, { name: `lut${bits}`, format: fmt, rows: N, cols: K, rowBytes: 0, ...weightBytes(new Uint8Array(0)) });
}
for (const type of a.types.split(',').filter(Boolean)) {
  const fmt = quantFormat(ggmlTypeByName(type).id);
  const rowBytes = (K / fmt.blockSize) * fmt.typeSize;
  const make = { alloc(k) {
    const data = k.allocBytes(N * rowBytes);
    const f = new Float32Array(K);
    for (let r = 0; r < N; r++) { for (let i = 0; i < K; i++) f[i] = rnd() * 2 - 1; fmt.quantize(f, 0, data, r * rowBytes, K); }
    return { name: type, format: fmt, rows: N, cols: K, rowBytes, ...weightBytes(data) };
  } };
  add(`${type} dequant`, deqK, make);
  if (fmt.lut) add(`${type} lut`, lutK, make);
}
for (const c of cases) for (const t0 = performance.now(); performance.now() - t0 < 300;) c.k.matmul(c.w, c.x, 1, c.y);
const batch = 10;
for (let r = 0; r < reps; r++) {
  for (const c of cases) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) c.k.matmul(c.w, c.x, 1, c.y);
    c.t.push((performance.now() - t0) / batch);
  }
}
const rows = cases.map((c) => ({ kernel: c.kernel, kind: c.k.kernelOf(c.w), ms: median(c.t) }));
lutK.dispose(); deqK.dispose();
const base = rows.find((r) => r.kernel === 'LUT 4-bit')?.ms ?? rows[0].ms;
for (const r of rows) { r.gmacs = (N * K) / r.ms / 1e6; r.vs4bit = r.ms / base; }
const cpu = os.cpus()[0]?.model ?? 'unknown';
if (a.json) console.log(JSON.stringify({ cpu, node: process.version, N, K, threads, reps, tables: a.tables, rows }, null, 2));
else {
  console.log(`GEMV ${N}x${K}, ${threads} thread(s), ${a.tables} tables, median of ${reps} interleaved rounds of ${batch} calls; ${cpu}, Node ${process.version}`);
  console.log('| kernel | ran on | ms | GMAC/s | time vs LUT 4-bit |\n|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.kernel} | ${r.kind} | ${r.ms.toFixed(3)} | ${r.gmacs.toFixed(2)} | ${r.vs4bit.toFixed(2)} |`);
}
