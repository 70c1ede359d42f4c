// Multi-head latent attention (MiniCPM3; DeepSeek-V2's without its extras): Q through a low-rank
// pair (q_a, RMSNorm, q_b), K and V from one compressed latent (kv_a: kvLora latent values plus a
// rotated key part shared by all heads; RMSNorm; kv_b expands the latent into each head's
// unrotated key and its value). Two ways to cache it:
// - expanded (mlaAttention): each head's key as [rotated | unrotated] and its value go to the KV
//   store as any attention's do, as llama.cpp caches them (its parity);
// - latent (mlaAttentionLatent): the store holds one "head" per position, key [k_pe | c] and value
//   c (c: the normed latent), nHead * (key + value) / (rope + 2 kvLora) times less (12x for
//   MiniCPM3-4B: 6400 values against 544). Each query head is [q_pe | W_UK^T q_nope] (kv_b's key
//   rows absorbed into the query), so q.k = q_pe.k_pe + q_nope.(W_UK c), the model's score; the
//   attention's output per head is a latent, expanded by that head's W_UV rows of kv_b.
//   Grouped-query attention with one KV head does the rest on the kernels.

import { blk } from '../../formats/gguf-names.js';
import type { RopeParams, WeightMatrix } from '../../kernels/types.js';
import { F32 } from '../../quant/float.js';
import { quantFormat } from '../../quant/table.js';
import { weightBytes } from '../../quant/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { AttentionShape, KVShape } from '../kv-store.js';
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

export function mlaScratch(hp: DecoderHParams, m: MlaShape, latent = false): Record<string, number> {
  const s: Record<string, number> = { mlaQA: m.qLora, mlaQ: hp.nHead * hp.headDim, mlaKvA: m.kvLora + m.rope, mlaLat: m.kvLora, mlaKv: hp.nHead * (m.nope + hp.headDimV) };
  // Latent: queries [q_pe | q_abs] per head, the latent outputs per head, one head's rows gathered in and out.
  if (latent) Object.assign(s, { mlaKL: m.rope + m.kvLora, mlaQL: hp.nHead * (m.rope + m.kvLora), mlaOL: hp.nHead * m.kvLora, mlaIn: Math.max(m.nope, m.kvLora), mlaOut: Math.max(m.kvLora, hp.headDimV) });
  return s;
}

/** What a latent cache holds per position: one head, key [k_pe | c], value c. */
export function mlaLatentKV(m: MlaShape): Pick<KVShape, 'nHeadKv' | 'headDim' | 'headDimV'> {
  return { nHeadKv: 1, headDim: m.rope + m.kvLora, headDimV: m.kvLora };
}

/** Per head, kv_b's key rows transposed (W_UK^T: kvLora x nope, f32) and value rows (W_UV: v x kvLora, views), for the latent cache. */
export interface MlaAbsorbed {
  ukT: WeightMatrix[];
  uv: WeightMatrix[];
  /** The latent store's attention: nHead query heads over one KV head, the model's 1/sqrt(nope + rope). */
  shape: AttentionShape;
}

/**
 * The absorbed kv_b of one layer, made from its matrix on first use (W_UK^T in f32: nHead x kvLora
 * x nope values, so only contexts that ask for the latent cache pay for it).
 */
export function mlaAbsorbed(kvB: WeightMatrix, hp: DecoderHParams, m: MlaShape, alloc: (n: number) => Float32Array): MlaAbsorbed {
  const { nHead, headDimV: v } = hp;
  const fmt = quantFormat(kvB.format.id, kvB.name);
  const row = new Float32Array(m.kvLora);
  const ukT = Array.from({ length: nHead }, (_, h): WeightMatrix => {
    const out = alloc(m.kvLora * m.nope);
    for (let r = 0; r < m.nope; r++) {
      fmt.dequantize(kvB.data, (h * (m.nope + v) + r) * kvB.rowBytes, row, 0, m.kvLora);
      for (let c = 0; c < m.kvLora; c++) out[c * m.nope + r] = row[c]!;
    }
    const data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    return { name: `${kvB.name}[uk^T ${h}]`, format: F32, rows: m.kvLora, cols: m.nope, rowBytes: m.nope * 4, ...weightBytes(data) };
  });
  const uv = Array.from({ length: nHead }, (_, h): WeightMatrix => {
    const r0 = h * (m.nope + v) + m.nope;
    const data = kvB.data.subarray(r0 * kvB.rowBytes, (r0 + v) * kvB.rowBytes);
    return { name: `${kvB.name}[uv ${h}]`, format: kvB.format, rows: v, cols: m.kvLora, rowBytes: kvB.rowBytes, ...weightBytes(data) };
  });
  return { ukT, uv, shape: { nHead, nHeadKv: 1, headDim: m.rope + m.kvLora, headDimV: m.kvLora, scale: 1 / Math.sqrt(m.nope + m.rope) } };
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

/**
 * What both caches start from: s.xn -> queries mlaQ (per head [nope | rope], q_b's layout), kv_a's
 * output mlaKvA (per token [latent | k_pe]) and the normed latent mlaLat (c).
 */
function mlaProject(f: ForwardPass, w: MlaWeights, m: MlaShape): void {
  const { kernels, s, nTok } = f;
  const { kvLora } = m, eps = f.hp.eps;
  const qa = s.extra.mlaQA!, qm = s.extra.mlaQ!, kva = s.extra.mlaKvA!, lat = s.extra.mlaLat!;
  kernels.matmul(w.qA, s.xn, nTok, qa);
  kernels.rmsNorm(qa, w.qANorm, eps, m.qLora, nTok, qa);
  kernels.matmul(w.qB, qa, nTok, qm);
  kernels.matmul(w.kvA, s.xn, nTok, kva);
  const kvaW = kvLora + m.rope;
  for (let t = 0; t < nTok; t++) lat.set(kva.subarray(t * kvaW, t * kvaW + kvLora), t * kvLora);
  kernels.rmsNorm(lat, w.kvANorm, eps, kvLora, nTok, lat);
}

/** s.xn -> s.xn. */
export function mlaAttention(f: ForwardPass, layer: number, w: MlaWeights, m: MlaShape, rope: RopeParams): void {
  const { kernels, hp, s, nTok, pos0 } = f;
  const { nHead, headDim, headDimV: dv } = hp;
  const { nope, rope: nr, kvLora } = m;
  const qm = s.extra.mlaQ!, kva = s.extra.mlaKvA!, lat = s.extra.mlaLat!, kv = s.extra.mlaKv!;
  mlaProject(f, w, m);
  const kvaW = kvLora + nr, kvW = nope + dv;
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

/** s.xn -> s.xn through a latent cache (see the top of the file); the same function as mlaAttention. */
export function mlaAttentionLatent(f: ForwardPass, layer: number, w: MlaWeights, a: MlaAbsorbed, m: MlaShape, rope: RopeParams): void {
  const { kernels, hp, s, nTok, pos0 } = f;
  const { nHead, headDim, headDimV: dv } = hp;
  const { nope, rope: nr, kvLora } = m;
  const qm = s.extra.mlaQ!, kva = s.extra.mlaKvA!, lat = s.extra.mlaLat!;
  const kl = s.extra.mlaKL!, ql = s.extra.mlaQL!, ol = s.extra.mlaOL!, gin = s.extra.mlaIn!, gout = s.extra.mlaOut!;
  mlaProject(f, w, m);
  const kvaW = kvLora + nr, qlW = nr + kvLora;
  // The cached row: key [k_pe | c] (k_pe rotated below), value c.
  for (let t = 0; t < nTok; t++) {
    kl.set(kva.subarray(t * kvaW + kvLora, (t + 1) * kvaW), t * qlW);
    kl.set(lat.subarray(t * kvLora, (t + 1) * kvLora), t * qlW + nr);
  }
  // Queries [q_pe | W_UK^T q_nope], head by head: gather q_nope, one product, place.
  for (let h = 0; h < nHead; h++) {
    for (let t = 0; t < nTok; t++) {
      const o = (t * nHead + h) * headDim;
      gin.set(qm.subarray(o, o + nope), t * nope);
      ql.set(qm.subarray(o + nope, o + nope + nr), (t * nHead + h) * qlW);
    }
    kernels.matmul(a.ukT[h]!, gin, nTok, gout);
    for (let t = 0; t < nTok; t++) ql.set(gout.subarray(t * kvLora, (t + 1) * kvLora), (t * nHead + h) * qlW + nr);
  }
  kernels.rope(ql, nTok, nHead, qlW, pos0, rope);
  kernels.rope(kl, nTok, 1, qlW, pos0, rope);
  f.kv.append(layer, pos0, kl, lat, nTok);
  f.kv.attend(layer, ql, nTok, pos0, a.shape, ol);
  // Each head's latent output through its W_UV rows into the heads' values.
  for (let h = 0; h < nHead; h++) {
    for (let t = 0; t < nTok; t++) gin.set(ol.subarray((t * nHead + h) * kvLora, (t * nHead + h + 1) * kvLora), t * kvLora);
    kernels.matmul(a.uv[h]!, gin, nTok, gout);
    for (let t = 0; t < nTok; t++) s.att.set(gout.subarray(t * dv, (t + 1) * dv), (t * nHead + h) * dv);
  }
  kernels.matmul(w.wo, s.att, nTok, s.xn);
}
