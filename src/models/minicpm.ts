// MiniCPM: the Llama block with muP scalings: embeddings times scale_emb, each residual branch times
// scale_depth/sqrt(L), logits divided by hidden/dim_model_base (GGUF keys minicpm.embedding_scale,
// .residual_scale, .logit_scale). llama.cpp uses the NORM RoPE layout for it. A file declaring
// minicpm.expert_count is MiniCPM-MoE: the same frame with softmax-routed experts (top-k
// renormalized, gate projections optional) in place of the dense FFN, as llama.cpp's Granite graph.

import { hpKey } from '../formats/gguf-names.js';
import { outputHead, embedInputs, logitsPerRow, scale } from './blocks/io.js';
import { selfAttention } from './blocks/attention.js';
import { moeFfn } from './blocks/moe.js';
import { addResidual, preNorm } from './blocks/norm.js';
import type { ForwardPass } from './decoder.js';
import { llamaLayer, llamaMatrices, loadLlama, type LlamaWeights } from './llama.js';
import { loadMoeDecoder, moeDecoderMatrices, type MoeDecoderWeights } from './qwen3moe.js';
import type { Architecture } from './registry.js';

type MiniCPMWeights = ({ moe?: undefined } & LlamaWeights) | MoeDecoderWeights;

function layers(f: ForwardPass, w: MiniCPMWeights): void {
  const r = f.hp.residualScale;
  if (!w.moe) {
    for (let l = f.layer0; l < f.nLayer; l++) llamaLayer(f, l, w.layers[l]!, r);
    return;
  }
  for (let l = f.layer0; l < f.nLayer; l++) {
    const L = w.layers[l]!;
    preNorm(f, L.attnNorm); selfAttention(f, l, L.attn); addResidual(f, r);
    preNorm(f, L.ffnNorm); moeFfn(f, L.moe, w.moe); addResidual(f, r);
  }
}

export const minicpm: Architecture<MiniCPMWeights> = {
  name: 'minicpm',
  load: (src, alloc) => src.metadata.has(hpKey('minicpm', 'expertCount'))
    ? loadMoeDecoder(src, 'minicpm', { neox: false, minicpmScales: true, attn: { qkvBias: 'optional', qkNorm: false }, normTopK: true, sharedExpert: false, gateOptional: true, expertsFullWidth: true }, alloc)
    : loadLlama(src, 'minicpm', { neox: false, minicpmScales: true }, alloc),
  matmulWeights: (w) => (w.moe ? moeDecoderMatrices(w) : llamaMatrices(w)),
  output: (w) => w.head.output,
  forward(f, w) {
    const { hp, s } = f;
    embedInputs(f, w.tokEmbd, hp.embScale);
    layers(f, w);
    const rows = outputHead(f, w.head);
    scale(s.logits, 1 / hp.logitScale, rows * logitsPerRow(f));
    return rows;
  },
};
