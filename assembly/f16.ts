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
