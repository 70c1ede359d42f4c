// Shared pieces of ggml's super-block ("K") quantizers: nearest_int, the scale searches
// make_qx_quants / make_q3_quants / make_qkx2_quants, and the 6-bit scale/min packing of Q4_K/Q5_K.
// ggml-quants.c computes in float32 without FMA (ggml-base is built without -march flags), so every
// float operation here is rounded with fround to reproduce its bytes; keep the operation order.

import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import { writeU16 } from './views.js';

const fr = Math.fround;

export const QK_K = 256;
/** GROUP_MAX_EPS: a group whose largest |x| is below this quantizes to zeros. */
export const GROUP_MAX_EPS = fr(1e-15);

const nf = new Float32Array(1);
const ni = new Int32Array(nf.buffer);
const MAGIC = 12582912; // 1.5 * 2^23

/**
 * ggml's nearest_int: round a float32 to the nearest integer, ties to even, by the 1.5*2^23 trick.
 * In range, adding in float32 and subtracting back is the same rounding without a memory round
 * trip; outside it (and for NaN) the bit pattern is reproduced, garbage included.
 */
export function nearestInt(v: number): number {
  if (v <= 4194303 && v >= -4194303) return fr(v + MAGIC) - MAGIC;
  nf[0] = v + MAGIC;
  return (ni[0]! & 0x7fffff) - 0x400000;
}

/**
 * make_qx_quants with rmse_type 1 and no importance weights (w = x^2): symmetric quants in
 * [0, 2*nmax) written to L[lOff..] and the best scale over 19 candidate inverse scales.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xOff: number, L: Int8Array | Uint8Array, lOff: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xOff + i]!);
    if (ax > amax) { amax = ax; max = x[xOff + i]!; }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lOff + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i]!;
    let l = nearestInt(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lOff + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i]!;
      let l = nearestInt(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fr(iscale * x[xOff + i]!));
        L[lOff + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** make_q3_quants with do_rmse: symmetric quants refined by up to 5 coordinate-descent sweeps. */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xOff: number, L: Int8Array, lOff: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xOff + i]!);
    if (ax > amax) { amax = ax; max = x[xOff + i]!; }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lOff + i] = 0;
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i]!;
    let l = nearestInt(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lOff + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i]!;
      const li = L[lOff + i]!;
      const w = fr(xi * xi);
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        let newL = nearestInt(fr(fr(xi * sl2) / slx));
        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
        if (newL !== li) {
          slx = fr(slx + fr(fr(w * xi) * newL));
          sl2 = fr(sl2 + fr(fr(w * newL) * newL));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[lOff + i] = newL; sumlx = slx; suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  for (let i = 0; i < n; i++) L[lOff + i] = L[lOff + i]! + nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/**
 * make_qkx2_quants: asymmetric quants in [0, nmax] with a scale and a (non-positive) min, chosen
 * by a weighted least-squares fit over nstep+1 candidate inverse scales. Returns the scale and
 * writes -min to theMin[minIdx].
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xOff: number, weights: Float32Array, L: Uint8Array, lOff: number,
  theMin: Float32Array, minIdx: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  let min = x[xOff]!, max = x[xOff]!;
  let sumW = weights[0]!;
  let sumX = fr(sumW * x[xOff]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xOff + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lOff + i] = 0;
    theMin[minIdx] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
    L[lOff + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i]! * diff));
  }
  if (nstep < 1) {
    theMin[minIdx] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // min moves when a candidate wins, and later candidates start from it (as in ggml).
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      Laux[i] = l;
      const w = weights[i]!;
      const wl = fr(w * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[xOff + i]!);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lOff + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  theMin[minIdx] = -min;
  return scale;
}

/** get_scale_min_k4: the 6-bit scale and min of sub-block j from a Q4_K/Q5_K 12-byte scales field. */
export function scaleMinK4(j: number, q: Uint8Array, off: number, out: Uint8Array): void {
  if (j < 4) {
    out[0] = q[off + j]! & 63;
    out[1] = q[off + j + 4]! & 63;
  } else {
    out[0] = (q[off + j + 4]! & 0xf) | ((q[off + j - 4]! >> 6) << 4);
    out[1] = (q[off + j + 4]! >> 4) | ((q[off + j]! >> 6) << 4);
  }
}

/**
 * The shared quantizer of Q4_K and Q5_K (they differ in nmax, the search grid and the bit packing):
 * per 32-element sub-block a make_qkx2_quants fit, then 6-bit scales and mins relative to the block
 * maxima, then the quants recomputed against the rounded scales. Writes d, dmin and the 12 scale
 * bytes at `o` and the quants (0..nmax) to L.
 */
export function quantizeScaleMinBlock(
  x: Float32Array, xOff: number, dst: Uint8Array, o: number, L: Uint8Array, nmax: number, rmin: number, nstep: number, s: KScratch,
): void {
  const { weights, mins, scales, Laux, sm } = s;
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xo = xOff + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l]! * x[xo + l]!));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[xo + l]!));
    const sc = makeQkx2Quants(32, nmax, x, xo, weights, L, 32 * j, mins, j, Laux, rmin, fr(0.1), nstep, false);
    scales[j] = sc;
    if (sc > maxScale) maxScale = sc;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const so = o + 4;
  for (let j = 0; j < 12; j++) dst[so + j] = 0;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      dst[so + j] = ls;
      dst[so + j + 4] = lm;
    } else {
      dst[so + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      dst[so + j - 4] |= (ls >> 4) << 6;
      dst[so + j] |= (lm >> 4) << 6;
    }
  }
  const dBits = f32ToF16(fr(maxScale / 63));
  const mBits = f32ToF16(fr(maxMin / 63));
  writeU16(dst, o, dBits);
  writeU16(dst, o + 2, mBits);
  const d0 = F16_TO_F32[dBits]!, m0 = F16_TO_F32[mBits]!;
  for (let j = 0; j < 8; j++) {
    scaleMinK4(j, dst, so, sm);
    const d = fr(d0 * sm[0]!);
    if (!d) continue;
    const dm = fr(m0 * sm[1]!);
    const xo = xOff + 32 * j;
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xo + ii]! + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

/** Scratch buffers for one quantizer call, allocated once per module. */
export interface KScratch {
  weights: Float32Array;
  mins: Float32Array;
  scales: Float32Array;
  Laux: Uint8Array;
  sm: Uint8Array;
}

export function kScratch(): KScratch {
  return { weights: new Float32Array(32), mins: new Float32Array(16), scales: new Float32Array(16), Laux: new Uint8Array(32), sm: new Uint8Array(2) };
}
