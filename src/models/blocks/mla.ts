// Multi-head latent attention (MiniCPM3; DeepSeek-V2's without its extras): Q through a low-rank
// pair (q_a, RMSNorm, q_b), K and V from one compressed latent (kv_a: kvLora latent values plus a
// rotated key part shared by all heads; RMSNorm; kv_b expands the latent into each head's
// unrotated key and its value). Each head's key is [rotated | unrotated] here, the query likewise,
// so the kernels' RoPE of the leading dimensions serves and the dot products are the model's.
// The expanded keys and values go to the KV store as any attention's do (llama.cpp caches the
// same); a store of the latents alone, 1/nHead of that, is left for later.

import { blk } from '../../formats/gguf-names.js';
import type { RopeParams, WeightMatrix } from '../../kernels/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { TensorTable } from '../tensors.js';

export interface MlaShape {
  qLora: number;
  kvLora: number;
  /** Unrotated and rotated key dimensions per head (key_length = nope + rope). */
  nope: number;
  rope: number;
}

export interface MlaWeights {
  qA: WeightMatrix; qANorm: Float32Array; qB: WeightMatrix;
  kvA: WeightMatrix; kvANorm: Float32Array; kvB: WeightMatrix;
  wo: WeightMatrix;
}

export function mlaScratch(hp: DecoderHParams, m: MlaShape): Record<string, number> {
  return { mlaQA: m.qLora, mlaQ: hp.nHead * hp.headDim, mlaKvA: m.kvLora + m.rope, mlaLat: m.kvLora, mlaKv: hp.nHead * (m.nope + hp.headDimV) };
}

export function loadMla(t: TensorTable, hp: DecoderHParams, l: number, m: MlaShape): MlaWeights {
  const { nEmbd: e, nHead, headDimV } = hp;
  return {
    qA: t.matrix(blk(l, 'attnQA'), e, m.qLora), qANorm: t.vector(blk(l, 'attnQANorm'), m.qLora), qB: t.matrix(blk(l, 'attnQB'), m.qLora, nHead * (m.nope + m.rope)),
    kvA: t.matrix(blk(l, 'attnKvAMqa'), e, m.kvLora + m.rope), kvANorm: t.vector(blk(l, 'attnKvANorm'), m.kvLora), kvB: t.matrix(blk(l, 'attnKvB'), m.kvLora, nHead * (m.nope + headDimV)),
    wo: t.matrix(blk(l, 'attnOutput'), nHead * headDimV, e),
  };
}

export function mlaMatrices(w: MlaWeights): WeightMatrix[] {
  return [w.qA, w.qB, w.kvA, w.kvB, w.wo];
}

/** s.xn -> s.xn. */
export function mlaAttention(f: ForwardPass, layer: number, w: MlaWeights, m: MlaShape, rope: RopeParams): void {
  const { kernels, hp, s, nTok, pos0 } = f;
  const { nHead, headDim, headDimV: dv, eps } = hp;
  const { nope, rope: nr, kvLora } = m;
  const qa = s.extra.mlaQA!, qm = s.extra.mlaQ!, kva = s.extra.mlaKvA!, lat = s.extra.mlaLat!, kv = s.extra.mlaKv!;
  kernels.matmul(w.qA, s.xn, nTok, qa);
  kernels.rmsNorm(qa, w.qANorm, eps, m.qLora, nTok, qa);
  kernels.matmul(w.qB, qa, nTok, qm);
  kernels.matmul(w.kvA, s.xn, nTok, kva);
  const kvaW = kvLora + nr, kvW = nope + dv;
  for (let t = 0; t < nTok; t++) lat.set(kva.subarray(t * kvaW, t * kvaW + kvLora), t * kvLora);
  kernels.rmsNorm(lat, w.kvANorm, eps, kvLora, nTok, lat);
  kernels.matmul(w.kvB, lat, nTok, kv);
  // Heads as [rope | nope]: q from q_b's [nope | rope], k from kv_b's nope part and the shared k_pe.
  for (let t = 0; t < nTok; t++) {
    const pe = kva.subarray(t * kvaW + kvLora, (t + 1) * kvaW);
    for (let h = 0; h < nHead; h++) {
      const o = (t * nHead + h) * headDim, e = (t * nHead + h) * kvW;
      s.q.set(qm.subarray(o + nope, o + nope + nr), o);
      s.q.set(qm.subarray(o, o + nope), o + nr);
      s.k.set(pe, o);
      s.k.set(kv.subarray(e, e + nope), o + nr);
      s.v.set(kv.subarray(e + nope, e + kvW), (t * nHead + h) * dv);
    }
  }
  kernels.rope(s.q, nTok, nHead, headDim, pos0, rope);
  kernels.rope(s.k, nTok, nHead, headDim, pos0, rope);
  f.kv.append(layer, pos0, s.k, s.v, nTok);
  f.kv.attend(layer, s.q, nTok, pos0, f.attention, s.att);
  kernels.matmul(w.wo, s.att, nTok, s.xn);
}
