// The four-row decode layout of Q2_K and Q3_K (assembly/rows4-lowbit.ts's twin): how a matrix is
// re-laid in place at load, how a row is read back (embedding lookups of a tied table), and the
// product over it with the WebAssembly kernel's integer sums and f32 order, so the two can be
// compared bit for bit.
//
// Rows go in groups of four, each group in the bytes its rows had, super-block by super-block:
// Q2_K 336 bytes: [f16 d x4][f16 dmin x4][scale nibbles 32][min nibbles 32][quants 256 in 4-byte chunks]
// Q3_K 440 bytes: [f16 d x4][scale low nibbles 32][scale top bits 16][8 triples of 48: whole 3-bit codes]
// (assembly/rows4-lowbit.ts details where each scale, min and code goes). The last rows % 4 stay in
// row layout.

import type { WeightMatrix } from '../types.js';
import type { ActivationRow, QuantFormat } from '../../quant/types.js';
import { F16_TO_F32 } from '../../core/f16.js';
import { readU16 } from '../../quant/views.js';
import { copy4 } from './rows4.js';
import { newActivationRow, prepareActivation } from './activations.js';
import { packGroups } from './rows4-k.js';

const fr = Math.fround;
const Q2_K_BYTES = 84, Q3_K_BYTES = 110;

/** Whether a matrix can take the layout: its format declares it, whole super-blocks, one group at least. */
export function rows4loFits(format: QuantFormat, rows: number, cols: number): boolean {
  const t = format.typeSize;
  return !!format.wasm?.rows4lo && (t === Q2_K_BYTES || t === Q3_K_BYTES) && cols % 256 === 0 && rows >= 4;
}

/** Q3_K scale s (6 bits as stored, 0..63) of the 12 packed bytes at o. */
function q3kScale(b: Uint8Array, o: number, s: number): number {
  const low = s < 8 ? b[o + s]! & 15 : b[o + s - 8]! >> 4;
  return low | (((b[o + 8 + (s & 3)]! >> (2 * (s >> 2))) & 3) << 4);
}

/** Q3_K code q + 4 (0..7) of element e of the block at s, in row layout. */
function q3kCode(b: Uint8Array, s: number, e: number): number {
  const l = e & 31, t = e >> 5;
  return ((b[s + 32 + 32 * (t >> 2) + l]! >> (2 * (t & 3))) & 3) | (((b[s + l]! >> t) & 1) << 2);
}

/** Code k (0..7) of a Q3_K triple's byte position from its parts' bytes x0, x1, x2. */
function tripleCode(x0: number, x1: number, x2: number, k: number): number {
  switch (k) {
    case 0: return x0 & 7;
    case 1: return (x0 >> 3) & 7;
    case 2: return x1 & 7;
    case 3: return (x1 >> 3) & 7;
    case 4: return x2 & 7;
    case 5: return (x2 >> 3) & 7;
    case 6: return (x0 >> 6) | (((x2 >> 6) & 1) << 2);
    default: return (x1 >> 6) | ((x2 >> 7) << 2);
  }
}

/** Where scale (and for Q2_K, min) s of lane r sits: [nibble byte, nibble shift, min byte, min shift]. */
function q2kPlaces(s: number, r: number): Int32Array {
  const p = 16 * (2 * (s >> 3) + (s & 1)) + 4 * ((s >> 1) & 3) + r, pm = 16 * r + s;
  places[0] = 16 + (p & 31); places[1] = 4 * (p >> 5); places[2] = 48 + (pm & 31); places[3] = 4 * (pm >> 5);
  return places;
}
const places = new Int32Array(4);

/** Super-block `s` (one row's, in row layout) as lane r of the zeroed group super-block at `d`. */
function packBlock(bb: number, src: Uint8Array, s: number, dst: Uint8Array, d: number, r: number): void {
  if (bb === Q2_K_BYTES) {
    dst[d + 2 * r] = src[s + 80]!; dst[d + 2 * r + 1] = src[s + 81]!;
    dst[d + 8 + 2 * r] = src[s + 82]!; dst[d + 9 + 2 * r] = src[s + 83]!;
    for (let j = 0; j < 16; j++) {
      const pl = q2kPlaces(j, r), v = src[s + j]!;
      dst[d + pl[0]!] |= (v & 15) << pl[1]!;
      dst[d + pl[2]!] |= (v >> 4) << pl[3]!;
    }
    for (let c = 0; c < 16; c++) dst.set(src.subarray(s + 16 + 4 * c, s + 20 + 4 * c), d + 80 + 16 * c + 4 * r);
    return;
  }
  dst[d + 2 * r] = src[s + 108]!; dst[d + 2 * r + 1] = src[s + 109]!;
  for (let j = 0; j < 16; j++) {
    const v = q3kScale(src, s + 96, j), p = 4 * j + r;
    dst[d + 8 + (p & 31)] |= (v & 15) << (4 * (p >> 5));
    dst[d + 40 + (p & 15)] |= (v >> 4) << (2 * (p >> 4));
  }
  for (let t = 0; t < 8; t++) {
    for (let i = 0; i < 4; i++) {
      const e = 32 * t + i, at = d + 56 + 48 * t + 4 * r + i;
      const c6 = q3kCode(src, s, e + 24), c7 = q3kCode(src, s, e + 28);
      dst[at] = q3kCode(src, s, e) | (q3kCode(src, s, e + 4) << 3) | ((c6 & 3) << 6);
      dst[at + 16] = q3kCode(src, s, e + 8) | (q3kCode(src, s, e + 12) << 3) | ((c7 & 3) << 6);
      dst[at + 32] = q3kCode(src, s, e + 16) | (q3kCode(src, s, e + 20) << 3) | ((c6 >> 2) << 6) | ((c7 >> 2) << 7);
    }
  }
}

/** Re-lay rows (rowBytes apart from byte `off` of data) in place; the last rows % 4 stay. */
export function rows4loPack(data: Uint8Array, off: number, rowBytes: number, rows: number, blockBytes: number): void {
  packGroups(data, off, rowBytes, rows, blockBytes, packBlock);
}

/** Row `row` of a re-laid matrix (data from byte 0) as its original bytes, into out[outOff..+rowBytes). */
export function rows4loRow(data: Uint8Array, rowBytes: number, rows: number, blockBytes: number, row: number, out: Uint8Array, outOff: number): void {
  if (row >= (rows & ~3)) { out.set(data.subarray(row * rowBytes, (row + 1) * rowBytes), outOff); return; }
  const nb = rowBytes / blockBytes, r = row & 3, base = (row >> 2) * 4 * rowBytes;
  for (let b = 0; b < nb; b++) {
    const s = base + b * 4 * blockBytes, o = outOff + b * blockBytes;
    if (blockBytes === Q2_K_BYTES) {
      out[o + 80] = data[s + 2 * r]!; out[o + 81] = data[s + 2 * r + 1]!;
      out[o + 82] = data[s + 8 + 2 * r]!; out[o + 83] = data[s + 9 + 2 * r]!;
      for (let j = 0; j < 16; j++) {
        const pl = q2kPlaces(j, r);
        out[o + j] = ((data[s + pl[0]!]! >> pl[1]!) & 15) | (((data[s + pl[2]!]! >> pl[3]!) & 15) << 4);
      }
      for (let c = 0; c < 16; c++) copy4(out, o + 16 + 4 * c, data, s + 80 + 16 * c + 4 * r);
      continue;
    }
    out[o + 108] = data[s + 2 * r]!; out[o + 109] = data[s + 2 * r + 1]!;
    out.fill(0, o, o + 108);
    for (let j = 0; j < 16; j++) {
      const p = 4 * j + r;
      const v = ((data[s + 8 + (p & 31)]! >> (4 * (p >> 5))) & 15) | (((data[s + 40 + (p & 15)]! >> (2 * (p >> 4))) & 3) << 4);
      // q3kScale's packing, inverted.
      if (j < 8) out[o + 96 + j] |= v & 15;
      else out[o + 96 + j - 8] |= (v & 15) << 4;
      out[o + 104 + (j & 3)] |= (v >> 4) << (2 * (j >> 2));
    }
    for (let t = 0; t < 8; t++) {
      for (let i = 0; i < 4; i++) {
        const at = s + 56 + 48 * t + 4 * r + i, x0 = data[at]!, x1 = data[at + 16]!, x2 = data[at + 32]!;
        for (let k = 0; k < 8; k++) {
          const l = 4 * k + i, c = tripleCode(x0, x1, x2, k);
          out[o + 32 + 32 * (t >> 2) + l] |= (c & 3) << (2 * (t & 3));
          out[o + l] |= (c >> 2) << t;
        }
      }
    }
  }
}

/**
 * y = W x for a re-laid matrix, summed as the WebAssembly kernels (and dot.ts's row kernels) sum:
 * per (row, token), super-block by super-block in f32 (blockTerm), the integer sums exact.
 */
export function rows4loMatmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
  const { rows, cols, rowBytes, format } = w;
  const bb = format.typeSize;
  const a = newActivationRow(format.vecDot, cols * nTok);
  for (let t = 0; t < nTok; t++) prepareActivation(a, x, t * cols, cols, t * cols);
  const row = new Uint8Array(rowBytes);
  for (let r = 0; r < rows; r++) {
    rows4loRow(w.data, rowBytes, rows, bb, r, row, 0);
    for (let t = 0; t < nTok; t++) {
      let s = 0;
      for (let b = 0; b < cols / 256; b++) s = fr(s + blockTerm(bb, row, b * bb, a, t * cols + b * 256));
      y[t * rows + r] = s;
    }
  }
}

/**
 * The f32 term one super-block (at byte o of a row in row layout) adds against the activations
 * from element xo, in the kernels' f32 operations:
 *   Q2_K: (d * yd) * f32(isum) - (dmin * yd) * f32(summs)      Q3_K: f32(isum) * (d * yd)
 */
function blockTerm(bb: number, row: Uint8Array, o: number, a: ActivationRow, xo: number): number {
  const q8 = a.qs, yd = a.d[xo >>> 8]!;
  let isum = 0;
  if (bb === Q2_K_BYTES) {
    let summs = 0;
    for (let j = 0; j < 16; j++) {
      summs += a.bsums[(xo >>> 4) + j]! * (row[o + j]! >> 4);
      let sub = 0;
      for (let l = 0; l < 16; l++) {
        const e = 16 * j + l;
        sub += ((row[o + 16 + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e >> 5) & 3))) & 3) * q8[xo + e]!;
      }
      isum += (row[o + j]! & 15) * sub;
    }
    const d = F16_TO_F32[readU16(row, o + 80)]!, dmin = F16_TO_F32[readU16(row, o + 82)]!;
    return fr(fr(fr(d * yd) * fr(isum)) - fr(fr(dmin * yd) * fr(summs)));
  }
  for (let j = 0; j < 16; j++) {
    let sub = 0;
    for (let l = 0; l < 16; l++) sub += (q3kCode(row, o, 16 * j + l) - 4) * q8[xo + 16 * j + l]!;
    isum += (q3kScale(row, o + 96, j) - 32) * sub;
  }
  return fr(fr(isum) * fr(F16_TO_F32[readU16(row, o + 108)]! * yd));
}
