// Llama 2/3, TinyLlama, SmolLM: pre-norm decoder, GQA, SwiGLU, RoPE on adjacent pairs (llama.cpp's
// NORM layout; HF checkpoints are row-permuted at load to match). Biases are used when present.
// The Llama block is also Qwen2's, Qwen3's and MiniCPM's: they load it with their options here.

import { ARCH_TENSORS, blk } from '../formats/gguf-names.js';
import type { ModelSource } from '../formats/source.js';
import type { WeightMatrix } from '../kernels/types.js';
import { attentionMatrices, loadAttention, selfAttention, type AttentionOptions, type AttentionWeights } from './blocks/attention.js';
import { denseFfn, denseFfnMatrices, loadDenseFfn, type DenseFfnWeights } from './blocks/ffn.js';
import { embedInputs, loadOutput, loadTokenEmbedding, outputHead, type OutputWeights } from './blocks/io.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { readDecoderHParams, type DecoderHParams, type DecoderOptions, type ForwardPass } from './decoder.js';
import type { Architecture } from './registry.js';
import { TensorTable } from './tensors.js';

export interface LlamaLayer {
  attnNorm: Float32Array;
  attn: AttentionWeights;
  ffnNorm: Float32Array;
  ffn: DenseFfnWeights;
}

export interface LlamaWeights {
  tokEmbd: WeightMatrix;
  layers: LlamaLayer[];
  head: OutputWeights;
}

/** The Llama-family weights of `arch`; which attention biases and norms it has is the name table's. */
export function loadLlama(src: ModelSource, arch: keyof typeof ARCH_TENSORS, opt: DecoderOptions, alloc?: (n: number) => Float32Array): { hp: DecoderHParams; w: LlamaWeights } {
  const t = new TensorTable(src, alloc);
  const hp = readDecoderHParams(t, arch, opt);
  const attn: AttentionOptions = { qkvBias: ARCH_TENSORS[arch].qkvBias ? 'required' : 'optional', qkNorm: ARCH_TENSORS[arch].qkNorm };
  const layers = Array.from({ length: hp.nLayer }, (_, l): LlamaLayer => ({
    attnNorm: t.vector(blk(l, 'attnNorm'), hp.nEmbd),
    attn: loadAttention(t, hp, l, attn),
    ffnNorm: t.vector(blk(l, 'ffnNorm'), hp.nEmbd),
    ffn: loadDenseFfn(t, hp, l),
  }));
  const tokEmbd = loadTokenEmbedding(t, hp);
  return { hp, w: { tokEmbd, layers, head: loadOutput(t, hp, tokEmbd) } };
}

/** The output projection first (tied or not), then each layer's attention and FFN matrices. */
export function llamaMatrices(w: LlamaWeights): WeightMatrix[] {
  return [w.head.output, ...w.layers.flatMap((L) => [...attentionMatrices(L.attn), ...denseFfnMatrices(L.ffn)])];
}

/** One Llama layer: pre-norm attention and pre-norm FFN, each added back times residualScale. */
export function llamaLayer(f: ForwardPass, l: number, L: LlamaLayer, residualScale = 1): void {
  preNorm(f, L.attnNorm); selfAttention(f, l, L.attn); addResidual(f, residualScale);
  preNorm(f, L.ffnNorm); denseFfn(f, L.ffn); addResidual(f, residualScale);
}

export const llama: Architecture<LlamaWeights> = {
  name: 'llama',
  load: (src, alloc) => loadLlama(src, 'llama', { neox: false }, alloc),
  matmulWeights: llamaMatrices,
  output: (w) => w.head.output,
  forward(f, w) {
    embedInputs(f, w.tokEmbd);
    for (let l = f.layer0; l < f.nLayer; l++) llamaLayer(f, l, w.layers[l]!);
    return outputHead(f, w.head);
  },
};
