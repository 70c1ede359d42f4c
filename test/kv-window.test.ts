// Sliding-window attention (AttentionShape.window, Gemma 3's local layers) on every kind of KV store
// and kernel backend: a query at position p over a store of all positions, with the window, equals
// the same query as the last of a store that holds only the window's positions (p-window+1..p,
// written from 0), without one. Whole batches that cross the window's edge included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKVStore, type KVCacheType, type KVShape } from '../src/runtime/kv/index.js';
import { createKernels } from '../src/kernels/index.js';
import { randomFloats } from './helpers.js';

const W = 5, N = 19;
const shape: KVShape = { nLayer: 2, nCtx: 24, nHeadKv: 2, headDim: 32, headDimV: 32 };
const attn = { nHead: 4, nHeadKv: 2, headDim: 32, headDimV: 32, scale: 1 / Math.sqrt(32) };
const kDim = shape.nHeadKv * shape.headDim, vDim = shape.nHeadKv * shape.headDimV, qDim = attn.nHead * attn.headDim, oDim = attn.nHead * attn.headDimV;

for (const backend of ['ref', 'wasm'] as const) {
  for (const type of ['f32', 'f16', 'q8_0'] as KVCacheType[]) {
    test(`${type} KV store (${backend}): windowed attention equals attention over a store of the window alone`, async () => {
      const { kernels } = await createKernels({ backend, threads: 2 });
      const store = createKVStore(type, kernels, shape);
      const small = createKVStore(type, kernels, shape);
      const alloc = (n: number) => kernels.allocF32?.(n) ?? new Float32Array(n);
      const keys = alloc(N * kDim), values = alloc(N * vDim), q = alloc(N * qDim);
      keys.set(randomFloats(N * kDim, 11)); values.set(randomFloats(N * vDim, 12)); q.set(randomFloats(N * qDim, 13));
      const out = alloc(N * oDim), want = alloc(oDim);
      // Positions 0..N-1 in batches of 7 (the second crosses the window's edge), attended as they go.
      for (let p0 = 0; p0 < N; p0 += 7) {
        const n = Math.min(7, N - p0);
        store.append(1, p0, keys.subarray(p0 * kDim), values.subarray(p0 * vDim), n);
        store.attend(1, q.subarray(p0 * qDim), n, p0, { ...attn, window: W }, out.subarray(p0 * oDim));
      }
      let worst = 0;
      for (let p = 0; p < N; p++) {
        const start = Math.max(0, p - W + 1), n = p - start + 1;
        small.truncate(0);
        small.append(1, 0, keys.subarray(start * kDim), values.subarray(start * vDim), n);
        small.attend(1, q.subarray(p * qDim), 1, n - 1, attn, want);
        for (let i = 0; i < oDim; i++) worst = Math.max(worst, Math.abs(out[p * oDim + i]! - want[i]!));
      }
      // The same kernels over the same rows: equal, save the order a batched prefix sums in.
      assert.ok(worst < 1e-6, `max difference ${worst}`);
      // Without the window, a late query sees more than its window: the comparison can fail.
      const full = alloc(oDim);
      store.attend(1, q.subarray((N - 1) * qDim), 1, N - 1, attn, full);
      let diff = 0;
      for (let i = 0; i < oDim; i++) diff = Math.max(diff, Math.abs(full[i]! - out[(N - 1) * oDim + i]!));
      assert.ok(diff > 1e-3, `window changes the result (${diff})`);
      store.dispose(); small.dispose();
    });
  }
}
