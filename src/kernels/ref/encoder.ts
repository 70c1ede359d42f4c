// Twins of assembly/encoder.ts, the element-wise ops of non-causal encoders (the vision tower), and
// the reference of Kernels.encoderAttention. Bit for bit with every wasm build: f32 steps rounded as
// WebAssembly rounds them, sums in the kernels' order. layerNorm is also the LLMs' (models/blocks
// re-exports it: Phi-2's norms, embedding norms).

import { expF32 } from './exp.js';

const f = Math.fround;

/**
 * Each of `rows` rows of n: t = x * scale, then softmax(t), in place. The exponentials are summed in
 * f64 in four running sums (element i into sum i % 4 over whole groups of four), combined as
 * (s0 + s1) + (s2 + s3), then the last n % 4 added in order.
 */
export function softmaxRows(x: Float32Array, n: number, rows: number, scale: number): void {
  const sc = f(scale);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let max = -Infinity;
    for (let i = 0; i < n; i++) { const t = f(x[o + i]! * sc); x[o + i] = t; if (t > max) max = t; }
    const s = [0, 0, 0, 0];
    const whole = n & ~3;
    for (let i = 0; i < whole; i++) { const e = expF32(f(x[o + i]! - max)); x[o + i] = e; s[i & 3] += e; }
    let sum = (s[0]! + s[1]!) + (s[2]! + s[3]!);
    for (let i = whole; i < n; i++) { const e = expF32(f(x[o + i]! - max)); x[o + i] = e; sum += e; }
    const inv = f(1 / sum);
    for (let i = 0; i < n; i++) x[o + i] = f(x[o + i]! * inv);
  }
}

/**
 * softmaxRows of x's rows written into the GEMM's packed activations (gemm_pack_x's layout: rows in
 * groups of four, [group][n][4], the last group padded with zeros) at dst; x is left unspecified
 * (the kernel leaves the unnormalized exponentials there). The twin of softmax_pack.
 */
export function softmaxPack(x: Float32Array, n: number, rows: number, scale: number, dst: Float32Array): void {
  softmaxRows(x, n, rows, scale);
  for (let g = 0; g < rows; g += 4) {
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < 4; j++) dst[g * n + k * 4 + j] = g + j < rows ? x[(g + j) * n + k]! : 0;
    }
  }
}

/** x[i] = table[f16 bits of x[i]]; with `clamp` (GELU) x <= -10 gives 0 and x >= 10 stays x. */
export function mapHalf(x: Float32Array, n: number, table: Float32Array, clamp: boolean, toHalf: (v: number) => number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (clamp && v <= -10) x[i] = 0;
    else if (!(clamp && v >= 10)) x[i] = table[toHalf(v)]!;
  }
}

/** out[t] = (x[t] - mean) / sqrt(var + eps) * weight + bias, rows of n (ggml_norm then mul, add). */
export function layerNorm(x: Float32Array, weight: Float32Array, bias: Float32Array | null, eps: number, n: number, nTok: number, out: Float32Array): void {
  for (let t = 0; t < nTok; t++) {
    const o = t * n;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[o + i]!;
    const mean = Math.fround(sum / n);
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.fround(x[o + i]! - mean);
      out[o + i] = d;
      ss += d * d;
    }
    const scale = Math.fround(1 / Math.sqrt(Math.fround(ss / n + eps)));
    for (let i = 0; i < n; i++) out[o + i] = Math.fround(out[o + i]! * scale) * weight[i]! + (bias ? bias[i]! : 0);
  }
}

/** y[t * n + i] += b[i] for t < rows. */
export function addRows(y: Float32Array, b: Float32Array, n: number, rows: number): void {
  for (let t = 0; t < rows; t++) for (let i = 0, o = t * n; i < n; i++) y[o + i] = f(y[o + i]! + b[i]!);
}

/**
 * Kernels.encoderAttention's reference: per head, scores = K_h Q_h (dot products in order), softmax
 * of scores * scale (softmaxRows), out_h = V_h^T P. `sc` holds nQ x nK scores. q (nQ, nHead * dHead),
 * k and v (nK, ...), out (nQ, ...).
 */
export function encoderAttentionRef(q: Float32Array, k: Float32Array, v: Float32Array, nQ: number, nK: number, nHead: number, dHead: number, scale: number, out: Float32Array, sc: Float32Array): void {
  const width = nHead * dHead;
  for (let h = 0; h < nHead; h++) {
    const c0 = h * dHead;
    for (let i = 0; i < nQ; i++) {
      for (let j = 0; j < nK; j++) {
        let s = 0;
        for (let d = 0; d < dHead; d++) s = f(s + f(k[j * width + c0 + d]! * q[i * width + c0 + d]!));
        sc[i * nK + j] = s;
      }
    }
    softmaxRows(sc, nK, nQ, scale);
    for (let i = 0; i < nQ; i++) {
      for (let d = 0; d < dHead; d++) {
        let s = 0;
        for (let j = 0; j < nK; j++) s = f(s + f(v[j * width + c0 + d]! * sc[i * nK + j]!));
        out[i * width + c0 + d] = s;
      }
    }
  }
}
