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
 * S per head, a block's scores, K and V rows and per-position softmax factors; or, for long
 * batches, attention-tiled.ts's blocks and tiles.
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
  return max(group * (headDim + headDimV + 2 + SCORE_BLOCK) + headDim + headDimV + SCORE_BLOCK * (headDimV + 2 + headDim), attention_tiled_scratch(nHead, nHeadKv, headDim, headDimV));
}

/**
 * The scores of nb positions (K rows at kp, kRow bytes apart; f16: widened once into kblk) for n
 * heads (queries at qg, headDim apart) into scg ([head][position], SCORE_BLOCK apart), times
 * scale: each the same f32x4 chain over d then hsum as one position at a time, four positions'
 * chains in flight together (one chain of headDim / 4 dependent adds each was the wait), the
 * query vector loaded once for the four.
 */
@inline function scoreBlock(kp: usize, kRow: usize, nb: i32, f16: bool, n: i32, qg: usize, headDim: i32, scale: f32, scg: usize, kblk: usize): void {
  const rowBytes = <usize>headDim << 2;
  let kb = kp, kbStep = kRow;
  if (f16) {
    for (let j = 0; j < nb; j++) widen(kp + <usize>j * kRow, kblk + <usize>j * rowBytes, headDim);
    kb = kblk; kbStep = rowBytes;
  }
  for (let i = 0; i < n; i++) {
    const qh = qg + <usize>i * rowBytes, sc = scg + (<usize>(i * SCORE_BLOCK) << 2);
    let j = 0;
    for (; j + 4 <= nb; j += 4) {
      const r0 = kb + <usize>j * kbStep, r1 = r0 + kbStep, r2 = r1 + kbStep, r3 = r2 + kbStep;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let d: usize = 0; d < rowBytes; d += 16) {
        const qd = v128.load(qh + d);
        a0 = f32x4.add(a0, f32x4.mul(qd, v128.load(r0 + d)));
        a1 = f32x4.add(a1, f32x4.mul(qd, v128.load(r1 + d)));
        a2 = f32x4.add(a2, f32x4.mul(qd, v128.load(r2 + d)));
        a3 = f32x4.add(a3, f32x4.mul(qd, v128.load(r3 + d)));
      }
      store<f32>(sc + (<usize>j << 2), hsum(a0) * scale);
      store<f32>(sc + (<usize>j << 2), hsum(a1) * scale, 4);
      store<f32>(sc + (<usize>j << 2), hsum(a2) * scale, 8);
      store<f32>(sc + (<usize>j << 2), hsum(a3) * scale, 12);
    }
    for (; j < nb; j++) {
      const r = kb + <usize>j * kbStep;
      let a = f32x4.splat(0);
      for (let d: usize = 0; d < rowBytes; d += 16) a = f32x4.add(a, f32x4.mul(v128.load(qh + d), v128.load(r + d)));
      store<f32>(sc + (<usize>j << 2), hsum(a) * scale);
    }
  }
}

/**
 * onlineStep for nb positions and n heads, the positions' V rows at vp (vRow bytes apart; f16:
 * widened once into vblk), scores at scg ([head][position], SCORE_BLOCK apart), running max, sum
 * and accumulators at Mg, Sg, accg: the same operations on the same values in the same order per
 * head as onlineStep position by position, so the same bits. Taken head by head: first each
 * position's max, rescale factor ms and weight vs (scalar, in order; into stepF), then the
 * accumulator 32 dimensions at a time held in eight registers across the block's positions, where
 * onlineStep loaded and stored it at every position (and calls the rescale only where the max
 * changed: a multiplication by 1 leaves every value, f16-rounded or not, as it was).
 */
@inline function onlineBlock(vp: usize, vRow: usize, nb: i32, f16: bool, n: i32, scg: usize, Mg: usize, Sg: usize, accg: usize, headDimV: i32, vblk: usize, stepF: usize): void {
  const vStep = <usize>headDimV << 2;
  let vb = vp, vbStep = vRow;
  if (f16) {
    for (let j = 0; j < nb; j++) widen(vp + <usize>j * vRow, vblk + <usize>j * vStep, headDimV);
    vb = vblk; vbStep = vStep;
  }
  const one = <i32>(headDimV >= 0), k1 = i32x4.splat(one), kh = i32x4.splat(0xfff * one), km = i32x4.splat(0xffffe000 * one);
  for (let i = 0; i < n; i++) {
    const Mp = Mg + (<usize>i << 2), Sp = Sg + (<usize>i << 2), sc = scg + (<usize>(i * SCORE_BLOCK) << 2);
    let M = load<f32>(Mp), S = load<f32>(Sp);
    for (let j = 0; j < nb; j++) {
      const s = load<f32>(sc + (<usize>j << 2));
      let ms: f32 = 1, vs: f32 = 1;
      if (s > M) { ms = Mathf.exp(M - s); M = s; } else vs = Mathf.exp(s - M);
      S = S * ms + vs;
      store<f32>(stepF + (<usize>j << 3), ms);
      store<f32>(stepF + (<usize>j << 3), vs, 4);
    }
    store<f32>(Mp, M); store<f32>(Sp, S);
    const acc = accg + <usize>i * vStep;
    for (let d: usize = 0; d < <usize>headDimV << 2; d += 128) {
      const p = acc + d;
      let a0 = v128.load(p), a1 = v128.load(p, 16), a2 = v128.load(p, 32), a3 = v128.load(p, 48);
      let a4 = v128.load(p, 64), a5 = v128.load(p, 80), a6 = v128.load(p, 96), a7 = v128.load(p, 112);
      let r = vb + d;
      for (let j = 0; j < nb; j++) {
        const ms = load<f32>(stepF + (<usize>j << 3));
        if (ms != 1) {
          const m4 = f32x4.splat(ms);
          a0 = f32x4.mul(a0, m4); a1 = f32x4.mul(a1, m4); a2 = f32x4.mul(a2, m4); a3 = f32x4.mul(a3, m4);
          a4 = f32x4.mul(a4, m4); a5 = f32x4.mul(a5, m4); a6 = f32x4.mul(a6, m4); a7 = f32x4.mul(a7, m4);
          if (f16) {
            a0 = roundF16x4k(a0, k1, kh, km); a1 = roundF16x4k(a1, k1, kh, km); a2 = roundF16x4k(a2, k1, kh, km); a3 = roundF16x4k(a3, k1, kh, km);
            a4 = roundF16x4k(a4, k1, kh, km); a5 = roundF16x4k(a5, k1, kh, km); a6 = roundF16x4k(a6, k1, kh, km); a7 = roundF16x4k(a7, k1, kh, km);
          }
        }
        const v4 = v128.load32_splat(stepF + (<usize>j << 3), 4);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(r), v4)); a1 = f32x4.add(a1, f32x4.mul(v128.load(r, 16), v4));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(r, 32), v4)); a3 = f32x4.add(a3, f32x4.mul(v128.load(r, 48), v4));
        a4 = f32x4.add(a4, f32x4.mul(v128.load(r, 64), v4)); a5 = f32x4.add(a5, f32x4.mul(v128.load(r, 80), v4));
        a6 = f32x4.add(a6, f32x4.mul(v128.load(r, 96), v4)); a7 = f32x4.add(a7, f32x4.mul(v128.load(r, 112), v4));
        if (f16) {
          a0 = roundF16x4k(a0, k1, kh, km); a1 = roundF16x4k(a1, k1, kh, km); a2 = roundF16x4k(a2, k1, kh, km); a3 = roundF16x4k(a3, k1, kh, km);
          a4 = roundF16x4k(a4, k1, kh, km); a5 = roundF16x4k(a5, k1, kh, km); a6 = roundF16x4k(a6, k1, kh, km); a7 = roundF16x4k(a7, k1, kh, km);
        }
        r += vbStep;
      }
      v128.store(p, a0); v128.store(p, a1, 16); v128.store(p, a2, 32); v128.store(p, a3, 48);
      v128.store(p, a4, 64); v128.store(p, a5, 80); v128.store(p, a6, 96); v128.store(p, a7, 112);
    }
  }
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
  // onlineBlock's: the block's V rows as f32 (f16 caches), and one head's (ms, vs) per position.
  const vblk = scg + (<usize>(group * SCORE_BLOCK) << 2);
  const stepF = vblk + (<usize>(SCORE_BLOCK * headDimV) << 2);
  // scoreBlock's: the block's K rows as f32 (f16 caches).
  const kblk = stepF + (<usize>(2 * SCORE_BLOCK) << 2);
  let sink: u64 = 0;
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
          // The block's first K and V rows of this KV head.
          const kb = k + ((<usize>(jb * kStride + kvh * headDim)) << eb), vb = v + ((<usize>(jb * vStride + kvh * headDimV)) << eb);
          sink = touchRows(sink, kb, <usize>kStride << eb, je - jb, <usize>headDim << eb);
          sink = touchRows(sink, vb, <usize>vStride << eb, je - jb, <usize>headDimV << eb);
          if (ASC_FEATURE_SIMD && headDim % 4 == 0) scoreBlock(kb, <usize>kStride << eb, je - jb, f16 != 0, n, qg, headDim, scale, scg, kblk);
          else for (let j = jb; j < je; j++) {
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
          if (ASC_FEATURE_SIMD && headDimV % 32 == 0) {
            onlineBlock(vb, <usize>vStride << eb, je - jb, f16 != 0, n, scg, Mg, Sg, accg, headDimV, vblk, stepF);
            continue;
          }
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
  // The touched bytes go to scratch (M's slot, rewritten before any later read), so the loads stay.
  store<u64>(Mg, sink);
}

/**
 * sink | one load per 64 bytes of each of n rows (`bytes` long, `stride` apart) from p: a block's
 * K or V rows of one KV head, 128-byte runs 256 bytes apart on the 0.5B shape, asked for all at
 * once before the block is read. Read where they are used, the rows came a few at a time (each
 * row's widening is ~80 instructions, so the window held ~5 rows' misses): at depth 2048 the
 * cache's 24 MB a token is read from memory, which left decode attention 1.5x its in-cache time.
 */
@inline function touchRows(sink: u64, p: usize, stride: usize, n: i32, bytes: usize): u64 {
  for (let j = 0; j < n; j++) {
    const r = p + <usize>j * stride;
    for (let o: usize = 0; o < bytes; o += 64) sink |= load<u64>(r + o);
  }
  return sink;
}
