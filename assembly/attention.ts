// Causal attention over an f32 or f16 KV cache, one online-softmax pass per (token, head).

import { f16ToF32, halfx4, roundF16, roundF16x4 } from './f16';
import { hsum } from './dot';

/** Four f16 values at p (8 bytes) as f32 lanes. */
@inline function load4h(p: usize): v128 {
  return halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(p)));
}

/**
 * Causal attention for heads h0..h1 (see the TypeScript twin for layouts). f16 = 1: the caches hold
 * f16 halves (2 bytes an element) and the kernel rounds as llama.cpp's flash-attention kernel over
 * an f16 cache does (Q in f16, the V accumulator in f16); f16 = 0: f32 caches.
 * scratch: headDim + headDimV floats per call.
 */
export function attention(q: usize, k: usize, v: usize, nTok: i32, pos0: i32, nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32, scale: f32, f16: i32, out: usize, h0: i32, h1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
  const qh = scratch, acc = scratch + (<usize>headDim << 2);
  for (let t = 0; t < nTok; t++) {
    const last = pos0 + t;
    for (let h = h0; h < h1; h++) {
      const kvh = h / group;
      const qo = q + ((<usize>(t * nHead + h) * <usize>headDim) << 2);
      for (let d = 0; d < headDim; d++) {
        const val = load<f32>(qo + (<usize>d << 2));
        store<f32>(qh + (<usize>d << 2), f16 ? roundF16(val) : val);
      }
      for (let d = 0; d < headDimV; d++) store<f32>(acc + (<usize>d << 2), 0);
      let M: f32 = -Infinity, S: f32 = 0;
      for (let j = 0; j <= last; j++) {
        let dot: f32 = 0;
        let d = 0;
        if (f16) {
          // Halves widen exactly to f32: the same products and sums as over f16-rounded f32 values.
          const ko = k + ((<usize>(j * kStride + kvh * headDim)) << 1);
          if (ASC_FEATURE_SIMD) {
            let a4 = f32x4.splat(0);
            for (; d + 4 <= headDim; d += 4) a4 = f32x4.add(a4, f32x4.mul(v128.load(qh + (<usize>d << 2)), load4h(ko + (<usize>d << 1))));
            dot = hsum(a4);
          }
          for (; d < headDim; d++) dot += load<f32>(qh + (<usize>d << 2)) * f16ToF32(load<u16>(ko + (<usize>d << 1)));
        } else {
          const ko = k + ((<usize>(j * kStride + kvh * headDim)) << 2);
          if (ASC_FEATURE_SIMD) {
            let a4 = f32x4.splat(0);
            for (; d + 4 <= headDim; d += 4) a4 = f32x4.add(a4, f32x4.mul(v128.load(qh + (<usize>d << 2)), v128.load(ko + (<usize>d << 2))));
            dot = hsum(a4);
          }
          for (; d < headDim; d++) dot += load<f32>(qh + (<usize>d << 2)) * load<f32>(ko + (<usize>d << 2));
        }
        const sc: f32 = dot * scale;
        let ms: f32 = 1, vs: f32 = 1;
        if (sc > M) {
          const old = M;
          M = sc;
          ms = <f32>Math.exp(<f64>(old - M));
          let e = 0;
          if (ASC_FEATURE_SIMD && f16) {
            const m4 = f32x4.splat(ms);
            for (; e + 4 <= headDimV; e += 4) {
              const p = acc + (<usize>e << 2);
              v128.store(p, roundF16x4(f32x4.mul(v128.load(p), m4)));
            }
          }
          for (; e < headDimV; e++) {
            const p = acc + (<usize>e << 2);
            const val = load<f32>(p) * ms;
            store<f32>(p, f16 ? roundF16(val) : val);
          }
        } else {
          vs = <f32>Math.exp(<f64>(sc - M));
        }
        if (f16) {
          const vo = v + ((<usize>(j * vStride + kvh * headDimV)) << 1);
          let e = 0;
          if (ASC_FEATURE_SIMD) {
            const v4 = f32x4.splat(vs);
            for (; e + 4 <= headDimV; e += 4) {
              const p = acc + (<usize>e << 2);
              v128.store(p, roundF16x4(f32x4.add(v128.load(p), f32x4.mul(load4h(vo + (<usize>e << 1)), v4))));
            }
          }
          for (; e < headDimV; e++) {
            const p = acc + (<usize>e << 2);
            store<f32>(p, roundF16(load<f32>(p) + f16ToF32(load<u16>(vo + (<usize>e << 1))) * vs));
          }
        } else {
          const vo = v + ((<usize>(j * vStride + kvh * headDimV)) << 2);
          let e = 0;
          if (ASC_FEATURE_SIMD) {
            const vv = f32x4.splat(vs);
            for (; e + 4 <= headDimV; e += 4) {
              const p = acc + (<usize>e << 2);
              v128.store(p, f32x4.add(v128.load(p), f32x4.mul(v128.load(vo + (<usize>e << 2)), vv)));
            }
          }
          for (; e < headDimV; e++) {
            const p = acc + (<usize>e << 2);
            store<f32>(p, load<f32>(p) + load<f32>(vo + (<usize>e << 2)) * vs);
          }
        }
        S = S * ms + vs;
      }
      const inv: f32 = S == 0 ? 0 : <f32>1 / S;
      const oo = out + ((<usize>(t * nHead + h) * <usize>headDimV) << 2);
      for (let d = 0; d < headDimV; d++) store<f32>(oo + (<usize>d << 2), load<f32>(acc + (<usize>d << 2)) * inv);
    }
  }
}
