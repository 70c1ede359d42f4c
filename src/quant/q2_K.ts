// Q2_K: super-blocks of 256 as 16 sub-blocks of 16 2-bit quants, each sub-block with a 4-bit
// scale and a 4-bit min relative to the block's f16 d and dmin (84 bytes, 2.625 bits per weight):
// y = d * sc * q - dmin * m. Layout { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }: element
// 128h + 32j + i sits in bits 2j of qs[32h + i].

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';
import { nearestInt, makeQkx2Quants } from './k-common.js';

const fr = Math.fround;
const L = new Uint8Array(256), Laux = new Uint8Array(16), weights = new Float32Array(16);
const mins = new Float32Array(16), scales = new Float32Array(16);

export const Q2_K: QuantFormat = {
  id: 10, name: 'Q2_K', blockSize: 256, typeSize: 84, vecDot: 'q8_K', wasm: { colsAlign: 256, rows4lo: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 84;
      const d = F16_TO_F32[readU16(src, o + 80)]!, min = F16_TO_F32[readU16(src, o + 82)]!;
      let y = dstOff + b * 256, is = 0;
      for (let h = 0; h < 2; h++) {
        const q = o + 16 + 32 * h;
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            const sc = src[o + is++]!;
            const dl = fr(d * (sc & 0xf)), ml = fr(min * (sc >> 4));
            for (let l = 0; l < 16; l++) dst[y++] = fr(dl * ((src[q + half + l]! >> shift) & 3)) - ml;
          }
        }
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const x = srcOff + b * 256, o = dstOff + b * 84;
      let maxScale = 0, maxMin = 0;
      for (let j = 0; j < 16; j++) {
        for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x + 16 * j + l]!);
        scales[j] = makeQkx2Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, mins, j, Laux, -0.5, fr(0.1), 15, true);
        if (scales[j]! > maxScale) maxScale = scales[j]!;
        if (mins[j]! > maxMin) maxMin = mins[j]!;
      }
      if (maxScale > 0) {
        const iscale = fr(15 / maxScale);
        for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fr(iscale * scales[j]!)) & 0xff;
        writeU16(dst, o + 80, f32ToF16(fr(maxScale / 15)));
      } else {
        for (let j = 0; j < 16; j++) dst[o + j] = 0;
        writeU16(dst, o + 80, 0);
      }
      if (maxMin > 0) {
        const iscale = fr(15 / maxMin);
        for (let j = 0; j < 16; j++) dst[o + j] = (dst[o + j]! | (nearestInt(fr(iscale * mins[j]!)) << 4)) & 0xff;
        writeU16(dst, o + 82, f32ToF16(fr(maxMin / 15)));
      } else {
        writeU16(dst, o + 82, 0);
      }
      const d0 = F16_TO_F32[readU16(dst, o + 80)]!, m0 = F16_TO_F32[readU16(dst, o + 82)]!;
      for (let j = 0; j < 16; j++) {
        const d = fr(d0 * (dst[o + j]! & 0xf));
        if (!d) continue;
        const dm = fr(m0 * (dst[o + j]! >> 4));
        for (let ii = 0; ii < 16; ii++) {
          const l = nearestInt(fr(fr(src[x + 16 * j + ii]! + dm) / d));
          L[16 * j + ii] = Math.max(0, Math.min(3, l));
        }
      }
      for (let j = 0; j < 256; j += 128) {
        for (let l = 0; l < 32; l++) {
          dst[o + 16 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
        }
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs, bsums = a.bsums;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 84, x = aOff + b * 256, bs = x >>> 4;
      let summs = 0;
      for (let j = 0; j < 16; j++) summs += bsums[bs + j]! * (w[o + j]! >> 4);
      const yd = a.d[x >>> 8]!;
      const dall = fr(yd * F16_TO_F32[readU16(w, o + 80)]!);
      const dmin = fr(yd * F16_TO_F32[readU16(w, o + 82)]!);
      let isum = 0, is = 0, y = x;
      for (let h = 0; h < 2; h++) {
        const q = o + 16 + 32 * h;
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half = 0; half < 32; half += 16) {
            let isuml = 0;
            for (let l = 0; l < 16; l++) isuml += q8[y + l]! * ((w[q + half + l]! >> shift) & 3);
            isum += (w[o + is++]! & 0xf) * isuml;
            y += 16;
          }
        }
      }
      s += dall * isum - dmin * summs;
    }
    return s;
  },
};
