// The f16 KV store (llama.cpp's default cache type): keys and values held as f16 halves, 2 bytes
// an element as in llama.cpp's cache (converted with round-to-nearest-even, as ggml's
// fp32_to_fp16), attended by the kernels' f16 path (Q rounded too, the V sum in f16, online
// softmax), so attention sees what llama.cpp's cache holds.

import { f32ToF16 } from '../../core/f16.js';
import type { Kernels } from '../../kernels/types.js';
import type { KVShape } from '../../models/kv-store.js';
import { DenseKVStore } from './dense.js';

export class F16KVStore extends DenseKVStore<Uint16Array> {
  constructor(kernels: Kernels, shape: KVShape) {
    super(kernels, shape, true, (n) => {
      if (!kernels.allocBytes) return new Uint16Array(n);
      const b = kernels.allocBytes(n * 2);
      return new Uint16Array(b.buffer, b.byteOffset, n);
    });
  }

  protected write(dst: Uint16Array, offset: number, src: Float32Array, n: number): void {
    // The kernels' conversion where they have one (WebAssembly: ~0.3 ms a 0.5B decode step less than this loop).
    if (this.kernels.toF16) return this.kernels.toF16(src, n, dst, offset);
    for (let i = 0; i < n; i++) dst[offset + i] = f32ToF16(src[i]!);
  }
}
