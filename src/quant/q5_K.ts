// Q5_K: Q4_K with a fifth bit per quant (176 bytes, 5.5 bits per weight): y = d*sc*q - dmin*m with
// q in 0..31. Layout { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: the low 4 bits as in
// Q4_K, the high bit of element 64c + 32h + l in bit 2c + h of qh[l].

import type { QuantFormat } from './types.js';
import { F16_TO_F32 } from '../core/f16.js';
import { readU16 } from './views.js';
import { kScratch, quantizeScaleMinBlock } from './k-common.js';
import { unpackScaleMins } from './q4_K.js';

const fr = Math.fround;
const L = new Uint8Array(256), scratch = kScratch();
const sc8 = new Uint8Array(8), m8 = new Uint8Array(8);

export const Q5_K: QuantFormat = {
  id: 13, name: 'Q5_K', blockSize: 256, typeSize: 176, vecDot: 'q8_K', wasm: { colsAlign: 256, rows4k: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 176;
      const d = F16_TO_F32[readU16(src, o)]!, min = F16_TO_F32[readU16(src, o + 2)]!;
      unpackScaleMins(src, o + 4, sc8, m8);
      let y = dstOff + b * 256;
      for (let c = 0; c < 4; c++) {
        const q = o + 48 + 32 * c, u1 = 1 << (2 * c), u2 = 2 << (2 * c);
        const d1 = fr(d * sc8[2 * c]!), m1 = fr(min * m8[2 * c]!);
        const d2 = fr(d * sc8[2 * c + 1]!), m2 = fr(min * m8[2 * c + 1]!);
        for (let l = 0; l < 32; l++) dst[y++] = fr(d1 * ((src[q + l]! & 0xf) + (src[o + 16 + l]! & u1 ? 16 : 0))) - m1;
        for (let l = 0; l < 32; l++) dst[y++] = fr(d2 * ((src[q + l]! >> 4) + (src[o + 16 + l]! & u2 ? 16 : 0))) - m2;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = dstOff + b * 176;
      quantizeScaleMinBlock(src, srcOff + b * 256, dst, o, L, 31, -0.5, 15, scratch);
      for (let l = 0; l < 32; l++) dst[o + 16 + l] = 0;
      for (let c = 0; c < 4; c++) {
        const m1 = 1 << (2 * c), m2 = 2 << (2 * c);
        for (let j = 0; j < 32; j++) {
          let l1 = L[64 * c + j]!, l2 = L[64 * c + j + 32]!;
          if (l1 > 15) { l1 -= 16; dst[o + 16 + j] |= m1; }
          if (l2 > 15) { l2 -= 16; dst[o + 16 + j] |= m2; }
          dst[o + 48 + 32 * c + j] = l1 | (l2 << 4);
        }
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs, bsums = a.bsums;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 176, x = aOff + b * 256, bs = x >>> 4;
      unpackScaleMins(w, o + 4, sc8, m8);
      let summs = 0;
      for (let j = 0; j < 16; j++) summs += bsums[bs + j]! * m8[j >> 1]!;
      let isum = 0;
      for (let c = 0; c < 4; c++) {
        const q = o + 48 + 32 * c, y = x + 64 * c, u1 = 1 << (2 * c), u2 = 2 << (2 * c);
        let lo = 0, hi = 0;
        for (let l = 0; l < 32; l++) {
          const v = w[q + l]!, h = w[o + 16 + l]!;
          lo += q8[y + l]! * ((v & 0xf) + (h & u1 ? 16 : 0));
          hi += q8[y + 32 + l]! * ((v >> 4) + (h & u2 ? 16 : 0));
        }
        isum += sc8[2 * c]! * lo + sc8[2 * c + 1]! * hi;
      }
      const yd = a.d[x >>> 8]!;
      s += fr(F16_TO_F32[readU16(w, o)]! * yd) * isum - fr(F16_TO_F32[readU16(w, o + 2)]! * yd) * summs;
    }
    return s;
  },
};
