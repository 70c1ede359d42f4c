// Q5_0: blocks of 32 5-bit quants, one f16 scale, the fifth bits packed in a u32 (22 bytes):
// y = (q - 16) * d. Layout { d @0, qh[4] @2, qs[16] @6 }.

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

function qh32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export const Q5_0: QuantFormat = {
  id: 6, name: 'Q5_0', wasmAttention: true, blockSize: 32, typeSize: 22, vecDot: 'q8_0', wasm: { colsAlign: 32, rows4k: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 22, y = dstOff + b * 32;
      const d = F16_TO_F32[readU16(src, o)]!;
      const qh = qh32(src, o + 2);
      for (let j = 0; j < 16; j++) {
        const q = src[o + 6 + j]!;
        dst[y + j] = (((q & 15) | (((qh >>> j) << 4) & 16)) - 16) * d;
        dst[y + j + 16] = (((q >> 4) | ((qh >>> (j + 12)) & 16)) - 16) * d;
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const x = srcOff + b * 32, o = dstOff + b * 22;
      let amax = 0, max = 0;
      for (let j = 0; j < 32; j++) {
        const v = src[x + j]!;
        if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
      }
      const d = Math.fround(max / -16);
      const id = d ? Math.fround(1 / d) : 0;
      writeU16(dst, o, f32ToF16(d));
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const x0 = Math.min(31, Math.trunc(Math.fround(Math.fround(src[x + j]! * id) + 16.5)));
        const x1 = Math.min(31, Math.trunc(Math.fround(Math.fround(src[x + 16 + j]! * id) + 16.5)));
        dst[o + 6 + j] = (x0 & 15) | ((x1 & 15) << 4);
        qh |= ((x0 & 16) >>> 4) << j;
        qh |= ((x1 & 16) >>> 4) << (j + 16);
      }
      for (let k = 0; k < 4; k++) dst[o + 2 + k] = (qh >>> (8 * k)) & 0xff;
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const qs = a.qs, ad = a.d;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 22, x = aOff + b * 32;
      const qh = qh32(w, o + 2);
      let isum = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 6 + j]!;
        isum += (((q & 15) | (((qh >>> j) << 4) & 16)) - 16) * qs[x + j]!;
        isum += (((q >> 4) | ((qh >>> (j + 12)) & 16)) - 16) * qs[x + j + 16]!;
      }
      s += isum * Math.fround(F16_TO_F32[readU16(w, o)]! * ad[x >>> 5]!);
    }
    return s;
  },
};

export { qh32 };
