// Qwen3 (dense): the Llama block without q/k/v biases, with a per-head RMSNorm on Q and K before
// RoPE (in the attention block; ARCH_TENSORS.qwen3), NeoX-layout RoPE.

import { llama, loadLlama, type LlamaWeights } from './llama.js';
import type { Architecture } from './registry.js';

export const qwen3: Architecture<LlamaWeights> = {
  ...llama,
  name: 'qwen3',
  load: (src, alloc) => loadLlama(src, 'qwen3', { neox: true }, alloc),
};
