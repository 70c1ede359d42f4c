// Q4_0: blocks of 32 4-bit quants with one f16 scale (18 bytes): y = (q - 8) * d.
// Low nibbles hold elements 0..15, high nibbles 16..31.

import { LUT_PACK, type QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

export const Q4_0: QuantFormat = {
  id: 2, name: 'Q4_0', wasmAttention: true, blockSize: 32, typeSize: 18, vecDot: 'q8_0', wasm: { colsAlign: 32, rows4: true },
  lut: {
    bits: 4, group: 32, offset: 'none', zero: 8, wasm: { kind: LUT_PACK.Q4_0, codeOff: 0 },
    unpack(src, rowOff, g, codes) {
      const o = rowOff + g * 18;
      for (let j = 0; j < 16; j++) { const q = src[o + 2 + j]!; codes[j] = q & 15; codes[j + 16] = q >> 4; }
      return readU16(src, o);
    },
  },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 18, y = dstOff + b * 32;
      const d = F16_TO_F32[readU16(src, o)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j]!;
        dst[y + j] = ((q & 15) - 8) * d;
        dst[y + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const x = srcOff + b * 32, o = dstOff + b * 18;
      let amax = 0, max = 0;
      for (let j = 0; j < 32; j++) {
        const v = src[x + j]!;
        if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
      }
      const d = Math.fround(max / -8);
      const id = d ? Math.fround(1 / d) : 0;
      writeU16(dst, o, f32ToF16(d));
      for (let j = 0; j < 16; j++) {
        const x0 = Math.min(15, Math.trunc(Math.fround(Math.fround(src[x + j]! * id) + 8.5)));
        const x1 = Math.min(15, Math.trunc(Math.fround(Math.fround(src[x + 16 + j]! * id) + 8.5)));
        dst[o + 2 + j] = x0 | (x1 << 4);
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const qs = a.qs, ad = a.d;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 18, x = aOff + b * 32;
      let isum = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 2 + j]!;
        isum += ((q & 15) - 8) * qs[x + j]! + ((q >> 4) - 8) * qs[x + j + 16]!;
      }
      s += isum * Math.fround(F16_TO_F32[readU16(w, o)]! * ad[x >>> 5]!);
    }
    return s;
  },
};
