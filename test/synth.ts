// Tiny random models of each architecture, built in memory as GGUF bytes, borrowing the
// stories260K vocabulary so the tokenizer path is real.

import { readFileSync } from 'node:fs';
import { parseGGUF, writeGGUF, concatChunks, GGUFType, type GGUFValue, type GGUFTensorToWrite } from '../src/formats/gguf.js';
import { STORIES_GGUF, randomFloats } from './helpers.js';

export interface SynthShape {
  nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; nFF: number; headDim?: number;
}

const vocabMeta = (() => {
  const g = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF);
  return [...g.metadata].filter(([k]) => k.startsWith('tokenizer.'));
})();
export const SYNTH_VOCAB = 512;

export function f32Tensor(name: string, shape: number[], values: Float32Array): GGUFTensorToWrite {
  return { name, shape, type: 0, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

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

export function synthGGUF(o: SynthOptions): Uint8Array {
  const { arch, shape } = o;
  const hd = shape.headDim ?? shape.nEmbd / shape.nHead;
  const u32 = (value: number): GGUFValue => ({ type: GGUFType.UINT32, value });
  const md = new Map<string, GGUFValue>([
    ['general.architecture', { type: GGUFType.STRING, value: arch }],
    [`${arch}.context_length`, u32(256)],
    [`${arch}.embedding_length`, u32(shape.nEmbd)],
    [`${arch}.feed_forward_length`, u32(shape.nFF)],
    [`${arch}.block_count`, u32(shape.nLayer)],
    [`${arch}.attention.head_count`, u32(shape.nHead)],
    [`${arch}.attention.head_count_kv`, u32(shape.nHeadKv)],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: GGUFType.FLOAT32, value: 1e-5 }],
    ...(shape.headDim ? [[`${arch}.attention.key_length`, u32(hd)] as [string, GGUFValue], [`${arch}.attention.value_length`, u32(hd)] as [string, GGUFValue]] : []),
    ...(o.extraMeta ?? []),
    ...vocabMeta,
  ]);
  let seed = o.seed ?? 1;
  const tensors: GGUFTensorToWrite[] = [];
  const add = (name: string, shp: number[], scale: number, fill?: number) => {
    const n = shp.reduce((a, b) => a * b, 1);
    let v = fill !== undefined ? new Float32Array(n).fill(fill) : randomFloats(n, seed++, scale);
    if (o.override) v = o.override(name, v);
    tensors.push(f32Tensor(name, shp, v));
  };
  const { nEmbd, nFF, nHead, nHeadKv } = shape;
  add('token_embd.weight', [nEmbd, SYNTH_VOCAB], 1);
  add('output_norm.weight', [nEmbd], 0, 1);
  add('output.weight', [nEmbd, SYNTH_VOCAB], 0.3);
  for (let l = 0; l < shape.nLayer; l++) {
    const p = `blk.${l}.`;
    add(`${p}attn_norm.weight`, [nEmbd], 0, 1);
    add(`${p}attn_q.weight`, [nEmbd, nHead * hd], 0.4);
    add(`${p}attn_k.weight`, [nEmbd, nHeadKv * hd], 0.4);
    add(`${p}attn_v.weight`, [nEmbd, nHeadKv * hd], 0.4);
    if (o.bias) {
      add(`${p}attn_q.bias`, [nHead * hd], 0.1, o.biasFill);
      add(`${p}attn_k.bias`, [nHeadKv * hd], 0.1, o.biasFill);
      add(`${p}attn_v.bias`, [nHeadKv * hd], 0.1, o.biasFill);
    }
    if (o.qkNorm) {
      add(`${p}attn_q_norm.weight`, [hd], 0.5);
      add(`${p}attn_k_norm.weight`, [hd], 0.5);
    }
    add(`${p}attn_output.weight`, [nHead * hd, nEmbd], 0.3);
    add(`${p}ffn_norm.weight`, [nEmbd], 0, 1);
    add(`${p}ffn_gate.weight`, [nEmbd, nFF], 0.3);
    add(`${p}ffn_up.weight`, [nEmbd, nFF], 0.3);
    add(`${p}ffn_down.weight`, [nFF, nEmbd], 0.3);
  }
  return concatChunks(writeGGUF(md, tensors));
}
