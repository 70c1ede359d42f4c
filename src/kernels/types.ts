// The kernel interface: every op a decode or prefill step spends time in. The model code calls only
// these; backends (the TypeScript reference in ref/, WebAssembly in wasm/) implement them with the
// same signatures, and a backend may delegate any op it lacks to the reference.
//
// Layouts: activations are row-major [nTok, n] Float32Arrays; a weight matrix is `rows` rows of
// `cols` elements in its quant format (ggml order: a row is contiguous, blocks run along it).

import type { QuantFormat, WeightBytes } from '../quant/types.js';

/** How prepareWeights may treat a group of matrices. */
export interface PrepareWeightsOptions {
  /**
   * Products over many tokens may take a tiled GEMM whose sums run in blocks along k: a token's
   * result then depends on how many tokens share the call. Only for callers that never hold a batch
   * against its tokens one at a time (the vision encoder). A language model's products stay
   * batch-invariant: a reused prompt prefix, a speculative verify and a streamed answer must see the
   * logits a whole prefill gives, bit for bit.
   */
  gemm?: boolean;
}

export interface WeightMatrix extends WeightBytes {
  readonly name: string;
  readonly format: QuantFormat;
  /** Output features (ggml ne[1]). */
  readonly rows: number;
  /** Input features (ggml ne[0]). */
  readonly cols: number;
  readonly rowBytes: number;
}

export interface RopeParams {
  /** Number of leading dimensions of each head that rotate. */
  nRot: number;
  /** true: NeoX layout (pairs i, i + nRot/2); false: interleaved pairs (2i, 2i+1) as llama.cpp's NORM. */
  neox: boolean;
  /** Per-pair inverse frequency with scaling and frequency factors folded in (length nRot/2). */
  invFreq: Float64Array;
  /** YaRN extrapolation mix per pair (0 = interpolate fully), and the magnitude scale. */
  rampMix: Float64Array | null;
  freqScale: number;
  mscale: number;
}

/**
 * The rotation angle of pair i at position pos: linear / YaRN interpolation mixed with
 * extrapolation per pair (ggml's rope_yarn), frequency factors already folded into invFreq.
 * Shared by every backend so RoPE scaling lives in one place.
 */
export function ropeTheta(p: RopeParams, pos: number, i: number): number {
  const extrap = pos * p.invFreq[i]!;
  const interp = extrap * p.freqScale;
  return p.rampMix ? interp * (1 - p.rampMix[i]!) + extrap * p.rampMix[i]! : interp;
}

export interface AttentionParams {
  nHead: number;
  nHeadKv: number;
  headDim: number;
  headDimV: number;
  scale: number;
  /**
   * The caches hold f16 halves (Uint16Array; llama.cpp's default cache type): round Q too and
   * accumulate as llama.cpp's f16 kernel. false: f32 caches. Set by the KV store that owns the
   * cache, not the model.
   */
  f16: boolean;
  /**
   * Only for nTok = 1, set by the KV store: the positions each KV head attends, as [start, end)
   * pairs, kvh's spanCount[kvh] pairs from spans[kvh * spanStride] (a sliding window, the sparse
   * attention's selected blocks). Absent or null: every position 0..pos0.
   */
  spans?: Int32Array | null;
  spanCount?: Int32Array | null;
  spanStride?: number;
}

/**
 * Attention over a cache of quantized (or f16/bf16/f32) rows, as ggml's CPU flash attention reads a
 * cache of that type: each query head converted to the K format's vec_dot type, K.Q by the format's
 * dot product, V rows dequantized into an f32 accumulator (an f16 one for F16 values). Row bytes
 * cover all KV heads of one position; head h's bytes start at h * headDim / blockSize * typeSize.
 */
export interface QuantAttentionParams {
  nHead: number;
  nHeadKv: number;
  headDim: number;
  headDimV: number;
  scale: number;
  kFormat: QuantFormat;
  vFormat: QuantFormat;
  /** Bytes per position of the K and V caches (all KV heads). */
  kRowBytes: number;
  vRowBytes: number;
  /**
   * Only for nTok = 1: the positions each KV head attends, as [start, end) pairs, kvh's
   * spanCount[kvh] pairs from spans[kvh * spanStride]. null: every position 0..pos0.
   */
  spans: Int32Array | null;
  spanCount: Int32Array | null;
  spanStride: number;
}

/** Which matrix-product kernels 1-4-bit formats use: table lookup, dequantize, or the measured rule. */
export type MatmulKernels = 'auto' | 'lut' | 'dequant';
/** LUT tables: int8 with a scale per group (fast), or exact int16 sums of int8 activations. */
export type LutTables = 'int8' | 'exact';

export interface Kernels {
  readonly name: string;
  /** y[t, r] = sum_k W[r, k] * x[t, k] for t < nTok. x is [nTok, cols], y is [nTok, rows]. */
  matmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void;
  /**
   * ys[i] = ws[i] x for each i: products of one input (q/k/v, gate/up), each exactly as matmul
   * computes it. A threaded backend runs them as one job (one barrier); the reference in turn.
   */
  matmulMany(ws: readonly WeightMatrix[], x: Float32Array, nTok: number, ys: readonly Float32Array[]): void;
  /** out[t] = x[t] / rms(x[t]) * weight, rows of n. out may alias x. */
  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, n: number, nTok: number, out: Float32Array): void;
  /** Rotate each head of x ([nTok, nHead * headDim]) for positions pos0 + t, in place. */
  rope(x: Float32Array, nTok: number, nHead: number, headDim: number, pos0: number, p: RopeParams): void;
  /**
   * Causal attention of nTok queries at positions pos0.. over a cache holding keys/values for
   * positions 0..pos0+nTok-1. kCache/vCache are [nCtx, nHeadKv * headDim(V)], f32 or (p.f16) f16
   * halves. out is [nTok, nHead * headDimV].
   * Called by the KV stores (runtime/kv/) whose layout this is; the model reaches it through them.
   */
  attention(q: Float32Array, kCache: Float32Array | Uint16Array, vCache: Float32Array | Uint16Array, nTok: number, pos0: number, p: AttentionParams, out: Float32Array): void;
  /**
   * Causal attention of nTok queries at positions pos0.. over K/V caches of any KV cache format
   * (k/v are [nCtx, kRowBytes] bytes): see QuantAttentionParams. Optional: the KV stores fall back
   * to the reference twin (kernels/ref/attention-quant.ts) where a backend lacks it.
   */
  attentionQuant?(q: Float32Array, k: WeightBytes, v: WeightBytes, nTok: number, pos0: number, p: QuantAttentionParams, out: Float32Array): void;
  /**
   * Non-causal attention of an encoder (the vision tower): nQ queries over nK keys, every head, no
   * cache and no mask. scores = K_h Q_h, softmax(scores * scale), out_h = V_h^T P, as ggml's
   * mul_mat / soft_max_ext / mul_mat without flash attention. q is (nQ, nHead * dHead), k and v
   * (nK, nHead * dHead), out (nQ, nHead * dHead). Optional, like the three below: callers fall back
   * to the twins (kernels/ref/encoder.ts; layerNorm: models/blocks/act.ts).
   */
  encoderAttention?(q: Float32Array, k: Float32Array, v: Float32Array, nQ: number, nK: number, nHead: number, dHead: number, scale: number, out: Float32Array): void;
  /** out[t] = (x[t] - mean) / sqrt(var + eps) * weight + bias, rows of n; out may alias x. */
  layerNorm?(x: Float32Array, weight: Float32Array, bias: Float32Array | null, eps: number, n: number, nTok: number, out: Float32Array): void;
  /** y[t * n + i] += b[i] for t < nTok (a bias on every row). */
  addRows?(y: Float32Array, b: Float32Array, n: number, nTok: number): void;
  /**
   * dst[offset + i] = the f16 bits of src[i] for i < n, rounded to nearest even as core/f16.ts's
   * f32ToF16 (what an f16 KV cache stores per decoded token); absent: callers convert themselves.
   */
  toF16?(src: Float32Array, n: number, dst: Uint16Array, offset: number): void;
  /** x[i] = table[f16 bits of x[i]] (ggml's f16 GELU tables); with `clamp`, x <= -10 gives 0 and x >= 10 stays x. */
  mapHalf?(x: Float32Array, n: number, table: Float32Array, clamp: boolean): void;
  /** gate[i] = silu(gate[i]) * up[i]. */
  swiglu(gate: Float32Array, up: Float32Array, n: number): void;
  /** x[i] += y[i] * scale. */
  addScaled(x: Float32Array, y: Float32Array, scale: number, n: number): void;
  /** out[t] = row ids[t] of the embedding table, dequantized. */
  embed(table: WeightMatrix, ids: ArrayLike<number>, nTok: number, out: Float32Array): void;
  /**
   * Re-lay out weight matrices once, at load, for faster kernels (the table-lookup layout of 1-4
   * bit formats). Afterwards their bytes belong to the backend: only its matmul reads them.
   * Returns a line describing which kernels the matrices got.
   */
  prepareWeights?(ws: WeightMatrix[], opts?: PrepareWeightsOptions): string;
  /**
   * Buffers the backend computes on directly (WebAssembly memory). Callers allocate scratch, KV
   * cache and weight bytes through these when present; any plain array still works, just slower.
   */
  allocF32?(n: number): Float32Array;
  allocBytes?(n: number): Uint8Array;
  release?(v: ArrayBufferView): void;
  /** Stop worker threads and free backend resources. */
  dispose?(): void;
}
