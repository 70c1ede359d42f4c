// A simple FPGA-style cost model of one multiply-accumulate (MAC) for a weight format times an
// activation format, after the minifloat PTQ paper's argument (integers are often Pareto-optimal
// because their MACs are smaller). Units are LUT-equivalents; only the ratios between formats mean
// anything. For a dot product of length K (default 4096):
//
//   integer a-bit x w-bit:   multiplier a*w, accumulator adder (a + w + log2 K)
//   minifloat (Ea,Ma) x (Ew,Mw), fixed-point (Kulisch) accumulation:
//     mantissa multiplier (Ma+1)(Mw+1), exponent adder Ea + Ew,
//     alignment shifter p * ceil(log2(r)) for the product width p = Ma + Mw + 2 over the
//     exponent range r = 2^Ea + 2^Ew - 1 positions, accumulator adder (p + r + log2 K)
//   integer x minifloat: the integer side is a minifloat with no exponent (E = 0, M = bits - 1).
//   16-bit float activations (F16) count as E5M10; f32 as E8M23.
// The sign bit costs nothing here (it folds into the adder as a conditional negate).

import { parseLutraSpec } from '../quant/lutra-types.js';

export interface NumberFormat { kind: 'int' | 'fp'; bits: number; e: number; m: number }

/** The element format of a weight type spec or an activation spec (int8, e4m3, f16, ...). */
export function elementFormat(spec: string): NumberFormat {
  const s = spec.toLowerCase();
  if (s === 'f16' || s === 'none') return { kind: 'fp', bits: 16, e: 5, m: 10 };
  if (s === 'bf16') return { kind: 'fp', bits: 16, e: 8, m: 7 };
  if (s === 'f32') return { kind: 'fp', bits: 32, e: 8, m: 23 };
  const p = parseLutraSpec(s)?.resolve(256);
  if (p) return p.family === 'int' ? { kind: 'int', bits: p.bits, e: 0, m: p.bits - 1 } : { kind: 'fp', bits: 1 + p.e + p.m, e: p.e, m: p.m };
  const g = /^(q|iq)?(\d)/.exec(s);
  if (g) { const b = Number(g[2]); return { kind: 'int', bits: b, e: 0, m: b - 1 }; }
  throw new Error(`no element format for ${spec}`);
}

export function macCost(w: NumberFormat, a: NumberFormat, K = 4096): number {
  const logK = Math.log2(K);
  if (w.kind === 'int' && a.kind === 'int') return w.bits * a.bits + (w.bits + a.bits + logK);
  const mul = (w.m + 1) * (a.m + 1);
  const p = w.m + a.m + 2;
  const r = 2 ** w.e + 2 ** a.e - 1;
  const shift = p * Math.ceil(Math.log2(Math.max(2, r)));
  return mul + (w.e + a.e) + shift + (p + r + logK);
}
