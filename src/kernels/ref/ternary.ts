// The direct ternary kernels' twins (assembly/ternary.ts): the product in their f32 order, and
// TQ1_0 re-coded as TQ2_0 (tq1_recode): the same trits and f16 scale per
// super-block of 256, in TQ2_0's 2-bit layout, so that TQ1_0 matrices run on the direct ternary
// kernels. The products over the result are TQ2_0's (quant/tq2_0.ts dot): the integer sums and the
// f32 order are TQ1_0's own, so a re-coded matrix gives TQ1_0's results bit for bit.

import type { WeightMatrix } from '../types.js';
import { TQ1_0 } from '../../quant/tq1_0.js';
import { F16_TO_F32 } from '../../core/f16.js';
import { newActivationRow, prepareActivation } from './activations.js';

const fr = Math.fround;

const TQ1_BYTES = 54, TQ2_BYTES = 66;
const codes = new Uint8Array(256), meta = new Uint16Array(0);

/** Re-code nBlocks TQ1_0 blocks of src (from srcOff) as TQ2_0 blocks into dst (from dstOff). */
export function tq1Recode(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, nBlocks: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const o = srcOff + b * TQ1_BYTES, d = dstOff + b * TQ2_BYTES;
    // TQ1_0's unpack yields codes in element order and the f16 scale's bits.
    const h = TQ1_0.lut!.unpack(src, o, 0, codes, meta);
    for (let i = 0; i < 64; i++) {
      const e = ((i >> 5) << 7) + (i & 31);
      dst[d + i] = codes[e]! | (codes[e + 32]! << 2) | (codes[e + 64]! << 4) | (codes[e + 96]! << 6);
    }
    dst[d + 64] = h & 0xff; dst[d + 65] = h >> 8;
  }
}

/** The bytes a TQ1_0 matrix takes re-coded: 66 per super-block instead of 54. */
export function tq1RecodedRowBytes(rowBytes: number): number {
  return (rowBytes / TQ1_BYTES) * TQ2_BYTES;
}

/**
 * y = W x for a TQ2_0 or TQ1_0 matrix (row layout) in the WebAssembly kernels' operations: Q8_K
 * activations, per super-block the integer sum of (code - 1) * a, and per row
 *   s = f32(s + f32(f32(isum) * f32(d * ad)))
 * super-block by super-block (dot.ts's dot_tq2_0 / dot_tq1_0, ternary.ts's four-row lanes).
 */
export function ternaryMatmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
  const { rows, cols, rowBytes, format } = w;
  const a = newActivationRow('q8_K', cols * nTok);
  for (let t = 0; t < nTok; t++) prepareActivation(a, x, t * cols, cols, t * cols);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < nTok; t++) {
      let s = 0;
      for (let b = 0; b < cols / 256; b++) {
        const h = format.lut!.unpack(w.data, r * rowBytes, b, codes, meta), xo = t * cols + b * 256;
        let isum = 0;
        for (let j = 0; j < 256; j++) isum += (codes[j]! - 1) * a.qs[xo + j]!;
        s = fr(s + fr(fr(isum) * fr(F16_TO_F32[h]! * a.d[xo >>> 8]!)));
      }
      y[t * rows + r] = s;
    }
  }
}

/**
 * The four-row layout (assembly/ternary.ts tq2_pack4) of a TQ2_0 matrix's first rows & ~3 rows,
 * in place: per group of four rows and super-block, 264 bytes = [f16 d of rows 0..3][chunk k =
 * bytes 16k..16k+15 of rows 0..3, k < 4]. The last rows % 4 stay in row layout.
 */
export function tq2Pack4(data: Uint8Array, off: number, rowBytes: number, rows: number): void {
  const tmp = new Uint8Array(4 * rowBytes), nb = rowBytes / TQ2_BYTES;
  for (let g = 0; g < rows >> 2; g++) {
    const base = off + g * 4 * rowBytes;
    tmp.set(data.subarray(base, base + 4 * rowBytes));
    for (let b = 0; b < nb; b++) {
      const dst = base + b * 4 * TQ2_BYTES;
      for (let r = 0; r < 4; r++) {
        const src = r * rowBytes + b * TQ2_BYTES;
        data[dst + 2 * r] = tmp[src + 64]!; data[dst + 2 * r + 1] = tmp[src + 65]!;
        for (let k = 0; k < 4; k++) data.set(tmp.subarray(src + 16 * k, src + 16 * k + 16), dst + 8 + 64 * k + 16 * r);
      }
    }
  }
}

/** Row `row` of a matrix tq2Pack4 re-laid (data from byte 0) as its TQ2_0 bytes, into out[outOff..+rowBytes). */
export function tq2Rows4Row(data: Uint8Array, rowBytes: number, rows: number, _blockBytes: number, row: number, out: Uint8Array, outOff: number): void {
  if (row >= (rows & ~3)) { out.set(data.subarray(row * rowBytes, (row + 1) * rowBytes), outOff); return; }
  const nb = rowBytes / TQ2_BYTES, r = row & 3, base = (row >> 2) * 4 * rowBytes;
  for (let b = 0; b < nb; b++) {
    const s = base + b * 4 * TQ2_BYTES, o = outOff + b * TQ2_BYTES;
    for (let k = 0; k < 4; k++) out.set(data.subarray(s + 8 + 64 * k + 16 * r, s + 8 + 64 * k + 16 * r + 16), o + 16 * k);
    out[o + 64] = data[s + 2 * r]!; out[o + 65] = data[s + 2 * r + 1]!;
  }
}
