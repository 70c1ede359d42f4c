// Qwen2 / Qwen2.5: the Llama block with q/k/v biases (required: ARCH_TENSORS.qwen2) and NeoX-layout RoPE.

import { llama, loadLlama, type LlamaWeights } from './llama.js';
import type { Architecture } from './registry.js';

export const qwen2: Architecture<LlamaWeights> = {
  ...llama,
  name: 'qwen2',
  load: (src, alloc) => loadLlama(src, 'qwen2', { neox: true }, alloc),
};
