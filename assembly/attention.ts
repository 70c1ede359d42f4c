// Causal attention over an f32 or f16 KV cache, grouped by KV head: the query heads that share a KV
// head (grouped-query attention) take one pass over its keys and values together, each position's
// K and V row read (and, for f16, widened from halves) once for the whole group instead of once per
// query head. Each head's arithmetic is the per-head online softmax unchanged (same sums in the same
// order), so how heads are grouped or split between threads never changes a result.

import { f16ToF32, roundF16, roundF16x4k } from './f16';
import { scales4, scalesKeep, scalesRebias } from './rows4';
import { hsum } from './dot';
import { attention_tiled, attention_tiled_scratch, TILED_MIN_TOKENS } from './attention-tiled';

/**
 * Floats of scratch one call needs: the queries and accumulators of a group, one K and V row, M and
 * S per head; or, for long batches, attention-tiled.ts's blocks and tiles.
 */
/**
 * Positions whose scores are computed before their online-softmax steps. A score does not depend on
 * the running max or sum, so taking a block's dot products first (each the same f32 chain as before,
 * so the same bits) lets them overlap one another instead of each waiting behind the previous
 * position's exp and V update: 0.5B Q4_0, 1 thread, decode at depth 4096 (f16 cache).
 */
const SCORE_BLOCK: i32 = 32;

export function attention_scratch(nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32): i32 {
  const group = nHead / nHeadKv;
  return max(group * (headDim + headDimV + 2 + SCORE_BLOCK) + headDim + headDimV, attention_tiled_scratch(nHead, nHeadKv, headDim, headDimV));
}

/**
 * n halves at src as f32 at dst (exact: every half is an f32), four at a time as rows4.ts's scales4
 * with its masks made from a run-time value: halfx4's three v128 constants were rebuilt at every use
 * in the loop (nine of ~18 instructions per four halves), for every cached position's K and V row.
 */
@inline export function widen(src: usize, dst: usize, n: i32): void {
  let d = 0;
  if (ASC_FEATURE_SIMD) {
    const one = <i32>(n >= 0), keep = scalesKeep(one), rebias = scalesRebias(one);
    for (; d + 4 <= n; d += 4) v128.store(dst + (<usize>d << 2), scales4(src + (<usize>d << 1), keep, rebias));
  }
  for (; d < n; d++) store<f32>(dst + (<usize>d << 2), f16ToF32(load<u16>(src + (<usize>d << 1))));
}

/**
 * One position of one head's online softmax (ggml's flash-attention step): score s against the
 * running max at Mp and sum at Sp, the f32 V row at vp accumulated into acc (f16: each step rounded
 * to f16, as ggml's f16 accumulator). Shared by attention.ts and attention-quant.ts. The exponential
 * is C's expf, as ggml's step calls it (Mathf.exp: the routine glibc and musl ship; kernels/ref/expf.ts
 * is its twin, test/kernels-expf.test.ts holds both to glibc's bits): f32 rounding of the f64
 * Math.exp differed from glibc's expf on 129 of 200k softmax arguments, and cost more (0.5B Q4_0,
 * f16 cache, depth 200, 1 thread: attention 101 -> 87 us a layer).
 */
@inline export function onlineStep(s: f32, Mp: usize, Sp: usize, acc: usize, vp: usize, headDimV: i32, f16: bool): void {
  const M = load<f32>(Mp);
  let ms: f32 = 1, vs: f32 = 1;
  if (s > M) {
    store<f32>(Mp, s);
    ms = Mathf.exp(M - s);
    let e = 0;
    if (ASC_FEATURE_SIMD) {
      const m4 = f32x4.splat(ms), one = <i32>(headDimV >= 0);
      const k1 = i32x4.splat(one), kh = i32x4.splat(0xfff * one), km = i32x4.splat(0xffffe000 * one);
      for (; e + 4 <= headDimV; e += 4) {
        const p = acc + (<usize>e << 2);
        const x = f32x4.mul(v128.load(p), m4);
        v128.store(p, f16 ? roundF16x4k(x, k1, kh, km) : x);
      }
    }
    for (; e < headDimV; e++) {
      const p = acc + (<usize>e << 2);
      const x = load<f32>(p) * ms;
      store<f32>(p, f16 ? roundF16(x) : x);
    }
  } else {
    vs = Mathf.exp(s - M);
  }
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    const v4 = f32x4.splat(vs);
    if (f16) {
      // The masks from a run-time value (roundF16x4k): its v128 constants were rebuilt per iteration.
      const one = <i32>(headDimV >= 0), k1 = i32x4.splat(one), kh = i32x4.splat(0xfff * one), km = i32x4.splat(0xffffe000 * one);
      for (; e + 4 <= headDimV; e += 4) {
        const p = acc + (<usize>e << 2);
        v128.store(p, roundF16x4k(f32x4.add(v128.load(p), f32x4.mul(v128.load(vp + (<usize>e << 2)), v4)), k1, kh, km));
      }
    } else {
      for (; e + 4 <= headDimV; e += 4) {
        const p = acc + (<usize>e << 2);
        v128.store(p, f32x4.add(v128.load(p), f32x4.mul(v128.load(vp + (<usize>e << 2)), v4)));
      }
    }
  }
  for (; e < headDimV; e++) {
    const p = acc + (<usize>e << 2);
    const x = load<f32>(p) + load<f32>(vp + (<usize>e << 2)) * vs;
    store<f32>(p, f16 ? roundF16(x) : x);
  }
  store<f32>(Sp, load<f32>(Sp) * ms + vs);
}

/** n heads' outputs from their accumulators (accg + i * headDimV) and sums Sg[i], to out + i * headDimV. */
@inline export function finishGroup(accg: usize, Sg: usize, out: usize, n: i32, headDimV: i32): void {
  for (let i = 0; i < n; i++) {
    const S = load<f32>(Sg + (<usize>i << 2));
    const inv: f32 = S == 0 ? 0 : <f32>1 / S;
    const acc = accg + (<usize>(i * headDimV) << 2), oo = out + (<usize>(i * headDimV) << 2);
    for (let d = 0; d < headDimV; d++) store<f32>(oo + (<usize>d << 2), load<f32>(acc + (<usize>d << 2)) * inv);
  }
}

/**
 * Causal attention for heads h0..h1 (see the TypeScript twin for layouts). f16 = 1: the caches hold
 * f16 halves (2 bytes an element) and the kernel rounds as llama.cpp's flash-attention kernel over
 * an f16 cache does (Q in f16, the V accumulator in f16); f16 = 0: f32 caches. spans (i32 pairs
 * [start, end)), when not 0 and nTok = 1: KV head kvh attends spanCount[kvh] pairs from
 * spans + kvh * spanStride (a sliding window, the sparse attention's selected blocks).
 * scratch: attention_scratch(...) floats per call.
 */
export function attention(q: usize, k: usize, v: usize, nTok: i32, pos0: i32, nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32, scale: f32, f16: i32,
  spans: usize, spanCount: usize, spanStride: i32, out: usize, h0: i32, h1: i32, scratch: usize): void {
  // Long batches (prefill): in tiles of keys, as llama.cpp's CPU flash attention takes them.
  if (!spans && nTok >= TILED_MIN_TOKENS) {
    attention_tiled(q, k, v, nTok, pos0, nHead, nHeadKv, headDim, headDimV, scale, f16, out, h0, h1, scratch);
    return;
  }
  const group = nHead / nHeadKv;
  const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
  const eb: usize = f16 ? 1 : 2;
  const qg = scratch;
  const accg = qg + (<usize>(group * headDim) << 2);
  const kf = accg + (<usize>(group * headDimV) << 2);
  const vf = kf + (<usize>headDim << 2);
  const Mg = vf + (<usize>headDimV << 2);
  const Sg = Mg + (<usize>group << 2);
  const scg = Sg + (<usize>group << 2);
  for (let t = 0; t < nTok; t++) {
    const last = pos0 + t;
    for (let g0 = h0; g0 < h1;) {
      const kvh = g0 / group;
      const g1 = min(h1, (kvh + 1) * group);
      const n = g1 - g0;
      for (let i = 0; i < n; i++) {
        const qo = q + ((<usize>(t * nHead + g0 + i) * <usize>headDim) << 2), qh = qg + (<usize>(i * headDim) << 2);
        for (let d = 0; d < headDim; d++) {
          const val = load<f32>(qo + (<usize>d << 2));
          store<f32>(qh + (<usize>d << 2), f16 ? roundF16(val) : val);
        }
        store<f32>(Mg + (<usize>i << 2), -Infinity);
        store<f32>(Sg + (<usize>i << 2), 0);
      }
      memory.fill(accg, 0, <usize>(n * headDimV) << 2);
      const nSpans = spans ? load<i32>(spanCount + (<usize>kvh << 2)) : 1;
      const sp0 = spans + ((<usize>(kvh * spanStride)) << 2);
      for (let sp = 0; sp < nSpans; sp++) {
        const j0 = spans ? load<i32>(sp0 + (<usize>(2 * sp) << 2)) : 0;
        const j1 = spans ? min(load<i32>(sp0 + (<usize>(2 * sp + 1) << 2)), last + 1) : last + 1;
        for (let jb = j0; jb < j1; jb += SCORE_BLOCK) {
          const je = min(j1, jb + SCORE_BLOCK);
          // Scores of the block's positions for every head of the group (scg: [head][position]),
          // each position's K row of the group's KV head as f32 (f16: widened once here).
          for (let j = jb; j < je; j++) {
            let kp = k + ((<usize>(j * kStride + kvh * headDim)) << eb);
            if (f16) { widen(kp, kf, headDim); kp = kf; }
            for (let i = 0; i < n; i++) {
              const qh = qg + (<usize>(i * headDim) << 2);
              let dot: f32 = 0;
              let d = 0;
              if (ASC_FEATURE_SIMD) {
                let a4 = f32x4.splat(0);
                for (; d + 4 <= headDim; d += 4) a4 = f32x4.add(a4, f32x4.mul(v128.load(qh + (<usize>d << 2)), v128.load(kp + (<usize>d << 2))));
                dot = hsum(a4);
              }
              for (; d < headDim; d++) dot += load<f32>(qh + (<usize>d << 2)) * load<f32>(kp + (<usize>d << 2));
              store<f32>(scg + (<usize>(i * SCORE_BLOCK + j - jb) << 2), dot * scale);
            }
          }
          // Then each position's online-softmax step in order, its V row as f32.
          for (let j = jb; j < je; j++) {
            let vp = v + ((<usize>(j * vStride + kvh * headDimV)) << eb);
            if (f16) { widen(vp, vf, headDimV); vp = vf; }
            for (let i = 0; i < n; i++) {
              onlineStep(load<f32>(scg + (<usize>(i * SCORE_BLOCK + j - jb) << 2)), Mg + (<usize>i << 2), Sg + (<usize>i << 2), accg + (<usize>(i * headDimV) << 2), vp, headDimV, f16 != 0);
            }
          }
        }
      }
      finishGroup(accg, Sg, out + ((<usize>(t * nHead + g0) * <usize>headDimV) << 2), n, headDimV);
      g0 = g1;
    }
  }
}
