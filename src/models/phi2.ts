// Phi-2 (and TinyGPT-V's language model): LayerNorm with bias, one fused QKV projection with
// bias, partial rotary (rope.dimension_count of each head, NeoX layout), and attention and a GELU
// MLP run in parallel on the same normed input, both added to the residual. Biased output head.

import { ModelError } from '../core/errors.js';
import { blk, hpKey, TENSOR } from '../formats/gguf-names.js';
import type { WeightMatrix } from '../kernels/types.js';
import { gelu, layerNorm } from './blocks/act.js';
import { addBias, selfAttention, type AttentionWeights } from './blocks/attention.js';
import { embedInputs, loadTokenEmbedding, outputHead, type OutputWeights } from './blocks/io.js';
import { addResidual } from './blocks/norm.js';
import { readDecoderHParams, type DecoderHParams } from './decoder.js';
import { Meta } from './hparams.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';

interface Phi2Layer {
  norm: Float32Array; normB: Float32Array;
  attn: AttentionWeights;
  up: WeightMatrix; upB: Float32Array; down: WeightMatrix; downB: Float32Array;
}

export interface Phi2Weights {
  tokEmbd: WeightMatrix;
  layers: Phi2Layer[];
  /** LayerNorm with bias, then the projection with its bias. */
  head: OutputWeights;
}

/** Q, K and V of a fused attn_qkv (rows q, then k, then v) as three views; its bias split alike. */
export function fusedQkv(t: StrictTensorTable, hp: DecoderHParams, l: number): Pick<AttentionWeights, 'wq' | 'wk' | 'wv' | 'bq' | 'bk' | 'bv'> {
  const q = hp.nHead * hp.headDim, k = hp.nHeadKv * hp.headDim, v = hp.nHeadKv * hp.headDimV;
  const [wq, wk, wv] = t.split(blk(l, 'attnQkv'), hp.nEmbd, [q, k, v]) as [WeightMatrix, WeightMatrix, WeightMatrix];
  const b = t.optionalVector(blk(l, 'attnQkv', 'bias'), q + k + v);
  return { wq, wk, wv, bq: b?.subarray(0, q) ?? null, bk: b?.subarray(q, q + k) ?? null, bv: b?.subarray(q + k) ?? null };
}

/**
 * Q, K and V as llama.cpp's create_tensor_qkv takes them: the fused attn_qkv where the file has
 * one, else attn_q / attn_k / attn_v (today's converter writes Phi-2 so), biases where present.
 */
export function qkvOf(t: StrictTensorTable, hp: DecoderHParams, l: number): Pick<AttentionWeights, 'wq' | 'wk' | 'wv' | 'bq' | 'bk' | 'bv'> {
  if (t.has(blk(l, 'attnQkv'))) return fusedQkv(t, hp, l);
  const e = hp.nEmbd, q = hp.nHead * hp.headDim, k = hp.nHeadKv * hp.headDim, v = hp.nHeadKv * hp.headDimV;
  return {
    wq: t.matrix(blk(l, 'attnQ'), e, q), wk: t.matrix(blk(l, 'attnK'), e, k), wv: t.matrix(blk(l, 'attnV'), e, v),
    bq: t.optionalVector(blk(l, 'attnQ', 'bias'), q), bk: t.optionalVector(blk(l, 'attnK', 'bias'), k), bv: t.optionalVector(blk(l, 'attnV', 'bias'), v),
  };
}

export const phi2: Architecture<Phi2Weights> = {
  name: 'phi2',
  load(src, alloc) {
    const t = new StrictTensorTable(src, alloc);
    const hp0 = readDecoderHParams(t, 'phi2', { neox: true });
    const eps = new Meta(src.metadata, src.file).num(hpKey('phi2', 'normEps'));
    if (hp0.headDim !== hp0.headDimV) throw new ModelError(`${src.file}: phi2 with key_length ${hp0.headDim} != value_length ${hp0.headDimV} is not implemented`);
    const hp: DecoderHParams = { ...hp0, eps, scratch: { normed: hp0.nEmbd } };
    const e = hp.nEmbd;
    const layers = Array.from({ length: hp.nLayer }, (_, l): Phi2Layer => ({
      norm: t.vector(blk(l, 'attnNorm'), e), normB: t.vector(blk(l, 'attnNorm', 'bias'), e),
      attn: {
        ...qkvOf(t, hp, l), wo: t.matrix(blk(l, 'attnOutput'), hp.nHead * hp.headDimV, e), bo: t.vector(blk(l, 'attnOutput', 'bias'), e),
        qNorm: null, kNorm: null,
      },
      up: t.matrix(blk(l, 'ffnUp'), e, hp.nFF), upB: t.vector(blk(l, 'ffnUp', 'bias'), hp.nFF),
      down: t.matrix(blk(l, 'ffnDown'), hp.nFF, e), downB: t.vector(blk(l, 'ffnDown', 'bias'), e),
    }));
    const w: Phi2Weights = {
      tokEmbd: loadTokenEmbedding(t, hp), layers,
      head: {
        norm: t.vector(TENSOR.outputNorm, e), normBias: t.vector('output_norm.bias', e),
        output: t.matrix(TENSOR.output, e, hp.nVocab), outputBias: t.vector('output.bias', hp.nVocab),
      },
    };
    t.refuseUnused('phi2');
    return { hp, w };
  },
  output: (w) => w.head.output,
  matmulWeights: (w) => [w.head.output, ...w.layers.flatMap((L) => [L.attn.wq, L.attn.wk, L.attn.wv, L.attn.wo, L.up, L.down])],
  forward(f, w) {
    const { hp, s, nTok } = f;
    const n = hp.nEmbd, normed = s.extra.normed!;
    embedInputs(f, w.tokEmbd);
    for (let l = f.layer0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      layerNorm(s.x, L.norm, L.normB, hp.eps, n, nTok, s.xn);
      normed.set(s.xn.subarray(0, nTok * n));
      selfAttention(f, l, L.attn);
      addResidual(f);
      f.kernels.matmul(L.up, normed, nTok, s.up); addBias(s.up, L.upB, nTok);
      gelu(s.up, nTok * hp.nFF);
      f.kernels.matmul(L.down, s.up, nTok, s.xn); addBias(s.xn, L.downB, nTok);
      addResidual(f);
    }
    return outputHead(f, w.head);
  },
};
