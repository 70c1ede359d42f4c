// The layout of the dense stores: per layer, keys (nCtx, nHeadKv * headDim) and values
// (nCtx, nHeadKv * headDimV) as one element array each in the kernels' memory (f32, or f16 halves),
// attended by Kernels.attention. Subclasses decide the element type and how a value is written.

import { ArgumentError } from '../../core/errors.js';
import { KVStoreBase } from './base.js';
import type { AttentionParams, Kernels } from '../../kernels/types.js';
import type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';

type Elements = Float32Array | Uint16Array;

export abstract class DenseKVStore<A extends Elements = Elements> extends KVStoreBase implements KVStore {
  private readonly keys: A[] = [];
  private readonly values: A[] = [];
  private readonly kStride: number;
  private readonly vStride: number;
  /** Filled from the shape on each attend(), so the hot loop allocates nothing. */
  private readonly params: AttentionParams;

  /**
   * f16: the arrays hold f16 halves (2 bytes an element), else f32; alloc(kernels, n) gives an
   * array of n such elements, in the kernels' memory where they have one.
   */
  constructor(private readonly kernels: Kernels, shape: KVShape, private readonly f16: boolean, alloc: (n: number) => A) {
    super(shape);
    this.kStride = shape.nHeadKv * shape.headDim;
    this.vStride = shape.nHeadKv * shape.headDimV;
    for (let l = 0; l < shape.nLayer; l++) {
      this.keys.push(alloc(shape.nCtx * this.kStride));
      this.values.push(alloc(shape.nCtx * this.vStride));
    }
    this.params = { nHead: 0, nHeadKv: shape.nHeadKv, headDim: shape.headDim, headDimV: shape.headDimV, scale: 1, f16 };
  }

  /** dst[offset..offset+n) = src[0..n), as this store holds values. */
  protected abstract write(dst: A, offset: number, src: Float32Array, n: number): void;

  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    this.checkAppend(pos0, nTok);
    this.write(this.keys[layer]!, pos0 * this.kStride, keys, nTok * this.kStride);
    this.write(this.values[layer]!, pos0 * this.vStride, values, nTok * this.vStride);
    if (pos0 + nTok > this.length) this.length = pos0 + nTok;
  }

  attend(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array): void {
    if (pos0 + nTok > this.length) throw new ArgumentError(`KV store: attending to positions up to ${pos0 + nTok - 1}, but it holds ${this.length}`);
    const p = this.params;
    p.nHead = shape.nHead;
    p.scale = shape.scale;
    if (shape.nHeadKv !== p.nHeadKv || shape.headDim !== p.headDim || shape.headDimV !== p.headDimV) {
      throw new ArgumentError(`KV store holds ${p.nHeadKv} heads of ${p.headDim}/${p.headDimV}, attention asks for ${shape.nHeadKv} of ${shape.headDim}/${shape.headDimV}`);
    }
    const keys = this.keys[layer]!, values = this.values[layer]!;
    const w = shape.window ?? 0;
    // Queries whose window still starts at position 0 attend as plain causal attention.
    const nFull = w ? Math.max(0, Math.min(nTok, w - pos0)) : nTok;
    if (nFull > 0) this.kernels.attention(q, keys, values, nFull, pos0, p, out);
    // Past it, one query at a time over a view that starts at its window: the kernel's causal
    // attention of position window-1 there is the windowed attention here (RoPE is already in K).
    const qStride = shape.nHead * shape.headDim, oStride = shape.nHead * shape.headDimV;
    for (let t = nFull; t < nTok; t++) {
      const start = pos0 + t - w + 1;
      this.kernels.attention(q.subarray(t * qStride), keys.subarray(start * this.kStride), values.subarray(start * this.vStride), 1, w - 1, p, out.subarray(t * oStride));
    }
  }

  truncate(n: number): void {
    this.checkTruncate(n);
    this.length = n;
  }

  copyPrefix(from: KVStore, n: number): void {
    if (!(from instanceof DenseKVStore) || from.constructor !== this.constructor || from.kStride !== this.kStride || from.vStride !== this.vStride || from.nLayer !== this.nLayer) {
      throw new ArgumentError(`KV store: cannot copy from a ${from.constructor.name} of ${from.nLayer} layers x ${from.nHeadKv} heads into a ${this.constructor.name} of ${this.nLayer} x ${this.nHeadKv}`);
    }
    if (!(Number.isInteger(n) && n >= 0 && n <= from.length && n <= this.nCtx)) throw new ArgumentError(`KV store: cannot copy ${n} positions: the source holds ${from.length}, this store ${this.nCtx}`);
    for (let l = 0; l < this.nLayer; l++) {
      this.keys[l]!.set(from.keys[l]!.subarray(0, n * this.kStride));
      this.values[l]!.set(from.values[l]!.subarray(0, n * this.vStride));
    }
    this.length = n;
  }

  get bytes(): number {
    return this.nLayer * this.nCtx * (this.kStride + this.vStride) * (this.f16 ? 2 : 4);
  }

  bytesUsed(): number {
    return this.nLayer * this.length * (this.kStride + this.vStride) * (this.f16 ? 2 : 4);
  }

  dispose(): void {
    for (const b of [...this.keys, ...this.values]) this.kernels.release?.(b);
    this.keys.length = 0;
    this.values.length = 0;
  }
}
