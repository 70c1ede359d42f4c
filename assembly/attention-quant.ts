// Causal attention over a KV cache held in a ggml cache format (f32, f16, bf16, q8_0, q4_0, q4_1,
// q5_0, q5_1, iq4_nl; K and V may differ), as ggml's CPU flash attention reads such a cache: each
// query head converted to the K format's vec_dot type (f16/bf16 rounding, or Q8 blocks of 32), K.Q
// by the format's integer dot product, an online softmax, V rows dequantized into an f32
// accumulator (an f16 one for f16 values). The TypeScript twin is kernels/ref/attention-quant.ts.
//
// The K cache of one KV head is a matrix whose rows are positions (row stride: all heads' bytes),
// so the scores of the query heads sharing it over a run of positions are one matrix product with
// those heads as its tokens (matmul's kernels), a loop per head here for bf16 and iq4_nl.

import { f16ToF32, halfx4, roundF16, roundF16x4 } from './f16';
import { dot32_i8, isum4, spreadBits } from './dot';
import { matmul } from './matmul';
import { finishGroup, onlineStep, widen } from './attention';
import { quantize_q8 } from './act-quant';
import {
  GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
  GGML_TYPE_Q8_0, GGML_TYPE_IQ4_NL,
} from './types.generated';

// ggml's kvalues_iq4nl as two little-endian i64 (entries 0-7, 8-15): constants, not a data segment,
// since the kernels' memory belongs to the caller's arena.
const IQ4_LO: i64 = 0xf6eaddcfbfad9881;
const IQ4_HI: i64 = 0x7159453526190d01;

@inline function iq4Value(i: i32): i32 {
  return <i32><i8>((i < 8 ? IQ4_LO : IQ4_HI) >> (<i64>(i & 7) << 3));
}

@inline function bf16Round(x: f32): f32 {
  const u = reinterpret<u32>(x);
  // ggml_compute_fp32_to_bf16: round to nearest even; NaN kept quiet.
  const h = (u & 0x7fffffff) > 0x7f800000 ? (u >> 16) | 64 : (u + (0x7fff + ((u >> 16) & 1))) >> 16;
  return reinterpret<f32>(h << 16);
}

/**
 * Bytes of scratch per query head of a group (a call needs this times nHead / nHeadKv): scores for
 * nKv positions, the query in its forms, its accumulator and a share of the group's V row, its
 * running max and sum.
 */
export function attention_quant_scratch(nKv: i32, headDim: i32, headDimV: i32): i32 {
  const nb = (headDim + 31) >> 5;
  return (((nKv + headDim + 2 * headDimV + 3 * nb + 2) << 2) + headDim + 15) & ~15;
}

/** 16 signed codes (i8 lanes) as f32 at y: code * d (+ m where withMin), as the scalar loop rounds. */
@inline function store16(y: usize, c: v128, d: f32, m: f32, withMin: bool): void {
  const d4 = f32x4.splat(d), m4 = f32x4.splat(m);
  const lo = i16x8.extend_low_i8x16_s(c), hi = i16x8.extend_high_i8x16_s(c);
  let a = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d4);
  let b = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d4);
  let e = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d4);
  let g = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d4);
  if (withMin) { a = f32x4.add(a, m4); b = f32x4.add(b, m4); e = f32x4.add(e, m4); g = f32x4.add(g, m4); }
  v128.store(y, a); v128.store(y, b, 16); v128.store(y, e, 32); v128.store(y, g, 48);
}

/** SIMD builds: one 32-element block of a quantized V row at o as f32 at y. */
@inline function dequantBlockSimd(type: i32, o: usize, y: usize): void {
  if (type == GGML_TYPE_Q8_0) {
    const d = f16ToF32(load<u16>(o));
    store16(y, v128.load(o + 2), d, 0, false);
    store16(y + 64, v128.load(o + 18), d, 0, false);
    return;
  }
  if (type == GGML_TYPE_Q4_0 || type == GGML_TYPE_IQ4_NL) {
    const d = f16ToF32(load<u16>(o)), q = v128.load(o + 2);
    let lo = v128.and(q, i8x16.splat(0x0f)), hi = i8x16.shr_u(q, 4);
    if (type == GGML_TYPE_IQ4_NL) {
      const tbl = i64x2(IQ4_LO, IQ4_HI);
      lo = i8x16.swizzle(tbl, lo); hi = i8x16.swizzle(tbl, hi);
    } else {
      lo = i8x16.sub(lo, i8x16.splat(8)); hi = i8x16.sub(hi, i8x16.splat(8));
    }
    store16(y, lo, d, 0, false);
    store16(y + 64, hi, d, 0, false);
    return;
  }
  if (type == GGML_TYPE_Q4_1) {
    const d = f16ToF32(load<u16>(o)), m = f16ToF32(load<u16>(o + 2)), q = v128.load(o + 4);
    store16(y, v128.and(q, i8x16.splat(0x0f)), d, m, true);
    store16(y + 64, i8x16.shr_u(q, 4), d, m, true);
    return;
  }
  const withMin = type == GGML_TYPE_Q5_1;
  const hOff: usize = withMin ? 4 : 2;
  const d = f16ToF32(load<u16>(o)), m: f32 = withMin ? f16ToF32(load<u16>(o + 2)) : 0;
  const qh = load<u32>(o + hOff), q = v128.load(o + hOff + 4);
  let lo = v128.or(v128.and(q, i8x16.splat(0x0f)), spreadBits(qh)), hi = v128.or(i8x16.shr_u(q, 4), spreadBits(qh >> 16));
  if (!withMin) { lo = i8x16.sub(lo, i8x16.splat(16)); hi = i8x16.sub(hi, i8x16.splat(16)); }
  store16(y, lo, d, m, withMin);
  store16(y + 64, hi, d, m, withMin);
}

/** One V row of n elements at src as f32 at dst (every format but f16, which the caller reads as halves). */
function dequantRow(type: i32, src: usize, dst: usize, n: i32): void {
  if (type == GGML_TYPE_F32) { memory.copy(dst, src, <usize>n << 2); return; }
  if (ASC_FEATURE_SIMD && type != GGML_TYPE_BF16) {
    const bs: usize = type == GGML_TYPE_Q8_0 ? 34 : type == GGML_TYPE_Q4_1 ? 20 : type == GGML_TYPE_Q5_0 ? 22 : type == GGML_TYPE_Q5_1 ? 24 : 18;
    for (let b = 0; b < (n >> 5); b++) dequantBlockSimd(type, src + <usize>b * bs, dst + (<usize>b << 7));
    return;
  }
  if (type == GGML_TYPE_BF16) {
    for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), reinterpret<f32>(<u32>load<u16>(src + (<usize>i << 1)) << 16));
    return;
  }
  for (let b = 0; b < (n >> 5); b++) {
    const y = dst + (<usize>b << 7);
    if (type == GGML_TYPE_Q8_0) {
      const o = src + <usize>b * 34, d = f16ToF32(load<u16>(o));
      for (let j = 0; j < 32; j++) store<f32>(y + (<usize>j << 2), <f32>load<i8>(o + 2 + j) * d);
    } else if (type == GGML_TYPE_Q4_0 || type == GGML_TYPE_IQ4_NL) {
      const o = src + <usize>b * 18, d = f16ToF32(load<u16>(o));
      const nl = type == GGML_TYPE_IQ4_NL;
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(o + 2 + j);
        store<f32>(y + (<usize>j << 2), <f32>(nl ? iq4Value(q & 15) : (q & 15) - 8) * d);
        store<f32>(y + (<usize>(j + 16) << 2), <f32>(nl ? iq4Value(q >> 4) : (q >> 4) - 8) * d);
      }
    } else if (type == GGML_TYPE_Q4_1) {
      const o = src + <usize>b * 20, d = f16ToF32(load<u16>(o)), m = f16ToF32(load<u16>(o + 2));
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(o + 4 + j);
        store<f32>(y + (<usize>j << 2), <f32>(q & 15) * d + m);
        store<f32>(y + (<usize>(j + 16) << 2), <f32>(q >> 4) * d + m);
      }
    } else {
      // Q5_0 (22 bytes: d, qh, nibbles) and Q5_1 (24: d, m, qh, nibbles).
      const withMin = type == GGML_TYPE_Q5_1;
      const o = src + <usize>b * (withMin ? 24 : 22), d = f16ToF32(load<u16>(o));
      const m: f32 = withMin ? f16ToF32(load<u16>(o + 2)) : 0;
      const hOff: usize = withMin ? 4 : 2;
      const qh = load<u32>(o + hOff);
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(o + hOff + 4 + j);
        const q0 = (q & 15) | <i32>(((qh >> j) << 4) & 16), q1 = (q >> 4) | <i32>((qh >> (j + 12)) & 16);
        if (withMin) {
          store<f32>(y + (<usize>j << 2), <f32>q0 * d + m);
          store<f32>(y + (<usize>(j + 16) << 2), <f32>q1 * d + m);
        } else {
          store<f32>(y + (<usize>j << 2), <f32>(q0 - 16) * d);
          store<f32>(y + (<usize>(j + 16) << 2), <f32>(q1 - 16) * d);
        }
      }
    }
  }
}

/** bf16 or iq4_nl K rows j0..j1 (stride rowBytes from kh) . one prepared query, unscaled, into sc[j] (matmul has no such rows). */
function scores(type: i32, kh: usize, rowBytes: i32, headDim: i32, j0: i32, j1: i32, qf: usize, qs: usize, ad: usize, sc: usize): void {
  if (type == GGML_TYPE_BF16) {
    for (let j = j0; j < j1; j++) {
      const ko = kh + <usize>j * <usize>rowBytes;
      let s: f32 = 0;
      let d = 0;
      if (ASC_FEATURE_SIMD) {
        let a4 = f32x4.splat(0);
        for (; d + 4 <= headDim; d += 4) {
          const kv = i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(ko + (<usize>d << 1))), 16);
          a4 = f32x4.add(a4, f32x4.mul(kv, v128.load(qf + (<usize>d << 2))));
        }
        s = f32x4.extract_lane(a4, 0) + f32x4.extract_lane(a4, 1) + f32x4.extract_lane(a4, 2) + f32x4.extract_lane(a4, 3);
      }
      for (; d < headDim; d++) s += reinterpret<f32>(<u32>load<u16>(ko + (<usize>d << 1)) << 16) * load<f32>(qf + (<usize>d << 2));
      store<f32>(sc + (<usize>j << 2), s);
    }
    return;
  }
  if (type == GGML_TYPE_IQ4_NL) {
    const nb = headDim >> 5;
    for (let j = j0; j < j1; j++) {
      const ko = kh + <usize>j * <usize>rowBytes;
      let s: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const o = ko + <usize>b * 18, x = qs + (<usize>b << 5);
        let isum: i32 = 0;
        if (ASC_FEATURE_SIMD) {
          const tbl = i64x2(IQ4_LO, IQ4_HI);
          const q = v128.load(o + 2);
          const lo = i8x16.swizzle(tbl, v128.and(q, i8x16.splat(0x0f))), hi = i8x16.swizzle(tbl, i8x16.shr_u(q, 4));
          isum = isum4(dot32_i8(lo, hi, v128.load(x), v128.load(x, 16)));
        } else {
          for (let i = 0; i < 16; i++) {
            const q = <i32>load<u8>(o + 2 + i);
            isum += iq4Value(q & 15) * <i32>load<i8>(x + i) + iq4Value(q >> 4) * <i32>load<i8>(x + 16 + i);
          }
        }
        s += <f32>isum * (load<f32>(ad + (<usize>b << 2)) * f16ToF32(load<u16>(o)));
      }
      store<f32>(sc + (<usize>j << 2), s);
    }
  }
}

/**
 * Causal attention of nTok queries at positions pos0.. for heads h0..h1 over caches of types
 * kType/vType with kRowBytes/vRowBytes per position (all KV heads). spans (i32 pairs [start, end)),
 * when not 0 and nTok = 1: KV head kvh attends spanCount[kvh] pairs from spans + kvh * spanStride.
 * The query heads of one KV head (nHead / nHeadKv of them) go together, as attention.ts's grouped
 * kernel does: each V row is dequantized once for the group, not once per head. Every head keeps
 * its own sums in its own order, so grouping and the split between threads change no bit.
 * scratch: attention_quant_scratch(pos0 + nTok, headDim, headDimV) * (nHead / nHeadKv) bytes.
 */
export function attention_quant(q: usize, k: usize, v: usize, nTok: i32, pos0: i32, nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32, scale: f32,
  kType: i32, vType: i32, kRowBytes: i32, vRowBytes: i32, spans: usize, spanCount: usize, spanStride: i32, out: usize, h0: i32, h1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const kHeadBytes = <usize>(kRowBytes / nHeadKv), vHeadBytes = <usize>(vRowBytes / nHeadKv);
  const nKv = pos0 + nTok, nb = (headDim + 31) >> 5;
  // Per head i of the group: scores sc + i * nKv, query qf / qs + i * headDim, accumulator
  // accg + i * headDimV, Q8 scales and sums + i * nb, running max and sum Mg[i], Sg[i].
  const sc = scratch;
  const qf = sc + (<usize>(group * nKv) << 2);
  const accg = qf + (<usize>(group * headDim) << 2);
  const v32 = accg + (<usize>(group * headDimV) << 2);
  const ad = v32 + (<usize>headDimV << 2);
  const as = ad + (<usize>(group * nb) << 2);
  const asum = as + (<usize>(group * nb) << 2);
  const Mg = asum + (<usize>(group * nb) << 2);
  const Sg = Mg + (<usize>group << 2);
  const qs = Sg + (<usize>group << 2);
  const f16V = vType == GGML_TYPE_F16;
  const floatK = kType == GGML_TYPE_F32 || kType == GGML_TYPE_F16 || kType == GGML_TYPE_BF16;
  for (let t = 0; t < nTok; t++) {
    const last = pos0 + t;
    for (let g0 = h0; g0 < h1;) {
      const kvh = g0 / group;
      const g1 = min(h1, (kvh + 1) * group);
      const n = g1 - g0;
      const kh = k + <usize>kvh * kHeadBytes, vh = v + <usize>kvh * vHeadBytes;
      const nSpans = spans ? load<i32>(spanCount + (<usize>kvh << 2)) : 1;
      const sp0 = spans + ((<usize>(kvh * spanStride)) << 2);
      const qo = q + ((<usize>(t * nHead + g0) * <usize>headDim) << 2);
      if (floatK) {
        for (let d = 0; d < n * headDim; d++) {
          const x = load<f32>(qo + (<usize>d << 2));
          store<f32>(qf + (<usize>d << 2), kType == GGML_TYPE_F16 ? roundF16(x) : kType == GGML_TYPE_BF16 ? bf16Round(x) : x);
        }
      } else {
        // The group's heads are adjacent in q: one call quantizes them all, head i at qs + i * headDim.
        quantize_q8(qo, headDim, n, qs, ad, as, asum);
      }
      // Scores of head i at sc + i * nKv. matmul takes the group's queries as its tokens, each K row
      // read once for them (the same per-row, per-query sums as one query at a time).
      const oneMatmul = kType != GGML_TYPE_BF16 && kType != GGML_TYPE_IQ4_NL;
      for (let sp = 0; sp < nSpans; sp++) {
        const j0 = spans ? load<i32>(sp0 + (<usize>(2 * sp) << 2)) : 0;
        const j1 = spans ? min(load<i32>(sp0 + (<usize>(2 * sp + 1) << 2)), last + 1) : last + 1;
        if (j0 >= j1) continue;
        if (oneMatmul) {
          matmul(kType, kh, kRowBytes, headDim, nKv, j0, j1, floatK ? qf : qs, ad, as, asum, sc, n);
        } else {
          for (let i = 0; i < n; i++) {
            const bo = <usize>(i * nb) << 2;
            scores(kType, kh, kRowBytes, headDim, j0, j1, qf + (<usize>(i * headDim) << 2), qs + <usize>(i * headDim), ad + bo, sc + (<usize>(i * nKv) << 2));
          }
        }
      }
      for (let i = 0; i < n; i++) {
        store<f32>(Mg + (<usize>i << 2), -Infinity);
        store<f32>(Sg + (<usize>i << 2), 0);
      }
      memory.fill(accg, 0, <usize>(n * headDimV) << 2);
      for (let sp = 0; sp < nSpans; sp++) {
        const j0 = spans ? load<i32>(sp0 + (<usize>(2 * sp) << 2)) : 0;
        const j1 = spans ? min(load<i32>(sp0 + (<usize>(2 * sp + 1) << 2)), last + 1) : last + 1;
        for (let j = j0; j < j1; j++) {
          // This position's V row as f32, once for the group (f16: halves widened, exact).
          const vo = vh + <usize>j * <usize>vRowBytes;
          if (f16V) widen(vo, v32, headDimV);
          else dequantRow(vType, vo, v32, headDimV);
          for (let i = 0; i < n; i++) {
            const acc = accg + (<usize>(i * headDimV) << 2);
            const s: f32 = load<f32>(sc + (<usize>(i * nKv + j) << 2)) * scale;
            onlineStep(s, Mg + (<usize>i << 2), Sg + (<usize>i << 2), acc, v32, headDimV, f16V);
          }
        }
      }
      finishGroup(accg, Sg, out + ((<usize>(t * nHead + g0) * <usize>headDimV) << 2), n, headDimV);
      g0 = g1;
    }
  }
}
