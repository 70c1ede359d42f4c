// Activation preparation for the reference matmul: quantize an f32 row to what the weight
// format's dot product consumes, as ggml does before vec_dot (Q8_0 / Q8_1 blocks for the
// 32-element formats, Q8_K super-blocks for the K-quants and ternary types, f16 for F16 weights).
// Q8_0/Q8_1 use the rounding of ggml's x86 SIMD path (round half to even, id = 127/amax), which is
// what llama.cpp runs on this kind of CPU; Q8_K is ggml's quantize_row_q8_K_ref, which x86 also runs.

import type { ActivationRow } from '../../quant/types.js';
import { roundEven, roundF16, f32ToF16, F16_TO_F32, bf16ToF32, f32ToBf16 } from '../../core/f16.js';
import { quantizeQ8KBlocks } from '../../quant/q8_K.js';

export function newActivationRow(kind: ActivationRow['kind'], n: number): ActivationRow {
  const q = kind === 'q8_0' || kind === 'q8_1' || kind === 'q8_K';
  const k = kind === 'q8_K';
  return {
    kind,
    f: q ? new Float32Array(0) : new Float32Array(n),
    qs: q ? new Int8Array(n) : new Int8Array(0),
    d: q ? new Float32Array(Math.ceil(n / (k ? 256 : 32))) : new Float32Array(0),
    s: kind === 'q8_1' ? new Float32Array(Math.ceil(n / 32)) : new Float32Array(0),
    bsums: k ? new Int16Array(Math.ceil(n / 16)) : new Int16Array(0),
  };
}

/** Fill a (kind-typed) activation row from x[xOff .. xOff+n), writing at element offset `off`. */
export function prepareActivation(a: ActivationRow, x: Float32Array, xOff: number, n: number, off: number): void {
  switch (a.kind) {
    case 'f32':
      for (let i = 0; i < n; i++) a.f[off + i] = x[xOff + i]!;
      return;
    case 'f16':
      for (let i = 0; i < n; i++) a.f[off + i] = roundF16(x[xOff + i]!);
      return;
    case 'bf16':
      for (let i = 0; i < n; i++) a.f[off + i] = bf16ToF32(f32ToBf16(x[xOff + i]!));
      return;
    case 'q8_K':
      quantizeQ8KBlocks(x, xOff, n, a.qs, off, a.d, a.bsums);
      return;
    default: {
      const withSum = a.kind === 'q8_1';
      for (let b = 0; b < n; b += 32) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xOff + b + j]!));
        const d = Math.fround(amax / 127);
        const id = amax ? Math.fround(127 / amax) : 0;
        let sum = 0;
        for (let j = 0; j < 32; j++) {
          const q = roundEven(Math.fround(x[xOff + b + j]! * id));
          a.qs[off + b + j] = q;
          sum += q;
        }
        const blk = (off + b) >>> 5;
        a.d[blk] = F16_TO_F32[f32ToF16(d)]!;
        if (withSum) a.s[blk] = F16_TO_F32[f32ToF16(Math.fround(d * sum))]!;
      }
    }
  }
}
