// The TypeScript twin of attention over a KV cache held in any cache format (f32, f16, bf16, the
// 32-element quant formats): ggml's CPU flash attention for one query row at a time
// (ggml_compute_forward_flash_attn_ext_f16_one_chunk), which llama.cpp runs whenever K is not
// f32/f16. Q is converted to the K format's vec_dot type, K.Q is the format's dot product, the
// softmax is online; F16 values accumulate in f16, every other V format is dequantized into f32.

import { roundF16 } from '../../core/f16.js';
import { expf } from './expf.js';
import type { ActivationRow, WeightBytes } from '../../quant/types.js';
import type { QuantAttentionParams } from '../types.js';
import { newActivationRow, prepareActivation } from './activations.js';

export class QuantAttentionRef {
  private act: ActivationRow | null = null;
  private v32 = new Float32Array(0);
  private acc = new Float32Array(0);

  private activation(kind: ActivationRow['kind'], n: number): ActivationRow {
    const a = this.act;
    if (a && a.kind === kind && Math.max(a.qs.length, a.f.length) >= n) return a;
    return (this.act = newActivationRow(kind, n));
  }

  attention(q: Float32Array, k: WeightBytes, v: WeightBytes, nTok: number, pos0: number, p: QuantAttentionParams, out: Float32Array): void {
    const { nHead, nHeadKv, headDim, headDimV, scale, kFormat, vFormat, kRowBytes, vRowBytes, spans, spanCount, spanStride } = p;
    if (spans && nTok !== 1) throw new RangeError(`attention over spans takes one query token, got ${nTok}`);
    const group = nHead / nHeadKv;
    const kHeadBytes = (headDim / kFormat.blockSize) * kFormat.typeSize;
    const vHeadBytes = (headDimV / vFormat.blockSize) * vFormat.typeSize;
    const a = this.activation(kFormat.vecDot, headDim);
    if (this.v32.length < headDimV) { this.v32 = new Float32Array(headDimV); this.acc = new Float32Array(headDimV); }
    const v32 = this.v32, acc = this.acc;
    const f16V = vFormat.vecDot === 'f16';
    const f = Math.fround;
    for (let t = 0; t < nTok; t++) {
      const last = pos0 + t;
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / group);
        prepareActivation(a, q, (t * nHead + h) * headDim, headDim, 0);
        acc.fill(0, 0, headDimV);
        let M = -Infinity, S = 0;
        const nSpans = spans ? spanCount![kvh]! : 1;
        for (let sp = 0; sp < nSpans; sp++) {
          const j0 = spans ? spans[kvh * spanStride + 2 * sp]! : 0;
          const j1 = spans ? Math.min(spans[kvh * spanStride + 2 * sp + 1]!, last + 1) : last + 1;
          for (let j = j0; j < j1; j++) {
            const s = f(f(kFormat.dot(k, j * kRowBytes + kvh * kHeadBytes, a, 0, headDim)) * scale);
            let ms = 1, vs = 1;
            if (s > M) {
              const old = M;
              M = s;
              ms = expf(old - M);
              for (let d = 0; d < headDimV; d++) acc[d] = f16V ? roundF16(acc[d]! * ms) : acc[d]! * ms;
            } else {
              vs = expf(s - M);
            }
            vFormat.dequantize(v.data, j * vRowBytes + kvh * vHeadBytes, v32, 0, headDimV);
            if (f16V) for (let d = 0; d < headDimV; d++) acc[d] = roundF16(acc[d]! + v32[d]! * vs);
            else for (let d = 0; d < headDimV; d++) acc[d] += v32[d]! * vs;
            S = f(f(S * ms) + vs);
          }
        }
        const inv = S === 0 ? 0 : f(1 / S);
        const oo = (t * nHead + h) * headDimV;
        for (let d = 0; d < headDimV; d++) out[oo + d] = acc[d]! * inv;
      }
    }
  }
}
