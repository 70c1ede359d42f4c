// Tiny random models of each architecture, built in memory as GGUF bytes, borrowing the
// stories260K vocabulary so the tokenizer path is real.

import { readFileSync } from 'node:fs';
import { parseGGUF, concatChunks, type GGUFValue } from '../src/formats/gguf.js';
import { TENSOR } from '../src/formats/gguf-names.js';
import { buildDecoderGGUF, f32Tensor } from '../src/models/gguf-builder.js';
import { STORIES_GGUF, randomFloats } from './helpers.js';

export interface SynthShape {
  nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; nFF: number; headDim?: number;
}

const vocabMeta = (() => {
  const g = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF);
  return [...g.metadata].filter(([k]) => k.startsWith('tokenizer.'));
})();
export const SYNTH_VOCAB = 512;

export { f32Tensor };

/** Rows reordered as llama.cpp's converter permutes HF q/k weights for adjacent-pair RoPE. */
export function permuteRows(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const hd = rows / nHead, half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < half; i++)
      for (let s = 0; s < 2; s++) out.set(w.subarray((h * hd + s * half + i) * cols, (h * hd + s * half + i + 1) * cols), (h * hd + 2 * i + s) * cols);
  return out;
}

export interface SynthOptions {
  arch: string;
  shape: SynthShape;
  seed?: number;
  extraMeta?: [string, GGUFValue][];
  /** Replace generated tensors by name (values given in GGUF row order). */
  override?: (name: string, values: Float32Array) => Float32Array;
  bias?: boolean;
  /** Fill biases with this constant instead of random values (no random seeds consumed). */
  biasFill?: number;
  qkNorm?: boolean;
}

const QK_NORM = /attn_[qk]_norm/;

/** Scale of a tensor's random values (norm weights other than q/k norms are ones). */
function scaleOf(name: string): number {
  if (name === TENSOR.tokenEmbd) return 1;
  if (/attn_[qkv]\.weight$/.test(name)) return 0.4;
  if (name.endsWith('.bias')) return 0.1;
  if (QK_NORM.test(name)) return 0.5;
  return 0.3;
}

export function synthGGUF(o: SynthOptions): Uint8Array {
  const { arch, shape } = o;
  const hp = { arch, nCtxTrain: 256, ...shape, eps: 1e-5 };
  let seed = o.seed ?? 1;
  const chunks = buildDecoderGGUF(hp, { nVocab: SYNTH_VOCAB, qkvBias: !!o.bias, qkNorm: !!o.qkNorm }, (t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const fill = t.kind === 'norm' && !QK_NORM.test(t.name) ? 1 : t.kind === 'bias' ? o.biasFill : undefined;
    const v = fill !== undefined ? new Float32Array(n).fill(fill) : randomFloats(n, seed++, scaleOf(t.name));
    return o.override ? o.override(t.name, v) : v;
  }, { extraMeta: o.extraMeta, tokenizer: vocabMeta });
  return concatChunks(chunks);
}
