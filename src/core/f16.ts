// IEEE half and bfloat16 conversions, bit-exact with ggml's (round-to-nearest-even on the way in).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Table of all 65536 half values as float32: decoding F16 tensors is a lookup. */
export const F16_TO_F32 = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfToFloatSlow(h);
  return t;
})();

function halfToFloatSlow(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function f16ToF32(h: number): number {
  return F16_TO_F32[h & 0xffff]!;
}

/** float32 -> half bits, round to nearest even, as ggml_compute_fp32_to_fp16 does. */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** Round a value through half precision and back. */
export function roundF16(v: number): number {
  const a = v < 0 ? -v : v;
  // Normal half range: Veltkamp splitting in double keeps the top 11 significant bits with one
  // multiply and two adds (exact ties may round either way, where the bit path rounds to even).
  if (a >= 6.103515625e-5 && a < 65504) {
    const t = v * 4398046511105; // 2^42 + 1
    return t - (t - v);
  }
  return F16_TO_F32[f32ToF16(v)]!;
}

export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** float32 -> bfloat16 bits, round to nearest even; NaN stays quiet NaN (ggml_compute_fp32_to_bf16). */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 64) & 0xffff;
  return ((x + (0x7fff + ((x >>> 16) & 1))) >>> 16) & 0xffff;
}

/** C's roundf: halves away from zero (Math.round sends -2.5 to -2). */
export function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Round half to even, as x86 `_mm256_round_ps(_MM_ROUND_NEAREST)` and lroundf-free SIMD paths do. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
