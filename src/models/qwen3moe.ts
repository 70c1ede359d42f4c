// Qwen3-MoE: Qwen3's attention (per-head Q/K RMSNorm, NeoX RoPE, no biases) with a mixture-of-
// experts FFN in every layer: softmax router, top-k renormalized, no shared expert. The loader
// here is also Qwen2-MoE's and MiniCPM-MoE's, which differ in options only.

import { ModelError } from '../core/errors.js';
import { ARCH_TENSORS, blk, hpKey } from '../formats/gguf-names.js';
import type { ModelSource } from '../formats/source.js';
import type { WeightMatrix } from '../kernels/types.js';
import { attentionMatrices, loadAttention, selfAttention, type AttentionWeights } from './blocks/attention.js';
import { embedInputs, loadOutput, loadTokenEmbedding, outputHead, type OutputWeights } from './blocks/io.js';
import { loadMoe, moeFfn, moeMatrices, moeScratch, type MoeShape, type MoeWeights } from './blocks/moe.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { readDecoderHParams, type DecoderHParams, type DecoderOptions } from './decoder.js';
import { Meta, positiveInt } from './hparams.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';

export interface MoeLayer {
  attnNorm: Float32Array;
  attn: AttentionWeights;
  ffnNorm: Float32Array;
  moe: MoeWeights;
}

export interface MoeDecoderWeights {
  tokEmbd: WeightMatrix;
  layers: MoeLayer[];
  head: OutputWeights;
  moe: MoeShape;
}

export interface MoeDecoderOptions extends DecoderOptions {
  attn: { qkvBias: 'required' | 'optional'; qkNorm: boolean };
  normTopK: boolean;
  /** Read expert_shared_feed_forward_length and load the shared expert with its sigmoid gate. */
  sharedExpert: boolean;
  /** Experts may lack gate projections (MiniCPM/Granite: silu(up) then). */
  gateOptional?: boolean;
  /** Experts are feed_forward_length wide (MiniCPM), not expert_feed_forward_length or nFF / k. */
  expertsFullWidth?: boolean;
}

/** The expert counts and sizes from metadata; what llama.cpp would honour and lutra does not is refused. */
export function readMoeShape(src: ModelSource, arch: string, nFF: number, sharedExpert: boolean, normTopK: boolean, fullWidth = false): MoeShape {
  const meta = new Meta(src.metadata, src.file);
  const int = (k: Parameters<typeof hpKey>[1], d?: number) => positiveInt(src.file, hpKey(arch, k), meta.num(hpKey(arch, k), d));
  const nExpert = int('expertCount');
  const nExpertUsed = int('expertUsedCount');
  if (nExpertUsed > nExpert) throw new ModelError(`${src.file}: ${hpKey(arch, 'expertUsedCount')} ${nExpertUsed} exceeds ${hpKey(arch, 'expertCount')} ${nExpert}`);
  const gating = meta.num(hpKey(arch, 'expertGatingFunc'), 1);
  if (gating !== 1) throw new ModelError(`${src.file}: ${hpKey(arch, 'expertGatingFunc')} = ${gating}: lutra implements softmax gating (1) only`);
  const groups = meta.num(hpKey(arch, 'expertGroupCount'), 0);
  if (groups > 1) throw new ModelError(`${src.file}: ${hpKey(arch, 'expertGroupCount')} = ${groups}: grouped expert selection is not implemented`);
  const nFFExp = fullWidth ? nFF : meta.has(hpKey(arch, 'expertFeedForwardLength')) ? int('expertFeedForwardLength') : Math.floor(nFF / nExpertUsed);
  const nFFShared = sharedExpert ? int('expertSharedFeedForwardLength', nFF) : 0;
  return { nExpert, nExpertUsed, nFFExp, nFFShared, normTopK };
}

export function loadMoeDecoder(src: ModelSource, arch: keyof typeof ARCH_TENSORS | string, opt: MoeDecoderOptions, alloc?: (n: number) => Float32Array): { hp: DecoderHParams; w: MoeDecoderWeights } {
  const t = new StrictTensorTable(src, alloc);
  const hp0 = readDecoderHParams(t, arch, opt);
  const moe = readMoeShape(src, arch, hp0.nFF, opt.sharedExpert, opt.normTopK, opt.expertsFullWidth);
  const hp: DecoderHParams = { ...hp0, nFF: Math.max(moe.nFFExp, moe.nFFShared), scratch: moeScratch(hp0, moe) };
  const layers = Array.from({ length: hp.nLayer }, (_, l): MoeLayer => ({
    attnNorm: t.vector(blk(l, 'attnNorm'), hp.nEmbd),
    attn: loadAttention(t, hp, l, opt.attn),
    ffnNorm: t.vector(blk(l, 'ffnNorm'), hp.nEmbd),
    moe: loadMoe(t, hp, l, moe, { gateOptional: opt.gateOptional, sharedGate: opt.sharedExpert }),
  }));
  const tokEmbd = loadTokenEmbedding(t, hp);
  const head = loadOutput(t, hp, tokEmbd);
  t.refuseUnused(arch);
  return { hp, w: { tokEmbd, layers, head, moe } };
}

export function moeDecoderMatrices(w: MoeDecoderWeights): WeightMatrix[] {
  return [w.head.output, ...w.layers.flatMap((L) => [...attentionMatrices(L.attn), ...moeMatrices(L.moe)])];
}

export const qwen3moe: Architecture<MoeDecoderWeights> = {
  name: 'qwen3moe',
  load: (src, alloc) => loadMoeDecoder(src, 'qwen3moe', { neox: true, attn: { qkvBias: 'optional', qkNorm: true }, normTopK: true, sharedExpert: false }, alloc),
  matmulWeights: moeDecoderMatrices,
  output: (w) => w.head.output,
  forward(f, w) {
    embedInputs(f, w.tokEmbd);
    for (let l = f.layer0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      preNorm(f, L.attnNorm); selfAttention(f, l, L.attn); addResidual(f);
      preNorm(f, L.ffnNorm); moeFfn(f, L.moe, w.moe); addResidual(f);
    }
    return outputHead(f, w.head);
  },
};
