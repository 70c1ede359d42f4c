// Qwen2 / Qwen2.5: the Llama block with q/k/v biases and NeoX-layout RoPE.

import { readDecoder } from './layers.js';
import type { Architecture } from './registry.js';

export const qwen2: Architecture = {
  name: 'qwen2',
  load: (src, alloc) => readDecoder(src, 'qwen2', { neox: true, qkvBias: 'required', qkNorm: false, minicpmScales: false }, alloc),
};
