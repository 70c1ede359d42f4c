// The four-row decode layout of 32-element block formats (Q4_0, Q4_1, Q8_0), built once at load,
// in place, and the matrix products over it (F16 rows take the same layout: rows4-f16.ts). Not the row layout: matmul.ts keeps that for matrices
// that were never re-laid and for the last rows % 4 of every matrix, which stay as they were.
//
// Layout (src/kernels/ref/rows4.ts is its TypeScript twin): rows in groups of four; a group keeps
// the bytes its four rows had, now block by block along K. Per block of the group:
//   [4 x f16 scale, rows 0..3][payload in 4-byte chunks: chunk c = row 0's bytes 4c..4c+3 | row 1 | row 2 | row 3]
// Q4_1 blocks open with two f16 (scale d, minimum m): [4 x d][4 x m][chunks], 80 bytes.
// So one 16-byte load holds 4 bytes of each of 4 rows: a lane is a row, one splat of 4 activations
// feeds all four rows, the four scales convert in one vector op, and four outputs are one store.
//
// Integer dot products per build: relaxed SIMD i32x4.relaxed_dot_i8x16_i7x16_add_s in its
// deterministic form (second operand 0..127 on every engine): Q4_0 nibbles 0..15 unsigned with the
// -8 taken off through the block's activation sum (Q4_1: the minimum's m * d_a * sum(q_a) added per
// block from the Q8_1 activation's d * sum, as ggml does); Q8_0 activations split as a = p - n with
// p = max(a, 0), n = max(-a, 0) (|a| <= 127) once per product (rows4_split_q8: the relaxed build's
// Q8_0 `act` argument is that split), the signed weights in the first operand. SIMD128:
// i32x4.dot_i16x8_s on weights widened to i16 against the 4 activations splat as i16.
// Every build gives the same integer sum per row and block, and every (row, token) sums its blocks
// in order in f32 as ggml's generic kernel does: sum += f32(isum) * f32(dw * da). So decode, prefill
// and the builds agree bit for bit.

import { f16ToF32 } from './f16';
import { bandFits, bandFirst, bandCount, q4Bands, q41Bands } from './rows4-band';
import { GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q8_0 } from './types.generated';

/**
 * Touching ahead (off): wasm has no prefetch, so the decode kernels could load nine lines of each
 * weight stream TOUCH bytes ahead in one burst every ~576 bytes (touch4x9, touch9), meant to put
 * the misses in flight together. Such a load is a real load: it holds retirement until its line
 * arrives, and on the Zen 5 VM that stalled the window every burst. Whole decode step, 1 thread,
 * interleaved A/B (bench/kernels/ab-step.mjs, 7-9 rounds, wall), touched -> untouched: 0.5B Q4_0
 * 25.7 -> 18.1 ms (2 threads 21.5 -> 12.2), 0.5B Q4_K_M 29.2 -> 22.0, 1.5B TQ2_0 63.2 -> 47.2,
 * 1.5B Q4_K_M 93.8 -> 73.1. On the Xeon VM (Intel, 2026-12-04) touching had measured 8-13% faster
 * (the kernels' notes), so it stays here, compiled out, for a machine-dependent choice later.
 * Matrices under TOUCH_MIN bytes are never touched, and a touch never reads past the grouped rows.
 */
const TOUCH_AHEAD = false;
export const TOUCH: usize = 4096;
const TOUCH_MIN: usize = 8192;

/** The last address a burst may start at for grouped bytes at w..w + bytes, or 0: no touching. */
@inline export function touchLimit(w: usize, bytes: usize): usize {
  return TOUCH_AHEAD && bytes >= TOUCH_MIN ? w + bytes - 576 : 0;
}

/** sink | nine 16-byte loads 64 bytes apart at p and at q (576 bytes of two streams), issued together. */
@inline export function touch9(sink: v128, p: usize, q: usize): v128 {
  sink = v128.or(sink, v128.or(v128.or(v128.load(p), v128.load(q)), v128.or(v128.load(p, 64), v128.load(q, 64))));
  sink = v128.or(sink, v128.or(v128.or(v128.load(p, 128), v128.load(q, 128)), v128.or(v128.load(p, 192), v128.load(q, 192))));
  sink = v128.or(sink, v128.or(v128.or(v128.load(p, 256), v128.load(q, 256)), v128.or(v128.load(p, 320), v128.load(q, 320))));
  sink = v128.or(sink, v128.or(v128.or(v128.load(p, 384), v128.load(q, 384)), v128.or(v128.load(p, 448), v128.load(q, 448))));
  return v128.or(sink, v128.or(v128.load(p, 512), v128.load(q, 512)));
}

/**
 * sink | touch9 over four streams `stride` apart, the first at g: each stream's nine lines TOUCH
 * bytes ahead, none past lim (the four-stream decodes' burst).
 */
@inline export function touch4x9(sink: v128, g: usize, stride: usize, lim: usize): v128 {
  const p = g + TOUCH;
  sink = touch9(sink, min(p, lim), min(p + stride, lim));
  return touch9(sink, min(p + 2 * stride, lim), min(p + 3 * stride, lim));
}

/** s itself: the touched bytes (sink) ANDed with a zero the compiler cannot see, so the loads stay. */
@inline export function sunk(s: v128, sink: v128, nb: i32): v128 {
  return v128.or(s, v128.and(sink, i32x4.splat(<i32>(nb < 0))));
}

/** Set in matmul's type argument when the matrix is in this layout. */
export const ROWS4_FLAG: i32 = 0x10000;

/**
 * Re-lay `rows` rows (rowBytes apart, blocks of blockBytes that open with `fields` f16 values: 1
 * for Q4_0/Q8_0's scale, 2 for Q4_1's scale and minimum, 0 for F16 rows, one block a row) into the
 * four-row layout in place, group by group through `scratch` (4 * rowBytes bytes). The last
 * rows % 4 are left as they are.
 */
export function rows4_pack(w: usize, rowBytes: i32, rows: i32, blockBytes: i32, fields: i32, scratch: usize): void {
  const rb = <usize>rowBytes, bb = <usize>blockBytes, nb = rowBytes / blockBytes, chunks = (blockBytes - 2 * fields) >> 2;
  const head = <usize>fields << 1, payload = <usize>fields << 3;
  for (let g = 0; g < (rows >> 2); g++) {
    const base = w + <usize>g * (rb << 2);
    memory.copy(scratch, base, rb << 2);
    for (let b = 0; b < nb; b++) {
      const dst = base + <usize>b * (bb << 2);
      for (let r = 0; r < 4; r++) {
        const src = scratch + <usize>r * rb + <usize>b * bb;
        for (let f = 0; f < fields; f++) store<u16>(dst + (<usize>f << 3) + (<usize>r << 1), load<u16>(src + (<usize>f << 1)));
        for (let c = 0; c < chunks; c++) store<u32>(dst + payload + (<usize>c << 4) + (<usize>r << 2), load<u32>(src + head + (<usize>c << 2)));
      }
    }
  }
}

// ------------------------------------------------------------------ one block of one row group

@inline function nChunks(type: i32): i32 {
  return type == GGML_TYPE_Q8_0 ? 8 : 4;
}

/** f16 values that open a block: Q4_1 has its minimum after the scale. */
@inline function nFields(type: i32): i32 {
  return type == GGML_TYPE_Q4_1 ? 2 : 1;
}

@inline export function storeRows(y: usize, v: v128, lo: i32, hi: i32): void {
  if (lo == 0 && hi == 4) { v128.store(y, v); return; }
  if (lo <= 0 && hi > 0) store<f32>(y, f32x4.extract_lane(v, 0));
  if (lo <= 1 && hi > 1) store<f32>(y, f32x4.extract_lane(v, 1), 4);
  if (lo <= 2 && hi > 2) store<f32>(y, f32x4.extract_lane(v, 2), 8);
  if (lo <= 3 && hi > 3) store<f32>(y, f32x4.extract_lane(v, 3), 12);
}

// ------------------------------------------------------------------ relaxed SIMD, decode
// Written for what V8 emits: every load takes its place in the block as an immediate offset
// (a computed address costs 2-3 integer ops per load, as wasm addresses wrap at 32 bits), the
// four chunks are unrolled by hand (Binaryen leaves the loop, V8 unrolls it with an exit test per
// chunk), and constants are made once outside the loop (V8 rebuilds a v128.const at every use
// inside a loop: 3 instructions each).

/**
 * scales4's masks, made from `one` (a run-time 1, such as nb >= 0): V8 keeps a splat of a run-time
 * value in a register where it rebuilds a v128.const at every use inside a loop.
 */
@inline export function scalesKeep(one: i32): v128 {
  return i32x4.splat(0x8fffe000 * one);
}
@inline export function scalesRebias(one: i32): v128 {
  return f32x4.splat(reinterpret<f32>(0x77800000 * one));
}

/**
 * Four f16 scales at p as f32 (as f16ToF32): sign-extended, the sign and 15 bits kept, rebiased
 * (masks: scalesKeep, scalesRebias). Exact for subnormal halves too, but those reach the multiplier
 * as subnormal f32 (a microcode assist on x86: f16.ts halfx4 avoids it for the K-quants' super-block
 * scales, often subnormal); the 32-element formats' block scales rarely are (none in the 0.5B
 * Q4_0, Q8_0 and Q4_K_M's Q5_0 files from `lutra synth`), and this form is the cheaper per block.
 */
@inline export function scales4(p: usize, keep: v128, rebias: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(v128.load16x4_s(p), 13), keep), rebias);
}

/** One Q4_0 block of a group (at p) against one token's 32 activations at x: lane r = row r, sum(q * a) with q 0..15. */
@inline function q4DotR(p: usize, x: usize, m: v128, zero: v128): v128 {
  const w0 = v128.load(p, 8), w1 = v128.load(p, 24), w2 = v128.load(p, 40), w3 = v128.load(p, 56);
  let lo = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 0), v128.and(w0, m), zero);
  let hi = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 16), v128.and(i16x8.shr_u(w0, 4), m), zero);
  lo = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 4), v128.and(w1, m), lo);
  hi = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 20), v128.and(i16x8.shr_u(w1, 4), m), hi);
  lo = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 8), v128.and(w2, m), lo);
  hi = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 24), v128.and(i16x8.shr_u(w2, 4), m), hi);
  lo = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 12), v128.and(w3, m), lo);
  hi = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 28), v128.and(i16x8.shr_u(w3, 4), m), hi);
  return i32x4.add(lo, hi);
}

/**
 * s + one block's sum for one token of a group at g (scales dw): Q4_0 f32(isum - 8 sum(a)) *
 * (dw * da); Q4_1 (q41) f32(isum) * (dw * da) + m * (d * sum)_a, the minimums at g + 8 and the
 * Q8_1 activation's d * sum where Q4_0 has the integer sum (asum), as dot_q4_1 sums.
 */
@inline function blockEnd(q41: bool, s: v128, acc: v128, g: usize, dw: v128, ad: usize, asum: usize, keep: v128, rebias: v128): v128 {
  if (!q41) return blockSum4(true, s, acc, dw, ad, asum);
  const p = f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.mul(dw, v128.load32_splat(ad)));
  return f32x4.add(s, f32x4.add(p, f32x4.mul(scales4(g + 8, keep, rebias), v128.load32_splat(asum))));
}

/** Bytes of a group's block: four Q4_0 blocks (72) or four Q4_1 blocks (80, payload 8 bytes later). */
@inline function q4Step(q41: bool): usize {
  return q41 ? 80 : 72;
}

/** One group of Q4_0 or Q4_1 rows (at g, nb blocks) against one token: the four rows' sums. */
@inline function q4DecodeT(q41: bool, g: usize, nb: i32, x: usize, ad: usize, asum: usize, m: v128, keep: v128, rebias: v128): v128 {
  const zero = i32x4.splat(0);
  let s = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const dw = scales4(g, keep, rebias);
    s = blockEnd(q41, s, q4DotR(q41 ? g + 8 : g, x, m, zero), g, dw, ad, asum, keep, rebias);
    g += q4Step(q41); x += 32; ad += 4; asum += 4;
  }
  return s;
}
function q4Decode(g: usize, nb: i32, x: usize, ad: usize, asum: usize, m: v128, keep: v128, rebias: v128): v128 {
  return q4DecodeT(false, g, nb, x, ad, asum, m, keep, rebias);
}
function q41Decode(g: usize, nb: i32, x: usize, ad: usize, asum: usize, m: v128, keep: v128, rebias: v128): v128 {
  return q4DecodeT(true, g, nb, x, ad, asum, m, keep, rebias);
}

/**
 * Four groups of Q4_0 or Q4_1 rows (at g + i * stride, i < 4, a quarter of the row range apart)
 * against one token, as q4Decode each, every activation splat feeding all four; sums stored at
 * y + i * yStride. Decoding streams the weights from memory, and one stream keeps too few misses
 * in flight (a miss blocks retirement, and the L2 streamer stops at every 4 KiB page): two streams
 * in different pages read ~30% faster from DRAM than one (0.5B output head, 151936x896: 5.9 -> 7.7
 * GB/s, load 9; adjacent groups gained nothing), and four faster again. Every stream was touched
 * TOUCH bytes ahead every ~576 bytes (touch9). Whole 0.5B Q4_0 step, quiet, interleaved A/B
 * (bench/kernels/ab-step.mjs, 9 rounds): two streams untouched -> touched, 1 thread 42.6 -> 39.3 ms
 * CPU, 2 threads 26.1 -> 22.6 ms wall; two touched -> four touched, 39.1 -> 32.7 and 24.2 -> 22.2.
 * (Touching Q8_0's streams measured no gain: q8Decode4 is untouched. Touching is now off on every
 * kernel: TOUCH_AHEAD above, measured on Zen 5.) One integer chain per stream,
 * each chunk's two dots from a fresh zero added in, so the sums fit x64's 16 vector registers (AMD
 * EPYC, 1 thread, 11 rounds: 27.1 -> 25.2 ms CPU, within the machine's drift).
 */
@inline function q4Decode4T(q41: bool, g: usize, stride: usize, nb: i32, x: usize, ad: usize, asum: usize, m: v128, keep: v128, rebias: v128, y: usize, yStride: usize, lim: usize): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, sink = s0;
  const zero = i32x4.splat(0);
  const pre: usize = q41 ? 8 : 0;
  g += pre;
  let h1 = g + stride, h2 = h1 + stride, h3 = h2 + stride;
  for (let b = 0; b < nb; b++) {
    if (lim != 0 && b % (q41 ? 7 : 8) == 0) {
      sink = touch4x9(sink, g, stride, lim);
    }
    let l0: v128, l1: v128, l2: v128, l3: v128;
    { const a = v128.load32_splat(x, 0), b = v128.load32_splat(x, 16);
      let v = v128.load(g, 8); l0 = dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m));
      v = v128.load(h1, 8); l1 = dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m));
      v = v128.load(h2, 8); l2 = dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m));
      v = v128.load(h3, 8); l3 = dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)); }
    { const a = v128.load32_splat(x, 4), b = v128.load32_splat(x, 20);
      let v = v128.load(g, 24); l0 = i32x4.add(l0, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h1, 24); l1 = i32x4.add(l1, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h2, 24); l2 = i32x4.add(l2, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h3, 24); l3 = i32x4.add(l3, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m))); }
    { const a = v128.load32_splat(x, 8), b = v128.load32_splat(x, 24);
      let v = v128.load(g, 40); l0 = i32x4.add(l0, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h1, 40); l1 = i32x4.add(l1, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h2, 40); l2 = i32x4.add(l2, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h3, 40); l3 = i32x4.add(l3, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m))); }
    { const a = v128.load32_splat(x, 12), b = v128.load32_splat(x, 28);
      let v = v128.load(g, 56); l0 = i32x4.add(l0, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h1, 56); l1 = i32x4.add(l1, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h2, 56); l2 = i32x4.add(l2, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m)));
      v = v128.load(h3, 56); l3 = i32x4.add(l3, dotLH(zero, a, b, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m))); }
    if (q41) {
      s0 = blockEnd(true, s0, l0, g - 8, scales4(g - 8, keep, rebias), ad, asum, keep, rebias);
      s1 = blockEnd(true, s1, l1, h1 - 8, scales4(h1 - 8, keep, rebias), ad, asum, keep, rebias);
      s2 = blockEnd(true, s2, l2, h2 - 8, scales4(h2 - 8, keep, rebias), ad, asum, keep, rebias);
      s3 = blockEnd(true, s3, l3, h3 - 8, scales4(h3 - 8, keep, rebias), ad, asum, keep, rebias);
    } else {
      const off = i32x4.shl(v128.load32_splat(asum), 3), da = v128.load32_splat(ad);
      s0 = f32x4.add(s0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(l0, off)), f32x4.mul(scales4(g, keep, rebias), da)));
      s1 = f32x4.add(s1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(l1, off)), f32x4.mul(scales4(h1, keep, rebias), da)));
      s2 = f32x4.add(s2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(l2, off)), f32x4.mul(scales4(h2, keep, rebias), da)));
      s3 = f32x4.add(s3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(l3, off)), f32x4.mul(scales4(h3, keep, rebias), da)));
    }
    const st = q4Step(q41);
    g += st; h1 += st; h2 += st; h3 += st; x += 32; ad += 4; asum += 4;
  }
  v128.store(y, sunk(s0, sink, nb)); v128.store(y + yStride, s1); v128.store(y + 2 * yStride, s2); v128.store(y + 3 * yStride, s3);
}
function q4Decode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, asum: usize, m: v128, keep: v128, rebias: v128, y: usize, yStride: usize, lim: usize): void {
  q4Decode4T(false, g, stride, nb, x, ad, asum, m, keep, rebias, y, yStride, lim);
}
function q41Decode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, asum: usize, m: v128, keep: v128, rebias: v128, y: usize, yStride: usize, lim: usize): void {
  q4Decode4T(true, g, stride, nb, x, ad, asum, m, keep, rebias, y, yStride, lim);
}

/** acc + the dot of chunk c's nibbles (lo: k = 4c.., hi: k = 16 + 4c..) with one token's activations at x. */
@inline export function q4Chunk(acc: v128, x: usize, c: i32, lo: v128, hi: v128): v128 {
  if (c == 0) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 16), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 0), lo, acc));
  if (c == 1) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 20), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 4), lo, acc));
  if (c == 2) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 24), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 8), lo, acc));
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 28), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 12), lo, acc));
}

/** acc + the dot of chunk c's low (k = 4c..) or high (k = 16 + 4c..) nibbles v with one token's activations at x. */
@inline function q4Half(acc: v128, x: usize, c: i32, high: bool, v: v128): v128 {
  if (high) {
    if (c == 0) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 16), v, acc);
    if (c == 1) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 20), v, acc);
    if (c == 2) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 24), v, acc);
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 28), v, acc);
  }
  if (c == 0) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 0), v, acc);
  if (c == 1) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 4), v, acc);
  if (c == 2) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 8), v, acc);
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 12), v, acc);
}

/** s + f32(isum) * (dw * da) for one token, isum less 8 * its block sum (Q4_0's offset) when q4. */
@inline function blockSum4(q4: bool, s: v128, acc: v128, dw: v128, ad: usize, asum: usize): v128 {
  const isum = q4 ? i32x4.sub(acc, i32x4.shl(v128.load32_splat(asum), 3)) : acc;
  return f32x4.add(s, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(dw, v128.load32_splat(ad))));
}

/**
 * One group of Q4_0 rows against nt (2..4, a constant) tokens, chunk by chunk: each 16-byte load
 * of weights is split into nibbles once and feeds every token (token t's activations at
 * x + t * xStep, scales and sums at ad/asum + t * aStep); rows lo..hi stored at y + t * yStep.
 */
@inline function q4Tile(q41: bool, nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  const pre: usize = q41 ? 8 : 0;
  g += pre;
  for (let b = 0; b < nb; b++) {
    const x1 = x + xStep, x2 = x1 + xStep, x3 = x2 + xStep;
    // Integer sums in several chains per token (they add exactly in any order): the dot's latency
    // (5 cycles, vpdpbusd) held one chain of eight dots per block to ~38 GMAC/s from cache. Low and
    // high nibbles apart (a, b); with two tokens or fewer also odd chunks apart (c, d): 8 chains.
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
    let c0 = i32x4.splat(0), c1 = i32x4.splat(0), d0 = i32x4.splat(0), d1 = i32x4.splat(0);
    let w = v128.load(g, 8); let l = v128.and(w, m), h = v128.and(i16x8.shr_u(w, 4), m);
    a0 = q4Half(a0, x, 0, false, l); b0 = q4Half(b0, x, 0, true, h);
    if (nt > 1) { a1 = q4Half(a1, x1, 0, false, l); b1 = q4Half(b1, x1, 0, true, h); }
    if (nt > 2) { a2 = q4Half(a2, x2, 0, false, l); b2 = q4Half(b2, x2, 0, true, h); }
    if (nt > 3) { a3 = q4Half(a3, x3, 0, false, l); b3 = q4Half(b3, x3, 0, true, h); }
    w = v128.load(g, 24); l = v128.and(w, m); h = v128.and(i16x8.shr_u(w, 4), m);
    if (nt <= 2) { c0 = q4Half(c0, x, 1, false, l); d0 = q4Half(d0, x, 1, true, h); } else { a0 = q4Half(a0, x, 1, false, l); b0 = q4Half(b0, x, 1, true, h); }
    if (nt > 1) { if (nt <= 2) { c1 = q4Half(c1, x1, 1, false, l); d1 = q4Half(d1, x1, 1, true, h); } else { a1 = q4Half(a1, x1, 1, false, l); b1 = q4Half(b1, x1, 1, true, h); } }
    if (nt > 2) { a2 = q4Half(a2, x2, 1, false, l); b2 = q4Half(b2, x2, 1, true, h); }
    if (nt > 3) { a3 = q4Half(a3, x3, 1, false, l); b3 = q4Half(b3, x3, 1, true, h); }
    w = v128.load(g, 40); l = v128.and(w, m); h = v128.and(i16x8.shr_u(w, 4), m);
    a0 = q4Half(a0, x, 2, false, l); b0 = q4Half(b0, x, 2, true, h);
    if (nt > 1) { a1 = q4Half(a1, x1, 2, false, l); b1 = q4Half(b1, x1, 2, true, h); }
    if (nt > 2) { a2 = q4Half(a2, x2, 2, false, l); b2 = q4Half(b2, x2, 2, true, h); }
    if (nt > 3) { a3 = q4Half(a3, x3, 2, false, l); b3 = q4Half(b3, x3, 2, true, h); }
    w = v128.load(g, 56); l = v128.and(w, m); h = v128.and(i16x8.shr_u(w, 4), m);
    if (nt <= 2) { c0 = q4Half(c0, x, 3, false, l); d0 = q4Half(d0, x, 3, true, h); } else { a0 = q4Half(a0, x, 3, false, l); b0 = q4Half(b0, x, 3, true, h); }
    if (nt > 1) { if (nt <= 2) { c1 = q4Half(c1, x1, 3, false, l); d1 = q4Half(d1, x1, 3, true, h); } else { a1 = q4Half(a1, x1, 3, false, l); b1 = q4Half(b1, x1, 3, true, h); } }
    if (nt > 2) { a2 = q4Half(a2, x2, 3, false, l); b2 = q4Half(b2, x2, 3, true, h); }
    if (nt > 3) { a3 = q4Half(a3, x3, 3, false, l); b3 = q4Half(b3, x3, 3, true, h); }
    if (nt <= 2) { a0 = i32x4.add(a0, c0); b0 = i32x4.add(b0, d0); a1 = i32x4.add(a1, c1); b1 = i32x4.add(b1, d1); }
    const gb = g - pre, dw = scales4(gb, keep, rebias);
    s0 = blockEnd(q41, s0, i32x4.add(a0, b0), gb, dw, ad, asum, keep, rebias);
    if (nt > 1) s1 = blockEnd(q41, s1, i32x4.add(a1, b1), gb, dw, ad + aStep, asum + aStep, keep, rebias);
    if (nt > 2) s2 = blockEnd(q41, s2, i32x4.add(a2, b2), gb, dw, ad + 2 * aStep, asum + 2 * aStep, keep, rebias);
    if (nt > 3) s3 = blockEnd(q41, s3, i32x4.add(a3, b3), gb, dw, ad + 3 * aStep, asum + 3 * aStep, keep, rebias);
    g += q4Step(q41); x += 32; ad += 4; asum += 4;
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

function q4Tile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4Tile(false, 2, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41Tile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4Tile(true, 2, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q4Tile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4Tile(false, 3, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41Tile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4Tile(true, 3, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q4Tile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4Tile(false, 4, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41Tile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4Tile(true, 4, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}

/** acc + one chunk's low nibbles l against activations a and high nibbles u against c. */
@inline export function dotLH(acc: v128, a: v128, c: v128, l: v128, u: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(c, u, i32x4.relaxed_dot_i8x16_i7x16_add_s(a, l, acc));
}
/**
 * Relaxed Q4_0 or Q4_1 (q41): rows r0..r1 (grouped) for nTok tokens, group by group, tokens four
 * at a time while the group is in L1. `asum`: Q4_0's integer activation sums, Q4_1's d * sum.
 */
@inline function q4RowsT(q41: bool, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2;
  // Made from a run-time value so that V8 keeps them in registers instead of rebuilding them per use.
  const one = <i32>(nb >= 0);
  const m = i8x16.splat(<i8>(0x0f * one)), keep = scalesKeep(one), rebias = scalesRebias(one);
  if (nTok == 1) {
    // Whole groups in four streams a quarter of the range apart (q4Decode4); partial groups at either end and the rest alone.
    const ga = (r0 + 3) >> 2, gb = r1 >> 2, d = (gb - ga) >> 2, lim = touchLimit(w, <usize>(gb << 2) * rowBytes);
    for (let i = 0; i < d; i++) {
      const g0 = ga + i, wg = w + <usize>g0 * (rowBytes << 2), yg = y + (<usize>g0 << 4);
      if (q41) q41Decode4(wg, <usize>d * (rowBytes << 2), nb, act, ad, asum, m, keep, rebias, yg, <usize>d << 4, lim);
      else q4Decode4(wg, <usize>d * (rowBytes << 2), nb, act, ad, asum, m, keep, rebias, yg, <usize>d << 4, lim);
    }
    for (let g = r0 >> 2; (g << 2) < r1; g++) {
      if (g >= ga && g < ga + 4 * d) continue;
      const wg = w + <usize>g * (rowBytes << 2);
      const v = q41 ? q41Decode(wg, nb, act, ad, asum, m, keep, rebias) : q4Decode(wg, nb, act, ad, asum, m, keep, rebias);
      storeRows(y + (<usize>g << 4), v, max(r0 - (g << 2), 0), min(r1 - (g << 2), 4));
    }
    return;
  }
  // Several tokens: group by group, tokens four at a time while the group is in L1. (Two far groups
  // in one pass for 2-4 tokens, two weight streams as decoding reads, were slower on Zen 5 than these
  // tiles: 0.5B Q4_0, 4 tokens, 1 thread, interleaved A/B: 48.5 -> 39.9 ms CPU; 3 tokens 41.9 -> 32.2.)
  // Many tokens: whole bands of four groups unpacked once into this thread's scratch (rows4-band.ts).
  let bandLo = 0, bandHi = 0;
  if (bandFits(nTok)) {
    bandLo = bandFirst(r0);
    const nBands = bandCount(r0, r1);
    bandHi = bandLo + (nBands << 2);
    if (q41) q41Bands(w, rowBytes, cols, rows, bandLo, nBands, act, ad, asum, y, nTok, m, keep, rebias);
    else q4Bands(w, rowBytes, cols, rows, bandLo, nBands, act, ad, asum, y, nTok, m, keep, rebias);
  }
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    if (g >= bandLo && g < bandHi) continue;
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      const xt = act + <usize>t * xStep, adt = ad + <usize>t * aStep, ast = asum + <usize>t * aStep, yt = yg + <usize>t * yStep;
      if (q41) q41Tile4(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
      else q4Tile4(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
    }
    const left = nTok - t, xt = act + <usize>t * xStep, adt = ad + <usize>t * aStep, ast = asum + <usize>t * aStep, yt = yg + <usize>t * yStep;
    if (left == 1) storeRows(yt, q41 ? q41Decode(gw, nb, xt, adt, ast, m, keep, rebias) : q4Decode(gw, nb, xt, adt, ast, m, keep, rebias), lo, hi);
    else if (left == 2) { if (q41) q41Tile2(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias); else q4Tile2(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias); }
    else if (left == 3) { if (q41) q41Tile3(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias); else q4Tile3(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias); }
  }
}

// Relaxed Q8_0: the signed weights go in the dot's first operand, so the activations must be
// 0..127: rows4_split_q8 writes each block of 32 as p = max(a, 0) then n = max(-a, 0) (64 bytes,
// a = p - n, |a| <= 127), once per product, and a block's sum is dot(w, p) - dot(w, n).

/**
 * Split Q8 activations (n int8 values, whole blocks of 32) for the relaxed four-row Q8_0 kernel:
 * per block, 32 bytes max(a, 0) then 32 bytes min(max(-a, 0), 127), at pn (-128, which
 * quantize_q8 never writes, reads as -127).
 */
export function rows4_split_q8(act: usize, n: i32, pn: usize): void {
  for (let i = 0; i < n; i += 32) {
    const src = act + <usize>i, dst = pn + (<usize>i << 1);
    if (ASC_FEATURE_SIMD) {
      const zero = i8x16.splat(0), a0 = v128.load(src), a1 = v128.load(src, 16);
      v128.store(dst, i8x16.max_s(a0, zero)); v128.store(dst, i8x16.max_s(a1, zero), 16);
      v128.store(dst, i8x16.max_s(i8x16.sub_sat_s(zero, a0), zero), 32); v128.store(dst, i8x16.max_s(i8x16.sub_sat_s(zero, a1), zero), 48);
    } else {
      for (let j = 0; j < 32; j++) {
        const a = <i32>load<i8>(src + <usize>j);
        store<u8>(dst + <usize>j, max(a, 0)); store<u8>(dst + 32 + <usize>j, min(max(-a, 0), 127));
      }
    }
  }
}

/** One group of Q8_0 rows (at g, nb blocks) against one token (split activations at pn): the four rows' sums. */
function q8Decode(g: usize, nb: i32, pn: usize, ad: usize, keep: v128, rebias: v128): v128 {
  let s = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let pos = i32x4.splat(0), neg = i32x4.splat(0);
    let w = v128.load(g, 8); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 0), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 32), neg);
    w = v128.load(g, 24); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 4), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 36), neg);
    w = v128.load(g, 40); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 8), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 40), neg);
    w = v128.load(g, 56); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 12), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 44), neg);
    w = v128.load(g, 72); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 16), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 48), neg);
    w = v128.load(g, 88); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 20), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 52), neg);
    w = v128.load(g, 104); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 24), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 56), neg);
    w = v128.load(g, 120); pos = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 28), pos); neg = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 60), neg);
    const dw = scales4(g, keep, rebias);
    s = f32x4.add(s, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(pos, neg)), f32x4.mul(dw, v128.load32_splat(ad))));
    g += 136; pn += 64; ad += 4;
  }
  return s;
}

/** Two groups of Q8_0 rows (at g and h, far apart) against one token, as q8Decode each (two weight streams: q4Decode4). */
function q8Decode2(g: usize, h: usize, nb: i32, pn: usize, ad: usize, keep: v128, rebias: v128, yg: usize, yh: usize): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let p0 = i32x4.splat(0), n0 = i32x4.splat(0), p1 = i32x4.splat(0), n1 = i32x4.splat(0);
    { const p = v128.load32_splat(pn, 0), n = v128.load32_splat(pn, 32), v = v128.load(g, 8), u = v128.load(h, 8);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 4), n = v128.load32_splat(pn, 36), v = v128.load(g, 24), u = v128.load(h, 24);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 8), n = v128.load32_splat(pn, 40), v = v128.load(g, 40), u = v128.load(h, 40);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 12), n = v128.load32_splat(pn, 44), v = v128.load(g, 56), u = v128.load(h, 56);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 16), n = v128.load32_splat(pn, 48), v = v128.load(g, 72), u = v128.load(h, 72);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 20), n = v128.load32_splat(pn, 52), v = v128.load(g, 88), u = v128.load(h, 88);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 24), n = v128.load32_splat(pn, 56), v = v128.load(g, 104), u = v128.load(h, 104);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    { const p = v128.load32_splat(pn, 28), n = v128.load32_splat(pn, 60), v = v128.load(g, 120), u = v128.load(h, 120);
      p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, n1); }
    const da = v128.load32_splat(ad);
    s0 = f32x4.add(s0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p0, n0)), f32x4.mul(scales4(g, keep, rebias), da)));
    s1 = f32x4.add(s1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p1, n1)), f32x4.mul(scales4(h, keep, rebias), da)));
    g += 136; h += 136; pn += 64; ad += 4;
  }
  v128.store(yg, s0);
  v128.store(yh, s1);
}

/**
 * Four groups of Q8_0 rows (at g + i * stride, i < 4, a quarter of the row range apart) against one
 * token, as q8Decode each, every activation splat feeding all four: four weight streams, as
 * rows4-k.ts's q4kDecode4. Sums stored at y + i * yStride. Whole 0.5B Q8_0 step, quiet,
 * interleaved A/B (bench/kernels/ab-step.mjs, 9 rounds) against q8Decode2's two streams: 1 thread
 * 57.7 -> 43.0 ms CPU, 2 threads 36.0 -> 31.0 ms wall.
 */
function q8Decode4(g: usize, stride: usize, nb: i32, pn: usize, ad: usize, keep: v128, rebias: v128, y: usize, yStride: usize, cont: bool): void {
  // cont: go on from the sums stored at y (q8Decode8's chunks).
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  if (cont) { s0 = v128.load(y); s1 = v128.load(y + yStride); s2 = v128.load(y + 2 * yStride); s3 = v128.load(y + 3 * yStride); }
  let h1 = g + stride, h2 = h1 + stride, h3 = h2 + stride;
  for (let b = 0; b < nb; b++) {
    let p0 = i32x4.splat(0), n0 = p0, p1 = p0, n1 = p0, p2 = p0, n2 = p0, p3 = p0, n3 = p0;
    { const p = v128.load32_splat(pn, 0), n = v128.load32_splat(pn, 32);
      let v = v128.load(g, 8); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 8); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 8); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 8); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 4), n = v128.load32_splat(pn, 36);
      let v = v128.load(g, 24); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 24); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 24); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 24); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 8), n = v128.load32_splat(pn, 40);
      let v = v128.load(g, 40); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 40); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 40); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 40); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 12), n = v128.load32_splat(pn, 44);
      let v = v128.load(g, 56); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 56); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 56); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 56); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 16), n = v128.load32_splat(pn, 48);
      let v = v128.load(g, 72); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 72); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 72); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 72); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 20), n = v128.load32_splat(pn, 52);
      let v = v128.load(g, 88); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 88); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 88); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 88); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 24), n = v128.load32_splat(pn, 56);
      let v = v128.load(g, 104); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 104); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 104); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 104); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    { const p = v128.load32_splat(pn, 28), n = v128.load32_splat(pn, 60);
      let v = v128.load(g, 120); p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n0);
      v = v128.load(h1, 120); p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n1);
      v = v128.load(h2, 120); p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n2);
      v = v128.load(h3, 120); p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, n3); }
    const da = v128.load32_splat(ad);
    s0 = f32x4.add(s0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p0, n0)), f32x4.mul(scales4(g, keep, rebias), da)));
    s1 = f32x4.add(s1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p1, n1)), f32x4.mul(scales4(h1, keep, rebias), da)));
    s2 = f32x4.add(s2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p2, n2)), f32x4.mul(scales4(h2, keep, rebias), da)));
    s3 = f32x4.add(s3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(p3, n3)), f32x4.mul(scales4(h3, keep, rebias), da)));
    g += 136; h1 += 136; h2 += 136; h3 += 136; pn += 64; ad += 4;
  }
  v128.store(y, s0); v128.store(y + yStride, s1); v128.store(y + 2 * yStride, s2); v128.store(y + 3 * yStride, s3);
}

/** Blocks a q8Decode8 half reads before the other half's turn. */
const Q8_CHUNK = 4;

/**
 * Eight groups of Q8_0 rows (at g + i * stride, i < 8, an eighth of the row range apart) against
 * one token: q8Decode4 on groups 0-3 and on groups 4-7 in turn, Q8_CHUNK blocks at a time, each
 * chunk going on from the sums the last stored, so every group adds its blocks in q8Decode's order.
 * Against q8Decode4 alone, whole 0.5B Q8_0 step, quiet, interleaved A/B (bench/kernels/ab-step.mjs,
 * 9 rounds): 1 thread 44.8 -> 40.6 ms CPU, 2 threads 26.9 -> 25.1 ms wall. (The same for Q4_0, eight
 * blocks a chunk: 33.1 -> 32.1 and 21.3 -> 21.8, not kept.)
 */
function q8Decode8(g: usize, stride: usize, nb: i32, pn: usize, ad: usize, keep: v128, rebias: v128, y: usize, yStride: usize): void {
  for (let b = 0; b < nb; b += Q8_CHUNK) {
    const n = min(Q8_CHUNK, nb - b), bo = <usize>b * 136, pb = pn + (<usize>b << 6), ab = ad + (<usize>b << 2), cont = b > 0;
    q8Decode4(g + bo, stride, n, pb, ab, keep, rebias, y, yStride, cont);
    q8Decode4(g + 4 * stride + bo, stride, n, pb, ab, keep, rebias, y + 4 * yStride, yStride, cont);
  }
}

/** One group of Q8_0 rows against nt (2..4, a constant) tokens (token t's split activations at pn + t * pStep): each weight load feeds every token. */
@inline function q8Tile(nt: i32, g: usize, nb: i32, pn: usize, pStep: usize, ad: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const pn1 = pn + pStep, pn2 = pn1 + pStep, pn3 = pn2 + pStep;
    // With two tokens or fewer the odd chunks go to their own sums (e, f): eight chains of four
    // dots instead of four of eight (the dot's 5-cycle latency bounds a chain; integers add exactly).
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0), p2 = i32x4.splat(0), p3 = i32x4.splat(0);
    let n0 = i32x4.splat(0), n1 = i32x4.splat(0), n2 = i32x4.splat(0), n3 = i32x4.splat(0);
    let e0 = i32x4.splat(0), e1 = i32x4.splat(0), f0 = i32x4.splat(0), f1 = i32x4.splat(0);
    let w = v128.load(g, 8);
    p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 0), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 32), n0);
    if (nt > 1) { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 0), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 32), n1); }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 0), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 32), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 0), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 32), n3); }
    w = v128.load(g, 24);
    if (nt <= 2) { e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 4), e0); f0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 36), f0); } else { p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 4), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 36), n0); }
    if (nt > 1) { if (nt <= 2) { e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 4), e1); f1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 36), f1); } else { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 4), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 36), n1); } }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 4), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 36), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 4), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 36), n3); }
    w = v128.load(g, 40);
    p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 8), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 40), n0);
    if (nt > 1) { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 8), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 40), n1); }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 8), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 40), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 8), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 40), n3); }
    w = v128.load(g, 56);
    if (nt <= 2) { e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 12), e0); f0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 44), f0); } else { p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 12), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 44), n0); }
    if (nt > 1) { if (nt <= 2) { e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 12), e1); f1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 44), f1); } else { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 12), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 44), n1); } }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 12), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 44), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 12), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 44), n3); }
    w = v128.load(g, 72);
    p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 16), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 48), n0);
    if (nt > 1) { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 16), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 48), n1); }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 16), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 48), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 16), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 48), n3); }
    w = v128.load(g, 88);
    if (nt <= 2) { e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 20), e0); f0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 52), f0); } else { p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 20), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 52), n0); }
    if (nt > 1) { if (nt <= 2) { e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 20), e1); f1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 52), f1); } else { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 20), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 52), n1); } }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 20), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 52), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 20), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 52), n3); }
    w = v128.load(g, 104);
    p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 24), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 56), n0);
    if (nt > 1) { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 24), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 56), n1); }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 24), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 56), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 24), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 56), n3); }
    w = v128.load(g, 120);
    if (nt <= 2) { e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 28), e0); f0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 60), f0); } else { p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 28), p0); n0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn, 60), n0); }
    if (nt > 1) { if (nt <= 2) { e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 28), e1); f1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 60), f1); } else { p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 28), p1); n1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn1, 60), n1); } }
    if (nt > 2) { p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 28), p2); n2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn2, 60), n2); }
    if (nt > 3) { p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 28), p3); n3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w, v128.load32_splat(pn3, 60), n3); }
    if (nt <= 2) { p0 = i32x4.add(p0, e0); n0 = i32x4.add(n0, f0); p1 = i32x4.add(p1, e1); n1 = i32x4.add(n1, f1); }
    const dw = scales4(g, keep, rebias);
    s0 = blockSum4(false, s0, i32x4.sub(p0, n0), dw, ad, 0);
    if (nt > 1) s1 = blockSum4(false, s1, i32x4.sub(p1, n1), dw, ad + aStep, 0);
    if (nt > 2) s2 = blockSum4(false, s2, i32x4.sub(p2, n2), dw, ad + 2 * aStep, 0);
    if (nt > 3) s3 = blockSum4(false, s3, i32x4.sub(p3, n3), dw, ad + 3 * aStep, 0);
    g += 136; pn += 64; ad += 4;
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

function q8Tile2(g: usize, nb: i32, pn: usize, pStep: usize, ad: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8Tile(2, g, nb, pn, pStep, ad, aStep, y, yStep, lo, hi, keep, rebias);
}
function q8Tile3(g: usize, nb: i32, pn: usize, pStep: usize, ad: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8Tile(3, g, nb, pn, pStep, ad, aStep, y, yStep, lo, hi, keep, rebias);
}
function q8Tile4(g: usize, nb: i32, pn: usize, pStep: usize, ad: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  q8Tile(4, g, nb, pn, pStep, ad, aStep, y, yStep, lo, hi, keep, rebias);
}

/** Two groups (g, h far apart) against two tokens (split activations at pn, pn + pStep): two weight streams, as decoding reads. Same sums as q8Tile. */
function q8Pair(g: usize, h: usize, nb: i32, pn: usize, pStep: usize, ad: usize, aStep: usize, yg: usize, yh: usize, yStep: usize, keep: v128, rebias: v128): void {
  let sg0 = f32x4.splat(0), sg1 = f32x4.splat(0), sh0 = f32x4.splat(0), sh1 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const pn1 = pn + pStep;
    let gp0 = i32x4.splat(0), gn0 = i32x4.splat(0), gp1 = i32x4.splat(0), gn1 = i32x4.splat(0);
    let hp0 = i32x4.splat(0), hn0 = i32x4.splat(0), hp1 = i32x4.splat(0), hn1 = i32x4.splat(0);
    { const v = v128.load(g, 8), u = v128.load(h, 8);
      { const p = v128.load32_splat(pn, 0), n = v128.load32_splat(pn, 32);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 0), n = v128.load32_splat(pn1, 32);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 24), u = v128.load(h, 24);
      { const p = v128.load32_splat(pn, 4), n = v128.load32_splat(pn, 36);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 4), n = v128.load32_splat(pn1, 36);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 40), u = v128.load(h, 40);
      { const p = v128.load32_splat(pn, 8), n = v128.load32_splat(pn, 40);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 8), n = v128.load32_splat(pn1, 40);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 56), u = v128.load(h, 56);
      { const p = v128.load32_splat(pn, 12), n = v128.load32_splat(pn, 44);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 12), n = v128.load32_splat(pn1, 44);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 72), u = v128.load(h, 72);
      { const p = v128.load32_splat(pn, 16), n = v128.load32_splat(pn, 48);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 16), n = v128.load32_splat(pn1, 48);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 88), u = v128.load(h, 88);
      { const p = v128.load32_splat(pn, 20), n = v128.load32_splat(pn, 52);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 20), n = v128.load32_splat(pn1, 52);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 104), u = v128.load(h, 104);
      { const p = v128.load32_splat(pn, 24), n = v128.load32_splat(pn, 56);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 24), n = v128.load32_splat(pn1, 56);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    { const v = v128.load(g, 120), u = v128.load(h, 120);
      { const p = v128.load32_splat(pn, 28), n = v128.load32_splat(pn, 60);
        gp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp0); gn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn0);
        hp0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp0); hn0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn0); }
      { const p = v128.load32_splat(pn1, 28), n = v128.load32_splat(pn1, 60);
        gp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, p, gp1); gn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, n, gn1);
        hp1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, p, hp1); hn1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, n, hn1); } }
    const dg = scales4(g, keep, rebias), dh = scales4(h, keep, rebias);
    sg0 = blockSum4(false, sg0, i32x4.sub(gp0, gn0), dg, ad, 0);
    sg1 = blockSum4(false, sg1, i32x4.sub(gp1, gn1), dg, ad + aStep, 0);
    sh0 = blockSum4(false, sh0, i32x4.sub(hp0, hn0), dh, ad, 0);
    sh1 = blockSum4(false, sh1, i32x4.sub(hp1, hn1), dh, ad + aStep, 0);
    g += 136; h += 136; pn += 64; ad += 4;
  }
  v128.store(yg, sg0); v128.store(yg + yStep, sg1);
  v128.store(yh, sh0); v128.store(yh + yStep, sh1);
}

/** Relaxed Q8_0: rows r0..r1 (grouped) for nTok tokens, as q4Rows. */
function q8Rows(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, pn: usize, ad: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const pStep = <usize>cols << 1, aStep = <usize>nb << 2, yStep = <usize>rows << 2;
  const one = <i32>(nb >= 0);
  const keep = scalesKeep(one), rebias = scalesRebias(one);
  if (nTok == 1) {
    // Whole groups in four far streams (q8Decode4), the rest alone.
    const ga = (r0 + 3) >> 2, gb = r1 >> 2, d = (gb - ga) >> 3;
    for (let i = 0; i < d; i++) {
      const g0 = ga + i;
      q8Decode8(w + <usize>g0 * (rowBytes << 2), <usize>d * (rowBytes << 2), nb, pn, ad, keep, rebias, y + (<usize>g0 << 4), <usize>d << 4);
    }
    for (let g = r0 >> 2; (g << 2) < r1; g++) {
      if (g >= ga && g < ga + 8 * d) continue;
      storeRows(y + (<usize>g << 4), q8Decode(w + <usize>g * (rowBytes << 2), nb, pn, ad, keep, rebias), max(r0 - (g << 2), 0), min(r1 - (g << 2), 4));
    }
    return;
  }
  // Up to four tokens: whole groups in far pairs, two tokens a pass (q8Pair): two weight streams.
  // (The split kernel runs only where the engine's dot does not read unsigned bytes exactly; the
  // biased one, rows4-q8u.ts, takes 2-4 tokens group by group, which measured faster on Zen 5.)
  const ga = (r0 + 3) >> 2, gb = r1 >> 2, d = nTok <= 4 ? (gb - ga) >> 1 : 0;
  for (let i = 0; i < d; i++) {
    const g0 = ga + i, g1 = g0 + d;
    const wg = w + <usize>g0 * (rowBytes << 2), wh = w + <usize>g1 * (rowBytes << 2), yg = y + (<usize>g0 << 4), yh = y + (<usize>g1 << 4);
    let t = 0;
    for (; t + 2 <= nTok; t += 2) q8Pair(wg, wh, nb, pn + <usize>t * pStep, pStep, ad + <usize>t * aStep, aStep, yg + <usize>t * yStep, yh + <usize>t * yStep, yStep, keep, rebias);
    if (t < nTok) q8Decode2(wg, wh, nb, pn + <usize>t * pStep, ad + <usize>t * aStep, keep, rebias, yg + <usize>t * yStep, yh + <usize>t * yStep);
  }
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    if (g >= ga && g < ga + 2 * d) continue;
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) q8Tile4(gw, nb, pn + <usize>t * pStep, pStep, ad + <usize>t * aStep, aStep, yg + <usize>t * yStep, yStep, lo, hi, keep, rebias);
    const left = nTok - t, pt = pn + <usize>t * pStep, adt = ad + <usize>t * aStep, yt = yg + <usize>t * yStep;
    if (left == 1) storeRows(yt, q8Decode(gw, nb, pt, adt, keep, rebias), lo, hi);
    else if (left == 2) q8Tile2(gw, nb, pt, pStep, adt, aStep, yt, yStep, lo, hi, keep, rebias);
    else if (left == 3) q8Tile3(gw, nb, pt, pStep, adt, aStep, yt, yStep, lo, hi, keep, rebias);
  }
}

// ------------------------------------------------------------------ SIMD128
// No 8-bit dot product: weights widened to i16 once per chunk for every token, i32x4.dot_i16x8_s
// against each token's 4 activations widened and repeated (lanes of p: rows 0, 1, two k pairs each;
// q: rows 2, 3), pairs added at the end of the block. Written as the relaxed kernels are (immediate
// offsets, unrolled chunks, constants made once).

/** The four rows' sums from dot_i16x8 pair lanes: p = rows 0, 1 (two lanes each), q = rows 2, 3. */
@inline function pairs4(p: v128, q: v128): v128 {
  return i32x4.add(i32x4.shuffle(p, q, 0, 2, 4, 6), i32x4.shuffle(p, q, 1, 3, 5, 7));
}

/** One group of Q4_0 or Q4_1 (q41) rows (SIMD128) against nt (1..4, a constant) tokens, as q4Tile. */
@inline function q4TileS(q41: bool, nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  const pre: usize = q41 ? 8 : 0;
  g += pre;
  for (let b = 0; b < nb; b++) {
    const x1 = x + xStep, x2 = x1 + xStep, x3 = x2 + xStep;
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0), p2 = i32x4.splat(0), p3 = i32x4.splat(0);
    let q0 = i32x4.splat(0), q1 = i32x4.splat(0), q2 = i32x4.splat(0), q3 = i32x4.splat(0);
    let w = v128.load(g, 8); let lo = v128.and(w, m), hi = v128.and(i16x8.shr_u(w, 4), m);
    let l01 = i16x8.extend_low_i8x16_u(lo), l23 = i16x8.extend_high_i8x16_u(lo), h01 = i16x8.extend_low_i8x16_u(hi), h23 = i16x8.extend_high_i8x16_u(hi);
    { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 0)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 16));
      p0 = i32x4.add(p0, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q0 = i32x4.add(q0, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 1) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 0)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 16));
      p1 = i32x4.add(p1, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q1 = i32x4.add(q1, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 2) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 0)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 16));
      p2 = i32x4.add(p2, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q2 = i32x4.add(q2, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 3) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 0)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 16));
      p3 = i32x4.add(p3, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q3 = i32x4.add(q3, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    w = v128.load(g, 24); lo = v128.and(w, m), hi = v128.and(i16x8.shr_u(w, 4), m);
    l01 = i16x8.extend_low_i8x16_u(lo); l23 = i16x8.extend_high_i8x16_u(lo); h01 = i16x8.extend_low_i8x16_u(hi); h23 = i16x8.extend_high_i8x16_u(hi);
    { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 4)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 20));
      p0 = i32x4.add(p0, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q0 = i32x4.add(q0, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 1) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 4)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 20));
      p1 = i32x4.add(p1, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q1 = i32x4.add(q1, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 2) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 4)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 20));
      p2 = i32x4.add(p2, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q2 = i32x4.add(q2, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 3) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 4)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 20));
      p3 = i32x4.add(p3, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q3 = i32x4.add(q3, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    w = v128.load(g, 40); lo = v128.and(w, m), hi = v128.and(i16x8.shr_u(w, 4), m);
    l01 = i16x8.extend_low_i8x16_u(lo); l23 = i16x8.extend_high_i8x16_u(lo); h01 = i16x8.extend_low_i8x16_u(hi); h23 = i16x8.extend_high_i8x16_u(hi);
    { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 8)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 24));
      p0 = i32x4.add(p0, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q0 = i32x4.add(q0, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 1) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 8)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 24));
      p1 = i32x4.add(p1, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q1 = i32x4.add(q1, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 2) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 8)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 24));
      p2 = i32x4.add(p2, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q2 = i32x4.add(q2, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 3) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 8)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 24));
      p3 = i32x4.add(p3, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q3 = i32x4.add(q3, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    w = v128.load(g, 56); lo = v128.and(w, m), hi = v128.and(i16x8.shr_u(w, 4), m);
    l01 = i16x8.extend_low_i8x16_u(lo); l23 = i16x8.extend_high_i8x16_u(lo); h01 = i16x8.extend_low_i8x16_u(hi); h23 = i16x8.extend_high_i8x16_u(hi);
    { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 12)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 28));
      p0 = i32x4.add(p0, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q0 = i32x4.add(q0, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 1) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 12)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 28));
      p1 = i32x4.add(p1, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q1 = i32x4.add(q1, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 2) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 12)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 28));
      p2 = i32x4.add(p2, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q2 = i32x4.add(q2, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    if (nt > 3) { const al = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 12)), ah = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 28));
      p3 = i32x4.add(p3, i32x4.add(i32x4.dot_i16x8_s(l01, al), i32x4.dot_i16x8_s(h01, ah))); q3 = i32x4.add(q3, i32x4.add(i32x4.dot_i16x8_s(l23, al), i32x4.dot_i16x8_s(h23, ah))); }
    const gb = g - pre, dw = scales4(gb, keep, rebias);
    s0 = blockEnd(q41, s0, pairs4(p0, q0), gb, dw, ad, asum, keep, rebias);
    if (nt > 1) s1 = blockEnd(q41, s1, pairs4(p1, q1), gb, dw, ad + aStep, asum + aStep, keep, rebias);
    if (nt > 2) s2 = blockEnd(q41, s2, pairs4(p2, q2), gb, dw, ad + 2 * aStep, asum + 2 * aStep, keep, rebias);
    if (nt > 3) s3 = blockEnd(q41, s3, pairs4(p3, q3), gb, dw, ad + 3 * aStep, asum + 3 * aStep, keep, rebias);
    g += q4Step(q41); x += 32; ad += 4; asum += 4;
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

/** One group of Q8_0 rows (SIMD128) against nt (1..4, a constant) tokens, as q4Tile. */
@inline function q8TileS(nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const x1 = x + xStep, x2 = x1 + xStep, x3 = x2 + xStep;
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0), p2 = i32x4.splat(0), p3 = i32x4.splat(0);
    let q0 = i32x4.splat(0), q1 = i32x4.splat(0), q2 = i32x4.splat(0), q3 = i32x4.splat(0);
    let w = v128.load(g, 8), w01 = i16x8.extend_low_i8x16_s(w), w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 0)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 0)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 0)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 0)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 24); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 4)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 4)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 4)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 4)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 40); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 8)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 8)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 8)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 8)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 56); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 12)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 12)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 12)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 12)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 72); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 16)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 16)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 16)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 16)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 88); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 20)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 20)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 20)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 20)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 104); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 24)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 24)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 24)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 24)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    w = v128.load(g, 120); w01 = i16x8.extend_low_i8x16_s(w); w23 = i16x8.extend_high_i8x16_s(w);
    { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 28)); p0 = i32x4.add(p0, i32x4.dot_i16x8_s(w01, av)); q0 = i32x4.add(q0, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 1) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x1, 28)); p1 = i32x4.add(p1, i32x4.dot_i16x8_s(w01, av)); q1 = i32x4.add(q1, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 2) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x2, 28)); p2 = i32x4.add(p2, i32x4.dot_i16x8_s(w01, av)); q2 = i32x4.add(q2, i32x4.dot_i16x8_s(w23, av)); }
    if (nt > 3) { const av = i16x8.extend_low_i8x16_s(v128.load32_splat(x3, 28)); p3 = i32x4.add(p3, i32x4.dot_i16x8_s(w01, av)); q3 = i32x4.add(q3, i32x4.dot_i16x8_s(w23, av)); }
    const dw = scales4(g, keep, rebias);
    s0 = blockSum4(false, s0, pairs4(p0, q0), dw, ad, asum);
    if (nt > 1) s1 = blockSum4(false, s1, pairs4(p1, q1), dw, ad + aStep, asum + aStep);
    if (nt > 2) s2 = blockSum4(false, s2, pairs4(p2, q2), dw, ad + 2 * aStep, asum + 2 * aStep);
    if (nt > 3) s3 = blockSum4(false, s3, pairs4(p3, q3), dw, ad + 3 * aStep, asum + 3 * aStep);
    g += 136; x += 32; ad += 4; asum += 4;
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

function q4TileS1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(false, 1, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41TileS1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(true, 1, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q4TileS2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(false, 2, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41TileS2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(true, 2, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q4TileS3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(false, 3, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41TileS3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(true, 3, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q4TileS4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(false, 4, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q41TileS4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q4TileS(true, 4, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}
function q8TileS1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, asum: usize, aStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, m: v128, keep: v128, rebias: v128): void {
  q8TileS(1, g, nb, x, xStep, ad, asum, aStep, y, yStep, lo, hi, m, keep, rebias);
}

/** SIMD128 Q4_0 or Q4_1 (q41): rows r0..r1 (grouped) for nTok tokens, as q4RowsT. */
@inline function q4RowsST(q41: bool, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2;
  const one = <i32>(nb >= 0);
  const m = i8x16.splat(<i8>(0x0f * one)), keep = scalesKeep(one), rebias = scalesRebias(one);
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      const xt = act + <usize>t * xStep, adt = ad + <usize>t * aStep, ast = asum + <usize>t * aStep, yt = yg + <usize>t * yStep;
      if (q41) q41TileS4(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
      else q4TileS4(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
    }
    const left = nTok - t, xt = act + <usize>t * xStep, adt = ad + <usize>t * aStep, ast = asum + <usize>t * aStep, yt = yg + <usize>t * yStep;
    if (q41) {
      if (left == 1) q41TileS1(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
      else if (left == 2) q41TileS2(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
      else if (left == 3) q41TileS3(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
    } else {
      if (left == 1) q4TileS1(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
      else if (left == 2) q4TileS2(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
      else if (left == 3) q4TileS3(gw, nb, xt, xStep, adt, ast, aStep, yt, yStep, lo, hi, m, keep, rebias);
    }
  }
}

/**
 * SIMD128 Q8_0: rows r0..r1 (grouped) for nTok tokens, group by group, one token at a time over
 * the group in L1: tiles of several tokens ran slower (TurboFan schedules each token's chain whole,
 * so the widened weights of all eight chunks stay live and spill).
 */
function q8RowsS(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5;
  const xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2;
  const one = <i32>(nb >= 0);
  const m = i8x16.splat(<i8>(0x0f * one)), keep = scalesKeep(one), rebias = scalesRebias(one);
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    for (let t = 0; t < nTok; t++) q8TileS1(gw, nb, act + <usize>t * xStep, xStep, ad + <usize>t * aStep, asum + <usize>t * aStep, aStep, yg + <usize>t * yStep, yStep, lo, hi, m, keep, rebias);
  }
}

/**
 * Rows r0..r1 (of the first rows & ~3, the grouped ones) for nTok tokens: group by group, tokens
 * four at a time, so a group's weights stay in L1 while every token passes over them.
 */
function q4Rows(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD) q4RowsT(false, w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  else q4RowsST(false, w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
}
function q41Rows(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, as: usize, y: usize, nTok: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD) q4RowsT(true, w, rowBytes, cols, rows, r0, r1, act, ad, as, y, nTok);
  else q4RowsST(true, w, rowBytes, cols, rows, r0, r1, act, ad, as, y, nTok);
}

@inline function rows4Matmul(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  if (type == GGML_TYPE_Q4_0) q4Rows(w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  else if (type == GGML_TYPE_Q4_1) q41Rows(w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
  else if (ASC_FEATURE_RELAXED_SIMD) q8Rows(w, rowBytes, cols, rows, r0, r1, act, ad, y, nTok);
  else q8RowsS(w, rowBytes, cols, rows, r0, r1, act, ad, asum, y, nTok);
}

/**
 * Rows r0..r1 one at a time in the same sums and order: the plain build, and the last rows % 4
 * (still in row layout) of every build. asum: Q4_0's integer activation sums, Q4_1's d * sum.
 */
export function rows4Scalar(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32, biased: bool = false): void {
  const nb = cols >> 5, head: usize = <usize>nFields(type) << 1, bb: usize = (<usize>nChunks(type) << 2) + head;
  // The relaxed build's Q8_0 activations come split (rows4_split_q8): a = p - n, 64 bytes a block;
  // except for a matrix biased by rows4_bias_q8 (rows4-q8u.ts), which reads them as they are.
  const split = ASC_FEATURE_RELAXED_SIMD && type == GGML_TYPE_Q8_0 && !biased;
  for (let r = r0; r < r1; r++) {
    // Where block b's scale and payload chunk c of row r are, in either layout.
    const grouped = r < (rows & ~3), lane = <usize>(r & 3);
    // A biased matrix's grouped payload bytes hold w ^ 0x80.
    const flip: u8 = biased && grouped ? 0x80 : 0;
    const base = grouped ? w + <usize>(r >> 2) * (rowBytes << 2) : w + <usize>r * rowBytes;
    const blockStep: usize = grouped ? bb << 2 : bb, chunkStep: usize = grouped ? 16 : 4;
    const scaleAt: usize = grouped ? lane << 1 : 0, payloadAt: usize = grouped ? (head << 2) + (lane << 2) : head;
    const minAt: usize = grouped ? 8 + (lane << 1) : 2;
    for (let t = 0; t < nTok; t++) {
      let sum: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const blk = base + <usize>b * blockStep, q = blk + payloadAt;
        const xo = <usize>t * <usize>cols + (<usize>b << 5), ab = ((<usize>t * <usize>nb + <usize>b) << 2);
        const x = act + (split ? xo << 1 : xo);
        let isum = 0;
        for (let c = 0; c < nChunks(type); c++) {
          for (let i = 0; i < 4; i++) {
            const k = (c << 2) + i, qo = q + <usize>c * chunkStep + <usize>i;
            if (type != GGML_TYPE_Q8_0) {
              const v = <i32>load<u8>(qo);
              isum += (v & 15) * <i32>load<i8>(x + k) + (v >> 4) * <i32>load<i8>(x + 16 + k);
            } else {
              isum += <i32><i8>(load<u8>(qo) ^ flip) * (split ? <i32>load<u8>(x + k) - <i32>load<u8>(x + 32 + k) : <i32>load<i8>(x + k));
            }
          }
        }
        if (type == GGML_TYPE_Q4_0) isum -= load<i32>(asum + ab) << 3;
        if (type == GGML_TYPE_Q4_1) sum += <f32>isum * (f16ToF32(load<u16>(blk + scaleAt)) * load<f32>(ad + ab)) + f16ToF32(load<u16>(blk + minAt)) * load<f32>(asum + ab);
        else sum += <f32>isum * (f16ToF32(load<u16>(blk + scaleAt)) * load<f32>(ad + ab));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), sum);
    }
  }
}

/**
 * Tokens per pass over a thread's rows in a long batch: the passes' activations (actBytes a token)
 * stay within ~512 KiB of the 2 MiB L2, where every row group streams them; without it a 512-token
 * prefill of a 4864-column product re-read 2.5 MB of activations from L3 for each group of four rows.
 * A multiple of 4 (the tiles' token count).
 */
@inline export function tokenBlock(actBytes: i32): i32 {
  return max(4, ((1 << 19) / max(actBytes, 1)) & ~3);
}

/**
 * Rows r0..r1 of a Q4_0, Q4_1 or Q8_0 matrix re-laid by rows4_pack; returns 1 for other types.
 * Activations as matmul's (Q4_1 reads the Q8_1 d * sum, `as`, where Q4_0 reads the sums `asum`).
 */
export function rows4_matmul(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, as: usize, asum: usize, y: usize, nTok: i32): i32 {
  if (type != GGML_TYPE_Q4_0 && type != GGML_TYPE_Q4_1 && type != GGML_TYPE_Q8_0) return 1;
  if (type == GGML_TYPE_Q4_1) asum = as;
  let s = r0;
  if (ASC_FEATURE_SIMD) {
    const g1 = min(r1, rows & ~3);
    if (r0 < g1) {
      // Token passes (tokenBlock): each token's activations, scales and sums, and outputs, move by
      // their strides; the relaxed build's Q8_0 activations come split, 2 bytes an element.
      const xStep = <usize>cols << <usize>(ASC_FEATURE_RELAXED_SIMD && type == GGML_TYPE_Q8_0 ? 1 : 0), aStep = <usize>(cols >> 5) << 2;
      const tb = tokenBlock(<i32>xStep);
      for (let t0 = 0; t0 < nTok; t0 += tb) {
        const n = min(tb, nTok - t0), tu = <usize>t0;
        const xt = act + tu * xStep, adt = ad + tu * aStep, ast = asum + tu * aStep, yt = y + ((tu * <usize>rows) << 2);
        if (type == GGML_TYPE_Q4_0) rows4Matmul(GGML_TYPE_Q4_0, w, rowBytes, cols, rows, r0, g1, xt, adt, ast, yt, n);
        else if (type == GGML_TYPE_Q4_1) rows4Matmul(GGML_TYPE_Q4_1, w, rowBytes, cols, rows, r0, g1, xt, adt, ast, yt, n);
        else rows4Matmul(GGML_TYPE_Q8_0, w, rowBytes, cols, rows, r0, g1, xt, adt, ast, yt, n);
      }
      s = g1;
    }
  }
  if (s >= r1) return 0;
  if (type == GGML_TYPE_Q4_0) rows4Scalar(GGML_TYPE_Q4_0, w, rowBytes, cols, rows, s, r1, act, ad, asum, y, nTok);
  else if (type == GGML_TYPE_Q4_1) rows4Scalar(GGML_TYPE_Q4_1, w, rowBytes, cols, rows, s, r1, act, ad, asum, y, nTok);
  else rows4Scalar(GGML_TYPE_Q8_0, w, rowBytes, cols, rows, s, r1, act, ad, asum, y, nTok);
  return 0;
}
