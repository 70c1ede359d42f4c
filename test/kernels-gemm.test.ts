// The tiled F16/F32 GEMM (assembly/gemm.ts) and the encoder ops (assembly/encoder.ts) against their
// TypeScript twins (kernels/ref/gemm.ts, kernels/ref/encoder.ts) for every build, 1 and 2 threads:
// products over many tokens equal the twin bit for bit on SIMD128 and plain builds (relaxed SIMD
// within GEMM_FMA_RTOL: fused multiply-adds) and the reference kernels within the F16/F32 class;
// odd shapes, token tails, rows % 8 and a matmulMany group; layer norm, softmax rows, the f16-table
// activations and bias rows bit for bit; encoderAttention within the float class of its twin.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import { GEMM_FMA_RTOL, GEMM_MIN_TOK, gemmRef } from '../src/kernels/ref/gemm.js';
import { addRows, encoderAttentionRef, layerNorm, mapHalf, softmaxPack, softmaxRows } from '../src/kernels/ref/encoder.js';
import { F16_TO_F32, f32ToF16 } from '../src/core/f16.js';
import type { KernelExports } from '../src/kernels/wasm/protocol.js';
import { randomMatrix } from './kernel-helpers.js';
import { randomFloats } from './helpers.js';

/** F16/F32 products against the reference's dot products: relative to the largest |reference| value. */
const TOL_FLOAT = 1e-5;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];
// rows % 8 leftovers, more than one panel (64 rows) and more than one block of columns (256), F16's 32-column step.
// [8, 2048] x 70 tokens passes PARALLEL_MIN_ROWWISE: at 2 threads the activations are packed by the workers.
const SHAPES = [[37, 96], [130, 288], [8, 544], [67, 32], [8, 2048]] as const;
const TOKENS = [GEMM_MIN_TOK, GEMM_MIN_TOK + 1, 23, 70];

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let d = 0, m = 0;
  for (let i = 0; i < n; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / Math.max(m, 1e-30);
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, n: number, what: string): void {
  for (let i = 0; i < n; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: [${i}] ${a[i]} vs twin ${b[i]}`);
}

test('the engine runs the WebAssembly backend', () => assert.ok(flavors.length > 0));

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    test(`${flavor}, ${threads} thread(s): F16 and F32 GEMM equal the twin${flavor === 'relaxed' ? ` within ${GEMM_FMA_RTOL}` : ' bit for bit'} and the reference within ${TOL_FLOAT}`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      let seed = 11;
      for (const type of ['F16', 'F32']) {
        for (const [rows, cols] of SHAPES) {
          const w = randomMatrix(k, type, rows, cols, seed++);
          k.prepareWeights([w], { gemm: true });
          for (const nTok of TOKENS) {
            const x = k.allocF32(nTok * cols);
            x.set(randomFloats(nTok * cols, seed++, 2));
            const y = k.allocF32(nTok * rows), twin = new Float32Array(nTok * rows), r = new Float32Array(nTok * rows);
            k.matmul(w, x, nTok, y);
            gemmRef(w, x, nTok, twin);
            const what = `${type} ${rows}x${cols}, ${nTok} tokens`;
            if (flavor === 'relaxed') assert.ok(maxRelDiff(y, twin, twin.length) <= GEMM_FMA_RTOL, `${what}: ${maxRelDiff(y, twin, twin.length)} from the twin`);
            else sameBits(y, twin, twin.length, what);
            ref.matmul(w, x, nTok, r);
            assert.ok(maxRelDiff(y, r, r.length) <= TOL_FLOAT, `${what}: ${maxRelDiff(y, r, r.length)} from the reference`);
            k.release(x); k.release(y);
          }
        }
      }
    });

    test(`${flavor}, ${threads} thread(s): a matmulMany group of F16 products equals the products one by one`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      const ws = [randomMatrix(k, 'F16', 200, 128, 3), randomMatrix(k, 'F16', 72, 128, 4), randomMatrix(k, 'F32', 96, 128, 5)];
      k.prepareWeights(ws, { gemm: true });
      const nTok = 40, x = k.allocF32(nTok * 128);
      x.set(randomFloats(nTok * 128, 6, 1));
      const ys = ws.map((w) => k.allocF32(nTok * w.rows));
      k.matmulMany(ws, x, nTok, ys);
      ws.forEach((w, i) => {
        const one = k.allocF32(nTok * w.rows);
        k.matmul(w, x, nTok, one);
        sameBits(ys[i]!, one, one.length, `product ${i}`);
      });
    });

    test(`${flavor}, ${threads} thread(s): without the gemm option a batch of F16/F32 products equals its tokens one at a time, bit for bit`, async () => {
      // A language model's prefill must give the logits a token-by-token decode gives (prefix reuse,
      // speculative verification, streamed and whole answers), so its matrices never take the GEMM.
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      for (const type of ['F16', 'F32']) {
        const w = randomMatrix(k, type, 96, 256, 31);
        k.prepareWeights([w]);
        const nTok = 40, x = k.allocF32(nTok * 256), y = k.allocF32(nTok * 96), one = k.allocF32(96);
        x.set(randomFloats(nTok * 256, 32, 1));
        k.matmul(w, x, nTok, y);
        for (let t = 0; t < nTok; t++) {
          k.matmul(w, x.subarray(t * 256, (t + 1) * 256), 1, one);
          sameBits(y.subarray(t * 96, (t + 1) * 96), one, 96, `${type} token ${t}`);
        }
      }
    });

    test(`${flavor}, ${threads} thread(s): encoder attention within ${TOL_FLOAT} of its twin`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      // The ViT's self-attention (nQ = nK) and the resampler's few queries over many keys; odd widths;
      // 400 queries: two whole blocks of the kernel's 192 and a tail.
      for (const [nQ, nK, nHead, dHead] of [[70, 70, 3, 24], [9, 133, 2, 12], [20, 300, 4, 72], [400, 50, 2, 16]] as const) {
        const width = nHead * dHead;
        const q = k.allocF32(nQ * width), kk = k.allocF32(nK * width), v = k.allocF32(nK * width), out = k.allocF32(nQ * width);
        q.set(randomFloats(nQ * width, 21, 2)); kk.set(randomFloats(nK * width, 22, 2)); v.set(randomFloats(nK * width, 23, 1));
        const want = new Float32Array(nQ * width);
        encoderAttentionRef(q, kk, v, nQ, nK, nHead, dHead, 1 / Math.sqrt(dHead), want, new Float32Array(nQ * nK));
        k.encoderAttention(q, kk, v, nQ, nK, nHead, dHead, 1 / Math.sqrt(dHead), out);
        assert.ok(maxRelDiff(out, want, want.length) <= TOL_FLOAT, `${nQ}x${nK}, ${nHead} heads of ${dHead}: ${maxRelDiff(out, want, want.length)}`);
      }
    });
  }

  // 120 rows of 1155 pass PARALLEL_MIN_ROWWISE: at 2 threads layer norm, bias rows, the GELU table
  // and the residual run split over the workers, still bit for bit.
  for (const [threads, rows] of [[1, 5], [2, 120]] as const) test(`${flavor}, ${threads} thread(s): layer norm, softmax rows, f16-table GELU, bias rows and residual adds equal their twins bit for bit`, async () => {
    const k = (await WasmKernels.create({ flavor, threads }))!;
    pool.push(k);
    const n = 1155;
    const x = k.allocF32(n * rows), w = k.allocF32(n), b = k.allocF32(n);
    x.set(randomFloats(n * rows, 31, 3)); w.set(randomFloats(n, 32, 1)); b.set(randomFloats(n, 33, 1));
    const barriers = k.pool.barriers;
    for (const bias of [b, null]) {
      const out = k.allocF32(n * rows), twin = new Float32Array(n * rows);
      k.layerNorm(x, w, bias, Math.fround(1e-6), n, rows, out);
      layerNorm(x, w, bias, Math.fround(1e-6), n, rows, twin);
      sameBits(out, twin, twin.length, `layer norm${bias ? '' : ' without bias'}`);
    }
    assert.equal(k.pool.barriers - barriers, threads === 2 ? 2 : 0, 'layer norms split over the workers at 2 threads');
    for (const len of [1024, 1023, 3]) {
      const s = k.allocF32(len * rows);
      const src = randomFloats(len * rows, 34 + len, 30);
      s.set(src);
      const twin = Float32Array.from(src);
      (k as unknown as { k: KernelExports }).k.softmax_rows(s.byteOffset, len, rows, 0.125);
      softmaxRows(twin, len, rows, 0.125);
      sameBits(s, twin, twin.length, `softmax rows of ${len}`);
      // Straight into the GEMM's packed layout: 5 rows leave a group of one and three zero lanes.
      const packed = k.allocF32(Math.ceil(rows / 4) * 4 * len), packedTwin = new Float32Array(packed.length);
      packed.fill(Number.NaN);
      s.set(src); twin.set(src);
      (k as unknown as { k: KernelExports }).k.softmax_pack(s.byteOffset, len, rows, 0.125, packed.byteOffset);
      softmaxPack(twin, len, rows, 0.125, packedTwin);
      sameBits(packed, packedTwin, packedTwin.length, `softmax rows of ${len}, packed`);
    }
    const table = k.allocF32(65536);
    for (let h = 0; h < 65536; h++) table[h] = Math.fround(F16_TO_F32[h]! * 0.75 + 1);
    const g = k.allocF32(n * rows), gt = new Float32Array(n * rows);
    const src = randomFloats(n * rows, 35, 14);
    for (const clamp of [true, false]) {
      g.set(src); gt.set(src);
      k.mapHalf(g, n * rows, table, clamp);
      mapHalf(gt, n * rows, table, clamp, f32ToF16);
      sameBits(g, gt, n * rows, `f16 table, clamp ${clamp}`);
    }
    const y = k.allocF32(n * rows), yt = new Float32Array(n * rows);
    y.set(x); yt.set(x);
    k.addRows(y, b, n, rows);
    addRows(yt, b, n, rows);
    sameBits(y, yt, yt.length, 'bias rows');
    k.addScaled(y, g, 1, n * rows);
    for (let i = 0; i < yt.length; i++) yt[i] = Math.fround(yt[i]! + gt[i]!);
    sameBits(y, yt, yt.length, 'residual add');
  });
}
