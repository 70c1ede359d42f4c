// The four-row decode layout (assembly/rows4.ts's twin): how a matrix of a 32-element block format
// whose block opens with its f16 scale (Q4_0, Q8_0) is re-laid in place at load, how a row is read
// back (embedding lookups of a tied table), and the product over it with the WebAssembly kernel's
// float order, so the two can be compared bit for bit.
//
// Rows go in groups of four, each group in the bytes its rows had; per block of a group:
//   [4 x f16 scale, rows 0..3][payload in 4-byte chunks: chunk c = rows 0..3's bytes 4c..4c+3]
// The last rows % 4 stay in row layout.

import type { WeightMatrix } from '../types.js';
import type { QuantFormat } from '../../quant/types.js';
import { weightBytes } from '../../quant/types.js';
import { newActivationRow, prepareActivation } from './activations.js';

/** Set in the wasm matmul's type argument for a matrix in this layout (assembly/rows4.ts ROWS4_FLAG). */
export const ROWS4_FLAG = 0x10000;

/** Whether a matrix can take the layout: its format declares it and whole 4-byte payload chunks. */
export function rows4Fits(format: QuantFormat, rows: number, cols: number): boolean {
  return !!format.wasm?.rows4 && format.blockSize === 32 && (format.typeSize - 2) % 4 === 0 && cols % 32 === 0 && rows >= 4;
}

/**
 * Whether the relaxed-SIMD kernel takes this format's activations split (rows4SplitQ8): payloads
 * of signed bytes (Q8_0) sit in the relaxed dot's first operand, so the activations must be 0..127.
 */
export function rows4SplitsActs(format: QuantFormat): boolean {
  return format.typeSize === 2 + format.blockSize;
}

/**
 * assembly/rows4.ts rows4_split_q8's twin: n int8 activations (whole blocks of 32) as, per block,
 * 32 bytes max(a, 0) then 32 bytes min(max(-a, 0), 127), so a = p - n with both halves 0..127
 * (-128, which quantize_q8 never writes, reads as -127).
 */
export function rows4SplitQ8(act: Int8Array, n: number, out: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    const a = act[i]!, o = 2 * (i - (i & 31)) + (i & 31);
    out[o] = Math.max(a, 0);
    out[o + 32] = Math.min(Math.max(-a, 0), 127);
  }
}

/** Re-lay rows (rowBytes apart from byte `off` of data) in place; the last rows % 4 stay. */
export function rows4Pack(data: Uint8Array, off: number, rowBytes: number, rows: number, blockBytes: number): void {
  const tmp = new Uint8Array(4 * rowBytes), chunks = (blockBytes - 2) >> 2, nb = rowBytes / blockBytes;
  for (let g = 0; g < rows >> 2; g++) {
    const base = off + g * 4 * rowBytes;
    tmp.set(data.subarray(base, base + 4 * rowBytes));
    for (let b = 0; b < nb; b++) {
      const dst = base + b * 4 * blockBytes;
      for (let r = 0; r < 4; r++) {
        const src = r * rowBytes + b * blockBytes;
        data[dst + 2 * r] = tmp[src]!; data[dst + 2 * r + 1] = tmp[src + 1]!;
        for (let c = 0; c < chunks; c++) data.set(tmp.subarray(src + 2 + 4 * c, src + 6 + 4 * c), dst + 8 + 16 * c + 4 * r);
      }
    }
  }
}

/** Row `row` of a re-laid matrix (data from byte 0) as its original bytes, into out[outOff..+rowBytes). */
export function rows4Row(data: Uint8Array, rowBytes: number, rows: number, blockBytes: number, row: number, out: Uint8Array, outOff: number): void {
  if (row >= (rows & ~3)) { out.set(data.subarray(row * rowBytes, (row + 1) * rowBytes), outOff); return; }
  const chunks = (blockBytes - 2) >> 2, nb = rowBytes / blockBytes, r = row & 3, base = (row >> 2) * 4 * rowBytes;
  for (let b = 0; b < nb; b++) {
    const src = base + b * 4 * blockBytes, dst = outOff + b * blockBytes;
    out[dst] = data[src + 2 * r]!; out[dst + 1] = data[src + 2 * r + 1]!;
    for (let c = 0; c < chunks; c++) out.set(data.subarray(src + 8 + 16 * c + 4 * r, src + 12 + 16 * c + 4 * r), dst + 2 + 4 * c);
  }
}

/**
 * y = W x for a re-laid matrix, summed as the WebAssembly kernels sum: per (row, token), block by
 * block in f32, sum += f32(isum * f32(dw * da)). The format's own dot over one block gives exactly
 * isum * f32(dw * da) (an integer times an f32 is exact in a double).
 */
export function rows4Matmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
  const { rows, cols, rowBytes, format } = w;
  const a = newActivationRow(format.vecDot, cols * nTok);
  for (let t = 0; t < nTok; t++) prepareActivation(a, x, t * cols, cols, t * cols);
  const row = weightBytes(new Uint8Array(rowBytes));
  for (let r = 0; r < rows; r++) {
    rows4Row(w.data, rowBytes, rows, format.typeSize, r, row.data, 0);
    for (let t = 0; t < nTok; t++) {
      let s = 0;
      for (let b = 0; b < cols / 32; b++) s = Math.fround(s + Math.fround(format.dot(row, b * format.typeSize, a, t * cols + b * 32, 32)));
      y[t * rows + r] = s;
    }
  }
}
