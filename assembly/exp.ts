// e^x in f32 for softmax and SiLU, scalar and four lanes with the same steps: 2^n * e^b with
// n = round(x / ln 2) and a polynomial on |b| <= ln2/2 (Cephes expf's coefficients), only mul/add
// (no fused ops, so the TypeScript twin, kernels/ref/exp.ts, rounds each step as here and agrees
// bit for bit). x < -86 gives 0 (e^-86 is below anything a softmax row or a SiLU keeps, and 2^n
// must stay a normal float); callers keep x <= 88 (EXP_MAX).

const LOG2E: f32 = 1.44269504088896341;
const MAGIC: f32 = 12582912.0; // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
const EXP_MIN: f32 = -86;
/** The largest x the result stays finite for (2^n with n <= 127). */
export const EXP_MAX: f32 = 88;

@inline export function expF32(x: f32): f32 {
  if (!(x >= EXP_MIN)) return 0;
  const z: f32 = x * LOG2E + MAGIC;
  const n: f32 = z - MAGIC;
  const b: f32 = (x - n * LN2_HI) - n * LN2_LO;
  const p: f32 = ((((P0 * b + P1) * b + P2) * b + P3) * b + P4) * b + P5;
  const r: f32 = ((b * b) * p + b) + 1;
  return reinterpret<f32>(reinterpret<i32>(r) + ((reinterpret<i32>(z) - reinterpret<i32>(MAGIC)) << 23));
}

@inline export function expF32x4(x: v128): v128 {
  const z = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(MAGIC));
  const n = f32x4.sub(z, f32x4.splat(MAGIC));
  const b = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.add(f32x4.mul(f32x4.splat(P0), b), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, b), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, b), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, b), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, b), f32x4.splat(P5));
  const r = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(b, b), p), b), f32x4.splat(1));
  const e = i32x4.add(r, i32x4.shl(i32x4.sub(z, i32x4.splat(reinterpret<i32>(MAGIC))), 23));
  return v128.and(e, f32x4.ge(x, f32x4.splat(EXP_MIN)));
}
