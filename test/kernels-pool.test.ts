// The WebAssembly backend's thread pool: matmulMany (q/k/v, gate/up as one job) gives each product
// bit for bit what matmul gives, on 1 and 2 threads, for every kernel family and mixes of
// activation preparations, and costs one barrier where the products share a preparation; the
// grouped split covers every row once (outputs start as NaN); empty jobs pass the barrier.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmArena } from '../src/kernels/wasm/arena.js';
import type { LutTables, MatmulKernels } from '../src/kernels/types.js';
import { randomFloats } from './helpers.js';
import { f32ToF16 } from '../src/core/f16.js';
import { randomMatrix as matrix } from './kernel-helpers.js';
import { SCHED, BIG_FIRST, type KernelExports } from '../src/kernels/wasm/protocol.js';
import { KernelPool, WORKER_SPIN, TRIAL, KEEP, WARM, SPIN_OK, SLEEP_MARGIN } from '../src/kernels/wasm/pool.js';

const made: WasmKernels[] = [];
after(() => { for (const k of made) k.dispose(); });

async function kernels(flavor: WasmFlavor, threads: number, matmul: MatmulKernels = 'auto', lutTables: LutTables = 'int8'): Promise<WasmKernels> {
  const k = (await WasmKernels.create({ flavor, threads, matmul, lutTables }))!;
  made.push(k);
  return k;
}

const COLS = 512;
/** Products of one input, and the barriers a 2-thread matmulMany of them takes (preparations that share scratch run apart). */
const SETS: { name: string; types: [string, number][]; matmul?: MatmulKernels; lutTables?: LutTables; barriers: number }[] = [
  { name: 'q/k/v-like Q4_0 on table lookup', types: [['Q4_0', 300], ['Q4_0', 37], ['Q4_0', 64]], matmul: 'lut', barriers: 1 },
  { name: 'Q4_0 on the kernels auto picks', types: [['Q4_0', 300], ['Q4_0', 37], ['Q4_0', 64]], barriers: 1 },
  { name: 'Q4_0 on the dequantize kernels', types: [['Q4_0', 300], ['Q4_0', 37], ['Q4_0', 64]], matmul: 'dequant', barriers: 1 },
  { name: 'Q4_K and Q6_K (one q8_K activation)', types: [['Q4_K', 300], ['Q6_K', 37], ['Q4_K', 64]], barriers: 1 },
  { name: 'Q8_0, Q4_0, then Q4_K (q8_0 and q8_K share scratch)', types: [['Q8_0', 300], ['Q4_0', 37], ['Q4_K', 64]], barriers: 2 },
  { name: 'F16 and F32', types: [['F16', 300], ['F32', 64]], barriers: 1 },
  { name: 'exact LUT tables beside Q8_0', types: [['Q4_0', 300], ['Q4_0', 36], ['Q8_0', 64]], matmul: 'lut', lutTables: 'exact', barriers: 2 },
  { name: 'more products than one group holds', types: Array.from({ length: 11 }, (_, i) => ['Q8_0', 40 + 8 * i] as [string, number]), barriers: 2 },
];

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];

for (const flavor of flavors) {
  test(`${flavor}: matmulMany equals matmul bit for bit on 1 and 2 threads, one barrier per shared preparation`, async () => {
    for (const set of SETS) {
      const one = await kernels(flavor, 1, set.matmul, set.lutTables);
      const two = await kernels(flavor, 2, set.matmul, set.lutTables);
      for (const nTok of [1, 3]) {
        const results: Float32Array[][] = [];
        for (const k of [one, two]) {
          const ws = set.types.map(([t, rows], i) => matrix(k, t, rows, COLS, 100 * i + rows));
          k.prepareWeights(ws);
          const x = k.allocF32(COLS * nTok);
          x.set(randomFloats(COLS * nTok, 11 + nTok, 2));
          const single = ws.map((w) => { const y = k.allocF32(w.rows * nTok); k.matmul(w, x, nTok, y); return y; });
          const ys = ws.map((w) => k.allocF32(w.rows * nTok).fill(NaN));
          const before = k.pool.barriers;
          k.matmulMany(ws, x, nTok, ys);
          if (k === two) assert.equal(k.pool.barriers - before, set.barriers, `${set.name} x${nTok}: barriers`);
          ws.forEach((w, i) => assert.deepEqual(ys[i], single[i], `${set.name} x${nTok}: ${w.name} (${k.name})`));
          results.push(ys);
        }
        results[0]!.forEach((y, i) => assert.deepEqual(results[1]![i], y, `${set.name} x${nTok}: product ${i}, 2 threads vs 1`));
      }
    }
  });
}

test('products cut in equal chunks or big chunks first give 1 thread\'s bits, every row written, workers spinning or asleep', async () => {
  const flavor = flavors[0]!;
  const one = await kernels(flavor, 1), two = await kernels(flavor, 2);
  for (const [type, rows] of [['Q4_0', 1003], ['Q4_K', 997], ['Q8_0', 45]] as [string, number][]) {
    for (const nTok of [1, 5]) {
      const ys: Float32Array[] = [];
      for (const k of [one, two]) {
        const w = matrix(k, type, rows, COLS, rows);
        k.prepareWeights([w]);
        const x = k.allocF32(COLS * nTok);
        x.set(randomFloats(COLS * nTok, 7 + nTok, 2));
        for (const [spin, sched] of k === one ? [[0, 0]] : [[20000, 0], [20000, BIG_FIRST], [0, BIG_FIRST], [0, 0]]) {
          if (k === two) { k.pool.workerSpin = spin!; k.pool.c[SCHED] = sched!; }
          const y = k.allocF32(rows * nTok).fill(NaN);
          const before = k.pool.barriers;
          k.matmul(w, x, nTok, y);
          if (k === two && rows * COLS * nTok >= 1 << 17) assert.equal(k.pool.barriers - before, 1, `${type} x${nTok}: split over the pool`);
          ys.push(y);
        }
      }
      for (const y of ys.slice(1)) assert.deepEqual(y, ys[0], `${type} x${nTok}`);
      assert.ok(ys[0]!.every((v) => Number.isFinite(v)), `${type} x${nTok}: every row written`);
    }
  }
});

test('the reference runs matmulMany as matmul in turn', () => {
  const ref = new RefKernels();
  const ws = [matrix(null, 'Q4_K', 20, 256, 1), matrix(null, 'Q8_0', 12, 256, 2)];
  const x = randomFloats(256 * 2, 3, 1);
  const ys = ws.map((w) => new Float32Array(w.rows * 2));
  ref.matmulMany(ws, x, 2, ys);
  ws.forEach((w, i) => { const y = new Float32Array(w.rows * 2); ref.matmul(w, x, 2, y); assert.deepEqual(ys[i], y); });
});

test('empty jobs pass the barrier, and jobs between them are whole, with workers spinning or asleep (late ones skip)', async () => {
  const k = await kernels(flavors[0]!, 2);
  const n = 4877, g0 = randomFloats(n, 5, 4), u = k.allocF32(n), g = k.allocF32(n);
  u.set(randomFloats(n, 6, 2));
  const one = await kernels(flavors[0]!, 1), want = one.allocF32(n), u1 = one.allocF32(n);
  want.set(g0); u1.set(u);
  one.swiglu(want, u1, n);
  for (const spin of [0, 20000]) {
    k.pool.workerSpin = spin;
    const before = k.pool.barriers;
    for (let i = 0; i < 200; i++) {
      k.pool.nop();
      g.set(g0);
      k.swiglu(g, u, n);
      assert.deepEqual(g, want, `spin ${spin}, job ${i}`);
    }
    assert.equal(k.pool.barriers - before, 400);
  }
});

test('views stay owned by their arena when another shared memory grows (V8 then hands out new buffer objects)', () => {
  const a = new WasmArena(), b = new WasmArena();
  const before = a.f32(16);
  b.bytes(4 << 20);
  const after = a.f32(16);
  assert.ok(a.owns(before) && a.owns(after) && !b.owns(after));
});

test('SwiGLU and short-context attention split over 2 threads equal 1 thread bit for bit, one barrier each', async () => {
  const f = flavors[0]!;
  const one = await kernels(f, 1), two = await kernels(f, 2);
  const out: Float32Array[][] = [];
  for (const k of [one, two]) {
    const n = 4864 + 13; // a tail past the last 16-element share
    const g = k.allocF32(n), u = k.allocF32(n);
    g.set(randomFloats(n, 5, 4)); u.set(randomFloats(n, 6, 2));
    let before = k.pool.barriers;
    k.swiglu(g, u, n);
    if (k === two) assert.equal(k.pool.barriers - before, 1, 'swiglu barriers');
    // Qwen2.5-0.5B's heads, decoding at position 20 (f32 and f16 caches).
    const p = { nHead: 14, nHeadKv: 2, headDim: 64, headDimV: 64, scale: 0.125, f16: false };
    const nCtx = 21, q = k.allocF32(p.nHead * 64), kc = k.allocF32(nCtx * 128), vc = k.allocF32(nCtx * 128);
    q.set(randomFloats(q.length, 7, 1)); kc.set(randomFloats(kc.length, 8, 1)); vc.set(randomFloats(vc.length, 9, 1));
    // The f16 cache as halves of the same values.
    const halves = (src: Float32Array) => { const b = k.allocBytes(src.length * 2); const h = new Uint16Array(b.buffer, b.byteOffset, src.length); src.forEach((x, i) => { h[i] = f32ToF16(x); }); return h; };
    const kh = halves(kc), vh = halves(vc);
    const att = [false, true].map((f16) => {
      const o = k.allocF32(p.nHead * 64).fill(NaN);
      before = k.pool.barriers;
      if (f16) k.attention(q, kh, vh, 1, nCtx - 1, { ...p, f16 }, o);
      else k.attention(q, kc, vc, 1, nCtx - 1, { ...p, f16 }, o);
      if (k === two) assert.equal(k.pool.barriers - before, 1, 'attention barriers');
      return o;
    });
    out.push([g, ...att]);
  }
  out[0]!.forEach((v, i) => assert.deepEqual(out[1]![i], v, `output ${i}: 2 threads vs 1`));
});

test('a prefill\'s activation quantization (q8_0, q8_K) and RMS norm split by tokens over 2 threads equal 1 thread bit for bit', async () => {
  const f = flavors[0]!;
  // The dequantize kernels: Q4_0 on table lookup (auto's pick on some builds) quantizes no q8_0 activation.
  const one = await kernels(f, 1, 'dequant'), two = await kernels(f, 2, 'dequant');
  // 37 tokens: shares of unequal size, and enough values (37 x 512) to be split.
  const nTok = 37, out: Float32Array[][] = [];
  for (const k of [one, two]) {
    const ws = [matrix(k, 'Q4_0', 64, COLS, 1), matrix(k, 'Q4_K', 64, COLS, 2), matrix(k, 'Q4_0', 40, COLS, 3), matrix(k, 'Q4_K', 36, COLS, 4)];
    k.prepareWeights(ws);
    const x = k.allocF32(COLS * nTok);
    x.set(randomFloats(COLS * nTok, 21, 3));
    const ys: Float32Array[] = [];
    for (const w of ws.slice(0, 2)) {
      const y = k.allocF32(w.rows * nTok).fill(NaN);
      const before = k.pool.barriers;
      k.matmul(w, x, nTok, y);
      // One for the quantization, one for the product.
      if (k === two) assert.equal(k.pool.barriers - before, 2, `${w.name}: barriers`);
      ys.push(y);
    }
    // In a group: the quantization runs before the products are collected.
    const many = ws.slice(2).map((w) => k.allocF32(w.rows * nTok).fill(NaN));
    k.matmulMany(ws.slice(2), x, nTok, many);
    const wt = k.allocF32(COLS), norm = k.allocF32(COLS * nTok).fill(NaN);
    wt.set(randomFloats(COLS, 22, 1));
    const before = k.pool.barriers;
    k.rmsNorm(x, wt, 1e-6, COLS, nTok, norm);
    if (k === two) assert.equal(k.pool.barriers - before, 1, 'rmsNorm barriers');
    out.push([...ys, ...many, norm]);
  }
  const ref = new RefKernels();
  const wt = new Float32Array(randomFloats(COLS, 22, 1)), x = new Float32Array(randomFloats(COLS * nTok, 21, 3)), norm = new Float32Array(COLS * nTok);
  ref.rmsNorm(x, wt, 1e-6, COLS, nTok, norm);
  assert.deepEqual(out[0]![4], norm, 'rmsNorm (1 thread) vs the reference');
  out[0]!.forEach((v, i) => { assert.ok(v.every((e) => Number.isFinite(e)), `output ${i}: every row written`); assert.deepEqual(out[1]![i], v, `output ${i}: 2 threads vs 1`); });
});

test('the spin tuner: no choice in the warm-up, sleep tried only after a late spinning worker and kept only when clearly better', () => {
  const pool = new KernelPool({} as KernelExports);
  // One barrier whose wall time is `cost` times its evenly split time (share 1 ms for half the units).
  const tune = pool as unknown as { tune(wall: number, share: number, mine: number, units: number, parts: number): void };
  const window = (n: number, cost: number) => { for (let i = 0; i < n; i++) tune.tune(cost, 1, 1, 2, 2); };
  assert.equal(pool.workerSpin, WORKER_SPIN);
  // Warm-up: even very late workers (code still being optimized) leave the workers spinning.
  window(WARM, 5);
  assert.equal(pool.workerSpin, WORKER_SPIN, 'the warm-up is not measured');
  // Spinning served (cost within SPIN_OK): keep spinning without trying sleep, for a whole KEEP window.
  window(TRIAL, SPIN_OK - 0.05);
  assert.equal(pool.workerSpin, WORKER_SPIN, 'no sleep trial when spinning served');
  window(KEEP - 1, 1);
  assert.equal(pool.workerSpin, WORKER_SPIN);
  window(1, 1);
  // Spinning measured a late worker: sleep is tried; measured only a little better, spinning is kept.
  window(TRIAL, 2);
  assert.equal(pool.workerSpin, 0, 'sleep is tried after a late spinning worker');
  window(TRIAL, 2 / SLEEP_MARGIN + 0.05);
  assert.equal(pool.workerSpin, WORKER_SPIN, 'sleep a little better than spinning is not kept');
  window(KEEP, 1);
  // Clearly better (an oversubscribed machine): sleep is kept for the next window.
  window(TRIAL, 3);
  assert.equal(pool.workerSpin, 0);
  window(TRIAL, 1.2);
  assert.equal(pool.workerSpin, 0, 'sleep clearly better is kept');
  window(KEEP - 1, 1.2);
  assert.equal(pool.workerSpin, 0);
  window(1, 1.2);
  assert.equal(pool.workerSpin, WORKER_SPIN, 'after KEEP barriers spinning is tried again');
});
