// The tensors and metadata of the families beyond the Llama block (MoE, MLA, Phi, Gemma 3,
// BitNet) as llama.cpp names and shapes them: what `lutra synth` and the parity tests write.
// Shapes only; the values are the caller's. The Llama-block families stay in gguf-builder.ts.

import { GGUFType, type GGUFValue } from '../formats/gguf.js';
import { TENSOR, blk, f32, hpKey, u32, type GGUFHParams } from '../formats/gguf-names.js';
import type { TensorShape } from './gguf-builder.js';

export type FamilyArch = 'qwen2moe' | 'qwen3moe' | 'minicpm' | 'minicpm3' | 'phi2' | 'phi3' | 'gemma3' | 'bitnet';

export interface FamilySpec {
  arch: FamilyArch;
  nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; headDim: number; nFF: number; nVocab: number;
  ctx: number; ropeBase: number; eps: number; tied: boolean;
  /** Rotated dimensions per head (partial rotary: Phi-2), default headDim. */
  nRot?: number;
  moe?: { nExpert: number; nUsed: number; nFFExp: number; nFFShared?: number };
  /** MiniCPM3: low-rank q and kv, the rotated part of each head (nRot) beside the nope part, values of vHead. */
  mla?: { qLora: number; kvLora: number; nope: number; vHead: number };
  /** Gemma 3: every `pattern`-th layer global, the others over a window, with their own RoPE base. */
  swa?: { window: number; pattern: number; ropeBaseSwa: number };
  softcap?: number;
  /** BitNet: a one-element `.scale` tensor beside each ternary matrix; the FFN activation (hidden_activation; absent: SiLU). */
  bitnet?: { scales?: boolean; act?: 'silu' | 'relu2' };
}

/** The GGUFHParams head plus the family's own keys. */
export function familyMetadata(s: FamilySpec): { hp: GGUFHParams; extra: [string, GGUFValue][] } {
  const k = (name: Parameters<typeof hpKey>[1]) => hpKey(s.arch, name);
  const hp: GGUFHParams = {
    arch: s.arch, nCtxTrain: s.ctx, nEmbd: s.nEmbd, nFF: s.nFF, nLayer: s.nLayer, nHead: s.nHead, nHeadKv: s.nHeadKv,
    headDim: s.mla ? undefined : s.headDim, nRot: s.nRot ?? s.headDim, ropeBase: s.ropeBase, eps: s.eps, nVocab: s.nVocab,
    scales: s.arch === 'minicpm' ? { emb: 12, residual: 1.4 / Math.sqrt(s.nLayer), logit: s.nEmbd / 256 } : undefined,
  };
  const extra: [string, GGUFValue][] = [];
  if (s.arch === 'phi2') extra.push([k('normEps'), f32(s.eps)]);
  if (s.moe) {
    extra.push([k('expertCount'), u32(s.moe.nExpert)], [k('expertUsedCount'), u32(s.moe.nUsed)]);
    if (s.arch !== 'minicpm') extra.push([k('expertFeedForwardLength'), u32(s.moe.nFFExp)]);
    if (s.moe.nFFShared) extra.push([k('expertSharedFeedForwardLength'), u32(s.moe.nFFShared)]);
  }
  if (s.mla) {
    extra.push([k('qLoraRank'), u32(s.mla.qLora)], [k('kvLoraRank'), u32(s.mla.kvLora)],
      [k('keyLength'), u32(s.mla.nope + (s.nRot ?? 0))], [k('valueLength'), u32(s.mla.vHead)]);
  }
  if (s.swa) {
    extra.push([k('slidingWindow'), u32(s.swa.window)], [k('slidingWindowPattern'), u32(s.swa.pattern)], [k('ropeFreqBaseSwa'), f32(s.swa.ropeBaseSwa)]);
  }
  if (s.softcap) extra.push([k('finalLogitSoftcapping'), f32(s.softcap)]);
  if (s.arch === 'bitnet') extra.push([k('ropeScalingType'), { type: GGUFType.STRING, value: 'linear' }], [k('ropeScalingFactor'), f32(1)]);
  if (s.bitnet?.act) extra.push([k('hiddenActivation'), { type: GGUFType.STRING, value: s.bitnet.act }]);
  return { hp, extra };
}

/** Every tensor of the family's model, in llama.cpp's order. */
export function familyTensors(s: FamilySpec): TensorShape[] {
  const { nEmbd: e, nFF: ff, nVocab: v } = s;
  const hd = s.headDim, q = s.nHead * hd, kv = s.nHeadKv * hd;
  const m = (name: string, cols: number, rows: number, n?: number): TensorShape => ({ name, shape: n ? [cols, rows, n] : [cols, rows], kind: 'matrix' });
  const norm = (name: string, n: number): TensorShape => ({ name, shape: [n], kind: 'norm' });
  const bias = (name: string, n: number): TensorShape => ({ name, shape: [n], kind: 'bias' });
  const out: TensorShape[] = [{ name: TENSOR.tokenEmbd, shape: [e, v], kind: 'embedding' }, norm(TENSOR.outputNorm, e)];
  if (s.arch === 'phi2') out.push(bias('output_norm.bias', e));
  if (!s.tied && s.arch !== 'bitnet') out.push(m(TENSOR.output, e, v));
  if (s.arch === 'phi2') out.push(bias('output.bias', v));
  for (let l = 0; l < s.nLayer; l++) {
    out.push(norm(blk(l, 'attnNorm'), e));
    switch (s.arch) {
      case 'phi2':
        out.push(bias(blk(l, 'attnNorm', 'bias'), e), m(blk(l, 'attnQkv'), e, q + 2 * kv), bias(blk(l, 'attnQkv', 'bias'), q + 2 * kv),
          m(blk(l, 'attnOutput'), q, e), bias(blk(l, 'attnOutput', 'bias'), e),
          m(blk(l, 'ffnUp'), e, ff), bias(blk(l, 'ffnUp', 'bias'), ff), m(blk(l, 'ffnDown'), ff, e), bias(blk(l, 'ffnDown', 'bias'), e));
        continue;
      case 'phi3':
        out.push(m(blk(l, 'attnQkv'), e, q + 2 * kv), m(blk(l, 'attnOutput'), q, e), norm(blk(l, 'ffnNorm'), e),
          m(blk(l, 'ffnUp'), e, 2 * ff), m(blk(l, 'ffnDown'), ff, e));
        continue;
      case 'minicpm3': {
        const a = s.mla!, rot = s.nRot!;
        out.push(norm(blk(l, 'attnQANorm'), a.qLora), norm(blk(l, 'attnKvANorm'), a.kvLora),
          m(blk(l, 'attnQA'), e, a.qLora), m(blk(l, 'attnQB'), a.qLora, s.nHead * (a.nope + rot)),
          m(blk(l, 'attnKvAMqa'), e, a.kvLora + rot), m(blk(l, 'attnKvB'), a.kvLora, s.nHead * (a.nope + a.vHead)),
          m(blk(l, 'attnOutput'), s.nHead * a.vHead, e));
        break;
      }
      case 'bitnet': {
        // Each matrix followed by its one-element product scale where the spec has them.
        const ms = (t: Parameters<typeof blk>[1], cols: number, rows: number): TensorShape[] =>
          s.bitnet?.scales ? [m(blk(l, t), cols, rows), norm(blk(l, t, 'scale'), 1)] : [m(blk(l, t), cols, rows)];
        out.push(norm(blk(l, 'attnSubNorm'), e), ...ms('attnQ', e, q), ...ms('attnK', e, kv), ...ms('attnV', e, kv), ...ms('attnOutput', q, e),
          norm(blk(l, 'ffnNorm'), e), norm(blk(l, 'ffnSubNorm'), ff), ...ms('ffnGate', e, ff), ...ms('ffnDown', ff, e), ...ms('ffnUp', e, ff));
        continue;
      }
      default:
        out.push(m(blk(l, 'attnQ'), e, q), m(blk(l, 'attnK'), e, kv), m(blk(l, 'attnV'), e, kv));
        if (s.arch === 'qwen2moe') out.push(bias(blk(l, 'attnQ', 'bias'), q), bias(blk(l, 'attnK', 'bias'), kv), bias(blk(l, 'attnV', 'bias'), kv));
        if (s.arch === 'qwen3moe' || s.arch === 'gemma3') out.push(norm(blk(l, 'attnQNorm'), hd), norm(blk(l, 'attnKNorm'), hd));
        out.push(m(blk(l, 'attnOutput'), q, e));
        if (s.arch === 'gemma3') out.push(norm(blk(l, 'attnPostNorm'), e));
    }
    out.push(norm(blk(l, 'ffnNorm'), e));
    if (s.moe) {
      const x = s.moe;
      out.push(m(blk(l, 'ffnGateInp'), e, x.nExpert), m(blk(l, 'ffnGateExps'), e, x.nFFExp, x.nExpert), m(blk(l, 'ffnDownExps'), x.nFFExp, e, x.nExpert), m(blk(l, 'ffnUpExps'), e, x.nFFExp, x.nExpert));
      if (x.nFFShared) {
        out.push(bias(blk(l, 'ffnGateInpShexp'), e), m(blk(l, 'ffnGateShexp'), e, x.nFFShared), m(blk(l, 'ffnDownShexp'), x.nFFShared, e), m(blk(l, 'ffnUpShexp'), e, x.nFFShared));
      }
    } else {
      out.push(m(blk(l, 'ffnGate'), e, ff), m(blk(l, 'ffnDown'), ff, e), m(blk(l, 'ffnUp'), e, ff));
    }
    if (s.arch === 'gemma3') out.push(norm(blk(l, 'ffnPostNorm'), e));
  }
  return out;
}
