// Ternary weights (TQ2_0, and TQ1_0 re-coded to TQ2_0 at load) times Q8_K activations as direct
// int8 dot products: the 2-bit codes {0, 1, 2} are unpacked with a 16-bit shift and a mask and
// dotted against the int8 activations, and the -1 offset comes off once per super-block through
// the activations' sum, as ggml_vec_dot_tq2_0_q8_K does. Not the table-lookup kernels (lut.ts),
// which stay behind `--kernels lut`.
//
// Decode reads four rows at once in their stored (row) layout: each activation vector is loaded
// once and dotted against the codes of all four rows; over the four-row layout, one token takes
// four groups a quarter of the range apart in turn (four weight streams, tq2Decode4). Relaxed SIMD uses
// i32x4.relaxed_dot_i8x16_i7x16_add_s with the activations first and the codes (0..2, 7-bit) second,
// its deterministic form; SIMD128 multiplies to i16 (|code * a| <= 254, 32 of them per lane and
// super-block: no overflow) and widens once per super-block. Integer sums are exact in every
// build, and each row sums its super-blocks in dot.ts's dot_tq2_0 order
//   s += f32(isum - sum(a)) * (d * ad)
// so the result equals the row kernel (and the TypeScript twin, TQ2_0.dot) bit for bit.
//
// TQ1_0 (base-3, 54 bytes per 256) decodes five trits per byte with three multiplies per trit; at
// load tq1_recode writes each block as TQ2_0's 66 bytes instead (the same trits and f16 scale), so
// TQ1_0 matrices run on this kernel for 22% more weight bytes (src/kernels/ref/ternary.ts is the twin).

import { f16ToF32, halfx4 } from './f16';
import { dot_tq2_0, trit } from './dot';
import { touch4x9, touchLimit, sunk } from './rows4';

const TQ2_BYTES: usize = 66;
const TQ1_BYTES: usize = 54;

/** The sum of the 16 Q8_K block sums (i32) of one super-block: the activations' sum, for the -1. */
@inline function blockSum(bs: usize): i32 {
  const v = i32x4.add(i32x4.add(v128.load(bs), v128.load(bs, 16)), i32x4.add(v128.load(bs, 32), v128.load(bs, 48)));
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** Codes of plane l (bits 2l..2l+1 of each byte): a 16-bit shift (one instruction on x86) and the mask m (3 per byte). */
@inline function plane(q: v128, l: i32, m: v128): v128 {
  return l == 0 ? v128.and(q, m) : v128.and(i16x8.shr_u(q, <u32>(2 * l)), m);
}

/** acc += codes . a, 16 products: i32x4 lanes under relaxed SIMD, i16x8 lanes under SIMD128. */
@inline function dotAcc(acc: v128, a: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, c, acc);
  return i16x8.add(acc, i16x8.add(i16x8.extmul_low_i8x16_s(c, a), i16x8.extmul_high_i8x16_s(c, a)));
}

/** An accumulator as i32x4 lanes. */
@inline function widen(acc: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? acc : i32x4.extadd_pairwise_i16x8_s(acc);
}

/** Lane r = the sum of pr's four lanes. */
@inline function rowSums(p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const a = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 1, 4, 5), v128.shuffle<i32>(p0, p1, 2, 3, 6, 7));
  const b = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 1, 4, 5), v128.shuffle<i32>(p2, p3, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(a, b, 0, 2, 4, 6), v128.shuffle<i32>(a, b, 1, 3, 5, 7));
}

/**
 * Four rows against one token's Q8_K activations (quants x, scales ad, sums of 16 bs), nb
 * super-blocks: row r's codes at c_r + b * bStep + k * 16-byte chunk k * kStep (k < 4), its f16
 * scale at d_r + b * bStep. Row layout: c_r = row + 0, kStep 16, d_r = row + 64, bStep 66; the
 * four-row layout: c_r = group + 8 + 16r, kStep 64, d_r = group + 2r, bStep 264. The four dot
 * products as f32x4 lanes.
 */
@inline function rows4(c0: usize, c1: usize, c2: usize, c3: usize, d0: usize, d1: usize, d2: usize, d3: usize, bStep: usize, kStep: usize, nb: i32, x: usize, ad: usize, bs: usize, m: v128): v128 {
  let s = f32x4.splat(0);
  for (let b = 0; b < nb; b++) s = block4(s, c0, c1, c2, c3, d0, d1, d2, d3, <usize>b * bStep, kStep, x + (<usize>b << 8), ad + (<usize>b << 2), bs + (<usize>b << 6), m);
  return s;
}

/** s + one super-block's four f32 terms (lanes = rows): rows4's arguments, bo = b * bStep, the super-block's activations at xb, scale at adb, sums of 16 at bsb. */
@inline function block4(s: v128, c0: usize, c1: usize, c2: usize, c3: usize, d0: usize, d1: usize, d2: usize, d3: usize, bo: usize, kStep: usize, xb: usize, adb: usize, bsb: usize, m: v128): v128 {
  const m4 = i16x8.shl(m, 2);
  {
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0), p2 = i32x4.splat(0), p3 = i32x4.splat(0);
    // Chunk k (bytes 16k.. of a row's block; byte 32j + i holds element 128j + 32l + i at bits 2l)
    // holds the 16 elements from 128(k >> 1) + 32l + 16(k & 1) for each plane l.
    if (ASC_FEATURE_RELAXED_SIMD) {
      // Planes 1 and 3 stay at bits 2..3 (of the byte, and of the byte shifted by 4): codes times 4
      // (<= 8, still 7-bit), so four planes cost one shift and four masks; their sums (every lane a
      // sum of multiples of 4) come back exactly with an arithmetic shift by 2.
      let t0 = i32x4.splat(0), t1 = i32x4.splat(0), t2 = i32x4.splat(0), t3 = i32x4.splat(0);
      for (let k = 0; k < 4; k++) {
        const off = bo + <usize>k * kStep;
        const xa = xb + <usize>((k >> 1) << 7) + <usize>((k & 1) << 4);
        let a = v128.load(xa), a4 = v128.load(xa, 32);
        let q = v128.load(c0 + off);
        p0 = dotAcc(p0, a, v128.and(q, m)); t0 = dotAcc(t0, a4, v128.and(q, m4));
        q = v128.load(c1 + off);
        p1 = dotAcc(p1, a, v128.and(q, m)); t1 = dotAcc(t1, a4, v128.and(q, m4));
        q = v128.load(c2 + off);
        p2 = dotAcc(p2, a, v128.and(q, m)); t2 = dotAcc(t2, a4, v128.and(q, m4));
        q = v128.load(c3 + off);
        p3 = dotAcc(p3, a, v128.and(q, m)); t3 = dotAcc(t3, a4, v128.and(q, m4));
        a = v128.load(xa, 64); a4 = v128.load(xa, 96);
        q = i16x8.shr_u(v128.load(c0 + off), 4);
        p0 = dotAcc(p0, a, v128.and(q, m)); t0 = dotAcc(t0, a4, v128.and(q, m4));
        q = i16x8.shr_u(v128.load(c1 + off), 4);
        p1 = dotAcc(p1, a, v128.and(q, m)); t1 = dotAcc(t1, a4, v128.and(q, m4));
        q = i16x8.shr_u(v128.load(c2 + off), 4);
        p2 = dotAcc(p2, a, v128.and(q, m)); t2 = dotAcc(t2, a4, v128.and(q, m4));
        q = i16x8.shr_u(v128.load(c3 + off), 4);
        p3 = dotAcc(p3, a, v128.and(q, m)); t3 = dotAcc(t3, a4, v128.and(q, m4));
      }
      p0 = i32x4.add(p0, i32x4.shr_s(t0, 2)); p1 = i32x4.add(p1, i32x4.shr_s(t1, 2));
      p2 = i32x4.add(p2, i32x4.shr_s(t2, 2)); p3 = i32x4.add(p3, i32x4.shr_s(t3, 2));
    } else for (let k = 0; k < 4; k++) {
      const off = bo + <usize>k * kStep;
      const q0 = v128.load(c0 + off), q1 = v128.load(c1 + off), q2 = v128.load(c2 + off), q3 = v128.load(c3 + off);
      const xa = xb + <usize>((k >> 1) << 7) + <usize>((k & 1) << 4);
      let a = v128.load(xa);
      p0 = dotAcc(p0, a, plane(q0, 0, m)); p1 = dotAcc(p1, a, plane(q1, 0, m)); p2 = dotAcc(p2, a, plane(q2, 0, m)); p3 = dotAcc(p3, a, plane(q3, 0, m));
      a = v128.load(xa, 32);
      p0 = dotAcc(p0, a, plane(q0, 1, m)); p1 = dotAcc(p1, a, plane(q1, 1, m)); p2 = dotAcc(p2, a, plane(q2, 1, m)); p3 = dotAcc(p3, a, plane(q3, 1, m));
      a = v128.load(xa, 64);
      p0 = dotAcc(p0, a, plane(q0, 2, m)); p1 = dotAcc(p1, a, plane(q1, 2, m)); p2 = dotAcc(p2, a, plane(q2, 2, m)); p3 = dotAcc(p3, a, plane(q3, 2, m));
      a = v128.load(xa, 96);
      p0 = dotAcc(p0, a, plane(q0, 3, m)); p1 = dotAcc(p1, a, plane(q1, 3, m)); p2 = dotAcc(p2, a, plane(q2, 3, m)); p3 = dotAcc(p3, a, plane(q3, 3, m));
    }
    const isum = i32x4.sub(rowSums(widen(p0), widen(p1), widen(p2), widen(p3)), i32x4.splat(blockSum(bsb)));
    // The four rows' f16 scales, as lanes, times the token's scale: dot_tq2_0's (d * ad).
    let h = i32x4.splat(<i32>load<u16>(d0 + bo));
    h = i32x4.replace_lane(h, 1, <i32>load<u16>(d1 + bo));
    h = i32x4.replace_lane(h, 2, <i32>load<u16>(d2 + bo));
    h = i32x4.replace_lane(h, 3, <i32>load<u16>(d3 + bo));
    const scale = f32x4.mul(halfx4(h), f32x4.splat(load<f32>(adb)));
    return f32x4.add(s, f32x4.mul(f32x4.convert_i32x4_s(isum), scale));
  }
}

/**
 * Decode (SIMD, one token): the four-row groups at g, g + stride, g + 2 stride and g + 3 stride
 * (four weight streams a quarter of the row range apart) against the token's Q8_K quants x,
 * scales ad and sums of 16 bs, super-block by super-block in turn, so the four streams' loads are
 * in flight together; each group's f32 sums (rows4's, same order) stored at y + i * yStride.
 * One stream left the loads waiting on memory: 6912x2560 x60 matrices (274 MB), 1 thread, CPU
 * time, relaxed: 19.2 GMAC/s with one stream, 24.4 with two, 30.0 with four, 33.6 with eight
 * (the same products from cache: 47); the registers hold one group at a time, so each stream
 * costs no spills.
 * Each stream was touched TOUCH bytes ahead every two blocks (rows4.ts's touch9; off now: TOUCH_AHEAD): whole 1.5B TQ2_0
 * step, 1 thread, quiet, interleaved A/B (bench/kernels/ab-step.mjs, 7 rounds) 71.5 -> 63.9 ms CPU.
 */
function tq2Decode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, m: v128, y: usize, yStride: usize, lim: usize): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, sink = s0;
  const g1 = g + stride, g2 = g1 + stride, g3 = g2 + stride;
  for (let b = 0; b < nb; b++) {
    const bo = <usize>b * (TQ2_BYTES << 2), xb = x + (<usize>b << 8), adb = ad + (<usize>b << 2), bsb = bs + (<usize>b << 6);
    if (lim != 0 && (b & 1) == 0) {
      sink = touch4x9(sink, g + bo, stride, lim);
    }
    s0 = block4(s0, g + 8, g + 24, g + 40, g + 56, g, g + 2, g + 4, g + 6, bo, 64, xb, adb, bsb, m);
    s1 = block4(s1, g1 + 8, g1 + 24, g1 + 40, g1 + 56, g1, g1 + 2, g1 + 4, g1 + 6, bo, 64, xb, adb, bsb, m);
    s2 = block4(s2, g2 + 8, g2 + 24, g2 + 40, g2 + 56, g2, g2 + 2, g2 + 4, g2 + 6, bo, 64, xb, adb, bsb, m);
    s3 = block4(s3, g3 + 8, g3 + 24, g3 + 40, g3 + 56, g3, g3 + 2, g3 + 4, g3 + 6, bo, 64, xb, adb, bsb, m);
  }
  v128.store(y, sunk(s0, sink, nb));
  v128.store(y + yStride, s1);
  v128.store(y + 2 * yStride, s2);
  v128.store(y + 3 * yStride, s3);
}

/** The mask of 3 per byte as a value the compiler cannot fold (cols >= 0): V8 re-materializes a v128 constant at every use (three instructions); a value in a register costs nothing. */
@inline function mask3(cols: i32): v128 {
  return i8x16.splat(<i8>(3 + (<u32>cols >> 31)));
}

/** Rows r0..r1 not in four-row groups, in row layout: dot_tq2_0. */
@inline function rowsOneByOne(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 8;
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t = 0; t < nTok; t++) {
      const tu = <usize>t;
      store<f32>(y + ((tu * <usize>rows + <usize>r) << 2), dot_tq2_0(wr, act + tu * <usize>cols, ad + ((tu * <usize>nb) << 2), asum + ((tu * <usize>nb) << 6), nb));
    }
  }
}

/**
 * y[t * rows + r] = W[r] . act[t] for a TQ2_0 matrix in row layout, rows r0..r1, tokens 0..nTok:
 * groups of four rows under SIMD, the rest (and the plain build) through dot_tq2_0. Q8_K
 * activations as matmul.ts takes them: quants (stride cols), scales ad and i32 sums of 16 asum.
 */
export function tq2_matmul(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 8;
  let r = r0;
  if (ASC_FEATURE_SIMD) {
    const m = mask3(cols);
    for (; r + 4 <= r1; r += 4) {
      const w0 = w + <usize>r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
      for (let t = 0; t < nTok; t++) {
        const tu = <usize>t;
        v128.store(y + ((tu * <usize>rows + <usize>r) << 2), rows4(w0, w1, w2, w3, w0 + 64, w1 + 64, w2 + 64, w3 + 64, TQ2_BYTES, 16, nb,
          act + tu * <usize>cols, ad + ((tu * <usize>nb) << 2), asum + ((tu * <usize>nb) << 6), m));
      }
    }
  }
  rowsOneByOne(w, rowBytes, cols, rows, r, r1, act, ad, asum, y, nTok);
}

// ------------------------------------------------------------------ the four-row layout

/**
 * Re-lay the first rows & ~3 rows of a TQ2_0 matrix in place, four rows at a time through
 * `scratch` (4 * rowBytes bytes): a group keeps its four rows' bytes, super-block by super-block
 * (264 bytes = 4 x 66): [f16 d of rows 0..3][chunk k = bytes 16k..16k+15 of rows 0..3, k < 4].
 * So the products read one sequential stream instead of four (the hardware prefetcher's case),
 * with the same loads. The last rows % 4 stay in row layout.
 */
export function tq2_pack4(w: usize, rowBytes: i32, rows: i32, scratch: usize): void {
  const rb = <usize>rowBytes, nb = rowBytes / <i32>TQ2_BYTES;
  for (let g = 0; g < (rows >> 2); g++) {
    const base = w + <usize>g * (rb << 2);
    memory.copy(scratch, base, rb << 2);
    for (let b = 0; b < nb; b++) {
      const dst = base + <usize>b * (TQ2_BYTES << 2);
      for (let r = 0; r < 4; r++) {
        const src = scratch + <usize>r * rb + <usize>b * TQ2_BYTES, ru = <usize>r;
        store<u16>(dst + (ru << 1), load<u16>(src + 64));
        for (let k = 0; k < 4; k++) memory.copy(dst + 8 + (<usize>k << 6) + (ru << 4), src + (<usize>k << 4), 16);
      }
    }
  }
}

/**
 * tq2_matmul over a matrix tq2_pack4 re-laid: any row range (a share need not start on a group).
 * Returns 1 on the plain build, which never re-lays.
 */
export function tq2_matmul4(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): i32 {
  const nb = cols >> 8, g1 = min(r1, rows & ~3);
  if (!ASC_FEATURE_SIMD) return 1;
  {
    const m = mask3(cols);
    // Decode: the whole groups of the range in four streams (pd groups each); the rest below.
    let pa = 0, pd = 0;
    if (nTok == 1) {
      pa = (r0 + 3) >> 2; pd = ((g1 >> 2) - pa) >> 2;
      const gb = <usize>rowBytes << 2;
      const lim = touchLimit(w, <usize>(g1 >> 2) * gb);
      for (let i = 0; i < pd; i++) tq2Decode4(w + <usize>(pa + i) * gb, <usize>pd * gb, nb, act, ad, asum, m, y + (<usize>(pa + i) << 4), <usize>pd << 4, lim);
    }
    for (let g0 = r0 & ~3; g0 < g1; g0 += 4) {
      if ((g0 >> 2) >= pa && (g0 >> 2) < pa + 4 * pd) continue;
      const g = w + <usize>g0 * rowBytes;
      for (let t = 0; t < nTok; t++) {
        const tu = <usize>t;
        const v = rows4(g + 8, g + 24, g + 40, g + 56, g, g + 2, g + 4, g + 6, TQ2_BYTES << 2, 64, nb,
          act + tu * <usize>cols, ad + ((tu * <usize>nb) << 2), asum + ((tu * <usize>nb) << 6), m);
        const yo = y + ((tu * <usize>rows + <usize>g0) << 2);
        if (g0 >= r0 && g0 + 4 <= r1) { v128.store(yo, v); continue; }
        if (g0 >= r0) store<f32>(yo, f32x4.extract_lane(v, 0));
        if (g0 + 1 >= r0 && g0 + 1 < r1) store<f32>(yo, f32x4.extract_lane(v, 1), 4);
        if (g0 + 2 >= r0 && g0 + 2 < r1) store<f32>(yo, f32x4.extract_lane(v, 2), 8);
        if (g0 + 3 < r1) store<f32>(yo, f32x4.extract_lane(v, 3), 12);
      }
    }
  }
  rowsOneByOne(w, rowBytes, cols, rows, max(r0, rows & ~3), r1, act, ad, asum, y, nTok);
  return 0;
}

/** Element e (0..255) of a TQ1_0 block at o as its code 0..2 (quant/tq1_0.ts's order). */
@inline function tq1Code(o: usize, e: i32): i32 {
  if (e < 160) return trit(<i32>load<u8>(o + <usize>(e & 31)), pow3(e >> 5));
  if (e < 240) return trit(<i32>load<u8>(o + 32 + <usize>((e - 160) & 15)), pow3((e - 160) >> 4));
  return trit(<i32>load<u8>(o + 48 + <usize>((e - 240) & 3)), pow3((e - 240) >> 2));
}

@inline function pow3(n: i32): i32 {
  return n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81;
}

/**
 * Re-code nBlocks TQ1_0 blocks at src as TQ2_0 blocks at dst (66 bytes each, not overlapping src):
 * element 128j + 32l + m's code at bits 2l of byte 32j + m, the f16 scale at 64.
 */
export function tq1_recode(src: usize, dst: usize, nBlocks: i32): void {
  for (let b = 0; b < nBlocks; b++) {
    const o = src + <usize>b * TQ1_BYTES, d = dst + <usize>b * TQ2_BYTES;
    for (let i = 0; i < 64; i++) {
      const j = i >> 5, m = i & 31, e = (j << 7) + m;
      store<u8>(d + <usize>i, <u8>(tq1Code(o, e) | (tq1Code(o, e + 32) << 2) | (tq1Code(o, e + 64) << 4) | (tq1Code(o, e + 96) << 6)));
    }
    store<u16>(d + 64, load<u16>(o + 52));
  }
}
