// Equivalence transforms applied before quantization, each folded into neighbouring tensors so the
// full-precision model computes the same function:
// - SmoothQuant: s_j = max|X_j|^a / max|W_j|^(1-a) moves activation outliers into the weights (W8A8).
// - AWQ: s_j = mean|X_j|^r, normalised, with r searched on a grid of 20 to minimise the error of the
//   quantized layer outputs on calibration inputs (activation-aware weight scaling).
// - Cross-layer equalization (Nagel et al., as Brevitas): per channel, both sides' ranges to
//   sqrt(r1 r2), iterated, for up -> down and v -> o.
// - Rotation (QuaRot-style): norms folded into the next matrices, then the residual stream rotated by a
//   seeded randomized Hadamard (or random orthogonal) matrix Q: embeddings and producers (o, down)
//   by Q^T, consumers (q, k, v, gate, up, output) by Q.
// - Bias correction (as Brevitas): b <- b - (W_q - W) E[x] for q/k/v/o, whose biases llama allows.

import type { ChannelStats } from './calib.js';
import { type F32Model, type F32Tensor, type InputGroup, foldInputScale, layerGroups, scaleCols, tensor } from './weights.js';
import { TENSOR, blk } from '../formats/gguf-names.js';
import { quantFormat } from '../quant/table.js';

/** Quantize and dequantize a matrix in a given type (the error a method tries to reduce). */
export function fakeQuant(type: number, t: F32Tensor): Float32Array {
  const f = quantFormat(type);
  const n = t.data.length, cols = t.shape[0]!;
  const q = new Uint8Array((n / f.blockSize) * f.typeSize);
  if (f.quantizeTensor) f.quantizeTensor(t.data, n / cols, cols, q);
  else f.quantize!(t.data, 0, q, 0, n);
  const y = new Float32Array(n);
  f.dequantize(q, 0, y, 0, n);
  return y;
}

/** Channels of a v -> o group that share a v row get one scale (their geometric mean). */
function tie(g: InputGroup, s: Float64Array): void {
  const rowOf = g.source.rowOf;
  if (!rowOf) return;
  const logSum = new Map<number, [number, number]>();
  for (let c = 0; c < s.length; c++) {
    const r = rowOf(c), e = logSum.get(r) ?? [0, 0];
    e[0] += Math.log(s[c]!); e[1]++;
    logSum.set(r, e);
  }
  for (let c = 0; c < s.length; c++) { const e = logSum.get(rowOf(c))!; s[c] = Math.exp(e[0] / e[1]); }
}

function colAbsMax(m: F32Model, names: string[], cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (const n of names) {
    const t = tensor(m, n);
    for (let i = 0; i < t.data.length; i++) { const j = i % cols, a = Math.abs(t.data[i]!); if (a > out[j]!) out[j] = a; }
  }
  return out;
}

const EPS = 1e-5;

export function smoothQuant(m: F32Model, stats: Map<string, ChannelStats>, alpha = 0.5): number {
  let n = 0;
  for (let l = 0; l < m.nLayer; l++) {
    for (const g of layerGroups(m, l)) {
      if (g.source.kind === 'rows' && g.source.rowOf) continue; // v -> o: values, not an outlier source
      const st = stats.get(g.consumers[0]!);
      if (!st) continue;
      const wMax = colAbsMax(m, g.consumers, st.cols);
      const s = new Float64Array(st.cols);
      for (let j = 0; j < st.cols; j++) {
        const x = Math.max(st.absMax[j]!, EPS), w = Math.max(wMax[j]!, EPS);
        s[j] = Math.max(x ** alpha / w ** (1 - alpha), EPS);
      }
      // Consumers' columns are multiplied by s, inputs divided by it: X/s, diag(s) W.
      foldInputScale(m, g, s);
      n++;
    }
  }
  return n;
}

export interface AwqOptions {
  /** The type the weights will be quantized to (fake-quantized during the search). */
  type: (rowLength: number) => number;
  /** Calibration input rows per weight name (a sample of tokens). */
  samples: Map<string, Float32Array>;
  grid?: number;
}

/** Sum over consumers of ||Q(W diag(s)) (X / s) - W X||^2 on the sample rows. */
function groupError(m: F32Model, g: InputGroup, X: Float32Array, cols: number, s: Float64Array | null, type: (c: number) => number): number {
  const nTok = X.length / cols;
  const xs = new Float64Array(X.length);
  for (let i = 0; i < X.length; i++) xs[i] = s ? X[i]! / s[i % cols]! : X[i]!;
  let err = 0;
  for (const name of g.consumers) {
    const t = tensor(m, name);
    const rows = t.data.length / cols;
    const scaled: F32Tensor = { shape: t.shape, data: t.data.slice() };
    if (s) scaleCols(scaled, s);
    const q = fakeQuant(type(cols), scaled);
    for (let r = 0; r < rows; r++) {
      const ro = r * cols;
      for (let k = 0; k < nTok; k++) {
        let yq = 0, y = 0;
        const xo = k * cols;
        for (let j = 0; j < cols; j++) { yq += q[ro + j]! * xs[xo + j]!; y += t.data[ro + j]! * X[xo + j]!; }
        err += (yq - y) ** 2;
      }
    }
  }
  return err;
}

export function awq(m: F32Model, stats: Map<string, ChannelStats>, o: AwqOptions): { group: string; ratio: number; gain: number }[] {
  const grid = o.grid ?? 20;
  const report: { group: string; ratio: number; gain: number }[] = [];
  for (let l = 0; l < m.nLayer; l++) {
    for (const g of layerGroups(m, l)) {
      const st = stats.get(g.consumers[0]!), X = o.samples.get(g.consumers[0]!);
      if (!st || !X) continue;
      const cols = st.cols;
      const xMean = new Float64Array(cols);
      for (let j = 0; j < cols; j++) xMean[j] = Math.max(st.absSum[j]! / st.n, 1e-8);
      const base = groupError(m, g, X, cols, null, o.type);
      let best = base, bestS: Float64Array | null = null, bestR = 0;
      for (let i = 0; i < grid; i++) {
        const r = i / grid;
        const s = new Float64Array(cols);
        let mx = 0, mn = Infinity;
        for (let j = 0; j < cols; j++) { s[j] = Math.max(xMean[j]! ** r, 1e-4); mx = Math.max(mx, s[j]!); mn = Math.min(mn, s[j]!); }
        const norm = Math.sqrt(mx * mn);
        for (let j = 0; j < cols; j++) s[j] = s[j]! / norm;
        tie(g, s);
        const e = groupError(m, g, X, cols, s, o.type);
        if (e < best) { best = e; bestS = s; bestR = r; }
      }
      if (bestS) {
        foldInputScale(m, g, bestS);
        // The samples of this group's inputs are divided by s too (later groups read other inputs).
        for (let i = 0; i < X.length; i++) X[i] = X[i]! / bestS[i % cols]!;
      }
      report.push({ group: g.consumers.join(','), ratio: bestR, gain: base > 0 ? best / base : 1 });
    }
  }
  return report;
}

/** Cross-layer equalization of up -> down and v -> o: channel ranges of both sides to sqrt(r1 r2). */
export function crossLayerEqualize(m: F32Model, iterations = 20): number {
  let pairs = 0;
  for (let l = 0; l < m.nLayer; l++) {
    for (const g of layerGroups(m, l)) {
      if (g.source.kind !== 'rows') continue;
      const src = tensor(m, g.source.name), dst = tensor(m, g.consumers[0]!);
      const cols = dst.shape[0]!, srcCols = src.shape[0]!;
      for (let it = 0; it < iterations; it++) {
        const r2 = colAbsMax(m, g.consumers, cols);
        const rowMax = new Float64Array(src.data.length / srcCols);
        for (let i = 0; i < src.data.length; i++) { const r = Math.floor(i / srcCols), a = Math.abs(src.data[i]!); if (a > rowMax[r]!) rowMax[r] = a; }
        const s = new Float64Array(cols);
        let changed = false;
        for (let c = 0; c < cols; c++) {
          const r1 = rowMax[g.source.rowOf ? g.source.rowOf(c) : c]!;
          // Channels with (almost) no range on either side are left alone.
          s[c] = r1 > EPS && r2[c]! > EPS ? Math.sqrt(r1 / r2[c]!) : 1;
          if (Math.abs(s[c]! - 1) > 1e-6) changed = true;
        }
        tie(g, s);
        if (!changed) break;
        foldInputScale(m, g, s);
      }
      pairs++;
    }
  }
  return pairs;
}

/** xorshift32 stream of floats in [0, 1). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

/** A seeded n x n orthogonal matrix (row-major): randomized Hadamard for powers of two, else QR of a gaussian. */
export function randomOrthogonal(n: number, seed = 1): Float64Array {
  const r = rng(seed);
  const Q = new Float64Array(n * n);
  if ((n & (n - 1)) === 0) {
    const inv = 1 / Math.sqrt(n);
    const sign = Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let b = i & j, parity = 0;
      while (b) { parity ^= b & 1; b >>= 1; }
      Q[i * n + j] = (parity ? -inv : inv) * sign[j]!;
    }
    return Q;
  }
  // Gram-Schmidt (twice) on gaussian columns.
  const g = () => Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  for (let i = 0; i < n * n; i++) Q[i] = g();
  for (let c = 0; c < n; c++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < c; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += Q[i * n + c]! * Q[i * n + p]!;
        for (let i = 0; i < n; i++) Q[i * n + c] -= d * Q[i * n + p]!;
      }
    }
    let nn = 0;
    for (let i = 0; i < n; i++) nn += Q[i * n + c]! ** 2;
    nn = Math.sqrt(nn);
    for (let i = 0; i < n; i++) Q[i * n + c] /= nn;
  }
  return Q;
}

/** W (rows x n, row-major) times Q (n x n): each row w -> w Q. */
function rowsTimes(t: F32Tensor, Q: Float64Array, n: number): void {
  const rows = t.data.length / n, tmp = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    tmp.fill(0);
    const o = r * n;
    for (let j = 0; j < n; j++) { const w = t.data[o + j]!; if (w === 0) continue; const q = j * n; for (let k = 0; k < n; k++) tmp[k] += w * Q[q + k]!; }
    for (let k = 0; k < n; k++) t.data[o + k] = tmp[k]!;
  }
}

/** Q^T times W where W is n x cols (row-major): out[i, :] = sum_k Q[k, i] W[k, :]. */
function qtTimes(t: F32Tensor, Q: Float64Array, n: number): void {
  const cols = t.shape[0]!, out = new Float64Array(n * cols);
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) {
    const q = Q[k * n + i]!;
    if (q === 0) continue;
    for (let c = 0; c < cols; c++) out[i * cols + c] += q * t.data[k * cols + c]!;
  }
  for (let i = 0; i < out.length; i++) t.data[i] = out[i]!;
}

/** Rotate the residual stream (see the file header). Returns the rotation used. */
export function rotateResidual(m: F32Model, seed = 1): Float64Array {
  const emb = tensor(m, TENSOR.tokenEmbd);
  const n = emb.shape[0]!;
  if (!m.tensors.has(TENSOR.output)) m.tensors.set(TENSOR.output, { shape: [...emb.shape], data: emb.data.slice() });
  const fold = (norm: string, consumers: string[]) => {
    const w = tensor(m, norm);
    for (const c of consumers) if (m.tensors.has(c)) scaleCols(tensor(m, c), w.data);
    w.data.fill(1);
  };
  for (let l = 0; l < m.nLayer; l++) {
    fold(blk(l, 'attnNorm'), [blk(l, 'attnQ'), blk(l, 'attnK'), blk(l, 'attnV')]);
    fold(blk(l, 'ffnNorm'), [blk(l, 'ffnGate'), blk(l, 'ffnUp')]);
  }
  fold(TENSOR.outputNorm, [TENSOR.output]);
  const Q = randomOrthogonal(n, seed);
  rowsTimes(emb, Q, n);
  rowsTimes(tensor(m, TENSOR.output), Q, n);
  for (let l = 0; l < m.nLayer; l++) {
    for (const c of ['attnQ', 'attnK', 'attnV', 'ffnGate', 'ffnUp'] as const) rowsTimes(tensor(m, blk(l, c)), Q, n);
    for (const c of ['attnOutput', 'ffnDown'] as const) qtTimes(tensor(m, blk(l, c)), Q, n);
    const bo = m.tensors.get(blk(l, 'attnOutput', 'bias'));
    if (bo) qtTimes({ shape: [1], data: bo.data }, Q, n);
  }
  return Q;
}

/**
 * Bias correction for q/k/v/o: b <- b - (Q(W) - W) E[x] with E[x] from calibration; adds the bias
 * tensors where the model has none. Returns the names corrected.
 */
export function biasCorrect(m: F32Model, stats: Map<string, ChannelStats>, type: (rowLength: number) => number): string[] {
  const done: string[] = [];
  for (let l = 0; l < m.nLayer; l++) {
    for (const c of ['attnQ', 'attnK', 'attnV', 'attnOutput'] as const) {
      const name = blk(l, c), st = stats.get(name);
      if (!st || !m.tensors.has(name)) continue;
      const t = tensor(m, name), cols = t.shape[0]!, rows = t.data.length / cols;
      const q = fakeQuant(type(cols), t);
      const bName = blk(l, c, 'bias');
      const b = m.tensors.get(bName) ?? { shape: [rows], data: new Float32Array(rows) };
      for (let r = 0; r < rows; r++) {
        let d = 0;
        for (let j = 0; j < cols; j++) d += (q[r * cols + j]! - t.data[r * cols + j]!) * (st.sum[j]! / st.n);
        b.data[r] -= d;
      }
      m.tensors.set(bName, b);
      done.push(name);
    }
  }
  return done;
}
