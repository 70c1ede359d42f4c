// Element-wise pieces the non-Llama families need and the kernels do not have: GELU as ggml
// computes it (tanh form through its f16 table), the squared-ReLU gate, LayerNorm with bias, tanh
// soft-capping, the sigmoid gate. They run over activations, never over weights, so plain loops.

import { roundF16 } from '../../core/f16.js';

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_COEF_A = 0.044715;

/** ggml_gelu: inputs rounded to f16 and the result read from an f16 table, |x| >= 10 passed through. */
export function geluScalar(x: number): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  const h = roundF16(x);
  return roundF16(0.5 * h * (1 + Math.tanh(SQRT_2_OVER_PI * h * (1 + GELU_COEF_A * h * h))));
}

/** x[i] = gelu(x[i]). */
export function gelu(x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = geluScalar(x[i]!);
}

/** gate[i] = gelu(gate[i]) * up[i] (ggml_geglu_split). */
export function geglu(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    gate[i] = g <= -10 ? 0 : g >= 10 ? g * up[i]! : geluScalar(g) * up[i]!;
  }
}

/** gate[i] = relu(gate[i])^2 * up[i] (ggml_relu, ggml_sqr, then the gating product, each rounded to f32). */
export function reluSqrGlu(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const r = Math.max(gate[i]!, 0);
    gate[i] = Math.fround(r * r) * up[i]!;
  }
}

/** Layer norm (kernels/ref/encoder.ts: the twin of the wasm kernel, shared with the blocks here). */
export { layerNorm } from '../../kernels/ref/encoder.js';

/** x[i] = cap * tanh(x[i] / cap) (Gemma's logit soft-capping). */
export function softcap(x: Float32Array, cap: number, n: number): void {
  for (let i = 0; i < n; i++) x[i] = cap * Math.tanh(x[i]! / cap);
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
