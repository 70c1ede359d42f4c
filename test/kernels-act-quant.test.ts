// The activation quantizers of every WebAssembly build (quantize_q8: Q8 blocks of 32 with d, d * sum
// and the integer sum; quantize_q8_k: Q8_K super-blocks with d and the sums of 16) equal the
// reference's (kernels/ref/activations.ts, quant/q8_K.ts) bit for bit, on blocks built to catch the
// SIMD paths' shortcuts: all zeros, tiny and huge magnitudes, values that scale to exact halves
// (ties to even), blocks whose largest magnitude appears with both signs (Q8_K's scale takes the
// sign of the first), and ordinary random ones, over several tokens. Not covered: a block whose
// largest magnitude is below 127 / FLT_MAX (~4e-37), where 127 / amax overflows to infinity; ggml's
// own result there is undefined (an infinite float converted to int8), and no activation after a
// norm is that small.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectWasm, WasmKernels, type WasmFlavor } from '../src/kernels/wasm/index.js';
import type { KernelExports } from '../src/kernels/wasm/protocol.js';
import { newActivationRow, prepareActivation } from '../src/kernels/ref/activations.js';

const n = 1024, nTok = 6;
let seed = 21;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
/** Token rows of n floats; block kind by (element / 32) mod 9, so both block sizes see every kind. */
function inputs(): Float32Array {
  const x = new Float32Array(n * nTok);
  for (let i = 0; i < x.length; i++) {
    const kind = (i >> 5) % 9, s = rnd() < 0.5 ? -1 : 1;
    x[i] = kind === 0 ? 0
      : kind === 1 ? s * rnd() * 1e-30
      : kind === 2 ? s * rnd() * 1e30
      : kind === 3 ? s * Math.round(rnd() * 254) / 2
      : kind === 4 ? s * (rnd() < 0.2 ? 5 : rnd() * 5)
      : kind === 5 ? s * Math.floor(rnd() * 3) * 2.5
      : kind === 6 ? (rnd() < 0.5 ? -0 : 0)
      : s * rnd() * 10 ** (rnd() * 8 - 4);
  }
  return x;
}

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];
for (const flavor of flavors) {
  test(`${flavor} build: quantize_q8 and quantize_q8_k equal the reference bit for bit`, async () => {
    const k = (await WasmKernels.create({ flavor, threads: 1 }))!;
    const exp = (k as unknown as { k: KernelExports }).k;
    const a = k.arena;
    for (let round = 0; round < 8; round++) {
      const xs = inputs();
      const x = a.f32(n * nTok);
      x.set(xs);
      // Q8 blocks of 32: as the reference's q8_1 row (d, d * sum), and the integer sums.
      const qs = a.bytes(n * nTok), d = a.f32((n * nTok) / 32), s = a.f32((n * nTok) / 32), isum = a.f32((n * nTok) / 32);
      exp.quantize_q8(x.byteOffset, n, nTok, qs.byteOffset, d.byteOffset, s.byteOffset, isum.byteOffset);
      const sums = new Int32Array(isum.buffer, isum.byteOffset, isum.length);
      for (let t = 0; t < nTok; t++) {
        const r = newActivationRow('q8_1', n);
        prepareActivation(r, xs, t * n, n, 0);
        for (let i = 0; i < n; i++) assert.equal(new Int8Array(qs.buffer, qs.byteOffset, qs.length)[t * n + i], r.qs[i], `q8 token ${t} element ${i} (${xs[t * n + i]})`);
        for (let b = 0; b < n / 32; b++) {
          const bi = t * (n / 32) + b;
          assert.ok(Object.is(d[bi], r.d[b]), `q8 token ${t} block ${b}: d ${d[bi]} vs ${r.d[b]}`);
          assert.ok(Object.is(s[bi], r.s[b]), `q8 token ${t} block ${b}: d*sum ${s[bi]} vs ${r.s[b]}`);
          let sum = 0;
          for (let j = 0; j < 32; j++) sum += r.qs[b * 32 + j]!;
          assert.equal(sums[bi], sum, `q8 token ${t} block ${b}: sum`);
        }
      }
      // Q8_K super-blocks of 256: d and the sums of 16 (i32 here, i16 in the reference row).
      const kq = a.bytes(n * nTok), kd = a.f32((n * nTok) / 256), kb = a.f32((n * nTok) / 16);
      exp.quantize_q8_k(x.byteOffset, n, nTok, kq.byteOffset, kd.byteOffset, kb.byteOffset);
      const kbs = new Int32Array(kb.buffer, kb.byteOffset, kb.length), kqs = new Int8Array(kq.buffer, kq.byteOffset, kq.length);
      for (let t = 0; t < nTok; t++) {
        const r = newActivationRow('q8_K', n);
        prepareActivation(r, xs, t * n, n, 0);
        for (let i = 0; i < n; i++) assert.equal(kqs[t * n + i], r.qs[i], `q8_K token ${t} element ${i} (${xs[t * n + i]})`);
        for (let b = 0; b < n / 256; b++) assert.ok(Object.is(kd[t * (n / 256) + b], r.d[b]), `q8_K token ${t} block ${b}: d ${kd[t * (n / 256) + b]} vs ${r.d[b]}`);
        for (let g = 0; g < n / 16; g++) assert.equal(kbs[t * (n / 16) + g], r.bsums[g], `q8_K token ${t} group ${g}: sum`);
      }
      for (const v of [x, qs, d, s, isum, kq, kd, kb]) a.releaseView(v);
    }
  });
}
