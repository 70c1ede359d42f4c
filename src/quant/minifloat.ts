// lutra's minifloat formats ExMy (1 sign + E + M bits, 3 to 8 in all) with the semantics of the
// minifloat PTQ paper (Brevitas' FloatQuant): exponent bias 2^(E-1)-1, every code finite (no inf or
// NaN), values beyond the largest finite one saturate, subnormals kept, round half to even. One
// scale per group (MX-style blocks of 32), per row, or per tensor: s = amax / max with F16/BF16/F32
// scales, and with E8M0 the OCP MX rule s = 2^(floor(log2 amax) - emax), which may saturate the top.

import { rowCachingDot, type QuantFormat } from './types.js';
import { type FloatParams, SCALE_BYTES, blockBytes, encodeLutraType, floorLog2, lutraTypeName, loadScale, packCodes, storeScale, unpackCodes } from './lutra-types.js';
import { roundEven } from '../core/f16.js';

/** One ExMy number format: rounding to it, its codes and their values. */
export class Minifloat {
  readonly bias: number;
  /** Largest finite value, (2 - 2^-M) * 2^(2^E - 1 - bias). */
  readonly max: number;
  /** Exponent of the smallest normal value, 1 - bias. */
  readonly minExp: number;
  /** Value of every code (sign in the top bit). */
  readonly values: Float64Array;
  readonly bits: number;

  constructor(readonly e: number, readonly m: number) {
    this.bias = 2 ** (e - 1) - 1;
    this.minExp = 1 - this.bias;
    this.max = (2 - 2 ** -m) * 2 ** (2 ** e - 1 - this.bias);
    this.bits = 1 + e + m;
    this.values = new Float64Array(1 << this.bits);
    for (let c = 0; c < this.values.length; c++) this.values[c] = this.decodeSlow(c);
  }

  private decodeSlow(code: number): number {
    const { e, m } = this;
    const sign = code >> (e + m) ? -1 : 1;
    const ef = (code >> m) & ((1 << e) - 1), mf = code & ((1 << m) - 1);
    return ef === 0 ? sign * 2 ** this.minExp * (mf / 2 ** m) : sign * 2 ** (ef - this.bias) * (1 + mf / 2 ** m);
  }

  /** The nearest representable value (ties to even mantissa), saturating at +-max. */
  round(v: number): number {
    const a = Math.abs(v);
    if (a === 0 || Number.isNaN(a)) return 0;
    const es = 2 ** (Math.max(floorLog2(a), this.minExp) - this.m);
    const q = Math.min(es * roundEven(a / es), this.max);
    return v < 0 ? -q : q;
  }

  /** The code of a representable value. */
  encode(q: number): number {
    const a = Math.abs(q);
    const sign = q < 0 ? 1 << (this.e + this.m) : 0;
    if (a === 0) return 0;
    const ex = floorLog2(a);
    if (ex < this.minExp) return sign | (a / 2 ** (this.minExp - this.m));
    return sign | ((ex + this.bias) << this.m) | (a / 2 ** ex * 2 ** this.m - 2 ** this.m);
  }
}

const cache = new Map<string, Minifloat>();
export function minifloat(e: number, m: number): Minifloat {
  const k = `${e},${m}`;
  let f = cache.get(k);
  if (!f) cache.set(k, (f = new Minifloat(e, m)));
  return f;
}

export function minifloatFormat(p: FloatParams): QuantFormat {
  const g = p.group, mf = minifloat(p.e, p.m), bits = mf.bits, sb = SCALE_BYTES[p.scale], bb = blockBytes(p);
  const emax = floorLog2(mf.max);
  const codes = new Int32Array(g);
  const scratch = new Uint8Array(4);

  const scaleFor = (amax: number) => (amax === 0 ? 0 : p.scale === 'E8M0' ? 2 ** (floorLog2(amax) - emax) : amax / mf.max);

  function block(src: Float32Array, x: number, dst: Uint8Array, o: number, s: number): void {
    const sq = storeScale(p.scale, s, dst, o);
    const inv = sq > 0 ? 1 / sq : 0;
    for (let j = 0; j < g; j++) codes[j] = mf.encode(mf.round(src[x + j]! * inv));
    packCodes(codes, g, bits, dst, o + sb);
  }

  function amaxOf(src: Float32Array, x: number, n: number): number {
    let a = 0;
    for (let j = 0; j < n; j++) a = Math.max(a, Math.abs(src[x + j]!));
    return a;
  }

  const fmt: QuantFormat = {
    id: encodeLutraType(p), name: lutraTypeName(p), blockSize: g, typeSize: bb, vecDot: 'f32',
    dequantize(src, srcOff, dst, dstOff, n) {
      const vals = mf.values;
      for (let b = 0; b < n / g; b++) {
        const o = srcOff + b * bb, y = dstOff + b * g;
        const s = loadScale(p.scale, src, o);
        unpackCodes(src, o + sb, g, bits, codes);
        for (let j = 0; j < g; j++) dst[y + j] = s * vals[codes[j]!]!;
      }
    },
    quantize(src, srcOff, dst, dstOff, n) {
      if (p.tensorScale) return fmt.quantizeTensor!(src.subarray(srcOff, srcOff + n), 1, n, dst.subarray(dstOff));
      for (let b = 0; b < n / g; b++) {
        const x = srcOff + b * g;
        block(src, x, dst, dstOff + b * bb, scaleFor(amaxOf(src, x, g)));
      }
    },
    quantizeTensor: !p.tensorScale ? undefined : (src, rows, cols, dst) => {
      const n = rows * cols;
      const s = storeScale(p.scale, scaleFor(amaxOf(src, 0, n)), scratch, 0);
      for (let b = 0; b < n / g; b++) block(src, b * g, dst, b * bb, s);
    },
    dot: rowCachingDot((src, off, dst, n) => fmt.dequantize(src, off, dst, 0, n)),
  };
  return fmt;
}
