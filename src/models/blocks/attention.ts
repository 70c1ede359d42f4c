// Multi-head self-attention with grouped KV heads, as the Llama family has it: Q/K/V projections
// (optional biases, optional per-head RMSNorm of Q and K), RoPE, the KV store's attention, the
// output projection. Reads s.xn, leaves the branch output in s.xn. A sliding window is the KV
// store's (AttentionShape.window); MLA is another block beside this one.

import { blk } from '../../formats/gguf-names.js';
import type { Kernels, RopeParams, WeightMatrix } from '../../kernels/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { AttentionShape } from '../kv-store.js';
import type { TensorTable } from '../tensors.js';
import { scale } from './io.js';

export interface AttentionWeights {
  wq: WeightMatrix; wk: WeightMatrix; wv: WeightMatrix; wo: WeightMatrix;
  bq: Float32Array | null; bk: Float32Array | null; bv: Float32Array | null; bo: Float32Array | null;
  qNorm: Float32Array | null; kNorm: Float32Array | null;
  /** Per-tensor scales of the q/k/v products, applied before the biases (BitNet's `.scale` tensors); absent: 1. */
  qkvScale?: readonly [q: number, k: number, v: number];
}

export interface AttentionOptions {
  /** 'required': q/k/v biases must exist (Qwen2); 'optional': used when present. */
  qkvBias: 'required' | 'optional';
  /** Per-head RMSNorm of Q and K before RoPE (Qwen3). */
  qkNorm: boolean;
}

export function loadAttention(t: TensorTable, hp: DecoderHParams, layer: number, opt: AttentionOptions): AttentionWeights {
  const { nEmbd, nHead, nHeadKv, headDim, headDimV } = hp;
  const qDim = nHead * headDim, kDim = nHeadKv * headDim, vDim = nHeadKv * headDimV;
  const bias = (name: string, n: number) => (opt.qkvBias === 'required' ? t.vector(name, n) : t.optionalVector(name, n));
  return {
    wq: t.matrix(blk(layer, 'attnQ'), nEmbd, qDim),
    wk: t.matrix(blk(layer, 'attnK'), nEmbd, kDim),
    wv: t.matrix(blk(layer, 'attnV'), nEmbd, vDim),
    wo: t.matrix(blk(layer, 'attnOutput'), nHead * headDimV, nEmbd),
    bq: bias(blk(layer, 'attnQ', 'bias'), qDim),
    bk: bias(blk(layer, 'attnK', 'bias'), kDim),
    bv: bias(blk(layer, 'attnV', 'bias'), vDim),
    bo: t.optionalVector(blk(layer, 'attnOutput', 'bias'), nEmbd),
    qNorm: opt.qkNorm ? t.vector(blk(layer, 'attnQNorm'), headDim) : null,
    kNorm: opt.qkNorm ? t.vector(blk(layer, 'attnKNorm'), headDim) : null,
  };
}

export function attentionMatrices(w: AttentionWeights): WeightMatrix[] {
  return [w.wq, w.wk, w.wv, w.wo];
}

/** y[t] += b for each of nTok rows (nothing when b is null), by the kernels' addRows where they have one. */
export function addBias(y: Float32Array, b: Float32Array | null, nTok: number, kernels?: Kernels): void {
  if (!b) return;
  const n = b.length;
  if (kernels?.addRows) return kernels.addRows(y, b, n, nTok);
  for (let t = 0; t < nTok; t++) for (let i = 0; i < n; i++) y[t * n + i] += b[i]!;
}

/**
 * Self-attention of layer `layer` over the KV store: s.xn -> s.xn. `rope` and `shape` override the
 * model's (Gemma 3's local layers: another RoPE base, a sliding window).
 */
export function selfAttention(f: ForwardPass, layer: number, w: AttentionWeights, rope: RopeParams = f.hp.rope, shape: AttentionShape = f.attention): void {
  attendHeads(f, layer, w, rope, shape);
  f.kernels.matmul(w.wo, f.s.att, f.nTok, f.s.xn); addBias(f.s.xn, w.bo, f.nTok, f.kernels);
}

/** Everything of selfAttention before the output projection: s.xn -> s.att (nTok, nHead * headDimV). */
export function attendHeads(f: ForwardPass, layer: number, w: Omit<AttentionWeights, 'wo' | 'bo'>, rope: RopeParams = f.hp.rope, shape: AttentionShape = f.attention): void {
  const { kernels, hp, s, nTok, pos0 } = f;
  const { nHead, nHeadKv, headDim, eps } = hp;
  const { xn, q, k: keys, v: values, att } = s;
  // The three products of xn as one job over the kernels' threads.
  kernels.matmulMany([w.wq, w.wk, w.wv], xn, nTok, [q, keys, values]);
  if (w.qkvScale) {
    scale(q, w.qkvScale[0], nTok * nHead * headDim);
    scale(keys, w.qkvScale[1], nTok * nHeadKv * headDim);
    scale(values, w.qkvScale[2], nTok * nHeadKv * hp.headDimV);
  }
  addBias(q, w.bq, nTok, kernels); addBias(keys, w.bk, nTok, kernels); addBias(values, w.bv, nTok, kernels);
  if (w.qNorm) kernels.rmsNorm(q, w.qNorm, eps, headDim, nTok * nHead, q);
  if (w.kNorm) kernels.rmsNorm(keys, w.kNorm, eps, headDim, nTok * nHeadKv, keys);
  kernels.rope(q, nTok, nHead, headDim, pos0, rope);
  kernels.rope(keys, nTok, nHeadKv, headDim, pos0, rope);
  f.kv.append(layer, pos0, keys, values, nTok);
  f.kv.attend(layer, q, nTok, pos0, shape, att);
}
