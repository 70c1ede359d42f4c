// Q8_0 in the four-row layout (rows4.ts) with each payload byte stored as w + 128 (w ^ 0x80, 0..255)
// and products that take one integer dot per 16 weight bytes and token instead of rows4.ts's two.
//
// Why: the relaxed dot i32x4.relaxed_dot_i8x16_i7x16_add_s is only specified for a second operand
// of 0..127, so rows4.ts's relaxed Q8_0 kernel splits every activation into two 0..127 halves and
// pays two dots per weight vector. Where the engine lowers the dot to x86's VNNI vpdpbusd (V8 on
// CPUs with AVX-VNNI or AVX512-VNNI), the second operand is read as an unsigned byte, exactly, so
// biased weights (0..255) against the signed activations give sum((w + 128) a) = sum(w a) + 128 sum(a)
// and the block's activation sum takes the bias off, in integers: the same isum, so the same f32
// order and bits as every other build (ggml's order: sum += f32(isum) * f32(dw * da)). Engines that
// lower it otherwise (ARM's sdot reads the byte signed, x86 without VNNI saturates pairs in
// pmaddubsw) would be wrong, so the backend runs a probe of extreme bytes through this path at start
// (src/kernels/wasm/index.ts probeQ8Unsigned, WasmKernels.q8Unsigned) and re-lays Q8_0 this way only where the probe's sums are
// exact; elsewhere rows4.ts's split kernel runs. Only the grouped rows are biased (rows4_bias_q8);
// the last rows % 4 stay in row layout, as ggml stored them.
//
// Written, as rows4.ts, for what V8 emits: literal load offsets, hand-unrolled chunks, constants
// made once outside the loops, and each pair of chunks' dots chained from a fresh zero and added into
// the token's sum (a dot chained through all eight chunks waits on the dot's latency eight
// times a block; a one-cycle add does not).

import { storeRows, scales4, tokenBlock, rows4Scalar, scalesKeep, scalesRebias } from './rows4';
import { GGML_TYPE_Q8_0 } from './types.generated';
import { threadScratch } from './scratch';
import { band2, bandFits, bandFirst, bandCount, BAND_Q8U, BAND_SLICE } from './rows4-band';

/** Set in matmul's type argument, with ROWS4_FLAG (0x10000), for a Q8_0 matrix whose grouped payloads are biased (rows4_bias_q8); not gemm.ts GEMM_FLAG (0x20000). */
export const ROWS4_U8_FLAG: i32 = 0x40000;

/** Bytes of a group's block: four f16 scales, then 8 chunks of 16 bytes. */
const STEP: usize = 136;

/**
 * Bias the payload bytes of a Q8_0 matrix's grouped rows (the first rows & ~3, already re-laid by
 * rows4_pack) in place: w ^ 0x80 = w + 128 as an unsigned byte. The scales are left alone.
 */
export function rows4_bias_q8(w: usize, rowBytes: i32, rows: i32): void {
  const n = <usize>(rows >> 2) * (<usize>rowBytes << 2) / STEP;
  for (let i: usize = 0; i < n; i++) {
    const p = w + i * STEP + 8;
    if (ASC_FEATURE_SIMD) {
      const f = i8x16.splat(-128);
      v128.store(p, v128.xor(v128.load(p), f)); v128.store(p, v128.xor(v128.load(p, 16), f), 16);
      v128.store(p, v128.xor(v128.load(p, 32), f), 32); v128.store(p, v128.xor(v128.load(p, 48), f), 48);
      v128.store(p, v128.xor(v128.load(p, 64), f), 64); v128.store(p, v128.xor(v128.load(p, 80), f), 80);
      v128.store(p, v128.xor(v128.load(p, 96), f), 96); v128.store(p, v128.xor(v128.load(p, 112), f), 112);
    } else {
      for (let j: usize = 0; j < 128; j++) store<u8>(p + j, load<u8>(p + j) ^ 0x80);
    }
  }
}

/** s + f32(isum - 128 * sum(a)) * (dw * da) for one token's block: the bias taken off in integers. */
@inline function blockEnd(s: v128, acc: v128, dw: v128, ad: usize, asum: usize): v128 {
  const isum = i32x4.sub(acc, i32x4.shl(v128.load32_splat(asum), 7));
  return f32x4.add(s, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(dw, v128.load32_splat(ad))));
}

/**
 * One group (at g) against nt (1..4, a constant) tokens (token t's activations at x + t * xStep,
 * scales and sums at ad/asum + t * aStep): each weight load feeds every token. Rows lo..hi of each
 * token stored at y + t * yStep.
 */
@inline function q8uTile(nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  const zero = i32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const x1 = x + xStep, x2 = x1 + xStep, x3 = x2 + xStep;
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    { const v = v128.load(g, 8), u = v128.load(g, 24);
      a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 4), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 0), v, zero));
      if (nt > 1) a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 4), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 0), v, zero));
      if (nt > 2) a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 4), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 0), v, zero));
      if (nt > 3) a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 4), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 0), v, zero));
    }
    { const v = v128.load(g, 40), u = v128.load(g, 56);
      a0 = i32x4.add(a0, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 12), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 8), v, zero)));
      if (nt > 1) a1 = i32x4.add(a1, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 12), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 8), v, zero)));
      if (nt > 2) a2 = i32x4.add(a2, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 12), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 8), v, zero)));
      if (nt > 3) a3 = i32x4.add(a3, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 12), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 8), v, zero)));
    }
    { const v = v128.load(g, 72), u = v128.load(g, 88);
      a0 = i32x4.add(a0, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 20), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 16), v, zero)));
      if (nt > 1) a1 = i32x4.add(a1, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 20), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 16), v, zero)));
      if (nt > 2) a2 = i32x4.add(a2, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 20), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 16), v, zero)));
      if (nt > 3) a3 = i32x4.add(a3, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 20), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 16), v, zero)));
    }
    { const v = v128.load(g, 104), u = v128.load(g, 120);
      a0 = i32x4.add(a0, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 28), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 24), v, zero)));
      if (nt > 1) a1 = i32x4.add(a1, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 28), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1, 24), v, zero)));
      if (nt > 2) a2 = i32x4.add(a2, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 28), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2, 24), v, zero)));
      if (nt > 3) a3 = i32x4.add(a3, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 28), u, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3, 24), v, zero)));
    }
    const dw = scales4(g, keep, rebias);
    s0 = blockEnd(s0, a0, dw, ad, asum);
    if (nt > 1) s1 = blockEnd(s1, a1, dw, ad + aStep, asum + aStep);
    if (nt > 2) s2 = blockEnd(s2, a2, dw, ad + 2 * aStep, asum + 2 * aStep);
    if (nt > 3) s3 = blockEnd(s3, a3, dw, ad + 3 * aStep, asum + 3 * aStep);
    g += STEP; x += 32; ad += 4; asum += 4;
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}
function q8uTile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8uTile(1, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, keep, rebias);
}
function q8uTile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8uTile(2, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, keep, rebias);
}
function q8uTile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8uTile(3, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, keep, rebias);
}
function q8uTile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8uTile(4, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, keep, rebias);
}

// ------------------------------------------------------------------ many tokens: bands

// Bands from rows4-band.ts's BAND_MIN_TOKENS (bandFits), in its slices of BAND_SLICE blocks (four
// groups' 40 blocks, 21 KiB, stay in L1 while every token passes). Measured (Zen 5 VM, 1 thread):
// bench/kernels/ab-tile.mjs --type q8u, band / tile in cache, 16 tokens 1.21-1.36x, 128 tokens
// 1.29-1.35x; whole 0.5B Q8_0 (ab-step.mjs, 5 rounds) pp16 152 -> 134 ms, pp128 959 -> 721 ms,
// 2 threads 658 -> 521 ms.

/**
 * Groups ga..ga + 4 * nBands (whole bands of four) for nTok tokens: per band and slice of
 * BAND_SLICE blocks, the four groups' f32 scales into the thread's scratch once, then the tokens
 * two at a time over the payloads in place.
 * The same sums in the same order as q8uTile, so the same bits.
 */
function q8uBands(w: usize, rowBytes: usize, cols: i32, rows: i32, ga: i32, nBands: i32, x: usize, ad: usize, asum: usize, y: usize, nTok: i32, keep: v128, rebias: v128): void {
  const nb = cols >> 5, xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2, gStride = rowBytes << 2;
  for (let i = 0; i < nBands; i++) {
    const g = ga + (i << 2), yg = y + (<usize>g << 4);
    for (let k0 = 0; k0 < nb; k0 += BAND_SLICE) {
      const kn = min(BAND_SLICE, nb - k0), ku = <usize>k0, gk = w + <usize>g * gStride + ku * STEP;
      let d = threadScratch;
      for (let b = 0; b < kn; b++) {
        const p = gk + <usize>b * STEP;
        v128.store(d, scales4(p, keep, rebias)); v128.store(d, scales4(p + gStride, keep, rebias), 16);
        v128.store(d, scales4(p + 2 * gStride, keep, rebias), 32); v128.store(d, scales4(p + 3 * gStride, keep, rebias), 48);
        d += 64;
      }
      const xk = x + (ku << 5), adk = ad + (ku << 2), ask = asum + (ku << 2);
      // Tokens two at a time over the groups' bytes in place (rows4-band.ts band2); an odd last one as a pair of itself.
      for (let t = 0; t < nTok; t += 2) {
        const tu = <usize>t, two = t + 1 < nTok;
        band2(BAND_Q8U, kn, gk + 8, gStride, STEP, threadScratch, 64, xk + tu * xStep, two ? xStep : 0, adk + tu * aStep, ask + tu * aStep, two ? aStep : 0, yg + tu * yStep, two ? yStep : 0, k0 == 0);
      }
    }
  }
}

/**
 * Grouped rows r0..r1 for nTok tokens, group by group, tokens four at a time while the group is in
 * L1; one token reads the groups in order, one weight stream. (Eight streams an eighth of the range
 * apart, four blocks at a time in turn, had been a Xeon VM's choice; on the Zen 5 VM one stream is
 * as fast or faster: whole 0.5B Q8_0 step, interleaved A/B (bench/kernels/ab-step.mjs, 15 rounds),
 * 1 thread 29.5 -> 24.8 ms CPU, 2 threads 21.2 -> 21.0 ms wall.) Two far groups in one pass for 2-4
 * tokens were slower on Zen 5 too: 0.5B Q8_0, 4 tokens, 1 thread, interleaved A/B: 47.6 -> 43.4 ms
 * CPU, 2 threads 30.1 -> 26.5 ms wall.
 */
function q8uRows(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, x: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2, gStep = rowBytes << 2;
  // Made from a run-time value so that V8 keeps them in registers instead of rebuilding them per use.
  const one = <i32>(nb >= 0);
  const keep = scalesKeep(one), rebias = scalesRebias(one);
  // Many tokens: whole bands of four groups, two tokens at a time (q8uBands).
  let bandLo = 0, bandHi = 0;
  if (bandFits(nTok)) {
    bandLo = bandFirst(r0);
    const nBands = bandCount(r0, r1);
    bandHi = bandLo + (nBands << 2);
    q8uBands(w, rowBytes, cols, rows, bandLo, nBands, x, ad, asum, y, nTok, keep, rebias);
  }
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    if (g >= bandLo && g < bandHi) continue;
    const gw = w + <usize>g * gStep, yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) q8uTile4(gw, nb, x + <usize>t * xStep, xStep, ad + <usize>t * aStep, asum + <usize>t * aStep, aStep, yg + <usize>t * yStep, yStep, lo, hi, keep, rebias);
    const left = nTok - t, xt = x + <usize>t * xStep, adt = ad + <usize>t * aStep, ast = asum + <usize>t * aStep, yt = yg + <usize>t * yStep;
    if (left == 1) q8uTile1(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, keep, rebias);
    else if (left == 2) q8uTile2(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, keep, rebias);
    else if (left == 3) q8uTile3(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, keep, rebias);
  }
}

/**
 * Rows r0..r1 of a Q8_0 matrix re-laid by rows4_pack and biased by rows4_bias_q8, for nTok tokens
 * (raw int8 activations at act, f32 scales at ad, integer block sums at asum, as quantize_q8 writes
 * them). Returns 1 where the build has no relaxed SIMD (the backend never biases there).
 */
export function rows4q8u_matmul(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 1;
  const g1 = min(r1, rows & ~3);
  if (r0 < g1) {
    // Token passes (rows4.ts tokenBlock): activations, scales, sums and outputs move by their strides.
    const xStep = <usize>cols, aStep = <usize>(cols >> 5) << 2, tb = tokenBlock(cols);
    for (let t0 = 0; t0 < nTok; t0 += tb) {
      const n = min(tb, nTok - t0), tu = <usize>t0;
      q8uRows(w, rowBytes, cols, rows, r0, g1, act + tu * xStep, ad + tu * aStep, asum + tu * aStep, y + ((tu * <usize>rows) << 2), n);
    }
  }
  if (max(r0, g1) < r1) rows4Scalar(GGML_TYPE_Q8_0, w, rowBytes, cols, rows, max(r0, g1), r1, act, ad, asum, y, nTok, true);
  return 0;
}
