// The f32 KV store: keys and values as computed.

import type { Kernels } from '../../kernels/types.js';
import type { KVShape } from '../../models/kv-store.js';
import { DenseKVStore } from './dense.js';

export class F32KVStore extends DenseKVStore<Float32Array> {
  constructor(kernels: Kernels, shape: KVShape) {
    super(kernels, shape, false, kernels.allocF32 ? (n) => kernels.allocF32!(n) : (n) => new Float32Array(n));
  }

  protected write(dst: Float32Array, offset: number, src: Float32Array, n: number): void {
    dst.set(src.subarray(0, n), offset);
  }
}
