// Tiny random-weight models of the families beyond the Llama block (one spec each, llama.cpp's
// tensor names and shapes from models/family-tensors.ts) with stories260K's 512-token vocabulary,
// so llama.cpp can run the same files. `node dist/test/arch-models.js DIR` writes them all;
// test/golden/arch/make-golden.sh runs llama.cpp on them.

import { writeFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { concatChunks, parseGGUF, type GGUFTensorToWrite } from '../src/formats/gguf.js';
import { TENSOR } from '../src/formats/gguf-names.js';
import { buildModelGGUF, f32Tensor } from '../src/models/gguf-builder.js';
import { familyMetadata, familyTensors, type FamilySpec } from '../src/models/family-tensors.js';
import { STORIES_GGUF, randomFloats } from './helpers.js';
import type { Context } from '../src/runtime/context.js';
import type { Model } from '../src/runtime/model.js';

const vocabMeta = (() => {
  const g = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF);
  return [...g.metadata].filter(([k]) => k.startsWith('tokenizer.'));
})();

const base = { nVocab: 512, ctx: 512, ropeBase: 10000, eps: 1e-5, tied: false } as const;

/** One small spec per family, each exercising what sets the family apart. */
export const ARCH_SPECS: Record<string, FamilySpec> = {
  qwen3moe: { ...base, arch: 'qwen3moe', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 16, nFF: 96, moe: { nExpert: 8, nUsed: 2, nFFExp: 32 } },
  qwen2moe: { ...base, arch: 'qwen2moe', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 16, nFF: 96, moe: { nExpert: 6, nUsed: 2, nFFExp: 32, nFFShared: 64 } },
  'minicpm-moe': { ...base, arch: 'minicpm', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 16, nFF: 48, tied: true, moe: { nExpert: 4, nUsed: 2, nFFExp: 48 } },
  minicpm3: { ...base, arch: 'minicpm3', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 4, headDim: 24, nRot: 8, nFF: 96, tied: true, mla: { qLora: 48, kvLora: 32, nope: 16, vHead: 16 } },
  phi2: { ...base, arch: 'phi2', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 4, headDim: 16, nRot: 8, nFF: 128 },
  phi3: { ...base, arch: 'phi3', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 4, headDim: 16, nFF: 96 },
  gemma3: { ...base, arch: 'gemma3', nEmbd: 64, nLayer: 3, nHead: 4, nHeadKv: 2, headDim: 32, nFF: 96, tied: true, ropeBase: 1e6, swa: { window: 512, pattern: 3, ropeBaseSwa: 10000 } },
  // A window of 16: the greedy run (5 prompt + 32 tokens) and every 128-token perplexity window go past it.
  'gemma3-swa': { ...base, arch: 'gemma3', nEmbd: 64, nLayer: 3, nHead: 4, nHeadKv: 2, headDim: 32, nFF: 96, tied: true, ropeBase: 1e6, swa: { window: 16, pattern: 3, ropeBaseSwa: 10000 } },
  bitnet: { ...base, arch: 'bitnet', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 16, nFF: 96, tied: true },
  // Ternary matrices of exactly -1/0/1 with each tensor's scale in its `.scale` tensor.
  'bitnet-scaled': { ...base, arch: 'bitnet', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 16, nFF: 96, tied: true, bitnet: { scales: true } },
};

/** Families whose embeddings would drown the layers (scaled-up or tied ones) get small embeddings, so random text is not one repeated token. */
const SMALL_EMBEDDINGS = new Set(['minicpm', 'minicpm3', 'gemma3', 'bitnet']);

function scaleOf(t: { name: string; shape: number[]; kind: string }, arch: string): number {
  if (t.kind === 'embedding') return SMALL_EMBEDDINGS.has(arch) ? 0.05 : 1;
  if (t.kind === 'bias') return 0.1;
  if (t.name.includes('ffn_gate_inp')) return 3 / Math.sqrt(t.shape[0]!);
  return 1.6 / Math.sqrt(t.shape[0]!);
}

/**
 * BitNet's matrices hold ternary values times one scale per tensor, as its converter writes them;
 * with `separate`, the values alone (-1/0/1) and the scale apart (for a `.scale` tensor).
 */
function ternary(v: Float32Array, separate = false): { values: Float32Array; scale: number } {
  let s = 0;
  for (const x of v) s += Math.abs(x);
  const scale = Math.max(s / v.length, 1e-5);
  return { values: v.map((x) => Math.max(-1, Math.min(1, Math.round(x / scale))) * (separate ? 1 : scale)), scale };
}

export function archGGUF(spec: FamilySpec, seed = 7): Uint8Array {
  const { hp, extra } = familyMetadata(spec);
  let sd = seed;
  const scales = new Map<string, number>();
  const tensors: GGUFTensorToWrite[] = familyTensors(spec).map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    // A scale off the ternary one by a random factor in [0.5, 1.5], so a loader that ignored it would not match.
    if (t.name.endsWith('.scale')) v = Float32Array.of(scales.get(t.name.replace(/\.scale$/, '.weight'))! * (1 + randomFloats(1, sd++, 0.5)[0]!));
    else if (t.kind === 'norm') v = randomFloats(n, sd++, 0.25).map((x) => 1 + x);
    else v = randomFloats(n, sd++, scaleOf(t, spec.arch));
    if (spec.arch === 'bitnet' && t.kind === 'matrix' && t.name !== TENSOR.tokenEmbd) {
      const q = ternary(v, spec.bitnet?.scales);
      v = q.values;
      scales.set(t.name, q.scale);
    }
    return f32Tensor(t.name, t.shape, v);
  });
  return concatChunks(buildModelGGUF({ hp, name: 'lutra tiny random', extraMeta: extra, tokenizer: vocabMeta, tensors }));
}

/**
 * The 32 greedy tokens after "Once upon a time" as bytes, and llama-simple's (its raw stdout in
 * `golden`: the prompt, then the continuation and a newline), as latin1 strings to compare.
 * special: print control tokens as their text, as llama-simple does (<unk>).
 */
export async function greedyVsLlamaSimple(model: Model, golden: Uint8Array, opts: { context?: Context; special?: boolean } = {}): Promise<{ got: string; want: string; n: number }> {
  const prompt = 'Once upon a time';
  const at = Buffer.from(golden).indexOf(prompt);
  if (at < 0) throw new Error('the golden does not hold the prompt');
  // llama-simple ends its output with one newline of its own.
  const want = golden.subarray(at + prompt.length, golden.length - 1);
  const bytes: number[] = [];
  let n = 0;
  for await (const c of model.generate(prompt, { temperature: 0, maxTokens: 32, ...(opts.context ? { context: opts.context } : {}) })) {
    if (c.done) break;
    n++;
    bytes.push(...model.tokenizer.tokenBytes(c.token, opts.special));
  }
  return { got: Buffer.from(bytes).toString('latin1'), want: Buffer.from(want).toString('latin1'), n };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/')) && process.argv[2]) {
  for (const [name, spec] of Object.entries(ARCH_SPECS)) writeFileSync(resolve(process.argv[2], `${name}.gguf`), archGGUF(spec));
}
