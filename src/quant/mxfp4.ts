// MXFP4 as ggml stores it (type 39): blocks of 32 FP4 E2M1 codes with one E8M0 shared exponent
// (17 bytes, 4.25 bits per weight). Layout { u8 e; u8 qs[16] }: low nibbles hold elements 0..15,
// high nibbles 16..31. ggml keeps the E2M1 values doubled as int8 (0, 1, 2, 3, 4, 6, 8, 12) and
// halves the scale: d = 2^(e-128). Quantizer (quantize_row_mxfp4_ref): e = floor(log2 amax) - 2 + 127,
// each value to the nearest of the 16 codes (first one on ties).

import type { QuantFormat } from './types.js';

const fr = Math.fround;
export const KVALUES_MXFP4 = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

const f = new Float32Array(1), u = new Uint32Array(f.buffer);
/** GGML_E8M0_TO_FP32_HALF: 2^(e-128) built from bits (denormal for e < 2). */
export function e8m0Half(e: number): number {
  u[0] = e < 2 ? 0x00200000 << e : (e - 1) << 23;
  return f[0]!;
}

function bestIndex(x: number, d: number): number {
  let best = 0, bestErr = Math.abs(fr(KVALUES_MXFP4[0]! * d) - x);
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(fr(KVALUES_MXFP4[i]! * d) - x);
    if (err < bestErr) { best = i; bestErr = err; }
  }
  return best;
}

export const MXFP4: QuantFormat = {
  id: 39, name: 'MXFP4', blockSize: 32, typeSize: 17, vecDot: 'q8_0',
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 17, y = dstOff + b * 32;
      const d = e8m0Half(src[o]!);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 1 + j]!;
        dst[y + j] = KVALUES_MXFP4[q & 15]! * d;
        dst[y + j + 16] = KVALUES_MXFP4[q >> 4]! * d;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const x = srcOff + b * 32, o = dstOff + b * 17;
      let amax = 0;
      for (let j = 0; j < 32; j++) if (amax < Math.abs(src[x + j]!)) amax = Math.abs(src[x + j]!);
      // (uint8_t)(floorf(log2f(amax)) - 2 + 127), log2f rounded to float as C computes it.
      const e = amax > 0 ? (Math.floor(fr(Math.log2(amax))) - 2 + 127) & 0xff : 0;
      const d = e8m0Half(e);
      dst[o] = e;
      for (let j = 0; j < 16; j++) dst[o + 1 + j] = bestIndex(src[x + j]!, d) | (bestIndex(src[x + 16 + j]!, d) << 4);
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, qs = a.qs, ad = a.d;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 17, x = aOff + b * 32;
      let isum = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 1 + j]!;
        isum += qs[x + j]! * KVALUES_MXFP4[q & 15]! + qs[x + j + 16]! * KVALUES_MXFP4[q >> 4]!;
      }
      s += isum * fr(ad[x >>> 5]! * e8m0Half(w[o]!));
    }
    return s;
  },
};
