// The f16 KV store (llama.cpp's default cache type): keys and values rounded through half precision
// on append and attended by the kernels' f16 path (Q rounded too, online softmax), so attention sees
// what llama.cpp's cache would hold. Held as f32 values; a packed layout would halve the bytes.

import { roundF16 } from '../../core/f16.js';
import type { Kernels } from '../../kernels/types.js';
import type { KVShape } from '../../models/kv-store.js';
import { DenseKVStore } from './dense.js';

export class F16KVStore extends DenseKVStore {
  constructor(kernels: Kernels, shape: KVShape) {
    super(kernels, shape, true);
  }

  protected write(dst: Float32Array, offset: number, src: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) dst[offset + i] = roundF16(src[i]!);
  }
}
