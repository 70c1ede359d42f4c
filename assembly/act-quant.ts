// Activation quantization for the integer dot products: Q8 blocks of 32 (Q4_0 .. Q8_0, with the
// block sums Q4_1/Q5_1 and the relaxed Q4_0 path need) and Q8_K super-blocks of 256 (K-quants,
// ternary). The LUT kernels' own activation quantizer lives in lut.ts.

import { roundF16 } from './f16';

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
        // |x| as integers: for non-negative floats integer order is float order, and a NaN's bits
        // exceed infinity's, so this is f32 max(|x|) (NaN in, NaN out) in one pmaxsd a vector,
        // where V8 spends ~8 instructions on an IEEE f32x4.max.
        let m0 = v128.and(v128.load(src), absMask), m1 = v128.and(v128.load(src, 16), absMask);
        m0 = i32x4.max_s(m0, v128.and(v128.load(src, 32), absMask)); m1 = i32x4.max_s(m1, v128.and(v128.load(src, 48), absMask));
        m0 = i32x4.max_s(m0, v128.and(v128.load(src, 64), absMask)); m1 = i32x4.max_s(m1, v128.and(v128.load(src, 80), absMask));
        m0 = i32x4.max_s(m0, v128.and(v128.load(src, 96), absMask)); m1 = i32x4.max_s(m1, v128.and(v128.load(src, 112), absMask));
        let m = i32x4.max_s(m0, m1);
        m = i32x4.max_s(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
        m = i32x4.max_s(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
        amax = reinterpret<f32>(i32x4.extract_lane(m, 0));
      } else {
        for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(src + (<usize>j << 2))));
      }
      const dd: f32 = amax / 127;
      const id: f32 = amax != 0 ? <f32>127 / amax : 0;
      let sum = 0;
      if (ASC_FEATURE_SIMD && amax < Infinity) {
        // Finite block: |x * id| <= 127 (plus a rounding), so adding 1.5 * 2^23 rounds to the nearest
        // integer, ties to even, in the low mantissa bits: the same integers as nearest() and a
        // saturating truncation, in two instructions instead of ~8.
        const vid = f32x4.splat(id);
        let vs = i32x4.splat(0);
        for (let j: usize = 0; j < 32; j += 16) {
          const p = src + (j << 2);
          const q0 = i32x4.sub(f32x4.add(f32x4.mul(v128.load(p), vid), magic), magicBits);
          const q1 = i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 16), vid), magic), magicBits);
          const q2 = i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 32), vid), magic), magicBits);
          const q3 = i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 48), vid), magic), magicBits);
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
 * integers (as quantize_q8), the element that holds it first found by a compare per vector, the
 * quants rounded by adding 1.5 * 2^23 (|x * iscale| <= 127: exact), four groups' sums of 16 in one
 * vector. A block holding a NaN or an infinity (its maximum's bits at or past infinity's) takes
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
    let m0 = v128.and(v128.load(src), absMask), m1 = v128.and(v128.load(src, 16), absMask);
    for (let j: usize = 32; j < 1024; j += 32) {
      m0 = i32x4.max_s(m0, v128.and(v128.load(src + j), absMask));
      m1 = i32x4.max_s(m1, v128.and(v128.load(src + j, 16), absMask));
    }
    let m = i32x4.max_s(m0, m1);
    m = i32x4.max_s(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
    m = i32x4.max_s(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
    const abits = i32x4.extract_lane(m, 0);
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
      let s0 = i32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      for (let h: usize = 0; h < 4; h++) {
        const p = src + ((g + h) << 6), o = dst + ((g + h) << 4);
        const q0 = i32x4.min_s(i32x4.sub(f32x4.add(f32x4.mul(v128.load(p), vs), magic), magicBits), q127);
        const q1 = i32x4.min_s(i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 16), vs), magic), magicBits), q127);
        const q2 = i32x4.min_s(i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 32), vs), magic), magicBits), q127);
        const q3 = i32x4.min_s(i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 48), vs), magic), magicBits), q127);
        v128.store(o, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
        const t = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
        if (h == 0) s0 = t; else if (h == 1) s1 = t; else if (h == 2) s2 = t; else s3 = t;
      }
      const t0 = i32x4.add(i32x4.shuffle(s0, s1, 0, 1, 4, 5), i32x4.shuffle(s0, s1, 2, 3, 6, 7));
      const t1 = i32x4.add(i32x4.shuffle(s2, s3, 0, 1, 4, 5), i32x4.shuffle(s2, s3, 2, 3, 6, 7));
      v128.store(bs + (g << 2), i32x4.add(i32x4.shuffle(t0, t1, 0, 2, 4, 6), i32x4.shuffle(t0, t1, 1, 3, 5, 7)));
    }
    store<f32>(di, <f32>1 / iscale);
  }
}

