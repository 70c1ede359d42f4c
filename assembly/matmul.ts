// Matrix products y = W x for the dequantize (non-LUT) kernels. Under SIMD the 32-element formats
// that models ship in (Q4_0, Q5_0, Q8_0) run as tiles of four dot products sharing one side: four
// rows against one token when decoding, one row against four tokens when prefilling. Every other
// format (and the plain build) goes row by row through dot.ts.

import { f16ToF32 } from './f16';
import {
  hsum, dot32_small, spreadBits, dot_f32, dot_f16, dot_q8_0, dot_q4_0, dot_q4_1, dot_q5,
  dot_q2_k, dot_q3_k, dot_q4_k, dot_q5_k, dot_q6_k, dot_tq1_0, dot_tq2_0,
} from './dot';
import {
  GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
  GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0,
} from './types.generated';
import { ROWS4_FLAG, rows4_matmul } from './rows4';
import { ROWS4_U8_FLAG, rows4q8u_matmul } from './rows4-q8u';
import { f16r4_matmul } from './rows4-f16';
import { rows4kHas, rows4k_matmul } from './rows4-k';
import { rows4loHas, rows4lo_matmul } from './rows4-lowbit';
import { GEMM_FLAG, gemm_f } from './gemm';
import { tq2_matmul, tq2_matmul4 } from './ternary';

// ------------------------------------------------------------------ tiled block kernels
// A block kernel is three @inline pieces, `type` a constant at every call site so each tile is
// compiled once per format without branches: the block's weights as up to four vectors (wVec), the
// block's activations likewise (aVec), and their i32x4 partial dot (blockDot). A tile prepares the
// shared side once per block and the other side per dot product. Lanes hold the same integer sums
// whichever side is shared, so decode, prefill and leftovers give the same floats.

@inline function blockBytes(type: i32): usize {
  return type == GGML_TYPE_Q4_0 ? 18 : type == GGML_TYPE_Q5_0 ? 22 : 34;
}

/** Vector i of the block's weights: Q8_0 four i16x8 (extended once, read by i32x4.dot); Q4_0/Q5_0 two i8x16 codes. */
@inline function wVec(type: i32, blk: usize, i: i32): v128 {
  if (type == GGML_TYPE_Q8_0) {
    const q = v128.load(blk + 2 + (i >= 2 ? 16 : 0));
    return (i & 1) ? i16x8.extend_high_i8x16_s(q) : i16x8.extend_low_i8x16_s(q);
  }
  if (i >= 2) return i32x4.splat(0);
  if (type == GGML_TYPE_Q4_0) {
    const qv = v128.load(blk + 2);
    const c = i == 0 ? v128.and(qv, i8x16.splat(0x0f)) : i8x16.shr_u(qv, 4);
    // Relaxed SIMD takes the unsigned nibbles (they fit the 7-bit operand); the -8 comes off in blockDot.
    return ASC_FEATURE_RELAXED_SIMD ? c : i8x16.sub(c, i8x16.splat(8));
  }
  // Q5_0: qh (fifth bits) at 2, nibbles at 6.
  const qh = load<u32>(blk + 2), qv = v128.load(blk + 6);
  if (i == 0) return i8x16.sub(v128.or(v128.and(qv, i8x16.splat(0x0f)), spreadBits(qh)), i8x16.splat(16));
  return i8x16.sub(v128.or(i8x16.shr_u(qv, 4), spreadBits(qh >> 16)), i8x16.splat(16));
}

/** Vector i of 32 int8 activations at x, in the form blockDot pairs with wVec's. */
@inline function aVec(type: i32, x: usize, i: i32): v128 {
  if (type == GGML_TYPE_Q8_0) {
    const a = v128.load(x + (i >= 2 ? 16 : 0));
    return (i & 1) ? i16x8.extend_high_i8x16_s(a) : i16x8.extend_low_i8x16_s(a);
  }
  if (i >= 2) return i32x4.splat(0);
  return v128.load(x + (i == 0 ? 0 : 16));
}

/** The block sum of the activations, which only relaxed Q4_0 reads. */
@inline function blockSum(type: i32, asum: usize): i32 {
  return ASC_FEATURE_RELAXED_SIMD && type == GGML_TYPE_Q4_0 ? load<i32>(asum) : 0;
}

@inline function blockDot(type: i32, w0: v128, w1: v128, w2: v128, w3: v128, a0: v128, a1: v128, a2: v128, a3: v128, suma: i32): v128 {
  if (type == GGML_TYPE_Q8_0) {
    return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, a0), i32x4.dot_i16x8_s(w1, a1)), i32x4.add(i32x4.dot_i16x8_s(w2, a2), i32x4.dot_i16x8_s(w3, a3)));
  }
  if (ASC_FEATURE_RELAXED_SIMD && type == GGML_TYPE_Q4_0) {
    // (q - 8) . a = q . a - 8 sum(a): 2 sum(a) per lane.
    const acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(a0, w0, i32x4.splat(0));
    return i32x4.add(i32x4.relaxed_dot_i8x16_i7x16_add_s(a1, w1, acc), i32x4.splat(-2 * suma));
  }
  return dot32_small(w0, w1, a0, a1);
}

@inline function fma4(acc: v128, p: v128, d: f32): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(p), f32x4.splat(d)));
}

/**
 * Four dot products of nb blocks, stored at y + k * yStep (k < 4). byRows: rows w + k * wStep
 * against the one token at x (each activation block prepared once); else the one row at w against
 * tokens x + k * xStep with scales and sums at ad/asum + k * aStep (each weight block prepared once).
 */
@inline function tile4(type: i32, byRows: bool, w: usize, wStep: usize, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, nb: i32, y: usize, yStep: usize): void {
  const bsz = blockBytes(type);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const bo = <usize>b * bsz, xb = x + (<usize>b << 5), bi = <usize>b << 2;
    if (byRows) {
      const a0 = aVec(type, xb, 0), a1 = aVec(type, xb, 1), a2 = aVec(type, xb, 2), a3 = aVec(type, xb, 3);
      const da = load<f32>(ad + bi), sa = blockSum(type, asum + bi);
      let q = w + bo;
      c0 = fma4(c0, blockDot(type, wVec(type, q, 0), wVec(type, q, 1), wVec(type, q, 2), wVec(type, q, 3), a0, a1, a2, a3, sa), f16ToF32(load<u16>(q)) * da);
      q += wStep;
      c1 = fma4(c1, blockDot(type, wVec(type, q, 0), wVec(type, q, 1), wVec(type, q, 2), wVec(type, q, 3), a0, a1, a2, a3, sa), f16ToF32(load<u16>(q)) * da);
      q += wStep;
      c2 = fma4(c2, blockDot(type, wVec(type, q, 0), wVec(type, q, 1), wVec(type, q, 2), wVec(type, q, 3), a0, a1, a2, a3, sa), f16ToF32(load<u16>(q)) * da);
      q += wStep;
      c3 = fma4(c3, blockDot(type, wVec(type, q, 0), wVec(type, q, 1), wVec(type, q, 2), wVec(type, q, 3), a0, a1, a2, a3, sa), f16ToF32(load<u16>(q)) * da);
    } else {
      const q = w + bo;
      const w0 = wVec(type, q, 0), w1 = wVec(type, q, 1), w2 = wVec(type, q, 2), w3 = wVec(type, q, 3);
      const dw = f16ToF32(load<u16>(q));
      let xk = xb, ak = bi;
      c0 = fma4(c0, blockDot(type, w0, w1, w2, w3, aVec(type, xk, 0), aVec(type, xk, 1), aVec(type, xk, 2), aVec(type, xk, 3), blockSum(type, asum + ak)), dw * load<f32>(ad + ak));
      xk += xStep; ak += aStep;
      c1 = fma4(c1, blockDot(type, w0, w1, w2, w3, aVec(type, xk, 0), aVec(type, xk, 1), aVec(type, xk, 2), aVec(type, xk, 3), blockSum(type, asum + ak)), dw * load<f32>(ad + ak));
      xk += xStep; ak += aStep;
      c2 = fma4(c2, blockDot(type, w0, w1, w2, w3, aVec(type, xk, 0), aVec(type, xk, 1), aVec(type, xk, 2), aVec(type, xk, 3), blockSum(type, asum + ak)), dw * load<f32>(ad + ak));
      xk += xStep; ak += aStep;
      c3 = fma4(c3, blockDot(type, w0, w1, w2, w3, aVec(type, xk, 0), aVec(type, xk, 1), aVec(type, xk, 2), aVec(type, xk, 3), blockSum(type, asum + ak)), dw * load<f32>(ad + ak));
    }
  }
  store<f32>(y, hsum(c0));
  store<f32>(y + yStep, hsum(c1));
  store<f32>(y + 2 * yStep, hsum(c2));
  store<f32>(y + 3 * yStep, hsum(c3));
}

/** One row at w against one token: the leftovers of the tiles, summed as a tile's lanes are. */
@inline function tile1(type: i32, w: usize, x: usize, ad: usize, asum: usize, nb: i32): f32 {
  const bsz = blockBytes(type);
  let c = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const q = w + <usize>b * bsz, xb = x + (<usize>b << 5), bi = <usize>b << 2;
    const p = blockDot(type, wVec(type, q, 0), wVec(type, q, 1), wVec(type, q, 2), wVec(type, q, 3), aVec(type, xb, 0), aVec(type, xb, 1), aVec(type, xb, 2), aVec(type, xb, 3), blockSum(type, asum + bi));
    c = fma4(c, p, f16ToF32(load<u16>(q)) * load<f32>(ad + bi));
  }
  return hsum(c);
}

/** The one tiling: decode by four rows, prefill by four tokens, leftovers one by one. */
@inline function matmulTiled(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  if (nTok == 1) {
    let r = r0;
    for (; r + 4 <= r1; r += 4) tile4(type, true, w + <usize>r * rowBytes, rowBytes, act, 0, ad, asum, 0, nb, y + (<usize>r << 2), 4);
    for (; r < r1; r++) store<f32>(y + (<usize>r << 2), tile1(type, w + <usize>r * rowBytes, act, ad, asum, nb));
    return;
  }
  const tStride = <usize>cols, dStride = <usize>nb << 2, yStride = <usize>rows << 2;
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      tile4(type, false, wr, 0, act + <usize>t * tStride, tStride, ad + <usize>t * dStride, asum + <usize>t * dStride, dStride, nb, y + ((<usize>t * <usize>rows + <usize>r) << 2), yStride);
    }
    for (; t < nTok; t++) {
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), tile1(type, wr, act + <usize>t * tStride, ad + <usize>t * dStride, asum + <usize>t * dStride, nb));
    }
  }
}

function matmul_q4_0(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  matmulTiled(GGML_TYPE_Q4_0, w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
}
function matmul_q5_0(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  matmulTiled(GGML_TYPE_Q5_0, w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
}
function matmul_q8_0(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  matmulTiled(GGML_TYPE_Q8_0, w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
}

// ------------------------------------------------------------------ matrix products

/**
 * y[t * rows + r] = W[r] . act[t] for rows r0..r1 and tokens 0..nTok, in the activation form the
 * format's vecDot trait names: f32 rows (stride cols, F16: f16-rounded); Q8 int8 quants (stride
 * cols) with per-32 scales ad, d*sum as and integer sums asum (stride cols/32); Q8_K int8 quants
 * with one f32 scale per 256 in ad and the i32 sums of every 16 in asum. Returns 0, or 1 for a
 * format this build does not handle.
 */
export function matmul(type: i32, w: usize, rowBytes: i32, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, as: usize, asum: usize, y: usize, nTok: i32): i32 {
  // F16/F32 over many tokens: act packed by gemm_pack_x, ad the panels' scratch (gemm.ts).
  if (type & GEMM_FLAG) { gemm_f(type & ~GEMM_FLAG, w, <usize>rowBytes, cols, rows, r0, r1, act, ad, y, nTok); return 0; }
  // Re-laid at load (rows4.ts, rows4-k.ts): the first rows & ~3 in groups of four, the rest still rows.
  if (type == (GGML_TYPE_TQ2_0 | ROWS4_FLAG)) return tq2_matmul4(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  if ((type & ROWS4_FLAG) && rows4loHas(type & ~ROWS4_FLAG)) return rows4lo_matmul(type & ~ROWS4_FLAG, w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  if ((type & ROWS4_FLAG) && rows4kHas(type & ~ROWS4_FLAG)) return rows4k_matmul(type & ~ROWS4_FLAG, w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  if (type == (GGML_TYPE_F16 | ROWS4_FLAG)) return f16r4_matmul(w, <usize>rowBytes, cols, rows, r0, r1, act, y, nTok);
  if (type == (GGML_TYPE_Q8_0 | ROWS4_FLAG | ROWS4_U8_FLAG)) return rows4q8u_matmul(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  if (type & ROWS4_FLAG) return rows4_matmul(type & ~ROWS4_FLAG, w, <usize>rowBytes, cols, rows, r0, r1, act, ad, as, asum, y, nTok);
  if (ASC_FEATURE_SIMD) {
    if (type == GGML_TYPE_Q4_0) { matmul_q4_0(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok); return 0; }
    if (type == GGML_TYPE_Q5_0) { matmul_q5_0(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok); return 0; }
    if (type == GGML_TYPE_Q8_0) { matmul_q8_0(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok); return 0; }
    if (type == GGML_TYPE_TQ2_0) { tq2_matmul(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok); return 0; }
  }
  const nb = cols >> 5;
  if (type == GGML_TYPE_Q2_K || type == GGML_TYPE_Q3_K || type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K || type == GGML_TYPE_Q6_K || type == GGML_TYPE_TQ1_0 || type == GGML_TYPE_TQ2_0) {
    const nbk = cols >> 8;
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * <usize>rowBytes;
      for (let t = 0; t < nTok; t++) {
        const ao = act + <usize>t * <usize>cols, dof = ad + ((<usize>t * <usize>nbk) << 2);
        const bsum = asum + ((<usize>t * <usize>nbk) << 6);
        let v: f32 = 0;
        switch (type) {
          case GGML_TYPE_Q2_K: v = dot_q2_k(wr, ao, dof, bsum, nbk); break;
          case GGML_TYPE_Q3_K: v = dot_q3_k(wr, ao, dof, nbk); break;
          case GGML_TYPE_Q4_K: v = dot_q4_k(wr, ao, dof, bsum, nbk); break;
          case GGML_TYPE_Q5_K: v = dot_q5_k(wr, ao, dof, bsum, nbk); break;
          case GGML_TYPE_TQ1_0: v = dot_tq1_0(wr, ao, dof, bsum, nbk); break;
          case GGML_TYPE_TQ2_0: v = dot_tq2_0(wr, ao, dof, bsum, nbk); break;
          default: v = dot_q6_k(wr, ao, dof, bsum, nbk);
        }
        store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), v);
      }
    }
    return 0;
  }
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * <usize>rowBytes;
    for (let t = 0; t < nTok; t++) {
      let v: f32 = 0;
      const ao = <usize>t * <usize>cols, bo = (<usize>t * <usize>nb) << 2;
      switch (type) {
        case GGML_TYPE_F32: v = dot_f32(wr, act + (ao << 2), cols); break;
        case GGML_TYPE_F16: v = dot_f16(wr, act + (ao << 2), cols); break;
        case GGML_TYPE_Q4_0: v = dot_q4_0(wr, act + ao, ad + bo, nb); break;
        case GGML_TYPE_Q4_1: v = dot_q4_1(wr, act + ao, ad + bo, as + bo, nb); break;
        case GGML_TYPE_Q5_0: v = dot_q5(wr, act + ao, ad + bo, as + bo, nb, false); break;
        case GGML_TYPE_Q5_1: v = dot_q5(wr, act + ao, ad + bo, as + bo, nb, true); break;
        case GGML_TYPE_Q8_0: v = dot_q8_0(wr, act + ao, ad + bo, nb); break;
        default: return 1;
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), v);
    }
  }
  return 0;
}
