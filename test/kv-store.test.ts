// The KV store interface on every store: append / attend / truncate / copyPrefix / bytes, against a
// plain softmax attention computed here over the values as the store holds them (f16: rounded).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKVStore, type KVCacheType, type KVShape } from '../src/runtime/kv/index.js';
import { createKernels } from '../src/kernels/index.js';
import { roundF16, f32ToF16 } from '../src/core/f16.js';
import { ArgumentError } from '../src/core/errors.js';
import { randomFloats } from './helpers.js';

const shape: KVShape = { nLayer: 2, nCtx: 16, nHeadKv: 2, headDim: 8, headDimV: 4 };
const attn = { nHead: 4, nHeadKv: 2, headDim: 8, headDimV: 4, scale: 1 / Math.sqrt(8) };
const kDim = shape.nHeadKv * shape.headDim, vDim = shape.nHeadKv * shape.headDimV, qDim = attn.nHead * attn.headDim, oDim = attn.nHead * attn.headDimV;
const ATOL = 1e-3, RTOL = 1e-2; // the f16 path rounds Q and accumulates as llama.cpp's kernel does

/** Causal attention of the queries at pos0.. over keys/values of positions 0..pos0+nTok-1 (rows). */
function expected(q: Float32Array, keys: Float32Array, values: Float32Array, nTok: number, pos0: number, f16: boolean): Float32Array {
  const out = new Float32Array(nTok * oDim);
  const r = f16 ? roundF16 : (x: number) => x;
  for (let t = 0; t < nTok; t++) {
    for (let h = 0; h < attn.nHead; h++) {
      const g = Math.floor(h / (attn.nHead / attn.nHeadKv));
      const s = Array.from({ length: pos0 + t + 1 }, (_, j) => {
        let d = 0;
        for (let i = 0; i < attn.headDim; i++) d += r(q[t * qDim + h * attn.headDim + i]!) * r(keys[j * kDim + g * attn.headDim + i]!);
        return d * attn.scale;
      });
      const max = Math.max(...s), e = s.map((x) => Math.exp(x - max)), sum = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < attn.headDimV; i++) {
        let acc = 0;
        for (let j = 0; j < e.length; j++) acc += e[j]! * r(values[j * vDim + g * attn.headDimV + i]!);
        out[t * oDim + h * attn.headDimV + i] = acc / sum;
      }
    }
  }
  return out;
}

function assertClose(a: Float32Array, b: Float32Array, what: string): void {
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= ATOL + Math.abs(b[i]!) * RTOL, `${what}: [${i}] ${a[i]} vs ${b[i]}`);
}

for (const type of ['f32', 'f16'] as KVCacheType[]) {
  test(`${type} KV store: append, attend, truncate, copyPrefix, bytes`, async () => {
    const { kernels } = await createKernels({ backend: 'ref' });
    const store = createKVStore(type, kernels, shape);
    const keys = randomFloats(10 * kDim, 1), values = randomFloats(10 * vDim, 2), q = randomFloats(3 * qDim, 3);
    const out = new Float32Array(3 * oDim);
    assert.equal(store.length, 0);
    const elBytes = type === 'f16' ? 2 : 4; // f16 as llama.cpp holds it: halves
    assert.equal(store.bytes, 2 * 16 * (kDim + vDim) * elBytes);
    for (let l = 0; l < shape.nLayer; l++) store.append(l, 0, keys, values, 7);
    assert.equal(store.length, 7);
    assert.equal(store.bytesUsed(), 2 * 7 * (kDim + vDim) * elBytes);
    // Three queries at positions 4..6 see positions 0..4, 0..5, 0..6.
    store.attend(1, q, 3, 4, attn, out);
    const want = expected(q, keys, values, 3, 4, type === 'f16');
    assertClose(out, want, 'attend');
    assert.throws(() => store.attend(0, q, 3, 5, attn, out), ArgumentError, 'past the stored positions');
    assert.throws(() => store.append(0, 9, keys, values, 1), ArgumentError, 'a hole');

    store.truncate(4);
    assert.equal(store.length, 4);
    assert.throws(() => store.truncate(5), ArgumentError);
    // Positions 4.. written again with other keys and values: attention sees the new ones.
    const keys2 = keys.slice(), values2 = values.slice();
    keys2.set(randomFloats(6 * kDim, 4), 4 * kDim);
    values2.set(randomFloats(6 * vDim, 5), 4 * vDim);
    for (let l = 0; l < shape.nLayer; l++) store.append(l, 4, keys2.subarray(4 * kDim), values2.subarray(4 * vDim), 3);
    store.attend(0, q, 3, 4, attn, out);
    assertClose(out, expected(q, keys2, values2, 3, 4, type === 'f16'), 'after truncate');

    const copy = createKVStore(type, kernels, shape);
    copy.copyPrefix(store, 6);
    assert.equal(copy.length, 6);
    copy.attend(0, q, 2, 4, attn, out);
    assertClose(out.subarray(0, 2 * oDim), expected(q, keys2, values2, 2, 4, type === 'f16'), 'copied prefix');
    assert.throws(() => copy.copyPrefix(createKVStore(type === 'f16' ? 'f32' : 'f16', kernels, shape), 0), ArgumentError, 'another kind');
    assert.throws(() => copy.copyPrefix(createKVStore(type, kernels, { ...shape, nHeadKv: 1 }), 0), ArgumentError, 'another shape');
    store.dispose();
    copy.dispose();
  });
}

test('an unknown KV cache type is named', async () => {
  const { kernels } = await createKernels({ backend: 'ref' });
  assert.throws(() => createKVStore('q3_K' as KVCacheType, kernels, shape), /unknown KV cache type "q3_K" \(lutra knows f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl\)/);
});

test('the f16 KV store holds each value rounded as f32ToF16 (ties to even, subnormal halves, overflow to infinity)', async () => {
  const { kernels } = await createKernels({ backend: 'wasm' });
  const s = createKVStore('f16', kernels, shape);
  // Halfway cases between halves at several scales, subnormal halves and below them, the largest
  // half and the first values that round past it, signed zeros; then random values of every scale.
  const tricky = [0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 1e-8, 65504, 65519.99, 65520, -65520, 1e6, 0.1, -0.3333, 2 ** -20 * 1.5];
  const nTok = shape.nCtx, first = 5;
  const keys = new Float32Array(nTok * kDim), values = new Float32Array(nTok * vDim);
  let seed = 3;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < keys.length; i++) keys[i] = i < tricky.length ? tricky[i]! : (rnd() - 0.5) * 2 ** (rnd() * 44 - 28);
  for (let i = 0; i < values.length; i++) values[i] = (rnd() - 0.5) * 2 ** (rnd() * 44 - 28);
  // The first positions from arrays longer than what is appended (the store writes only their
  // first rows), the rest from arrays exactly as long.
  s.append(0, 0, keys, values, first);
  s.append(0, first, keys.slice(first * kDim), values.slice(first * vDim), nTok - first);
  const held = s as unknown as { keys: Uint16Array[]; values: Uint16Array[] };
  for (let i = 0; i < keys.length; i++) assert.equal(held.keys[0]![i], f32ToF16(keys[i]!), `key ${i}: ${keys[i]}`);
  for (let i = 0; i < values.length; i++) assert.equal(held.values[0]![i], f32ToF16(values[i]!), `value ${i}: ${values[i]}`);
});
