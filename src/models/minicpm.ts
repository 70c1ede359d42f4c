// MiniCPM: the Llama block with muP scalings: embeddings times scale_emb, each residual branch times
// scale_depth/sqrt(L), logits divided by hidden/dim_model_base (GGUF keys minicpm.embedding_scale,
// .residual_scale, .logit_scale). llama.cpp uses the NORM RoPE layout for it.

import { outputHead, embedInputs, scale } from './blocks/io.js';
import { llamaLayer, llamaMatrices, loadLlama, type LlamaWeights } from './llama.js';
import type { Architecture } from './registry.js';

export const minicpm: Architecture<LlamaWeights> = {
  name: 'minicpm',
  load: (src, alloc) => loadLlama(src, 'minicpm', { neox: false, minicpmScales: true }, alloc),
  matmulWeights: llamaMatrices,
  forward(f, w) {
    const { hp, s } = f;
    embedInputs(f, w.tokEmbd);
    scale(s.x, hp.embScale, f.nTok * hp.nEmbd);
    for (let l = 0; l < w.layers.length; l++) llamaLayer(f, l, w.layers[l]!, hp.residualScale);
    const rows = outputHead(f, w.head);
    scale(s.logits, 1 / hp.logitScale, rows * hp.nVocab);
    return rows;
  },
};
