// lutra's WebAssembly kernels (AssemblyScript). One source, three builds chosen at run time:
// SIMD128 + relaxed SIMD, SIMD128, and plain scalar WebAssembly (compile-time ASC_FEATURE_* flags).
// Every export works on raw pointers into the shared linear memory; nothing here allocates, so the
// module can run with `--runtime stub` in several threads over the same memory. Each export has a
// TypeScript twin in src/kernels/ref with the same meaning; test/kernels-parity.test.ts holds them
// together. Weight formats use ggml's type ids and block layouts.

// ------------------------------------------------------------------ f16 helpers (scalar)

@inline function f16ToF32(h: u32): f32 {
  // Exponent rebias by multiplication: handles subnormals exactly; inf/NaN never occur in weights.
  const bits = ((h & 0x7fff) << 13);
  const v = reinterpret<f32>(bits) * reinterpret<f32>(0x77800000); // 2^112
  return (h & 0x8000) ? -v : v;
}

function f32ToF16(v: f32): u32 {
  const x = reinterpret<u32>(v);
  const sign = (x >> 16) & 0x8000;
  const exp = <i32>((x >> 23) & 0xff);
  let mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = <u32>1 << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (<u32>e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  return sign | half;
}

/**
 * Round four floats to the nearest half-precision value (ties to even) in place of their f32
 * mantissa: exact for the normal half range, which is where attention values live.
 */
@inline function roundF16x4(v: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(v, 13), i32x4.splat(1));
  return v128.and(i32x4.add(v, i32x4.add(i32x4.splat(0xfff), lsb)), i32x4.splat(0xffffe000));
}

@inline function roundF16(v: f32): f32 {
  return f16ToF32(f32ToF16(v));
}

export function round_f16(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), roundF16(load<f32>(x + (<usize>i << 2))));
}

// ------------------------------------------------------------------ activation quantization

/**
 * Quantize nTok rows of n floats (row stride n) to Q8 blocks of 32 as ggml's x86 path does:
 * d = amax/127 (stored f16-rounded), q = nearest-even(x * 127/amax); s = f16(d * sum(q)) per block.
 */
export function quantize_q8(x: usize, n: i32, nTok: i32, qs: usize, d: usize, s: usize, isum: usize): void {
  const nb = n >> 5;
  for (let t = 0; t < nTok; t++) {
    for (let b = 0; b < nb; b++) {
      const src = x + ((<usize>(t * n + b * 32)) << 2);
      const dst = qs + <usize>(t * n + b * 32);
      let amax: f32 = 0;
      if (ASC_FEATURE_SIMD) {
        let m = f32x4.splat(0);
        for (let j = 0; j < 32; j += 4) m = f32x4.max(m, f32x4.abs(v128.load(src + (<usize>j << 2))));
        amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      } else {
        for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(src + (<usize>j << 2))));
      }
      const dd: f32 = amax / 127;
      const id: f32 = amax != 0 ? <f32>127 / amax : 0;
      let sum = 0;
      for (let j = 0; j < 32; j++) {
        const q = <i32>nearest<f32>(load<f32>(src + (<usize>j << 2)) * id);
        store<i8>(dst + j, <i8>q);
        sum += q;
      }
      const bi = <usize>(t * nb + b) << 2;
      store<f32>(d + bi, roundF16(dd));
      if (s) store<f32>(s + bi, roundF16(dd * <f32>sum));
      if (isum) store<i32>(isum + bi, sum);
    }
  }
}

// ------------------------------------------------------------------ row dot products

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

function dot_f32(w: usize, x: usize, n: i32): f32 {
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

function dot_f16(w: usize, x: usize, n: i32): f32 {
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
@inline function dot32_i8(w0: v128, w1: v128, a0: v128, a1: v128): v128 {
  // |w|, |a| <= 127: each i8*i8 product fits i16; widen pairs to i32 before adding more.
  const p0 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(w0, a0));
  const p1 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(w0, a0));
  const p2 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(w1, a1));
  const p3 = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(w1, a1));
  return i32x4.add(i32x4.add(p0, p1), i32x4.add(p2, p3));
}

/** Same for small weights (|w| <= 31 for 4/5-bit formats): i16 products cannot overflow in pairs of 4. */
@inline function dot32_small(w0: v128, w1: v128, a0: v128, a1: v128): v128 {
  const p = i16x8.add(
    i16x8.add(i16x8.extmul_low_i8x16_s(w0, a0), i16x8.extmul_high_i8x16_s(w0, a0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(w1, a1), i16x8.extmul_high_i8x16_s(w1, a1)),
  );
  return i32x4.extadd_pairwise_i16x8_s(p);
}

@inline function isum4(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

function dot_q8_0(w: usize, a: usize, ad: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 34, x = a + (<usize>b << 5);
    let isum: i32 = 0;
    if (ASC_FEATURE_SIMD) {
      isum = isum4(dot32_i8(v128.load(o + 2), v128.load(o + 18), v128.load(x), v128.load(x, 16)));
    } else {
      for (let j = 0; j < 32; j++) isum += <i32>load<i8>(o + 2 + j) * <i32>load<i8>(x + j);
    }
    s += <f32>isum * (f16ToF32(load<u16>(o)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

/** Q4_0 / Q4_1: nibbles, low half = elements 0..15, high = 16..31. `off` is the qs offset in the block. */
@inline function unpack4(p: usize): v128 {
  return v128.load(p);
}

function dot_q4_0(w: usize, a: usize, ad: usize, as: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 18, x = a + (<usize>b << 5);
    let isum: i32 = 0;
    if (ASC_FEATURE_RELAXED_SIMD) {
      // Unsigned nibbles (0..15) fit the 7-bit operand; subtract 8 * sum(a) afterwards.
      const q = unpack4(o + 2);
      const lo = v128.and(q, i8x16.splat(0x0f)), hi = i8x16.shr_u(q, 4);
      let acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x), lo, i32x4.splat(0));
      acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 16), hi, acc);
      // as[] holds d*sum(q); recover the integer sum from the activation bytes instead (exact).
      const sa = i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(x)), i16x8.extadd_pairwise_i8x16_s(v128.load(x, 16))));
      isum = isum4(i32x4.sub(acc, i32x4.shl(sa, 3)));
    } else if (ASC_FEATURE_SIMD) {
      const q = unpack4(o + 2);
      const lo = i8x16.sub(v128.and(q, i8x16.splat(0x0f)), i8x16.splat(8));
      const hi = i8x16.sub(i8x16.shr_u(q, 4), i8x16.splat(8));
      isum = isum4(dot32_small(lo, hi, v128.load(x), v128.load(x, 16)));
    } else {
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(o + 2 + j);
        isum += ((q & 15) - 8) * <i32>load<i8>(x + j) + ((q >> 4) - 8) * <i32>load<i8>(x + 16 + j);
      }
    }
    s += <f32>isum * (f16ToF32(load<u16>(o)) * load<f32>(ad + (<usize>b << 2)));
  }
  return s;
}

function dot_q4_1(w: usize, a: usize, ad: usize, as: usize, nb: i32): f32 {
  let s: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = w + <usize>b * 20, x = a + (<usize>b << 5);
    let isum: i32 = 0;
    if (ASC_FEATURE_SIMD) {
      const q = unpack4(o + 4);
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

/** 5-bit formats: the fifth bits of the 32 elements packed in a u32, as 0x10 per byte. */
@inline function highBits(qh: u32, shift: u32): v128 {
  // Byte j gets bit (j + shift) of qh, placed at 0x10.
  let v = i8x16.splat(0);
  v = i8x16.replace_lane(v, 0, <i8>(((qh >> (shift + 0)) & 1) << 4));
  v = i8x16.replace_lane(v, 1, <i8>(((qh >> (shift + 1)) & 1) << 4));
  v = i8x16.replace_lane(v, 2, <i8>(((qh >> (shift + 2)) & 1) << 4));
  v = i8x16.replace_lane(v, 3, <i8>(((qh >> (shift + 3)) & 1) << 4));
  v = i8x16.replace_lane(v, 4, <i8>(((qh >> (shift + 4)) & 1) << 4));
  v = i8x16.replace_lane(v, 5, <i8>(((qh >> (shift + 5)) & 1) << 4));
  v = i8x16.replace_lane(v, 6, <i8>(((qh >> (shift + 6)) & 1) << 4));
  v = i8x16.replace_lane(v, 7, <i8>(((qh >> (shift + 7)) & 1) << 4));
  v = i8x16.replace_lane(v, 8, <i8>(((qh >> (shift + 8)) & 1) << 4));
  v = i8x16.replace_lane(v, 9, <i8>(((qh >> (shift + 9)) & 1) << 4));
  v = i8x16.replace_lane(v, 10, <i8>(((qh >> (shift + 10)) & 1) << 4));
  v = i8x16.replace_lane(v, 11, <i8>(((qh >> (shift + 11)) & 1) << 4));
  v = i8x16.replace_lane(v, 12, <i8>(((qh >> (shift + 12)) & 1) << 4));
  v = i8x16.replace_lane(v, 13, <i8>(((qh >> (shift + 13)) & 1) << 4));
  v = i8x16.replace_lane(v, 14, <i8>(((qh >> (shift + 14)) & 1) << 4));
  v = i8x16.replace_lane(v, 15, <i8>(((qh >> (shift + 15)) & 1) << 4));
  return v;
}

@inline function spreadBits(qh: u32): v128 {
  // Faster highBits(qh, 0): broadcast the 16 low bits and test one bit per byte.
  const bytes = i16x8.splat(<i16>(qh & 0xffff));
  const sel = i8x16.shuffle(bytes, bytes, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const mask = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(sel, mask), mask), i8x16.splat(0x10));
}

function dot_q5(w: usize, a: usize, ad: usize, as: usize, nb: i32, withMin: bool): f32 {
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

// ------------------------------------------------------------------ K-quants (Q8_K activations)

/**
 * Quantize rows of n floats to Q8_K super-blocks as quantize_row_q8_K_ref: d = max/-127 of the
 * signed absolute maximum, q = min(127, nearest(x * -127/max)); plus the sum of every 16 quants.
 * qs: int8 per element, d: f32 per 256, bsums: i32 per 16 (i32 here: SIMD-friendly).
 */
export function quantize_q8_k(x: usize, n: i32, nTok: i32, qs: usize, d: usize, bsums: usize): void {
  const nb = n >> 8;
  for (let t = 0; t < nTok; t++) {
    for (let b = 0; b < nb; b++) {
      const e0 = t * n + b * 256;
      const src = x + (<usize>e0 << 2), dst = qs + <usize>e0;
      let amax: f32 = 0, mx: f32 = 0;
      for (let j = 0; j < 256; j++) {
        const v = load<f32>(src + (<usize>j << 2));
        if (abs(v) > amax) { amax = abs(v); mx = v; }
      }
      const bi = <usize>(t * nb + b);
      if (amax == 0) {
        store<f32>(d + (bi << 2), 0);
        for (let j = 0; j < 256; j++) store<i8>(dst + j, 0);
        for (let j = 0; j < 16; j++) store<i32>(bsums + ((bi * 16 + j) << 2), 0);
        continue;
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
        store<i32>(bsums + ((bi * 16 + <usize>g) << 2), sum);
      }
      store<f32>(d + (bi << 2), <f32>1 / iscale);
    }
  }
}

/** Sum of the 16 Q8_K block sums of super-block b (the activations' sum, for the ternary -1 offset). */
@inline function bsum256(bsums: usize, b: i32): i32 {
  const bs = bsums + (<usize>b << 6);
  let s = 0;
  for (let j = 0; j < 16; j++) s += load<i32>(bs + (<usize>j << 2));
  return s;
}

/** TQ2_0 x Q8_K: sum over 2-bit codes c of (c - 1) * a, per 256 with the f16 scale. */
function dot_tq2_0(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
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
@inline function trits16(q: v128, pow: i32): v128 {
  const p = i16x8.splat(<i16>pow), ff = i16x8.splat(0xff), three = i16x8.splat(3);
  const lo = i16x8.shr_u(i16x8.mul(v128.and(i16x8.mul(i16x8.extend_low_i8x16_u(q), p), ff), three), 8);
  const hi = i16x8.shr_u(i16x8.mul(v128.and(i16x8.mul(i16x8.extend_high_i8x16_u(q), p), ff), three), 8);
  return i8x16.narrow_i16x8_u(lo, hi);
}

@inline function trit(byte: i32, pow: i32): i32 {
  return (((byte * pow) & 0xff) * 3) >> 8;
}

/** TQ1_0 x Q8_K: 5 trits per byte in qs[0..47], 4 per byte in qh[0..3] (llama.cpp's layout). */
function dot_tq1_0(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
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

function dot_q4_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
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

function dot_q6_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
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

function dot_q5_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
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

function dot_q2_k(w: usize, a: usize, ad: usize, bsums: usize, nb: i32): f32 {
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

function dot_q3_k(w: usize, a: usize, ad: usize, nb: i32): f32 {
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

// ------------------------------------------------------------------ Q4_0 / Q8_0 fast paths
// Decode (one token): four rows at a time share each activation load. Prefill: each weight
// block is unpacked once and used for up to four tokens. Partial sums stay in vector lanes and
// are reduced once per row; per block only the scale multiply is scalar.

/** i32x4 partial dot of one Q4_0 block (qs at q) with 32 int8 activations; suma = sum of them. */
@inline function q4_0_block(q: usize, x: usize, suma: i32): v128 {
  const qv = v128.load(q);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // Unsigned nibbles fit the 7-bit operand; (q - 8) . a = q . a - 8 sum(a): 2 sum(a) per lane.
    const acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x), v128.and(qv, i8x16.splat(0x0f)), i32x4.splat(0));
    return i32x4.add(i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 16), i8x16.shr_u(qv, 4), acc), i32x4.splat(-2 * suma));
  }
  const lo = i8x16.sub(v128.and(qv, i8x16.splat(0x0f)), i8x16.splat(8));
  const hi = i8x16.sub(i8x16.shr_u(qv, 4), i8x16.splat(8));
  return dot32_small(lo, hi, v128.load(x), v128.load(x, 16));
}

/** i32x4 partial dot of one Q5_0 block (qh at q, qs at q + 4) with 32 int8 activations. */
@inline function q5_0_block(q: usize, x: usize): v128 {
  const qh = load<u32>(q);
  const qv = v128.load(q + 4);
  const lo = i8x16.sub(v128.or(v128.and(qv, i8x16.splat(0x0f)), spreadBits(qh)), i8x16.splat(16));
  const hi = i8x16.sub(v128.or(i8x16.shr_u(qv, 4), spreadBits(qh >> 16)), i8x16.splat(16));
  return dot32_small(lo, hi, v128.load(x), v128.load(x, 16));
}

/** Q4_0 (type 2, 18-byte blocks) or Q5_0 (type 6, 22-byte blocks): the block's partial dot. */
@inline function small_block(type: i32, blk: usize, x: usize, suma: i32): v128 {
  return type == 2 ? q4_0_block(blk + 2, x, suma) : q5_0_block(blk + 2, x);
}

@inline function q8_0_block(q: usize, x: usize): v128 {
  return dot32_i8(v128.load(q), v128.load(q, 16), v128.load(x), v128.load(x, 16));
}

@inline function fma4(acc: v128, p: v128, d: f32): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(p), f32x4.splat(d)));
}

function matmul_small(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const bsz: usize = type == 2 ? 18 : 22;
  if (nTok == 1) {
    let r = r0;
    for (; r + 4 <= r1; r += 4) {
      const w0 = w + <usize>r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const x = act + (<usize>b << 5), bo = <usize>b * bsz, bi = <usize>b << 2;
        const da = load<f32>(ad + bi), sa = load<i32>(asum + bi);
        a0 = fma4(a0, small_block(type, w0 + bo, x, sa), f16ToF32(load<u16>(w0 + bo)) * da);
        a1 = fma4(a1, small_block(type, w1 + bo, x, sa), f16ToF32(load<u16>(w1 + bo)) * da);
        a2 = fma4(a2, small_block(type, w2 + bo, x, sa), f16ToF32(load<u16>(w2 + bo)) * da);
        a3 = fma4(a3, small_block(type, w3 + bo, x, sa), f16ToF32(load<u16>(w3 + bo)) * da);
      }
      store<f32>(y + (<usize>r << 2), hsum(a0));
      store<f32>(y + (<usize>(r + 1) << 2), hsum(a1));
      store<f32>(y + (<usize>(r + 2) << 2), hsum(a2));
      store<f32>(y + (<usize>(r + 3) << 2), hsum(a3));
    }
    for (; r < r1; r++) {
      const w0 = w + <usize>r * rowBytes;
      let a0 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const bo = <usize>b * bsz, bi = <usize>b << 2;
        a0 = fma4(a0, small_block(type, w0 + bo, act + (<usize>b << 5), load<i32>(asum + bi)), f16ToF32(load<u16>(w0 + bo)) * load<f32>(ad + bi));
      }
      store<f32>(y + (<usize>r << 2), hsum(a0));
    }
    return;
  }
  const tStride = <usize>cols, dStride = <usize>nb << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = w + <usize>r * rowBytes;
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      const x0 = act + <usize>t * tStride, d0 = ad + <usize>t * dStride, s0 = asum + <usize>t * dStride;
      for (let b = 0; b < nb; b++) {
        const bo = <usize>b * bsz, bi = <usize>b << 2, xo = <usize>b << 5;
        const dw = f16ToF32(load<u16>(w0 + bo));
        const q = w0 + bo;
        a0 = fma4(a0, small_block(type, q, x0 + xo, load<i32>(s0 + bi)), dw * load<f32>(d0 + bi));
        a1 = fma4(a1, small_block(type, q, x0 + tStride + xo, load<i32>(s0 + dStride + bi)), dw * load<f32>(d0 + dStride + bi));
        a2 = fma4(a2, small_block(type, q, x0 + 2 * tStride + xo, load<i32>(s0 + 2 * dStride + bi)), dw * load<f32>(d0 + 2 * dStride + bi));
        a3 = fma4(a3, small_block(type, q, x0 + 3 * tStride + xo, load<i32>(s0 + 3 * dStride + bi)), dw * load<f32>(d0 + 3 * dStride + bi));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), hsum(a0));
      store<f32>(y + ((<usize>(t + 1) * <usize>rows + <usize>r) << 2), hsum(a1));
      store<f32>(y + ((<usize>(t + 2) * <usize>rows + <usize>r) << 2), hsum(a2));
      store<f32>(y + ((<usize>(t + 3) * <usize>rows + <usize>r) << 2), hsum(a3));
    }
    for (; t < nTok; t++) {
      let a0 = f32x4.splat(0);
      const x0 = act + <usize>t * tStride, d0 = ad + <usize>t * dStride, s0 = asum + <usize>t * dStride;
      for (let b = 0; b < nb; b++) {
        const bo = <usize>b * bsz, bi = <usize>b << 2;
        a0 = fma4(a0, small_block(type, w0 + bo, x0 + (<usize>b << 5), load<i32>(s0 + bi)), f16ToF32(load<u16>(w0 + bo)) * load<f32>(d0 + bi));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), hsum(a0));
    }
  }
}

function matmul_q8_0(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  if (nTok == 1) {
    let r = r0;
    for (; r + 4 <= r1; r += 4) {
      const w0 = w + <usize>r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const x = act + (<usize>b << 5), bo = <usize>b * 34;
        const da = load<f32>(ad + (<usize>b << 2));
        const xa = v128.load(x), xb = v128.load(x, 16);
        a0 = fma4(a0, dot32_i8(v128.load(w0 + bo + 2), v128.load(w0 + bo + 18), xa, xb), f16ToF32(load<u16>(w0 + bo)) * da);
        a1 = fma4(a1, dot32_i8(v128.load(w1 + bo + 2), v128.load(w1 + bo + 18), xa, xb), f16ToF32(load<u16>(w1 + bo)) * da);
        a2 = fma4(a2, dot32_i8(v128.load(w2 + bo + 2), v128.load(w2 + bo + 18), xa, xb), f16ToF32(load<u16>(w2 + bo)) * da);
        a3 = fma4(a3, dot32_i8(v128.load(w3 + bo + 2), v128.load(w3 + bo + 18), xa, xb), f16ToF32(load<u16>(w3 + bo)) * da);
      }
      store<f32>(y + (<usize>r << 2), hsum(a0));
      store<f32>(y + (<usize>(r + 1) << 2), hsum(a1));
      store<f32>(y + (<usize>(r + 2) << 2), hsum(a2));
      store<f32>(y + (<usize>(r + 3) << 2), hsum(a3));
    }
    for (; r < r1; r++) {
      const w0 = w + <usize>r * rowBytes;
      let a0 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const bo = <usize>b * 34;
        a0 = fma4(a0, q8_0_block(w0 + bo + 2, act + (<usize>b << 5)), f16ToF32(load<u16>(w0 + bo)) * load<f32>(ad + (<usize>b << 2)));
      }
      store<f32>(y + (<usize>r << 2), hsum(a0));
    }
    return;
  }
  const tStride = <usize>cols, dStride = <usize>nb << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = w + <usize>r * rowBytes;
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      const x0 = act + <usize>t * tStride, d0 = ad + <usize>t * dStride;
      for (let b = 0; b < nb; b++) {
        const bo = <usize>b * 34, bi = <usize>b << 2, xo = <usize>b << 5;
        const dw = f16ToF32(load<u16>(w0 + bo));
        const q0 = v128.load(w0 + bo + 2), q1 = v128.load(w0 + bo + 18);
        const e0 = i16x8.extend_low_i8x16_s(q0), e1 = i16x8.extend_high_i8x16_s(q0), e2 = i16x8.extend_low_i8x16_s(q1), e3 = i16x8.extend_high_i8x16_s(q1);
        a0 = fma4(a0, dot32_ext(e0, e1, e2, e3, x0 + xo), dw * load<f32>(d0 + bi));
        a1 = fma4(a1, dot32_ext(e0, e1, e2, e3, x0 + tStride + xo), dw * load<f32>(d0 + dStride + bi));
        a2 = fma4(a2, dot32_ext(e0, e1, e2, e3, x0 + 2 * tStride + xo), dw * load<f32>(d0 + 2 * dStride + bi));
        a3 = fma4(a3, dot32_ext(e0, e1, e2, e3, x0 + 3 * tStride + xo), dw * load<f32>(d0 + 3 * dStride + bi));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), hsum(a0));
      store<f32>(y + ((<usize>(t + 1) * <usize>rows + <usize>r) << 2), hsum(a1));
      store<f32>(y + ((<usize>(t + 2) * <usize>rows + <usize>r) << 2), hsum(a2));
      store<f32>(y + ((<usize>(t + 3) * <usize>rows + <usize>r) << 2), hsum(a3));
    }
    for (; t < nTok; t++) {
      let a0 = f32x4.splat(0);
      const x0 = act + <usize>t * tStride, d0 = ad + <usize>t * dStride;
      for (let b = 0; b < nb; b++) {
        const bo = <usize>b * 34;
        a0 = fma4(a0, q8_0_block(w0 + bo + 2, x0 + (<usize>b << 5)), f16ToF32(load<u16>(w0 + bo)) * load<f32>(d0 + (<usize>b << 2)));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), hsum(a0));
    }
  }
}

/** 32 pre-extended i16 weights (four v128) against 32 int8 activations at x. */
@inline function dot32_ext(e0: v128, e1: v128, e2: v128, e3: v128, x: usize): v128 {
  const a = v128.load(x), b = v128.load(x, 16);
  const p0 = i32x4.dot_i16x8_s(e0, i16x8.extend_low_i8x16_s(a));
  const p1 = i32x4.dot_i16x8_s(e1, i16x8.extend_high_i8x16_s(a));
  const p2 = i32x4.dot_i16x8_s(e2, i16x8.extend_low_i8x16_s(b));
  const p3 = i32x4.dot_i16x8_s(e3, i16x8.extend_high_i8x16_s(b));
  return i32x4.add(i32x4.add(p0, p1), i32x4.add(p2, p3));
}

// ------------------------------------------------------------------ matrix products

/**
 * y[t * rows + r] = W[r] . act[t] for rows r0..r1 and tokens 0..nTok. For float formats act holds
 * f32 rows (stride cols); for Q formats act holds int8 quants (stride cols) with per-block scales
 * ad / sums as (stride cols/32). Returns 0, or 1 for a format this build does not handle.
 */
export function matmul(type: i32, w: usize, rowBytes: i32, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, as: usize, asum: usize, y: usize, nTok: i32): i32 {
  if (ASC_FEATURE_SIMD) {
    if (type == 2 || type == 6) { matmul_small(type, w, <usize>rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok); return 0; }
    if (type == 8) { matmul_q8_0(w, <usize>rowBytes, cols, rows, r0, r1, act, ad, y, nTok); return 0; }
  }
  const nb = cols >> 5;
  if ((type >= 10 && type <= 14) || type == 34 || type == 35) {
    // K-quants: act holds Q8_K quants, ad one f32 per 256, asum the i32 sums of every 16.
    const nbk = cols >> 8;
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * <usize>rowBytes;
      for (let t = 0; t < nTok; t++) {
        const ao = act + <usize>t * <usize>cols, dof = ad + ((<usize>t * <usize>nbk) << 2);
        const bsum = asum + ((<usize>t * <usize>nbk) << 6);
        let v: f32 = 0;
        switch (type) {
          case 10: v = dot_q2_k(wr, ao, dof, bsum, nbk); break;
          case 11: v = dot_q3_k(wr, ao, dof, nbk); break;
          case 12: v = dot_q4_k(wr, ao, dof, bsum, nbk); break;
          case 13: v = dot_q5_k(wr, ao, dof, bsum, nbk); break;
          case 34: v = dot_tq1_0(wr, ao, dof, bsum, nbk); break;
          case 35: v = dot_tq2_0(wr, ao, dof, bsum, nbk); break;
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
        case 0: v = dot_f32(wr, act + (ao << 2), cols); break;
        case 1: v = dot_f16(wr, act + (ao << 2), cols); break;
        case 2: v = dot_q4_0(wr, act + ao, ad + bo, as + bo, nb); break;
        case 3: v = dot_q4_1(wr, act + ao, ad + bo, as + bo, nb); break;
        case 6: v = dot_q5(wr, act + ao, ad + bo, as + bo, nb, false); break;
        case 7: v = dot_q5(wr, act + ao, ad + bo, as + bo, nb, true); break;
        case 8: v = dot_q8_0(wr, act + ao, ad + bo, nb); break;
        default: return 1;
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), v);
    }
  }
  return 0;
}

// ------------------------------------------------------------------ elementwise and normalization

export function rms_norm(x: usize, wt: usize, eps: f32, n: i32, nTok: i32, out: usize): void {
  for (let t = 0; t < nTok; t++) {
    const xo = x + ((<usize>t * <usize>n) << 2), oo = out + ((<usize>t * <usize>n) << 2);
    let ss: f64 = 0;
    for (let i = 0; i < n; i++) { const v = <f64>load<f32>(xo + (<usize>i << 2)); ss += v * v; }
    const scale = <f32>(1 / Math.sqrt(<f64><f32>(ss / n + eps)));
    for (let i = 0; i < n; i++) store<f32>(oo + (<usize>i << 2), (load<f32>(xo + (<usize>i << 2)) * scale) * load<f32>(wt + (<usize>i << 2)));
  }
}

export function swiglu(g: usize, u: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    const v = load<f32>(g + p);
    store<f32>(g + p, <f32>(<f64>v / (1 + Math.exp(-<f64>v))) * load<f32>(u + p));
  }
}

export function add_scaled(x: usize, y: usize, scale: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(scale);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(x + p, f32x4.add(v128.load(x + p), f32x4.mul(v128.load(y + p), s)));
    }
  }
  for (; i < n; i++) { const p = <usize>i << 2; store<f32>(x + p, load<f32>(x + p) + load<f32>(y + p) * scale); }
}

/**
 * Rotate heads in place. cs holds cos/sin pairs per (token, pair): [(nTok, nRot/2, 2)], computed by
 * the caller (RoPE scaling variants live in one place, the TypeScript side).
 */
export function rope(x: usize, nTok: i32, nHead: i32, headDim: i32, nRot: i32, neox: i32, cs: usize): void {
  const half = nRot >> 1;
  for (let t = 0; t < nTok; t++) {
    for (let h = 0; h < nHead; h++) {
      const base = x + ((<usize>(t * nHead + h) * <usize>headDim) << 2);
      for (let i = 0; i < half; i++) {
        const c = load<f32>(cs + ((<usize>(t * half + i) * 2) << 2));
        const s = load<f32>(cs + ((<usize>(t * half + i) * 2 + 1) << 2));
        const i0: i32 = neox ? i : 2 * i;
        const i1: i32 = neox ? i + half : 2 * i + 1;
        const p0 = base + (<usize>i0 << 2);
        const p1 = base + (<usize>i1 << 2);
        const a = load<f32>(p0), b = load<f32>(p1);
        store<f32>(p0, a * c - b * s);
        store<f32>(p1, a * s + b * c);
      }
    }
  }
}

/**
 * Causal attention for heads h0..h1 (see the TypeScript twin for layouts). f16 = 1 rounds as
 * llama.cpp's flash-attention kernel over an f16 cache (Q in f16, the V accumulator in f16).
 * scratch: headDim + headDimV floats per call.
 */
export function attention(q: usize, k: usize, v: usize, nTok: i32, pos0: i32, nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32, scale: f32, f16: i32, out: usize, h0: i32, h1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
  const qh = scratch, acc = scratch + (<usize>headDim << 2);
  for (let t = 0; t < nTok; t++) {
    const last = pos0 + t;
    for (let h = h0; h < h1; h++) {
      const kvh = h / group;
      const qo = q + ((<usize>(t * nHead + h) * <usize>headDim) << 2);
      for (let d = 0; d < headDim; d++) {
        const val = load<f32>(qo + (<usize>d << 2));
        store<f32>(qh + (<usize>d << 2), f16 ? roundF16(val) : val);
      }
      for (let d = 0; d < headDimV; d++) store<f32>(acc + (<usize>d << 2), 0);
      let M: f32 = -Infinity, S: f32 = 0;
      for (let j = 0; j <= last; j++) {
        const ko = k + ((<usize>(j * kStride + kvh * headDim)) << 2);
        let dot: f32 = 0;
        let d = 0;
        if (ASC_FEATURE_SIMD) {
          let a4 = f32x4.splat(0);
          for (; d + 4 <= headDim; d += 4) a4 = f32x4.add(a4, f32x4.mul(v128.load(qh + (<usize>d << 2)), v128.load(ko + (<usize>d << 2))));
          dot = hsum(a4);
        }
        for (; d < headDim; d++) dot += load<f32>(qh + (<usize>d << 2)) * load<f32>(ko + (<usize>d << 2));
        const sc: f32 = dot * scale;
        let ms: f32 = 1, vs: f32 = 1;
        if (sc > M) {
          const old = M;
          M = sc;
          ms = <f32>Math.exp(<f64>(old - M));
          let e = 0;
          if (ASC_FEATURE_SIMD && f16) {
            const m4 = f32x4.splat(ms);
            for (; e + 4 <= headDimV; e += 4) {
              const p = acc + (<usize>e << 2);
              v128.store(p, roundF16x4(f32x4.mul(v128.load(p), m4)));
            }
          }
          for (; e < headDimV; e++) {
            const p = acc + (<usize>e << 2);
            const val = load<f32>(p) * ms;
            store<f32>(p, f16 ? roundF16(val) : val);
          }
        } else {
          vs = <f32>Math.exp(<f64>(sc - M));
        }
        const vo = v + ((<usize>(j * vStride + kvh * headDimV)) << 2);
        if (f16) {
          let e = 0;
          if (ASC_FEATURE_SIMD) {
            const v4 = f32x4.splat(vs);
            for (; e + 4 <= headDimV; e += 4) {
              const p = acc + (<usize>e << 2);
              v128.store(p, roundF16x4(f32x4.add(v128.load(p), f32x4.mul(v128.load(vo + (<usize>e << 2)), v4))));
            }
          }
          for (; e < headDimV; e++) {
            const p = acc + (<usize>e << 2);
            store<f32>(p, roundF16(load<f32>(p) + load<f32>(vo + (<usize>e << 2)) * vs));
          }
        } else {
          let e = 0;
          if (ASC_FEATURE_SIMD) {
            const vv = f32x4.splat(vs);
            for (; e + 4 <= headDimV; e += 4) {
              const p = acc + (<usize>e << 2);
              v128.store(p, f32x4.add(v128.load(p), f32x4.mul(v128.load(vo + (<usize>e << 2)), vv)));
            }
          }
          for (; e < headDimV; e++) {
            const p = acc + (<usize>e << 2);
            store<f32>(p, load<f32>(p) + load<f32>(vo + (<usize>e << 2)) * vs);
          }
        }
        S = S * ms + vs;
      }
      const inv: f32 = S == 0 ? 0 : <f32>1 / S;
      const oo = out + ((<usize>(t * nHead + h) * <usize>headDimV) << 2);
      for (let d = 0; d < headDimV; d++) store<f32>(oo + (<usize>d << 2), load<f32>(acc + (<usize>d << 2)) * inv);
    }
  }
}

// ------------------------------------------------------------------ embedding lookup

/**
 * out[t] = row ids[t] of the table, dequantized (F32, F16, Q4_0, Q5_0, Q8_0). Returns 1 for other
 * types (the caller's reference twin handles them). ids are i32, checked by the caller.
 */
export function get_rows(type: i32, table: usize, rowBytes: i32, cols: i32, ids: usize, nTok: i32, out: usize): i32 {
  if (type != 0 && type != 1 && type != 2 && type != 6 && type != 8) return 1;
  for (let t = 0; t < nTok; t++) {
    const row = table + <usize>load<i32>(ids + (<usize>t << 2)) * <usize>rowBytes;
    const y = out + ((<usize>t * <usize>cols) << 2);
    if (type == 0) { memory.copy(y, row, <usize>cols << 2); continue; }
    if (type == 1) { for (let i = 0; i < cols; i++) store<f32>(y + (<usize>i << 2), f16ToF32(load<u16>(row + (<usize>i << 1)))); continue; }
    for (let b = 0; b < (cols >> 5); b++) {
      const yb = y + (<usize>b << 7);
      if (type == 8) {
        const o = row + <usize>b * 34, d = f16ToF32(load<u16>(o));
        for (let j = 0; j < 32; j++) store<f32>(yb + (<usize>j << 2), <f32>load<i8>(o + 2 + j) * d);
      } else if (type == 2) {
        const o = row + <usize>b * 18, d = f16ToF32(load<u16>(o));
        for (let j = 0; j < 16; j++) {
          const q = <i32>load<u8>(o + 2 + j);
          store<f32>(yb + (<usize>j << 2), <f32>((q & 15) - 8) * d);
          store<f32>(yb + (<usize>(j + 16) << 2), <f32>((q >> 4) - 8) * d);
        }
      } else {
        const o = row + <usize>b * 22, d = f16ToF32(load<u16>(o)), qh = load<u32>(o + 2);
        for (let j = 0; j < 16; j++) {
          const q = <i32>load<u8>(o + 6 + j);
          store<f32>(yb + (<usize>j << 2), <f32>(((q & 15) | <i32>(((qh >> j) << 4) & 16)) - 16) * d);
          store<f32>(yb + (<usize>(j + 16) << 2), <f32>(((q >> 4) | <i32>((qh >> (j + 12)) & 16)) - 16) * d);
        }
      }
    }
  }
  return 0;
}

// ------------------------------------------------------------------ table-lookup (T-MAC) kernels
// Layout, tables and the f32 epilogue are described in src/kernels/lut-layout.ts and
// src/kernels/ref/lut.ts (the twin these must match exactly). One i8x16.swizzle looks up 16 rows'
// 4-bit indices in one slice's 16-entry table; int16 sums are widened to int32 every 256 elements,
// before they can overflow.

/** int8 tables of nTok rows of cols floats: 16 bytes per 4 activations; per group h = ts/2 and A. */
export function lut_tables(x: usize, cols: i32, nTok: i32, group: i32, tbl: usize, th: usize, tA: usize): void {
  const nG = cols / group;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const e0 = t * cols + g * group;
      const base = x + (<usize>e0 << 2);
      let mx: f32 = 0;
      for (let s = 0; s < group; s += 4) {
        const p = base + (<usize>s << 2);
        const m: f32 = ((abs<f32>(load<f32>(p)) + abs<f32>(load<f32>(p, 4))) + abs<f32>(load<f32>(p, 8))) + abs<f32>(load<f32>(p, 12));
        if (m > mx) mx = m;
      }
      const ts: f32 = mx / <f32>127;
      const inv: f32 = mx > 0 ? <f32>127 / mx : <f32>0;
      let o = tbl + (<usize>e0 << 2);
      for (let s = 0; s < group; s += 4) {
        table8(base + (<usize>s << 2), inv, o);
        o += 16;
      }
      let sum: f32 = 0;
      for (let i = 0; i < group; i++) sum += load<f32>(base + (<usize>i << 2));
      const gi = <usize>(t * nG + g) << 2;
      store<f32>(th + gi, ts * <f32>0.5);
      store<f32>(tA + gi, sum);
    }
  }
}

/** The 16 signed sums of the 4 floats at p, quantized by inv: 8 computed, 8 mirrored (T[15-p] = -T[p]). */
@inline function table8(p: usize, inv: f32, o: usize): void {
  if (ASC_FEATURE_SIMD) {
    const a0 = f32x4.splat(load<f32>(p)), a1 = f32x4.splat(load<f32>(p, 4)), a2 = load<f32>(p, 8), a3 = f32x4.splat(load<f32>(p, 12));
    // Lane k of the low half is entry k, of the high half entry 4 + k: bit 0 signs a0, bit 1 a1, bit 2 a2.
    const s0 = f32x4(-1, 1, -1, 1), s1 = f32x4(-1, -1, 1, 1);
    const ab = f32x4.add(f32x4.mul(a0, s0), f32x4.mul(a1, s1));
    const lo = f32x4.sub(f32x4.add(ab, f32x4.splat(-a2)), a3);
    const hi = f32x4.sub(f32x4.add(ab, f32x4.splat(a2)), a3);
    const iv = f32x4.splat(inv), lim = i32x4.splat(127), nlim = i32x4.splat(-127);
    const qlo = i32x4.max_s(nlim, i32x4.min_s(lim, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(lo, iv)))));
    const qhi = i32x4.max_s(nlim, i32x4.min_s(lim, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(hi, iv)))));
    const q = i16x8.narrow_i32x4_s(qlo, qhi);
    const m = i16x8.neg(q);
    const rev = i8x16.shuffle(m, m, 14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1);
    v128.store(o, i8x16.narrow_i16x8_s(q, rev));
  } else {
    const a0 = load<f32>(p), a1 = load<f32>(p, 4), a2 = load<f32>(p, 8), a3 = load<f32>(p, 12);
    for (let k = 0; k < 8; k++) {
      const v: f32 = (((k & 1) ? a0 : -a0) + ((k & 2) ? a1 : -a1) + ((k & 4) ? a2 : -a2)) - a3;
      let q = <i32>nearest<f32>(v * inv);
      if (q > 127) q = 127;
      if (q < -127) q = -127;
      store<i8>(o + k, <i8>q);
      store<i8>(o + 15 - k, <i8>-q);
    }
  }
}

/** int8 activations per group of any size for exact tables: d = max|x| / 127, q = nearest(x * 127/max). */
export function lut_quantize_acts(x: usize, cols: i32, nTok: i32, group: i32, qs: usize, d: usize): void {
  const nG = cols / group;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const e0 = t * cols + g * group;
      let amax: f32 = 0;
      for (let i = 0; i < group; i++) amax = max<f32>(amax, abs<f32>(load<f32>(x + (<usize>(e0 + i) << 2))));
      const id: f32 = amax > 0 ? <f32>127 / amax : <f32>0;
      for (let i = 0; i < group; i++) store<i8>(qs + <usize>(e0 + i), <i8><i32>nearest<f32>(load<f32>(x + (<usize>(e0 + i) << 2)) * id));
      store<f32>(d + (<usize>(t * nG + g) << 2), amax / <f32>127);
    }
  }
}

/** Exact tables from int8 activations qs with one scale d per group: int16 entries, low then high bytes. */
export function lut_tables_exact(qs: usize, d: usize, cols: i32, nTok: i32, group: i32, tbl: usize, th: usize, tA: usize): void {
  const nG = cols / group;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const e0 = t * cols + g * group;
      let sum = 0;
      for (let s = 0; s < group; s += 4) {
        const p = qs + <usize>(e0 + s);
        const a0 = <i32>load<i8>(p), a1 = <i32>load<i8>(p, 1), a2 = <i32>load<i8>(p, 2), a3 = <i32>load<i8>(p, 3);
        const o = tbl + (<usize>(e0 + s) << 3);
        for (let k = 0; k < 8; k++) {
          const v = ((k & 1) ? a0 : -a0) + ((k & 2) ? a1 : -a1) + ((k & 4) ? a2 : -a2) - a3;
          store<u8>(o + k, <u8>(v & 0xff)); store<u8>(o + 16 + k, <u8>((v >> 8) & 0xff));
          store<u8>(o + 15 - k, <u8>(-v & 0xff)); store<u8>(o + 31 - k, <u8>((-v >> 8) & 0xff));
        }
        sum += a0 + a1 + a2 + a3;
      }
      const gi = <usize>(t * nG + g) << 2;
      const dg = load<f32>(d + gi);
      store<f32>(th + gi, dg * <f32>0.5);
      store<f32>(tA + gi, dg * <f32>sum);
    }
  }
}

/** Four f16 values (in the low 16 bits of u32 lanes) as f32, as f16ToF32 does one. */
@inline function halfx4(h: v128): v128 {
  const v = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(v, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** acc += s * (L * h + cA) (+ o * A) for four rows: the twin of lutEpilogue. */
@inline function lutEpi(acc: v128, L: v128, s: v128, hv: v128, cA: v128, offKind: i32, o: v128, Av: v128): v128 {
  acc = f32x4.add(acc, f32x4.mul(s, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(L), hv), cA)));
  if (offKind == 1) acc = f32x4.add(acc, f32x4.mul(o, Av));
  else if (offKind == 2) acc = f32x4.add(acc, f32x4.mul(f32x4.neg(f32x4.mul(s, o)), Av));
  return acc;
}

/** One 16-row tile against one token's tables, B-bit codes, int8 (exact = 0) or int16 (exact = 1) tables. */
@inline function lutTile(B: i32, exact: i32, tp: usize, groups: i32, group: i32, groupBytes: i32, codeOff: i32, offKind: i32, zc: f32, tb: usize, th: usize, tA: usize, out: usize, n: i32): void {
  const zero = i32x4.splat(0), mask = i8x16.splat(0x0f);
  let f0 = zero, f1 = zero, f2 = zero, f3 = zero;
  for (let g = 0; g < groups; g++) {
    const go = tp + <usize>g * <usize>groupBytes;
    let cp = go + <usize>codeOff;
    let s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    for (let left = group; left > 0; left -= 256) {
      const chunk = left < 256 ? left : 256;
      // Per plane j: a = rows 0..7, b = rows 8..15 (int8 tables); exact: u/v the low bytes, w/x the high.
      let a0 = zero, b0 = zero, a1 = zero, b1 = zero, a2 = zero, b2 = zero, a3 = zero, b3 = zero;
      let w0 = zero, x0 = zero, w1 = zero, x1 = zero, w2 = zero, x2 = zero, w3 = zero, x3 = zero;
      // Planes unrolled by hand (B is a constant after inlining): accumulators stay in registers.
      for (let e = 0; e < chunk; e += 8) {
        if (exact == 0) {
          const T0 = v128.load(tb), T1 = v128.load(tb, 16);
          tb += 32;
          let v = v128.load(cp);
          let r0 = i8x16.swizzle(T0, v128.and(v, mask)), r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
          a0 = i16x8.add(a0, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
          b0 = i16x8.add(b0, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          if (B > 1) {
            v = v128.load(cp, 16);
            r0 = i8x16.swizzle(T0, v128.and(v, mask)); r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
            a1 = i16x8.add(a1, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
            b1 = i16x8.add(b1, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          }
          if (B > 2) {
            v = v128.load(cp, 32);
            r0 = i8x16.swizzle(T0, v128.and(v, mask)); r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
            a2 = i16x8.add(a2, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
            b2 = i16x8.add(b2, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          }
          if (B > 3) {
            v = v128.load(cp, 48);
            r0 = i8x16.swizzle(T0, v128.and(v, mask)); r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
            a3 = i16x8.add(a3, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
            b3 = i16x8.add(b3, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          }
        } else {
          const L0 = v128.load(tb), H0 = v128.load(tb, 16), L1 = v128.load(tb, 32), H1 = v128.load(tb, 48);
          tb += 64;
          for (let j = 0; j < B; j++) {
            const v = v128.load(cp + (<usize>j << 4));
            const i0 = v128.and(v, mask), i1 = v128.and(i16x8.shr_u(v, 4), mask);
            const l0 = i8x16.swizzle(L0, i0), l1 = i8x16.swizzle(L1, i1), h0 = i8x16.swizzle(H0, i0), h1 = i8x16.swizzle(H1, i1);
            const ua = i16x8.add(i16x8.extend_low_i8x16_u(l0), i16x8.extend_low_i8x16_u(l1));
            const ub = i16x8.add(i16x8.extend_high_i8x16_u(l0), i16x8.extend_high_i8x16_u(l1));
            const ha = i16x8.add(i16x8.extend_low_i8x16_s(h0), i16x8.extend_low_i8x16_s(h1));
            const hb = i16x8.add(i16x8.extend_high_i8x16_s(h0), i16x8.extend_high_i8x16_s(h1));
            if (j == 0) { a0 = i16x8.add(a0, ua); b0 = i16x8.add(b0, ub); w0 = i16x8.add(w0, ha); x0 = i16x8.add(x0, hb); }
            else if (j == 1) { a1 = i16x8.add(a1, ua); b1 = i16x8.add(b1, ub); w1 = i16x8.add(w1, ha); x1 = i16x8.add(x1, hb); }
            else if (j == 2) { a2 = i16x8.add(a2, ua); b2 = i16x8.add(b2, ub); w2 = i16x8.add(w2, ha); x2 = i16x8.add(x2, hb); }
            else { a3 = i16x8.add(a3, ua); b3 = i16x8.add(b3, ub); w3 = i16x8.add(w3, ha); x3 = i16x8.add(x3, hb); }
          }
        }
        cp += <usize>(B << 4);
      }
      // Widen to int32 and weight plane j by 2^j (exact: low bytes unsigned, high bytes * 256).
      if (exact == 0) {
        s0 = i32x4.add(s0, i32x4.extend_low_i16x8_s(a0)); s1 = i32x4.add(s1, i32x4.extend_high_i16x8_s(a0));
        s2 = i32x4.add(s2, i32x4.extend_low_i16x8_s(b0)); s3 = i32x4.add(s3, i32x4.extend_high_i16x8_s(b0));
        if (B > 1) {
          s0 = i32x4.add(s0, i32x4.shl(i32x4.extend_low_i16x8_s(a1), 1)); s1 = i32x4.add(s1, i32x4.shl(i32x4.extend_high_i16x8_s(a1), 1));
          s2 = i32x4.add(s2, i32x4.shl(i32x4.extend_low_i16x8_s(b1), 1)); s3 = i32x4.add(s3, i32x4.shl(i32x4.extend_high_i16x8_s(b1), 1));
        }
        if (B > 2) {
          s0 = i32x4.add(s0, i32x4.shl(i32x4.extend_low_i16x8_s(a2), 2)); s1 = i32x4.add(s1, i32x4.shl(i32x4.extend_high_i16x8_s(a2), 2));
          s2 = i32x4.add(s2, i32x4.shl(i32x4.extend_low_i16x8_s(b2), 2)); s3 = i32x4.add(s3, i32x4.shl(i32x4.extend_high_i16x8_s(b2), 2));
        }
        if (B > 3) {
          s0 = i32x4.add(s0, i32x4.shl(i32x4.extend_low_i16x8_s(a3), 3)); s1 = i32x4.add(s1, i32x4.shl(i32x4.extend_high_i16x8_s(a3), 3));
          s2 = i32x4.add(s2, i32x4.shl(i32x4.extend_low_i16x8_s(b3), 3)); s3 = i32x4.add(s3, i32x4.shl(i32x4.extend_high_i16x8_s(b3), 3));
        }
      } else {
        for (let j = 0; j < B; j++) {
          let a = a0, b = b0, w = w0, x = x0;
          if (j == 1) { a = a1; b = b1; w = w1; x = x1; } else if (j == 2) { a = a2; b = b2; w = w2; x = x2; } else if (j == 3) { a = a3; b = b3; w = w3; x = x3; }
          const e0 = i32x4.add(i32x4.extend_low_i16x8_u(a), i32x4.shl(i32x4.extend_low_i16x8_s(w), 8));
          const e1 = i32x4.add(i32x4.extend_high_i16x8_u(a), i32x4.shl(i32x4.extend_high_i16x8_s(w), 8));
          const e2 = i32x4.add(i32x4.extend_low_i16x8_u(b), i32x4.shl(i32x4.extend_low_i16x8_s(x), 8));
          const e3 = i32x4.add(i32x4.extend_high_i16x8_u(b), i32x4.shl(i32x4.extend_high_i16x8_s(x), 8));
          s0 = i32x4.add(s0, i32x4.shl(e0, j)); s1 = i32x4.add(s1, i32x4.shl(e1, j));
          s2 = i32x4.add(s2, i32x4.shl(e2, j)); s3 = i32x4.add(s3, i32x4.shl(e3, j));
        }
      }
    }
    const gi = <usize>g << 2;
    const A = load<f32>(tA + gi);
    const hv = f32x4.splat(load<f32>(th + gi)), cA = f32x4.splat(zc * A), Av = f32x4.splat(A);
    const sv0 = v128.load(go), sv1 = v128.load(go, 16);
    let o0 = zero, o1 = zero, o2 = zero, o3 = zero;
    if (offKind == 1) {
      const ov0 = v128.load(go, 32), ov1 = v128.load(go, 48);
      o0 = halfx4(i32x4.extend_low_i16x8_u(ov0)); o1 = halfx4(i32x4.extend_high_i16x8_u(ov0));
      o2 = halfx4(i32x4.extend_low_i16x8_u(ov1)); o3 = halfx4(i32x4.extend_high_i16x8_u(ov1));
    } else if (offKind == 2) {
      const z = v128.load(go, 32);
      const zl = i16x8.extend_low_i8x16_u(z), zh = i16x8.extend_high_i8x16_u(z);
      o0 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(zl)); o1 = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(zl));
      o2 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(zh)); o3 = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(zh));
    }
    f0 = lutEpi(f0, s0, halfx4(i32x4.extend_low_i16x8_u(sv0)), hv, cA, offKind, o0, Av);
    f1 = lutEpi(f1, s1, halfx4(i32x4.extend_high_i16x8_u(sv0)), hv, cA, offKind, o1, Av);
    f2 = lutEpi(f2, s2, halfx4(i32x4.extend_low_i16x8_u(sv1)), hv, cA, offKind, o2, Av);
    f3 = lutEpi(f3, s3, halfx4(i32x4.extend_high_i16x8_u(sv1)), hv, cA, offKind, o3, Av);
  }
  if (n == 16) {
    v128.store(out, f0); v128.store(out, f1, 16); v128.store(out, f2, 32); v128.store(out, f3, 48);
  } else {
    for (let r = 0; r < n; r++) {
      const q = r >> 2, l = r & 3;
      const v = q == 0 ? f0 : q == 1 ? f1 : q == 2 ? f2 : f3;
      store<f32>(out + (<usize>r << 2), l == 0 ? f32x4.extract_lane(v, 0) : l == 1 ? f32x4.extract_lane(v, 1) : l == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3));
    }
  }
}

/** The same tile without SIMD (the plain build): row by row, same sums and epilogue order. */
function lutTileScalar(B: i32, exact: i32, tp: usize, groups: i32, group: i32, groupBytes: i32, codeOff: i32, offKind: i32, zc: f32, tb0: usize, th: usize, tA: usize, out: usize, n: i32): void {
  const sliceBytes: usize = exact ? 32 : 16;
  for (let r = 0; r < n; r++) {
    let acc: f32 = 0;
    let tb = tb0;
    for (let g = 0; g < groups; g++) {
      const go = tp + <usize>g * <usize>groupBytes;
      let L = 0;
      for (let pr = 0; pr < (group >> 3); pr++) {
        for (let j = 0; j < B; j++) {
          const b = <i32>load<u8>(go + <usize>codeOff + <usize>((pr * B + j) << 4) + <usize>r);
          const t0 = tb, t1 = tb + sliceBytes;
          let e: i32;
          if (exact == 0) e = <i32>load<i8>(t0 + <usize>(b & 15)) + <i32>load<i8>(t1 + <usize>(b >> 4));
          else e = <i32>load<u8>(t0 + <usize>(b & 15)) + (<i32>load<i8>(t0 + 16 + <usize>(b & 15)) << 8) + <i32>load<u8>(t1 + <usize>(b >> 4)) + (<i32>load<i8>(t1 + 16 + <usize>(b >> 4)) << 8);
          L += e << j;
        }
        tb += sliceBytes << 1;
      }
      const gi = <usize>g << 2;
      const A = load<f32>(tA + gi);
      const s = f16ToF32(load<u16>(go + (<usize>r << 1)));
      acc += s * (<f32>L * load<f32>(th + gi) + zc * A);
      if (offKind == 1) acc += f16ToF32(load<u16>(go + 32 + (<usize>r << 1))) * A;
      else if (offKind == 2) acc += -(s * <f32>load<u8>(go + 32 + <usize>r)) * A;
    }
    store<f32>(out + (<usize>r << 2), acc);
  }
}

/**
 * y[t, r] for tiles tile0..tile1 of a LUT-packed matrix. desc (i32 x 13): main, tail, tileBytes,
 * cols, rows, group, bits, offKind, zc (f32), exact, groupBytes, codeOff, fullTiles.
 */
export function lut_matmul(desc: usize, tile0: i32, tile1: i32, tbl: usize, th: usize, tA: usize, y: usize, nTok: i32): void {
  const main = <usize>load<u32>(desc), tail = <usize>load<u32>(desc, 4), tileBytes = <usize>load<i32>(desc, 8);
  const cols = load<i32>(desc, 12), rows = load<i32>(desc, 16), group = load<i32>(desc, 20), B = load<i32>(desc, 24);
  const offKind = load<i32>(desc, 28), zc = load<f32>(desc, 32), exact = load<i32>(desc, 36);
  const groupBytes = load<i32>(desc, 40), codeOff = load<i32>(desc, 44), fullTiles = load<i32>(desc, 48);
  const groups = cols / group;
  const tokTbl = <usize>cols * (exact ? 8 : 4);
  for (let tile = tile0; tile < tile1; tile++) {
    const tp = tile < fullTiles ? main + <usize>tile * tileBytes : tail;
    const n = min(16, rows - tile * 16);
    for (let t = 0; t < nTok; t++) {
      const tb = tbl + <usize>t * tokTbl, thp = th + (<usize>(t * groups) << 2), tAp = tA + (<usize>(t * groups) << 2);
      const out = y + (<usize>(t * rows + tile * 16) << 2);
      if (ASC_FEATURE_SIMD) {
        switch (exact * 8 + B) {
          case 1: lutTile(1, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 2: lutTile(2, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 3: lutTile(3, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 4: lutTile(4, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 9: lutTile(1, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 10: lutTile(2, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 11: lutTile(3, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          default: lutTile(4, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n);
        }
      } else {
        lutTileScalar(B, exact, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n);
      }
    }
  }
}

// ------------------------------------------------------------------ LUT re-layout at load
// The twin of packLutTile (src/kernels/lut-layout.ts) for the formats models ship in, so a model's
// weights are re-laid out at memory speed rather than at JavaScript's. kind: 0 Q4_0, 1 Q4_1,
// 2 TQ2_0, 3 TQ1_0, 4 lutra INTn (sym), 5 lutra INTn (asym).

/** Trit n (0..4) of a base-3 byte: trit() with the power of 3 looked up. */
@inline function tritAt(byte: i32, n: i32): i32 {
  return trit(byte, n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81);
}

/** Code of element e of the block at blk (codeOff: where INT codes start; bits: INT width). */
@inline function lutCode(kind: i32, blk: usize, e: i32, bits: i32, codeOff: i32): i32 {
  if (kind == 0) return e < 16 ? <i32>load<u8>(blk + 2 + <usize>e) & 15 : <i32>load<u8>(blk + 2 + <usize>(e - 16)) >> 4;
  if (kind == 1) return e < 16 ? <i32>load<u8>(blk + 4 + <usize>e) & 15 : <i32>load<u8>(blk + 4 + <usize>(e - 16)) >> 4;
  if (kind == 2) return (<i32>load<u8>(blk + <usize>(((e >> 7) << 5) + (e & 31))) >> (((e >> 5) & 3) << 1)) & 3;
  if (kind == 3) {
    if (e < 160) return tritAt(<i32>load<u8>(blk + <usize>(e & 31)), e >> 5);
    if (e < 240) return tritAt(<i32>load<u8>(blk + 32 + <usize>((e - 160) & 15)), (e - 160) >> 4);
    return tritAt(<i32>load<u8>(blk + 48 + <usize>((e - 240) & 3)), (e - 240) >> 2);
  }
  const bit = e * bits;
  // The next byte only when the code straddles it: the block may end at the end of memory.
  let w = <i32>load<u8>(blk + <usize>(codeOff + (bit >> 3)));
  if ((bit & 7) + bits > 8) w |= <i32>load<u8>(blk + <usize>(codeOff + (bit >> 3) + 1)) << 8;
  const c = (w >> (bit & 7)) & ((1 << bits) - 1);
  // Symmetric INT codes are two's complement: flip the top bit to make them unsigned (not INT1).
  return kind == 4 && bits > 1 ? c ^ (1 << (bits - 1)) : c;
}

/**
 * Pack n (<= 16) rows of blocks (rowBytes apart, one block per group of blockBytes) into one tile
 * at dst; rows n..15 zero. Scale/offset positions: Q4_0 d@0; Q4_1 d@0 m@2; TQ2_0 d@64; TQ1_0 d@52;
 * INT s@0 (asym z@2). INT1 stores the doubled scale (y = 2s (c - 1/2)).
 */
export function lut_pack_tile(kind: i32, src: usize, rowBytes: i32, n: i32, blockBytes: i32, groups: i32, group: i32, bits: i32, groupBytes: i32, codeOff: i32, offKind: i32, intCodeOff: i32, dst: usize, scratch: usize): void {
  memory.fill(dst, 0, <usize>(groups * groupBytes));
  for (let g = 0; g < groups; g++) {
    const go = dst + <usize>(g * groupBytes);
    for (let r = 0; r < n; r++) {
      const blk = src + <usize>(r * rowBytes + g * blockBytes);
      let s: u32 = kind == 2 ? load<u16>(blk + 64) : kind == 3 ? load<u16>(blk + 52) : load<u16>(blk);
      if (kind == 4 && bits == 1) s = f32ToF16(<f32>2 * f16ToF32(s));
      store<u16>(go + (<usize>r << 1), <u16>s);
      if (offKind == 1) store<u16>(go + 32 + (<usize>r << 1), load<u16>(blk + 2));
      else if (offKind == 2) store<u8>(go + 32 + <usize>r, load<u8>(blk + 2));
      // One byte per code in scratch, then each 4 codes' plane-j bits gathered into a nibble by
      // one multiply: (x & 0x01010101) * 0x01020408 puts byte i's bit 0 at bit 24 + i.
      decodeCodes(kind, blk, group, bits, intCodeOff, scratch);
      for (let pair = 0; pair < (group >> 3); pair++) {
        const w0 = load<u32>(scratch + (<usize>pair << 3)), w1 = load<u32>(scratch + (<usize>pair << 3) + 4);
        const o = go + <usize>(codeOff + pair * bits * 16 + r);
        for (let j = 0; j < bits; j++) {
          const lo = (((w0 >> j) & 0x01010101) * 0x01020408) >> 24;
          const hi = (((w1 >> j) & 0x01010101) * 0x01020408) >> 24;
          store<u8>(o + <usize>(j << 4), <u8>((lo & 15) | ((hi & 15) << 4)));
        }
      }
    }
  }
}

/** The codes of one block, one byte each, into out[0..group). */
function decodeCodes(kind: i32, blk: usize, group: i32, bits: i32, intCodeOff: i32, out: usize): void {
  if (ASC_FEATURE_SIMD) {
    if (kind == 0 || kind == 1) {
      const q = v128.load(blk + (kind == 0 ? 2 : 4));
      v128.store(out, v128.and(q, i8x16.splat(15)));
      v128.store(out, v128.and(i16x8.shr_u(q, 4), i8x16.splat(15)), 16);
      return;
    }
    if (kind == 2) {
      for (let j = 0; j < 2; j++) {
        const q0 = v128.load(blk + (<usize>j << 5)), q1 = v128.load(blk + (<usize>j << 5), 16);
        for (let nn = 0; nn < 4; nn++) {
          const o = out + (<usize>j << 7) + (<usize>nn << 5);
          v128.store(o, v128.and(i16x8.shr_u(q0, <i32>(nn << 1)), i8x16.splat(3)));
          v128.store(o, v128.and(i16x8.shr_u(q1, <i32>(nn << 1)), i8x16.splat(3)), 16);
        }
      }
      return;
    }
    if (kind == 3) {
      const q0 = v128.load(blk), q1 = v128.load(blk, 16), q2 = v128.load(blk, 32);
      let pow = 1;
      for (let nn = 0; nn < 5; nn++) {
        v128.store(out + (<usize>nn << 5), trits16(q0, pow));
        v128.store(out + (<usize>nn << 5), trits16(q1, pow), 16);
        v128.store(out + 160 + (<usize>nn << 4), trits16(q2, pow));
        pow *= 3;
      }
      for (let e = 240; e < 256; e++) store<u8>(out + <usize>e, <u8>lutCode(3, blk, e, bits, intCodeOff));
      return;
    }
  }
  for (let e = 0; e < group; e++) store<u8>(out + <usize>e, <u8>lutCode(kind, blk, e, bits, intCodeOff));
}
