// TQ2_0: ternary {-1, 0, 1} super-blocks of 256 with one f16 scale, 2 bits per trit (66 bytes,
// 2.0625 bits per weight). Layout { u8 qs[64]; f16 d }: element 128j + 32n + m sits in bits 2n of
// qs[32j + m] as t = q + 1 (code 3 unused). Quantizer: d = amax, t = round(x/d) + 1.

import { LUT_PACK, type QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16, roundf } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

const fr = Math.fround;

export const TQ2_0: QuantFormat = {
  id: 35, name: 'TQ2_0', blockSize: 256, typeSize: 66, vecDot: 'q8_K', wasm: { colsAlign: 256, ternary: 'direct' },
  lut: {
    bits: 2, group: 256, offset: 'none', zero: 1, wasm: { kind: LUT_PACK.TQ2_0, codeOff: 0 },
    unpack(src, rowOff, g, codes) {
      const o = rowOff + g * 66;
      let y = 0;
      for (let j = 0; j < 64; j += 32) for (let l = 0; l < 4; l++) for (let m = 0; m < 32; m++) codes[y++] = (src[o + j + m]! >> (2 * l)) & 3;
      return readU16(src, o + 64);
    },
  },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 66;
      const d = F16_TO_F32[readU16(src, o + 64)]!;
      let y = dstOff + b * 256;
      for (let j = 0; j < 64; j += 32)
        for (let l = 0; l < 4; l++)
          for (let m = 0; m < 32; m++) dst[y++] = (((src[o + j + m]! >> (2 * l)) & 3) - 1) * d;
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const x = srcOff + b * 256, o = dstOff + b * 66;
      let amax = 0;
      for (let j = 0; j < 256; j++) amax = Math.max(amax, Math.abs(src[x + j]!));
      const id = amax ? fr(1 / amax) : 0;
      writeU16(dst, o + 64, f32ToF16(amax));
      for (let j = 0; j < 64; j += 32) {
        for (let m = 0; m < 32; m++) {
          let q = 0;
          for (let l = 0; l < 4; l++) q += ((roundf(fr(src[x + 4 * j + 32 * l + m]! * id)) + 1) & 3) << (2 * l);
          dst[o + j + m] = q & 0xff;
        }
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 66, x = aOff + b * 256;
      let sum = 0, y = x;
      for (let j = 0; j < 64; j += 32)
        for (let l = 0; l < 4; l++)
          for (let m = 0; m < 32; m++) sum += (((w[o + j + m]! >> (2 * l)) & 3) - 1) * q8[y++]!;
      s += sum * fr(F16_TO_F32[readU16(w, o + 64)]! * a.d[x >>> 8]!);
    }
    return s;
  },
};
