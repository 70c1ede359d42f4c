// Table-lookup (T-MAC) kernels: activation tables, the 16-row tile product and its epilogue, and
// the re-layout of weights into tiles at load.

import { f16ToF32, f32ToF16, halfx4 } from './f16';
import { trit, trits16 } from './dot';
import { LUT_PACK_Q4_0, LUT_PACK_Q4_1, LUT_PACK_TQ2_0, LUT_PACK_TQ1_0, LUT_PACK_INT_SYM } from './types.generated';

// Layout, tables and the f32 epilogue are described in src/kernels/lut-layout.ts and
// src/kernels/ref/lut.ts (the twin these must match exactly). One i8x16.swizzle looks up 16 rows'
// 4-bit indices in one slice's 16-entry table; int16 sums are widened to int32 every 256 elements,
// before they can overflow.

/** int8 tables of nTok rows of cols floats: 16 bytes per 4 activations; per group h = ts/2 and A. */
export function lut_tables(x: usize, cols: i32, nTok: i32, group: i32, tbl: usize, th: usize, tA: usize): void {
  const nG = cols / group;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const e0 = t * cols + g * group;
      const base = x + (<usize>e0 << 2);
      let mx: f32 = 0;
      for (let s = 0; s < group; s += 4) {
        const p = base + (<usize>s << 2);
        const m: f32 = ((abs<f32>(load<f32>(p)) + abs<f32>(load<f32>(p, 4))) + abs<f32>(load<f32>(p, 8))) + abs<f32>(load<f32>(p, 12));
        if (m > mx) mx = m;
      }
      const ts: f32 = mx / <f32>127;
      const inv: f32 = mx > 0 ? <f32>127 / mx : <f32>0;
      let o = tbl + (<usize>e0 << 2);
      for (let s = 0; s < group; s += 4) {
        table8(base + (<usize>s << 2), inv, o);
        o += 16;
      }
      let sum: f32 = 0;
      for (let i = 0; i < group; i++) sum += load<f32>(base + (<usize>i << 2));
      const gi = <usize>(t * nG + g) << 2;
      store<f32>(th + gi, ts * <f32>0.5);
      store<f32>(tA + gi, sum);
    }
  }
}

/** The 16 signed sums of the 4 floats at p, quantized by inv: 8 computed, 8 mirrored (T[15-p] = -T[p]). */
@inline function table8(p: usize, inv: f32, o: usize): void {
  if (ASC_FEATURE_SIMD) {
    const a0 = f32x4.splat(load<f32>(p)), a1 = f32x4.splat(load<f32>(p, 4)), a2 = load<f32>(p, 8), a3 = f32x4.splat(load<f32>(p, 12));
    // Lane k of the low half is entry k, of the high half entry 4 + k: bit 0 signs a0, bit 1 a1, bit 2 a2.
    const s0 = f32x4(-1, 1, -1, 1), s1 = f32x4(-1, -1, 1, 1);
    const ab = f32x4.add(f32x4.mul(a0, s0), f32x4.mul(a1, s1));
    const lo = f32x4.sub(f32x4.add(ab, f32x4.splat(-a2)), a3);
    const hi = f32x4.sub(f32x4.add(ab, f32x4.splat(a2)), a3);
    const iv = f32x4.splat(inv), lim = i32x4.splat(127), nlim = i32x4.splat(-127);
    const qlo = i32x4.max_s(nlim, i32x4.min_s(lim, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(lo, iv)))));
    const qhi = i32x4.max_s(nlim, i32x4.min_s(lim, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(hi, iv)))));
    const q = i16x8.narrow_i32x4_s(qlo, qhi);
    const m = i16x8.neg(q);
    const rev = i8x16.shuffle(m, m, 14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1);
    v128.store(o, i8x16.narrow_i16x8_s(q, rev));
  } else {
    const a0 = load<f32>(p), a1 = load<f32>(p, 4), a2 = load<f32>(p, 8), a3 = load<f32>(p, 12);
    for (let k = 0; k < 8; k++) {
      const v: f32 = (((k & 1) ? a0 : -a0) + ((k & 2) ? a1 : -a1) + ((k & 4) ? a2 : -a2)) - a3;
      let q = <i32>nearest<f32>(v * inv);
      if (q > 127) q = 127;
      if (q < -127) q = -127;
      store<i8>(o + k, <i8>q);
      store<i8>(o + 15 - k, <i8>-q);
    }
  }
}

/** int8 activations per group of any size for exact tables: d = max|x| / 127, q = nearest(x * 127/max). */
export function lut_quantize_acts(x: usize, cols: i32, nTok: i32, group: i32, qs: usize, d: usize): void {
  const nG = cols / group;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const e0 = t * cols + g * group;
      let amax: f32 = 0;
      for (let i = 0; i < group; i++) amax = max<f32>(amax, abs<f32>(load<f32>(x + (<usize>(e0 + i) << 2))));
      const id: f32 = amax > 0 ? <f32>127 / amax : <f32>0;
      for (let i = 0; i < group; i++) store<i8>(qs + <usize>(e0 + i), <i8><i32>nearest<f32>(load<f32>(x + (<usize>(e0 + i) << 2)) * id));
      store<f32>(d + (<usize>(t * nG + g) << 2), amax / <f32>127);
    }
  }
}

/** Exact tables from int8 activations qs with one scale d per group: int16 entries, low then high bytes. */
export function lut_tables_exact(qs: usize, d: usize, cols: i32, nTok: i32, group: i32, tbl: usize, th: usize, tA: usize): void {
  const nG = cols / group;
  for (let t = 0; t < nTok; t++) {
    for (let g = 0; g < nG; g++) {
      const e0 = t * cols + g * group;
      let sum = 0;
      for (let s = 0; s < group; s += 4) {
        const p = qs + <usize>(e0 + s);
        const a0 = <i32>load<i8>(p), a1 = <i32>load<i8>(p, 1), a2 = <i32>load<i8>(p, 2), a3 = <i32>load<i8>(p, 3);
        const o = tbl + (<usize>(e0 + s) << 3);
        for (let k = 0; k < 8; k++) {
          const v = ((k & 1) ? a0 : -a0) + ((k & 2) ? a1 : -a1) + ((k & 4) ? a2 : -a2) - a3;
          store<u8>(o + k, <u8>(v & 0xff)); store<u8>(o + 16 + k, <u8>((v >> 8) & 0xff));
          store<u8>(o + 15 - k, <u8>(-v & 0xff)); store<u8>(o + 31 - k, <u8>((-v >> 8) & 0xff));
        }
        sum += a0 + a1 + a2 + a3;
      }
      const gi = <usize>(t * nG + g) << 2;
      const dg = load<f32>(d + gi);
      store<f32>(th + gi, dg * <f32>0.5);
      store<f32>(tA + gi, dg * <f32>sum);
    }
  }
}
/** acc += s * (L * h + cA) (+ o * A) for four rows: the twin of lutEpilogue. */
@inline function lutEpi(acc: v128, L: v128, s: v128, hv: v128, cA: v128, offKind: i32, o: v128, Av: v128): v128 {
  acc = f32x4.add(acc, f32x4.mul(s, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(L), hv), cA)));
  if (offKind == 1) acc = f32x4.add(acc, f32x4.mul(o, Av));
  else if (offKind == 2) acc = f32x4.add(acc, f32x4.mul(f32x4.neg(f32x4.mul(s, o)), Av));
  return acc;
}

/** One 16-row tile against one token's tables, B-bit codes, int8 (exact = 0) or int16 (exact = 1) tables. */
@inline function lutTile(B: i32, exact: i32, tp: usize, groups: i32, group: i32, groupBytes: i32, codeOff: i32, offKind: i32, zc: f32, tb: usize, th: usize, tA: usize, out: usize, n: i32): void {
  const zero = i32x4.splat(0), mask = i8x16.splat(0x0f);
  let f0 = zero, f1 = zero, f2 = zero, f3 = zero;
  for (let g = 0; g < groups; g++) {
    const go = tp + <usize>g * <usize>groupBytes;
    let cp = go + <usize>codeOff;
    let s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    for (let left = group; left > 0; left -= 256) {
      const chunk = left < 256 ? left : 256;
      // Per plane j: a = rows 0..7, b = rows 8..15 (int8 tables); exact: u/v the low bytes, w/x the high.
      let a0 = zero, b0 = zero, a1 = zero, b1 = zero, a2 = zero, b2 = zero, a3 = zero, b3 = zero;
      let w0 = zero, x0 = zero, w1 = zero, x1 = zero, w2 = zero, x2 = zero, w3 = zero, x3 = zero;
      // Planes unrolled by hand (B is a constant after inlining): accumulators stay in registers.
      for (let e = 0; e < chunk; e += 8) {
        if (exact == 0) {
          const T0 = v128.load(tb), T1 = v128.load(tb, 16);
          tb += 32;
          let v = v128.load(cp);
          let r0 = i8x16.swizzle(T0, v128.and(v, mask)), r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
          a0 = i16x8.add(a0, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
          b0 = i16x8.add(b0, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          if (B > 1) {
            v = v128.load(cp, 16);
            r0 = i8x16.swizzle(T0, v128.and(v, mask)); r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
            a1 = i16x8.add(a1, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
            b1 = i16x8.add(b1, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          }
          if (B > 2) {
            v = v128.load(cp, 32);
            r0 = i8x16.swizzle(T0, v128.and(v, mask)); r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
            a2 = i16x8.add(a2, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
            b2 = i16x8.add(b2, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          }
          if (B > 3) {
            v = v128.load(cp, 48);
            r0 = i8x16.swizzle(T0, v128.and(v, mask)); r1 = i8x16.swizzle(T1, v128.and(i16x8.shr_u(v, 4), mask));
            a3 = i16x8.add(a3, i16x8.add(i16x8.extend_low_i8x16_s(r0), i16x8.extend_low_i8x16_s(r1)));
            b3 = i16x8.add(b3, i16x8.add(i16x8.extend_high_i8x16_s(r0), i16x8.extend_high_i8x16_s(r1)));
          }
        } else {
          const L0 = v128.load(tb), H0 = v128.load(tb, 16), L1 = v128.load(tb, 32), H1 = v128.load(tb, 48);
          tb += 64;
          for (let j = 0; j < B; j++) {
            const v = v128.load(cp + (<usize>j << 4));
            const i0 = v128.and(v, mask), i1 = v128.and(i16x8.shr_u(v, 4), mask);
            const l0 = i8x16.swizzle(L0, i0), l1 = i8x16.swizzle(L1, i1), h0 = i8x16.swizzle(H0, i0), h1 = i8x16.swizzle(H1, i1);
            const ua = i16x8.add(i16x8.extend_low_i8x16_u(l0), i16x8.extend_low_i8x16_u(l1));
            const ub = i16x8.add(i16x8.extend_high_i8x16_u(l0), i16x8.extend_high_i8x16_u(l1));
            const ha = i16x8.add(i16x8.extend_low_i8x16_s(h0), i16x8.extend_low_i8x16_s(h1));
            const hb = i16x8.add(i16x8.extend_high_i8x16_s(h0), i16x8.extend_high_i8x16_s(h1));
            if (j == 0) { a0 = i16x8.add(a0, ua); b0 = i16x8.add(b0, ub); w0 = i16x8.add(w0, ha); x0 = i16x8.add(x0, hb); }
            else if (j == 1) { a1 = i16x8.add(a1, ua); b1 = i16x8.add(b1, ub); w1 = i16x8.add(w1, ha); x1 = i16x8.add(x1, hb); }
            else if (j == 2) { a2 = i16x8.add(a2, ua); b2 = i16x8.add(b2, ub); w2 = i16x8.add(w2, ha); x2 = i16x8.add(x2, hb); }
            else { a3 = i16x8.add(a3, ua); b3 = i16x8.add(b3, ub); w3 = i16x8.add(w3, ha); x3 = i16x8.add(x3, hb); }
          }
        }
        cp += <usize>(B << 4);
      }
      // Widen to int32 and weight plane j by 2^j (exact: low bytes unsigned, high bytes * 256).
      if (exact == 0) {
        s0 = i32x4.add(s0, i32x4.extend_low_i16x8_s(a0)); s1 = i32x4.add(s1, i32x4.extend_high_i16x8_s(a0));
        s2 = i32x4.add(s2, i32x4.extend_low_i16x8_s(b0)); s3 = i32x4.add(s3, i32x4.extend_high_i16x8_s(b0));
        if (B > 1) {
          s0 = i32x4.add(s0, i32x4.shl(i32x4.extend_low_i16x8_s(a1), 1)); s1 = i32x4.add(s1, i32x4.shl(i32x4.extend_high_i16x8_s(a1), 1));
          s2 = i32x4.add(s2, i32x4.shl(i32x4.extend_low_i16x8_s(b1), 1)); s3 = i32x4.add(s3, i32x4.shl(i32x4.extend_high_i16x8_s(b1), 1));
        }
        if (B > 2) {
          s0 = i32x4.add(s0, i32x4.shl(i32x4.extend_low_i16x8_s(a2), 2)); s1 = i32x4.add(s1, i32x4.shl(i32x4.extend_high_i16x8_s(a2), 2));
          s2 = i32x4.add(s2, i32x4.shl(i32x4.extend_low_i16x8_s(b2), 2)); s3 = i32x4.add(s3, i32x4.shl(i32x4.extend_high_i16x8_s(b2), 2));
        }
        if (B > 3) {
          s0 = i32x4.add(s0, i32x4.shl(i32x4.extend_low_i16x8_s(a3), 3)); s1 = i32x4.add(s1, i32x4.shl(i32x4.extend_high_i16x8_s(a3), 3));
          s2 = i32x4.add(s2, i32x4.shl(i32x4.extend_low_i16x8_s(b3), 3)); s3 = i32x4.add(s3, i32x4.shl(i32x4.extend_high_i16x8_s(b3), 3));
        }
      } else {
        for (let j = 0; j < B; j++) {
          let a = a0, b = b0, w = w0, x = x0;
          if (j == 1) { a = a1; b = b1; w = w1; x = x1; } else if (j == 2) { a = a2; b = b2; w = w2; x = x2; } else if (j == 3) { a = a3; b = b3; w = w3; x = x3; }
          const e0 = i32x4.add(i32x4.extend_low_i16x8_u(a), i32x4.shl(i32x4.extend_low_i16x8_s(w), 8));
          const e1 = i32x4.add(i32x4.extend_high_i16x8_u(a), i32x4.shl(i32x4.extend_high_i16x8_s(w), 8));
          const e2 = i32x4.add(i32x4.extend_low_i16x8_u(b), i32x4.shl(i32x4.extend_low_i16x8_s(x), 8));
          const e3 = i32x4.add(i32x4.extend_high_i16x8_u(b), i32x4.shl(i32x4.extend_high_i16x8_s(x), 8));
          s0 = i32x4.add(s0, i32x4.shl(e0, j)); s1 = i32x4.add(s1, i32x4.shl(e1, j));
          s2 = i32x4.add(s2, i32x4.shl(e2, j)); s3 = i32x4.add(s3, i32x4.shl(e3, j));
        }
      }
    }
    const gi = <usize>g << 2;
    const A = load<f32>(tA + gi);
    const hv = f32x4.splat(load<f32>(th + gi)), cA = f32x4.splat(zc * A), Av = f32x4.splat(A);
    const sv0 = v128.load(go), sv1 = v128.load(go, 16);
    let o0 = zero, o1 = zero, o2 = zero, o3 = zero;
    if (offKind == 1) {
      const ov0 = v128.load(go, 32), ov1 = v128.load(go, 48);
      o0 = halfx4(i32x4.extend_low_i16x8_u(ov0)); o1 = halfx4(i32x4.extend_high_i16x8_u(ov0));
      o2 = halfx4(i32x4.extend_low_i16x8_u(ov1)); o3 = halfx4(i32x4.extend_high_i16x8_u(ov1));
    } else if (offKind == 2) {
      const z = v128.load(go, 32);
      const zl = i16x8.extend_low_i8x16_u(z), zh = i16x8.extend_high_i8x16_u(z);
      o0 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(zl)); o1 = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(zl));
      o2 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(zh)); o3 = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(zh));
    }
    f0 = lutEpi(f0, s0, halfx4(i32x4.extend_low_i16x8_u(sv0)), hv, cA, offKind, o0, Av);
    f1 = lutEpi(f1, s1, halfx4(i32x4.extend_high_i16x8_u(sv0)), hv, cA, offKind, o1, Av);
    f2 = lutEpi(f2, s2, halfx4(i32x4.extend_low_i16x8_u(sv1)), hv, cA, offKind, o2, Av);
    f3 = lutEpi(f3, s3, halfx4(i32x4.extend_high_i16x8_u(sv1)), hv, cA, offKind, o3, Av);
  }
  if (n == 16) {
    v128.store(out, f0); v128.store(out, f1, 16); v128.store(out, f2, 32); v128.store(out, f3, 48);
  } else {
    for (let r = 0; r < n; r++) {
      const q = r >> 2, l = r & 3;
      const v = q == 0 ? f0 : q == 1 ? f1 : q == 2 ? f2 : f3;
      store<f32>(out + (<usize>r << 2), l == 0 ? f32x4.extract_lane(v, 0) : l == 1 ? f32x4.extract_lane(v, 1) : l == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3));
    }
  }
}

/** The same tile without SIMD (the plain build): row by row, same sums and epilogue order. */
function lutTileScalar(B: i32, exact: i32, tp: usize, groups: i32, group: i32, groupBytes: i32, codeOff: i32, offKind: i32, zc: f32, tb0: usize, th: usize, tA: usize, out: usize, n: i32): void {
  const sliceBytes: usize = exact ? 32 : 16;
  for (let r = 0; r < n; r++) {
    let acc: f32 = 0;
    let tb = tb0;
    for (let g = 0; g < groups; g++) {
      const go = tp + <usize>g * <usize>groupBytes;
      let L = 0;
      for (let pr = 0; pr < (group >> 3); pr++) {
        for (let j = 0; j < B; j++) {
          const b = <i32>load<u8>(go + <usize>codeOff + <usize>((pr * B + j) << 4) + <usize>r);
          const t0 = tb, t1 = tb + sliceBytes;
          let e: i32;
          if (exact == 0) e = <i32>load<i8>(t0 + <usize>(b & 15)) + <i32>load<i8>(t1 + <usize>(b >> 4));
          else e = <i32>load<u8>(t0 + <usize>(b & 15)) + (<i32>load<i8>(t0 + 16 + <usize>(b & 15)) << 8) + <i32>load<u8>(t1 + <usize>(b >> 4)) + (<i32>load<i8>(t1 + 16 + <usize>(b >> 4)) << 8);
          L += e << j;
        }
        tb += sliceBytes << 1;
      }
      const gi = <usize>g << 2;
      const A = load<f32>(tA + gi);
      const s = f16ToF32(load<u16>(go + (<usize>r << 1)));
      acc += s * (<f32>L * load<f32>(th + gi) + zc * A);
      if (offKind == 1) acc += f16ToF32(load<u16>(go + 32 + (<usize>r << 1))) * A;
      else if (offKind == 2) acc += -(s * <f32>load<u8>(go + 32 + <usize>r)) * A;
    }
    store<f32>(out + (<usize>r << 2), acc);
  }
}

/**
 * y[t, r] for tiles tile0..tile1 of a LUT-packed matrix. desc (i32 x 13): main, tail, tileBytes,
 * cols, rows, group, bits, offKind, zc (f32), exact, groupBytes, codeOff, fullTiles.
 */
export function lut_matmul(desc: usize, tile0: i32, tile1: i32, tbl: usize, th: usize, tA: usize, y: usize, nTok: i32): void {
  const main = <usize>load<u32>(desc), tail = <usize>load<u32>(desc, 4), tileBytes = <usize>load<i32>(desc, 8);
  const cols = load<i32>(desc, 12), rows = load<i32>(desc, 16), group = load<i32>(desc, 20), B = load<i32>(desc, 24);
  const offKind = load<i32>(desc, 28), zc = load<f32>(desc, 32), exact = load<i32>(desc, 36);
  const groupBytes = load<i32>(desc, 40), codeOff = load<i32>(desc, 44), fullTiles = load<i32>(desc, 48);
  const groups = cols / group;
  const tokTbl = <usize>cols * (exact ? 8 : 4);
  for (let tile = tile0; tile < tile1; tile++) {
    const tp = tile < fullTiles ? main + <usize>tile * tileBytes : tail;
    const n = min(16, rows - tile * 16);
    for (let t = 0; t < nTok; t++) {
      const tb = tbl + <usize>t * tokTbl, thp = th + (<usize>(t * groups) << 2), tAp = tA + (<usize>(t * groups) << 2);
      const out = y + (<usize>(t * rows + tile * 16) << 2);
      if (ASC_FEATURE_SIMD) {
        switch (exact * 8 + B) {
          case 1: lutTile(1, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 2: lutTile(2, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 3: lutTile(3, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 4: lutTile(4, 0, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 9: lutTile(1, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 10: lutTile(2, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          case 11: lutTile(3, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n); break;
          default: lutTile(4, 1, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n);
        }
      } else {
        lutTileScalar(B, exact, tp, groups, group, groupBytes, codeOff, offKind, zc, tb, thp, tAp, out, n);
      }
    }
  }
}

// ------------------------------------------------------------------ LUT re-layout at load
// The twin of packLutTile (src/kernels/lut-layout.ts) for the formats models ship in, so a model's
// weights are re-laid out at memory speed rather than at JavaScript's. `kind` is a LUT_PACK_* (the
// format's lut.wasm trait); INT_SYM and INT_ASYM are lutra's INTn formats.

/** Trit n (0..4) of a base-3 byte: trit() with the power of 3 looked up. */
@inline function tritAt(byte: i32, n: i32): i32 {
  return trit(byte, n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81);
}

/** Code of element e of the block at blk (codeOff: where INT codes start; bits: INT width). */
@inline function lutCode(kind: i32, blk: usize, e: i32, bits: i32, codeOff: i32): i32 {
  if (kind == LUT_PACK_Q4_0) return e < 16 ? <i32>load<u8>(blk + 2 + <usize>e) & 15 : <i32>load<u8>(blk + 2 + <usize>(e - 16)) >> 4;
  if (kind == LUT_PACK_Q4_1) return e < 16 ? <i32>load<u8>(blk + 4 + <usize>e) & 15 : <i32>load<u8>(blk + 4 + <usize>(e - 16)) >> 4;
  if (kind == LUT_PACK_TQ2_0) return (<i32>load<u8>(blk + <usize>(((e >> 7) << 5) + (e & 31))) >> (((e >> 5) & 3) << 1)) & 3;
  if (kind == LUT_PACK_TQ1_0) {
    if (e < 160) return tritAt(<i32>load<u8>(blk + <usize>(e & 31)), e >> 5);
    if (e < 240) return tritAt(<i32>load<u8>(blk + 32 + <usize>((e - 160) & 15)), (e - 160) >> 4);
    return tritAt(<i32>load<u8>(blk + 48 + <usize>((e - 240) & 3)), (e - 240) >> 2);
  }
  const bit = e * bits;
  // The next byte only when the code straddles it: the block may end at the end of memory.
  let w = <i32>load<u8>(blk + <usize>(codeOff + (bit >> 3)));
  if ((bit & 7) + bits > 8) w |= <i32>load<u8>(blk + <usize>(codeOff + (bit >> 3) + 1)) << 8;
  const c = (w >> (bit & 7)) & ((1 << bits) - 1);
  // Symmetric INT codes are two's complement: flip the top bit to make them unsigned (not INT1).
  return kind == LUT_PACK_INT_SYM && bits > 1 ? c ^ (1 << (bits - 1)) : c;
}

/**
 * Pack n (<= 16) rows of blocks (rowBytes apart, one block per group of blockBytes) into one tile
 * at dst; rows n..15 zero. Scale/offset positions: Q4_0 d@0; Q4_1 d@0 m@2; TQ2_0 d@64; TQ1_0 d@52;
 * INT s@0 (asym z@2). INT1 stores the doubled scale (y = 2s (c - 1/2)).
 */
export function lut_pack_tile(kind: i32, src: usize, rowBytes: i32, n: i32, blockBytes: i32, groups: i32, group: i32, bits: i32, groupBytes: i32, codeOff: i32, offKind: i32, intCodeOff: i32, dst: usize, scratch: usize): void {
  memory.fill(dst, 0, <usize>(groups * groupBytes));
  for (let g = 0; g < groups; g++) {
    const go = dst + <usize>(g * groupBytes);
    for (let r = 0; r < n; r++) {
      const blk = src + <usize>(r * rowBytes + g * blockBytes);
      let s: u32 = kind == LUT_PACK_TQ2_0 ? load<u16>(blk + 64) : kind == LUT_PACK_TQ1_0 ? load<u16>(blk + 52) : load<u16>(blk);
      if (kind == LUT_PACK_INT_SYM && bits == 1) s = f32ToF16(<f32>2 * f16ToF32(s));
      store<u16>(go + (<usize>r << 1), <u16>s);
      if (offKind == 1) store<u16>(go + 32 + (<usize>r << 1), load<u16>(blk + 2));
      else if (offKind == 2) store<u8>(go + 32 + <usize>r, load<u8>(blk + 2));
      // One byte per code in scratch, then each 4 codes' plane-j bits gathered into a nibble by
      // one multiply: (x & 0x01010101) * 0x01020408 puts byte i's bit 0 at bit 24 + i.
      decodeCodes(kind, blk, group, bits, intCodeOff, scratch);
      for (let pair = 0; pair < (group >> 3); pair++) {
        const w0 = load<u32>(scratch + (<usize>pair << 3)), w1 = load<u32>(scratch + (<usize>pair << 3) + 4);
        const o = go + <usize>(codeOff + pair * bits * 16 + r);
        for (let j = 0; j < bits; j++) {
          const lo = (((w0 >> j) & 0x01010101) * 0x01020408) >> 24;
          const hi = (((w1 >> j) & 0x01010101) * 0x01020408) >> 24;
          store<u8>(o + <usize>(j << 4), <u8>((lo & 15) | ((hi & 15) << 4)));
        }
      }
    }
  }
}

/** The codes of one block, one byte each, into out[0..group). */
function decodeCodes(kind: i32, blk: usize, group: i32, bits: i32, intCodeOff: i32, out: usize): void {
  if (ASC_FEATURE_SIMD) {
    if (kind == LUT_PACK_Q4_0 || kind == LUT_PACK_Q4_1) {
      const q = v128.load(blk + (kind == LUT_PACK_Q4_0 ? 2 : 4));
      v128.store(out, v128.and(q, i8x16.splat(15)));
      v128.store(out, v128.and(i16x8.shr_u(q, 4), i8x16.splat(15)), 16);
      return;
    }
    if (kind == LUT_PACK_TQ2_0) {
      for (let j = 0; j < 2; j++) {
        const q0 = v128.load(blk + (<usize>j << 5)), q1 = v128.load(blk + (<usize>j << 5), 16);
        for (let nn = 0; nn < 4; nn++) {
          const o = out + (<usize>j << 7) + (<usize>nn << 5);
          v128.store(o, v128.and(i16x8.shr_u(q0, <i32>(nn << 1)), i8x16.splat(3)));
          v128.store(o, v128.and(i16x8.shr_u(q1, <i32>(nn << 1)), i8x16.splat(3)), 16);
        }
      }
      return;
    }
    if (kind == LUT_PACK_TQ1_0) {
      const q0 = v128.load(blk), q1 = v128.load(blk, 16), q2 = v128.load(blk, 32);
      let pow = 1;
      for (let nn = 0; nn < 5; nn++) {
        v128.store(out + (<usize>nn << 5), trits16(q0, pow));
        v128.store(out + (<usize>nn << 5), trits16(q1, pow), 16);
        v128.store(out + 160 + (<usize>nn << 4), trits16(q2, pow));
        pow *= 3;
      }
      for (let e = 240; e < 256; e++) store<u8>(out + <usize>e, <u8>lutCode(LUT_PACK_TQ1_0, blk, e, bits, intCodeOff));
      return;
    }
  }
  for (let e = 0; e < group; e++) store<u8>(out + <usize>e, <u8>lutCode(kind, blk, e, bits, intCodeOff));
}