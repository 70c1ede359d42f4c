// Phi-3 / Phi-3.5-mini / Phi-4-mini: the Llama frame (RMSNorm, SwiGLU, NeoX RoPE) with a fused QKV
// projection and a fused gate-up projection (gate rows first), both taken as row views, and
// LongRoPE factors picked by context size. llama.cpp turns Phi's sliding window off; so does lutra.

import { blk } from '../formats/gguf-names.js';
import type { WeightMatrix } from '../kernels/types.js';
import { selfAttention, type AttentionWeights } from './blocks/attention.js';
import { denseFfn, type DenseFfnWeights } from './blocks/ffn.js';
import { embedInputs, loadOutput, loadTokenEmbedding, outputHead, type OutputWeights } from './blocks/io.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { loadLongRope, longRopeFor, type LongRope } from './blocks/rope.js';
import { readDecoderHParams } from './decoder.js';
import { qkvOf } from './phi2.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';

interface Phi3Layer { attnNorm: Float32Array; attn: AttentionWeights; ffnNorm: Float32Array; ffn: DenseFfnWeights }

export interface Phi3Weights {
  tokEmbd: WeightMatrix;
  layers: Phi3Layer[];
  head: OutputWeights;
  rope: LongRope | null;
}

export const phi3: Architecture<Phi3Weights> = {
  name: 'phi3',
  load(src, alloc) {
    const t = new StrictTensorTable(src, alloc);
    const hp = readDecoderHParams(t, 'phi3', { neox: true });
    const e = hp.nEmbd;
    const layers = Array.from({ length: hp.nLayer }, (_, l): Phi3Layer => {
      const qkv = qkvOf(t, hp, l);
      const [wGate, wUp] = t.split(blk(l, 'ffnUp'), e, [hp.nFF, hp.nFF]) as [WeightMatrix, WeightMatrix];
      return {
        attnNorm: t.vector(blk(l, 'attnNorm'), e),
        attn: { ...qkv, wo: t.matrix(blk(l, 'attnOutput'), hp.nHead * hp.headDimV, e), bo: null, qNorm: null, kNorm: null },
        ffnNorm: t.vector(blk(l, 'ffnNorm'), e),
        ffn: { wGate, wUp, wDown: t.matrix(blk(l, 'ffnDown'), hp.nFF, e) },
      };
    });
    const tokEmbd = loadTokenEmbedding(t, hp);
    const w: Phi3Weights = { tokEmbd, layers, head: loadOutput(t, hp, tokEmbd), rope: loadLongRope(t, hp) };
    t.refuseUnused('phi3');
    return { hp, w };
  },
  matmulWeights: (w) => [w.head.output, ...w.layers.flatMap((L) => [L.attn.wq, L.attn.wk, L.attn.wv, L.attn.wo, L.ffn.wGate, L.ffn.wUp, L.ffn.wDown])],
  output: (w) => w.head.output,
  forward(f, w) {
    const rope = longRopeFor(w.rope, f.kv.nCtx, f.hp.rope);
    embedInputs(f, w.tokEmbd);
    for (let l = f.layer0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      preNorm(f, L.attnNorm); selfAttention(f, l, L.attn, rope); addResidual(f);
      preNorm(f, L.ffnNorm); denseFfn(f, L.ffn); addResidual(f);
    }
    return outputHead(f, w.head);
  },
};
