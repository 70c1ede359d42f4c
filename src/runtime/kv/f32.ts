// The f32 KV store: keys and values as computed.

import type { Kernels } from '../../kernels/types.js';
import type { KVShape } from '../../models/kv-store.js';
import { DenseKVStore } from './dense.js';

export class F32KVStore extends DenseKVStore {
  constructor(kernels: Kernels, shape: KVShape) {
    super(kernels, shape, false);
  }

  protected write(dst: Float32Array, offset: number, src: Float32Array, n: number): void {
    dst.set(src.subarray(0, n), offset);
  }
}
