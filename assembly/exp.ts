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

/**
 * expF32x4k's constants, for loops that load them once (expConst): V8 rebuilds a v128 constant
 * (three instructions) at every use inside a loop.
 */
const EXP_CONSTS = memory.data<f32>([LOG2E, MAGIC, LN2_HI, LN2_LO, P0, P1, P2, P3, P4, P5, 1, EXP_MIN]);

/** Constant i of expF32x4k's list, loaded (the optimizer cannot fold a load back into a per-use constant). */
@inline export function expConst(i: i32): v128 {
  return v128.load32_splat(EXP_CONSTS + (<usize>i << 2));
}

/** e^x in four lanes, expF32's steps, with its constants passed in (c0..c11: expConst(0..11)). */
@inline export function expF32x4k(x: v128, c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, c7: v128, c8: v128, c9: v128, c10: v128, c11: v128): v128 {
  const z = f32x4.add(f32x4.mul(x, c0), c1);
  const n = f32x4.sub(z, c1);
  const b = f32x4.sub(f32x4.sub(x, f32x4.mul(n, c2)), f32x4.mul(n, c3));
  let p = f32x4.add(f32x4.mul(c4, b), c5);
  p = f32x4.add(f32x4.mul(p, b), c6);
  p = f32x4.add(f32x4.mul(p, b), c7);
  p = f32x4.add(f32x4.mul(p, b), c8);
  p = f32x4.add(f32x4.mul(p, b), c9);
  const r = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(b, b), p), b), c10);
  const e = i32x4.add(r, i32x4.shl(i32x4.sub(z, c1), 23));
  return v128.and(e, f32x4.ge(x, c11));
}

/**
 * C's expf (AssemblyScript's Mathf.exp: the ARM optimized routine glibc and musl ship), which the
 * f16 attention's online-softmax steps take as llama.cpp's flash attention does; exported for the
 * test that holds it, its TypeScript twin (kernels/ref/expf.ts) and glibc to the same bits.
 */
export function expf_f32(x: f32): f32 {
  return Mathf.exp(x);
}
