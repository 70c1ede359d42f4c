// Qwen3 (dense): no q/k/v biases, a per-head RMSNorm on Q and K before RoPE, NeoX-layout RoPE.

import { readDecoder } from './layers.js';
import type { Architecture } from './registry.js';

export const qwen3: Architecture = {
  name: 'qwen3',
  load: (src, alloc) => readDecoder(src, 'qwen3', { neox: true, qkvBias: 'optional', qkNorm: true, minicpmScales: false }, alloc),
};
