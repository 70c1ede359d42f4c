// Q5_1: blocks of 32 5-bit quants with f16 scale and minimum (24 bytes): y = q * d + m.
// Layout { d @0, m @2, qh[4] @4, qs[16] @8 }.

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';
import { qh32 } from './q5_0.js';

export const Q5_1: QuantFormat = {
  id: 7, name: 'Q5_1', wasmAttention: true, blockSize: 32, typeSize: 24, vecDot: 'q8_1', wasm: { colsAlign: 32 },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 24, y = dstOff + b * 32;
      const d = F16_TO_F32[readU16(src, o)]!, m = F16_TO_F32[readU16(src, o + 2)]!;
      const qh = qh32(src, o + 4);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 8 + j]!;
        dst[y + j] = ((q & 15) | (((qh >>> j) << 4) & 16)) * d + m;
        dst[y + j + 16] = ((q >> 4) | ((qh >>> (j + 12)) & 16)) * d + m;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const x = srcOff + b * 32, o = dstOff + b * 24;
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < 32; j++) { const v = src[x + j]!; if (v < min) min = v; if (v > max) max = v; }
      const d = Math.fround(Math.fround(max - min) / 31);
      const id = d ? Math.fround(1 / d) : 0;
      writeU16(dst, o, f32ToF16(d));
      writeU16(dst, o + 2, f32ToF16(min));
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const x0 = Math.trunc(Math.fround(Math.fround(Math.fround(src[x + j]! - min) * id) + 0.5)) & 0xff;
        const x1 = Math.trunc(Math.fround(Math.fround(Math.fround(src[x + 16 + j]! - min) * id) + 0.5)) & 0xff;
        dst[o + 8 + j] = (x0 & 15) | ((x1 & 15) << 4);
        qh |= ((x0 & 16) >>> 4) << j;
        qh |= ((x1 & 16) >>> 4) << (j + 16);
      }
      for (let k = 0; k < 4; k++) dst[o + 4 + k] = (qh >>> (8 * k)) & 0xff;
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const qs = a.qs, ad = a.d, as = a.s;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 24, x = aOff + b * 32, blk = x >>> 5;
      const qh = qh32(w, o + 4);
      let isum = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 8 + j]!;
        isum += ((q & 15) | (((qh >>> j) << 4) & 16)) * qs[x + j]!;
        isum += ((q >> 4) | ((qh >>> (j + 12)) & 16)) * qs[x + j + 16]!;
      }
      s += isum * Math.fround(F16_TO_F32[readU16(w, o)]! * ad[blk]!) + F16_TO_F32[readU16(w, o + 2)]! * as[blk]!;
    }
    return s;
  },
};
