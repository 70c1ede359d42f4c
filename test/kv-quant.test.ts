// Quantized KV caches: rows written byte for byte as ggml's CPU from_float writes a llama.cpp cache
// of each type (goldens from test/golden/kv/blocks/make-expected.sh), the Hadamard rotation
// (the fast transform equals the orthonormal matrix llama.cpp builds), head sizes refused as
// llama.cpp refuses them, and attention over each cache type close to attention over the rows it holds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { kvCacheFormat, KV_CACHE_TYPES } from '../src/runtime/kv/cache-types.js';
import { createKVStore, type KVShape } from '../src/runtime/kv/index.js';
import { PackedKVStore } from '../src/runtime/kv/packed.js';
import { hadamardRows, kRotationSize } from '../src/runtime/kv/hadamard.js';
import { RefKernels } from '../src/kernels/ref/index.js';
import { ArgumentError } from '../src/core/errors.js';
import { REPO, randomFloats } from './helpers.js';

const BLOCKS = resolve(REPO, 'test/golden/kv/blocks');

test('cache rows are byte-identical to ggml CPU from_float for every cache type', () => {
  const raw = readFileSync(resolve(BLOCKS, 'input.f32'));
  const x = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  for (const name of KV_CACHE_TYPES.filter((t) => t !== 'f32')) {
    const f = kvCacheFormat(name);
    const want = new Uint8Array(readFileSync(resolve(BLOCKS, `${name}.bin`)));
    const rowBytes = (64 / f.format.blockSize) * f.format.typeSize;
    const got = new Uint8Array(64 * rowBytes);
    for (let r = 0; r < 64; r++) f.write(x, r * 64, got, r * rowBytes, 64);
    let bad = -1;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) { bad = i; break; }
    assert.equal(bad, -1, `${name}: first differing byte ${bad} (row ${Math.floor(bad / rowBytes)}): got ${got[bad]}, ggml ${want[bad]}`);
    assert.equal(got.length, want.length);
  }
});

test('the fast Walsh-Hadamard transform is the orthonormal matrix llama.cpp builds (ggml_gen_hadamard), and its own inverse', () => {
  for (const n of [64, 128]) {
    const H = new Float64Array(n * n);
    H[0] = 1 / Math.sqrt(n);
    for (let s = 1; s < n; s *= 2) for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) {
      const v = H[i * n + j]!;
      H[(i + s) * n + j] = v; H[i * n + j + s] = v; H[(i + s) * n + j + s] = -v;
    }
    const x = randomFloats(2 * n, 3);
    const y = x.slice();
    hadamardRows(y, 0, 2 * n, n);
    for (let r = 0; r < 2; r++) for (let i = 0; i < n; i++) {
      let e = 0;
      for (let j = 0; j < n; j++) e += H[i * n + j]! * x[r * n + j]!;
      assert.ok(Math.abs(e - y[r * n + i]!) < 1e-5, `n=${n} row ${r} [${i}]: ${y[r * n + i]} vs ${e}`);
    }
    hadamardRows(y, 0, 2 * n, n);
    for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(y[i]! - x[i]!) < 1e-5);
  }
  assert.equal(kRotationSize(64), 64);
  assert.equal(kRotationSize(128), 128);
  assert.equal(kRotationSize(192), 64);
});

test('a head size that the block size does not divide is refused, naming both', () => {
  const shape: KVShape = { nLayer: 1, nCtx: 8, nHeadKv: 4, headDim: 8, headDimV: 8 };
  assert.throws(() => createKVStore({ k: 'q8_0', v: 'f16' }, new RefKernels(), shape), (e: unknown) => e instanceof ArgumentError && /K cache type q8_0 with block size 32 does not divide the head size 8/.test((e as Error).message));
  assert.throws(() => createKVStore({ k: 'f16', v: 'q4_0' }, new RefKernels(), shape), /V cache type q4_0/);
  assert.throws(() => createKVStore('q3_k' as never, new RefKernels(), shape), /unknown KV cache type "q3_k"/);
  assert.ok(createKVStore({ k: 'bf16', v: 'f16' }, new RefKernels(), shape));
});

/** Plain softmax attention in double over given key/value rows. */
function attention(q: Float32Array, keys: Float32Array, values: Float32Array, nTok: number, pos0: number, nHead: number, nHeadKv: number, hd: number): Float32Array {
  const out = new Float32Array(nTok * nHead * hd);
  for (let t = 0; t < nTok; t++) for (let h = 0; h < nHead; h++) {
    const g = Math.floor(h / (nHead / nHeadKv));
    const s: number[] = [];
    for (let j = 0; j <= pos0 + t; j++) {
      let d = 0;
      for (let i = 0; i < hd; i++) d += q[(t * nHead + h) * hd + i]! * keys[(j * nHeadKv + g) * hd + i]!;
      s.push(d / Math.sqrt(hd));
    }
    const m = Math.max(...s), e = s.map((v) => Math.exp(v - m)), sum = e.reduce((a, b) => a + b);
    for (let i = 0; i < hd; i++) {
      let a = 0;
      for (let j = 0; j < e.length; j++) a += e[j]! * values[(j * nHeadKv + g) * hd + i]!;
      out[(t * nHead + h) * hd + i] = a / sum;
    }
  }
  return out;
}

test('attention over each cache type (rotated or not) is close to attention over the full-precision rows', () => {
  const hd = 64, nHeadKv = 2, nHead = 4, n = 24;
  const shape: KVShape = { nLayer: 1, nCtx: 32, nHeadKv, headDim: hd, headDimV: hd };
  const keys = randomFloats(n * nHeadKv * hd, 11), values = randomFloats(n * nHeadKv * hd, 12), q = randomFloats(4 * nHead * hd, 13, 3);
  const want = attention(q, keys, values, 4, n - 4, nHead, nHeadKv, hd);
  // Worst absolute error allowed per type, scaled to values in [-1, 1].
  const TOL: Record<string, number> = { f32: 1e-5, f16: 2e-3, bf16: 1e-2, q8_0: 1e-2, q5_0: 4e-2, q5_1: 4e-2, iq4_nl: 8e-2, q4_0: 8e-2, q4_1: 8e-2 };
  for (const type of KV_CACHE_TYPES) for (const rotation of [true, false]) {
    const s = new PackedKVStore(new RefKernels(), shape, kvCacheFormat(type), kvCacheFormat(type), { rotation });
    s.append(0, 0, keys, values, n);
    const out = new Float32Array(want.length);
    s.attend(0, q, 4, n - 4, { nHead, nHeadKv, headDim: hd, headDimV: hd, scale: 1 / Math.sqrt(hd) }, out);
    let err = 0;
    for (let i = 0; i < out.length; i++) err = Math.max(err, Math.abs(out[i]! - want[i]!));
    assert.ok(err < TOL[type]!, `${type} rotation=${rotation}: max error ${err}`);
    assert.equal(s.rotK > 0, rotation && kvCacheFormat(type).quantized);
    const row = (64 / kvCacheFormat(type).format.blockSize) * kvCacheFormat(type).format.typeSize;
    assert.equal(s.bytes, 32 * 2 * nHeadKv * row);
  }
});
