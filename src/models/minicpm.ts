// MiniCPM: the Llama block with muP scalings: embeddings times scale_emb, each residual branch times
// scale_depth/sqrt(L), logits divided by hidden/dim_model_base (GGUF keys minicpm.embedding_scale,
// .residual_scale, .logit_scale). llama.cpp uses the NORM RoPE layout for it.

import { readDecoder } from './layers.js';
import type { Architecture } from './registry.js';

export const minicpm: Architecture = {
  name: 'minicpm',
  load: (src, alloc) => readDecoder(src, 'minicpm', { neox: false, qkvBias: 'optional', qkNorm: false, minicpmScales: true }, alloc),
};
