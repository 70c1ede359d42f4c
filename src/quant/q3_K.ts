// Q3_K: super-blocks of 256 as 16 sub-blocks of 16 3-bit quants with signed 6-bit scales and one
// f16 d (110 bytes, 3.4375 bits per weight): y = d * (sc - 32) * (q - 4). Layout { u8 hmask[32];
// u8 qs[64]; u8 scales[12]; f16 d }: the low 2 bits as in Q2_K, the high bit of element e in bit
// e/32 of hmask[e%32] (set means q >= 4), scales as 16 low nibbles plus 16 2-bit high parts.

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';
import { nearestInt, makeQ3Quants } from './k-common.js';

const fr = Math.fround;
const L = new Int8Array(256), scales = new Float32Array(16), sc16 = new Int8Array(16);

/** The 16 signed scales (already minus 32) from the 12 packed bytes at `o`. */
function unpackScales(b: Uint8Array, o: number, out: Int8Array): void {
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? b[o + j]! & 0xf : b[o + j - 8]! >> 4;
    out[j] = (low | (((b[o + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
  }
}

export const Q3_K: QuantFormat = {
  id: 11, name: 'Q3_K', blockSize: 256, typeSize: 110, vecDot: 'q8_K', wasm: { colsAlign: 256, rows4lo: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 110;
      const dAll = F16_TO_F32[readU16(src, o + 108)]!;
      unpackScales(src, o + 96, sc16);
      let y = dstOff + b * 256, is = 0, m = 1;
      for (let h = 0; h < 2; h++) {
        const q = o + 32 + 32 * h;
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            const dl = fr(dAll * sc16[is++]!);
            for (let l = 0; l < 16; l++) {
              const k = half + l;
              dst[y++] = dl * (((src[q + k]! >> shift) & 3) - (src[o + k]! & m ? 0 : 4));
            }
          }
          m <<= 1;
        }
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const x = srcOff + b * 256, o = dstOff + b * 110;
      let maxScale = 0, amax = 0;
      for (let j = 0; j < 16; j++) {
        scales[j] = makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j);
        const s = Math.abs(scales[j]!);
        if (s > amax) { amax = s; maxScale = scales[j]!; }
      }
      const so = o + 96;
      for (let j = 0; j < 12; j++) dst[so + j] = 0;
      if (maxScale) {
        const iscale = fr(-32 / maxScale);
        for (let j = 0; j < 16; j++) {
          let l = (nearestInt(fr(iscale * scales[j]!)) << 24) >> 24;
          l = Math.max(-32, Math.min(31, l)) + 32;
          if (j < 8) dst[so + j] = l & 0xf;
          else dst[so + j - 8] |= (l & 0xf) << 4;
          l >>= 4;
          dst[so + (j % 4) + 8] |= l << (2 * (j >> 2));
        }
        writeU16(dst, o + 108, f32ToF16(fr(1 / iscale)));
      } else {
        writeU16(dst, o + 108, 0);
      }
      const d0 = F16_TO_F32[readU16(dst, o + 108)]!;
      unpackScales(dst, so, sc16);
      for (let j = 0; j < 16; j++) {
        const d = fr(d0 * sc16[j]!);
        if (!d) continue;
        for (let ii = 0; ii < 16; ii++) {
          const l = nearestInt(fr(src[x + 16 * j + ii]! / d));
          L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
        }
      }
      for (let j = 0; j < 32; j++) dst[o + j] = 0;
      let m = 0, hm = 1;
      for (let j = 0; j < 256; j++) {
        if (L[j]! > 3) {
          dst[o + m] |= hm;
          L[j] = L[j]! - 4;
        }
        if (++m === 32) { m = 0; hm <<= 1; }
      }
      for (let j = 0; j < 256; j += 128) {
        for (let l = 0; l < 32; l++) {
          dst[o + 32 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
        }
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 110, x = aOff + b * 256;
      unpackScales(w, o + 96, sc16);
      let isum = 0, is = 0, y = x, m = 1;
      for (let h = 0; h < 2; h++) {
        const q = o + 32 + 32 * h;
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            let isuml = 0;
            for (let l = 0; l < 16; l++) {
              const k = half + l;
              isuml += q8[y + l]! * (((w[q + k]! >> shift) & 3) - (w[o + k]! & m ? 0 : 4));
            }
            isum += sc16[is++]! * isuml;
            y += 16;
          }
          m <<= 1;
        }
      }
      s += isum * fr(F16_TO_F32[readU16(w, o + 108)]! * a.d[x >>> 8]!);
    }
    return s;
  },
};
