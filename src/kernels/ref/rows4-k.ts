// The four-row decode layout of Q4_K, Q5_K, Q6_K and Q5_0 (assembly/rows4-k.ts's twin): how a matrix is re-laid
// in place at load, how a row is read back (embedding lookups of a tied table, such as the Q6_K
// token table of llama.cpp's ternary files), and the product over it with the WebAssembly
// kernel's integer sums and f32 order, so the two can be compared bit for bit.
//
// Rows go in groups of four, each group in the bytes its rows had, super-block by super-block:
// Q4_K 576 bytes: [f16 d x4][f16 dmin x4][scale nibbles 16][min nibbles 16][high bits 16][quants 512]
// Q5_K 704 bytes: Q4_K's 64 header bytes, [fifth bits 128], [quants 512]
// Q6_K 840 bytes: [f16 d x4][i8 scales 16 x 4][16 triples of 48: three parts, each byte a whole 6-bit
//                 code in its low bits and two bits of the triple's fourth code on top]
// Q5_0 88 bytes per block of 32: [f16 d x4][top two bits of the high codes, 16][4 chunks of 16: each
//                 byte a whole 5-bit code a (element 4c + i) and the low three bits of b (16 + 4c + i)]
// with every payload in 4-byte chunks, rows 0..3 side by side (assembly/rows4-k.ts details where
// each scale, min and code goes). The last rows % 4 stay in row layout.

import type { WeightMatrix } from '../types.js';
import type { ActivationRow, QuantFormat } from '../../quant/types.js';
import { F16_TO_F32 } from '../../core/f16.js';
import { readU16 } from '../../quant/views.js';
import { unpackScaleMins } from '../../quant/q4_K.js';
import { newActivationRow, prepareActivation } from './activations.js';
import { copy4 } from './rows4.js';

const fr = Math.fround;
const Q4_K_BYTES = 144, Q5_K_BYTES = 176, Q6_K_BYTES = 210, Q5_0_BYTES = 22;

/** Whether a matrix can take the layout: its format declares it, whole super-blocks, one group at least. */
export function rows4kFits(format: QuantFormat, rows: number, cols: number): boolean {
  const t = format.typeSize;
  return !!format.wasm?.rows4k && (t === Q4_K_BYTES || t === Q5_K_BYTES || t === Q6_K_BYTES || t === Q5_0_BYTES) && cols % format.blockSize === 0 && rows >= 4;
}

const sc8 = new Uint8Array(8), m8 = new Uint8Array(8);

/** Super-block `src` (one row's, in row layout) as lane r of the group super-block at `dst` (zeroed first for Q4_K's shared bytes). */
function packBlock(blockBytes: number, src: Uint8Array, s: number, dst: Uint8Array, d: number, r: number): void {
  if (blockBytes === Q4_K_BYTES || blockBytes === Q5_K_BYTES) {
    dst[d + 2 * r] = src[s]!; dst[d + 2 * r + 1] = src[s + 1]!;
    dst[d + 8 + 2 * r] = src[s + 2]!; dst[d + 9 + 2 * r] = src[s + 3]!;
    unpackScaleMins(src, s + 4, sc8, m8);
    for (let j = 0; j < 8; j++) {
      const ps = d + 4 * (j & 3) + r, hs = j >> 2;
      dst[ps + 16] |= (sc8[j]! & 15) << (4 * hs);
      dst[ps + 48] |= (sc8[j]! >> 4) << (2 * hs);
      const p = 8 * r + j, pm = d + (p & 15), hm = p >> 4;
      dst[pm + 32] |= (m8[j]! & 15) << (4 * hm);
      dst[pm + 48] |= (m8[j]! >> 4) << (4 + 2 * hm);
    }
    // Q5_K: its fifth bits (32 bytes at 16) in 8 chunks, then the quants as Q4_K's.
    const q5 = blockBytes === Q5_K_BYTES, qsAt = s + (q5 ? 48 : 16), qsTo = d + (q5 ? 192 : 64);
    if (q5) for (let k = 0; k < 8; k++) dst.set(src.subarray(s + 16 + 4 * k, s + 20 + 4 * k), d + 64 + 16 * k + 4 * r);
    for (let c = 0; c < 32; c++) dst.set(src.subarray(qsAt + 4 * c, qsAt + 4 + 4 * c), qsTo + 16 * c + 4 * r);
    return;
  }
  if (blockBytes === Q5_0_BYTES) {
    dst[d + 2 * r] = src[s]!; dst[d + 2 * r + 1] = src[s + 1]!;
    const qh = (src[s + 2]! | (src[s + 3]! << 8) | (src[s + 4]! << 16) | (src[s + 5]! << 24)) >>> 0;
    for (let c = 0; c < 4; c++) {
      for (let i = 0; i < 4; i++) {
        // Codes a = element 4c + i's, b = element 16 + 4c + i's (0..31): chunk byte a | (b & 7) << 5,
        // and b's top two bits at bits 2c, 2c + 1 of byte 4r + i of the 16 at 8.
        const q = src[s + 6 + 4 * c + i]!, j = 4 * c + i;
        const a = (q & 15) | (((qh >>> j) & 1) << 4), b = (q >> 4) | (((qh >>> (16 + j)) & 1) << 4);
        dst[d + 24 + 16 * c + 4 * r + i] = a | ((b & 7) << 5);
        dst[d + 8 + 4 * r + i] |= (b >> 3) << (2 * c);
      }
    }
    return;
  }
  dst[d + 2 * r] = src[s + 208]!; dst[d + 2 * r + 1] = src[s + 209]!;
  for (let j = 0; j < 16; j++) dst[d + 8 + 4 * j + r] = src[s + 192 + j]!;
  for (let h = 0; h < 2; h++) {
    for (let l = 0; l < 32; l++) {
      // Element 128h + 32p + l's code in part p's low six bits (p < 3), 128h + 96 + l's bits 2p, 2p + 1 on top.
      const t = d + 72 + 48 * (8 * h + (l >> 2)) + 4 * r + (l & 3), c3 = q6kCode(src, s, h, 3, l);
      for (let p = 0; p < 3; p++) dst[t + 16 * p] = q6kCode(src, s, h, p, l) | (((c3 >> (2 * p)) & 3) << 6);
    }
  }
}

/** The 6-bit code of element 128h + 32q + l of the Q6_K block at byte s (row layout: ggml's ql and qh). */
function q6kCode(src: Uint8Array, s: number, h: number, q: number, l: number): number {
  const lb = src[s + 64 * h + 32 * (q & 1) + l]!, hb = src[s + 128 + 32 * h + l]!;
  return ((q < 2 ? lb : lb >> 4) & 15) | (((hb >> (2 * q)) & 3) << 4);
}

/** Re-lay rows (rowBytes apart from byte `off` of data) in place; the last rows % 4 stay. */
export function rows4kPack(data: Uint8Array, off: number, rowBytes: number, rows: number, blockBytes: number): void {
  packGroups(data, off, rowBytes, rows, blockBytes, packBlock);
}

/**
 * The group loop of a re-layout (rows4-k's, rows4-lowbit's): each group of four rows copied aside and
 * zeroed, then `pack` writes each row's block b (at s of the copy) as lane r of group block b (at d).
 */
export function packGroups(data: Uint8Array, off: number, rowBytes: number, rows: number, blockBytes: number,
  pack: (blockBytes: number, src: Uint8Array, s: number, dst: Uint8Array, d: number, r: number) => void): void {
  const tmp = new Uint8Array(4 * rowBytes), nb = rowBytes / blockBytes;
  for (let g = 0; g < rows >> 2; g++) {
    const base = off + g * 4 * rowBytes;
    tmp.set(data.subarray(base, base + 4 * rowBytes));
    data.fill(0, base, base + 4 * rowBytes);
    for (let b = 0; b < nb; b++) {
      for (let r = 0; r < 4; r++) pack(blockBytes, tmp, r * rowBytes + b * blockBytes, data, base + b * 4 * blockBytes, r);
    }
  }
}

/** Row `row` of a re-laid matrix (data from byte 0) as its original bytes, into out[outOff..+rowBytes). */
export function rows4kRow(data: Uint8Array, rowBytes: number, rows: number, blockBytes: number, row: number, out: Uint8Array, outOff: number): void {
  if (row >= (rows & ~3)) { out.set(data.subarray(row * rowBytes, (row + 1) * rowBytes), outOff); return; }
  const nb = rowBytes / blockBytes, r = row & 3, base = (row >> 2) * 4 * rowBytes;
  for (let b = 0; b < nb; b++) {
    const s = base + b * 4 * blockBytes, o = outOff + b * blockBytes;
    if (blockBytes === Q4_K_BYTES || blockBytes === Q5_K_BYTES) {
      out[o] = data[s + 2 * r]!; out[o + 1] = data[s + 2 * r + 1]!;
      out[o + 2] = data[s + 8 + 2 * r]!; out[o + 3] = data[s + 9 + 2 * r]!;
      for (let j = 0; j < 8; j++) {
        const ps = s + 4 * (j & 3) + r, hs = j >> 2;
        sc8[j] = ((data[ps + 16]! >> (4 * hs)) & 15) | (((data[ps + 48]! >> (2 * hs)) & 3) << 4);
        const p = 8 * r + j, pm = s + (p & 15), hm = p >> 4;
        m8[j] = ((data[pm + 32]! >> (4 * hm)) & 15) | (((data[pm + 48]! >> (4 + 2 * hm)) & 3) << 4);
      }
      // get_scale_min_k4's packing, inverted.
      for (let j = 0; j < 4; j++) {
        out[o + 4 + j] = (sc8[j]! & 63) | ((sc8[j + 4]! >> 4) << 6);
        out[o + 8 + j] = (m8[j]! & 63) | ((m8[j + 4]! >> 4) << 6);
        out[o + 12 + j] = (sc8[j + 4]! & 15) | ((m8[j + 4]! & 15) << 4);
      }
      const q5 = blockBytes === Q5_K_BYTES, qsFrom = s + (q5 ? 192 : 64), qsTo = o + (q5 ? 48 : 16);
      if (q5) for (let k = 0; k < 8; k++) copy4(out, o + 16 + 4 * k, data, s + 64 + 16 * k + 4 * r);
      for (let c = 0; c < 32; c++) copy4(out, qsTo + 4 * c, data, qsFrom + 16 * c + 4 * r);
      continue;
    }
    if (blockBytes === Q5_0_BYTES) {
      out[o] = data[s + 2 * r]!; out[o + 1] = data[s + 2 * r + 1]!;
      let qh = 0;
      for (let c = 0; c < 4; c++) {
        for (let i = 0; i < 4; i++) {
          const x = data[s + 24 + 16 * c + 4 * r + i]!, j = 4 * c + i;
          const a = x & 31, b = (x >> 5) | (((data[s + 8 + 4 * r + i]! >> (2 * c)) & 3) << 3);
          out[o + 6 + j] = (a & 15) | ((b & 15) << 4);
          qh |= ((a >> 4) << j) | ((b >> 4) << (16 + j));
        }
      }
      for (let k = 0; k < 4; k++) out[o + 2 + k] = (qh >>> (8 * k)) & 0xff;
      continue;
    }
    out[o + 208] = data[s + 2 * r]!; out[o + 209] = data[s + 2 * r + 1]!;
    for (let j = 0; j < 16; j++) out[o + 192 + j] = data[s + 8 + 4 * j + r]!;
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const t = s + 72 + 48 * (8 * h + (l >> 2)) + 4 * r + (l & 3), x0 = data[t]!, x1 = data[t + 16]!, x2 = data[t + 32]!;
        const c0 = x0 & 63, c1 = x1 & 63, c2 = x2 & 63, c3 = (x0 >> 6) | ((x1 >> 6) << 2) | ((x2 >> 6) << 4);
        out[o + 64 * h + l] = (c0 & 15) | ((c2 & 15) << 4);
        out[o + 64 * h + 32 + l] = (c1 & 15) | ((c3 & 15) << 4);
        out[o + 128 + 32 * h + l] = (c0 >> 4) | ((c1 >> 4) << 2) | ((c2 >> 4) << 4) | ((c3 >> 4) << 6);
      }
    }
  }
}

/**
 * y = W x for a re-laid matrix, summed as the WebAssembly kernels (and dot.ts's row kernels) sum:
 * per (row, token), block by block in f32 (blockTerm), the integer sums exact.
 */
export function rows4kMatmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
  const { rows, cols, rowBytes, format } = w;
  const bb = format.typeSize, n = format.blockSize;
  const a = newActivationRow(format.vecDot, cols * nTok);
  for (let t = 0; t < nTok; t++) prepareActivation(a, x, t * cols, cols, t * cols);
  const row = new Uint8Array(rowBytes);
  for (let r = 0; r < rows; r++) {
    rows4kRow(w.data, rowBytes, rows, bb, r, row, 0);
    for (let t = 0; t < nTok; t++) {
      let s = 0;
      for (let b = 0; b < cols / n; b++) s = fr(s + blockTerm(bb, row, b * bb, a, t * cols + b * n));
      y[t * rows + r] = s;
    }
  }
}

/**
 * The f32 term one block (at byte o of a row in row layout) adds against the activations from
 * element xo, in the kernels' f32 operations:
 *   Q4_K, Q5_K: (d * yd) * f32(isum) - (dmin * yd) * f32(summs)      Q6_K, Q5_0: f32(isum) * (d * yd)
 */
function blockTerm(bb: number, row: Uint8Array, o: number, a: ActivationRow, xo: number): number {
  const q8 = a.qs;
  if (bb === Q5_0_BYTES) {
    const qh = (row[o + 2]! | (row[o + 3]! << 8) | (row[o + 4]! << 16) | (row[o + 5]! << 24)) >>> 0;
    let isum = 0;
    for (let j = 0; j < 16; j++) {
      const q = row[o + 6 + j]!;
      isum += (((q & 15) | (((qh >>> j) & 1) << 4)) - 16) * q8[xo + j]!;
      isum += (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * q8[xo + 16 + j]!;
    }
    return fr(fr(isum) * fr(F16_TO_F32[readU16(row, o)]! * a.d[xo >>> 5]!));
  }
  const yd = a.d[xo >>> 8]!;
  if (bb === Q4_K_BYTES || bb === Q5_K_BYTES) {
    const q5 = bb === Q5_K_BYTES, qs = o + (q5 ? 48 : 16);
    unpackScaleMins(row, o + 4, sc8, m8);
    let summs = 0, isum = 0;
    for (let j = 0; j < 16; j++) summs += a.bsums[(xo >>> 4) + j]! * m8[j >> 1]!;
    for (let c = 0; c < 4; c++) {
      let lo = 0, hi = 0;
      for (let l = 0; l < 32; l++) {
        const v = row[qs + 32 * c + l]!, h = q5 ? row[o + 16 + l]! : 0;
        lo += q8[xo + 64 * c + l]! * ((v & 15) | (((h >> (2 * c)) & 1) << 4));
        hi += q8[xo + 64 * c + 32 + l]! * ((v >> 4) | (((h >> (2 * c + 1)) & 1) << 4));
      }
      isum += sc8[2 * c]! * lo + sc8[2 * c + 1]! * hi;
    }
    const d = F16_TO_F32[readU16(row, o)]!, dmin = F16_TO_F32[readU16(row, o + 2)]!;
    return fr(fr(fr(d * yd) * fr(isum)) - fr(fr(dmin * yd) * fr(summs)));
  }
  let isum = 0;
  for (let h = 0; h < 2; h++) {
    for (let q = 0; q < 4; q++) {
      const ql = o + 64 * h + 32 * (q & 1), qh = o + 128 + 32 * h;
      for (let half = 0; half < 2; half++) {
        let sub = 0;
        for (let l = 16 * half; l < 16 * half + 16; l++) {
          const code = ((q < 2 ? row[ql + l]! : row[ql + l]! >> 4) & 15) | (((row[qh + l]! >> (2 * q)) & 3) << 4);
          sub += (code - 32) * q8[xo + 128 * h + 32 * q + l]!;
        }
        isum += ((row[o + 192 + 8 * h + 2 * q + half]! << 24) >> 24) * sub;
      }
    }
  }
  return fr(fr(isum) * fr(F16_TO_F32[readU16(row, o + 208)]! * yd));
}
