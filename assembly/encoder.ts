// Ops of non-causal encoders (the vision tower) over many tokens at once: layer norm, softmax of
// attention rows, activations read from an f16-indexed table (ggml's GELU tables), bias rows,
// strided copies, and the attention of all heads built from them and the GEMM (gemm.ts). Twins:
// src/kernels/ref/encoder.ts.

import { f32ToF16, roundF16x4 } from './f16';
import { expConst, expF32, expF32x4k } from './exp';
import { GEMM_WT, gemm_f, gemm_pack_x, gemmPackedBytes, gemmPanelBytes, storeT } from './gemm';
import { GGML_TYPE_F32 } from './types.generated';

/**
 * out[t] = (x[t] - mean) / sqrt(var + eps) * w + b (b = 0: none), rows of n; out may alias x. Sums
 * in f64 in order, as the TypeScript layerNorm (and ggml's ggml_float) does, so the two agree bit
 * for bit. Four rows at a time: their sums are four independent chains (each still in order), so
 * the adds' latency overlaps; the scaling pass in f64 pairs, the same roundings as one by one.
 */
export function layer_norm(x: usize, w: usize, b: usize, eps: f64, n: i32, nTok: i32, out: usize): void {
  const rb = <usize>n << 2;
  let t = 0;
  for (; t + 4 <= nTok; t += 4) {
    const x0 = x + <usize>t * rb, x1 = x0 + rb, x2 = x1 + rb, x3 = x2 + rb;
    const o0 = out + <usize>t * rb, o1 = o0 + rb, o2 = o1 + rb, o3 = o2 + rb;
    let a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0;
    for (let i = 0; i < n; i++) {
      const p = <usize>i << 2;
      a0 += <f64>load<f32>(x0 + p); a1 += <f64>load<f32>(x1 + p); a2 += <f64>load<f32>(x2 + p); a3 += <f64>load<f32>(x3 + p);
    }
    const m0 = <f32>(a0 / n), m1 = <f32>(a1 / n), m2 = <f32>(a2 / n), m3 = <f32>(a3 / n);
    a0 = 0; a1 = 0; a2 = 0; a3 = 0;
    for (let i = 0; i < n; i++) {
      const p = <usize>i << 2;
      const d0 = load<f32>(x0 + p) - m0, d1 = load<f32>(x1 + p) - m1, d2 = load<f32>(x2 + p) - m2, d3 = load<f32>(x3 + p) - m3;
      store<f32>(o0 + p, d0); store<f32>(o1 + p, d1); store<f32>(o2 + p, d2); store<f32>(o3 + p, d3);
      a0 += <f64>d0 * <f64>d0; a1 += <f64>d1 * <f64>d1; a2 += <f64>d2 * <f64>d2; a3 += <f64>d3 * <f64>d3;
    }
    normScale(o0, w, b, n, <f32>(1 / Math.sqrt(<f64><f32>(a0 / n + eps))));
    normScale(o1, w, b, n, <f32>(1 / Math.sqrt(<f64><f32>(a1 / n + eps))));
    normScale(o2, w, b, n, <f32>(1 / Math.sqrt(<f64><f32>(a2 / n + eps))));
    normScale(o3, w, b, n, <f32>(1 / Math.sqrt(<f64><f32>(a3 / n + eps))));
  }
  for (; t < nTok; t++) {
    const xo = x + <usize>t * rb, oo = out + <usize>t * rb;
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) sum += <f64>load<f32>(xo + (<usize>i << 2));
    const mean = <f32>(sum / n);
    let ss: f64 = 0;
    for (let i = 0; i < n; i++) {
      const d = load<f32>(xo + (<usize>i << 2)) - mean;
      store<f32>(oo + (<usize>i << 2), d);
      ss += <f64>d * <f64>d;
    }
    normScale(oo, w, b, n, <f32>(1 / Math.sqrt(<f64><f32>(ss / n + eps))));
  }
}

/** o[i] = f32(f64(f32(o[i] * scale)) * w[i] + b[i]) (b = 0: + 0, as the twin adds), n of them. */
function normScale(o: usize, w: usize, b: usize, n: i32, scale: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const sv = f32x4.splat(scale), zero = f64x2.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      const m = f32x4.mul(v128.load(o + p), sv), wv = v128.load(w + p);
      let lo = f64x2.mul(f64x2.promote_low_f32x4(m), f64x2.promote_low_f32x4(wv));
      let hi = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<i32>(m, m, 2, 3, 0, 1)), f64x2.promote_low_f32x4(v128.shuffle<i32>(wv, wv, 2, 3, 0, 1)));
      if (b) {
        const bv = v128.load(b + p);
        lo = f64x2.add(lo, f64x2.promote_low_f32x4(bv));
        hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<i32>(bv, bv, 2, 3, 0, 1)));
      } else {
        lo = f64x2.add(lo, zero); hi = f64x2.add(hi, zero);
      }
      v128.store(o + p, v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const v = <f64>(load<f32>(o + p) * scale) * <f64>load<f32>(w + p) + (b ? <f64>load<f32>(b + p) : 0);
    store<f32>(o + p, <f32>v);
  }
}

/**
 * Each of `rows` rows of n at x: t = x * scale, then softmax(t), in place (ggml_soft_max_ext without
 * a mask). The exponentials are summed in f64 in four running sums (element i into sum i % 4 over
 * whole groups of four), combined as (s0 + s1) + (s2 + s3), then the last n % 4 added in order.
 */
export function softmax_rows(x: usize, n: i32, rows: i32, scale: f32): void {
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize>r * <usize>n) << 2);
    const inv = softmaxExp(row, n, scale);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const iv = f32x4.splat(inv);
      for (; i + 4 <= n; i += 4) { const p = row + (<usize>i << 2); v128.store(p, f32x4.mul(v128.load(p), iv)); }
    }
    for (; i < n; i++) { const p = row + (<usize>i << 2); store<f32>(p, load<f32>(p) * inv); }
  }
}

/**
 * softmax_rows of rows x (rows of n at x) written into gemm_pack_x's layout at dst (rows in groups of
 * four, [group][n][4], the last group padded with zeros) instead of in place: the same arithmetic
 * as softmax_rows then gemm_pack_x(round 0), so bit for bit the twin's softmaxRows packed. The
 * scaled scores are not stored (the exponentials' pass scales again, the same rounding); x keeps the
 * unnormalized exponentials. Saves the attention a store pass, a normalize pass and a packing pass.
 */
export function softmax_pack(x: usize, n: i32, rows: i32, scale: f32, dst: usize): void {
  const rb = <usize>n << 2;
  for (let r0 = 0; r0 < rows; r0 += 4) {
    const base = dst + <usize>(r0 >> 2) * (rb << 2);
    const nr = min(4, rows - r0);
    let inv0: f32 = 0, inv1: f32 = 0, inv2: f32 = 0, inv3: f32 = 0;
    for (let j = 0; j < nr; j++) {
      const inv = softmaxExp(x + <usize>(r0 + j) * rb, n, scale);
      if (j == 0) inv0 = inv; else if (j == 1) inv1 = inv; else if (j == 2) inv2 = inv; else inv3 = inv;
    }
    const s0 = x + <usize>r0 * rb, s1 = s0 + rb, s2 = s1 + rb, s3 = s2 + rb;
    let k = 0;
    if (ASC_FEATURE_SIMD && nr == 4) {
      const i0 = f32x4.splat(inv0), i1 = f32x4.splat(inv1), i2 = f32x4.splat(inv2), i3 = f32x4.splat(inv3);
      for (; k + 4 <= n; k += 4) {
        const o = <usize>k << 2;
        storeT(base + (<usize>k << 4), 16, f32x4.mul(v128.load(s0 + o), i0), f32x4.mul(v128.load(s1 + o), i1), f32x4.mul(v128.load(s2 + o), i2), f32x4.mul(v128.load(s3 + o), i3));
      }
    }
    for (; k < n; k++) {
      const o = <usize>k << 2, d = base + (<usize>k << 4);
      store<f32>(d, load<f32>(s0 + o) * inv0);
      store<f32>(d, nr > 1 ? load<f32>(s1 + o) * inv1 : 0, 4);
      store<f32>(d, nr > 2 ? load<f32>(s2 + o) * inv2 : 0, 8);
      store<f32>(d, nr > 3 ? load<f32>(s3 + o) * inv3 : 0, 12);
    }
  }
}

/**
 * One row of softmax_rows up to the normalization: e = exp(x * scale - max) stored in place, summed
 * in f64 in softmax_rows' order; returns 1 / sum.
 */
@inline function softmaxExp(row: usize, n: i32, scale: f32): f32 {
  let mx: f32 = -Infinity;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // Two running maxima (max is exact, so their order cannot change the result).
    const sc = f32x4.splat(scale);
    let m0 = f32x4.splat(-Infinity), m1 = m0;
    for (; i + 8 <= n; i += 8) {
      const p = row + (<usize>i << 2);
      m0 = f32x4.max(m0, f32x4.mul(v128.load(p), sc));
      m1 = f32x4.max(m1, f32x4.mul(v128.load(p, 16), sc));
    }
    if (i + 4 <= n) { m0 = f32x4.max(m0, f32x4.mul(v128.load(row + (<usize>i << 2)), sc)); i += 4; }
    const m = f32x4.max(m0, m1);
    mx = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  }
  for (; i < n; i++) mx = max(mx, load<f32>(row + (<usize>i << 2)) * scale);
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  i = 0;
  if (ASC_FEATURE_SIMD) {
    const sc = f32x4.splat(scale), mv = f32x4.splat(mx);
    const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
    const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
    // The exponentials, then their sums in a second pass over the row (in L1): with the f64 sums in
    // the same loop, the exp's twelve constants left V8 too few registers and a sum went through
    // the stack every iteration.
    for (; i + 4 <= n; i += 4) {
      const p = row + (<usize>i << 2);
      v128.store(p, expF32x4k(f32x4.sub(f32x4.mul(v128.load(p), sc), mv), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11));
    }
    let a = f64x2.splat(0), b = f64x2.splat(0);
    for (let j = 0; j < i; j += 4) {
      const e = v128.load(row + (<usize>j << 2));
      a = f64x2.add(a, f64x2.promote_low_f32x4(e));
      b = f64x2.add(b, f64x2.promote_low_f32x4(v128.shuffle<i32>(e, e, 2, 3, 0, 1)));
    }
    s0 = f64x2.extract_lane(a, 0); s1 = f64x2.extract_lane(a, 1); s2 = f64x2.extract_lane(b, 0); s3 = f64x2.extract_lane(b, 1);
  } else {
    for (; i + 4 <= n; i += 4) {
      const p = row + (<usize>i << 2);
      const e0 = expF32(load<f32>(p) * scale - mx), e1 = expF32(load<f32>(p, 4) * scale - mx);
      const e2 = expF32(load<f32>(p, 8) * scale - mx), e3 = expF32(load<f32>(p, 12) * scale - mx);
      store<f32>(p, e0); store<f32>(p, e1, 4); store<f32>(p, e2, 8); store<f32>(p, e3, 12);
      s0 += e0; s1 += e1; s2 += e2; s3 += e3;
    }
  }
  let sum = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) {
    const p = row + (<usize>i << 2);
    const e = expF32(load<f32>(p) * scale - mx);
    store<f32>(p, e);
    sum += e;
  }
  return <f32>(1 / sum);
}

/**
 * x[i] = table[f16(x[i])] (ggml's f16 GELU tables), n values; with `clamp` (GELU) x <= -10 gives 0
 * and x >= 10 stays x, as ggml_vec_gelu_f32 does.
 */
export function map_half(x: usize, n: i32, table: usize, clamp: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // Four at a time where all four are normal halves below 10 in magnitude: the f16 bits from the
    // rounded f32 (sign, exponent rebias, mantissa), then four table reads. Others one by one below.
    const lo = i32x4.splat(0x38800000), span = i32x4.splat(0x41200000 - 0x38800000), absMask = i32x4.splat(0x7fffffff);
    const rebias = i32x4.splat(112 << 10), signMask = i32x4.splat(0x8000);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      const v = v128.load(p);
      if (!i32x4.all_true(i32x4.lt_u(i32x4.sub(v128.and(v, absMask), lo), span))) { mapHalf4(p, table, clamp); continue; }
      const r = roundF16x4(v);
      const h = v128.or(i32x4.sub(i32x4.shr_u(v128.and(r, absMask), 13), rebias), v128.and(i32x4.shr_u(r, 16), signMask));
      store<f32>(p, load<f32>(table + (<usize>i32x4.extract_lane(h, 0) << 2)));
      store<f32>(p, load<f32>(table + (<usize>i32x4.extract_lane(h, 1) << 2)), 4);
      store<f32>(p, load<f32>(table + (<usize>i32x4.extract_lane(h, 2) << 2)), 8);
      store<f32>(p, load<f32>(table + (<usize>i32x4.extract_lane(h, 3) << 2)), 12);
    }
  }
  for (; i < n; i++) mapHalf1(x + (<usize>i << 2), table, clamp);
}

@inline function mapHalf1(p: usize, table: usize, clamp: i32): void {
  const v = load<f32>(p);
  if (clamp && v <= -10) store<f32>(p, 0);
  else if (!(clamp && v >= 10)) store<f32>(p, load<f32>(table + (<usize>f32ToF16(v) << 2)));
}

function mapHalf4(p: usize, table: usize, clamp: i32): void {
  mapHalf1(p, table, clamp); mapHalf1(p + 4, table, clamp); mapHalf1(p + 8, table, clamp); mapHalf1(p + 12, table, clamp);
}

/** y[t * n + i] += b[i] for rows t < rows. */
export function add_rows(y: usize, b: usize, n: i32, rows: i32): void {
  for (let t = 0; t < rows; t++) {
    const yo = y + ((<usize>t * <usize>n) << 2);
    let i = 0;
    if (ASC_FEATURE_SIMD) for (; i + 4 <= n; i += 4) { const p = <usize>i << 2; v128.store(yo + p, f32x4.add(v128.load(yo + p), v128.load(b + p))); }
    for (; i < n; i++) { const p = <usize>i << 2; store<f32>(yo + p, load<f32>(yo + p) + load<f32>(b + p)); }
  }
}

/** dst[r * dstStride + c] = src[r * srcStride + c] for r < rows, c < cols (floats; strides in floats). */
export function copy_rows(src: usize, srcStride: i32, dst: usize, dstStride: i32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) memory.copy(dst + ((<usize>r * <usize>dstStride) << 2), src + ((<usize>r * <usize>srcStride) << 2), <usize>cols << 2);
}

/**
 * Queries per block of encoder_attention: a block's scores and packed probabilities (2 x 192 x 1024
 * floats at 1024 keys, 1.5 MiB) stay in L2 from the first product through the softmax to the
 * second, where a whole head's (8 MiB) went out to L3 and back three times. A multiple of 12, the
 * GEMM's token tile. Each query's row is computed as without blocks (the twin has none).
 */
const QBLOCK: i32 = 192;

/** Scratch bytes one participant of encoder_attention needs (a block's packed queries and probabilities, scores, weight panels, output). */
export function encoder_attention_scratch(nQ: i32, nK: i32, dHead: i32): i32 {
  const qb = min(nQ, QBLOCK);
  return gemmPackedBytes(nK > dHead ? nK : dHead, qb) + (qb * nK << 2) + gemmPanelBytes(nK > dHead ? nK : dHead) + (qb * dHead << 2) + 256;
}

/**
 * Non-causal attention of heads h0..h1 (Kernels.encoderAttention): per head and block of QBLOCK
 * queries, scores = K_h Q_h through the GEMM (K read in place, width floats apart), softmax_pack
 * (the probabilities straight into the packed layout), out_h = V_h^T P through the GEMM (V read in
 * place as the transposed matrix), copied into out's columns. q (nQ, width), k and v (nK, width),
 * out (nQ, width); `scratch` is encoder_attention_scratch bytes of this thread's own.
 */
export function encoder_attention(q: usize, k: usize, v: usize, nQ: i32, nK: i32, nHead: i32, dHead: i32, scale: f32, out: usize, h0: i32, h1: i32, scratch: usize): void {
  const width = nHead * dHead, rb = <usize>width << 2, qb = min(nQ, QBLOCK);
  const xq = (scratch + 63) & ~<usize>63;
  const sc = xq + <usize>gemmPackedBytes(nK > dHead ? nK : dHead, qb);
  const panels = sc + (<usize>(qb * nK) << 2);
  const oh = panels + <usize>gemmPanelBytes(nK > dHead ? nK : dHead);
  for (let h = h0; h < h1; h++) {
    const c0 = <usize>(h * dHead) << 2;
    for (let i0 = 0; i0 < nQ; i0 += qb) {
      const m = min(qb, nQ - i0), qo = <usize>i0 * rb + c0;
      gemm_pack_x(q + qo, dHead, width, m, xq, 0);
      gemm_f(GGML_TYPE_F32, k + c0, rb, dHead, nK, 0, nK, xq, panels, sc, m);
      softmax_pack(sc, nK, m, scale, xq);
      gemm_f(GGML_TYPE_F32 | GEMM_WT, v + c0, rb, nK, dHead, 0, dHead, xq, panels, oh, m);
      copy_rows(oh, dHead, out + qo, width, m, dHead);
    }
  }
}
