// The four-row layout of F16 matrices, built once at load in place (still 2 bytes a weight), and
// the products over it: the language model's F16 products, one token or many, all with the same
// float order, so a token's output does not depend on the batch it came in (the tiled GEMM of
// gemm.ts is faster over many tokens but sums in another order; it stays with the callers that
// opt in, the vision encoder).
//
// Layout (rows4_pack with no header, a row one block; twin: src/kernels/ref/rows4.ts): rows in
// groups of four, a group in the bytes its rows had; per pair of columns k, k + 1 one 16-byte chunk
// whose i32 lane r holds row r's two halves (k in the low 16 bits, k + 1 in the high 16). The last
// rows % 4 stay rows.
//
// Sums: every (row, token) adds its products in column order in f32, s = s + w[k] * x[k], as the
// plain build's scalar loop does; the SIMD kernels hold one row per lane, so tiling rows or tokens
// never changes a sum. Halves become f32 with integer bit operations on whole vectors (no scalar
// conversion): the high half of a lane is already at the top, `shr_s 3` puts its 15 exponent and
// mantissa bits at f32's places (sign smeared into three bits that the mask clears), and one
// multiply by 2^112 rebiases the exponent (exact for subnormals too; F16 weights hold no inf/NaN);
// the low half is shifted up 16 first.

import { f16ToF32 } from './f16';
import { storeRows, tokenBlock, scalesKeep, scalesRebias } from './rows4';

/** The f32 values of the low (k) or high (k + 1) halves of a chunk's four lanes. */
@inline function half4(c: v128, high: bool, keep: v128, rebias: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(high ? c : i32x4.shl(c, 16), 3), keep), rebias);
}

/** s + w * x for the column pair of chunk c (one group) and a token's two activations at x. */
@inline function pairMac(s: v128, c: v128, x: usize, keep: v128, rebias: v128): v128 {
  s = f32x4.add(s, f32x4.mul(half4(c, false, keep, rebias), v128.load32_splat(x)));
  return f32x4.add(s, f32x4.mul(half4(c, true, keep, rebias), v128.load32_splat(x, 4)));
}

/**
 * Four groups (g, g + gs, g + 2 gs, g + 3 gs, a quarter of the range apart: four weight streams, as
 * rows4.ts q4Decode4) against one token at x: the four sums are independent chains, so
 * the adds' latency hides behind the conversions. Group i's rows stored at y + i * yd.
 */
function decode4(g: usize, gs: usize, cols: i32, x: usize, y: usize, yd: usize, keep: v128, rebias: v128): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let g1 = g + gs, g2 = g1 + gs, g3 = g2 + gs;
  for (let k = 0; k < cols; k += 2) {
    s0 = pairMac(s0, v128.load(g), x, keep, rebias);
    s1 = pairMac(s1, v128.load(g1), x, keep, rebias);
    s2 = pairMac(s2, v128.load(g2), x, keep, rebias);
    s3 = pairMac(s3, v128.load(g3), x, keep, rebias);
    g += 16; g1 += 16; g2 += 16; g3 += 16; x += 8;
  }
  v128.store(y, s0); v128.store(y + yd, s1); v128.store(y + 2 * yd, s2); v128.store(y + 3 * yd, s3);
}

/**
 * One or two groups (ng, a constant; g and g + gs) against nt (1..4, a constant) tokens: each
 * chunk converted once for every token (token t at x + t * xStep, its rows stored at y + t * yStep,
 * the second group's yd further on). Rows lo..hi of a single group are stored.
 */
@inline function tile(ng: i32, nt: i32, g: usize, gs: usize, cols: i32, x: usize, xStep: usize, y: usize, yd: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let h = g + gs;
  for (let k = 0; k < cols; k += 2) {
    const x1 = x + xStep, x2 = x1 + xStep, x3 = x2 + xStep;
    const c = v128.load(g), el = half4(c, false, keep, rebias), eh = half4(c, true, keep, rebias);
    let fl = el, fh = eh;
    if (ng > 1) { const d = v128.load(h); fl = half4(d, false, keep, rebias); fh = half4(d, true, keep, rebias); }
    { const xl = v128.load32_splat(x), xh = v128.load32_splat(x, 4);
      a0 = f32x4.add(f32x4.add(a0, f32x4.mul(el, xl)), f32x4.mul(eh, xh));
      if (ng > 1) b0 = f32x4.add(f32x4.add(b0, f32x4.mul(fl, xl)), f32x4.mul(fh, xh)); }
    if (nt > 1) { const xl = v128.load32_splat(x1), xh = v128.load32_splat(x1, 4);
      a1 = f32x4.add(f32x4.add(a1, f32x4.mul(el, xl)), f32x4.mul(eh, xh));
      if (ng > 1) b1 = f32x4.add(f32x4.add(b1, f32x4.mul(fl, xl)), f32x4.mul(fh, xh)); }
    if (nt > 2) { const xl = v128.load32_splat(x2), xh = v128.load32_splat(x2, 4);
      a2 = f32x4.add(f32x4.add(a2, f32x4.mul(el, xl)), f32x4.mul(eh, xh));
      if (ng > 1) b2 = f32x4.add(f32x4.add(b2, f32x4.mul(fl, xl)), f32x4.mul(fh, xh)); }
    if (nt > 3) { const xl = v128.load32_splat(x3), xh = v128.load32_splat(x3, 4);
      a3 = f32x4.add(f32x4.add(a3, f32x4.mul(el, xl)), f32x4.mul(eh, xh));
      if (ng > 1) b3 = f32x4.add(f32x4.add(b3, f32x4.mul(fl, xl)), f32x4.mul(fh, xh)); }
    g += 16; h += 16; x += 8;
  }
  storeRows(y, a0, lo, hi);
  if (nt > 1) storeRows(y + yStep, a1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, a2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, a3, lo, hi);
  if (ng > 1) {
    v128.store(y + yd, b0);
    if (nt > 1) v128.store(y + yd + yStep, b1);
    if (nt > 2) v128.store(y + yd + 2 * yStep, b2);
    if (nt > 3) v128.store(y + yd + 3 * yStep, b3);
  }
}

function tile14(g: usize, cols: i32, x: usize, xStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void { tile(1, 4, g, 0, cols, x, xStep, y, 0, yStep, lo, hi, keep, rebias); }
function tile13(g: usize, cols: i32, x: usize, xStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void { tile(1, 3, g, 0, cols, x, xStep, y, 0, yStep, lo, hi, keep, rebias); }
function tile12(g: usize, cols: i32, x: usize, xStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void { tile(1, 2, g, 0, cols, x, xStep, y, 0, yStep, lo, hi, keep, rebias); }
function tile11(g: usize, cols: i32, x: usize, xStep: usize, y: usize, yStep: usize, lo: i32, hi: i32, keep: v128, rebias: v128): void { tile(1, 1, g, 0, cols, x, xStep, y, 0, yStep, lo, hi, keep, rebias); }
function tile24(g: usize, gs: usize, cols: i32, x: usize, xStep: usize, y: usize, yd: usize, yStep: usize, keep: v128, rebias: v128): void { tile(2, 4, g, gs, cols, x, xStep, y, yd, yStep, 0, 4, keep, rebias); }
function tile23(g: usize, gs: usize, cols: i32, x: usize, xStep: usize, y: usize, yd: usize, yStep: usize, keep: v128, rebias: v128): void { tile(2, 3, g, gs, cols, x, xStep, y, yd, yStep, 0, 4, keep, rebias); }
function tile22(g: usize, gs: usize, cols: i32, x: usize, xStep: usize, y: usize, yd: usize, yStep: usize, keep: v128, rebias: v128): void { tile(2, 2, g, gs, cols, x, xStep, y, yd, yStep, 0, 4, keep, rebias); }

/** One group (rows lo..hi of it) against nt tokens, four at a time. */
function groupTokens(g: usize, cols: i32, x: usize, xStep: usize, y: usize, yStep: usize, nt: i32, lo: i32, hi: i32, keep: v128, rebias: v128): void {
  let t = 0;
  for (; t + 4 <= nt; t += 4) tile14(g, cols, x + <usize>t * xStep, xStep, y + <usize>t * yStep, yStep, lo, hi, keep, rebias);
  const left = nt - t, xt = x + <usize>t * xStep, yt = y + <usize>t * yStep;
  if (left == 3) tile13(g, cols, xt, xStep, yt, yStep, lo, hi, keep, rebias);
  else if (left == 2) tile12(g, cols, xt, xStep, yt, yStep, lo, hi, keep, rebias);
  else if (left == 1) tile11(g, cols, xt, xStep, yt, yStep, lo, hi, keep, rebias);
}

/** SIMD: rows r0..r1 of the grouped rows for nTok tokens. */
function f16Rows(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, x: usize, y: usize, nTok: i32): void {
  const gs = rowBytes << 2, xStep = <usize>cols << 2, yStep = <usize>rows << 2;
  // Made from a run-time value so that V8 keeps them in registers (rows4.ts q4Rows).
  const one = <i32>(cols >= 0);
  const keep = scalesKeep(one), rebias = scalesRebias(one);
  // A partial group at either end alone; whole groups four at a time a quarter of the range apart
  // (one token) or two adjacent ones at a time (several tokens); the groups left over alone.
  const ga = (r0 + 3) >> 2, gb = r1 >> 2;
  const head = (r0 & 3) != 0, tail = (r1 & 3) != 0 && !(head && (r0 >> 2) == (r1 >> 2));
  if (head) groupTokens(w + <usize>(r0 >> 2) * gs, cols, x, xStep, y + (<usize>(r0 >> 2) << 4), yStep, nTok, r0 & 3, min(r1 - (r0 & ~3), 4), keep, rebias);
  if (tail) groupTokens(w + <usize>gb * gs, cols, x, xStep, y + (<usize>gb << 4), yStep, nTok, 0, r1 & 3, keep, rebias);
  let g = ga;
  if (nTok == 1) {
    const q = max(gb - ga, 0) >> 2, gd = <usize>q * gs, yd = <usize>q << 4;
    for (let i = 0; i < q; i++) decode4(w + <usize>(ga + i) * gs, gd, cols, x, y + (<usize>(ga + i) << 4), yd, keep, rebias);
    g = ga + 4 * q;
  } else {
    // Adjacent pairs: half the range apart measured slower here (0.5B F16 step, 4 tokens 233 -> 251 ms).
    for (; g + 2 <= gb; g += 2) {
      const gw = w + <usize>g * gs, yg = y + (<usize>g << 4);
      let t = 0;
      for (; t + 4 <= nTok; t += 4) tile24(gw, gs, cols, x + <usize>t * xStep, xStep, yg + <usize>t * yStep, 16, yStep, keep, rebias);
      const left = nTok - t, xt = x + <usize>t * xStep, yt = yg + <usize>t * yStep;
      if (left == 3) tile23(gw, gs, cols, xt, xStep, yt, 16, yStep, keep, rebias);
      else if (left == 2) tile22(gw, gs, cols, xt, xStep, yt, 16, yStep, keep, rebias);
      else if (left == 1) { tile11(gw, cols, xt, xStep, yt, yStep, 0, 4, keep, rebias); tile11(gw + gs, cols, xt, xStep, yt + 16, yStep, 0, 4, keep, rebias); }
    }
  }
  for (; g < gb; g++) groupTokens(w + <usize>g * gs, cols, x, xStep, y + (<usize>g << 4), yStep, nTok, 0, 4, keep, rebias);
}

/** Rows r0..r1 one at a time, column by column: the plain build and the last rows % 4 of every build. */
function f16Scalar(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, x: usize, y: usize, nTok: i32): void {
  for (let r = r0; r < r1; r++) {
    const grouped = r < (rows & ~3);
    // Column k of row r: in a group at pair k / 2's chunk, lane r % 4, half k % 2.
    const base = grouped ? w + <usize>(r >> 2) * (rowBytes << 2) + (<usize>(r & 3) << 2) : w + <usize>r * rowBytes;
    for (let t = 0; t < nTok; t++) {
      const xt = x + ((<usize>t * <usize>cols) << 2);
      let s: f32 = 0;
      for (let k = 0; k < cols; k++) {
        const at = grouped ? base + (<usize>(k >> 1) << 4) + (<usize>(k & 1) << 1) : base + (<usize>k << 1);
        s += f16ToF32(load<u16>(at)) * load<f32>(xt + (<usize>k << 2));
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), s);
    }
  }
}

/**
 * Rows r0..r1 of an F16 matrix re-laid by rows4_pack (no header: a row is one block of 4-byte
 * chunks) against nTok tokens of f16-rounded f32 activations at x (cols apart); y[t * rows + r].
 */
export function f16r4_matmul(w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, x: usize, y: usize, nTok: i32): i32 {
  let s = r0;
  if (ASC_FEATURE_SIMD) {
    const g1 = min(r1, rows & ~3);
    if (r0 < g1) {
      // Token passes as rows4.ts does (tokenBlock), so that a pass's activations stay in L2.
      const xStep = <usize>cols << 2, tb = tokenBlock(<i32>xStep);
      for (let t0 = 0; t0 < nTok; t0 += tb) {
        const tu = <usize>t0;
        f16Rows(w, rowBytes, cols, rows, r0, g1, x + tu * xStep, y + ((tu * <usize>rows) << 2), min(tb, nTok - t0));
      }
      s = g1;
    }
  }
  if (s < r1) f16Scalar(w, rowBytes, cols, rows, s, r1, x, y, nTok);
  return 0;
}
