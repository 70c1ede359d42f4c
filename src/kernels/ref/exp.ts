// Twin of assembly/exp.ts: e^x in f32 for softmax and SiLU, 2^n * e^b with n = round(x / ln 2) and
// a polynomial on |b| <= ln2/2 (Cephes expf's coefficients), every step rounded to f32 as the
// WebAssembly kernels round it, so the two agree bit for bit.

const f = Math.fround;
const LOG2E = f(1.44269504088896341);
const MAGIC = f(12582912.0);
const LN2_HI = f(0.693359375);
const LN2_LO = f(-2.12194440e-4);
const P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(f) as [number, number, number, number, number, number];
const EXP_MIN = -86;
/** The largest x the result stays finite for (2^n with n <= 127). */
export const EXP_MAX = 88;
const bitsF = new Float32Array(1), bitsI = new Int32Array(bitsF.buffer);

function bitsOf(x: number): number { bitsF[0] = x; return bitsI[0]!; }
function fromBits(i: number): number { bitsI[0] = i; return bitsF[0]!; }
const MAGIC_BITS = bitsOf(MAGIC);

/** e^x as the kernels compute it, each op rounded to f32; 0 below -86; x <= EXP_MAX. Within a few ulps. */
export function expF32(x: number): number {
  if (!(x >= EXP_MIN)) return 0;
  const z = f(f(x * LOG2E) + MAGIC);
  const n = f(z - MAGIC);
  const b = f(f(x - f(n * LN2_HI)) - f(n * LN2_LO));
  let p = f(f(P[0] * b) + P[1]);
  p = f(f(p * b) + P[2]);
  p = f(f(p * b) + P[3]);
  p = f(f(p * b) + P[4]);
  p = f(f(p * b) + P[5]);
  const r = f(f(f(f(b * b) * p) + b) + 1);
  return fromBits((bitsOf(r) + ((bitsOf(z) - MAGIC_BITS) << 23)) | 0);
}
