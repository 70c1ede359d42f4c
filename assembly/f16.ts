// f16 <-> f32 conversions shared by every kernel family (scalar and four lanes at a time), and
// round_f16, which rounds activations as ggml converts them for its f16 dot product.

@inline export function f16ToF32(h: u32): f32 {
  // Normal halves: the exponent rebiased by an integer add; subnormal ones (and zero): the mantissa
  // times 2^-24. Both exact, and no floating-point operation ever sees a subnormal f32 (multiplying
  // one, as a rebias by 2^112 would, costs a microcode assist: halfx4). inf/NaN never occur in weights.
  const a = h & 0x7fff;
  const v = a < 0x400 ? <f32>a * reinterpret<f32>(0x33800000) : reinterpret<f32>((a << 13) + 0x38000000);
  return (h & 0x8000) ? -v : v;
}

export function f32ToF16(v: f32): u32 {
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
 * n floats at src as f16 halves at dst (2 bytes each), as f32ToF16 converts one (round to nearest
 * even; overflow to infinity, subnormal halves, NaN kept quiet): what an f16 KV cache stores each
 * decoded token (24 layers x 256 values on the 0.5B shape), 0.3 ms a step in JavaScript. Eight at a
 * time where all eight are normal halves: (a + 0xfff + lsb) >> 13 is round-to-nearest-even of the
 * mantissa, its carry rebiasing into the exponent and up to infinity as the scalar form's half++
 * does; a group holding a zero, a subnormal or a non-finite value goes through f32ToF16 lane by lane.
 */
export function f32_to_f16(src: usize, dst: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // Masks from a run-time value, kept in registers (V8 rebuilds v128 constants inside loops).
    const one = <i32>(n >= 0);
    const abs = i32x4.splat(0x7fffffff * one), lo = i32x4.splat((113 << 23) * one), span = i32x4.splat((30 << 23) * one);
    const k1 = i32x4.splat(one), kh = i32x4.splat(0xfff * one), rebias = i32x4.splat(0x1c000 * one), sgn = i32x4.splat(0x8000 * one);
    for (; i + 8 <= n; i += 8) {
      const x0 = v128.load(src + (<usize>i << 2)), x1 = v128.load(src + (<usize>i << 2), 16);
      const a0 = v128.and(x0, abs), a1 = v128.and(x1, abs);
      // Normal halves: biased f32 exponent 113..142, i.e. a - (113 << 23) below 30 << 23 unsigned.
      const ok = v128.and(i32x4.lt_u(i32x4.sub(a0, lo), span), i32x4.lt_u(i32x4.sub(a1, lo), span));
      if (!i32x4.all_true(ok)) {
        for (let j = i; j < i + 8; j++) store<u16>(dst + (<usize>j << 1), <u16>f32ToF16(load<f32>(src + (<usize>j << 2))));
        continue;
      }
      const h0 = v128.or(v128.and(i32x4.shr_u(x0, 16), sgn), i32x4.sub(i32x4.shr_u(i32x4.add(a0, i32x4.add(kh, v128.and(i32x4.shr_u(a0, 13), k1))), 13), rebias));
      const h1 = v128.or(v128.and(i32x4.shr_u(x1, 16), sgn), i32x4.sub(i32x4.shr_u(i32x4.add(a1, i32x4.add(kh, v128.and(i32x4.shr_u(a1, 13), k1))), 13), rebias));
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(h0, h1));
    }
  }
  for (; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>f32ToF16(load<f32>(src + (<usize>i << 2))));
}

/**
 * Round four floats to the nearest half-precision value (ties to even) in place of their f32
 * mantissa: exact for the normal half range, which is where attention values live.
 */
@inline export function roundF16x4(v: v128): v128 {
  return roundF16x4k(v, i32x4.splat(1), i32x4.splat(0xfff), i32x4.splat(0xffffe000));
}

/**
 * roundF16x4 with its three masks given (one: 1, half: 0xfff, keep: 0xffffe000 in every lane). In a
 * loop, V8 rebuilds a v128 constant at every use (three instructions each); masks made once from a
 * run-time value before the loop stay in registers.
 */
@inline export function roundF16x4k(v: v128, one: v128, half: v128, keep: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(v, 13), one);
  return v128.and(i32x4.add(v, i32x4.add(half, lsb)), keep);
}

@inline export function roundF16(v: f32): f32 {
  const h = f32ToF16(v);
  // f16ToF32 (made for weights) reads the infinity and NaN halves as 65536-range numbers: an
  // activation scale past the half range (|x| > 65504 * 127) must stay infinite, as ggml's is.
  if ((h & 0x7c00) == 0x7c00) return reinterpret<f32>(((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13));
  return f16ToF32(h);
}

export function round_f16(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), roundF16(load<f32>(x + (<usize>i << 2))));
}

/**
 * Four f16 values (in the low 16 bits of u32 lanes) as f32, as f16ToF32 does one: normal halves by
 * an integer exponent rebias, subnormal ones (and zero) as their mantissa converted and scaled by
 * 2^-24, picked per lane. Rebiasing every lane by a multiplication by 2^112 (the earlier form) fed
 * subnormal halves to the multiplier as subnormal f32, and K-quant super-block scales are often
 * subnormal halves (Q6_K's d ~ max|w| / 4064): on Zen 5 a Q4_K matrix with subnormal d and dmin ran
 * at 15.8 GMAC/s against 26.5 with this form (Q6_K 17.1 -> 22.7; 8960x1536, one token, in cache,
 * bench/kernels/ab-wasm.mjs Q4_K 8960x1536 --subnormal), and with normal scales within 1-4%. The
 * same values, bit for bit. Callers pass halves zero-extended to 32 bits.
 */
@inline export function halfx4(h: v128): v128 {
  // Masks by shifts (the lanes' top 16 bits are zero): V8 rebuilds a v128 constant at every use.
  const a = i32x4.shr_u(i32x4.shl(h, 17), 17);
  const n = i32x4.add(i32x4.shl(a, 13), i32x4.splat(0x38000000));
  const s = f32x4.mul(f32x4.convert_i32x4_s(a), f32x4.splat(reinterpret<f32>(0x33800000)));
  const v = v128.bitselect(s, n, i32x4.eq(i32x4.shr_u(a, 10), i32x4.splat(0)));
  return v128.or(v, i32x4.shl(i32x4.shr_u(h, 15), 31));
}
