// The ops a training step runs, behind one interface: the TypeScript reference (ops.ts, over
// ordinary Float32Arrays) and the WebAssembly kernels (wasm-ops.ts, over views of one shared
// memory, split over worker threads). The decoder and AdamW allocate every buffer through the
// backend once, so the WebAssembly ops can address them by pointer; nothing allocates per step.

import * as op from './ops.js';

export interface TrainOps {
  readonly name: string;
  alloc(n: number): Float32Array;
  allocI32(n: number): Int32Array;
  allocU16(n: number): Uint16Array;
  matmul(w: Float32Array, x: Float32Array, T: number, rows: number, cols: number, y: Float32Array): void;
  matmulBackward(w: Float32Array, x: Float32Array, dy: Float32Array, T: number, rows: number, cols: number, dw: Float32Array, dx: Float32Array | null): void;
  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, n: number, T: number, out: Float32Array, rstd: Float32Array): void;
  rmsNormBackward(x: Float32Array, weight: Float32Array, rstd: Float32Array, dout: Float32Array, n: number, T: number, dx: Float32Array, dweight: Float32Array): void;
  rope(x: Float32Array, T: number, nHead: number, headDim: number, cos: Float32Array, sin: Float32Array, inverse: boolean): void;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, s: op.AttnShape, probs: Float32Array, out: Float32Array): void;
  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dout: Float32Array, s: op.AttnShape, dq: Float32Array, dk: Float32Array, dv: Float32Array, dp: Float32Array): void;
  swiglu(g: Float32Array, u: Float32Array, n: number, h: Float32Array): void;
  swigluBackward(g: Float32Array, u: Float32Array, dh: Float32Array, n: number, dg: Float32Array, du: Float32Array): void;
  /** The summed loss; dlogits may be the logits buffer. targets come from allocI32. */
  crossEntropy(logits: Float32Array, targets: Int32Array, T: number, V: number, gradScale: number, dlogits: Float32Array): number;
  embed(table: Float32Array, ids: Int32Array, T: number, D: number, scale: number, x: Float32Array): void;
  embedBackward(dtable: Float32Array, ids: Int32Array, T: number, D: number, scale: number, dx: Float32Array): void;
  axpy(x: Float32Array, y: Float32Array, a: number, n: number): void;
  scale(x: Float32Array, y: Float32Array, a: number, n: number): void;
  /** x[0..n) /= d (MiniCPM's logit scale) */
  divide(x: Float32Array, d: number, n: number): void;
  /** BitNet's int8 per-token absmax activations, in place on x(T, n) (ops.quantAct8) */
  quantAct8(x: Float32Array, T: number, n: number): void;
  /** bf16 storage: out = x as bf16 bits (nearest even), and back (ops.packBf16 / unpackBf16) */
  packBf16(x: Float32Array, n: number, out: Uint16Array): void;
  unpackBf16(x: Uint16Array, n: number, out: Float32Array): void;
  sumsq(g: Float32Array, s0: number): number;
  adamw(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, eps: number, lr: number, decay: number, c1: number, c2: number): void;
  dispose(): void;
}

/** The reference: ops.ts on ordinary arrays, one thread. */
export const refOps: TrainOps = {
  name: 'ref (TypeScript)',
  alloc: (n) => new Float32Array(n),
  allocI32: (n) => new Int32Array(n),
  allocU16: (n) => new Uint16Array(n),
  matmul: op.matmul,
  matmulBackward: op.matmulBackward,
  rmsNorm: op.rmsNorm,
  rmsNormBackward: op.rmsNormBackward,
  rope: op.rope,
  attention: op.attention,
  attentionBackward: op.attentionBackward,
  swiglu: op.swiglu,
  swigluBackward: op.swigluBackward,
  crossEntropy: op.crossEntropy,
  embed: op.embed,
  embedBackward: op.embedBackward,
  axpy: op.axpy,
  scale: op.scale,
  divide: (x, d, n) => { for (let i = 0; i < n; i++) x[i] /= d; },
  quantAct8: op.quantAct8,
  packBf16: op.packBf16,
  unpackBf16: op.unpackBf16,
  sumsq: op.sumsq,
  adamw: op.adamw,
  dispose: () => {},
};
