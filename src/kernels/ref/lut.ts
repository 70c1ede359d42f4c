// The TypeScript twin of the table-lookup (T-MAC) kernels in assembly/lut.ts: same tables,
// same integer sums, same f32 epilogue in the same order, so the WebAssembly kernels must match it
// exactly. Derivation, for one group of G weights w = s * (q - z) with b-bit codes q:
//
//   sum_k q_k a_k = sum_j 2^j sum_t sum_{i<4} bit_j(q_{4t+i}) a_{4t+i}
//                 = 1/2 sum_j 2^j sum_t T_t[p_jt] + (2^b - 1)/2 * A
//
// where T_t[p] = sum_i (bit_i(p) ? +a_{4t+i} : -a_{4t+i}) is the signed table of slice t (16
// entries, T[15 - p] = -T[p]: only 8 are computed, the mirror trick), p_jt the 4 bits of plane j
// for slice t, and A the group's activation sum. Tables are int8 with one scale per group
// (ts = max |T| / 127), or, in exact mode, int16 sums of int8 activations split into a low and a
// high byte (two lookups), which reproduces the dequantize kernels' integer sums exactly.

import type { LutPacked } from '../lut-layout.js';
import { LUT_TILE } from '../lut-layout.js';
import { F16_TO_F32, roundEven } from '../../core/f16.js';
import { newActivationRow, prepareActivation } from './activations.js';

const fr = Math.fround;

/** Table bytes per 4-element slice: 16 int8 entries, or 16 low + 16 high bytes in exact mode. */
export const lutTableBytes = (exact: boolean): number => (exact ? 32 : 16);

/**
 * int8 tables from f32 activations. tbl: [nTok, cols/4, 16]; th, tA: [nTok, cols/group] = half the
 * table scale, and the activation sum, per group.
 */
export function lutTables(x: Float32Array, cols: number, nTok: number, group: number, tbl: Int8Array, th: Float32Array, tA: Float32Array): void {
  const nG = cols / group, nS = cols / 4;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const base = t * cols + g * group;
      let max = 0;
      for (let s = 0; s < group; s += 4) {
        const m = fr(fr(fr(Math.abs(x[base + s]!) + Math.abs(x[base + s + 1]!)) + Math.abs(x[base + s + 2]!)) + Math.abs(x[base + s + 3]!));
        if (m > max) max = m;
      }
      const ts = fr(max / 127), inv = max > 0 ? fr(127 / max) : 0;
      for (let s = 0; s < group; s += 4) {
        const a0 = x[base + s]!, a1 = x[base + s + 1]!, a2 = x[base + s + 2]!, a3 = x[base + s + 3]!;
        const o = (t * nS + (g * group + s) / 4) * 16;
        for (let p = 0; p < 8; p++) {
          const v = fr(fr(fr((p & 1 ? a0 : -a0) + (p & 2 ? a1 : -a1)) + (p & 4 ? a2 : -a2)) - a3);
          const q = Math.max(-127, Math.min(127, roundEven(fr(v * inv))));
          tbl[o + p] = q;
          tbl[o + 15 - p] = -q;
        }
      }
      let sum = 0;
      for (let i = 0; i < group; i++) sum = fr(sum + x[base + i]!);
      th[t * nG + g] = fr(ts * 0.5);
      tA[t * nG + g] = sum;
    }
  }
}

/**
 * int8 activations per group for exact mode, as ggml quantizes them for that block size: groups
 * of 32 like Q8_0 (x86 rounding), 256 like Q8_K, any other size with d = max|x| / 127.
 */
export function lutQuantizeActs(x: Float32Array, cols: number, nTok: number, group: number, qs: Int8Array, d: Float32Array): void {
  const nG = cols / group;
  if (group === 32 || group === 256) {
    const a = newActivationRow(group === 32 ? 'q8_0' : 'q8_K', cols);
    for (let t = 0; t < nTok; t++) {
      prepareActivation(a, x, t * cols, cols, 0);
      qs.set(a.qs.subarray(0, cols), t * cols);
      d.set(a.d.subarray(0, nG), t * nG);
    }
    return;
  }
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const base = t * cols + g * group;
      let amax = 0;
      for (let i = 0; i < group; i++) amax = Math.max(amax, Math.abs(x[base + i]!));
      const id = amax > 0 ? fr(127 / amax) : 0;
      for (let i = 0; i < group; i++) qs[base + i] = roundEven(fr(x[base + i]! * id));
      d[t * nG + g] = fr(amax / 127);
    }
  }
}

/** Exact tables: int16 sums of int8 activations, low bytes then high bytes per slice. */
export function lutTablesExact(qs: Int8Array, d: Float32Array, cols: number, nTok: number, group: number, tbl: Uint8Array, th: Float32Array, tA: Float32Array): void {
  const nG = cols / group, nS = cols / 4;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const base = t * cols + g * group;
      let sum = 0;
      for (let s = 0; s < group; s += 4) {
        const a0 = qs[base + s]!, a1 = qs[base + s + 1]!, a2 = qs[base + s + 2]!, a3 = qs[base + s + 3]!;
        const o = (t * nS + (g * group + s) / 4) * 32;
        for (let p = 0; p < 8; p++) {
          const v = (p & 1 ? a0 : -a0) + (p & 2 ? a1 : -a1) + (p & 4 ? a2 : -a2) - a3;
          tbl[o + p] = v & 0xff; tbl[o + 16 + p] = (v >> 8) & 0xff;
          tbl[o + 15 - p] = -v & 0xff; tbl[o + 31 - p] = (-v >> 8) & 0xff;
        }
        sum += a0 + a1 + a2 + a3;
      }
      const dg = d[t * nG + g]!;
      th[t * nG + g] = fr(dg * 0.5);
      tA[t * nG + g] = fr(dg * sum);
    }
  }
}

function entry(tbl: Int8Array | Uint8Array, exact: boolean, slice: number, nib: number): number {
  if (!exact) return (tbl as Int8Array)[slice * 16 + nib]!;
  const o = slice * 32 + nib;
  return tbl[o]! + ((tbl[o + 16]! << 24) >> 16);
}

/**
 * y[t, r] for every row of a packed matrix: the reference of lut_matmul. tbl/th/tA from lutTables
 * (exact false) or lutTablesExact (exact true).
 */
export function lutMatmul(p: LutPacked, tbl: Int8Array | Uint8Array, th: Float32Array, tA: Float32Array, exact: boolean, nTok: number, y: Float32Array): void {
  const sh = p.shape;
  const { bits, group, groups, groupBytes, codeOff, rows, cols } = sh;
  const nS = cols / 4;
  const acc = new Float32Array(LUT_TILE);
  const L = new Float64Array(LUT_TILE);
  for (let tile = 0; tile < sh.tiles; tile++) {
    const full = tile < sh.fullTiles;
    const buf = full ? p.main : p.tail!;
    const off = full ? tile * sh.tileBytes : 0;
    const n = Math.min(LUT_TILE, rows - tile * LUT_TILE);
    for (let t = 0; t < nTok; t++) {
      acc.fill(0);
      for (let g = 0; g < groups; g++) {
        const go = off + g * groupBytes;
        L.fill(0);
        for (let pair = 0; pair < group / 8; pair++) {
          const s0 = t * nS + (g * group) / 4 + 2 * pair;
          for (let j = 0; j < bits; j++) {
            const co = go + codeOff + (pair * bits + j) * 16;
            for (let r = 0; r < LUT_TILE; r++) {
              const b = buf[co + r]!;
              L[r] += (entry(tbl, exact, s0, b & 15) + entry(tbl, exact, s0 + 1, b >> 4)) * (1 << j);
            }
          }
        }
        lutEpilogue(sh.offKind, sh.zc, buf, go, L, th[t * groups + g]!, tA[t * groups + g]!, acc);
      }
      for (let r = 0; r < n; r++) y[t * rows + tile * LUT_TILE + r] = acc[r]!;
    }
  }
}

/**
 * acc[r] += s * (L * h + zc * A) (+ o * A): the f32 steps, in the order the kernel takes them.
 * o is the f16 offset (offKind 1) or -s * z (offKind 2).
 */
function lutEpilogue(offKind: number, zc: number, buf: Uint8Array, go: number, L: Float64Array, h: number, A: number, acc: Float32Array): void {
  const cA = fr(fr(zc) * A);
  for (let r = 0; r < LUT_TILE; r++) {
    const s = F16_TO_F32[buf[go + 2 * r]! | (buf[go + 2 * r + 1]! << 8)]!;
    const v = fr(fr(fr(L[r]!) * h) + cA);
    acc[r] = fr(acc[r]! + fr(s * v));
    if (offKind === 1) acc[r] = fr(acc[r]! + fr(F16_TO_F32[buf[go + 32 + 2 * r]! | (buf[go + 33 + 2 * r]! << 8)]! * A));
    else if (offKind === 2) acc[r] = fr(acc[r]! + fr(fr(-s * buf[go + 32 + r]!) * A));
  }
}
