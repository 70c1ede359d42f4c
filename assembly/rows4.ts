// The four-row decode layout of 32-element block formats (Q4_0, Q8_0), built once at load, in
// place, and the matrix products over it. Not the row layout: matmul.ts keeps that for matrices
// that were never re-laid and for the last rows % 4 of every matrix, which stay as they were.
//
// Layout (src/kernels/ref/rows4.ts is its TypeScript twin): rows in groups of four; a group keeps
// the bytes its four rows had, now block by block along K. Per block of the group:
//   [4 x f16 scale, rows 0..3][payload in 4-byte chunks: chunk c = row 0's bytes 4c..4c+3 | row 1 | row 2 | row 3]
// So one 16-byte load holds 4 bytes of each of 4 rows: a lane is a row, one splat of 4 activations
// feeds all four rows, the four scales convert in one vector op, and four outputs are one store.
//
// Integer dot products per build: relaxed SIMD i32x4.relaxed_dot_i8x16_i7x16_add_s in its
// deterministic form (second operand 0..127 on every engine): Q4_0 nibbles 0..15 unsigned with the
// -8 taken off through the block's activation sum; Q8_0 activations split as a = p - n with
// p = max(a, 0), n = max(-a, 0) (|a| <= 127), the signed weights in the first operand. SIMD128:
// i32x4.dot_i16x8_s on weights widened to i16 against the 4 activations splat as i16.
// Every build gives the same integer sum per row and block, and every (row, token) sums its blocks
// in order in f32 as ggml's generic kernel does: sum += f32(isum) * f32(dw * da). So decode, prefill
// and the builds agree bit for bit.

import { f16ToF32, halfx4 } from './f16';
import { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0 } from './types.generated';

/** Set in matmul's type argument when the matrix is in this layout. */
export const ROWS4_FLAG: i32 = 0x10000;

/**
 * Re-lay `rows` rows (rowBytes apart, blocks of blockBytes whose first 2 bytes are the f16 scale)
 * into the four-row layout in place, group by group through `scratch` (4 * rowBytes bytes). The
 * last rows % 4 are left as they are.
 */
export function rows4_pack(w: usize, rowBytes: i32, rows: i32, blockBytes: i32, scratch: usize): void {
  const rb = <usize>rowBytes, bb = <usize>blockBytes, nb = rowBytes / blockBytes, chunks = (blockBytes - 2) >> 2;
  for (let g = 0; g < (rows >> 2); g++) {
    const base = w + <usize>g * (rb << 2);
    memory.copy(scratch, base, rb << 2);
    for (let b = 0; b < nb; b++) {
      const dst = base + <usize>b * (bb << 2);
      for (let r = 0; r < 4; r++) {
        const src = scratch + <usize>r * rb + <usize>b * bb;
        store<u16>(dst + (<usize>r << 1), load<u16>(src));
        for (let c = 0; c < chunks; c++) store<u32>(dst + 8 + (<usize>c << 4) + (<usize>r << 2), load<u32>(src + 2 + (<usize>c << 2)));
      }
    }
  }
}

// ------------------------------------------------------------------ one block of one row group

@inline function nChunks(type: i32): i32 {
  return type == GGML_TYPE_Q4_0 ? 4 : 8;
}

/**
 * The integer dot products of a block of four rows (q: the block's payload) with the 32 int8
 * activations at a: lane r = row r. Q4_0 gives sum(q * a) with q unsigned 0..15 (the caller takes
 * off 8 * sum(a)).
 */
@inline function blockDot4(type: i32, q: usize, a: usize): v128 {
  if (type == GGML_TYPE_Q4_0) {
    if (ASC_FEATURE_RELAXED_SIMD) {
      let lo = i32x4.splat(0), hi = i32x4.splat(0);
      for (let c = 0; c < 4; c++) {
        const w = v128.load(q + (<usize>c << 4));
        // i16 shift: the high nibble of each byte lands in its low nibble; the mask drops what crossed in.
        lo = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(a + (<usize>c << 2)), v128.and(w, i8x16.splat(0x0f)), lo);
        hi = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(a + 16 + (<usize>c << 2)), v128.and(i16x8.shr_u(w, 4), i8x16.splat(0x0f)), hi);
      }
      return i32x4.add(lo, hi);
    }
    // Lanes of p01: row 0 (k pairs 0-1, 2-3), row 1 (same); p23 rows 2, 3.
    let p01 = i32x4.splat(0), p23 = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const w = v128.load(q + (<usize>c << 4));
      const lo = v128.and(w, i8x16.splat(0x0f)), hi = v128.and(i16x8.shr_u(w, 4), i8x16.splat(0x0f));
      const al = i16x8.extend_low_i8x16_s(v128.load32_splat(a + (<usize>c << 2)));
      const ah = i16x8.extend_low_i8x16_s(v128.load32_splat(a + 16 + (<usize>c << 2)));
      p01 = i32x4.add(p01, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), al), i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), ah)));
      p23 = i32x4.add(p23, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), al), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), ah)));
    }
    return i32x4.add(i32x4.shuffle(p01, p23, 0, 2, 4, 6), i32x4.shuffle(p01, p23, 1, 3, 5, 7));
  }
  // Q8_0
  if (ASC_FEATURE_RELAXED_SIMD) {
    let pos = i32x4.splat(0), neg = i32x4.splat(0);
    for (let c = 0; c < 8; c++) {
      const w = v128.load(q + (<usize>c << 4));
      const av = v128.load32_splat(a + (<usize>c << 2));
      const p = i8x16.max_s(av, i8x16.splat(0));
      pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, p, pos);
      neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, i8x16.sub(p, av), neg);
    }
    return i32x4.sub(pos, neg);
  }
  let p01 = i32x4.splat(0), p23 = i32x4.splat(0);
  for (let c = 0; c < 8; c++) {
    const w = v128.load(q + (<usize>c << 4));
    const av = i16x8.extend_low_i8x16_s(v128.load32_splat(a + (<usize>c << 2)));
    p01 = i32x4.add(p01, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), av));
    p23 = i32x4.add(p23, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), av));
  }
  return i32x4.add(i32x4.shuffle(p01, p23, 0, 2, 4, 6), i32x4.shuffle(p01, p23, 1, 3, 5, 7));
}

/** sum + f32(isum) * (dw * da) for block b of token t (activations at x, scales ad, sums asum). */
@inline function blockStep(type: i32, sum: v128, q: usize, dw: v128, x: usize, ad: usize, asum: usize): v128 {
  let isum = blockDot4(type, q, x);
  if (type == GGML_TYPE_Q4_0) isum = i32x4.sub(isum, i32x4.splat(load<i32>(asum) << 3));
  return f32x4.add(sum, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(dw, f32x4.splat(load<f32>(ad)))));
}

@inline function storeRows(y: usize, v: v128, lo: i32, hi: i32): void {
  if (lo == 0 && hi == 4) { v128.store(y, v); return; }
  if (lo <= 0 && hi > 0) store<f32>(y, f32x4.extract_lane(v, 0));
  if (lo <= 1 && hi > 1) store<f32>(y, f32x4.extract_lane(v, 1), 4);
  if (lo <= 2 && hi > 2) store<f32>(y, f32x4.extract_lane(v, 2), 8);
  if (lo <= 3 && hi > 3) store<f32>(y, f32x4.extract_lane(v, 3), 12);
}

/**
 * One row group (at g) against nt (1..4, a constant) tokens: token t's activations at
 * x + t * xStep, its scales and sums at ad/asum + t * aStep; rows lo..hi of the group stored at
 * y + t * yStep (y: the group's row 0). The weights of a block are read once for all nt tokens.
 */
@inline function groupTile(type: i32, nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  const gb: usize = nChunks(type) * 16 + 8;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * gb;
    const dw = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(blk)));
    const q = blk + 8, xb = x + (<usize>b << 5), ab = <usize>b << 2;
    s0 = blockStep(type, s0, q, dw, xb, ad + ab, asum + ab);
    if (nt > 1) s1 = blockStep(type, s1, q, dw, xb + xStep, ad + ab + aStep, asum + ab + aStep);
    if (nt > 2) s2 = blockStep(type, s2, q, dw, xb + 2 * xStep, ad + ab + 2 * aStep, asum + ab + 2 * aStep);
    if (nt > 3) s3 = blockStep(type, s3, q, dw, xb + 3 * xStep, ad + ab + 3 * aStep, asum + ab + 3 * aStep);
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

/**
 * Rows r0..r1 (of the first rows & ~3, the grouped ones) for nTok tokens: group by group, tokens
 * four at a time, so a group's weights stay in L1 while every token passes over them.
 */
@inline function rows4Matmul(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2;
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      groupTile(type, 4, gw, nb, act + <usize>t * xStep, xStep, ad + <usize>t * aStep, asum + <usize>t * aStep, aStep, yg + <usize>t * yStep, yStep, lo, hi);
    }
    const left = nTok - t, xt = act + <usize>t * xStep, adt = ad + <usize>t * aStep, ast = asum + <usize>t * aStep, yt = yg + <usize>t * yStep;
    if (left == 1) groupTile(type, 1, gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi);
    else if (left == 2) groupTile(type, 2, gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi);
    else if (left == 3) groupTile(type, 3, gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi);
  }
}

/**
 * Rows r0..r1 one at a time in the same sums and order: the plain build, and the last rows % 4
 * (still in row layout) of every build.
 */
function rows4Scalar(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5, bb: usize = (nChunks(type) << 2) + 2;
  for (let r = r0; r < r1; r++) {
    // Where block b's scale and payload chunk c of row r are, in either layout.
    const grouped = r < (rows & ~3), lane = <usize>(r & 3);
    const base = grouped ? w + <usize>(r >> 2) * (rowBytes << 2) : w + <usize>r * rowBytes;
    const blockStep: usize = grouped ? bb << 2 : bb, chunkStep: usize = grouped ? 16 : 4;
    const scaleAt: usize = grouped ? lane << 1 : 0, payloadAt: usize = grouped ? 8 + (lane << 2) : 2;
    for (let t = 0; t < nTok; t++) {
      let sum: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const blk = base + <usize>b * blockStep, q = blk + payloadAt;
        const x = act + <usize>t * <usize>cols + (<usize>b << 5), ab = ((<usize>t * <usize>nb + <usize>b) << 2);
        let isum = 0;
        for (let c = 0; c < nChunks(type); c++) {
          for (let i = 0; i < 4; i++) {
            const k = (c << 2) + i, qo = q + <usize>c * chunkStep + <usize>i;
            if (type == GGML_TYPE_Q4_0) {
              const v = <i32>load<u8>(qo);
              isum += (v & 15) * <i32>load<i8>(x + k) + (v >> 4) * <i32>load<i8>(x + 16 + k);
            } else {
              isum += <i32>load<i8>(qo) * <i32>load<i8>(x + k);
            }
          }
        }
        if (type == GGML_TYPE_Q4_0) isum -= load<i32>(asum + ab) << 3;
        sum += <f32>isum * (f16ToF32(load<u16>(blk + scaleAt)) * load<f32>(ad + ab));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), sum);
    }
  }
}

/** Rows r0..r1 of a Q4_0 or Q8_0 matrix re-laid by rows4_pack; returns 1 for other types. */
export function rows4_matmul(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): i32 {
  if (type != GGML_TYPE_Q4_0 && type != GGML_TYPE_Q8_0) return 1;
  let s = r0;
  if (ASC_FEATURE_SIMD) {
    const g1 = min(r1, rows & ~3);
    if (r0 < g1) {
      if (type == GGML_TYPE_Q4_0) rows4Matmul(GGML_TYPE_Q4_0, w, rowBytes, cols, rows, r0, g1, act, ad, asum, y, nTok);
      else rows4Matmul(GGML_TYPE_Q8_0, w, rowBytes, cols, rows, r0, g1, act, ad, asum, y, nTok);
      s = g1;
    }
  }
  if (s >= r1) return 0;
  if (type == GGML_TYPE_Q4_0) rows4Scalar(GGML_TYPE_Q4_0, w, rowBytes, cols, rows, s, r1, act, ad, asum, y, nTok);
  else rows4Scalar(GGML_TYPE_Q8_0, w, rowBytes, cols, rows, s, r1, act, ad, asum, y, nTok);
  return 0;
}
