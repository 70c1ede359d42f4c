// BitNet b1.58 as llama.cpp's `bitnet` graph runs it: the Llama frame with an RMSNorm inside each
// branch (attn_sub_norm before the output projection, ffn_sub_norm before down), NeoX RoPE, the
// token embedding as output. Its matrices are ternary (TQ1_0/TQ2_0 after llama-quantize), which
// the LUT kernels serve; an optional one-element `.scale` tensor per matrix multiplies its product
// (llama.cpp's build_lora_mm / build_ffn: after the product, before any bias).
// The FFN gate: llama.cpp's graph hard-codes SiLU, although BitNet b1.58 (HF config hidden_act
// "relu2") was trained with squared ReLU. lutra follows the file: `bitnet.hidden_activation`
// "relu2" runs relu(gate)^2 * up (the key llama.cpp's pending fix reads); absent or "silu", SiLU as
// llama.cpp computes every bitnet GGUF today; anything else is refused by name.

import { ModelError } from '../core/errors.js';
import { blk, hpKey, TENSOR, type BlockTensor } from '../formats/gguf-names.js';
import type { WeightMatrix } from '../kernels/types.js';
import { reluSqrGlu } from './blocks/act.js';
import { addBias, attendHeads, loadAttention, type AttentionWeights } from './blocks/attention.js';
import { loadDenseFfn, type DenseFfnWeights } from './blocks/ffn.js';
import { embedInputs, loadTokenEmbedding, outputHead, scale, type OutputWeights } from './blocks/io.js';
import { addResidual, preNorm } from './blocks/norm.js';
import { readDecoderHParams } from './decoder.js';
import { Meta } from './hparams.js';
import type { Architecture } from './registry.js';
import { StrictTensorTable } from './strict-tensors.js';

interface BitnetLayer {
  attnNorm: Float32Array; attn: AttentionWeights; attnSubNorm: Float32Array; woScale: number;
  ffnNorm: Float32Array; ffn: DenseFfnWeights; ffnSubNorm: Float32Array;
  gateScale: number; upScale: number; downScale: number;
}

export type BitnetActivation = 'silu' | 'relu2';

export interface BitnetWeights { tokEmbd: WeightMatrix; layers: BitnetLayer[]; head: OutputWeights; act: BitnetActivation }

const ACTIVATIONS: readonly BitnetActivation[] = ['silu', 'relu2'];

export const bitnet: Architecture<BitnetWeights> = {
  name: 'bitnet',
  load(src, alloc) {
    const t = new StrictTensorTable(src, alloc);
    const meta = new Meta(src.metadata, src.file);
    const hp = readDecoderHParams(t, 'bitnet', { neox: true });
    const actKey = hpKey('bitnet', 'hiddenActivation');
    const act = (meta.str(actKey, 'silu') ?? 'silu') as BitnetActivation;
    if (!ACTIVATIONS.includes(act)) throw new ModelError(`${src.file}: ${actKey} = ${JSON.stringify(act)}: lutra implements ${ACTIVATIONS.join(', ')}`);
    const e = hp.nEmbd;
    /** The product scale of a matrix: its one-element `.scale` tensor, 1 without one. */
    const s = (l: number, name: BlockTensor) => t.optionalVector(blk(l, name, 'scale'), 1)?.[0] ?? 1;
    const layers = Array.from({ length: hp.nLayer }, (_, l): BitnetLayer => ({
      attnNorm: t.vector(blk(l, 'attnNorm'), e),
      attn: { ...loadAttention(t, hp, l, { qkvBias: 'optional', qkNorm: false }), qkvScale: [s(l, 'attnQ'), s(l, 'attnK'), s(l, 'attnV')] },
      attnSubNorm: t.vector(blk(l, 'attnSubNorm'), hp.nHead * hp.headDimV),
      woScale: s(l, 'attnOutput'),
      ffnNorm: t.vector(blk(l, 'ffnNorm'), e),
      ffn: loadDenseFfn(t, hp, l),
      ffnSubNorm: t.vector(blk(l, 'ffnSubNorm'), hp.nFF),
      gateScale: s(l, 'ffnGate'), upScale: s(l, 'ffnUp'), downScale: s(l, 'ffnDown'),
    }));
    const tokEmbd = loadTokenEmbedding(t, hp);
    const w: BitnetWeights = { tokEmbd, layers, head: { norm: t.vector(TENSOR.outputNorm, e), output: tokEmbd }, act };
    t.refuseUnused('bitnet');
    return { hp, w };
  },
  matmulWeights: (w) => [w.head.output, ...w.layers.flatMap((L) => [L.attn.wq, L.attn.wk, L.attn.wv, L.attn.wo, L.ffn.wGate, L.ffn.wUp, L.ffn.wDown])],
  output: (w) => w.head.output,
  forward(f, w) {
    const { hp, s, nTok, kernels } = f;
    const nE = nTok * hp.nEmbd, nF = nTok * hp.nFF;
    embedInputs(f, w.tokEmbd);
    for (let l = f.layer0; l < f.nLayer; l++) {
      const L = w.layers[l]!;
      preNorm(f, L.attnNorm);
      attendHeads(f, l, L.attn);
      kernels.rmsNorm(s.att, L.attnSubNorm, hp.eps, hp.nHead * hp.headDimV, nTok, s.att);
      kernels.matmul(L.attn.wo, s.att, nTok, s.xn); scale(s.xn, L.woScale, nE); addBias(s.xn, L.attn.bo, nTok);
      addResidual(f);
      preNorm(f, L.ffnNorm);
      kernels.matmulMany([L.ffn.wGate, L.ffn.wUp], s.xn, nTok, [s.gate, s.up]);
      scale(s.gate, L.gateScale, nF); scale(s.up, L.upScale, nF);
      if (w.act === 'relu2') reluSqrGlu(s.gate, s.up, nF);
      else kernels.swiglu(s.gate, s.up, nF);
      kernels.rmsNorm(s.gate, L.ffnSubNorm, hp.eps, hp.nFF, nTok, s.gate);
      kernels.matmul(L.ffn.wDown, s.gate, nTok, s.xn); scale(s.xn, L.downScale, nE);
      addResidual(f);
    }
    return outputHead(f, w.head);
  },
};
