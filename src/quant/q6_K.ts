// Q6_K: super-blocks of 256 as 16 sub-blocks of 16 6-bit quants with signed 8-bit scales and one
// f16 d (210 bytes, 6.5625 bits per weight): y = d * sc * (q - 32). Layout { u8 ql[128]; u8 qh[64];
// i8 scales[16]; f16 d }: in each 128-element half, element 32k + l keeps its low 4 bits in
// ql[l + 32(k&1)] (high nibble when k >= 2) and its top 2 bits in bits 2k of qh[l].

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';
import { GROUP_MAX_EPS, nearestInt, makeQxQuants } from './k-common.js';

const fr = Math.fround;
const L = new Int8Array(256), scales = new Float32Array(16);

export const Q6_K: QuantFormat = {
  id: 14, name: 'Q6_K', blockSize: 256, typeSize: 210, vecDot: 'q8_K', wasm: { colsAlign: 256, rows4k: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 210;
      const d = F16_TO_F32[readU16(src, o + 208)]!;
      for (let h = 0; h < 2; h++) {
        const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h, y = dstOff + b * 256 + 128 * h;
        for (let l = 0; l < 32; l++) {
          const is = l >> 4, a = src[ql + l]!, c = src[ql + l + 32]!, hb = src[qh + l]!;
          dst[y + l] = fr(d * ((src[sc + is]! << 24) >> 24)) * (((a & 0xf) | ((hb & 3) << 4)) - 32);
          dst[y + l + 32] = fr(d * ((src[sc + is + 2]! << 24) >> 24)) * (((c & 0xf) | (((hb >> 2) & 3) << 4)) - 32);
          dst[y + l + 64] = fr(d * ((src[sc + is + 4]! << 24) >> 24)) * (((a >> 4) | (((hb >> 4) & 3) << 4)) - 32);
          dst[y + l + 96] = fr(d * ((src[sc + is + 6]! << 24) >> 24)) * (((c >> 4) | (((hb >> 6) & 3) << 4)) - 32);
        }
      }
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 256; b++) {
      const x = srcOff + b * 256, o = dstOff + b * 210;
      let maxScale = 0, maxAbsScale = 0;
      for (let ib = 0; ib < 16; ib++) {
        const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib);
        scales[ib] = scale;
        if (Math.abs(scale) > maxAbsScale) { maxAbsScale = Math.abs(scale); maxScale = scale; }
      }
      if (maxAbsScale < GROUP_MAX_EPS) {
        dst.fill(0, o, o + 210);
        continue;
      }
      const iscale = fr(-128 / maxScale);
      writeU16(dst, o + 208, f32ToF16(fr(1 / iscale)));
      for (let ib = 0; ib < 16; ib++) dst[o + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]!))) & 0xff;
      const d0 = F16_TO_F32[readU16(dst, o + 208)]!;
      for (let j = 0; j < 16; j++) {
        const d = fr(d0 * ((dst[o + 192 + j]! << 24) >> 24));
        if (!d) continue;
        for (let ii = 0; ii < 16; ii++) {
          const l = nearestInt(fr(src[x + 16 * j + ii]! / d));
          L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
        }
      }
      for (let h = 0; h < 2; h++) {
        const j = 128 * h, ql = o + 64 * h, qh = o + 128 + 32 * h;
        for (let l = 0; l < 32; l++) {
          const q1 = L[j + l]!, q2 = L[j + l + 32]!, q3 = L[j + l + 64]!, q4 = L[j + l + 96]!;
          dst[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
          dst[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
          dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data, q8 = a.qs;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 210, x = aOff + b * 256;
      let isum = 0;
      for (let h = 0; h < 2; h++) {
        const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h, y = x + 128 * h;
        for (let quarter = 0; quarter < 4; quarter++) {
          // Elements 32*quarter + l: low bits in ql[l + 32(quarter&1)] (high nibble for quarters 2, 3).
          const qlo = ql + 32 * (quarter & 1), shiftL = quarter >= 2 ? 4 : 0, shiftH = 2 * quarter, yq = y + 32 * quarter;
          for (let half = 0; half < 32; half += 16) {
            let isuml = 0;
            for (let l = half; l < half + 16; l++) {
              const q = (((w[qlo + l]! >> shiftL) & 0xf) | (((w[qh + l]! >> shiftH) & 3) << 4)) - 32;
              isuml += q8[yq + l]! * q;
            }
            isum += ((w[sc + 2 * quarter + (half >> 4)]! << 24) >> 24) * isuml;
          }
        }
      }
      s += isum * fr(F16_TO_F32[readU16(w, o + 208)]! * a.d[x >>> 8]!);
    }
    return s;
  },
};
