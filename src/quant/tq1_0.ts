// TQ1_0: ternary {-1, 0, 1} super-blocks of 256 with one f16 scale (54 bytes, 1.6875 bits per
// weight), packed five trits per byte in base 3 (BitNet b1.58 / TriLMs as llama.cpp stores them).
// Layout { u8 qs[48]; u8 qh[4]; f16 d }: a byte holds ceil(v * 256 / 243) for v = sum t_n 3^(4-n),
// so trit n is read back as ((u8)(byte * 3^n) * 3) >> 8. Quantizer: d = amax, t = round(x/d) + 1.

import { LUT_PACK, type QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16, roundf } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

const fr = Math.fround;
const POW3 = [1, 3, 9, 27, 81, 243];

/** Element order: 160 in qs[0..31] (5 trits x 32), 80 in qs[32..47] (5 x 16), 16 in qh (4 x 4). */
function trit(byte: number, n: number): number {
  return (((byte * POW3[n]!) & 0xff) * 3) >> 8;
}

export const TQ1_0: QuantFormat = {
  id: 34, name: 'TQ1_0', blockSize: 256, typeSize: 54, vecDot: 'q8_K', wasm: { colsAlign: 256, ternary: 'recode' },
  // Base-3 packing has no bit planes: the LUT kernels unpack trits to 2-bit codes (0, 1, 2).
  lut: {
    bits: 2, group: 256, offset: 'none', zero: 1, wasm: { kind: LUT_PACK.TQ1_0, codeOff: 0 },
    unpack(src, rowOff, g, codes) {
      const o = rowOff + g * 54;
      let y = 0;
      for (let n5 = 0; n5 < 5; n5++) for (let m = 0; m < 32; m++) codes[y++] = trit(src[o + m]!, n5);
      for (let n5 = 0; n5 < 5; n5++) for (let m = 0; m < 16; m++) codes[y++] = trit(src[o + 32 + m]!, n5);
      for (let n4 = 0; n4 < 4; n4++) for (let j = 0; j < 4; j++) codes[y++] = trit(src[o + 48 + j]!, n4);
      return readU16(src, o + 52);
    },
  },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 54;
      const d = F16_TO_F32[readU16(src, o + 52)]!;
      let y = dstOff + b * 256;
      for (let n5 = 0; n5 < 5; n5++) for (let m = 0; m < 32; m++) dst[y++] = (trit(src[o + m]!, n5) - 1) * d;
      for (let n5 = 0; n5 < 5; n5++) for (let m = 0; m < 16; m++) dst[y++] = (trit(src[o + 32 + m]!, n5) - 1) * d;
      for (let n4 = 0; n4 < 4; n4++) for (let j = 0; j < 4; j++) dst[y++] = (trit(src[o + 48 + j]!, n4) - 1) * d;
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const x = srcOff + b * 256, o = dstOff + b * 54;
      let amax = 0;
      for (let j = 0; j < 256; j++) amax = Math.max(amax, Math.abs(src[x + j]!));
      const d = amax;
      const id = d ? fr(1 / d) : 0;
      writeU16(dst, o + 52, f32ToF16(d));
      const t = (i: number) => roundf(fr(src[x + i]! * id)) + 1;
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let k = 0; k < 5; k++) q = (q * 3 + t(m + 32 * k)) & 0xff;
        dst[o + m] = Math.floor((q * 256 + 242) / 243);
      }
      for (let m = 0; m < 16; m++) {
        let q = 0;
        for (let k = 0; k < 5; k++) q = (q * 3 + t(160 + m + 16 * k)) & 0xff;
        dst[o + 32 + m] = Math.floor((q * 256 + 242) / 243);
      }
      for (let j = 0; j < 4; j++) {
        let q = 0;
        for (let k = 0; k < 4; k++) q = (q * 3 + t(240 + j + 4 * k)) & 0xff;
        q = (q * 3) & 0xff;
        dst[o + 48 + j] = Math.floor((q * 256 + 242) / 243);
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 54, x = aOff + b * 256;
      let sum = 0, y = x;
      for (let n5 = 0; n5 < 5; n5++) for (let m = 0; m < 32; m++) sum += (trit(w[o + m]!, n5) - 1) * q8[y++]!;
      for (let n5 = 0; n5 < 5; n5++) for (let m = 0; m < 16; m++) sum += (trit(w[o + 32 + m]!, n5) - 1) * q8[y++]!;
      for (let n4 = 0; n4 < 4; n4++) for (let j = 0; j < 4; j++) sum += (trit(w[o + 48 + j]!, n4) - 1) * q8[y++]!;
      s += sum * fr(F16_TO_F32[readU16(w, o + 52)]! * a.d[x >>> 8]!);
    }
    return s;
  },
};
