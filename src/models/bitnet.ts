// BitNet b1.58 as llama.cpp's `bitnet` graph runs it: the Llama frame with an RMSNorm inside each
// branch (attn_sub_norm before the output projection, ffn_sub_norm before down), NeoX RoPE, the
// token embedding as output. Its matrices are ternary (TQ1_0/TQ2_0 after llama-quantize), which
// the LUT kernels serve. llama.cpp gates the FFN with SiLU, so lutra does too for parity; the
// per-tensor `.scale` tensors of some exports are refused by name (not implemented).

import { blk } from '../formats/gguf-names.js';
import type { WeightMatrix } from '../kernels/types.js';
import { addBias, attendHeads, loadAttention, type AttentionWeights } from './blocks/attention.js';
import { loadDenseFfn, type DenseFfnWeights } from './blocks/ffn.js';
import { embedInputs, loadTokenEmbedding, outputHead, type OutputWeights } from './blocks/io.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { readDecoderHParams } from './decoder.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';
import { TENSOR } from '../formats/gguf-names.js';

interface BitnetLayer {
  attnNorm: Float32Array; attn: AttentionWeights; attnSubNorm: Float32Array;
  ffnNorm: Float32Array; ffn: DenseFfnWeights; ffnSubNorm: Float32Array;
}

export interface BitnetWeights { tokEmbd: WeightMatrix; layers: BitnetLayer[]; head: OutputWeights }

export const bitnet: Architecture<BitnetWeights> = {
  name: 'bitnet',
  load(src, alloc) {
    const t = new StrictTensorTable(src, alloc);
    const hp = readDecoderHParams(t, 'bitnet', { neox: true });
    const e = hp.nEmbd;
    const layers = Array.from({ length: hp.nLayer }, (_, l): BitnetLayer => ({
      attnNorm: t.vector(blk(l, 'attnNorm'), e),
      attn: loadAttention(t, hp, l, { qkvBias: 'optional', qkNorm: false }),
      attnSubNorm: t.vector(blk(l, 'attnSubNorm'), hp.nHead * hp.headDimV),
      ffnNorm: t.vector(blk(l, 'ffnNorm'), e),
      ffn: loadDenseFfn(t, hp, l),
      ffnSubNorm: t.vector(blk(l, 'ffnSubNorm'), hp.nFF),
    }));
    const tokEmbd = loadTokenEmbedding(t, hp);
    const w: BitnetWeights = { tokEmbd, layers, head: { norm: t.vector(TENSOR.outputNorm, e), output: tokEmbd } };
    t.refuseUnused('bitnet');
    return { hp, w };
  },
  matmulWeights: (w) => [w.head.output, ...w.layers.flatMap((L) => [L.attn.wq, L.attn.wk, L.attn.wv, L.attn.wo, L.ffn.wGate, L.ffn.wUp, L.ffn.wDown])],
  output: (w) => w.head.output,
  forward(f, w) {
    const { hp, s, nTok, kernels } = f;
    embedInputs(f, w.tokEmbd);
    for (let l = 0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      preNorm(f, L.attnNorm);
      attendHeads(f, l, L.attn);
      kernels.rmsNorm(s.att, L.attnSubNorm, hp.eps, hp.nHead * hp.headDimV, nTok, s.att);
      kernels.matmul(L.attn.wo, s.att, nTok, s.xn); addBias(s.xn, L.attn.bo, nTok);
      addResidual(f);
      preNorm(f, L.ffnNorm);
      kernels.matmul(L.ffn.wGate, s.xn, nTok, s.gate);
      kernels.matmul(L.ffn.wUp, s.xn, nTok, s.up);
      kernels.swiglu(s.gate, s.up, nTok * hp.nFF);
      kernels.rmsNorm(s.gate, L.ffnSubNorm, hp.eps, hp.nFF, nTok, s.gate);
      kernels.matmul(L.ffn.wDown, s.gate, nTok, s.xn);
      addResidual(f);
    }
    return outputHead(f, w.head);
  },
};
