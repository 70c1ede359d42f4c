// Q4_1: blocks of 32 4-bit quants with f16 scale and f16 minimum (20 bytes): y = q * d + m.

import { LUT_PACK, type QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

export const Q4_1: QuantFormat = {
  id: 3, name: 'Q4_1', wasmAttention: true, blockSize: 32, typeSize: 20, vecDot: 'q8_1', wasm: { colsAlign: 32, rows4: true },
  lut: {
    bits: 4, group: 32, offset: 'f16', zero: 0, wasm: { kind: LUT_PACK.Q4_1, codeOff: 0 },
    unpack(src, rowOff, g, codes, meta) {
      const o = rowOff + g * 20;
      for (let j = 0; j < 16; j++) { const q = src[o + 4 + j]!; codes[j] = q & 15; codes[j + 16] = q >> 4; }
      meta[0] = readU16(src, o + 2);
      return readU16(src, o);
    },
  },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 20, y = dstOff + b * 32;
      const d = F16_TO_F32[readU16(src, o)]!, m = F16_TO_F32[readU16(src, o + 2)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 4 + j]!;
        dst[y + j] = (q & 15) * d + m;
        dst[y + j + 16] = (q >> 4) * d + m;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const x = srcOff + b * 32, o = dstOff + b * 20;
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < 32; j++) { const v = src[x + j]!; if (v < min) min = v; if (v > max) max = v; }
      const d = Math.fround(Math.fround(max - min) / 15);
      const id = d ? Math.fround(1 / d) : 0;
      writeU16(dst, o, f32ToF16(d));
      writeU16(dst, o + 2, f32ToF16(min));
      for (let j = 0; j < 16; j++) {
        const x0 = Math.min(15, Math.trunc(Math.fround(Math.fround(Math.fround(src[x + j]! - min) * id) + 0.5)));
        const x1 = Math.min(15, Math.trunc(Math.fround(Math.fround(Math.fround(src[x + 16 + j]! - min) * id) + 0.5)));
        dst[o + 4 + j] = x0 | (x1 << 4);
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const qs = a.qs, ad = a.d, as = a.s;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 20, x = aOff + b * 32, blk = x >>> 5;
      let isum = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 4 + j]!;
        isum += (q & 15) * qs[x + j]! + (q >> 4) * qs[x + j + 16]!;
      }
      s += isum * Math.fround(F16_TO_F32[readU16(w, o)]! * ad[blk]!) + F16_TO_F32[readU16(w, o + 2)]! * as[blk]!;
    }
    return s;
  },
};
