// A KV store that holds each cache row in a ggml cache format (f32, f16, bf16, q8_0, q4_0, q4_1,
// q5_0, q5_1, iq4_nl; K and V may differ), byte for byte as llama.cpp's cache of that type: rows
// written by ggml's CPU from_float, the Hadamard rotation of a quantized cache (unless turned off),
// attention as ggml's CPU flash attention over such a cache (Kernels.attentionQuant, the reference
// twin where a backend lacks it). Layout per layer: (nCtx, nHeadKv * headDim) elements in rows of
// kRowBytes for K, likewise V.

import { ArgumentError } from '../../core/errors.js';
import { SpanKVStoreBase } from './base.js';
import { QuantAttentionRef } from '../../kernels/ref/attention-quant.js';
import type { Kernels, QuantAttentionParams } from '../../kernels/types.js';
import type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';
import { weightBytes, type WeightBytes } from '../../quant/types.js';
import { checkHeadSize, type KVCacheFormat } from './cache-types.js';
import { kvInts } from './dense.js';
import { hadamardRows, kRotationSize, rotates, V_ROTATION_SIZE } from './hadamard.js';

export interface PackedKVOptions {
  /** Rotate Q/K/V of a quantized cache as llama.cpp does (default true; its LLAMA_ATTN_ROT_DISABLE=1 is false). */
  rotation?: boolean;
}

export class PackedKVStore extends SpanKVStoreBase implements KVStore {
  /** Whether K (and Q) / V are Hadamard-rotated, and over how many elements. */
  readonly rotK: number;
  readonly rotV: number;
  private readonly keys: WeightBytes[] = [];
  private readonly values: WeightBytes[] = [];
  private readonly kStride: number;
  private readonly vStride: number;
  private readonly kRowBytes: number;
  private readonly vRowBytes: number;
  private readonly params: QuantAttentionParams;
  private tmp: Float32Array = new Float32Array(0);
  private qTmp: Float32Array = new Float32Array(0);
  private readonly ref: QuantAttentionRef | null;
  /** One [start, end) span per KV head, for a sliding-window query. */
  protected readonly window: Int32Array;
  protected readonly windowCount: Int32Array;

  constructor(private readonly kernels: Kernels, shape: KVShape, readonly kType: KVCacheFormat, readonly vType: KVCacheFormat, opts: PackedKVOptions = {}) {
    super(shape);
    checkHeadSize('K', kType, shape.headDim);
    checkHeadSize('V', vType, shape.headDimV);
    const rotation = opts.rotation ?? true;
    this.rotK = rotation && kType.quantized && rotates(shape.headDim) ? kRotationSize(shape.headDim) : 0;
    this.rotV = rotation && vType.quantized && rotates(shape.headDimV) ? V_ROTATION_SIZE : 0;
    this.kStride = shape.nHeadKv * shape.headDim;
    this.vStride = shape.nHeadKv * shape.headDimV;
    this.kRowBytes = (this.kStride / kType.format.blockSize) * kType.format.typeSize;
    this.vRowBytes = (this.vStride / vType.format.blockSize) * vType.format.typeSize;
    const alloc = kernels.allocBytes ? (n: number) => kernels.allocBytes!(n) : (n: number) => new Uint8Array(n);
    for (let l = 0; l < shape.nLayer; l++) {
      this.keys.push(weightBytes(alloc(shape.nCtx * this.kRowBytes)));
      this.values.push(weightBytes(alloc(shape.nCtx * this.vRowBytes)));
    }
    this.params = {
      nHead: 0, nHeadKv: shape.nHeadKv, headDim: shape.headDim, headDimV: shape.headDimV, scale: 1,
      kFormat: kType.format, vFormat: vType.format, kRowBytes: this.kRowBytes, vRowBytes: this.vRowBytes,
      spans: null, spanCount: null, spanStride: 0,
    };
    this.ref = kernels.attentionQuant ? null : new QuantAttentionRef();
    this.window = kvInts(kernels, 2 * shape.nHeadKv);
    this.windowCount = kvInts(kernels, shape.nHeadKv).fill(1);
  }

  private scratch(n: number): Float32Array {
    if (this.tmp.length < n) this.tmp = this.kernels.allocF32 ? this.grow(this.tmp, n) : new Float32Array(n);
    return this.tmp;
  }

  private grow(old: Float32Array, n: number): Float32Array {
    if (old.length) this.kernels.release?.(old);
    return this.kernels.allocF32!(n);
  }

  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    this.checkAppend(pos0, nTok);
    this.writeRows(this.keys[layer]!.data, pos0 * this.kRowBytes, keys, nTok * this.kStride, this.kType, this.rotK);
    this.writeRows(this.values[layer]!.data, pos0 * this.vRowBytes, values, nTok * this.vStride, this.vType, this.rotV);
    if (pos0 + nTok > this.length) this.length = pos0 + nTok;
  }

  private writeRows(dst: Uint8Array, dstOff: number, src: Float32Array, n: number, type: KVCacheFormat, rot: number): void {
    if (rot) {
      const t = this.scratch(n);
      t.set(src.subarray(0, n));
      hadamardRows(t, 0, n, rot);
      src = t;
    }
    type.write(src, 0, dst, dstOff, n);
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
    if (this.rotK) {
      const n = nTok * shape.nHead * shape.headDim;
      if (this.qTmp.length < n) this.qTmp = this.kernels.allocF32 ? this.grow(this.qTmp, n) : new Float32Array(n);
      this.qTmp.set(q.subarray(0, n));
      hadamardRows(this.qTmp, 0, n, this.rotK);
      q = this.qTmp;
    }
    if (this.ref) this.ref.attention(q, this.keys[layer]!, this.values[layer]!, nTok, pos0, p, out);
    else this.kernels.attentionQuant!(q, this.keys[layer]!, this.values[layer]!, nTok, pos0, p, out);
    if (this.rotV) hadamardRows(out, 0, nTok * shape.nHead * shape.headDimV, this.rotV);
  }

  /** Keys (which 'k') or values ('v') of positions pos0..pos0+n-1 of one layer as stored, dequantized (still rotated). */
  readRows(layer: number, which: 'k' | 'v', pos0: number, n: number, dst: Float32Array): void {
    const [buf, rowBytes, stride, type] = which === 'k' ? [this.keys[layer]!, this.kRowBytes, this.kStride, this.kType] : [this.values[layer]!, this.vRowBytes, this.vStride, this.vType];
    type.format.dequantize(buf.data, pos0 * rowBytes, dst, 0, n * stride);
  }

  /** Keys of positions pos0..pos0+n-1 of one layer as attention reads them: dequantized, the rotation undone (H*H = I). */
  readKeys(layer: number, pos0: number, n: number, dst: Float32Array): void {
    this.readRows(layer, 'k', pos0, n, dst);
    if (this.rotK) hadamardRows(dst, 0, n * this.kStride, this.rotK);
  }

  truncate(n: number): void {
    this.checkTruncate(n);
    this.length = n;
  }

  copyPrefix(from: KVStore, n: number): void {
    if (!(from instanceof PackedKVStore) || from.kType.name !== this.kType.name || from.vType.name !== this.vType.name || from.rotK !== this.rotK || from.rotV !== this.rotV || from.kStride !== this.kStride || from.vStride !== this.vStride || from.nLayer !== this.nLayer) {
      throw new ArgumentError(`KV store: cannot copy from a ${describe(from)} into a ${describe(this)}`);
    }
    if (!(Number.isInteger(n) && n >= 0 && n <= from.length && n <= this.nCtx)) throw new ArgumentError(`KV store: cannot copy ${n} positions: the source holds ${from.length}, this store ${this.nCtx}`);
    for (let l = 0; l < this.nLayer; l++) {
      this.keys[l]!.data.set(from.keys[l]!.data.subarray(0, n * this.kRowBytes));
      this.values[l]!.data.set(from.values[l]!.data.subarray(0, n * this.vRowBytes));
    }
    this.length = n;
  }

  get bytes(): number {
    return this.nLayer * this.nCtx * (this.kRowBytes + this.vRowBytes);
  }

  bytesUsed(): number {
    return this.nLayer * this.length * (this.kRowBytes + this.vRowBytes);
  }

  dispose(): void {
    for (const b of [...this.keys, ...this.values]) this.kernels.release?.(b.data);
    if (this.tmp.length) this.kernels.release?.(this.tmp);
    if (this.qTmp.length) this.kernels.release?.(this.qTmp);
    this.kernels.release?.(this.window);
    this.kernels.release?.(this.windowCount);
    this.keys.length = 0;
    this.values.length = 0;
  }
}

function describe(s: KVStore): string {
  return s instanceof PackedKVStore ? `${s.kType.name}/${s.vType.name} cache${s.rotK || s.rotV ? ' (rotated)' : ''} of ${s.nLayer} layers x ${s.nHeadKv} heads` : `${s.constructor.name} of ${s.nLayer} layers x ${s.nHeadKv} heads`;
}
