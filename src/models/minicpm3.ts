// MiniCPM3 (4B): MiniCPM's muP frame (embeddings x12, residual branches x1.4/sqrt(L), logits x
// 256/nEmbd, hard-coded as llama.cpp does) around multi-head latent attention (blocks/mla.ts)
// and a SwiGLU FFN, NeoX RoPE on each head's rotated part with LongRoPE factors. Its cache is
// llama.cpp's expanded one, or the compressed latent (ContextOptions.mlaCache 'latent').

import { ModelError } from '../core/errors.js';
import { blk, hpKey } from '../formats/gguf-names.js';
import type { WeightMatrix } from '../kernels/types.js';
import { denseFfn, denseFfnMatrices, loadDenseFfn, type DenseFfnWeights } from './blocks/ffn.js';
import { embedInputs, loadOutput, loadTokenEmbedding, logitsPerRow, outputHead, scale, type OutputWeights } from './blocks/io.js';
import { loadMla, mlaAbsorbed, mlaAttention, mlaAttentionLatent, mlaLatentKV, mlaMatrices, mlaScratch, type MlaAbsorbed, type MlaShape, type MlaWeights } from './blocks/mla.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { loadLongRope, longRopeFor, type LongRope } from './blocks/rope.js';
import { readDecoderHParams, type DecoderHParams } from './decoder.js';
import { Meta, positiveInt } from './hparams.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';

interface MiniCPM3Layer { attnNorm: Float32Array; attn: MlaWeights; ffnNorm: Float32Array; ffn: DenseFfnWeights }

export interface MiniCPM3Weights {
  tokEmbd: WeightMatrix;
  layers: MiniCPM3Layer[];
  head: OutputWeights;
  mla: MlaShape;
  rope: LongRope | null;
  /** kv_b absorbed per layer, made for the first context with a latent cache. */
  absorbed?: MlaAbsorbed[];
}

export const minicpm3: Architecture<MiniCPM3Weights> = {
  name: 'minicpm3',
  load(src, alloc) {
    const t = new StrictTensorTable(src, alloc);
    const meta = new Meta(src.metadata, src.file);
    const hp0 = readDecoderHParams(t, 'minicpm3', { neox: true });
    const int = (k: 'qLoraRank' | 'kvLoraRank') => positiveInt(src.file, hpKey('minicpm3', k), meta.num(hpKey('minicpm3', k)));
    const mla: MlaShape = { qLora: int('qLoraRank'), kvLora: int('kvLoraRank'), rope: hp0.rope.nRot, nope: hp0.headDim - hp0.rope.nRot };
    if (hp0.nHeadKv !== hp0.nHead) throw new ModelError(`${src.file}: minicpm3 with head_count_kv ${hp0.nHeadKv} != head_count ${hp0.nHead} is not implemented`);
    const hp: DecoderHParams = {
      ...hp0, embScale: 12, residualScale: 1.4 / Math.sqrt(hp0.nLayer), logitScale: hp0.nEmbd / 256, scratch: mlaScratch(hp0, mla, true), latentKV: mlaLatentKV(mla),
    };
    const layers = Array.from({ length: hp.nLayer }, (_, l): MiniCPM3Layer => ({
      attnNorm: t.vector(blk(l, 'attnNorm'), hp.nEmbd),
      attn: loadMla(t, hp, l, mla),
      ffnNorm: t.vector(blk(l, 'ffnNorm'), hp.nEmbd),
      ffn: loadDenseFfn(t, hp, l),
    }));
    const tokEmbd = loadTokenEmbedding(t, hp);
    const w: MiniCPM3Weights = { tokEmbd, layers, head: loadOutput(t, hp, tokEmbd), mla, rope: loadLongRope(t, hp) };
    t.refuseUnused('minicpm3');
    return { hp, w };
  },
  matmulWeights: (w) => [w.head.output, ...w.layers.flatMap((L) => [...mlaMatrices(L.attn), ...denseFfnMatrices(L.ffn)])],
  output: (w) => w.head.output,
  forward(f, w) {
    const { hp, s } = f;
    const rope = longRopeFor(w.rope, f.kv.nCtx, hp.rope);
    embedInputs(f, w.tokEmbd, hp.embScale);
    const alloc = (n: number) => f.kernels.allocF32?.(n) ?? new Float32Array(n);
    if (f.latentKV) w.absorbed ??= w.layers.map((L) => mlaAbsorbed(L.attn.kvB, hp, w.mla, alloc));
    for (let l = f.layer0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      preNorm(f, L.attnNorm);
      if (f.latentKV) mlaAttentionLatent(f, l, L.attn, w.absorbed![l]!, w.mla, rope); else mlaAttention(f, l, L.attn, w.mla, rope);
      addResidual(f, hp.residualScale);
      preNorm(f, L.ffnNorm); denseFfn(f, L.ffn); addResidual(f, hp.residualScale);
    }
    const rows = outputHead(f, w.head);
    scale(s.logits, 1 / hp.logitScale, rows * logitsPerRow(f));
    return rows;
  },
};
