// Q4_K: super-blocks of 256 as 8 sub-blocks of 32 4-bit quants, each with a 6-bit scale and a 6-bit
// min relative to the block's f16 d and dmin (144 bytes, 4.5 bits per weight): y = d*sc*q - dmin*m.
// Layout { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }: 64-element chunk c keeps its first 32
// quants in the low nibbles of qs[32c..32c+31] and the next 32 in the high nibbles.

import type { QuantFormat } from './types.js';
import { F16_TO_F32 } from '../core/f16.js';
import { readU16 } from './views.js';
import { kScratch, quantizeScaleMinBlock, scaleMinK4 } from './k-common.js';

const fr = Math.fround;
const L = new Uint8Array(256), scratch = kScratch(), sm = new Uint8Array(2);
const sc8 = new Uint8Array(8), m8 = new Uint8Array(8);

/** The 8 scales and 8 mins of the block whose scales field starts at `o`. */
export function unpackScaleMins(b: Uint8Array, o: number, sc: Uint8Array, m: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    scaleMinK4(j, b, o, sm);
    sc[j] = sm[0]!;
    m[j] = sm[1]!;
  }
}

export const Q4_K: QuantFormat = {
  id: 12, name: 'Q4_K', blockSize: 256, typeSize: 144, vecDot: 'q8_K', wasm: { colsAlign: 256, rows4k: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 144;
      const d = F16_TO_F32[readU16(src, o)]!, min = F16_TO_F32[readU16(src, o + 2)]!;
      unpackScaleMins(src, o + 4, sc8, m8);
      let y = dstOff + b * 256;
      for (let c = 0; c < 4; c++) {
        const q = o + 16 + 32 * c;
        const d1 = fr(d * sc8[2 * c]!), m1 = fr(min * m8[2 * c]!);
        const d2 = fr(d * sc8[2 * c + 1]!), m2 = fr(min * m8[2 * c + 1]!);
        for (let l = 0; l < 32; l++) dst[y++] = fr(d1 * (src[q + l]! & 0xf)) - m1;
        for (let l = 0; l < 32; l++) dst[y++] = fr(d2 * (src[q + l]! >> 4)) - m2;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = dstOff + b * 144;
      quantizeScaleMinBlock(src, srcOff + b * 256, dst, o, L, 15, -1, 20, scratch);
      for (let c = 0; c < 4; c++) {
        for (let l = 0; l < 32; l++) dst[o + 16 + 32 * c + l] = L[64 * c + l]! | (L[64 * c + l + 32]! << 4);
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs, bsums = a.bsums;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 144, x = aOff + b * 256, bs = x >>> 4;
      unpackScaleMins(w, o + 4, sc8, m8);
      let summs = 0;
      for (let j = 0; j < 16; j++) summs += bsums[bs + j]! * m8[j >> 1]!;
      let isum = 0;
      for (let c = 0; c < 4; c++) {
        const q = o + 16 + 32 * c, y = x + 64 * c;
        let lo = 0, hi = 0;
        for (let l = 0; l < 32; l++) {
          const v = w[q + l]!;
          lo += q8[y + l]! * (v & 0xf);
          hi += q8[y + 32 + l]! * (v >> 4);
        }
        isum += sc8[2 * c]! * lo + sc8[2 * c + 1]! * hi;
      }
      const yd = a.d[x >>> 8]!;
      s += fr(F16_TO_F32[readU16(w, o)]! * yd) * isum - fr(F16_TO_F32[readU16(w, o + 2)]! * yd) * summs;
    }
    return s;
  },
};
