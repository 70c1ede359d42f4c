// The model of the KV-cache parity goldens (test/golden/kv/parity): random weights, head size 64
// (so llama.cpp accepts quantized caches and rotates them), stories260K's vocabulary. Written to a
// file by make-expected.sh for llama.cpp, rebuilt in memory by test/kv-parity.test.ts.

import { synthGGUF } from './synth.js';

export const KV_PARITY_SHAPE = { nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 512, headDim: 64 };

export function kvParityModel(): Uint8Array {
  return synthGGUF({ arch: 'llama', shape: KV_PARITY_SHAPE, seed: 16 });
}
