// Dot products of one weight row with one activation row, per format: f32 and f16 against f32
// activations, the 32-element formats against Q8 blocks, K-quants and ternary against Q8_K
// super-blocks; plus the SIMD building blocks the tiled products in matmul.ts share. Block layouts
// are ggml's (src/quant/<format>.ts describes each).

import { f16ToF32 } from './f16';

@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

export function dot_f32(w: usize, x: usize, n: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(w + o), v128.load(x + o)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(w + o, 16), v128.load(x + o, 16)));
    }
    s = hsum(f32x4.add(a0, a1));
  }
  for (; i < n; i++) s += load<f32>(w + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2));
  return s;
}

export function dot_f16(w: usize, x: usize, n: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    const magic = f32x4.splat(reinterpret<f32>(0x77800000));
    const absMask = i32x4.splat(0x7fff);
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(w + (<usize>i << 1));
      const lo = i32x4.extend_low_i16x8_u(h), hi = i32x4.extend_high_i16x8_u(h);
      const flo = v128.or(f32x4.mul(i32x4.shl(v128.and(lo, absMask), 13), magic), i32x4.shl(v128.and(lo, i32x4.splat(0x8000)), 16));
      const fhi = v128.or(f32x4.mul(i32x4.shl(v128.and(hi, absMask), 13), magic), i32x4.shl(v128.and(hi, i32x4.splat(0x8000)), 16));
      acc = f32x4.add(acc, f32x4.mul(flo, v128.load(x + (<usize>i << 2))));
      acc = f32x4.add(acc, f32x4.mul(fhi, v128.load(x + (<usize>i << 2), 16)));
    }
    s = hsum(acc);
  }
  for (; i < n; i++) s += f16ToF32(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2));
  return s;
}

/** Sum of 32 int8 products as i32x4 lanes: weights (i8, two v128) times activations (i8). */
@inline export function dot32_i8(w0: v128, w1: v128, a0: v128, a1: v128): v128 {
  // |w|, |a| <= 127: each i8*i8 product fits i16; widen pairs to i32 before adding more.
  const p0 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(w0, a0));
  const p1 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(w0, a0));
  const p2 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(w1, a1));
  const p3 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(w1, a1));
  return i32x4.add(i32x4.add(p0, p1), i32x4.add(p2, p3));
}

/** Same for small weights (|w| <= 31 for 4/5-bit formats): i16 products cannot overflow in pairs of 4. */
@inline export function dot32_small(w0: v128, w1: v128, a0: v128, a1: v128): v128 {
  const p = i16x8.add(
    i16x8.add(i16x8.extmul_low_i8x16_s(w0, a0), i16x8.extmul_high_i8x16_s(w0, a0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(w1, a1), i16x8.extmul_high_i8x16_s(w1, a1)),
  );
  return i32x4.extadd_pairwise_i16x8_s(p);
}

@inline export function isum4(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** Scalar Q8_0 and Q4_0 rows (the plain build): SIMD builds take them through the tiles in matmul.ts. */
export function dot_q8_0(w: usize, a: usize, ad: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 34, x = a + (<usize>b << 5);
    let isum: i32 = 0;
    for (let j = 0; j < 32; j++) isum += <i32>load<i8>(o + 2 + j) * <i32>load<i8>(x + j);
    s += <f32>isum * (f16ToF32(load<u16>(o)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

export function dot_q4_0(w: usize, a: usize, ad: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 18, x = a + (<usize>b << 5);
    let isum: i32 = 0;
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(o + 2 + j);
      isum += ((q & 15) - 8) * <i32>load<i8>(x + j) + ((q >> 4) - 8) * <i32>load<i8>(x + 16 + j);
    }
    s += <f32>isum * (f16ToF32(load<u16>(o)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

export function dot_q4_1(w: usize, a: usize, ad: usize, as: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 20, x = a + (<usize>b << 5);
    let isum: i32 = 0;
    if (ASC_FEATURE_SIMD) {
      const q = v128.load(o + 4);
      const lo = v128.and(q, i8x16.splat(0x0f)), hi = i8x16.shr_u(q, 4);
      isum = isum4(dot32_small(lo, hi, v128.load(x), v128.load(x, 16)));
    } else {
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(o + 4 + j);
        isum += (q & 15) * <i32>load<i8>(x + j) + (q >> 4) * <i32>load<i8>(x + 16 + j);
      }
    }
    const bi = <usize>b << 2;
    s += <f32>isum * (f16ToF32(load<u16>(o)) * load<f32>(ad + bi)) + f16ToF32(load<u16>(o + 2)) * load<f32>(as + bi);
  }
  return s;
}

/** 5-bit formats: the fifth bits of 16 elements (the low 16 bits of qh) as 0x10 per byte. */
@inline export function spreadBits(qh: u32): v128 {
  // Broadcast the 16 low bits and test one bit per byte.
  const bytes = i16x8.splat(<i16>(qh & 0xffff));
  const sel = i8x16.shuffle(bytes, bytes, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const mask = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(sel, mask), mask), i8x16.splat(0x10));
}

export function dot_q5(w: usize, a: usize, ad: usize, as: usize, nb: i32, withMin: bool): f32 {
  let s: f32 = 0;
  const bs: usize = withMin ? 24 : 22;
  const qhOff: usize = withMin ? 4 : 2;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * bs, x = a + (<usize>b << 5);
    const qh = load<u32>(o + qhOff);
    let isum: i32 = 0;
    if (ASC_FEATURE_SIMD) {
      const q = v128.load(o + qhOff + 4);
      let lo = v128.or(v128.and(q, i8x16.splat(0x0f)), spreadBits(qh));
      let hi = v128.or(i8x16.shr_u(q, 4), spreadBits(qh >> 16));
      if (!withMin) { lo = i8x16.sub(lo, i8x16.splat(16)); hi = i8x16.sub(hi, i8x16.splat(16)); }
      isum = isum4(dot32_small(lo, hi, v128.load(x), v128.load(x, 16)));
    } else {
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(o + qhOff + 4 + j);
        let q0 = (q & 15) | <i32>(((qh >> j) << 4) & 16);
        let q1 = (q >> 4) | <i32>((qh >> (j + 12)) & 16);
        if (!withMin) { q0 -= 16; q1 -= 16; }
        isum += q0 * <i32>load<i8>(x + j) + q1 * <i32>load<i8>(x + 16 + j);
      }
    }
    const bi = <usize>b << 2;
    s += <f32>isum * (f16ToF32(load<u16>(o)) * load<f32>(ad + bi));
    if (withMin) s += f16ToF32(load<u16>(o + 2)) * load<f32>(as + bi);
  }
  return s;
}

// ------------------------------------------------------------------ K-quants and ternary (Q8_K activations)

/** Sum of the 16 Q8_K block sums of super-block b (the activations' sum, for the ternary -1 offset). */
@inline function bsum256(bsums: usize, b: i32): i32 {
  const bs = bsums + (<usize>b << 6);
  let s = 0;
  for (let j = 0; j < 16; j++) s += load<i32>(bs + (<usize>j << 2));
  return s;
}

/** TQ2_0 x Q8_K: sum over 2-bit codes c of (c - 1) * a, per 256 with the f16 scale. */
export function dot_tq2_0(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 66, x = a + (<usize>b << 8);
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      // Codes 0..2 times int8: 32 products of <= 254 per i16 lane, far from overflow.
      let acc = i16x8.splat(0);
      const m = i8x16.splat(3);
      for (let j = 0; j < 2; j++) {
        const q0 = v128.load(o + (<usize>j << 5)), q1 = v128.load(o + (<usize>j << 5), 16);
        for (let l = 0; l < 4; l++) {
          const y = x + (<usize>j << 7) + (<usize>l << 5);
          const c0 = v128.and(i8x16.shr_u(q0, 2 * l), m), c1 = v128.and(i8x16.shr_u(q1, 2 * l), m);
          const a0 = v128.load(y), a1 = v128.load(y, 16);
          acc = i16x8.add(acc, i16x8.add(i16x8.extmul_low_i8x16_s(c0, a0), i16x8.extmul_high_i8x16_s(c0, a0)));
          acc = i16x8.add(acc, i16x8.add(i16x8.extmul_low_i8x16_s(c1, a1), i16x8.extmul_high_i8x16_s(c1, a1)));
        }
      }
      isum = isum4(i32x4.extadd_pairwise_i16x8_s(acc));
    } else {
      for (let j = 0; j < 2; j++)
        for (let l = 0; l < 4; l++)
          for (let k = 0; k < 32; k++) isum += <i32>((load<u8>(o + (<usize>j << 5) + <usize>k) >> (2 * l)) & 3) * <i32>load<i8>(x + (<usize>j << 7) + (<usize>l << 5) + <usize>k);
    }
    isum -= bsum256(bsums, b);
    s += <f32>isum * (f16ToF32(load<u16>(o + 64)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

/** Trit n (0..4) of each of 16 base-3 bytes: ((byte * 3^n) mod 256) * 3 >> 8, as u8 lanes. */
@inline export function trits16(q: v128, pow: i32): v128 {
  const p = i16x8.splat(<i16>pow), ff = i16x8.splat(0xff), three = i16x8.splat(3);
  const lo = i16x8.shr_u(i16x8.mul(v128.and(i16x8.mul(i16x8.extend_low_i8x16_u(q), p), ff), three), 8);
  const hi = i16x8.shr_u(i16x8.mul(v128.and(i16x8.mul(i16x8.extend_high_i8x16_u(q), p), ff), three), 8);
  return i8x16.narrow_i16x8_u(lo, hi);
}

@inline export function trit(byte: i32, pow: i32): i32 {
  return (((byte * pow) & 0xff) * 3) >> 8;
}

/** TQ1_0 x Q8_K: 5 trits per byte in qs[0..47], 4 per byte in qh[0..3] (llama.cpp's layout). */
export function dot_tq1_0(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 54, x = a + (<usize>b << 8);
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = i16x8.splat(0);
      const q0 = v128.load(o), q1 = v128.load(o, 16), q2 = v128.load(o, 32);
      let pow = 1;
      for (let n = 0; n < 5; n++) {
        // Elements 32n + m (m < 32) from qs[0..31], 160 + 16n + m (m < 16) from qs[32..47].
        const c0 = trits16(q0, pow), c1 = trits16(q1, pow), c2 = trits16(q2, pow);
        const y0 = x + <usize>(n << 5), y2 = x + 160 + <usize>(n << 4);
        const a0 = v128.load(y0), a1 = v128.load(y0, 16), a2 = v128.load(y2);
        acc = i16x8.add(acc, i16x8.add(i16x8.extmul_low_i8x16_s(c0, a0), i16x8.extmul_high_i8x16_s(c0, a0)));
        acc = i16x8.add(acc, i16x8.add(i16x8.extmul_low_i8x16_s(c1, a1), i16x8.extmul_high_i8x16_s(c1, a1)));
        acc = i16x8.add(acc, i16x8.add(i16x8.extmul_low_i8x16_s(c2, a2), i16x8.extmul_high_i8x16_s(c2, a2)));
        pow *= 3;
      }
      isum = isum4(i32x4.extadd_pairwise_i16x8_s(acc));
    } else {
      let pow = 1;
      for (let n = 0; n < 5; n++) {
        for (let m = 0; m < 32; m++) isum += trit(<i32>load<u8>(o + <usize>m), pow) * <i32>load<i8>(x + <usize>(32 * n + m));
        for (let m = 0; m < 16; m++) isum += trit(<i32>load<u8>(o + 32 + <usize>m), pow) * <i32>load<i8>(x + <usize>(160 + 16 * n + m));
        pow *= 3;
      }
    }
    let pow = 1;
    for (let n = 0; n < 4; n++) {
      for (let j = 0; j < 4; j++) isum += trit(<i32>load<u8>(o + 48 + <usize>j), pow) * <i32>load<i8>(x + <usize>(240 + 4 * n + j));
      pow *= 3;
    }
    isum -= bsum256(bsums, b);
    s += <f32>isum * (f16ToF32(load<u16>(o + 52)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

/** Q4_K 6-bit scale and min j of 8 from the 12 packed bytes at p (get_scale_min_k4). */
@inline function scaleK4(p: usize, j: i32): i32 {
  return j < 4 ? <i32>(load<u8>(p + j) & 63) : <i32>((load<u8>(p + j + 4) & 0xf) | ((load<u8>(p + j - 4) >> 6) << 4));
}
@inline function minK4(p: usize, j: i32): i32 {
  return j < 4 ? <i32>(load<u8>(p + j + 4) & 63) : <i32>((load<u8>(p + j + 4) >> 4) | ((load<u8>(p + j) >> 6) << 4));
}

/** sum_j bsums[j] * min(j >> 1) for the 8 packed 6-bit mins of Q4_K/Q5_K (pairs of 16 share a min). */
@inline function kMinsDot(bs: usize, sp: usize): i32 {
  let s = 0;
  for (let k = 0; k < 8; k++) s += (load<i32>(bs + (<usize>k << 3)) + load<i32>(bs + (<usize>k << 3) + 4)) * minK4(sp, k);
  return s;
}

/** 16 small weights (|w| * 127 * 2 < 2^15) times 16 int8 activations, times an integer scale, as i32x4. */
@inline function dot16_scaled(w: v128, a: v128, scale: i32): v128 {
  return i32x4.dot_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(w, a), i16x8.extmul_high_i8x16_s(w, a)), i16x8.splat(<i16>scale));
}

/** Sum of 16 unsigned small weights (< 64) times 16 int8 activations, as i32x4 lanes. */
@inline function dot16_u(w: v128, a: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(w, a), i16x8.extmul_high_i8x16_s(w, a)));
}

export function dot_q4_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 144, x = a + (<usize>b << 8), bs = bsums + (<usize>b << 6);
    const sp = o + 4;
    const summs = kMinsDot(bs, sp);
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = i32x4.splat(0);
      for (let c = 0; c < 4; c++) {
        const q = o + 16 + <usize>(32 * c), y = x + <usize>(64 * c);
        const q0 = v128.load(q), q1 = v128.load(q, 16);
        const m = i8x16.splat(0x0f);
        const lo = i32x4.add(dot16_u(v128.and(q0, m), v128.load(y)), dot16_u(v128.and(q1, m), v128.load(y, 16)));
        const hi = i32x4.add(dot16_u(i8x16.shr_u(q0, 4), v128.load(y, 32)), dot16_u(i8x16.shr_u(q1, 4), v128.load(y, 48)));
        acc = i32x4.add(acc, i32x4.add(i32x4.mul(lo, i32x4.splat(scaleK4(sp, 2 * c))), i32x4.mul(hi, i32x4.splat(scaleK4(sp, 2 * c + 1)))));
      }
      isum = isum4(acc);
    } else {
      for (let c = 0; c < 4; c++) {
        const q = o + 16 + <usize>(32 * c), y = x + <usize>(64 * c);
        let lo = 0, hi = 0;
        for (let l = 0; l < 32; l++) {
          const v = <i32>load<u8>(q + l);
          lo += <i32>load<i8>(y + l) * (v & 0xf);
          hi += <i32>load<i8>(y + 32 + l) * (v >> 4);
        }
        isum += scaleK4(sp, 2 * c) * lo + scaleK4(sp, 2 * c + 1) * hi;
      }
    }
    const yd = load<f32>(ad + (<usize>b << 2));
    s += (f16ToF32(load<u16>(o)) * yd) * <f32>isum - (f16ToF32(load<u16>(o + 2)) * yd) * <f32>summs;
  }
  return s;
}

/** 32 Q6_K weights (low nibbles l, high bits hb at 0x30) against int8 at y, scaled per 16 by sc[0..1]. */
@inline function q6Quarter(acc: v128, l0: v128, l1: v128, hb0: v128, hb1: v128, y: usize, sc: usize): v128 {
  const w0 = v128.or(l0, hb0), w1 = v128.or(l1, hb1);
  const a0 = v128.load(y), a1 = v128.load(y, 16);
  const t0 = i16x8.add(i16x8.extmul_low_i8x16_s(w0, a0), i16x8.extmul_high_i8x16_s(w0, a0));
  const t1 = i16x8.add(i16x8.extmul_low_i8x16_s(w1, a1), i16x8.extmul_high_i8x16_s(w1, a1));
  return i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(t0, i16x8.splat(<i16>load<i8>(sc))), i32x4.dot_i16x8_s(t1, i16x8.splat(<i16>load<i8>(sc, 1)))));
}

export function dot_q6_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 210, x = a + (<usize>b << 8);
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      // Unsigned 6-bit codes against int8 (pairs of products fit i16), scaled per 16 by i32x4.dot;
      // the -32 offset comes off once per block through the Q8_K sums of 16.
      const bs = bsums + (<usize>b << 6);
      const scv = v128.load(o + 192);
      const sl = i16x8.extend_low_i8x16_s(scv), sh = i16x8.extend_high_i8x16_s(scv);
      const cv = i32x4.add(
        i32x4.add(i32x4.mul(i32x4.extend_low_i16x8_s(sl), v128.load(bs)), i32x4.mul(i32x4.extend_high_i16x8_s(sl), v128.load(bs, 16))),
        i32x4.add(i32x4.mul(i32x4.extend_low_i16x8_s(sh), v128.load(bs, 32)), i32x4.mul(i32x4.extend_high_i16x8_s(sh), v128.load(bs, 48))));
      const corr = isum4(cv);
      let acc = i32x4.splat(0);
      const m4 = i8x16.splat(0x0f), m30 = i8x16.splat(0x30);
      for (let h = 0; h < 2; h++) {
        const ql = o + <usize>(64 * h), qh = o + 128 + <usize>(32 * h), sc = o + 192 + <usize>(8 * h), y = x + <usize>(128 * h);
        const h0 = v128.load(qh), h1 = v128.load(qh, 16);
        const L0 = v128.load(ql), L1 = v128.load(ql, 16), L2 = v128.load(ql, 32), L3 = v128.load(ql, 48);
        // i16 lane shifts (one x86 instruction) with byte masks stand in for the emulated i8 shifts.
        acc = q6Quarter(acc, v128.and(L0, m4), v128.and(L1, m4), v128.and(i16x8.shl(h0, 4), m30), v128.and(i16x8.shl(h1, 4), m30), y, sc);
        acc = q6Quarter(acc, v128.and(L2, m4), v128.and(L3, m4), v128.and(i16x8.shl(h0, 2), m30), v128.and(i16x8.shl(h1, 2), m30), y + 32, sc + 2);
        acc = q6Quarter(acc, v128.and(i16x8.shr_u(L0, 4), m4), v128.and(i16x8.shr_u(L1, 4), m4), v128.and(h0, m30), v128.and(h1, m30), y + 64, sc + 4);
        acc = q6Quarter(acc, v128.and(i16x8.shr_u(L2, 4), m4), v128.and(i16x8.shr_u(L3, 4), m4), v128.and(i16x8.shr_u(h0, 2), m30), v128.and(i16x8.shr_u(h1, 2), m30), y + 96, sc + 6);
      }
      isum = isum4(acc) - 32 * corr;
    } else {
      for (let h = 0; h < 2; h++) {
        const ql = o + <usize>(64 * h), qh = o + 128 + <usize>(32 * h), sc = o + 192 + <usize>(8 * h), y = x + <usize>(128 * h);
        for (let quarter = 0; quarter < 4; quarter++) {
          const qlo = ql + <usize>(32 * (quarter & 1));
          const shiftL = quarter >= 2 ? 4 : 0, shiftH = 2 * quarter;
          for (let half = 0; half < 32; half += 16) {
            let isuml = 0;
            for (let l = half; l < half + 16; l++) {
              const q = <i32>(((load<u8>(qlo + l) >> shiftL) & 0xf) | (((load<u8>(qh + l) >> shiftH) & 3) << 4)) - 32;
              isuml += <i32>load<i8>(y + 32 * quarter + l) * q;
            }
            isum += <i32>load<i8>(sc + 2 * quarter + (half >> 4)) * isuml;
          }
        }
      }
    }
    s += <f32>isum * (f16ToF32(load<u16>(o + 208)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

export function dot_q5_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 176, x = a + (<usize>b << 8), bs = bsums + (<usize>b << 6);
    const sp = o + 4;
    const summs = kMinsDot(bs, sp);
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = i32x4.splat(0);
      const h0 = v128.load(o + 16), h1 = v128.load(o + 32);
      for (let c = 0; c < 4; c++) {
        const q = o + 48 + <usize>(32 * c), y = x + <usize>(64 * c);
        const q0 = v128.load(q), q1 = v128.load(q, 16);
        const m = i8x16.splat(0x0f), sixteen = i8x16.splat(16);
        const u1 = i8x16.splat(<i8>(<i32>1 << (2 * c))), u2 = i8x16.splat(<i8>(<i32>2 << (2 * c)));
        const b0l = v128.and(i8x16.eq(v128.and(h0, u1), u1), sixteen), b1l = v128.and(i8x16.eq(v128.and(h1, u1), u1), sixteen);
        const b0h = v128.and(i8x16.eq(v128.and(h0, u2), u2), sixteen), b1h = v128.and(i8x16.eq(v128.and(h1, u2), u2), sixteen);
        const lo = i32x4.add(dot16_u(v128.or(v128.and(q0, m), b0l), v128.load(y)), dot16_u(v128.or(v128.and(q1, m), b1l), v128.load(y, 16)));
        const hi = i32x4.add(dot16_u(v128.or(i8x16.shr_u(q0, 4), b0h), v128.load(y, 32)), dot16_u(v128.or(i8x16.shr_u(q1, 4), b1h), v128.load(y, 48)));
        acc = i32x4.add(acc, i32x4.add(i32x4.mul(lo, i32x4.splat(scaleK4(sp, 2 * c))), i32x4.mul(hi, i32x4.splat(scaleK4(sp, 2 * c + 1)))));
      }
      isum = isum4(acc);
    } else {
      for (let c = 0; c < 4; c++) {
        const q = o + 48 + <usize>(32 * c), y = x + <usize>(64 * c);
        const u1 = 1 << (2 * c), u2 = 2 << (2 * c);
        let lo = 0, hi = 0;
        for (let l = 0; l < 32; l++) {
          const v = <i32>load<u8>(q + l), h = <i32>load<u8>(o + 16 + l);
          lo += <i32>load<i8>(y + l) * ((v & 0xf) + (h & u1 ? 16 : 0));
          hi += <i32>load<i8>(y + 32 + l) * ((v >> 4) + (h & u2 ? 16 : 0));
        }
        isum += scaleK4(sp, 2 * c) * lo + scaleK4(sp, 2 * c + 1) * hi;
      }
    }
    const yd = load<f32>(ad + (<usize>b << 2));
    s += (f16ToF32(load<u16>(o)) * yd) * <f32>isum - (f16ToF32(load<u16>(o + 2)) * yd) * <f32>summs;
  }
  return s;
}

export function dot_q2_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 84, x = a + (<usize>b << 8), bs = bsums + (<usize>b << 6);
    let summs = 0;
    if (ASC_FEATURE_SIMD) {
      // The 16 mins (high nibbles of the scale bytes) against the 16 Q8_K sums, four lanes at a time.
      const m = i8x16.shr_u(v128.load(o), 4);
      const ml = i16x8.extend_low_i8x16_u(m), mh = i16x8.extend_high_i8x16_u(m);
      summs = isum4(i32x4.add(
        i32x4.add(i32x4.mul(i32x4.extend_low_i16x8_u(ml), v128.load(bs)), i32x4.mul(i32x4.extend_high_i16x8_u(ml), v128.load(bs, 16))),
        i32x4.add(i32x4.mul(i32x4.extend_low_i16x8_u(mh), v128.load(bs, 32)), i32x4.mul(i32x4.extend_high_i16x8_u(mh), v128.load(bs, 48)))));
    } else {
      for (let j = 0; j < 16; j++) summs += load<i32>(bs + (<usize>j << 2)) * <i32>(load<u8>(o + j) >> 4);
    }
    const yd = load<f32>(ad + (<usize>b << 2));
    const dall = yd * f16ToF32(load<u16>(o + 80)), dmin = yd * f16ToF32(load<u16>(o + 82));
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = i32x4.splat(0);
      let is = 0;
      let y = x;
      for (let h = 0; h < 2; h++) {
        const q = o + 16 + <usize>(32 * h);
        const q0 = v128.load(q), q1 = v128.load(q, 16);
        for (let shift = 0; shift < 8; shift += 2) {
          const m3 = i8x16.splat(3);
          // i16 lane shifts (native) with the byte mask; scales applied by i32x4.dot on i16 pair sums.
          acc = i32x4.add(acc, i32x4.add(
            dot16_scaled(v128.and(i16x8.shr_u(q0, shift), m3), v128.load(y), <i32>(load<u8>(o + is) & 0xf)),
            dot16_scaled(v128.and(i16x8.shr_u(q1, shift), m3), v128.load(y, 16), <i32>(load<u8>(o + is + 1) & 0xf))));
          is += 2;
          y += 32;
        }
      }
      isum = isum4(acc);
    } else {
      let is = 0;
      let y = x;
      for (let h = 0; h < 2; h++) {
        const q = o + 16 + <usize>(32 * h);
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            let isuml = 0;
            for (let l = 0; l < 16; l++) isuml += <i32>load<i8>(y + l) * <i32>((load<u8>(q + half + l) >> shift) & 3);
            isum += <i32>(load<u8>(o + is++) & 0xf) * isuml;
            y += 16;
          }
        }
      }
    }
    s += dall * <f32>isum - dmin * <f32>summs;
  }
  return s;
}

/** Q3_K scale j of 16 (6 bits, minus 32) from the 12 packed bytes at p. */
@inline function scaleQ3(p: usize, j: i32): i32 {
  const low = j < 8 ? <i32>(load<u8>(p + j) & 0xf) : <i32>(load<u8>(p + j - 8) >> 4);
  return (low | (<i32>((load<u8>(p + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

export function dot_q3_k(w: usize, a: usize, ad: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 110, x = a + (<usize>b << 8), sp = o + 96;
    let isum = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = i32x4.splat(0);
      const hm0 = v128.load(o), hm1 = v128.load(o + 16);
      // The 16 6-bit scales decoded at once (scaleQ3's layout), minus 32; consumed two per step
      // from the low lanes while the vector shifts down.
      const P = v128.load(sp), f = i8x16.splat(0x0f), t3 = i8x16.splat(3);
      const low = i8x16.shuffle(v128.and(P, f), v128.and(i16x8.shr_u(P, 4), f), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const H = i8x16.shuffle(P, P, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11);
      const h01 = i8x16.shuffle(v128.and(H, t3), v128.and(i16x8.shr_u(H, 2), t3), 0, 1, 2, 3, 20, 21, 22, 23, 0, 0, 0, 0, 0, 0, 0, 0);
      const h23 = i8x16.shuffle(v128.and(i16x8.shr_u(H, 4), t3), v128.and(i16x8.shr_u(H, 6), t3), 0, 1, 2, 3, 20, 21, 22, 23, 0, 0, 0, 0, 0, 0, 0, 0);
      const high = i8x16.shuffle(h01, h23, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      let S = i8x16.sub(v128.or(low, i8x16.shl(high, 4)), i8x16.splat(32));
      let is = 0, m = 1;
      let y = x;
      for (let h = 0; h < 2; h++) {
        const q = o + 32 + <usize>(32 * h);
        const q0 = v128.load(q), q1 = v128.load(q, 16);
        for (let shift = 0; shift < 8; shift += 2) {
          const mv = i8x16.splat(<i8>m), m3 = i8x16.splat(3), four = i8x16.splat(4), zero = i8x16.splat(0);
          const w0 = i8x16.sub(v128.and(i16x8.shr_u(q0, shift), m3), v128.and(i8x16.eq(v128.and(hm0, mv), zero), four));
          const w1 = i8x16.sub(v128.and(i16x8.shr_u(q1, shift), m3), v128.and(i8x16.eq(v128.and(hm1, mv), zero), four));
          acc = i32x4.add(acc, i32x4.add(dot16_scaled(w0, v128.load(y), i8x16.extract_lane_s(S, 0)), dot16_scaled(w1, v128.load(y, 16), i8x16.extract_lane_s(S, 1))));
          S = i8x16.shuffle(S, S, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1);
          is += 2;
          y += 32;
          m <<= 1;
        }
      }
      isum = isum4(acc);
    } else {
      let is = 0, m = 1;
      let y = x;
      for (let h = 0; h < 2; h++) {
        const q = o + 32 + <usize>(32 * h);
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            let isuml = 0;
            for (let l = 0; l < 16; l++) {
              const k = half + l;
              isuml += <i32>load<i8>(y + l) * (<i32>((load<u8>(q + k) >> shift) & 3) - ((<i32>load<u8>(o + k) & m) ? 0 : 4));
            }
            isum += scaleQ3(sp, is++) * isuml;
            y += 16;
          }
          m <<= 1;
        }
      }
    }
    s += <f32>isum * (f16ToF32(load<u16>(o + 108)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}