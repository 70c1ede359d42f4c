// Plain TypeScript reference kernels: the twin every fast backend is tested against, and the
// fallback where WebAssembly is unavailable. Written for clarity first; scratch buffers grow only
// when a larger shape is first seen, so steady-state decoding does not allocate.

import { ropeTheta, type AttentionParams, type Kernels, type QuantAttentionParams, type RopeParams, type WeightMatrix } from '../types.js';
import type { ActivationRow, WeightBytes } from '../../quant/types.js';
import { QuantAttentionRef } from './attention-quant.js';
import { TILED_MIN_TOKENS, TiledAttentionRef } from './attention-tiled.js';
import { EXP_MAX, expF32 } from './exp.js';
import { expf } from './expf.js';
import { newActivationRow, prepareActivation } from './activations.js';
import { F16_TO_F32, roundF16 } from '../../core/f16.js';

export class RefKernels implements Kernels {
  readonly name: string = 'ref';
  private acts = new Map<ActivationRow['kind'], ActivationRow>();
  private scores = new Float64Array(0);
  private qh = new Float32Array(0);
  private acc = new Float32Array(0);
  private quantAttn = new QuantAttentionRef();
  private tiledAttn = new TiledAttentionRef();

  private activation(kind: ActivationRow['kind'], n: number): ActivationRow {
    let a = this.acts.get(kind);
    const have = a ? Math.max(a.qs.length, a.f.length) : 0;
    if (!a || have < n) {
      a = newActivationRow(kind, Math.max(n, have * 2));
      this.acts.set(kind, a);
    }
    return a;
  }

  matmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
    const { rows, cols, rowBytes, format } = w;
    const a = this.activation(format.vecDot, cols * nTok);
    for (let t = 0; t < nTok; t++) prepareActivation(a, x, t * cols, cols, t * cols);
    for (let r = 0; r < rows; r++) {
      const wOff = r * rowBytes;
      for (let t = 0; t < nTok; t++) y[t * rows + r] = format.dot(w, wOff, a, t * cols, cols);
    }
  }

  matmulMany(ws: readonly WeightMatrix[], x: Float32Array, nTok: number, ys: readonly Float32Array[]): void {
    for (let i = 0; i < ws.length; i++) this.matmul(ws[i]!, x, nTok, ys[i]!);
  }

  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, n: number, nTok: number, out: Float32Array): void {
    for (let t = 0; t < nTok; t++) {
      const o = t * n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += x[o + i]! * x[o + i]!;
      const scale = Math.fround(1 / Math.sqrt(Math.fround(ss / n + eps)));
      for (let i = 0; i < n; i++) out[o + i] = Math.fround(x[o + i]! * scale) * weight[i]!;
    }
  }

  rope(x: Float32Array, nTok: number, nHead: number, headDim: number, pos0: number, p: RopeParams): void {
    const half = p.nRot >> 1;
    for (let t = 0; t < nTok; t++) {
      const pos = pos0 + t;
      for (let i = 0; i < half; i++) {
        const theta = ropeTheta(p, pos, i);
        const c = Math.cos(theta) * p.mscale, s = Math.sin(theta) * p.mscale;
        for (let h = 0; h < nHead; h++) {
          const base = (t * nHead + h) * headDim;
          const i0 = p.neox ? base + i : base + 2 * i;
          const i1 = p.neox ? base + i + half : base + 2 * i + 1;
          const a = x[i0]!, b = x[i1]!;
          x[i0] = a * c - b * s;
          x[i1] = a * s + b * c;
        }
      }
    }
  }

  attention(q: Float32Array, kCache: Float32Array | Uint16Array, vCache: Float32Array | Uint16Array, nTok: number, pos0: number, p: AttentionParams, out: Float32Array): void {
    if (p.spans && nTok !== 1) throw new RangeError(`attention over spans takes one query token, got ${nTok}`);
    if (p.f16 !== kCache instanceof Uint16Array || p.f16 !== vCache instanceof Uint16Array) {
      throw new TypeError(`attention: f16 = ${p.f16} takes ${p.f16 ? 'Uint16Array' : 'Float32Array'} caches, got ${kCache.constructor.name}/${vCache.constructor.name}`);
    }
    // Long batches (prefill) in tiles of keys, as llama.cpp's CPU flash attention takes them.
    if (!p.spans && nTok >= TILED_MIN_TOKENS) this.tiledAttn.attention(q, kCache, vCache, nTok, pos0, p, out);
    else if (p.f16) this.attentionF16(q, kCache as Uint16Array, vCache as Uint16Array, nTok, pos0, p, out);
    else this.attentionF32(q, kCache as Float32Array, vCache as Float32Array, nTok, pos0, p, out);
  }

  /** Two-pass softmax attention in f32/f64. */
  private attentionF32(q: Float32Array, kCache: Float32Array, vCache: Float32Array, nTok: number, pos0: number, p: AttentionParams, out: Float32Array): void {
    const { nHead, nHeadKv, headDim, headDimV, scale } = p;
    const group = nHead / nHeadKv;
    const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
    const nKv = pos0 + nTok;
    if (this.scores.length < nKv) this.scores = new Float64Array(Math.max(nKv, this.scores.length * 2));
    const sc = this.scores;
    for (let t = 0; t < nTok; t++) {
      const last = pos0 + t;
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / group);
        const qo = (t * nHead + h) * headDim;
        const nSpans = spanCount(p, kvh);
        let max = -Infinity;
        for (let sp = 0; sp < nSpans; sp++) {
          for (let j = spanStart(p, kvh, sp), j1 = spanEnd(p, kvh, sp, last); j < j1; j++) {
            const ko = j * kStride + kvh * headDim;
            let s = 0;
            for (let d = 0; d < headDim; d++) s += q[qo + d]! * kCache[ko + d]!;
            s *= scale;
            sc[j] = s;
            if (s > max) max = s;
          }
        }
        let sum = 0;
        for (let sp = 0; sp < nSpans; sp++) {
          for (let j = spanStart(p, kvh, sp), j1 = spanEnd(p, kvh, sp, last); j < j1; j++) {
            const e = Math.exp(sc[j]! - max);
            sc[j] = e;
            sum += e;
          }
        }
        const inv = sum === 0 ? 0 : 1 / sum;
        const oo = (t * nHead + h) * headDimV;
        for (let d = 0; d < headDimV; d++) out[oo + d] = 0;
        for (let sp = 0; sp < nSpans; sp++) {
          for (let j = spanStart(p, kvh, sp), j1 = spanEnd(p, kvh, sp, last); j < j1; j++) {
            const pj = sc[j]! * inv;
            const vo = j * vStride + kvh * headDimV;
            for (let d = 0; d < headDimV; d++) out[oo + d] += pj * vCache[vo + d]!;
          }
        }
      }
    }
  }

  /**
   * Online-softmax attention over an f16 cache, rounding as llama.cpp's CPU flash-attention kernel
   * (its default) does: Q in f16, K.Q in double, the V accumulator held in f16. Matching it keeps
   * greedy output identical to llama.cpp's on close calls.
   */
  private attentionF16(q: Float32Array, kCache: Uint16Array, vCache: Uint16Array, nTok: number, pos0: number, p: AttentionParams, out: Float32Array): void {
    const { nHead, nHeadKv, headDim, headDimV, scale } = p;
    const group = nHead / nHeadKv;
    const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
    if (this.qh.length < headDim) this.qh = new Float32Array(headDim);
    if (this.acc.length < headDimV) this.acc = new Float32Array(headDimV);
    const qh = this.qh, acc = this.acc;
    for (let t = 0; t < nTok; t++) {
      const last = pos0 + t;
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / group);
        const qo = (t * nHead + h) * headDim;
        for (let d = 0; d < headDim; d++) qh[d] = roundF16(q[qo + d]!);
        for (let d = 0; d < headDimV; d++) acc[d] = 0;
        let M = -Infinity, S = 0;
        for (let sp = 0, nSpans = spanCount(p, kvh); sp < nSpans; sp++) for (let j = spanStart(p, kvh, sp), j1 = spanEnd(p, kvh, sp, last); j < j1; j++) {
          const ko = j * kStride + kvh * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += qh[d]! * F16_TO_F32[kCache[ko + d]!]!;
          const s = Math.fround(Math.fround(dot) * scale);
          let ms = 1, vs = 1;
          if (s > M) {
            const old = M;
            M = s;
            ms = expf(old - M);
            for (let d = 0; d < headDimV; d++) acc[d] = roundF16(acc[d]! * ms);
          } else {
            vs = expf(s - M);
          }
          const vo = j * vStride + kvh * headDimV;
          for (let d = 0; d < headDimV; d++) acc[d] = roundF16(acc[d]! + F16_TO_F32[vCache[vo + d]!]! * vs);
          S = Math.fround(Math.fround(S * ms) + vs);
        }
        const inv = S === 0 ? 0 : Math.fround(1 / S);
        const oo = (t * nHead + h) * headDimV;
        for (let d = 0; d < headDimV; d++) out[oo + d] = acc[d]! * inv;
      }
    }
  }

  attentionQuant(q: Float32Array, k: WeightBytes, v: WeightBytes, nTok: number, pos0: number, p: QuantAttentionParams, out: Float32Array): void {
    this.quantAttn.attention(q, k, v, nTok, pos0, p, out);
  }

  swiglu(gate: Float32Array, up: Float32Array, n: number): void {
    // f32 with the kernels' polynomial exp (kernels/ref/exp.ts), each step rounded as assembly/elementwise.ts does.
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      gate[i] = Math.fround(Math.fround(g / Math.fround(1 + expF32(Math.min(-g, EXP_MAX)))) * up[i]!);
    }
  }

  addScaled(x: Float32Array, y: Float32Array, scale: number, n: number): void {
    if (scale === 1) for (let i = 0; i < n; i++) x[i] += y[i]!;
    else for (let i = 0; i < n; i++) x[i] += y[i]! * scale;
  }

  embed(table: WeightMatrix, ids: ArrayLike<number>, nTok: number, out: Float32Array): void {
    for (let t = 0; t < nTok; t++) {
      const id = ids[t]!;
      if (!(id >= 0 && id < table.rows)) throw new RangeError(`token id ${id} is outside the vocabulary (0..${table.rows - 1})`);
      table.format.dequantize(table.data, id * table.rowBytes, out, t * table.cols, table.cols);
    }
  }
}

/** How many [start, end) spans KV head kvh attends (one, 0..last, without spans). */
function spanCount(p: AttentionParams, kvh: number): number {
  return p.spans ? p.spanCount![kvh]! : 1;
}

function spanStart(p: AttentionParams, kvh: number, sp: number): number {
  return p.spans ? p.spans[kvh * p.spanStride! + 2 * sp]! : 0;
}

/** A span's end, never past the query's own position. */
function spanEnd(p: AttentionParams, kvh: number, sp: number, last: number): number {
  return p.spans ? Math.min(p.spans[kvh * p.spanStride! + 2 * sp + 1]!, last + 1) : last + 1;
}
