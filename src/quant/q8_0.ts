// Q8_0: blocks of 32 int8 with one f16 scale (34 bytes). Also the activation format that the
// 32-element formats' dot products consume, as in ggml.

import type { QuantFormat } from './types.js';
import { F16_TO_F32, f32ToF16, roundEven, roundf } from '../core/f16.js';
import { readU16, writeU16 } from './views.js';

export const QK8_0 = 32;

export const Q8_0: QuantFormat = {
  id: 8, name: 'Q8_0', wasmAttention: true, blockSize: 32, typeSize: 34, vecDot: 'q8_0', wasm: { colsAlign: 32, rows4: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const o = srcOff + b * 34;
      const d = F16_TO_F32[readU16(src, o)]!;
      for (let j = 0; j < 32; j++) dst[dstOff + b * 32 + j] = ((src[o + 2 + j]! << 24) >> 24) * d;
    }
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let b = 0; b < n / 32; b++) {
      const x = srcOff + b * 32, o = dstOff + b * 34;
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[x + j]!));
      const d = Math.fround(amax / 127);
      const id = d ? Math.fround(1 / d) : 0;
      writeU16(dst, o, f32ToF16(d));
      for (let j = 0; j < 32; j++) dst[o + 2 + j] = roundf(Math.fround(src[x + j]! * id)) & 0xff;
    }
  },
  dot(wb, wOff, a, aOff, n) {
    const w = wb.data;
    const qs = a.qs, ad = a.d;
    let s = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = wOff + b * 34, x = aOff + b * 32;
      let isum = 0;
      for (let j = 0; j < 32; j++) isum += ((w[o + 2 + j]! << 24) >> 24) * qs[x + j]!;
      s += isum * Math.fround(F16_TO_F32[readU16(w, o)]! * ad[x >>> 5]!);
    }
    return s;
  },
};

/**
 * ggml's CPU quantize_row_q8_0 as the x86 AVX/AVX2 build runs it (id = 127/amax, round half to
 * even), which is what llama.cpp writes a q8_0 KV cache with there; `quantize` is the _ref twin.
 */
export function quantizeQ8_0Simd(src: Float32Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number): void {
  for (let b = 0; b < n / 32; b++) {
    const x = srcOff + b * 32, o = dstOff + b * 34;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[x + j]!));
    const id = amax ? Math.fround(127 / amax) : 0;
    writeU16(dst, o, f32ToF16(Math.fround(amax / 127)));
    for (let j = 0; j < 32; j++) dst[o + 2 + j] = roundEven(Math.fround(src[x + j]! * id)) & 0xff;
  }
}
