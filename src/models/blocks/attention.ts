// Multi-head self-attention with grouped KV heads, as the Llama family has it: Q/K/V projections
// (optional biases, optional per-head RMSNorm of Q and K), RoPE, the KV store's attention, the
// output projection. Reads s.xn, leaves the branch output in s.xn. An MLA or sliding-window
// attention is another block beside this one, not an option of it.

import { blk } from '../../formats/gguf-names.js';
import type { WeightMatrix } from '../../kernels/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { TensorTable } from '../tensors.js';

export interface AttentionWeights {
  wq: WeightMatrix; wk: WeightMatrix; wv: WeightMatrix; wo: WeightMatrix;
  bq: Float32Array | null; bk: Float32Array | null; bv: Float32Array | null; bo: Float32Array | null;
  qNorm: Float32Array | null; kNorm: Float32Array | null;
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

function addBias(y: Float32Array, b: Float32Array | null, nTok: number): void {
  if (!b) return;
  const n = b.length;
  for (let t = 0; t < nTok; t++) for (let i = 0; i < n; i++) y[t * n + i] += b[i]!;
}

/** Self-attention of layer `layer` over the KV store: s.xn -> s.xn. */
export function selfAttention(f: ForwardPass, layer: number, w: AttentionWeights): void {
  const { kernels, hp, s, nTok, pos0 } = f;
  const { nHead, nHeadKv, headDim, eps } = hp;
  const { xn, q, k: keys, v: values, att } = s;
  kernels.matmul(w.wq, xn, nTok, q); addBias(q, w.bq, nTok);
  kernels.matmul(w.wk, xn, nTok, keys); addBias(keys, w.bk, nTok);
  kernels.matmul(w.wv, xn, nTok, values); addBias(values, w.bv, nTok);
  if (w.qNorm) kernels.rmsNorm(q, w.qNorm, eps, headDim, nTok * nHead, q);
  if (w.kNorm) kernels.rmsNorm(keys, w.kNorm, eps, headDim, nTok * nHeadKv, keys);
  kernels.rope(q, nTok, nHead, headDim, pos0, hp.rope);
  kernels.rope(keys, nTok, nHeadKv, headDim, pos0, hp.rope);
  f.kv.append(layer, pos0, keys, values, nTok);
  f.kv.attend(layer, q, nTok, pos0, f.attention, att);
  kernels.matmul(w.wo, att, nTok, xn); addBias(xn, w.bo, nTok);
}
