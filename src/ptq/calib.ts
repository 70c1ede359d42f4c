// Calibration: run a model on text and look at what enters each weight matrix. A kernel wrapper sees
// every matmul (weight name, input rows) and gathers per-input-channel statistics (mean |x|, max |x|,
// mean x) and, for the matrices asked for, the Hessian proxy H = sum x x^T that GPTQ needs. The same
// wrapper can fake-quantize the inputs (W8A8 / W4A8 / minifloat activations) for evaluation.

import type { Kernels, WeightMatrix } from '../kernels/types.js';
import type { Model } from '../runtime/model.js';
import { throwIfAborted } from '../core/errors.js';

export interface ChannelStats {
  cols: number;
  /** Rows (tokens) seen. */
  n: number;
  absSum: Float64Array;
  absMax: Float64Array;
  sum: Float64Array;
  /** sum over tokens of x x^T, row-major cols x cols (only for names in `hessians`). */
  xtx: Float64Array | null;
  /** Sampled input rows (only with `samples`). */
  samples: Float32Array[] | null;
}

/** The sampled rows of a weight's inputs as one [n, cols] array. */
export function sampleMatrix(s: ChannelStats): Float32Array {
  const out = new Float32Array((s.samples?.length ?? 0) * s.cols);
  s.samples?.forEach((r, i) => out.set(r, i * s.cols));
  return out;
}

export type ActivationQuantizer = (x: Float32Array, off: number, n: number) => void;

/**
 * A Kernels object that runs `base` but lets callers see (and change, for activation quantization)
 * every matmul input. Other ops pass through untouched.
 */
export function tapKernels(base: Kernels, hooks: { onInput?: (w: WeightMatrix, x: Float32Array, nTok: number) => void; actQuant?: ActivationQuantizer; skip?: (name: string) => boolean }): Kernels {
  const matmul = (w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array) => {
    hooks.onInput?.(w, x, nTok);
    if (hooks.actQuant && !hooks.skip?.(w.name)) for (let t = 0; t < nTok; t++) hooks.actQuant(x, t * w.cols, w.cols);
    base.matmul(w, x, nTok, y);
  };
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === 'matmul') return matmul;
      // Fused products (q/k/v, gate/up) are seen matrix by matrix, in order, as separate matmuls were.
      if (prop === 'matmulMany') {
        return (ws: readonly WeightMatrix[], x: Float32Array, nTok: number, ys: readonly Float32Array[]) => {
          for (let i = 0; i < ws.length; i++) matmul(ws[i]!, x, nTok, ys[i]!);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

export interface CalibrationOptions {
  /** Window length in tokens (default 256) and the most windows to run. */
  ctx?: number;
  windows?: number;
  /** Weight names whose input Hessians to accumulate (memory: cols^2 doubles each). */
  hessians?: (name: string) => boolean;
  /** Keep up to this many input rows per weight name (evenly spread over the windows), for AWQ. */
  samples?: number;
  signal?: AbortSignal;
  /** Called after each window (done of total): calibration with Hessians takes seconds per window. */
  onWindow?: (done: number, total: number) => void;
}

/** Tokens of a calibration text cut into windows of `ctx`, BOS first in each (as llama-perplexity). */
export function calibrationWindows(model: Model, text: string, ctx: number, max = Infinity): Int32Array[] {
  const toks = model.tokenize(text, { addSpecial: true, parseSpecial: false });
  const out: Int32Array[] = [];
  const bos = model.tokenizer.bos;
  for (let i = 0; i + ctx <= toks.length && out.length < max; i += ctx) {
    const w = Int32Array.from(toks.slice(i, i + ctx));
    if (model.tokenizer.addBos && bos !== undefined) w[0] = bos;
    out.push(w);
  }
  if (!out.length && toks.length > 1) out.push(Int32Array.from(toks));
  return out;
}

/** Statistics of every matmul input over the calibration windows. */
export function collectStats(model: Model, windows: Int32Array[], o: CalibrationOptions = {}): Map<string, ChannelStats> {
  const stats = new Map<string, ChannelStats>();
  const total = windows.reduce((a, w) => a + w.length, 0);
  const every = o.samples ? Math.max(1, Math.floor(total / o.samples)) : 0;
  const kernels = tapKernels(model.kernels, {
    onInput(w, x, nTok) {
      let s = stats.get(w.name);
      const cols = w.cols;
      if (!s) {
        s = { cols, n: 0, absSum: new Float64Array(cols), absMax: new Float64Array(cols), sum: new Float64Array(cols), xtx: o.hessians?.(w.name) ? new Float64Array(cols * cols) : null, samples: every ? [] : null };
        stats.set(w.name, s);
      }
      for (let t = 0; t < nTok; t++) {
        const r = t * cols;
        for (let j = 0; j < cols; j++) {
          const v = x[r + j]!, a = Math.abs(v);
          s.absSum[j] += a;
          s.sum[j] += v;
          if (a > s.absMax[j]!) s.absMax[j] = a;
        }
        if (s.samples && s.n % every === 0 && s.samples.length < o.samples!) s.samples.push(x.slice(r, r + cols));
        const h = s.xtx;
        if (h) {
          for (let i = 0; i < cols; i++) {
            const xi = x[r + i]!;
            if (xi === 0) continue;
            const hi = i * cols;
            for (let j = i; j < cols; j++) h[hi + j] += xi * x[r + j]!;
          }
        }
        s.n++;
      }
    },
  });
  const ctx = model.createContext({ ctx: Math.max(...windows.map((w) => w.length)), kernels, kvType: 'f32' });
  try {
    for (let i = 0; i < windows.length; i++) {
      throwIfAborted(o.signal);
      ctx.truncate(0);
      ctx.decode(windows[i]!, { logits: 'none' });
      o.onWindow?.(i + 1, windows.length);
    }
  } finally {
    ctx.dispose?.();
  }
  // Mirror the upper triangle.
  for (const s of stats.values()) {
    const h = s.xtx, c = s.cols;
    if (!h) continue;
    for (let i = 0; i < c; i++) for (let j = i + 1; j < c; j++) h[j * c + i] = h[i * c + j]!;
  }
  return stats;
}
