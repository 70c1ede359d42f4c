// The KV cache: per layer, keys (nCtx, nHeadKv * headDim) and values (nCtx, nHeadKv * headDimV),
// allocated once per context. With type 'f16' (llama.cpp's default cache type) values are rounded
// through half precision on store, so attention sees what llama.cpp's cache would hold.

import { roundF16 } from '../core/f16.js';
import { ArgumentError } from '../core/errors.js';
import type { KVStore } from '../models/layers.js';

export type KVCacheType = 'f16' | 'f32';

export class KVCache implements KVStore {
  readonly f16: boolean;
  private readonly keys: Float32Array[] = [];
  private readonly values: Float32Array[] = [];
  private readonly kStride: number;
  private readonly vStride: number;

  constructor(readonly nLayer: number, readonly nCtx: number, nHeadKv: number, headDim: number, headDimV: number, type: KVCacheType = 'f16', alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    this.f16 = type === 'f16';
    this.kStride = nHeadKv * headDim;
    this.vStride = nHeadKv * headDimV;
    for (let l = 0; l < nLayer; l++) {
      this.keys.push(alloc(nCtx * this.kStride));
      this.values.push(alloc(nCtx * this.vStride));
    }
  }

  buffers(): Float32Array[] {
    return [...this.keys, ...this.values];
  }

  get bytes(): number {
    return this.nLayer * this.nCtx * (this.kStride + this.vStride) * (this.f16 ? 2 : 4);
  }

  k(layer: number): Float32Array {
    return this.keys[layer]!;
  }

  v(layer: number): Float32Array {
    return this.values[layer]!;
  }

  store(layer: number, pos0: number, k: Float32Array, v: Float32Array, nTok: number): void {
    if (pos0 + nTok > this.nCtx) throw new ArgumentError(`context full: positions ${pos0}..${pos0 + nTok - 1} exceed the context size ${this.nCtx}`);
    const kd = this.keys[layer]!, vd = this.values[layer]!;
    const nk = nTok * this.kStride, nv = nTok * this.vStride;
    const ko = pos0 * this.kStride, vo = pos0 * this.vStride;
    if (this.f16) {
      for (let i = 0; i < nk; i++) kd[ko + i] = roundF16(k[i]!);
      for (let i = 0; i < nv; i++) vd[vo + i] = roundF16(v[i]!);
    } else {
      kd.set(k.subarray(0, nk), ko);
      vd.set(v.subarray(0, nv), vo);
    }
  }
}
