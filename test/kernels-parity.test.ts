// Every WebAssembly kernel against its TypeScript reference twin, for each build (relaxed SIMD,
// SIMD, plain) and 1 or 2 threads, on odd shapes and tails. Tolerances are named per class.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import type { QuantAttentionParams, RopeParams } from '../src/kernels/types.js';
import { weightBytes } from '../src/quant/types.js';
import { KV_CACHE_TYPES, kvCacheFormat, type KVCacheFormat, type KVCacheType } from '../src/runtime/kv/cache-types.js';
import { randomFloats } from './helpers.js';
import { f32ToF16 } from '../src/core/f16.js';
import { randomMatrix as matrix } from './kernel-helpers.js';

// Relative to the largest |reference| value: float formats only differ in summation order; Q8
// activations can flip a rounding where the two sum in a different order.
// Attention over quantized K: the integer dots equal, their scaled sums in another order (f32 lanes vs f64).
const TOL = { float: 1e-5, quant: 1e-4, elementwise: 1e-6, attention: 1e-5, attentionF16: 2e-3, attentionQuant: 1e-5 };

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

/** A KV cache of these values in the kernels' memory: f32, or f16 halves. */
function cache(k: WasmKernels, src: Float32Array, f16: boolean): Float32Array | Uint16Array {
  if (!f16) { const c = k.allocF32(src.length); c.set(src); return c; }
  const b = k.allocBytes(src.length * 2);
  const h = new Uint16Array(b.buffer, b.byteOffset, src.length);
  src.forEach((x, i) => { h[i] = f32ToF16(x); });
  return h;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let d = 0, m = 0;
  for (let i = 0; i < n; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / Math.max(m, 1e-30);
}

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];

test('this engine runs the WebAssembly backend', () => {
  assert.ok(flavors.length > 0, 'no WebAssembly with shared memory');
});

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    const name = `${flavor}, ${threads} thread${threads > 1 ? 's' : ''}`;
    test(`${name}: matmul matches the reference for every format on odd shapes`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      for (const type of ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'TQ1_0', 'TQ2_0']) {
        const shapes = type.endsWith('_K') || type.startsWith('TQ') ? [[37, 256, 1], [129, 512, 5], [1031, 256, 1]] as const : [[37, 96, 1], [129, 160, 5], [300, 512, 3], [1031, 256, 1]] as const;
        for (const [rows, cols, nTok] of shapes) {
          const w = matrix(k, type, rows, cols, rows + cols);
          const x = k.allocF32(cols * nTok);
          x.set(randomFloats(cols * nTok, 7 + nTok, 2));
          const y = k.allocF32(rows * nTok), yRef = new Float32Array(rows * nTok);
          k.matmul(w, x, nTok, y);
          ref.matmul(w, x, nTok, yRef);
          const tol = type === 'F32' || type === 'F16' ? TOL.float : TOL.quant;
          const d = maxRelDiff(y, yRef, rows * nTok);
          assert.ok(d <= tol, `${type} ${rows}x${cols} x${nTok}: relative diff ${d}`);
        }
      }
    });

    test(`${name}: rmsNorm, rope (both layouts, partial rotation), swiglu, addScaled`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      const n = 72, nTok = 3;
      const src = randomFloats(n * nTok, 11, 3);
      const wt = k.allocF32(n); wt.set(randomFloats(n, 12, 1));
      const x = k.allocF32(n * nTok); x.set(src);
      const out = k.allocF32(n * nTok), outRef = new Float32Array(n * nTok);
      k.rmsNorm(x, wt, 1e-5, n, nTok, out);
      ref.rmsNorm(src, wt, 1e-5, n, nTok, outRef);
      assert.ok(maxRelDiff(out, outRef, n * nTok) <= TOL.elementwise, 'rmsNorm');
      for (const neox of [false, true]) {
        const nHead = 3, headDim = 24, nRot = 16;
        const invFreq = Float64Array.from({ length: nRot / 2 }, (_, i) => Math.pow(10000, (-2 * i) / nRot));
        const p: RopeParams = { nRot, neox, invFreq, rampMix: null, freqScale: 0.5, mscale: 1 };
        const a = k.allocF32(nTok * nHead * headDim); a.set(randomFloats(a.length, 13, 1));
        const b = Float32Array.from(a);
        k.rope(a, nTok, nHead, headDim, 17, p);
        ref.rope(b, nTok, nHead, headDim, 17, p);
        assert.ok(maxRelDiff(a, b, a.length) <= TOL.elementwise, `rope neox=${neox}`);
        // The kernels keep the last cos/sin table: calls at other positions, token counts and parameters must not reuse a stale one.
        const p2: RopeParams = { ...p, freqScale: 1 };
        for (const [pos, n, pp] of [[17, 3, p], [18, 3, p], [18, 1, p], [17, 3, p2], [17, 2, p], [5, 3, p2]] as const) {
          const c = k.allocF32(n * nHead * headDim); c.set(randomFloats(c.length, 14 + pos, 1));
          const d = Float32Array.from(c);
          k.rope(c, n, nHead, headDim, pos, pp);
          ref.rope(d, n, nHead, headDim, pos, pp);
          assert.ok(maxRelDiff(c, d, c.length) <= TOL.elementwise, `rope neox=${neox} at ${pos} x${n}`);
        }
      }
      const g = k.allocF32(101), u = k.allocF32(101);
      g.set(randomFloats(101, 14, 4)); u.set(randomFloats(101, 15, 2));
      const g2 = Float32Array.from(g), u2 = Float32Array.from(u);
      k.swiglu(g, u, 101); ref.swiglu(g2, u2, 101);
      assert.ok(maxRelDiff(g, g2, 101) <= TOL.elementwise, 'swiglu');
      const s = Float32Array.from(u);
      k.addScaled(u, g, 0.3, 101); ref.addScaled(s, g2, 0.3, 101);
      assert.ok(maxRelDiff(u, s, 101) <= TOL.elementwise, 'addScaled');
    });

    test(`${name}: embedding lookup equals the reference for every table type`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      for (const type of ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q5_0', 'Q4_K', 'Q6_K']) {
        const w = matrix(k, type, 50, 256, 99);
        const ids = [3, 0, 49, 17];
        const out = k.allocF32(4 * 256), outRef = new Float32Array(4 * 256);
        k.embed(w, ids, 4, out);
        ref.embed(w, ids, 4, outRef);
        assert.deepEqual(Array.from(out), Array.from(outRef), type);
      }
      assert.throws(() => k.embed(matrix(k, 'F32', 4, 32, 1), [4], 1, k.allocF32(32)), /token id 4 is outside the vocabulary/);
    });

    test(`${name}: toF16 gives core/f16's halves bit for bit (ties to even, subnormal halves, overflow, infinities, NaN) at any offset and tail`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      const special = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e9, Infinity, -Infinity, NaN, 6.103515625e-5, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10, -3e-6,
        1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 2049, 2051, -2051, 0.1, 3.14159];
      // Random values over the whole f16 range and past it, then every group mixed with one special value.
      const vals = [...special, ...randomFloats(997, 41, 1).map((x) => x * 2 ** Math.round(x * 60))];
      for (let i = 0; i < 64; i++) vals.push(special[i % special.length]!, ...randomFloats(7, 50 + i, 100));
      const n = vals.length;
      const src = k.allocF32(n); src.set(vals);
      const b = k.allocBytes((n + 5) * 2), dst = new Uint16Array(b.buffer, b.byteOffset, n + 5);
      for (const [offset, len] of [[0, n], [3, n - 1], [5, 13], [1, 0]] as const) {
        dst.fill(0xabcd);
        k.toF16(src, len, dst, offset);
        for (let i = 0; i < len; i++) assert.equal(dst[offset + i], f32ToF16(src[i]!), `value ${src[i]} (index ${i}, offset ${offset})`);
        for (let i = 0; i < dst.length; i++) if (i < offset || i >= offset + len) assert.equal(dst[i], 0xabcd, `wrote outside [${offset}, ${offset + len}) at ${i}`);
      }
      assert.throws(() => k.toF16(src, n, dst, 6), /toF16/);
    });

    test(`${name}: attention (GQA, f32 and llama.cpp-style f16 rounding) over a partly filled cache`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      for (const f16 of [false, true]) {
        const nHead = 8, nHeadKv = 2, headDim = 20, headDimV = 20, pos0 = 37, nTok = 4, nCtx = 64;
        const q = k.allocF32(nTok * nHead * headDim); q.set(randomFloats(q.length, 21, 1));
        const kc = cache(k, randomFloats(nCtx * nHeadKv * headDim, 22, 1), f16);
        const vc = cache(k, randomFloats(nCtx * nHeadKv * headDimV, 23, 1), f16);
        const out = k.allocF32(nTok * nHead * headDimV), outRef = new Float32Array(out.length);
        const p = { nHead, nHeadKv, headDim, headDimV, scale: 1 / Math.sqrt(headDim), f16 };
        k.attention(q, kc, vc, nTok, pos0, p, out);
        ref.attention(q, kc, vc, nTok, pos0, p, outRef);
        const d = maxRelDiff(out, outRef, out.length);
        assert.ok(d <= (f16 ? TOL.attentionF16 : TOL.attention), `attention f16=${f16}: ${d}`);
      }
    });

    test(`${name}: grouped-query attention (all heads of a KV group in one pass) on odd head sizes, causal and over spans; bit for bit the same heads with their K/V copied per head`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      const ints = (vals: number[]) => { const b = k.allocBytes(vals.length * 4); const a = new Int32Array(b.buffer, b.byteOffset, vals.length); a.set(vals); return a; };
      // [nHead, nHeadKv, headDim, headDimV]: odd sizes (scalar tails), GQA groups of 3 and 7, multi-query.
      for (const [nHead, nHeadKv, headDim, headDimV] of [[6, 2, 19, 13], [14, 2, 64, 64], [5, 1, 8, 11]] as const) {
        const nCtx = 300, group = nHead / nHeadKv;
        const keys = randomFloats(nCtx * nHeadKv * headDim, 41 + nHead, 1), values = randomFloats(nCtx * nHeadKv * headDimV, 42 + nHead, 1);
        // The same cache with each KV head copied for every query head of its group (nHeadKv = nHead).
        const wide = (src: Float32Array, dim: number) => {
          const w = new Float32Array(nCtx * nHead * dim);
          for (let j = 0; j < nCtx; j++) for (let h = 0; h < nHead; h++) w.set(src.subarray((j * nHeadKv + Math.floor(h / group)) * dim, (j * nHeadKv + Math.floor(h / group) + 1) * dim), (j * nHead + h) * dim);
          return w;
        };
        const wk = wide(keys, headDim), wv = wide(values, headDimV);
        const q = k.allocF32(3 * nHead * headDim); q.set(randomFloats(q.length, 43, 1));
        // Spans per KV head (and copied per query head for the wide cache): a window, blocks, an empty one.
        const spanList = [[0, 4, 100, 164, 250, 1000], [7, 7, 20, 31, 200, 260]];
        const spans = ints(Array.from({ length: nHeadKv }, (_, h) => spanList[h % 2]!).flat()), spanCount = ints(Array(nHeadKv).fill(3));
        const wSpans = ints(Array.from({ length: nHead }, (_, h) => spanList[Math.floor(h / group) % 2]!).flat()), wCount = ints(Array(nHead).fill(3));
        for (const f16 of [false, true]) {
          const kc = cache(k, keys, f16), vc = cache(k, values, f16), wkc = cache(k, wk, f16), wvc = cache(k, wv, f16);
          const p = { nHead, nHeadKv, headDim, headDimV, scale: 1 / Math.sqrt(headDim), f16 };
          for (const [nTok, pos0, sp] of [[3, 37, false], [1, 290, false], [1, 290, true]] as const) {
            const ps = sp ? { ...p, spans, spanCount, spanStride: 6 } : p;
            const out = k.allocF32(nTok * nHead * headDimV).fill(NaN), outRef = new Float32Array(out.length), outWide = k.allocF32(out.length).fill(NaN);
            k.attention(q, kc, vc, nTok, pos0, ps, out);
            ref.attention(q, kc, vc, nTok, pos0, ps, outRef);
            const d = maxRelDiff(out, outRef, out.length);
            const what = `${nHead}/${nHeadKv} heads of ${headDim}/${headDimV}, f16=${f16}, nTok ${nTok} at ${pos0}${sp ? ' over spans' : ''}`;
            assert.ok(d <= (f16 ? TOL.attentionF16 : TOL.attention), `${what}: relative diff ${d}`);
            const pw = sp ? { ...p, nHeadKv: nHead, spans: wSpans, spanCount: wCount, spanStride: 6 } : { ...p, nHeadKv: nHead };
            k.attention(q, wkc, wvc, nTok, pos0, pw, outWide);
            assert.deepEqual(Array.from(out), Array.from(outWide), `${what}: grouped vs one head per KV head`);
          }
        }
      }
    });

    test(`${name}: attention over every KV cache format pair (K . Q as ggml's flash attention, V dequantized), causal and over spans`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      // Groups of 5 query heads (the kernel takes a group together: matmul's tiles of 4 and a
      // leftover); two threads split the 15 heads inside a group.
      const nHead = 15, nHeadKv = 3, headDim = 64, headDimV = 64, nCtx = 80;
      const q = k.allocF32(3 * nHead * headDim); q.set(randomFloats(q.length, 31, 1));
      const spanBytes = k.allocBytes(3 * 8 * 4), countBytes = k.allocBytes(3 * 4);
      const spans = new Int32Array(spanBytes.buffer, spanBytes.byteOffset, 24), spanCount = new Int32Array(countBytes.buffer, countBytes.byteOffset, 3);
      spans.set([0, 5, 20, 30, 0, 0, 0, 0, 3, 9, 40, 200, 0, 0, 0, 0, 10, 11, 50, 79]); spanCount.set([2, 2, 2]);
      const rows = (f: KVCacheFormat, dim: number, seed: number) => {
        const rowBytes = (nHeadKv * dim / f.format.blockSize) * f.format.typeSize;
        const b = weightBytes(k.allocBytes(nCtx * rowBytes));
        f.write(randomFloats(nCtx * nHeadKv * dim, seed, 1), 0, b.data, 0, nCtx * nHeadKv * dim);
        return { b, rowBytes };
      };
      for (const kt of KV_CACHE_TYPES) {
        for (const vt of ['f16', 'q8_0', kt] as KVCacheType[]) {
          const kf = kvCacheFormat(kt), vf = kvCacheFormat(vt);
          const kc = rows(kf, headDim, 32), vc = rows(vf, headDimV, 33);
          const p: QuantAttentionParams = {
            nHead, nHeadKv, headDim, headDimV, scale: 1 / Math.sqrt(headDim), kFormat: kf.format, vFormat: vf.format,
            kRowBytes: kc.rowBytes, vRowBytes: vc.rowBytes, spans: null, spanCount: null, spanStride: 0,
          };
          for (const [nTok, pos0, sp] of [[3, 37, false], [1, 71, false], [1, 71, true]] as const) {
            const ps = sp ? { ...p, spans, spanCount, spanStride: 8 } : p;
            const out = k.allocF32(nTok * nHead * headDimV).fill(NaN), outRef = new Float32Array(out.length);
            k.attentionQuant(q, kc.b, vc.b, nTok, pos0, ps, out);
            ref.attentionQuant(q, kc.b, vc.b, nTok, pos0, ps, outRef);
            const d = maxRelDiff(out, outRef, out.length);
            assert.ok(d <= (vt === 'f16' ? TOL.attentionF16 : TOL.attentionQuant), `${kt}/${vt} nTok ${nTok} at ${pos0}${sp ? ' over spans' : ''}: relative diff ${d}`);
          }
        }
      }
    });
  }
}

test('buffers outside WebAssembly memory fall back to the reference, same result', async () => {
  if (!flavors.length) return;
  const k = (await WasmKernels.create({ threads: 1 }))!;
  pool.push(k);
  const w = matrix(null, 'Q4_0', 33, 64, 5);
  const x = randomFloats(64 * 2, 6, 1);
  const y = new Float32Array(66), yRef = new Float32Array(66);
  k.matmul(w, x, 2, y);
  ref.matmul(w, x, 2, yRef);
  assert.deepEqual(y, yRef);
});

test('without shared memory: one thread over a fixed memory, same greedy text, a clear error when full', async () => {
  const { loadModel } = await import('../src/runtime/model.js');
  const { readFileSync } = await import('node:fs');
  const { STORIES_GGUF } = await import('./helpers.js');
  const bytes = new Uint8Array(readFileSync(STORIES_GGUF));
  const single = await loadModel(bytes, { sharedMemory: false });
  const shared = await loadModel(bytes);
  assert.match(single.kernelNote, /1 thread \(no SharedArrayBuffer/);
  const a = await single.complete('Once upon a time', { temperature: 0, maxTokens: 40 });
  const b = await shared.complete('Once upon a time', { temperature: 0, maxTokens: 40 });
  assert.equal(a, b);
  const k = (await WasmKernels.create({ shared: false, memoryBytes: 4 * 65536 }))!;
  assert.throws(() => k.allocBytes(8 * 65536), /WebAssembly memory is full .* cannot grow/);
  single.dispose();
  shared.dispose();
});
