// A synthesized llama model with planted activation outliers, for testing quantization methods: a
// few residual channels carry large values (the token embeddings and the norm weights are large
// there, as in trained LLMs), so the inputs of q/k/v/gate/up have outlier channels, and the FFN
// intermediate has a few large channels too. Deterministic for a seed; uses stories260K's
// vocabulary (512 tokens) so real text can be fed to it.

import { writeGGUF, concatChunks, GGUFType, type GGUFValue, type GGUFTensorToWrite } from '../formats/gguf.js';

export interface OutlierModelOptions {
  nEmbd?: number;
  nFF?: number;
  nLayer?: number;
  nHead?: number;
  nHeadKv?: number;
  /** Residual channels that carry outliers, and how much larger they are. */
  outliers?: number[];
  outlierScale?: number;
  seed?: number;
  /** tokenizer.* metadata to copy (a 512-token vocabulary). */
  vocab: [string, GGUFValue][];
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

export function outlierModel(o: OutlierModelOptions): Uint8Array {
  const nEmbd = o.nEmbd ?? 256, nFF = o.nFF ?? 512, nLayer = o.nLayer ?? 2, nHead = o.nHead ?? 4, nHeadKv = o.nHeadKv ?? 4;
  const outliers = o.outliers ?? [3, 77, 150, 201], big = o.outlierScale ?? 25;
  const nVocab = 512, hd = nEmbd / nHead;
  const r = rng(o.seed ?? 7);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  const u32 = (value: number): GGUFValue => ({ type: GGUFType.UINT32, value });
  const md = new Map<string, GGUFValue>([
    ['general.architecture', { type: GGUFType.STRING, value: 'llama' }],
    ['general.name', { type: GGUFType.STRING, value: 'lutra outlier test model' }],
    ['llama.context_length', u32(512)],
    ['llama.embedding_length', u32(nEmbd)],
    ['llama.feed_forward_length', u32(nFF)],
    ['llama.block_count', u32(nLayer)],
    ['llama.attention.head_count', u32(nHead)],
    ['llama.attention.head_count_kv', u32(nHeadKv)],
    ['llama.rope.dimension_count', u32(hd)],
    ['llama.attention.layer_norm_rms_epsilon', { type: GGUFType.FLOAT32, value: 1e-5 }],
    ...o.vocab,
  ]);
  const tensors: GGUFTensorToWrite[] = [];
  const add = (name: string, shape: number[], fill: (i: number) => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = fill(i);
    tensors.push({ name, shape, type: 0, data: new Uint8Array(v.buffer) });
  };
  const isOut = new Set(outliers);
  const norm = (i: number) => (isOut.has(i) ? big : 1) * (0.8 + 0.4 * r());
  const mat = (cols: number, scale: number) => () => gauss() * scale / Math.sqrt(cols);
  add('token_embd.weight', [nEmbd, nVocab], (i) => gauss() * (isOut.has(i % nEmbd) ? 4 : 1));
  add('output_norm.weight', [nEmbd], () => 0.8 + 0.4 * r());
  add('output.weight', [nEmbd, nVocab], mat(nEmbd, 2));
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    add(`${p}attn_norm.weight`, [nEmbd], norm);
    add(`${p}attn_q.weight`, [nEmbd, nEmbd], mat(nEmbd, 1));
    add(`${p}attn_k.weight`, [nEmbd, nHeadKv * hd], mat(nEmbd, 1));
    add(`${p}attn_v.weight`, [nEmbd, nHeadKv * hd], mat(nEmbd, 1));
    add(`${p}attn_output.weight`, [nEmbd, nEmbd], mat(nEmbd, 0.5));
    add(`${p}ffn_norm.weight`, [nEmbd], norm);
    add(`${p}ffn_gate.weight`, [nEmbd, nFF], mat(nEmbd, 1));
    // A few FFN channels are amplified: outliers in the down projection's input as well.
    add(`${p}ffn_up.weight`, [nEmbd, nFF], (i) => gauss() / Math.sqrt(nEmbd) * (Math.floor(i / nEmbd) % 97 === 5 ? 8 : 1));
    add(`${p}ffn_down.weight`, [nFF, nEmbd], mat(nFF, 0.5));
  }
  return concatChunks(writeGGUF(md, tensors));
}
