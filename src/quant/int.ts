// lutra's integer formats INT1..INT8. INT1 is binary: y = s * (2c - 1), c in {0, 1}, s the mean |x| of
// the group (the least-squares scale for signs, as BitNet and XNOR-Net use). INT2..INT8: symmetric (y = s*q, q in [-(2^(b-1)-1), 2^(b-1)-1]) or
// asymmetric (y = s*(q - z), q in [0, 2^b - 1], u8 zero point z), one scale per group of 32/64/128
// elements or per row (a group the length of the row), stored as F16, BF16, F32 or E8M0 (a power of
// two rounded up, so nothing clips). Round half to even. The quantizer uses the stored (rounded)
// scale, so dequantization reproduces exactly what the quantizer meant.

import { LUT_PACK, rowCachingDot, type QuantFormat } from './types.js';
import { type IntParams, SCALE_BYTES, blockBytes, encodeLutraType, lutraTypeName, loadScale, packCodes, storeScale, unpackCodes } from './lutra-types.js';
import { F16_TO_F32, f32ToF16, roundEven } from '../core/f16.js';

export function intFormat(p: IntParams): QuantFormat {
  const g = p.group, bits = p.bits, sb = SCALE_BYTES[p.scale], bb = blockBytes(p);
  const codeOff = sb + (p.asym ? 1 : 0);
  const qmax = p.asym ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
  const codes = new Int32Array(g);
  const scratch = new Uint8Array(4);

  /** Quantize one block with the given (unrounded) scale and zero point source. */
  function block(src: Float32Array, x: number, dst: Uint8Array, o: number, s: number, lo: number): void {
    const sq = storeScale(p.scale, s, dst, o);
    if (bits === 1) {
      for (let j = 0; j < g; j++) codes[j] = src[x + j]! >= 0 ? 1 : 0;
      packCodes(codes, g, 1, dst, o + codeOff);
      return;
    }
    const inv = sq > 0 ? 1 / sq : 0;
    if (p.asym) {
      const z = Math.max(0, Math.min(qmax, roundEven(-lo * inv)));
      dst[o + sb] = z;
      for (let j = 0; j < g; j++) codes[j] = Math.max(0, Math.min(qmax, roundEven(src[x + j]! * inv) + z));
    } else {
      for (let j = 0; j < g; j++) codes[j] = Math.max(-qmax, Math.min(qmax, roundEven(src[x + j]! * inv)));
    }
    packCodes(codes, g, bits, dst, o + codeOff);
  }

  function range(src: Float32Array, x: number, n: number): [number, number] {
    let lo = 0, hi = 0;
    for (let j = 0; j < n; j++) { const v = src[x + j]!; if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  const scaleOf = (lo: number, hi: number) => (p.asym ? (hi - lo) / qmax : Math.max(-lo, hi) / qmax);
  /** INT1's scale: the mean |x| (sign quantization's least-squares scale), not a range. */
  function meanAbs(src: Float32Array, x: number, n: number): number {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(src[x + j]!);
    return n ? s / n : 0;
  }

  const fmt: QuantFormat = {
    id: encodeLutraType(p), name: lutraTypeName(p), blockSize: g, typeSize: bb, vecDot: 'f32',
    dequantize(src, srcOff, dst, dstOff, n) {
      for (let b = 0; b < n / g; b++) {
        const o = srcOff + b * bb, y = dstOff + b * g;
        const s = loadScale(p.scale, src, o);
        unpackCodes(src, o + codeOff, g, bits, codes);
        if (bits === 1) {
          for (let j = 0; j < g; j++) dst[y + j] = codes[j] ? s : -s;
        } else if (p.asym) {
          const z = src[o + sb]!;
          for (let j = 0; j < g; j++) dst[y + j] = s * (codes[j]! - z);
        } else {
          const sign = 1 << (bits - 1);
          for (let j = 0; j < g; j++) dst[y + j] = s * (codes[j]! >= sign ? codes[j]! - 2 * sign : codes[j]!);
        }
      }
    },
    quantize(src, srcOff, dst, dstOff, n) {
      if (p.tensorScale) return fmt.quantizeTensor!(src.subarray(srcOff, srcOff + n), 1, n, dst.subarray(dstOff));
      for (let b = 0; b < n / g; b++) {
        const x = srcOff + b * g;
        const [lo, hi] = range(src, x, g);
        block(src, x, dst, dstOff + b * bb, bits === 1 ? meanAbs(src, x, g) : scaleOf(lo, hi), lo);
      }
    },
    quantizeTensor: !p.tensorScale ? undefined : (src, rows, cols, dst) => {
      const n = rows * cols;
      const [lo, hi] = range(src, 0, n);
      // The scale as every block will store it, so the zero point is the same in all of them.
      const s = loadScaleOf(bits === 1 ? meanAbs(src, 0, n) : scaleOf(lo, hi));
      for (let b = 0; b < n / g; b++) block(src, b * g, dst, b * bb, s, lo);
    },
    dot: rowCachingDot((src, off, dst, n) => fmt.dequantize(src, off, dst, 0, n)),
    lut: bits > 4 || p.scale !== 'F16' || g % 8 !== 0 ? undefined : {
      bits, group: g, offset: p.asym ? 'u8z' : 'none', zero: bits === 1 ? 0.5 : p.asym ? 0 : 1 << (bits - 1),
      wasm: { kind: p.asym ? LUT_PACK.INT_ASYM : LUT_PACK.INT_SYM, codeOff },
      unpack(src, rowOff, gi, out, meta) {
        const o = rowOff + gi * bb;
        unpackCodes(src, o + codeOff, g, bits, codes);
        if (bits === 1) {
          // y = s (2c - 1) = 2s (c - 1/2): the doubled scale is exact in f16 (below its maximum).
          for (let j = 0; j < g; j++) out[j] = codes[j]!;
          return f32ToF16(2 * F16_TO_F32[src[o]! | (src[o + 1]! << 8)]!);
        }
        // Symmetric codes are two's complement; adding 2^(b-1) makes them unsigned with zero 2^(b-1).
        const flip = p.asym ? 0 : 1 << (bits - 1), mask = (1 << bits) - 1;
        for (let j = 0; j < g; j++) out[j] = (codes[j]! + flip) & mask;
        if (p.asym) meta[0] = src[o + sb]!;
        return src[o]! | (src[o + 1]! << 8);
      },
    },
  };

  function loadScaleOf(s: number): number {
    return storeScale(p.scale, s, scratch, 0);
  }
  return fmt;
}
