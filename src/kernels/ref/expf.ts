// e^x for f32 as C's expf computes it in glibc (2.27 on, without FMA) and musl: the ARM optimized
// routines' table of 2^(i/32) and a cubic in double, rounded once to f32 (0.502 ulp). The
// WebAssembly attention takes AssemblyScript's Mathf.exp, a port of the same routine, for the
// online-softmax steps that llama.cpp's CPU flash attention takes with expf; this is its twin, step
// for step in doubles (JavaScript never fuses a multiply and an add), so both agree bit for bit.

const N = 32;
/** 2^(i/32) as raw doubles less i << 47 (exp2f_data_tab), [low word, high word] pairs. */
const TAB = new Uint32Array([
  0x00000000, 0x3ff00000, 0xd3158574, 0x3fefd9b0, 0x6cf9890f, 0x3fefb558, 0xd0125b51, 0x3fef9301,
  0x3c7d517b, 0x3fef72b8, 0x3168b9aa, 0x3fef5487, 0x6e756238, 0x3fef387a, 0xf51fdee1, 0x3fef1e9d,
  0x0a31b715, 0x3fef06fe, 0x373aa9cb, 0x3feef1a7, 0x4c123422, 0x3feedea6, 0x6061892d, 0x3feece08,
  0xd5362a27, 0x3feebfda, 0x569d4f82, 0x3feeb42b, 0xdd485429, 0x3feeab07, 0xb03a5585, 0x3feea47e,
  0x667f3bcd, 0x3feea09e, 0xe8ec5f74, 0x3fee9f75, 0x73eb0187, 0x3feea114, 0x994cce13, 0x3feea589,
  0x422aa0db, 0x3feeace5, 0xb0cdc5e5, 0x3feeb737, 0x82a3f090, 0x3feec491, 0xb23e255d, 0x3feed503,
  0x995ad3ad, 0x3feee89f, 0xf2fb5e47, 0x3feeff76, 0xdd85529c, 0x3fef199b, 0xdcef9069, 0x3fef3720,
  0xdcfba487, 0x3fef5818, 0x337b9b5f, 0x3fef7c97, 0xa2a490da, 0x3fefa4af, 0x5b6e4540, 0x3fefd076,
]);
const buf = new ArrayBuffer(8), f64 = new Float64Array(buf), u32 = new Uint32Array(buf), f32 = new Float32Array(buf, 0, 1);
const fromBits = (lo: number, hi: number): number => { u32[0] = lo; u32[1] = hi; return f64[0]!; };
const SHIFT = fromBits(0x00000000, 0x43380000); // 1.5 * 2^52
const INV_LN2_N = fromBits(0x652b82fe, 0x3ff71547) * N;
const C0 = fromBits(0x4b912394, 0x3fac6af8) / N / N / N;
const C1 = fromBits(0x50fac4f3, 0x3fcebfce) / N / N;
const C2 = fromBits(0xff0c52d6, 0x3fe62e42) / N;
/** log(2^128) and log(2^-150) as f32: past them the result overflows or underflows. */
const OVER = 88.72283172607422, UNDER = -103.97207641601562;

/** expf(x) of an f32 x, as an f32 value. */
export function expf(x: number): number {
  f32[0] = x;
  const ix = u32[0]!, ux = (ix >>> 20) & 0x7ff;
  const xd = f32[0]!;
  if (ux >= 0x42b) {
    if (ix === 0xff800000) return 0;
    if (ux >= 0x7f8) return xd + xd;
    if (xd > OVER) return Infinity;
    if (xd < UNDER) return 0;
  }
  let z = INV_LN2_N * xd;
  const kd = z + SHIFT;
  f64[0] = kd;
  // kd's low word holds k (z rounded to an integer) in two's complement; 2^(k/32) is the table's
  // entry k mod 32 with k << 47 added to its bits, which touches only the high word.
  const k = u32[0]! | 0;
  const r = z - (kd - SHIFT);
  const i = (k & (N - 1)) << 1;
  const s = fromBits(TAB[i]!, (TAB[i + 1]! + (k << 15)) >>> 0);
  z = C0 * r + C1;
  let y = C2 * r + 1;
  y += z * (r * r);
  y *= s;
  return Math.fround(y);
}
