// The layout of the dense stores: per layer, keys (nCtx, nHeadKv * headDim) and values
// (nCtx, nHeadKv * headDimV) as one element array each in the kernels' memory (f32, or f16 halves),
// attended by Kernels.attention. Subclasses decide the element type and how a value is written.

import { ArgumentError } from '../../core/errors.js';
import { SpanKVStoreBase } from './base.js';
import { F16_TO_F32 } from '../../core/f16.js';
import type { AttentionParams, Kernels } from '../../kernels/types.js';
import type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';

type Elements = Float32Array | Uint16Array;

/** n int32s in the kernels' memory where they have one (span lists the WebAssembly attention reads in place). */
export function kvInts(kernels: Kernels, n: number): Int32Array {
  if (!kernels.allocBytes) return new Int32Array(n);
  const b = kernels.allocBytes(n * 4);
  return new Int32Array(b.buffer, b.byteOffset, n);
}

export abstract class DenseKVStore<A extends Elements = Elements> extends SpanKVStoreBase implements KVStore {
  private readonly keys: A[] = [];
  private readonly values: A[] = [];
  private readonly kStride: number;
  private readonly vStride: number;
  /** Filled from the shape on each attend(), so the hot loop allocates nothing. */
  private readonly params: AttentionParams;
  /** One [start, end) span per KV head, for a sliding-window query. */
  protected readonly window: Int32Array;
  protected readonly windowCount: Int32Array;

  /**
   * f16: the arrays hold f16 halves (2 bytes an element), else f32; alloc(kernels, n) gives an
   * array of n such elements, in the kernels' memory where they have one.
   */
  constructor(protected readonly kernels: Kernels, shape: KVShape, private readonly f16: boolean, alloc: (n: number) => A) {
    super(shape);
    this.kStride = shape.nHeadKv * shape.headDim;
    this.vStride = shape.nHeadKv * shape.headDimV;
    for (let l = 0; l < shape.nLayer; l++) {
      this.keys.push(alloc(shape.nCtx * this.kStride));
      this.values.push(alloc(shape.nCtx * this.vStride));
    }
    this.params = { nHead: 0, nHeadKv: shape.nHeadKv, headDim: shape.headDim, headDimV: shape.headDimV, scale: 1, f16, spans: null, spanCount: null, spanStride: 0 };
    // In the kernels' memory where they have one, so the WebAssembly attention reads them in place.
    this.window = kvInts(kernels, 2 * shape.nHeadKv);
    this.windowCount = kvInts(kernels, shape.nHeadKv).fill(1);
  }

  /** dst[offset..offset+n) = src[0..n), as this store holds values. */
  protected abstract write(dst: A, offset: number, src: Float32Array, n: number): void;

  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    this.checkAppend(pos0, nTok);
    this.write(this.keys[layer]!, pos0 * this.kStride, keys, nTok * this.kStride);
    this.write(this.values[layer]!, pos0 * this.vStride, values, nTok * this.vStride);
    if (pos0 + nTok > this.length) this.length = pos0 + nTok;
  }

  protected run(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array, spans: Int32Array | null, spanCount: Int32Array | null, spanStride: number): void {
    if (pos0 + nTok > this.length) throw new ArgumentError(`KV store: attending to positions up to ${pos0 + nTok - 1}, but it holds ${this.length}`);
    const p = this.params;
    if (shape.nHeadKv !== p.nHeadKv || shape.headDim !== p.headDim || shape.headDimV !== p.headDimV) {
      throw new ArgumentError(`KV store holds ${p.nHeadKv} heads of ${p.headDim}/${p.headDimV}, attention asks for ${shape.nHeadKv} of ${shape.headDim}/${shape.headDimV}`);
    }
    p.nHead = shape.nHead;
    p.scale = shape.scale;
    p.spans = spans; p.spanCount = spanCount; p.spanStride = spanStride;
    this.kernels.attention(q, this.keys[layer]!, this.values[layer]!, nTok, pos0, p, out);
  }

  /** Keys of positions pos0..pos0+n-1 of one layer as attention reads them (f16: the halves widened). */
  readKeys(layer: number, pos0: number, n: number, dst: Float32Array): void {
    const src = this.keys[layer]!, o = pos0 * this.kStride, len = n * this.kStride;
    if (src instanceof Float32Array) dst.set(src.subarray(o, o + len));
    else for (let i = 0; i < len; i++) dst[i] = F16_TO_F32[src[o + i]!]!;
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
    for (const b of [...this.keys, ...this.values, this.window, this.windowCount]) this.kernels.release?.(b);
    this.keys.length = 0;
    this.values.length = 0;
  }
}
