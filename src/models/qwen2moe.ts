// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen2's attention (q/k/v biases, NeoX RoPE) with
// softmax-routed experts whose top-k weights are not renormalized, plus a shared expert scaled by
// sigmoid(x . ffn_gate_inp_shexp) in every layer.

import type { Architecture } from './registry.js';
import { loadMoeDecoder, qwen3moe, type MoeDecoderWeights } from './qwen3moe.js';

export const qwen2moe: Architecture<MoeDecoderWeights> = {
  ...qwen3moe,
  name: 'qwen2moe',
  load: (src, alloc) => loadMoeDecoder(src, 'qwen2moe', { neox: true, attn: { qkvBias: 'required', qkNorm: false }, normTopK: false, sharedExpert: true }, alloc),
};
