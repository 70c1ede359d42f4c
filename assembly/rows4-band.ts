// Prefill of the four-row Q4_0 and Q4_1 layout (rows4.ts) over many tokens, relaxed SIMD: a band of
// four row groups (16 rows) is unpacked once into this thread's scratch as int8 nibbles and f32
// scales, then the tokens of the pass run over the band two at a time.
//
// Why: the four-token tile (rows4.ts q4Tile) splits each 16-byte weight load into nibbles once per
// four tokens and splats every activation quadruple for each dot: 189 instructions per 512
// multiply-adds on V8 (40 splats and their address arithmetic, 12 to split the nibbles, 11 spills),
// about half of one core's dot unit. Measured on the way (ab-tile.mjs, in cache): one token at a
// time over the band (each splat feeding four groups, a fresh weight load per dot) ran no faster
// (~52 GMAC/s); without its weight loads it ran 1.4x, without its f32 step 1.15x: loads bound it.
// So two tokens share each weight load (band2): per 16-byte chunk four weight loads and two
// splats feed eight dots, written as a loop over the chunks, since V8 places pure operations next
// to their last use and an unrolled block kept all its loads live (spilled, 0.85x); V8 unrolls the
// loop itself with nothing spilled. Three tokens (twelve chains) spilled again: 0.6x.
//
// Same sums as the tiles, so the same bits: per (row, token) and block the integer dot of the
// nibbles (exact in any order) less Q4_0's 8 * sum(a), then in block order
// s = s + f32(isum) * (dw * da) (Q4_1: s + (f32(isum) * (dw * da) + m * (d * sum)_a)).
//
// Scratch layout, per block b of the band: [group 0..3: 128 bytes, 16 per 4-byte chunk c of rows
// 0..3: low nibbles of chunks 0..3, then their high nibbles (so 16 bytes at 16k pair with activations 4k..4k + 3)][4 x f32x4 dw][Q4_1: 4 x f32x4 m].
// The scratch is this thread's (scratch.ts): BAND_SCRATCH bytes, which thread_scratch_bytes covers.

import { scales4 } from './rows4';
import { threadScratch, threadScratchBytes } from './scratch';

/**
 * Tokens from which a band pays for its unpacking (below, the four-token tiles run). Measured
 * (bench/kernels/ab-tile.mjs, Zen 5 VM, 1 thread, in cache, band / tile): 8 tokens 0.98-1.17x, 12
 * tokens 1.07-1.25x, 16 tokens 1.18-1.25x, 32 tokens 1.31x (70-73 GMAC/s); one token at a time
 * instead of two (the first band): 4 tokens 0.60-0.74x, 16 tokens 0.84-0.92x, 128 1.00-1.05x.
 * In cache the band now wins from 4 tokens (ab-wasm.mjs Q4_0 4864x896, paired time band / tile: 4
 * tokens 0.91, 6 and 8 0.80; Q5_0 from 2 tokens, 0.67-0.89), but a model's weights come from memory,
 * and there the unpacking (a memory-bound pass, its loads not overlapped with any dots) costs more
 * than the tiles' dots save: `--copies 40` 4 tokens 1.60, 8 tokens 1.22 (Q5_0, 2 tokens 1.58), and
 * the whole 0.5B step (ab-step.mjs, 7 rounds) Q4_0 pp4 44.8 -> 50.8 ms, Q4_K_M pp2 31.0 -> 42.9 ms
 * (bench/results/2026-12-05-epyc-2c-batch4.md). So 12 stays.
 */
export const BAND_MIN_TOKENS: i32 = 12;

/**
 * Blocks of a band unpacked at a time (the columns in slices): 40 blocks are 23 KiB (Q4_0) or 25
 * KiB (Q4_1), so the slice stays in L1 beside a token's activations while every token passes.
 */
export const BAND_SLICE: i32 = 40;

/** Bytes between two groups' nibbles (or codes) in a block of the band's scratch. */
export const BAND_GROUP: usize = 128;

/** Scratch one thread needs for the band path. */
export const BAND_SCRATCH: i32 = BAND_SLICE * 640;

/** Bytes of one block of a band: four groups' nibbles (or Q5_0's codes) as bytes, their scales (and Q4_1's minimums). */
@inline export function bandBlock(q41: bool): usize {
  return q41 ? 640 : 576;
}

/** Whether the band path runs: relaxed SIMD, this thread's scratch set, enough tokens. */
@inline export function bandFits(nTok: i32): bool {
  return ASC_FEATURE_RELAXED_SIMD && nTok >= BAND_MIN_TOKENS && threadScratchBytes >= <usize>BAND_SCRATCH;
}

/** Unpack the four groups at g (gStride bytes apart, nb blocks each) into the scratch layout. */
@inline function bandUnpack(q41: bool, g: usize, gStride: usize, nb: i32, m: v128, keep: v128, rebias: v128): void {
  const step: usize = q41 ? 80 : 72, pre: usize = q41 ? 8 : 0, blk = bandBlock(q41);
  let d = threadScratch;
  for (let b = 0; b < nb; b++) {
    let p = g + <usize>b * step;
    for (let q = 0; q < 4; q++) {
      const o = d + <usize>q * BAND_GROUP;
      v128.store(d + 512 + (<usize>q << 4), scales4(p, keep, rebias));
      if (q41) v128.store(d + 576 + (<usize>q << 4), scales4(p + 8, keep, rebias));
      let w = v128.load(p + pre, 8);
      v128.store(o, v128.and(w, m)); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 64);
      w = v128.load(p + pre, 24);
      v128.store(o, v128.and(w, m), 16); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 80);
      w = v128.load(p + pre, 40);
      v128.store(o, v128.and(w, m), 32); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 96);
      w = v128.load(p + pre, 56);
      v128.store(o, v128.and(w, m), 48); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 112);
      p += gStride;
    }
    d += blk;
  }
}

@inline function dot(a: v128, w: v128, acc: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, w, acc);
}

/** band2's kinds: how a block's integer sums become f32 (rows4.ts's Q4_0 and Q4_1 sums, rows4-q8u.ts's biased Q8_0, rows4-k.ts's Q5_0). */
export const BAND_Q4_0: i32 = 0;
export const BAND_Q4_1: i32 = 1;
export const BAND_Q8U: i32 = 2;
export const BAND_Q5_0: i32 = 3;

/**
 * Four row groups against two tokens (activations x and x + xStep; xStep 0: one token, computed
 * twice), nb blocks of 32: a loop over a block's eight 16-byte chunks, four weight loads (group q's
 * chunk k at w + q * wq + 16k; the next block wb bytes on) and two splats feeding eight dots, one
 * chain per group and token, so a weight load serves both tokens. A loop, not unrolled: V8
 * schedules pure operations next to their last use, so an unrolled block keeps every load of the
 * block live and spills. The groups' f32 scales at sc + 16q (Q4_1's minimums at sc + 64 + 16q),
 * the next block's scb bytes on. Sums go on from y (and y + yStep) unless first; group q's four
 * rows at y + 16q. Same integer sums and f32 order as the tiles (rows4.ts blockEnd, rows4-q8u.ts
 * blockEnd), so the same bits.
 */
@inline export function band2(kind: i32, nb: i32, w: usize, wq: usize, wb: usize, sc: usize, scb: usize, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, first: bool): void {
  const y1 = y + yStep, shift: i32 = kind == BAND_Q8U ? 7 : kind == BAND_Q5_0 ? 4 : 3;
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  // A later slice of the columns goes on from the sums so far: the same additions in the same order.
  if (!first) {
    s0 = v128.load(y); s1 = v128.load(y, 16); s2 = v128.load(y, 32); s3 = v128.load(y, 48);
    t0 = v128.load(y1); t1 = v128.load(y1, 16); t2 = v128.load(y1, 32); t3 = v128.load(y1, 48);
  }
  for (let b = 0; b < nb; b++) {
    const z = i32x4.splat(0);
    let p0 = z, p1 = z, p2 = z, p3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
    let k0 = w, k1 = k0 + wq, k2 = k1 + wq, k3 = k2 + wq, xk = x;
    for (let k = 0; k < 8; k++) {
      const a = v128.load32_splat(xk), e = v128.load32_splat(xk + xStep);
      let v = v128.load(k0); p0 = dot(a, v, p0); q0 = dot(e, v, q0);
      v = v128.load(k1); p1 = dot(a, v, p1); q1 = dot(e, v, q1);
      v = v128.load(k2); p2 = dot(a, v, p2); q2 = dot(e, v, q2);
      v = v128.load(k3); p3 = dot(a, v, p3); q3 = dot(e, v, q3);
      k0 += 16; k1 += 16; k2 += 16; k3 += 16; xk += 4;
    }
    const da = v128.load32_splat(ad), ea = v128.load32_splat(ad + aStep);
    if (kind == BAND_Q4_1) {
      const sa = v128.load32_splat(asum), sb = v128.load32_splat(asum + aStep);
      s0 = f32x4.add(s0, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p0), f32x4.mul(v128.load(sc, 0), da)), f32x4.mul(v128.load(sc, 64), sa)));
      t0 = f32x4.add(t0, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q0), f32x4.mul(v128.load(sc, 0), ea)), f32x4.mul(v128.load(sc, 64), sb)));
      s1 = f32x4.add(s1, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p1), f32x4.mul(v128.load(sc, 16), da)), f32x4.mul(v128.load(sc, 80), sa)));
      t1 = f32x4.add(t1, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q1), f32x4.mul(v128.load(sc, 16), ea)), f32x4.mul(v128.load(sc, 80), sb)));
      s2 = f32x4.add(s2, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p2), f32x4.mul(v128.load(sc, 32), da)), f32x4.mul(v128.load(sc, 96), sa)));
      t2 = f32x4.add(t2, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q2), f32x4.mul(v128.load(sc, 32), ea)), f32x4.mul(v128.load(sc, 96), sb)));
      s3 = f32x4.add(s3, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p3), f32x4.mul(v128.load(sc, 48), da)), f32x4.mul(v128.load(sc, 112), sa)));
      t3 = f32x4.add(t3, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q3), f32x4.mul(v128.load(sc, 48), ea)), f32x4.mul(v128.load(sc, 112), sb)));
    } else {
      // Q4_0's -8, Q5_0's -16 and the biased Q8_0's +128 per weight, taken off through the activations' block sums.
      const off = i32x4.shl(v128.load32_splat(asum), shift), offB = i32x4.shl(v128.load32_splat(asum + aStep), shift);
      s0 = f32x4.add(s0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p0, off)), f32x4.mul(v128.load(sc, 0), da)));
      t0 = f32x4.add(t0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q0, offB)), f32x4.mul(v128.load(sc, 0), ea)));
      s1 = f32x4.add(s1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p1, off)), f32x4.mul(v128.load(sc, 16), da)));
      t1 = f32x4.add(t1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q1, offB)), f32x4.mul(v128.load(sc, 16), ea)));
      s2 = f32x4.add(s2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p2, off)), f32x4.mul(v128.load(sc, 32), da)));
      t2 = f32x4.add(t2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q2, offB)), f32x4.mul(v128.load(sc, 32), ea)));
      s3 = f32x4.add(s3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p3, off)), f32x4.mul(v128.load(sc, 48), da)));
      t3 = f32x4.add(t3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q3, offB)), f32x4.mul(v128.load(sc, 48), ea)));
    }
    w += wb; sc += scb; x += 32; ad += 4; asum += 4;
  }
  v128.store(y, s0); v128.store(y, s1, 16); v128.store(y, s2, 32); v128.store(y, s3, 48);
  v128.store(y1, t0); v128.store(y1, t1, 16); v128.store(y1, t2, 32); v128.store(y1, t3, 48);
}

/** How many whole bands of four groups lie inside rows r0..r1, from group bandFirst(r0) on. */
@inline export function bandFirst(r0: i32): i32 {
  return (r0 + 3) >> 2;
}
@inline export function bandCount(r0: i32, r1: i32): i32 {
  return ((r1 >> 2) - bandFirst(r0)) >> 2;
}

/**
 * Groups ga..ga + 4 * nBands (whole bands of four, rows all inside the product's range) for nTok
 * tokens: per band, unpack, then every token. Arguments as rows4.ts q4RowsT's (asum: Q4_0's
 * integer sums, Q4_1's d * sum).
 */
@inline function bands(q41: bool, w: usize, rowBytes: usize, cols: i32, rows: i32, ga: i32, nBands: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32, m: v128, keep: v128, rebias: v128): void {
  const nb = cols >> 5, xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2, gStride = rowBytes << 2;
  const step: usize = q41 ? 80 : 72;
  for (let i = 0; i < nBands; i++) {
    const g = ga + (i << 2), yg = y + (<usize>g << 4);
    for (let k0 = 0; k0 < nb; k0 += BAND_SLICE) {
      const kn = min(BAND_SLICE, nb - k0), ku = <usize>k0;
      bandUnpack(q41, w + <usize>g * gStride + ku * step, gStride, kn, m, keep, rebias);
      const xk = act + (ku << 5), adk = ad + (ku << 2), ask = asum + (ku << 2);
      const kind = q41 ? BAND_Q4_1 : BAND_Q4_0, blk = bandBlock(q41);
      for (let t = 0; t < nTok; t += 2) {
        const tu = <usize>t, two = t + 1 < nTok;
        band2(kind, kn, threadScratch, BAND_GROUP, blk, threadScratch + 512, blk, xk + tu * xStep, two ? xStep : 0, adk + tu * aStep, ask + tu * aStep, two ? aStep : 0, yg + tu * yStep, two ? yStep : 0, k0 == 0);
      }
    }
  }
}
export function q4Bands(w: usize, rowBytes: usize, cols: i32, rows: i32, ga: i32, nBands: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32, m: v128, keep: v128, rebias: v128): void {
  bands(false, w, rowBytes, cols, rows, ga, nBands, act, ad, asum, y, nTok, m, keep, rebias);
}
export function q41Bands(w: usize, rowBytes: usize, cols: i32, rows: i32, ga: i32, nBands: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32, m: v128, keep: v128, rebias: v128): void {
  bands(true, w, rowBytes, cols, rows, ga, nBands, act, ad, asum, y, nTok, m, keep, rebias);
}
