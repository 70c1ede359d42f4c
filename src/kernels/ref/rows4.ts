// The four-row decode layout (assembly/rows4.ts's and rows4-f16.ts's twin): how a matrix of a
// 32-element block format whose block opens with its f16 scale (Q4_0, Q8_0) or scale and minimum
// (Q4_1), or an F16 matrix, is re-laid in place at load, how a row is read back (embedding lookups
// of a tied table), and the product over it with the WebAssembly kernel's float order, so the two
// can be compared bit for bit.
//
// Rows go in groups of four, each group in the bytes its rows had; per block of a group:
//   [4 x f16 scale, rows 0..3]([4 x f16 minimum] for Q4_1)[payload in 4-byte chunks: chunk c = rows 0..3's bytes 4c..4c+3]
// F16 rows are one block without header: chunk c holds each row's columns 2c and 2c + 1.
// The last rows % 4 stay in row layout.

import type { WeightMatrix } from '../types.js';
import type { QuantFormat } from '../../quant/types.js';
import { weightBytes } from '../../quant/types.js';
import { newActivationRow, prepareActivation } from './activations.js';
import { F16_TO_F32 } from '../../core/f16.js';

/** Set in the wasm matmul's type argument for a matrix in this layout (assembly/rows4.ts ROWS4_FLAG). */
export const ROWS4_FLAG = 0x10000;

/**
 * Set with ROWS4_FLAG for a Q8_0 matrix whose grouped payload bytes are biased, w ^ 0x80
 * (assembly/rows4-q8u.ts ROWS4_U8_FLAG): what the backend does where the engine's relaxed dot reads
 * its second operand as an exact unsigned byte (WasmKernels.q8Unsigned).
 */
export const ROWS4_U8_FLAG = 0x40000;

/**
 * A layout block of one row and the f16 values that open it (rows4_pack's `fields`), by the
 * format's block bytes: F16 (2 bytes an element) re-lays whole rows with no header; Q4_1 (20) has
 * its scale and minimum; Q4_0 and Q8_0 their scale.
 */
export function rows4Block(typeSize: number, rowBytes: number): { blockBytes: number; fields: number } {
  if (typeSize === 2) return { blockBytes: rowBytes, fields: 0 };
  return { blockBytes: typeSize, fields: typeSize === 20 ? 2 : 1 };
}

/** Whether a matrix can take the layout: its format declares it and whole 4-byte payload chunks. */
export function rows4Fits(format: QuantFormat, rows: number, cols: number): boolean {
  // Rows the matmul export takes (colsAlign; else the reference computes them, from the row layout).
  if (!format.wasm?.rows4 || rows < 4 || cols % format.wasm.colsAlign !== 0) return false;
  if (format.blockSize === 1) return format.typeSize === 2 && cols % 2 === 0;
  return format.blockSize === 32 && (format.typeSize - 2 * rows4Block(format.typeSize, 0).fields) % 4 === 0 && cols % 32 === 0;
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

/** Re-lay rows (rowBytes apart from byte `off` of data, blocks of typeSize: rows4Block) in place; the last rows % 4 stay. */
export function rows4Pack(data: Uint8Array, off: number, rowBytes: number, rows: number, typeSize: number): void {
  const { blockBytes, fields } = rows4Block(typeSize, rowBytes);
  const tmp = new Uint8Array(4 * rowBytes), chunks = (blockBytes - 2 * fields) >> 2, nb = rowBytes / blockBytes;
  for (let g = 0; g < rows >> 2; g++) {
    const base = off + g * 4 * rowBytes;
    tmp.set(data.subarray(base, base + 4 * rowBytes));
    for (let b = 0; b < nb; b++) {
      const dst = base + b * 4 * blockBytes;
      for (let r = 0; r < 4; r++) {
        const src = r * rowBytes + b * blockBytes;
        for (let f = 0; f < fields; f++) { data[dst + 8 * f + 2 * r] = tmp[src + 2 * f]!; data[dst + 8 * f + 2 * r + 1] = tmp[src + 2 * f + 1]!; }
        for (let c = 0; c < chunks; c++) data.set(tmp.subarray(src + 2 * fields + 4 * c, src + 2 * fields + 4 + 4 * c), dst + 8 * fields + 16 * c + 4 * r);
      }
    }
  }
}

/**
 * assembly/rows4-q8u.ts rows4_bias_q8's twin: the payload bytes of a re-laid Q8_0 matrix's grouped
 * rows (from byte `off`) XORed with 0x80 in place (w + 128 as an unsigned byte); applied twice it
 * gives the bytes back.
 */
export function rows4BiasQ8(data: Uint8Array, off: number, rowBytes: number, rows: number): void {
  const end = off + (rows >> 2) * 4 * rowBytes;
  // Per group block of 136 bytes: 8 bytes of scales, then 128 payload bytes.
  for (let b = off; b < end; b += 136) for (let j = 8; j < 136; j++) data[b + j]! ^= 0x80;
}

/** out[d..d+4) = data[s..s+4): the row read-backs copy 4-byte chunks this way, not by a subarray each (an allocation per chunk). */
export function copy4(out: Uint8Array, d: number, data: Uint8Array, s: number): void {
  out[d] = data[s]!; out[d + 1] = data[s + 1]!; out[d + 2] = data[s + 2]!; out[d + 3] = data[s + 3]!;
}

/**
 * Row `row` of a re-laid matrix (data from byte 0) as its original bytes, into out[outOff..+rowBytes);
 * `biased`: a Q8_0 matrix biased by rows4BiasQ8, whose grouped rows' payloads are read back unbiased.
 */
export function rows4Row(data: Uint8Array, rowBytes: number, rows: number, typeSize: number, row: number, out: Uint8Array, outOff: number, biased = false): void {
  if (row >= (rows & ~3)) { out.set(data.subarray(row * rowBytes, (row + 1) * rowBytes), outOff); return; }
  const { blockBytes, fields } = rows4Block(typeSize, rowBytes);
  const chunks = (blockBytes - 2 * fields) >> 2, nb = rowBytes / blockBytes, r = row & 3, base = (row >> 2) * 4 * rowBytes;
  for (let b = 0; b < nb; b++) {
    const src = base + b * 4 * blockBytes, dst = outOff + b * blockBytes;
    for (let f = 0; f < fields; f++) { out[dst + 2 * f] = data[src + 8 * f + 2 * r]!; out[dst + 2 * f + 1] = data[src + 8 * f + 2 * r + 1]!; }
    // The WebAssembly backend's embedding lookup reads a tied output table's rows back through here every token.
    for (let c = 0; c < chunks; c++) copy4(out, dst + 2 * fields + 4 * c, data, src + 8 * fields + 16 * c + 4 * r);
    if (biased) for (let j = dst + 2 * fields; j < dst + blockBytes; j++) out[j]! ^= 0x80;
  }
}

/**
 * y = W x for a re-laid matrix, summed as the WebAssembly kernels sum: per (row, token), block by
 * block in f32, sum += f32(isum * f32(dw * da)). The format's own dot over one block gives exactly
 * isum * f32(dw * da) (an integer times an f32 is exact in a double). Q4_1 adds its minimum's term
 * in f32 as dot_q4_1 does: sum += f32(f32(isum * f32(dw * da)) + f32(m * (d * sum)_a)). F16: column
 * by column, sum = f32(sum + f32(w * x)) with x rounded to f16. `biased`: as rows4Row (a biased Q8_0
 * matrix's kernels take the bias off in integers, so its sums are the same).
 */
export function rows4Matmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array, biased = false): void {
  const { rows, cols, rowBytes, format } = w;
  const a = newActivationRow(format.vecDot, cols * nTok);
  for (let t = 0; t < nTok; t++) prepareActivation(a, x, t * cols, cols, t * cols);
  const row = weightBytes(new Uint8Array(rowBytes));
  const f = Math.fround;
  for (let r = 0; r < rows; r++) {
    rows4Row(w.data, rowBytes, rows, format.typeSize, r, row.data, 0, biased);
    for (let t = 0; t < nTok; t++) {
      let s = 0;
      if (format.vecDot === 'f16') {
        for (let k = 0; k < cols; k++) s = f(s + f(F16_TO_F32[row.data[2 * k]! | (row.data[2 * k + 1]! << 8)]! * a.f[t * cols + k]!));
      } else if (format.vecDot === 'q8_1') {
        for (let b = 0; b < cols / 32; b++) {
          const o = b * format.typeSize, xo = t * cols + b * 32, blk = xo >> 5;
          let isum = 0;
          for (let j = 0; j < 16; j++) { const q = row.data[o + 4 + j]!; isum += (q & 15) * a.qs[xo + j]! + (q >> 4) * a.qs[xo + 16 + j]!; }
          const dw = F16_TO_F32[row.data[o]! | (row.data[o + 1]! << 8)]!, mw = F16_TO_F32[row.data[o + 2]! | (row.data[o + 3]! << 8)]!;
          s = f(s + f(f(isum * f(dw * a.d[blk]!)) + f(mw * a.s[blk]!)));
        }
      } else {
        for (let b = 0; b < cols / 32; b++) s = f(s + f(format.dot(row, b * format.typeSize, a, t * cols + b * 32, 32)));
      }
      y[t * rows + r] = s;
    }
  }
}
