// A/B of decode kernels from several assembly/ folders in one process over ONE shared memory, so
// every build reads the same weight bytes at the same addresses. Why: with a memory (and a copy of
// the weights) per build, two instances of the SAME build differed by 13% (CPU time, 274 MB of
// TQ2_0, 1 thread), steadily, by which copy they read; over one memory an A/A pair agrees within
// 1%. Each folder (e.g. `git archive COMMIT assembly | tar -x -C bm/a` plus assembly/types.generated.ts)
// is compiled to a relaxed-SIMD module exporting quantize_q8_k, matmul, rows4k_pack, tq2_pack4 and
// rows4lo_pack, each with its own --memoryBase so their static data do not overlap. The first build quantizes the
// activations and lays the weights out (rows4k_pack / tq2_pack4); when a later build changes the
// layout its outputs are reported as differing and only its timing means anything. `--copies C`
// puts C copies of the matrix end to end and runs them in turn (C x the bytes: past the caches, as a
// model's layers are). Rounds alternate the builds' order; reported: medians of wall and process CPU
// time, GMAC/s, and each build's CPU time over the first's paired round by round.
//   node bench/kernels/ab-wasm.mjs TYPE ROWSxCOLS DIR_A DIR_B [...] [--copies C] [--tok N] [--rounds R] [--reps N] [--r0 R0 --r1 R1] [--subnormal]
//   e.g. node bench/kernels/ab-wasm.mjs TQ2_0 6912x2560 bm/a/assembly assembly --copies 60 --rounds 21 --reps 1
// TYPE: Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, TQ2_0, Q5_0 or Q4_0 (weights are random bytes with sane f16 scales, subnormal halves with
// --subnormal; TQ2_0 codes 0..2).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); if (i < 0) return d; const v = args[i + 1]; args.splice(i, 2); return v; };
const subnormal = args.includes('--subnormal'); if (subnormal) args.splice(args.indexOf('--subnormal'), 1);
const nTok = Number(opt('--tok', 1)), rounds = Number(opt('--rounds', 15)), reps = Number(opt('--reps', 5)), copies = Number(opt('--copies', 1));
const r0 = Number(opt('--r0', 0)), r1o = opt('--r1', null);
const [type, shape, ...dirs] = args;
const [rows, cols] = shape.split('x').map(Number);
const r1 = r1o === null ? rows : Number(r1o);
// [ggml type id, bytes per block, elements per block]; Q5_0 and Q4_0 take Q8 activations (blocks of 32), the rest Q8_K.
const T = { Q6_K: [14, 210, 256], Q5_K: [13, 176, 256], Q4_K: [12, 144, 256], Q3_K: [11, 110, 256], Q2_K: [10, 84, 256], TQ2_0: [35, 66, 256], Q5_0: [6, 22, 32], Q4_0: [2, 18, 32] }[type];
if (!T || dirs.length < 1 || cols % T[2]) throw new Error('usage: TYPE (Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, TQ2_0, Q5_0, Q4_0) ROWSxCOLS (cols a multiple of the block) DIR... (see the header)');
const [id, bb, be] = T, rowBytes = (cols / be) * bb, ROWS4_FLAG = 0x10000;

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
function build(dir, i) {
  const tmp = mkdtempSync(join(tmpdir(), 'lutra-abw-'));
  cpSync(resolve(dir), tmp, { recursive: true });
  writeFileSync(join(tmp, 'ab-entry.ts'), "export { quantize_q8_k, quantize_q8 } from './act-quant';\nexport { matmul } from './matmul';\nexport { rows4k_pack } from './rows4-k';\nexport { rows4_pack } from './rows4';\nexport { rows4lo_pack } from './rows4-lowbit';\nexport { tq2_pack4 } from './ternary';\n" + (existsSync(join(tmp, 'scratch.ts')) ? "export { thread_scratch } from './scratch';\n" : ''));
  execFileSync(process.execPath, [join(root, 'node_modules/assemblyscript/bin/asc.js'), join(tmp, 'ab-entry.ts'), '-o', join(tmp, 'k.wasm'), '-O3', '--runtime', 'stub', '--noAssert',
    '--importMemory', '--initialMemory', '16', '--maximumMemory', '65536', '--enable', 'simd', '--enable', 'relaxed-simd', '--memoryBase', String(65536 * (2 + 2 * i))], { stdio: ['ignore', 'ignore', 'inherit'] });
  const bytes = readFileSync(join(tmp, 'k.wasm'));
  rmSync(tmp, { recursive: true, force: true });
  return bytes;
}

let seed = 99;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
const W = new Uint8Array(rows * rowBytes);
for (let i = 0; i < W.length; i++) W[i] = (rnd() * 256) | 0;
// Scales as normal halves, or (--subnormal) as subnormal ones (exponent 0), as K-quant super-block scales often are.
const half = (o) => { W[o] = (rnd() * 256) | 0; W[o + 1] = subnormal ? (rnd() * 4) | 0 : 0x18 + ((rnd() * 4) | 0); };
for (let r = 0; r < rows; r++) {
  for (let b = 0; b < cols / be; b++) {
    const o = r * rowBytes + b * bb;
    if (type === 'Q6_K') half(o + 208);
    else if (type === 'Q3_K') half(o + 108);
    else if (type === 'Q2_K') { half(o + 80); half(o + 82); }
    else if (type === 'TQ2_0') {
      half(o + 64);
      for (let i = 0; i < 64; i++) { let v = W[o + i]; for (let k = 0; k < 4; k++) if (((v >> (2 * k)) & 3) === 3) v &= ~(1 << (2 * k)); W[o + i] = v; }
    } else if (type === 'Q5_0' || type === 'Q4_0') half(o);
    else { half(o); half(o + 2); }
  }
}
const X = new Float32Array(cols * nTok);
for (let i = 0; i < X.length; i++) X[i] = rnd() * 2 - 1;

const MB = 1 << 20, wp = 16 * MB, sc = MB, xp = 2 * MB, act = 3 * MB, ad = 5 * MB, asum = 6 * MB, yp = 8 * MB;
if (cols * nTok * 4 > MB || rows * nTok * 4 > 8 * MB) throw new Error('shape too large for the fixed scratch areas');
const memory = new WebAssembly.Memory({ initial: Math.ceil((wp + W.length * copies + 65536) / 65536), maximum: 65536 });
const u8 = new Uint8Array(memory.buffer);
for (let c = 0; c < copies; c++) u8.set(W, wp + c * W.length);
new Float32Array(memory.buffer, xp, X.length).set(X);
const env = { memory, abort() { throw new Error('wasm abort'); }, seed: () => 1 };
const mods = dirs.map((d, i) => ({ d, k: new WebAssembly.Instance(new WebAssembly.Module(build(d, i)), { env }).exports, t: [], c: [] }));
// A build with per-thread scratch (scratch.ts) gets its own, as the engine gives each thread: 32 KiB each from 4 MiB on.
mods.forEach((m, i) => m.k.thread_scratch?.(4 * MB + i * 32768, 32768));
const k0 = mods[0].k;
if (type === 'Q5_0' || type === 'Q4_0') k0.quantize_q8(xp, cols, nTok, act, ad, 7 * MB, asum);
else k0.quantize_q8_k(xp, cols, nTok, act, ad, asum);
for (let c = 0; c < copies; c++) {
  if (type === 'TQ2_0') k0.tq2_pack4(wp + c * W.length, rowBytes, rows, sc);
  else if (type === 'Q4_0') k0.rows4_pack(wp + c * W.length, rowBytes, rows, 18, 1, sc);
  else if (type === 'Q2_K' || type === 'Q3_K') k0.rows4lo_pack(id, wp + c * W.length, rowBytes, rows, sc);
  else k0.rows4k_pack(id, wp + c * W.length, rowBytes, rows, sc);
}
for (const m of mods) {
  m.run = () => {
    for (let c = 0; c < copies; c++) if (m.k.matmul(id | ROWS4_FLAG, wp + c * W.length, rowBytes, cols, rows, r0, r1, act, ad, 0, asum, yp, nTok)) throw new Error(`${m.d}: matmul refused ${type}`);
  };
  new Float32Array(memory.buffer, yp, rows * nTok).fill(NaN);
  m.run();
  m.y = new Float32Array(memory.buffer, yp, rows * nTok).slice();
}
for (const m of mods.slice(1)) {
  let diff = 0;
  for (let j = 0; j < m.y.length; j++) if (!Object.is(mods[0].y[j], m.y[j])) diff++;
  console.log(`${m.d} vs ${mods[0].d}: ${diff} of ${m.y.length} outputs differ`);
}
for (const m of mods) for (let i = 0; i < 3; i++) m.run();
for (let r = 0; r < rounds; r++) {
  for (const m of r & 1 ? [...mods].reverse() : mods) {
    const t0 = performance.now(), u0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) m.run();
    const u = process.cpuUsage(u0);
    m.t.push((performance.now() - t0) / reps);
    m.c.push((u.user + u.system) / 1000 / reps);
  }
}
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const macs = (r1 - r0) * cols * nTok * copies;
const os = await import('node:os');
console.log(`${type} ${shape} x${copies} (${((W.length * copies) / MB).toFixed(0)} MiB), ${nTok} token(s), rows ${r0}..${r1}, 1 thread, ${rounds} rounds of ${reps}, load ${os.loadavg()[0].toFixed(1)}`);
for (const m of mods) console.log(`${m.d}: wall ${median(m.t).toFixed(3)} ms (${(macs / median(m.t) / 1e6).toFixed(2)} GMAC/s), CPU ${median(m.c).toFixed(3)} ms (${(macs / median(m.c) / 1e6).toFixed(2)} GMAC/s)`);
for (const m of mods.slice(1)) {
  const q = (v, p) => [...v].sort((a, b) => a - b)[Math.floor(p * (v.length - 1))];
  const rc = m.c.map((c, r) => c / mods[0].c[r]);
  console.log(`${m.d} / ${mods[0].d}: CPU time paired per round, median ${q(rc, 0.5).toFixed(3)} (quartiles ${q(rc, 0.25).toFixed(3)}..${q(rc, 0.75).toFixed(3)})`);
}
