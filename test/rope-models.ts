// Tiny random-weight models with RoPE scaling in their GGUF metadata, as llama.cpp reads it:
// linear and YaRN (rope.scaling.type/factor/original_context_length/attn_factor) on llama and
// qwen2, LongRoPE on phi3 (rope_factors_long/short tensors, chosen by the context size against
// rope.scaling.original_context_length). `node dist/test/rope-models.js DIR` writes them for
// test/golden/rope/make-golden.sh; test/rope-scaling.test.ts rebuilds them in memory.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GGUFType, concatChunks, parseGGUF, writeGGUF, type GGUFValue } from '../src/formats/gguf.js';
import { ARCH_SPECS, archGGUF } from './arch-models.js';
import { synthGGUF } from './synth.js';
import { randomFloats } from './helpers.js';

const shape = { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 96 };
const str = (value: string): GGUFValue => ({ type: GGUFType.STRING, value });
const f32 = (value: number): GGUFValue => ({ type: GGUFType.FLOAT32, value });
const u32 = (value: number): GGUFValue => ({ type: GGUFType.UINT32, value });

/** phi3's tiny model with LongRoPE factors in [1, 8) (long) and [1, 2) (short), and these keys. */
function phi3LongRope(origCtx: number): Uint8Array {
  const g = parseGGUF(archGGUF(ARCH_SPECS.phi3!), 'phi3');
  const md = new Map(g.metadata);
  md.set('phi3.rope.scaling.original_context_length', u32(origCtx));
  // What convert_hf_to_gguf.py writes for Phi-3: sqrt(1 + ln(scale) / ln(original context)).
  md.set('phi3.rope.scaling.attn_factor', f32(1.19));
  const half = ARCH_SPECS.phi3!.headDim! / 2;
  const factors = (seed: number, span: number) => {
    const v = randomFloats(half, seed, 1);
    return new Uint8Array(v.map((x) => 1 + (x + 1) * span / 2).buffer);
  };
  const tensors = g.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: t.data }));
  tensors.push({ name: 'rope_factors_long.weight', shape: [half], type: 0, data: factors(91, 7) });
  tensors.push({ name: 'rope_factors_short.weight', shape: [half], type: 0, data: factors(92, 1) });
  return concatChunks(writeGGUF(md, tensors));
}

/** Each model by name: greedy text from llama-simple (context 36), perplexity with windows of 128. */
export const ROPE_MODELS: Record<string, () => Uint8Array> = {
  'llama-linear': () => synthGGUF({ arch: 'llama', shape, seed: 3, extraMeta: [['llama.rope.scaling.type', str('linear')], ['llama.rope.scaling.factor', f32(4)]] }),
  'llama-yarn': () => synthGGUF({
    arch: 'llama', shape, seed: 4,
    extraMeta: [['llama.rope.scaling.type', str('yarn')], ['llama.rope.scaling.factor', f32(4)], ['llama.rope.scaling.original_context_length', u32(32)]],
  }),
  // Qwen2.5's long-context recipe: YaRN with a factor over the original context, plus an attention factor.
  'qwen2-yarn': () => synthGGUF({
    arch: 'qwen2', shape, seed: 5, bias: true,
    extraMeta: [['qwen2.rope.freq_base', f32(1e6)], ['qwen2.rope.scaling.type', str('yarn')], ['qwen2.rope.scaling.factor', f32(8)],
      ['qwen2.rope.scaling.original_context_length', u32(64)], ['qwen2.rope.scaling.attn_factor', f32(0.9)]],
  }),
  // llama.cpp pads its context to a multiple of 256 and compares that with the original context:
  // 256 > 100 takes the long factors, though the greedy run (36) and the windows (128) are shorter.
  'phi3-longrope-long': () => phi3LongRope(100),
  // 256 <= 256: the short factors.
  'phi3-longrope-short': () => phi3LongRope(256),
};

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/')) && process.argv[2]) {
  for (const [name, make] of Object.entries(ROPE_MODELS)) writeFileSync(resolve(process.argv[2], `${name}.gguf`), make());
}
