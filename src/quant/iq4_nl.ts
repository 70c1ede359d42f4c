// IQ4_NL: blocks of 32 4-bit indices into a fixed non-linear table of 16 int8 values with one f16
// scale (18 bytes, Q4_0's layout): y = d * KVALUES[q]. quantizeIq4NlRef is ggml's
// quantize_row_iq4_nl_ref (no importance weights, no scale search): what a llama.cpp KV cache of
// type iq4_nl is written with. It is not the format's `quantize`: llama-quantize writes IQ4_NL
// weights with a scale search (ntry 7) that lutra does not have. Dot products take Q8_0 activations.

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

/** ggml's kvalues_iq4nl. */
export const IQ4_NL_VALUES = Int8Array.of(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
/** ggml-quants.c GROUP_MAX_EPS: a block with a smaller absolute maximum is all zeros. */
const GROUP_MAX_EPS = 1e-15;

/** ggml's best_index_int8: the nearest table entry (ties to the upper one), by bisection. */
function bestIndex(x: number): number {
  const v = IQ4_NL_VALUES;
  if (x <= v[0]!) return 0;
  if (x >= v[15]!) return 15;
  let ml = 0, mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < v[mav]!) mu = mav; else ml = mav;
  }
  return Math.fround(x - v[mu - 1]!) < Math.fround(v[mu]! - x) ? mu - 1 : mu;
}

/**
 * ggml keeps the indices in a buffer that an all-zero block (d = 0) does not overwrite: such a block
 * holds the previous block's indices (its values are 0 either way). Kept across calls, as the stack
 * slot is across llama.cpp's per-row calls, so the bytes match.
 */
const L = new Uint8Array(32);

export const IQ4_NL: QuantFormat = {
  id: 20, name: 'IQ4_NL', wasmAttention: true, blockSize: 32, typeSize: 18, vecDot: 'q8_0',
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 18, y = dstOff + b * 32;
      const d = F16_TO_F32[readU16(src, o)]!;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j]!;
        dst[y + j] = Math.fround(d * IQ4_NL_VALUES[q & 15]!);
        dst[y + j + 16] = Math.fround(d * IQ4_NL_VALUES[q >> 4]!);
      }
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const qs = a.qs, ad = a.d;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 18, x = aOff + b * 32;
      let isum = 0;
      for (let j = 0; j < 16; j++) {
        const q = w[o + 2 + j]!;
        isum += IQ4_NL_VALUES[q & 15]! * qs[x + j]! + IQ4_NL_VALUES[q >> 4]! * qs[x + j + 16]!;
      }
      s += isum * Math.fround(ad[x >>> 5]! * F16_TO_F32[readU16(w, o)]!);
    }
    return s;
  },
};

/** ggml's quantize_row_iq4_nl_ref: n elements (a multiple of 32) of src into IQ4_NL blocks. */
export function quantizeIq4NlRef(src: Float32Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number): void {
  const f = Math.fround;
  for (let b = 0; b < n / 32; b++) {
    const x = srcOff + b * 32, o = dstOff + b * 18;
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const ax = Math.abs(src[x + j]!);
      if (ax > amax) { amax = ax; max = src[x + j]!; }
    }
    let d = 0;
    if (amax >= GROUP_MAX_EPS) {
      d = f(max / IQ4_NL_VALUES[0]!);
      const id = f(1 / d);
      let sumqx = 0, sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const xj = src[x + j]!;
        const l = bestIndex(f(id * xj));
        L[j] = l;
        const q = IQ4_NL_VALUES[l]!, w = f(xj * xj);
        sumqx = f(sumqx + f(f(w * q) * xj));
        sumq2 = f(sumq2 + f(f(w * q) * q));
      }
      d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
    }
    writeU16(dst, o, f32ToF16(d));
    for (let j = 0; j < 16; j++) dst[o + 2 + j] = L[j]! | (L[16 + j]! << 4);
  }
}
