// Prefill attention in tiles of keys (assembly/attention-tiled.ts) against its TypeScript twin,
// bit for bit, for every build and 1 or 2 threads, on GQA and odd head sizes, f16 and f32 caches,
// batches that start mid-tile; and the twin against plain per-token softmax attention within a
// tolerance. Its exp: test/kernels-exp.test.ts.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { TILED_MIN_TOKENS } from '../src/kernels/ref/attention-tiled.js';
import { WasmKernels, detectWasm } from '../src/kernels/wasm/index.js';
import type { AttentionParams } from '../src/kernels/types.js';
import { f32ToF16 } from '../src/core/f16.js';
import { randomFloats } from './helpers.js';
import { maxRelDiff, sameBits, testFlavors } from './kernel-helpers.js';

/** Tiled (f32 sums, tiles of 64) against per-token two-pass softmax in f64 over the same f32 cache. */
const TILED_VS_PLAIN = 2e-5;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

type Shape = { nHead: number; nHeadKv: number; headDim: number; headDimV: number; pos0: number; nTok: number };
const shapes: Shape[] = [
  { nHead: 14, nHeadKv: 2, headDim: 64, headDimV: 64, pos0: 0, nTok: 130 }, // Qwen2.5-0.5B's heads
  { nHead: 6, nHeadKv: 2, headDim: 10, headDimV: 6, pos0: 37, nTok: 70 }, // odd sizes, starting mid-tile
  { nHead: 3, nHeadKv: 3, headDim: 20, headDimV: 36, pos0: 5, nTok: TILED_MIN_TOKENS }, // no grouping
];

function f16Cache(k: WasmKernels | null, src: Float32Array): Uint16Array {
  const h = k ? (() => { const b = k.allocBytes(src.length * 2); return new Uint16Array(b.buffer, b.byteOffset, src.length); })() : new Uint16Array(src.length);
  src.forEach((x, i) => { h[i] = f32ToF16(x); });
  return h;
}

test('the tiled twin agrees with per-token softmax attention (f32 cache)', () => {
  for (const s of shapes) {
    const p: AttentionParams = { ...s, scale: 1 / Math.sqrt(s.headDim), f16: false };
    const nCtx = s.pos0 + s.nTok;
    const q = randomFloats(s.nTok * s.nHead * s.headDim, 1, 2);
    const kc = randomFloats(nCtx * s.nHeadKv * s.headDim, 2, 2), vc = randomFloats(nCtx * s.nHeadKv * s.headDimV, 3, 1);
    const tiled = new Float32Array(s.nTok * s.nHead * s.headDimV), plain = new Float32Array(tiled.length);
    ref.attention(q, kc, vc, s.nTok, s.pos0, p, tiled);
    for (let t = 0; t < s.nTok; t++) {
      ref.attention(q.subarray(t * s.nHead * s.headDim), kc, vc, 1, s.pos0 + t, p, plain.subarray(t * s.nHead * s.headDimV));
    }
    const d = maxRelDiff(tiled, plain, tiled.length);
    assert.ok(d <= TILED_VS_PLAIN, `${JSON.stringify(s)}: relative diff ${d}`);
  }
});

const support = await detectWasm();
const flavors = testFlavors(support.flavor);

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    test(`${flavor}, ${threads} thread(s): tiled prefill attention equals its twin bit for bit (f16 and f32 caches)`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      for (const s of shapes) {
        for (const f16 of [true, false]) {
          const p: AttentionParams = { ...s, scale: 1 / Math.sqrt(s.headDim), f16 };
          const nCtx = s.pos0 + s.nTok + 3;
          const q = k.allocF32(s.nTok * s.nHead * s.headDim); q.set(randomFloats(q.length, 11, 2));
          const kSrc = randomFloats(nCtx * s.nHeadKv * s.headDim, 12, 2), vSrc = randomFloats(nCtx * s.nHeadKv * s.headDimV, 13, 1);
          let kc: Float32Array | Uint16Array, vc: Float32Array | Uint16Array;
          if (f16) { kc = f16Cache(k, kSrc); vc = f16Cache(k, vSrc); } else { kc = k.allocF32(kSrc.length); kc.set(kSrc); vc = k.allocF32(vSrc.length); vc.set(vSrc); }
          const out = k.allocF32(s.nTok * s.nHead * s.headDimV), outRef = new Float32Array(out.length);
          k.attention(q, kc, vc, s.nTok, s.pos0, p, out);
          ref.attention(q, kc, vc, s.nTok, s.pos0, p, outRef);
          sameBits(out, outRef, `${JSON.stringify(s)} f16=${f16}`);
        }
      }
    });
  }
}
