// Llama 2/3, TinyLlama, SmolLM: pre-norm decoder, GQA, SwiGLU, RoPE on adjacent pairs (llama.cpp's
// NORM layout; HF checkpoints are row-permuted at load to match). Biases are used when present.

import { readDecoder } from './layers.js';
import type { Architecture } from './registry.js';

export const llama: Architecture = {
  name: 'llama',
  load: (src, alloc) => readDecoder(src, 'llama', { neox: false, qkvBias: 'optional', qkNorm: false, minicpmScales: false }, alloc),
};
