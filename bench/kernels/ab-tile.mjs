// A/B of the four-row Q4_0 prefill tiles (assembly/rows4.ts, relaxed SIMD) from two assembly/
// folders, in cache: each folder compiled to a module exporting rows4_matmul over its own memory,
// the same random weights (sane f16 scales) and Q8 activations written into both, nTok tokens
// through 4864x896, 896x4864 and 896x896 (the Qwen2.5-0.5B shapes), rounds alternating the order;
// GMAC/s of the median call, B's speed over A's, and whether both wrote the same outputs. For
// trying a tile's instruction mix without rebuilding and reloading a model (a whole-model A/B,
// ab-step.mjs, decides). A folder: e.g. `git archive COMMIT assembly | tar -x -C /tmp/a`.
//   node bench/kernels/ab-tile.mjs DIR_A DIR_B [--tok 128] [--rounds 9] [--type q4_0|q8u]   (q8u: biased Q8_0, rows4-q8u.ts)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); if (i < 0) return d; const v = args[i + 1]; args.splice(i, 2); return v; };
const nTok = Number(opt('--tok', 128)), rounds = Number(opt('--rounds', 9)), type = opt('--type', 'q4_0');
if (type !== 'q4_0' && type !== 'q8u') throw new Error(`--type q4_0 or q8u (Q8_0 biased, rows4-q8u.ts), got ${type}`);
const q8u = type === 'q8u';
const [A, B] = args;
if (!A || !B) throw new Error('usage: node bench/kernels/ab-tile.mjs DIR_A DIR_B [--tok 128] [--rounds 9]');
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const asc = join(root, 'node_modules/assemblyscript/bin/asc.js');
const PAGES = 1024;
/** The band prefill's scratch: past the three shapes' buffers (they end below 32 MiB). */
const BAND_AT = 48 << 20, BAND_BYTES = 256 << 10;
function build(dir) {
  const tmp = mkdtempSync(join(tmpdir(), 'lutra-abt-'));
  cpSync(resolve(dir), tmp, { recursive: true });
  cpSync(join(root, 'assembly/types.generated.ts'), join(tmp, 'types.generated.ts'));
  // A folder with per-thread scratch (scratch.ts: the band prefill) gets it, as the engine gives each thread.
  const band = existsSync(join(tmp, 'scratch.ts'));
  writeFileSync(join(tmp, 'ab-entry.ts'), "export { rows4_matmul } from './rows4';\nexport { rows4q8u_matmul } from './rows4-q8u';\n" + (band ? "export { thread_scratch } from './scratch';\n" : ''));
  execFileSync(process.execPath, [asc, join(tmp, 'ab-entry.ts'), '-o', join(tmp, 'e.wasm'), '-O3', '--runtime', 'stub', '--noAssert', '--importMemory',
    '--initialMemory', String(PAGES), '--maximumMemory', String(PAGES), '--enable', 'simd', '--enable', 'relaxed-simd', '--sharedMemory', '--enable', 'threads']);
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES, shared: true });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(tmp, 'e.wasm'))), { env: { memory, abort() {} } }).exports;
  rmSync(tmp, { recursive: true, force: true });
  if (band) ex.thread_scratch(BAND_AT, BAND_BYTES);
  return { dir, ex, memory };
}
const GGML_Q4_0 = 2;
const shapes = [[4864, 896], [896, 4864], [896, 896]];
const vs = [build(A), build(B)];
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
for (const v of vs) {
  const u8 = new Uint8Array(v.memory.buffer);
  v.setups = shapes.map(([rows, cols], si) => {
    // Grouped layout (ref/rows4.ts): per group and block, four f16 scales (here 2^-6) then 64 payload bytes.
    const blockBytes = q8u ? 34 : 18, rowBytes = (cols / 32) * blockBytes, w = (1 << 20) + si * (8 << 20), act = w + rows * rowBytes + 4096;
    const ad = act + nTok * cols, asum = ad + (nTok * cols) / 8, y = asum + (nTok * cols) / 8;
    seed = 7 + si;
    for (let i = 0; i < rows * rowBytes; i++) u8[w + i] = rnd() & 255;
    for (let g = 0; g < rows / 4; g++) for (let b = 0; b < cols / 32; b++) {
      const p = w + g * rowBytes * 4 + b * 4 * blockBytes;
      for (let r = 0; r < 4; r++) { u8[p + 2 * r] = 0; u8[p + 2 * r + 1] = 0x24; }
    }
    for (let i = 0; i < nTok * cols; i++) u8[act + i] = (rnd() % 255) - 127;
    new Float32Array(v.memory.buffer, ad, (nTok * cols) / 32).fill(0.01);
    const s = new Int32Array(v.memory.buffer, asum, (nTok * cols) / 32);
    for (let i = 0; i < s.length; i++) s[i] = (rnd() % 2000) - 1000;
    return { rows, cols, rowBytes, w, act, ad, asum, y };
  });
}
const call = q8u
  ? (v, s) => v.ex.rows4q8u_matmul(s.w, s.rowBytes, s.cols, s.rows, 0, s.rows, s.act, s.ad, s.asum, s.y, nTok)
  : (v, s) => v.ex.rows4_matmul(GGML_Q4_0, s.w, s.rowBytes, s.cols, s.rows, 0, s.rows, s.act, s.ad, s.ad, s.asum, s.y, nTok);
for (const v of vs) for (const s of v.setups) { call(v, s); call(v, s); }
const res = vs.map(() => shapes.map(() => []));
for (let r = 0; r < rounds; r++) for (const vi of (r & 1 ? [1, 0] : [0, 1])) vs[vi].setups.forEach((s, si) => {
  const t0 = performance.now(); call(vs[vi], s); call(vs[vi], s); res[vi][si].push((performance.now() - t0) / 2);
});
const med = (x) => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(`${q8u ? 'Q8_0 (biased)' : 'Q4_0'} four-row products, ${nTok} tokens, 1 thread, in cache, median of ${rounds} rounds; A = ${A}, B = ${B}`);
shapes.forEach(([rows, cols], si) => {
  const macs = rows * cols * nTok, s0 = vs[0].setups[si], s1 = vs[1].setups[si];
  const y0 = new Float32Array(vs[0].memory.buffer, s0.y, nTok * rows), y1 = new Float32Array(vs[1].memory.buffer, s1.y, nTok * rows);
  let same = true;
  for (let i = 0; i < y0.length; i++) if (!Object.is(y0[i], y1[i])) { same = false; break; }
  console.log(`${rows}x${cols}: A ${(macs / med(res[0][si]) / 1e6).toFixed(1)} GMAC/s, B ${(macs / med(res[1][si]) / 1e6).toFixed(1)} GMAC/s, B/A ${(med(res[0][si]) / med(res[1][si])).toFixed(3)}x, same outputs: ${same}`);
});
