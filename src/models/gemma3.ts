// Gemma 3 (270M, 1B, and the text tower of the larger ones): embeddings times sqrt(nEmbd), RMSNorm
// before and after each branch, per-head Q/K RMSNorm, GELU-tanh gated FFN, NeoX RoPE, and local
// layers (all but every sliding_window_pattern-th) attending over a sliding window with their own
// RoPE base; final logit soft-capping where configured. The window is a mask, as llama.cpp's
// (a query at p sees keys p-window+1..p): the KV store keeps every position of every layer, and a
// local layer's attention reads only its window of them (AttentionShape.window). Norm weights
// are stored with Gemma's +1 already added by the converter.

import { ModelError } from '../core/errors.js';
import { blk, hpKey } from '../formats/gguf-names.js';
import type { RopeParams, WeightMatrix } from '../kernels/types.js';
import { geglu, softcap } from './blocks/act.js';
import { loadAttention, selfAttention, attentionMatrices, type AttentionWeights } from './blocks/attention.js';
import { denseFfnMatrices, loadDenseFfn, type DenseFfnWeights } from './blocks/ffn.js';
import { embedInputs, loadOutput, loadTokenEmbedding, logitsPerRow, outputHead, scale, type OutputWeights } from './blocks/io.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { ropeWithBase } from './blocks/rope.js';
import { readDecoderHParams, type ForwardPass } from './decoder.js';
import { Meta } from './hparams.js';
import type { AttentionShape } from './kv-store.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';

interface Gemma3Layer {
  attnNorm: Float32Array; attn: AttentionWeights; attnPostNorm: Float32Array;
  ffnNorm: Float32Array; ffn: DenseFfnWeights; ffnPostNorm: Float32Array;
  /** Sliding-window (local) layer. */
  local: boolean;
}

export interface Gemma3Weights {
  tokEmbd: WeightMatrix;
  layers: Gemma3Layer[];
  head: OutputWeights;
  /** Positions a local layer attends to (itself included); 0: no local layers. */
  window: number;
  ropeLocal: RopeParams;
  softcap: number;
}

/** The attention of a local layer: the pass's with the window, made once per pass. */
const localShapes = new WeakMap<ForwardPass, AttentionShape>();
function localShape(f: ForwardPass, window: number): AttentionShape {
  let s = localShapes.get(f);
  if (!s || s.window !== window) localShapes.set(f, (s = { ...f.attention, window }));
  return s;
}

function postNorm(f: ForwardPass, w: Float32Array): void {
  f.kernels.rmsNorm(f.s.xn, w, f.hp.eps, f.hp.nEmbd, f.nTok, f.s.xn);
}

export const gemma3: Architecture<Gemma3Weights> = {
  name: 'gemma3',
  load(src, alloc) {
    const t = new StrictTensorTable(src, alloc);
    const meta = new Meta(src.metadata, src.file);
    const hp = readDecoderHParams(t, 'gemma3', { neox: true });
    const window = meta.num(hpKey('gemma3', 'slidingWindow'), 0);
    const pattern = window > 0 ? meta.num(hpKey('gemma3', 'slidingWindowPattern'), 6) : 0;
    if (window > 0 && (!Number.isInteger(pattern) || pattern < 0)) throw new ModelError(`${src.file}: ${hpKey('gemma3', 'slidingWindowPattern')} = ${pattern} is not a layer count`);
    const e = hp.nEmbd;
    const layers = Array.from({ length: hp.nLayer }, (_, l): Gemma3Layer => ({
      attnNorm: t.vector(blk(l, 'attnNorm'), e),
      attn: loadAttention(t, hp, l, { qkvBias: 'optional', qkNorm: true }),
      attnPostNorm: t.vector(blk(l, 'attnPostNorm'), e),
      ffnNorm: t.vector(blk(l, 'ffnNorm'), e),
      ffn: loadDenseFfn(t, hp, l),
      ffnPostNorm: t.vector(blk(l, 'ffnPostNorm'), e),
      local: window > 0 && (pattern === 0 || l % pattern < pattern - 1),
    }));
    const tokEmbd = loadTokenEmbedding(t, hp);
    const w: Gemma3Weights = {
      tokEmbd, layers, head: loadOutput(t, hp, tokEmbd), window,
      ropeLocal: ropeWithBase(hp.rope, meta.num(hpKey('gemma3', 'ropeFreqBaseSwa'), 10000)),
      softcap: meta.num(hpKey('gemma3', 'finalLogitSoftcapping'), 0),
    };
    t.refuseUnused('gemma3');
    return { hp, w };
  },
  matmulWeights: (w) => [w.head.output, ...w.layers.flatMap((L) => [...attentionMatrices(L.attn), ...denseFfnMatrices(L.ffn)])],
  output: (w) => w.head.output,
  forward(f, w) {
    const { hp, s, nTok } = f;
    const local = localShape(f, w.window);
    embedInputs(f, w.tokEmbd, Math.fround(Math.sqrt(hp.nEmbd)));
    for (let l = f.layer0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      preNorm(f, L.attnNorm);
      if (L.local) selfAttention(f, l, L.attn, w.ropeLocal, local); else selfAttention(f, l, L.attn);
      postNorm(f, L.attnPostNorm); addResidual(f);
      preNorm(f, L.ffnNorm);
      f.kernels.matmul(L.ffn.wGate, s.xn, nTok, s.gate);
      f.kernels.matmul(L.ffn.wUp, s.xn, nTok, s.up);
      geglu(s.gate, s.up, nTok * hp.nFF);
      f.kernels.matmul(L.ffn.wDown, s.gate, nTok, s.xn);
      postNorm(f, L.ffnPostNorm); addResidual(f);
    }
    const rows = outputHead(f, w.head);
    if (w.softcap) softcap(s.logits, w.softcap, rows * logitsPerRow(f));
    return rows;
  },
};
