// The twin of assembly/gemm.ts: F16/F32 products over many tokens summed in the GEMM's order, so
// the SIMD128 and plain builds match it bit for bit (relaxed SIMD fuses each multiply-add where the
// engine does: within GEMM_FMA_RTOL of it). For each (row, token): per block of GEMM_KC columns a
// sum s over k in order, s = s + w * x, then y = y + s; F16 activations rounded to f16 first.

import type { WeightMatrix } from '../types.js';
import { roundF16 } from '../../core/f16.js';

/** Columns per block of the reduction (assembly/gemm.ts KC). */
export const GEMM_KC = 256;
/** Rows per weight panel of the kernel: its scratch holds roundUp(rows, GEMM_MR) x GEMM_KC floats. */
export const GEMM_MR = 8;
/** Tokens per group of the packed activations (gemm_pack_x). */
export const GEMM_NR = 4;
/**
 * Tokens from which the wasm backend takes the GEMM for formats with the `gemm` trait. Speed alone
 * would say 3 (bench/vision/gemm.mjs --crossover, F16 1152x1152, 1 thread, relaxed SIMD, CPU ms dot
 * products / GEMM: 1 token 0.83 / 1.15, 2: 1.17 / 1.36, 3: 2.33 / 0.87, 16: 9.37 / 1.62;
 * bench/results/2026-12-03-xeon-2c-vision-gemm.md), but the GEMM's sums (in order along k within a
 * block) stray further from ggml's than the dot products' do: at 3, tiny-minicpmv's resampler (a few
 * queries) ends 1.06e-3 from mtmd's embeddings, over test/vision-projector's 1e-3. At 16 it passes.
 */
export const GEMM_MIN_TOK = 16;
/** matmul's type flag (assembly/gemm.ts): act in gemm_pack_x's layout, ad the weight panels' scratch. */
export const GEMM_FLAG = 0x20000;
/** Bound on the relaxed build's fused multiply-adds against the twin, relative to sum |w x|. */
export const GEMM_FMA_RTOL = 1e-6;

/** Bytes of the weight-panel scratch a product of `rows` rows needs. */
export function gemmScratchBytes(rows: number): number {
  return Math.ceil(rows / GEMM_MR) * GEMM_MR * GEMM_KC * 4;
}

/** Floats of gemm_pack_x's layout for nTok tokens of cols. */
export function gemmPackedFloats(cols: number, nTok: number): number {
  return Math.ceil(nTok / GEMM_NR) * GEMM_NR * cols;
}

/** y[t * rows + r] = W[r] . x[t] in the GEMM's order; w's rows read through `row` as f32. */
export function gemmRef(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
  const { rows, cols } = w, f16 = w.format.vecDot === 'f16';
  const wr = new Float32Array(cols), xr = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    w.format.dequantize(w.data, r * w.rowBytes, wr, 0, cols);
    for (let t = 0; t < nTok; t++) {
      for (let k = 0; k < cols; k++) xr[k] = f16 ? roundF16(x[t * cols + k]!) : x[t * cols + k]!;
      let acc = 0;
      for (let k0 = 0; k0 < cols; k0 += GEMM_KC) {
        let s = 0;
        for (let k = k0; k < Math.min(cols, k0 + GEMM_KC); k++) s = Math.fround(s + Math.fround(wr[k]! * xr[k]!));
        acc = k0 === 0 ? s : Math.fround(acc + s);
      }
      y[t * rows + r] = acc;
    }
  }
}
