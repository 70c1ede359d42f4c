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
// So two tokens share each weight load (bandToken2): per 16-byte chunk four weight loads and two
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
 * instead of two (bandToken alone): 4 tokens 0.60-0.74x, 16 tokens 0.84-0.92x, 128 1.00-1.05x.
 */
export const BAND_MIN_TOKENS: i32 = 12;

/**
 * Blocks of a band unpacked at a time (the columns in slices): 40 blocks are 23 KiB (Q4_0) or 25
 * KiB (Q4_1), so the slice stays in L1 beside a token's activations while every token passes.
 */
const BAND_SLICE: i32 = 40;

/** Scratch one thread needs for the band path. */
export const BAND_SCRATCH: i32 = BAND_SLICE * 640;

/** Bytes of one block of a band: four groups' nibbles as bytes, their scales (and Q4_1's minimums). */
@inline function bandBlock(q41: bool): usize {
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
      const o = d + (<usize>q << 7);
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

/** One token over the unpacked band: the 16 rows' sums stored at y (group q's four rows at y + 16q). */
@inline function bandToken(q41: bool, nb: i32, x: usize, ad: usize, asum: usize, y: usize, first: bool): void {
  const blk = bandBlock(q41);
  let s = threadScratch;
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  // A later slice of the columns goes on from the sums so far: the same additions in the same order.
  if (!first) { s0 = v128.load(y); s1 = v128.load(y, 16); s2 = v128.load(y, 32); s3 = v128.load(y, 48); }
  for (let b = 0; b < nb; b++) {
    // Low and high nibbles in separate chains per group: eight chains hide the dot's latency.
    let a = v128.load32_splat(x), c = v128.load32_splat(x, 16);
    let l0 = dot(a, v128.load(s), i32x4.splat(0)), h0 = dot(c, v128.load(s, 64), i32x4.splat(0));
    let l1 = dot(a, v128.load(s, 128), i32x4.splat(0)), h1 = dot(c, v128.load(s, 192), i32x4.splat(0));
    let l2 = dot(a, v128.load(s, 256), i32x4.splat(0)), h2 = dot(c, v128.load(s, 320), i32x4.splat(0));
    let l3 = dot(a, v128.load(s, 384), i32x4.splat(0)), h3 = dot(c, v128.load(s, 448), i32x4.splat(0));
    a = v128.load32_splat(x, 4); c = v128.load32_splat(x, 20);
    l0 = dot(a, v128.load(s, 16), l0); h0 = dot(c, v128.load(s, 80), h0);
    l1 = dot(a, v128.load(s, 144), l1); h1 = dot(c, v128.load(s, 208), h1);
    l2 = dot(a, v128.load(s, 272), l2); h2 = dot(c, v128.load(s, 336), h2);
    l3 = dot(a, v128.load(s, 400), l3); h3 = dot(c, v128.load(s, 464), h3);
    a = v128.load32_splat(x, 8); c = v128.load32_splat(x, 24);
    l0 = dot(a, v128.load(s, 32), l0); h0 = dot(c, v128.load(s, 96), h0);
    l1 = dot(a, v128.load(s, 160), l1); h1 = dot(c, v128.load(s, 224), h1);
    l2 = dot(a, v128.load(s, 288), l2); h2 = dot(c, v128.load(s, 352), h2);
    l3 = dot(a, v128.load(s, 416), l3); h3 = dot(c, v128.load(s, 480), h3);
    a = v128.load32_splat(x, 12); c = v128.load32_splat(x, 28);
    l0 = dot(a, v128.load(s, 48), l0); h0 = dot(c, v128.load(s, 112), h0);
    l1 = dot(a, v128.load(s, 176), l1); h1 = dot(c, v128.load(s, 240), h1);
    l2 = dot(a, v128.load(s, 304), l2); h2 = dot(c, v128.load(s, 368), h2);
    l3 = dot(a, v128.load(s, 432), l3); h3 = dot(c, v128.load(s, 496), h3);
    const da = v128.load32_splat(ad);
    if (q41) {
      const sa = v128.load32_splat(asum);
      s0 = f32x4.add(s0, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(l0, h0)), f32x4.mul(v128.load(s, 512), da)), f32x4.mul(v128.load(s, 576), sa)));
      s1 = f32x4.add(s1, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(l1, h1)), f32x4.mul(v128.load(s, 528), da)), f32x4.mul(v128.load(s, 592), sa)));
      s2 = f32x4.add(s2, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(l2, h2)), f32x4.mul(v128.load(s, 544), da)), f32x4.mul(v128.load(s, 608), sa)));
      s3 = f32x4.add(s3, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(l3, h3)), f32x4.mul(v128.load(s, 560), da)), f32x4.mul(v128.load(s, 624), sa)));
    } else {
      const off = i32x4.shl(v128.load32_splat(asum), 3);
      s0 = f32x4.add(s0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.add(l0, h0), off)), f32x4.mul(v128.load(s, 512), da)));
      s1 = f32x4.add(s1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.add(l1, h1), off)), f32x4.mul(v128.load(s, 528), da)));
      s2 = f32x4.add(s2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.add(l2, h2), off)), f32x4.mul(v128.load(s, 544), da)));
      s3 = f32x4.add(s3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(i32x4.add(l3, h3), off)), f32x4.mul(v128.load(s, 560), da)));
    }
    s += blk; x += 32; ad += 4; asum += 4;
  }
  v128.store(y, s0); v128.store(y, s1, 16); v128.store(y, s2, 32); v128.store(y, s3, 48);
}

/**
 * Two tokens (x and x + xStep) over the unpacked band, a loop over the eight 16-byte chunks of a
 * block: per pass four weight loads and two splats feed eight dots (one chain per group and
 * token), so a weight load serves both tokens. A loop, not unrolled: V8 schedules pure operations
 * next to their last use, so an unrolled block keeps every load of the block live and spills.
 */
@inline function bandToken2(q41: bool, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, first: bool): void {
  const blk = bandBlock(q41), y1 = y + yStep;
  let s = threadScratch;
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  if (!first) {
    s0 = v128.load(y); s1 = v128.load(y, 16); s2 = v128.load(y, 32); s3 = v128.load(y, 48);
    t0 = v128.load(y1); t1 = v128.load(y1, 16); t2 = v128.load(y1, 32); t3 = v128.load(y1, 48);
  }
  for (let b = 0; b < nb; b++) {
    const z = i32x4.splat(0);
    let p0 = z, p1 = z, p2 = z, p3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
    let sk = s, xk = x;
    for (let k = 0; k < 8; k++) {
      const a = v128.load32_splat(xk), e = v128.load32_splat(xk + xStep);
      const w0 = v128.load(sk), w1 = v128.load(sk, 128), w2 = v128.load(sk, 256), w3 = v128.load(sk, 384);
      p0 = dot(a, w0, p0); q0 = dot(e, w0, q0); p1 = dot(a, w1, p1); q1 = dot(e, w1, q1);
      p2 = dot(a, w2, p2); q2 = dot(e, w2, q2); p3 = dot(a, w3, p3); q3 = dot(e, w3, q3);
      sk += 16; xk += 4;
    }
    const da = v128.load32_splat(ad), ea = v128.load32_splat(ad + aStep);
    if (q41) {
      const sa = v128.load32_splat(asum), sb = v128.load32_splat(asum + aStep);
      s0 = f32x4.add(s0, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p0), f32x4.mul(v128.load(s, 512), da)), f32x4.mul(v128.load(s, 576), sa)));
      t0 = f32x4.add(t0, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q0), f32x4.mul(v128.load(s, 512), ea)), f32x4.mul(v128.load(s, 576), sb)));
      s1 = f32x4.add(s1, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p1), f32x4.mul(v128.load(s, 528), da)), f32x4.mul(v128.load(s, 592), sa)));
      t1 = f32x4.add(t1, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q1), f32x4.mul(v128.load(s, 528), ea)), f32x4.mul(v128.load(s, 592), sb)));
      s2 = f32x4.add(s2, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p2), f32x4.mul(v128.load(s, 544), da)), f32x4.mul(v128.load(s, 608), sa)));
      t2 = f32x4.add(t2, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q2), f32x4.mul(v128.load(s, 544), ea)), f32x4.mul(v128.load(s, 608), sb)));
      s3 = f32x4.add(s3, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(p3), f32x4.mul(v128.load(s, 560), da)), f32x4.mul(v128.load(s, 624), sa)));
      t3 = f32x4.add(t3, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q3), f32x4.mul(v128.load(s, 560), ea)), f32x4.mul(v128.load(s, 624), sb)));
    } else {
      const off = i32x4.shl(v128.load32_splat(asum), 3), offB = i32x4.shl(v128.load32_splat(asum + aStep), 3);
      s0 = f32x4.add(s0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p0, off)), f32x4.mul(v128.load(s, 512), da)));
      t0 = f32x4.add(t0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q0, offB)), f32x4.mul(v128.load(s, 512), ea)));
      s1 = f32x4.add(s1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p1, off)), f32x4.mul(v128.load(s, 528), da)));
      t1 = f32x4.add(t1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q1, offB)), f32x4.mul(v128.load(s, 528), ea)));
      s2 = f32x4.add(s2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p2, off)), f32x4.mul(v128.load(s, 544), da)));
      t2 = f32x4.add(t2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q2, offB)), f32x4.mul(v128.load(s, 544), ea)));
      s3 = f32x4.add(s3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p3, off)), f32x4.mul(v128.load(s, 560), da)));
      t3 = f32x4.add(t3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q3, offB)), f32x4.mul(v128.load(s, 560), ea)));
    }
    s += blk; x += 32; ad += 4; asum += 4;
  }
  v128.store(y, s0); v128.store(y, s1, 16); v128.store(y, s2, 32); v128.store(y, s3, 48);
  v128.store(y1, t0); v128.store(y1, t1, 16); v128.store(y1, t2, 32); v128.store(y1, t3, 48);
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
      let t = 0;
      for (; t + 2 <= nTok; t += 2) {
        const tu = <usize>t;
        bandToken2(q41, kn, xk + tu * xStep, xStep, adk + tu * aStep, ask + tu * aStep, aStep, yg + tu * yStep, yStep, k0 == 0);
      }
      if (t < nTok) {
        const tu = <usize>t;
        bandToken(q41, kn, xk + tu * xStep, adk + tu * aStep, ask + tu * aStep, yg + tu * yStep, k0 == 0);
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
