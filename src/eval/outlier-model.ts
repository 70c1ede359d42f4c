// A synthesized llama model with planted activation outliers, for testing quantization methods: a
// few residual channels carry large values (the token embeddings and the norm weights are large
// there, as in trained LLMs), so the inputs of q/k/v/gate/up have outlier channels, and the FFN
// intermediate has a few large channels too. Deterministic for a seed; uses stories260K's
// vocabulary (512 tokens) so real text can be fed to it.

import { concatChunks, type GGUFValue } from '../formats/gguf.js';
import { TENSOR, splitBlockName } from '../formats/gguf-names.js';
import { buildDecoderGGUF } from '../models/gguf-builder.js';

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
  const r = rng(o.seed ?? 7);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  const hp = { arch: 'llama', nCtxTrain: 512, nEmbd, nFF, nLayer, nHead, nHeadKv, nRot: nEmbd / nHead, eps: 1e-5 };
  const isOut = new Set(outliers);
  const norm = (i: number) => (isOut.has(i) ? big : 1) * (0.8 + 0.4 * r());
  const mat = (cols: number, scale: number) => () => gauss() * scale / Math.sqrt(cols);
  // How each tensor is filled, by its name in the block (or the whole name outside blocks).
  const fills: Record<string, (i: number) => number> = {
    [TENSOR.tokenEmbd]: (i) => gauss() * (isOut.has(i % nEmbd) ? 4 : 1),
    [TENSOR.outputNorm]: () => 0.8 + 0.4 * r(),
    [TENSOR.output]: mat(nEmbd, 2),
    'attn_norm.weight': norm,
    'attn_q.weight': mat(nEmbd, 1),
    'attn_k.weight': mat(nEmbd, 1),
    'attn_v.weight': mat(nEmbd, 1),
    'attn_output.weight': mat(nEmbd, 0.5),
    'ffn_norm.weight': norm,
    'ffn_gate.weight': mat(nEmbd, 1),
    // A few FFN channels are amplified: outliers in the down projection's input as well.
    'ffn_up.weight': (i) => gauss() / Math.sqrt(nEmbd) * (Math.floor(i / nEmbd) % 97 === 5 ? 8 : 1),
    'ffn_down.weight': mat(nFF, 0.5),
  };
  const chunks = buildDecoderGGUF(hp, { nVocab: 512, qkvBias: false, qkNorm: false }, (t) => {
    const fill = fills[splitBlockName(t.name)?.rest ?? t.name]!;
    const v = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < v.length; i++) v[i] = fill(i);
    return v;
  }, { name: 'lutra outlier test model', tokenizer: o.vocab });
  return concatChunks(chunks);
}
