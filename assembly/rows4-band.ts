// Prefill of the four-row Q4_0 and Q4_1 layout (rows4.ts) over many tokens, relaxed SIMD: a band of
// four row groups (16 rows) is unpacked once into this thread's scratch as int8 nibbles and f32
// scales, then every token of the pass runs over the band with plain loads at constant offsets.
//
// Why: the four-token tile (rows4.ts q4Tile) splits each 16-byte weight load into nibbles once per
// four tokens and splats every activation quadruple for four dots: 189 instructions per 512
// multiply-adds on V8 (40 splats and their address arithmetic, 12 to split the nibbles, 11 spills),
// about half of one core's dot unit. Here the split is paid once per band for all the tokens of the
// pass, and each activation splat feeds four row groups: ~105 instructions per 512 multiply-adds.
//
// Same sums as the tiles, so the same bits: per (row, token) and block the integer dot of the
// nibbles (exact in any order) less Q4_0's 8 * sum(a), then in block order
// s = s + f32(isum) * (dw * da) (Q4_1: s + (f32(isum) * (dw * da) + m * (d * sum)_a)).
//
// Scratch layout, per block b of the band: [group 0..3: 128 bytes, chunk c = 32 bytes (low nibbles
// of the 4-byte chunk c of rows 0..3, then its high nibbles)][4 x f32x4 dw][Q4_1: 4 x f32x4 m].
// The scratch is this thread's (scratch.ts): BAND_SCRATCH bytes, which thread_scratch_bytes covers.

import { scales4 } from './rows4';
import { threadScratch, threadScratchBytes } from './scratch';

/**
 * Tokens from which a band pays for its unpacking (below, the four-token tiles run). Measured
 * (bench/kernels/ab-tile.mjs, Zen 5 VM, 1 thread, band / tile): quiet machine 16 tokens 0.84-0.92x,
 * 128 tokens 1.00-1.05x; busy phases (another tenant on the core) 32 tokens 1.12-1.18x, 64
 * 1.19-1.21x, 128 1.10-2.0x. Whole 0.5B Q4_0 prefill (ab-step.mjs, 5 rounds, quiet): pp128 1
 * thread 1008 -> 949 ms, 2 threads 603 -> 562 ms, pp512 2 threads 2436 -> 2298 ms.
 */
export const BAND_MIN_TOKENS: i32 = 32;

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
      v128.store(o, v128.and(w, m)); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 16);
      w = v128.load(p + pre, 24);
      v128.store(o, v128.and(w, m), 32); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 48);
      w = v128.load(p + pre, 40);
      v128.store(o, v128.and(w, m), 64); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 80);
      w = v128.load(p + pre, 56);
      v128.store(o, v128.and(w, m), 96); v128.store(o, v128.and(i16x8.shr_u(w, 4), m), 112);
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
    let l0 = dot(a, v128.load(s), i32x4.splat(0)), h0 = dot(c, v128.load(s, 16), i32x4.splat(0));
    let l1 = dot(a, v128.load(s, 128), i32x4.splat(0)), h1 = dot(c, v128.load(s, 144), i32x4.splat(0));
    let l2 = dot(a, v128.load(s, 256), i32x4.splat(0)), h2 = dot(c, v128.load(s, 272), i32x4.splat(0));
    let l3 = dot(a, v128.load(s, 384), i32x4.splat(0)), h3 = dot(c, v128.load(s, 400), i32x4.splat(0));
    a = v128.load32_splat(x, 4); c = v128.load32_splat(x, 20);
    l0 = dot(a, v128.load(s, 32), l0); h0 = dot(c, v128.load(s, 48), h0);
    l1 = dot(a, v128.load(s, 160), l1); h1 = dot(c, v128.load(s, 176), h1);
    l2 = dot(a, v128.load(s, 288), l2); h2 = dot(c, v128.load(s, 304), h2);
    l3 = dot(a, v128.load(s, 416), l3); h3 = dot(c, v128.load(s, 432), h3);
    a = v128.load32_splat(x, 8); c = v128.load32_splat(x, 24);
    l0 = dot(a, v128.load(s, 64), l0); h0 = dot(c, v128.load(s, 80), h0);
    l1 = dot(a, v128.load(s, 192), l1); h1 = dot(c, v128.load(s, 208), h1);
    l2 = dot(a, v128.load(s, 320), l2); h2 = dot(c, v128.load(s, 336), h2);
    l3 = dot(a, v128.load(s, 448), l3); h3 = dot(c, v128.load(s, 464), h3);
    a = v128.load32_splat(x, 12); c = v128.load32_splat(x, 28);
    l0 = dot(a, v128.load(s, 96), l0); h0 = dot(c, v128.load(s, 112), h0);
    l1 = dot(a, v128.load(s, 224), l1); h1 = dot(c, v128.load(s, 240), h1);
    l2 = dot(a, v128.load(s, 352), l2); h2 = dot(c, v128.load(s, 368), h2);
    l3 = dot(a, v128.load(s, 480), l3); h3 = dot(c, v128.load(s, 496), h3);
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
      for (let t = 0; t < nTok; t++) {
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
