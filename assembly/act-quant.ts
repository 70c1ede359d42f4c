// Activation quantization for the integer dot products: Q8 blocks of 32 (Q4_0 .. Q8_0, with the
// block sums Q4_1/Q5_1 and the relaxed Q4_0 path need) and Q8_K super-blocks of 256 (K-quants,
// ternary). The LUT kernels' own activation quantizer lives in lut.ts.

import { roundF16 } from './f16';

/**
 * The largest |x| of 32 floats at src, as bits (m: the |x| mask in every lane): for non-negative
 * floats integer order is float order, and a NaN's bits exceed infinity's, so this is f32
 * max(|x|) (NaN in, NaN out) in one pmaxsd a vector, where V8 spends ~8 instructions on an IEEE
 * f32x4.max. Two accumulators; n32 blocks of 32 from src.
 */
@inline function absMaxBits(src: usize, n32: i32, m: v128): i32 {
  let m0 = v128.and(v128.load(src), m), m1 = v128.and(v128.load(src, 16), m);
  m0 = i32x4.max_s(m0, v128.and(v128.load(src, 32), m)); m1 = i32x4.max_s(m1, v128.and(v128.load(src, 48), m));
  m0 = i32x4.max_s(m0, v128.and(v128.load(src, 64), m)); m1 = i32x4.max_s(m1, v128.and(v128.load(src, 80), m));
  m0 = i32x4.max_s(m0, v128.and(v128.load(src, 96), m)); m1 = i32x4.max_s(m1, v128.and(v128.load(src, 112), m));
  for (let j: usize = 128; j < (<usize>n32 << 7); j += 32) {
    m0 = i32x4.max_s(m0, v128.and(v128.load(src + j), m));
    m1 = i32x4.max_s(m1, v128.and(v128.load(src + j, 16), m));
  }
  let r = i32x4.max_s(m0, m1);
  r = i32x4.max_s(r, i32x4.shuffle(r, r, 2, 3, 0, 1));
  r = i32x4.max_s(r, i32x4.shuffle(r, r, 1, 0, 3, 2));
  return i32x4.extract_lane(r, 0);
}

/**
 * Four floats times scale rounded to integers, ties to even, as nearest() then a conversion: for
 * |x * scale| < 2^22 adding 1.5 * 2^23 (magic; magicBits its bits) leaves the integer in the low
 * mantissa bits, two instructions where a saturating conversion takes ~8.
 */
@inline function roundScaled(v: v128, scale: v128, magic: v128, magicBits: v128): v128 {
  return i32x4.sub(f32x4.add(f32x4.mul(v, scale), magic), magicBits);
}

/**
 * Q8_K group of 16 floats at p: quants (clamped to 127, as the reference) stored at o, and their
 * sums in four lanes.
 */
@inline function q8kGroup(p: usize, o: usize, vs: v128, magic: v128, magicBits: v128, q127: v128): v128 {
  const q0 = i32x4.min_s(roundScaled(v128.load(p), vs, magic, magicBits), q127);
  const q1 = i32x4.min_s(roundScaled(v128.load(p, 16), vs, magic, magicBits), q127);
  const q2 = i32x4.min_s(roundScaled(v128.load(p, 32), vs, magic, magicBits), q127);
  const q3 = i32x4.min_s(roundScaled(v128.load(p, 48), vs, magic, magicBits), q127);
  v128.store(o, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  return i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
}

/**
 * Quantize nTok rows of n floats (row stride n) to Q8 blocks of 32 as ggml's x86 path does:
 * d = amax/127 (stored f16-rounded), q = nearest-even(x * 127/amax); s = f16(d * sum(q)) per block.
 */
export function quantize_q8(x: usize, n: i32, nTok: i32, qs: usize, d: usize, s: usize, isum: usize): void {
  if (ASC_FEATURE_SIMD) quantizeQ8Simd(x, n, nTok, qs, d, s, isum);
  else quantizeQ8T(x, n, nTok, qs, d, s, isum, 0, 0, 0);
}

@inline function quantizeQ8Simd(x: usize, n: i32, nTok: i32, qs: usize, d: usize, s: usize, isum: usize): void {
  // Masks and the rounding constant from a run-time value: V8 rebuilds a v128 constant at every use in a loop.
  const one = <i32>(n >= 0);
  quantizeQ8T(x, n, nTok, qs, d, s, isum, i32x4.splat(0x7fffffff * one), f32x4.splat(<f32>12582912 * <f32>one), i32x4.splat(0x4b400000 * one));
}

/** quantize_q8's body; the last three are the SIMD builds' masks (|x|, 1.5 * 2^23 and its bits), unused in the plain one. */
@inline function quantizeQ8T<V>(x: usize, n: i32, nTok: i32, qs: usize, d: usize, s: usize, isum: usize, absMask: V, magic: V, magicBits: V): void {
  const nb = n >> 5;
  for (let t = 0; t < nTok; t++) {
    for (let b = 0; b < nb; b++) {
      const src = x + ((<usize>(t * n + b * 32)) << 2);
      const dst = qs + <usize>(t * n + b * 32);
      let amax: f32 = 0;
      if (ASC_FEATURE_SIMD) {
        amax = reinterpret<f32>(absMaxBits(src, 1, absMask));
      } else {
        for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(src + (<usize>j << 2))));
      }
      const dd: f32 = amax / 127;
      const id: f32 = amax != 0 ? <f32>127 / amax : 0;
      let sum = 0;
      if (ASC_FEATURE_SIMD && amax < Infinity) {
        // Finite block: |x * id| <= 127 (plus a rounding), well inside roundScaled's range.
        const vid = f32x4.splat(id);
        let vs = i32x4.splat(0);
        for (let j: usize = 0; j < 32; j += 16) {
          const p = src + (j << 2);
          const q0 = roundScaled(v128.load(p), vid, magic, magicBits), q1 = roundScaled(v128.load(p, 16), vid, magic, magicBits);
          const q2 = roundScaled(v128.load(p, 32), vid, magic, magicBits), q3 = roundScaled(v128.load(p, 48), vid, magic, magicBits);
          v128.store(dst + j, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
          vs = i32x4.add(vs, i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)));
        }
        vs = i32x4.add(vs, i32x4.shuffle(vs, vs, 2, 3, 0, 1));
        vs = i32x4.add(vs, i32x4.shuffle(vs, vs, 1, 0, 3, 2));
        sum = i32x4.extract_lane(vs, 0);
      } else if (ASC_FEATURE_SIMD) {
        // An infinite or NaN block: the same products rounded half to even, saturated as the scalar loop's conversion.
        const vid = f32x4.splat(id);
        let vs = i32x4.splat(0);
        for (let j: usize = 0; j < 32; j += 16) {
          const p = src + (j << 2);
          const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), vid)));
          const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), vid)));
          const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), vid)));
          const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), vid)));
          v128.store(dst + j, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
          vs = i32x4.add(vs, i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)));
        }
        sum = i32x4.extract_lane(vs, 0) + i32x4.extract_lane(vs, 1) + i32x4.extract_lane(vs, 2) + i32x4.extract_lane(vs, 3);
      } else {
        for (let j = 0; j < 32; j++) {
          const q = <i32>nearest<f32>(load<f32>(src + (<usize>j << 2)) * id);
          store<i8>(dst + j, <i8>q);
          sum += q;
        }
      }
      const bi = <usize>(t * nb + b) << 2;
      store<f32>(d + bi, roundF16(dd));
      if (s) store<f32>(s + bi, roundF16(dd * <f32>sum));
      if (isum) store<i32>(isum + bi, sum);
    }
  }
}

/**
 * Quantize rows of n floats to Q8_K super-blocks as quantize_row_q8_K_ref: d = max/-127 of the
 * signed absolute maximum, q = min(127, nearest(x * -127/max)); plus the sum of every 16 quants.
 * qs: int8 per element, d: f32 per 256, bsums: i32 per 16 (i32 here: SIMD-friendly).
 */
export function quantize_q8_k(x: usize, n: i32, nTok: i32, qs: usize, d: usize, bsums: usize): void {
  if (ASC_FEATURE_SIMD) quantizeQ8KSimd(x, n, nTok, qs, d, bsums);
  else for (let i = 0, nb = (n >> 8) * nTok; i < nb; i++) q8kBlockScalar(x + (<usize>i << 10), qs + (<usize>i << 8), d + (<usize>i << 2), bsums + (<usize>i << 6));
}

/** One super-block of 256 floats at src, as quantize_row_q8_K_ref: int8s at dst, d, and 16 sums of 16. */
function q8kBlockScalar(src: usize, dst: usize, d: usize, bsums: usize): void {
  let amax: f32 = 0, mx: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const v = load<f32>(src + (<usize>j << 2));
    if (abs(v) > amax) { amax = abs(v); mx = v; }
  }
  if (amax == 0) {
    store<f32>(d, 0);
    memory.fill(dst, 0, 256);
    memory.fill(bsums, 0, 64);
    return;
  }
  const iscale: f32 = <f32>-127 / mx;
  for (let g = 0; g < 16; g++) {
    let sum = 0;
    for (let i = 0; i < 16; i++) {
      const j = g * 16 + i;
      let q = <i32>nearest<f32>(iscale * load<f32>(src + (<usize>j << 2)));
      if (q > 127) q = 127;
      store<i8>(dst + j, <i8>q);
      sum += q;
    }
    store<i32>(bsums + (<usize>g << 2), sum);
  }
  store<f32>(d, <f32>1 / iscale);
}

/**
 * quantize_q8_k four lanes at a time, the same bytes, d and sums as q8kBlockScalar: |x| maximum as
 * integers (absMaxBits), the element that holds it first found by a compare per vector, the quants
 * rounded by roundScaled (|x * iscale| <= 127), four groups' sums of 16 in one vector. A block holding a NaN or an infinity (its maximum's bits at or past infinity's) takes
 * the scalar path, whose comparisons treat them as the reference does. On one token this runs on
 * the calling thread before every K-quant product is shared out: serial time at two threads.
 */
@inline function quantizeQ8KSimd(x: usize, n: i32, nTok: i32, qs: usize, d: usize, bsums: usize): void {
  // Masks and constants from a run-time value: V8 rebuilds a v128 constant at every use in a loop.
  const one = <i32>(n >= 0);
  const absMask = i32x4.splat(0x7fffffff * one), magic = f32x4.splat(<f32>12582912 * <f32>one), magicBits = i32x4.splat(0x4b400000 * one);
  const q127 = i32x4.splat(127 * one);
  for (let i = 0, nb = (n >> 8) * nTok; i < nb; i++) {
    const src = x + (<usize>i << 10), dst = qs + (<usize>i << 8), di = d + (<usize>i << 2), bs = bsums + (<usize>i << 6);
    const abits = absMaxBits(src, 8, absMask);
    if (abits == 0 || abits >= 0x7f800000) { q8kBlockScalar(src, dst, di, bs); continue; }
    // The first element whose |x| is the maximum: its sign sets the scale's.
    const am = i32x4.splat(abits);
    let j: usize = 0;
    while (!v128.any_true(i32x4.eq(v128.and(v128.load(src + j), absMask), am))) j += 16;
    let mx = load<f32>(src + j);
    if ((reinterpret<i32>(mx) & 0x7fffffff) != abits) mx = load<f32>(src + j, 4);
    if ((reinterpret<i32>(mx) & 0x7fffffff) != abits) mx = load<f32>(src + j, 8);
    if ((reinterpret<i32>(mx) & 0x7fffffff) != abits) mx = load<f32>(src + j, 12);
    const iscale: f32 = <f32>-127 / mx;
    const vs = f32x4.splat(iscale);
    for (let g: usize = 0; g < 16; g += 4) {
      // Four groups of 16: each group's quants, then the four groups' sums in one vector.
      const p = src + (g << 6), o = dst + (g << 4);
      const s0 = q8kGroup(p, o, vs, magic, magicBits, q127), s1 = q8kGroup(p + 64, o + 16, vs, magic, magicBits, q127);
      const s2 = q8kGroup(p + 128, o + 32, vs, magic, magicBits, q127), s3 = q8kGroup(p + 192, o + 48, vs, magic, magicBits, q127);
      const t0 = i32x4.add(i32x4.shuffle(s0, s1, 0, 1, 4, 5), i32x4.shuffle(s0, s1, 2, 3, 6, 7));
      const t1 = i32x4.add(i32x4.shuffle(s2, s3, 0, 1, 4, 5), i32x4.shuffle(s2, s3, 2, 3, 6, 7));
      v128.store(bs + (g << 2), i32x4.add(i32x4.shuffle(t0, t1, 0, 2, 4, 6), i32x4.shuffle(t0, t1, 1, 3, 5, 7)));
    }
    store<f32>(di, <f32>1 / iscale);
  }
}

