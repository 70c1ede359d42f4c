// RoPE variants an architecture derives from the model's: another frequency base (Gemma 3's local
// layers), and LongRoPE's per-pair factors (Phi-3, MiniCPM3), short ones up to the original
// context, long ones past it, chosen per context as llama.cpp chooses them by its context size.

import { hpKey, TENSOR } from '../../formats/gguf-names.js';
import type { RopeParams } from '../../kernels/types.js';
import type { DecoderHParams } from '../decoder.js';
import { Meta } from '../hparams.js';
import type { TensorTable } from '../tensors.js';

/** Plain RoPE of `base` over the model's rotated dimensions, no scaling. */
export function ropeWithBase(p: RopeParams, base: number): RopeParams {
  const half = p.nRot >> 1;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = Math.pow(base, (-2 * i) / p.nRot);
  return { ...p, invFreq, rampMix: null, freqScale: 1, mscale: 1 };
}

export interface LongRope {
  short: RopeParams;
  long: RopeParams;
  /** Contexts larger than this take the long factors. */
  origCtx: number;
}

/** The model's RoPE with rope_factors_short / _long folded in; null when the file has neither. */
export function loadLongRope(t: TensorTable, hp: DecoderHParams): LongRope | null {
  const half = hp.rope.nRot >> 1;
  const short = t.optionalVector(TENSOR.ropeFactorsShort, half), long = t.optionalVector(TENSOR.ropeFactorsLong, half);
  if (!short && !long) return null;
  const meta = new Meta(t.src.metadata, t.src.file);
  const origCtx = meta.num(hpKey(hp.arch, 'ropeScalingOrigCtx'), hp.nCtxTrain);
  const withFactors = (fac: Float32Array | null): RopeParams => {
    if (!fac) return hp.rope;
    const invFreq = hp.rope.invFreq.map((v, i) => v / fac[i]!);
    return { ...hp.rope, invFreq };
  };
  return { short: withFactors(short), long: withFactors(long), origCtx };
}

/** llama.cpp rounds every context size up to a multiple of this (llama_context: GGML_PAD(n_ctx, 256)). */
const LLAMA_CTX_PAD = 256;

/**
 * The factors llama.cpp uses for a context of nCtx positions: it compares its padded context size
 * with the original one, so a context of 36 takes the long factors of a model trained at 100.
 */
export function longRopeFor(r: LongRope | null, nCtx: number, dflt: RopeParams): RopeParams {
  return !r ? dflt : Math.ceil(nCtx / LLAMA_CTX_PAD) * LLAMA_CTX_PAD > r.origCtx ? r.long : r.short;
}
