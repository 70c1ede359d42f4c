// Q8_K: super-blocks of 256 int8 with one f32 scale and 16 sums of 16 quants (292 bytes). It is the
// activation format the K-quant and ternary dot products consume (ggml's vec_dot_type), and also a
// storable tensor type. quantize_row_q8_K_ref: d = max/-127 of the signed absolute maximum.

import type { QuantFormat } from './types.js';
import { nearestInt } from './k-common.js';

const fr = Math.fround;

/**
 * Quantize n elements (a multiple of 256) of x at xOff into int8 quants at qs[qOff..], one scale per
 * 256 (d[qOff/256..]) and one sum per 16 (bsums[qOff/16..]), as quantize_row_q8_K_ref does.
 */
export function quantizeQ8KBlocks(x: Float32Array, xOff: number, n: number, qs: Int8Array, qOff: number, d: Float32Array, bsums: Int16Array): void {
  for (let b = 0; b < n; b += 256) {
    const xo = xOff + b, qo = qOff + b;
    let max = 0, amax = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[xo + j]!);
      if (ax > amax) { amax = ax; max = x[xo + j]!; }
    }
    if (!amax) {
      d[qo >>> 8] = 0;
      qs.fill(0, qo, qo + 256);
      // ggml leaves bsums unwritten here; they multiply a zero scale either way.
      bsums.fill(0, qo >>> 4, (qo >>> 4) + 16);
      continue;
    }
    const iscale = fr(-127 / max);
    for (let j = 0; j < 256; j++) qs[qo + j] = Math.min(127, nearestInt(fr(iscale * x[xo + j]!)));
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += qs[qo + 16 * j + i]!;
      bsums[(qo >>> 4) + j] = sum;
    }
    d[qo >>> 8] = fr(1 / iscale);
  }
}

const scratchQs = new Int8Array(256), scratchD = new Float32Array(1), scratchSums = new Int16Array(16);

export const Q8_K: QuantFormat = {
  id: 15, name: 'Q8_K', blockSize: 256, typeSize: 292, vecDot: 'q8_K',
  dequantize(src, srcOff, dst, dstOff, n) {
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let b = 0; b < n / 256; b++) {
      const o = srcOff + b * 292, y = dstOff + b * 256;
      const d = dv.getFloat32(o, true);
      for (let j = 0; j < 256; j++) dst[y + j] = fr(d * ((src[o + 4 + j]! << 24) >> 24));
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
    for (let b = 0; b < n / 256; b++) {
      const o = dstOff + b * 292;
      quantizeQ8KBlocks(src, srcOff + b * 256, 256, scratchQs, 0, scratchD, scratchSums);
      dv.setFloat32(o, scratchD[0]!, true);
      for (let j = 0; j < 256; j++) dst[o + 4 + j] = scratchQs[j]! & 0xff;
      for (let j = 0; j < 16; j++) dv.setInt16(o + 260 + 2 * j, scratchSums[j]!, true);
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
    const qs = a.qs;
    let s = 0;
    for (let b = 0; b < n / 256; b++) {
      const o = wOff + b * 292, x = aOff + b * 256;
      let isum = 0;
      for (let j = 0; j < 256; j++) isum += ((w[o + 4 + j]! << 24) >> 24) * qs[x + j]!;
      s += isum * fr(dv.getFloat32(o, true) * a.d[x >>> 8]!);
    }
    return s;
  },
};
