// Training ops for the Llama-family decoder: each forward has a backward that accumulates (+=) into
// the gradient buffers it is given. Plain TypeScript over Float32Array, row-major, no allocation in
// the loops; shapes in comments. These are the reference set a WebAssembly backend would replace
// op by op (same signatures), checked by finite differences in test/train-grad.test.ts.

import { bf16ToF32, f32ToBf16, roundEven, roundF16 } from '../core/f16.js';

/** y(T, rows) = x(T, cols) · W(rows, cols)ᵀ */
export function matmul(w: Float32Array, x: Float32Array, T: number, rows: number, cols: number, y: Float32Array): void {
  // two tokens by two rows per pass: each loaded element feeds two multiply-adds
  let t = 0;
  for (; t + 1 < T; t += 2) {
    const xa = t * cols, xb = xa + cols, ya = t * rows, yb = ya + rows;
    let r = 0;
    for (; r + 1 < rows; r += 2) {
      const w0 = r * cols, w1 = w0 + cols;
      let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
      for (let i = 0; i < cols; i++) {
        const p = x[xa + i]!, q = x[xb + i]!, u = w[w0 + i]!, v = w[w1 + i]!;
        a0 += u * p; a1 += v * p; b0 += u * q; b1 += v * q;
      }
      y[ya + r] = a0; y[ya + r + 1] = a1; y[yb + r] = b0; y[yb + r + 1] = b1;
    }
    for (; r < rows; r++) {
      const wo = r * cols;
      let a = 0, b = 0;
      for (let i = 0; i < cols; i++) { a += w[wo + i]! * x[xa + i]!; b += w[wo + i]! * x[xb + i]!; }
      y[ya + r] = a; y[yb + r] = b;
    }
  }
  for (; t < T; t++) {
    const xo = t * cols, yo = t * rows;
    for (let r = 0; r < rows; r++) {
      const wo = r * cols;
      let s = 0;
      for (let i = 0; i < cols; i++) s += w[wo + i]! * x[xo + i]!;
      y[yo + r] = s;
    }
  }
}

/** dx(T, cols) += dy(T, rows) · W;  dW(rows, cols) += dyᵀ · x. dx may be null (embedding input). */
export function matmulBackward(w: Float32Array, x: Float32Array, dy: Float32Array, T: number, rows: number, cols: number, dw: Float32Array, dx: Float32Array | null): void {
  // dW row by row, four tokens per pass so each dW row is loaded and stored T/4 times
  for (let r = 0; r < rows; r++) {
    const wo = r * cols;
    let t = 0;
    for (; t + 3 < T; t += 4) {
      const g0 = dy[t * rows + r]!, g1 = dy[(t + 1) * rows + r]!, g2 = dy[(t + 2) * rows + r]!, g3 = dy[(t + 3) * rows + r]!;
      if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
      const x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
      for (let i = 0; i < cols; i++) dw[wo + i] += g0 * x[x0 + i]! + g1 * x[x1 + i]! + g2 * x[x2 + i]! + g3 * x[x3 + i]!;
    }
    for (; t < T; t++) {
      const g = dy[t * rows + r]!, xo = t * cols;
      for (let i = 0; i < cols; i++) dw[wo + i] += g * x[xo + i]!;
    }
  }
  if (!dx) return;
  // dx token by token, four weight rows per pass
  for (let t = 0; t < T; t++) {
    const xo = t * cols, yo = t * rows;
    let r = 0;
    for (; r + 3 < rows; r += 4) {
      const g0 = dy[yo + r]!, g1 = dy[yo + r + 1]!, g2 = dy[yo + r + 2]!, g3 = dy[yo + r + 3]!;
      const w0 = r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
      for (let i = 0; i < cols; i++) dx[xo + i] += g0 * w[w0 + i]! + g1 * w[w1 + i]! + g2 * w[w2 + i]! + g3 * w[w3 + i]!;
    }
    for (; r < rows; r++) {
      const g = dy[yo + r]!, wo = r * cols;
      for (let i = 0; i < cols; i++) dx[xo + i] += g * w[wo + i]!;
    }
  }
}

/** out(T, n) = x / rms(x) * weight; keeps rstd(T) for the backward. */
export function rmsNorm(x: Float32Array, weight: Float32Array, eps: number, n: number, T: number, out: Float32Array, rstd: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[o + i]! * x[o + i]!;
    const r = 1 / Math.sqrt(ss / n + eps);
    rstd[t] = r;
    for (let i = 0; i < n; i++) out[o + i] = x[o + i]! * r * weight[i]!;
  }
}

export function rmsNormBackward(x: Float32Array, weight: Float32Array, rstd: Float32Array, dout: Float32Array, n: number, T: number, dx: Float32Array, dweight: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const o = t * n, r = rstd[t]!;
    let dot = 0;
    for (let i = 0; i < n; i++) {
      dweight[i] += dout[o + i]! * x[o + i]! * r;
      dot += dout[o + i]! * weight[i]! * x[o + i]!;
    }
    const c = (dot * r * r * r) / n;
    for (let i = 0; i < n; i++) dx[o + i] += dout[o + i]! * weight[i]! * r - x[o + i]! * c;
  }
}

/** Rotary tables for adjacent-pair RoPE (llama.cpp's NORM layout): cos/sin (T, headDim/2). */
export function ropeTables(T: number, headDim: number, base: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim >> 1;
  const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const theta = t * Math.pow(base, (-2 * i) / headDim);
      cos[t * half + i] = Math.cos(theta);
      sin[t * half + i] = Math.sin(theta);
    }
  }
  return { cos, sin };
}

/** In place on x(T, nHead, headDim); `inverse` rotates back, which is also the backward. */
export function rope(x: Float32Array, T: number, nHead: number, headDim: number, cos: Float32Array, sin: Float32Array, inverse: boolean): void {
  const half = headDim >> 1;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const c = cos[t * half + i]!, s = inverse ? -sin[t * half + i]! : sin[t * half + i]!;
      for (let h = 0; h < nHead; h++) {
        const i0 = (t * nHead + h) * headDim + 2 * i;
        const a = x[i0]!, b = x[i0 + 1]!;
        x[i0] = a * c - b * s;
        x[i0 + 1] = a * s + b * c;
      }
    }
  }
}

export interface AttnShape { T: number; nHead: number; nHeadKv: number; headDim: number }

/** Causal GQA attention. q(T, nHead·hd), k/v(T, nHeadKv·hd) -> out(T, nHead·hd); probs(nHead, T, T). */
export function attention(q: Float32Array, k: Float32Array, v: Float32Array, s: AttnShape, probs: Float32Array, out: Float32Array): void {
  const { T, nHead, nHeadKv, headDim: hd } = s;
  const group = nHead / nHeadKv, scale = 1 / Math.sqrt(hd);
  const qs = nHead * hd, ks = nHeadKv * hd;
  out.fill(0, 0, T * qs);
  for (let h = 0; h < nHead; h++) {
    const kh = Math.floor(h / group) * hd;
    for (let t = 0; t < T; t++) {
      const qo = t * qs + h * hd, po = (h * T + t) * T;
      let max = -Infinity;
      for (let j = 0; j <= t; j++) {
        const ko = j * ks + kh;
        let d = 0;
        for (let i = 0; i < hd; i++) d += q[qo + i]! * k[ko + i]!;
        d *= scale;
        probs[po + j] = d;
        if (d > max) max = d;
      }
      let sum = 0;
      for (let j = 0; j <= t; j++) { const e = Math.exp(probs[po + j]! - max); probs[po + j] = e; sum += e; }
      const inv = 1 / sum;
      for (let j = 0; j <= t; j++) {
        const p = probs[po + j]! * inv;
        probs[po + j] = p;
        const vo = j * ks + kh;
        for (let i = 0; i < hd; i++) out[qo + i] += p * v[vo + i]!;
      }
    }
  }
}

/** Accumulates dq, dk, dv from dout; `dp` is (T) scratch. */
export function attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dout: Float32Array, s: AttnShape, dq: Float32Array, dk: Float32Array, dv: Float32Array, dp: Float32Array): void {
  const { T, nHead, nHeadKv, headDim: hd } = s;
  const group = nHead / nHeadKv, scale = 1 / Math.sqrt(hd);
  const qs = nHead * hd, ks = nHeadKv * hd;
  for (let h = 0; h < nHead; h++) {
    const kh = Math.floor(h / group) * hd;
    for (let t = 0; t < T; t++) {
      const qo = t * qs + h * hd, po = (h * T + t) * T;
      let dot = 0;
      for (let j = 0; j <= t; j++) {
        const vo = j * ks + kh, p = probs[po + j]!;
        let d = 0;
        for (let i = 0; i < hd; i++) { d += dout[qo + i]! * v[vo + i]!; dv[vo + i] += p * dout[qo + i]!; }
        dp[j] = d;
        dot += p * d;
      }
      for (let j = 0; j <= t; j++) {
        const ds = probs[po + j]! * (dp[j]! - dot) * scale;
        if (ds === 0) continue;
        const ko = j * ks + kh;
        for (let i = 0; i < hd; i++) { dq[qo + i] += ds * k[ko + i]!; dk[ko + i] += ds * q[qo + i]!; }
      }
    }
  }
}

/** h(n) = silu(g) * u */
export function swiglu(g: Float32Array, u: Float32Array, n: number, h: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    h[i] = (x / (1 + Math.exp(-x))) * u[i]!;
  }
}

export function swigluBackward(g: Float32Array, u: Float32Array, dh: Float32Array, n: number, dg: Float32Array, du: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!, sig = 1 / (1 + Math.exp(-x));
    du[i] += dh[i]! * x * sig;
    dg[i] += dh[i]! * u[i]! * sig * (1 + x * (1 - sig));
  }
}

/** The row's maximum and sum of exp(x - max) over logits[o..o+V): log-sum-exp = log(sum) + max. */
export function softmaxNorm(logits: Float32Array, o: number, V: number): { max: number; sum: number } {
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[o + i]! > max) max = logits[o + i]!;
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i]! - max);
  return { max, sum };
}

/**
 * Softmax cross-entropy over logits(T, V) against targets(T); returns the summed loss and writes
 * dlogits = (softmax - onehot) * gradScale (overwriting the logits buffer is allowed).
 */
export function crossEntropy(logits: Float32Array, targets: ArrayLike<number>, T: number, V: number, gradScale: number, dlogits: Float32Array): number {
  let loss = 0;
  for (let t = 0; t < T; t++) {
    const o = t * V;
    const { max, sum } = softmaxNorm(logits, o, V);
    const tgt = targets[t]!;
    loss += Math.log(sum) + max - logits[o + tgt]!;
    const inv = 1 / sum;
    for (let i = 0; i < V; i++) dlogits[o + i] = Math.exp(logits[o + i]! - max) * inv * gradScale;
    dlogits[o + tgt] -= gradScale;
  }
  return loss;
}

/** x(T, D) = table[ids[t]] * scale (the embedding; MiniCPM's scale_emb) */
export function embed(table: Float32Array, ids: ArrayLike<number>, T: number, D: number, scale: number, x: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const id = ids[t]!;
    for (let i = 0; i < D; i++) x[t * D + i] = table[id * D + i]! * scale;
  }
}

/** dtable[ids[t]] += dx(T, D) * scale */
export function embedBackward(dtable: Float32Array, ids: ArrayLike<number>, T: number, D: number, scale: number, dx: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const id = ids[t]!;
    for (let i = 0; i < D; i++) dtable[id * D + i] += dx[t * D + i]! * scale;
  }
}

/** x[0..n) += a * y[0..n) (residual adds) */
export function axpy(x: Float32Array, y: Float32Array, a: number, n: number): void {
  for (let i = 0; i < n; i++) x[i] += a * y[i]!;
}

/** x[0..n) = y[0..n) * a */
export function scale(x: Float32Array, y: Float32Array, a: number, n: number): void {
  for (let i = 0; i < n; i++) x[i] = y[i]! * a;
}

/** s0 plus the squares of g, in order: clipping sums every parameter's gradient in one running sum. */
export function sumsq(g: Float32Array, s0: number): number {
  let s = s0;
  for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return s;
}

/** One AdamW step over w with moments m, v (c1, c2: the bias corrections 1 / (1 - beta^t); decay: 1 - lr * weightDecay). */
export function adamw(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, eps: number, lr: number, decay: number, c1: number, c2: number): void {
  for (let i = 0; i < w.length; i++) {
    const gi = g[i]!;
    const mi = (m[i] = b1 * m[i]! + (1 - b1) * gi);
    const vi = (v[i] = b2 * v[i]! + (1 - b2) * gi * gi);
    w[i] = w[i]! * decay - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
  }
}

/**
 * BitCPM / BitNet b1.58 absmean ternarization of W(rows, cols) into q: per group of `group`
 * consecutive elements of a row (0: the whole tensor), s = max(mean|W|, eps) rounded to f16, and
 * q = clamp(round(W / s), -1, 1) * s. The scale is snapped to f16 because that is what a TQ1_0 /
 * TQ2_0 block stores: with groups that tile its 256-element blocks, the export is then exact.
 */
export function ternarize(w: Float32Array, rows: number, cols: number, group: number, q: Float32Array): void {
  const n = rows * cols, g = group > 0 ? group : n;
  for (let o = 0; o < n; o += g) {
    let sa = 0;
    for (let i = 0; i < g; i++) sa += Math.abs(w[o + i]!);
    const s = roundF16(Math.max(sa / g, TERNARY_EPS));
    const inv = 1 / s;
    for (let i = 0; i < g; i++) {
      const t = Math.round(w[o + i]! * inv);
      q[o + i] = t >= 1 ? s : t <= -1 ? -s : 0;
    }
  }
}
/** the floor of a ternary group's scale (BitCPM's eps): an all-zero group stays zero */
export const TERNARY_EPS = 1e-5;

/**
 * BitNet b1.58's activation quantization, in place on x(T, n): per token, absmax int8 fake-quant,
 * x = roundEven(x * 127 / amax) * amax / 127 in f64 (torch.round's halves to even; |x| <= amax
 * keeps every value in [-127, 127]; an all-zero token stays zero). The backward passes the
 * gradient straight through (the decoder quantizes its matmul inputs in place, so nothing to do).
 */
export function quantAct8(x: Float32Array, T: number, n: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let amax = 0;
    for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(x[o + i]!));
    if (amax === 0) continue;
    const s = 127 / amax, inv = amax / 127;
    for (let i = 0; i < n; i++) x[o + i] = roundEven(x[o + i]! * s) * inv;
  }
}

/** out[0..n) = x[0..n) as bfloat16 bits, nearest even (the storage of roundBf16's values: lossless for them). */
export function packBf16(x: Float32Array, n: number, out: Uint16Array): void {
  for (let i = 0; i < n; i++) out[i] = f32ToBf16(x[i]!);
}

/** out[0..n) = the bfloat16 bits x[0..n) widened to f32 (exact). */
export function unpackBf16(x: Uint16Array, n: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) out[i] = bf16ToF32(x[i]!);
}

/** q[0..n) = x[0..n) rounded to bfloat16 (nearest even): bf16 storage, kept in f32 lanes. */
export function roundBf16(x: Float32Array, n: number, q: Float32Array): void {
  for (let i = 0; i < n; i++) q[i] = bf16ToF32(f32ToBf16(x[i]!));
}
