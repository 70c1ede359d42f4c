// Many-token products of F16 and F32 matrices: a tiled GEMM for the vision encoder's patches (1024
// tokens a slice), its attention's per-head products and long prefills. Not for decode: matmul.ts's
// dot products read each weight once for a few tokens; this pays a copy of the activations and of
// each weight block to be fast over many.
//
// The caller packs the activations once per product (gemm_pack_x, F16's rounding to f16 folded in):
// tokens in groups of four, k-major, [group][k][4 tokens], the last group padded with zeros. Each
// thread then takes its rows in panels of GEMM_PANEL: per block of GEMM_KC columns it converts
// the panel's weights to f32 once, laid k-major by eight rows ([k][8 rows], two f32x4), into the
// scratch at row r0 * GEMM_KC (rows never overlap between threads, so one scratch serves all), and
// runs the tokens against every eight rows six at a time (micro8x6: twelve f32x4 accumulators, per
// k two weight loads and six splats feeding twelve multiply-adds), the last groups one at a time.
//
// Order of the sums (the twin, src/kernels/ref/gemm.ts, repeats it): for each (row, token), per
// block of GEMM_KC columns a sum s over k in order, s = s + w * x (one fused multiply-add under
// relaxed SIMD, where the engine fuses), then y = y + s. Every build and split gives that.

import { f16ToF32, roundF16, roundF16x4 } from './f16';
import { GGML_TYPE_F16 } from './types.generated';

/** Set in matmul's type argument: act is gemm_pack_x's layout and ad the weight panels' scratch. */
export const GEMM_FLAG: i32 = 0x20000;
/**
 * With GEMM_FLAG, F32 only: the matrix is stored transposed, element (r, k) at w + k * rowBytes + 4r
 * (attention's V read as V^T without a copy).
 */
export const GEMM_WT: i32 = 0x40000;
/** Columns of one block of the reduction (the twin's GEMM_KC). */
const KC: i32 = 256;
/** Rows converted before the token loop: KC floats each, 256 KiB, in L2 while the tokens pass (64 rows: 10% slower at K = 4320). */
const PANEL: i32 = 256;

/** Bytes of gemm_pack_x's layout for nTok tokens of cols. */
export function gemmPackedBytes(cols: i32, nTok: i32): i32 {
  return ((nTok + 3) & ~3) * cols << 2;
}

/** Bytes of the weight-panel scratch of a product of `rows` rows. */
export function gemmPanelBytes(rows: i32): i32 {
  return ((rows + 7) & ~7) * KC << 2;
}

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** The 4x4 transpose of rows a, b, c, e: column j (lane j of each) as four floats at d + j * step. */
@inline export function storeT(d: usize, step: usize, a: v128, b: v128, c: v128, e: v128): void {
  const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), t1 = v128.shuffle<i32>(c, e, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), t3 = v128.shuffle<i32>(c, e, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<i64>(t0, t1, 0, 2));
  v128.store(d + step, v128.shuffle<i64>(t0, t1, 1, 3));
  v128.store(d + 2 * step, v128.shuffle<i64>(t2, t3, 0, 2));
  v128.store(d + 3 * step, v128.shuffle<i64>(t2, t3, 1, 3));
}

/** Four floats rounded to f16 as roundF16 rounds them: vector where all four are normal halves, else one by one. */
@inline function round4(v: v128, lo: v128, span: v128): v128 {
  // |v| in [2^-14, 65520): roundF16x4 is exact there; below (f16 subnormals, zero) or above (inf) go scalar.
  if (i32x4.all_true(i32x4.lt_u(i32x4.sub(v128.and(v, i32x4.splat(0x7fffffff)), lo), span))) return roundF16x4(v);
  let r = f32x4.splat(roundF16(f32x4.extract_lane(v, 0)));
  r = f32x4.replace_lane(r, 1, roundF16(f32x4.extract_lane(v, 1)));
  r = f32x4.replace_lane(r, 2, roundF16(f32x4.extract_lane(v, 2)));
  return f32x4.replace_lane(r, 3, roundF16(f32x4.extract_lane(v, 3)));
}

/**
 * x (nTok rows of cols floats, xStride floats apart) -> dst [ceil(nTok / 4)][cols][4] floats, rounded
 * to f16 when `round` (F16 weights: ggml converts the activations to f16 for its f16 dot product).
 */
export function gemm_pack_x(x: usize, cols: i32, xStride: i32, nTok: i32, dst: usize, round: i32): void {
  const groups = (nTok + 3) >> 2, rb = <usize>cols << 2, xs = <usize>xStride << 2;
  for (let g = 0; g < groups; g++) {
    const base = dst + <usize>g * (rb << 2);
    let k = 0;
    if (ASC_FEATURE_SIMD && (g << 2) + 4 <= nTok) {
      // Four tokens by four columns: load, round, transpose, store.
      const s0 = x + <usize>(g << 2) * xs, s1 = s0 + xs, s2 = s1 + xs, s3 = s2 + xs;
      const lo = i32x4.splat(0x38800000), span = i32x4.splat(0x477ff000 - 0x38800000);
      for (; k + 4 <= cols; k += 4) {
        const o = <usize>k << 2;
        let a = v128.load(s0 + o), b = v128.load(s1 + o), c = v128.load(s2 + o), e = v128.load(s3 + o);
        if (round) { a = round4(a, lo, span); b = round4(b, lo, span); c = round4(c, lo, span); e = round4(e, lo, span); }
        storeT(base + (<usize>k << 4), 16, a, b, c, e);
      }
    }
    for (let j = 0; j < 4; j++) {
      const t = (g << 2) + j;
      let d = base + (<usize>k << 4) + (<usize>j << 2);
      if (t >= nTok) {
        for (let kk = k; kk < cols; kk++) { store<f32>(d, 0); d += 16; }
        continue;
      }
      const src = x + <usize>t * xs;
      if (round) for (let kk = k; kk < cols; kk++) { store<f32>(d, roundF16(load<f32>(src + (<usize>kk << 2)))); d += 16; }
      else for (let kk = k; kk < cols; kk++) { store<f32>(d, load<f32>(src + (<usize>kk << 2))); d += 16; }
    }
  }
}

/** Four f16 at p as f32 lanes (sign-extended, the sign and 15 bits kept, rebiased: exact, subnormals too). */
@inline function half4(p: usize): v128 {
  return f32x4.mul(v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8fffe000)), f32x4.splat(reinterpret<f32>(0x77800000)));
}

/**
 * Rows m..m+nr (nr <= 8) of the weights, columns k0..k0+kc, as f32 at dst: [k][8 rows], rows past
 * nr zero. Four rows by four columns at a time through a 4x4 transpose where the block is whole.
 */
function packW(f16: bool, w: usize, rowBytes: usize, m: i32, nr: i32, k0: i32, kc: i32, dst: usize): void {
  const es: usize = f16 ? 2 : 4;
  const src = w + <usize>m * rowBytes + <usize>k0 * es;
  let k = 0;
  if (ASC_FEATURE_SIMD && nr == 8) {
    for (; k + 4 <= kc; k += 4) {
      const ko = <usize>k * es, d = dst + (<usize>k << 5);
      for (let h = 0; h < 2; h++) {
        const r = src + <usize>(h << 2) * rowBytes + ko;
        const a = f16 ? half4(r) : v128.load(r);
        const b = f16 ? half4(r + rowBytes) : v128.load(r + rowBytes);
        const c = f16 ? half4(r + 2 * rowBytes) : v128.load(r + 2 * rowBytes);
        const e = f16 ? half4(r + 3 * rowBytes) : v128.load(r + 3 * rowBytes);
        storeT(d + (<usize>h << 4), 32, a, b, c, e);
      }
    }
  }
  for (let i = 0; i < 8; i++) {
    const r = src + <usize>i * rowBytes;
    for (let kk = k; kk < kc; kk++) {
      const v: f32 = i >= nr ? 0 : f16 ? f16ToF32(load<u16>(r + (<usize>kk << 1))) : load<f32>(r + (<usize>kk << 2));
      store<f32>(dst + (<usize>kk << 5) + (<usize>i << 2), v);
    }
  }
}

/** packW for a transposed F32 matrix (GEMM_WT): each k's eight rows are already side by side. */
function packWT(w: usize, rowBytes: usize, m: i32, nr: i32, k0: i32, kc: i32, dst: usize): void {
  const src = w + <usize>k0 * rowBytes + (<usize>m << 2);
  let k = 0;
  if (ASC_FEATURE_SIMD && nr == 8) {
    for (; k < kc; k++) {
      const s = src + <usize>k * rowBytes, d = dst + (<usize>k << 5);
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
    }
  }
  for (; k < kc; k++) {
    const s = src + <usize>k * rowBytes, d = dst + (<usize>k << 5);
    for (let i = 0; i < 8; i++) store<f32>(d + (<usize>i << 2), i < nr ? load<f32>(s + (<usize>i << 2)) : 0);
  }
}

/** y (four floats, n of them valid: rows past the matrix's end are not touched) = s when first, else y + s. */
@inline function accumulate(y: usize, s: v128, n: i32, first: bool): void {
  if (n >= 4) {
    v128.store(y, first ? s : f32x4.add(v128.load(y), s));
    return;
  }
  if (n > 0) store<f32>(y, first ? f32x4.extract_lane(s, 0) : load<f32>(y) + f32x4.extract_lane(s, 0));
  if (n > 1) store<f32>(y, first ? f32x4.extract_lane(s, 1) : load<f32>(y, 4) + f32x4.extract_lane(s, 1), 4);
  if (n > 2) store<f32>(y, first ? f32x4.extract_lane(s, 2) : load<f32>(y, 8) + f32x4.extract_lane(s, 2), 8);
}

/**
 * Eight packed rows (p: [k][8]) against six tokens: four at xa (a whole packed group) and two at xb
 * (half of one: its first or last two), over kc columns; adds the block's sums into the y rows of
 * the first na (4 at most) of the four at ya and the first nb (2 at most) of the two at yb, nr
 * valid rows (8 at most). Twelve accumulators: with the two weight vectors and one splat, 15 of
 * x64's 16 xmm registers (V8 keeps one as scratch), so none spills; eight (8 rows x 4 tokens) left
 * the multiply-adds waiting on their 4-cycle latency.
 */
function micro8x6(p: usize, xa: usize, xb: usize, kc: i32, ya: usize, yb: usize, yStride: usize, nr: i32, na: i32, nb: i32, first: bool): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
  for (let k = 0; k < kc; k++) {
    const w0 = v128.load(p), w1 = v128.load(p, 16);
    let s = v128.load32_splat(xa);
    a0 = madd(w0, s, a0); b0 = madd(w1, s, b0);
    s = v128.load32_splat(xa, 4);
    a1 = madd(w0, s, a1); b1 = madd(w1, s, b1);
    s = v128.load32_splat(xa, 8);
    a2 = madd(w0, s, a2); b2 = madd(w1, s, b2);
    s = v128.load32_splat(xa, 12);
    a3 = madd(w0, s, a3); b3 = madd(w1, s, b3);
    s = v128.load32_splat(xb);
    a4 = madd(w0, s, a4); b4 = madd(w1, s, b4);
    s = v128.load32_splat(xb, 4);
    a5 = madd(w0, s, a5); b5 = madd(w1, s, b5);
    p += 32; xa += 16; xb += 16;
  }
  const lo = nr < 4 ? nr : 4, hi = nr - 4;
  if (na > 0) { accumulate(ya, a0, lo, first); accumulate(ya + 16, b0, hi, first); }
  if (na > 1) { ya += yStride; accumulate(ya, a1, lo, first); accumulate(ya + 16, b1, hi, first); }
  if (na > 2) { ya += yStride; accumulate(ya, a2, lo, first); accumulate(ya + 16, b2, hi, first); }
  if (na > 3) { ya += yStride; accumulate(ya, a3, lo, first); accumulate(ya + 16, b3, hi, first); }
  if (nb > 0) { accumulate(yb, a4, lo, first); accumulate(yb + 16, b4, hi, first); }
  if (nb > 1) { yb += yStride; accumulate(yb, a5, lo, first); accumulate(yb + 16, b5, hi, first); }
}

/** Eight rows against one group of four tokens without SIMD: micro8x6's sums in the same order, one (row, token) at a time. */
function micro8x4Scalar(p: usize, xq: usize, kc: i32, y: usize, yStride: usize, nr: i32, nt: i32, first: bool): void {
  for (let j = 0; j < nt; j++) {
    for (let i = 0; i < nr; i++) {
      let s: f32 = 0;
      for (let k = 0; k < kc; k++) s += load<f32>(p + (<usize>k << 5) + (<usize>i << 2)) * load<f32>(xq + (<usize>k << 4) + (<usize>j << 2));
      const o = y + <usize>j * yStride + (<usize>i << 2);
      store<f32>(o, first ? s : load<f32>(o) + s);
    }
  }
}

/**
 * y[t * rows + r] = W[r] . x[t] for rows r0..r1 (r0 a multiple of 8: the scratch slots of panels
 * are row-indexed), all nTok tokens; xq from gemm_pack_x, scratch roundUp(rows, 8) * KC floats.
 */
export function gemm_f(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, xq: usize, scratch: usize, y: usize, nTok: i32): void {
  const wt = (type & GEMM_WT) != 0, f16 = (type & ~GEMM_WT) == GGML_TYPE_F16;
  const yStride = <usize>rows << 2, gStride = <usize>cols << 4, groups = (nTok + 3) >> 2;
  for (let p0 = r0; p0 < r1; p0 += PANEL) {
    const p1 = min(r1, p0 + PANEL);
    for (let k0 = 0; k0 < cols; k0 += KC) {
      const kc = min(KC, cols - k0), first = k0 == 0;
      for (let m = p0; m < p1; m += 8) {
        const dst = scratch + <usize>m * (<usize>KC << 2);
        if (wt) packWT(w, rowBytes, m, min(8, p1 - m), k0, kc, dst);
        else packW(f16, w, rowBytes, m, min(8, p1 - m), k0, kc, dst);
      }
      let g = 0;
      // Whole groups three at a time (twelve tokens) as two six-token tiles: the first four of group
      // g with the first two of g + 1, then g + 2 with the last two of g + 1; the rest one group at a time.
      if (ASC_FEATURE_SIMD) for (; (g + 3) << 2 <= nTok; g += 3) {
        const xg = xq + <usize>g * gStride + (<usize>k0 << 4), yg = y + <usize>(g << 2) * yStride;
        for (let m = p0; m < p1; m += 8) {
          const pm = scratch + <usize>m * (<usize>KC << 2), ym = yg + (<usize>m << 2), nr = min(8, p1 - m);
          micro8x6(pm, xg, xg + gStride, kc, ym, ym + 4 * yStride, yStride, nr, 4, 2, first);
          micro8x6(pm, xg + 2 * gStride, xg + gStride + 8, kc, ym + 8 * yStride, ym + 6 * yStride, yStride, nr, 4, 2, first);
        }
      }
      for (; g < groups; g++) {
        const xg = xq + <usize>g * gStride + (<usize>k0 << 4), nt = min(4, nTok - (g << 2));
        const yg = y + <usize>(g << 2) * yStride;
        for (let m = p0; m < p1; m += 8) {
          const pm = scratch + <usize>m * (<usize>KC << 2), ym = yg + (<usize>m << 2);
          // A group alone (the last ones): the tile's two extra tokens read it again and are dropped.
          if (ASC_FEATURE_SIMD) micro8x6(pm, xg, xg, kc, ym, ym, yStride, min(8, p1 - m), nt, 0, first);
          else micro8x4Scalar(pm, xg, kc, ym, yStride, min(8, p1 - m), nt, first);
        }
      }
    }
  }
}
