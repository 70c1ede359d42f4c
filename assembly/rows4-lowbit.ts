// The four-row decode layout of the low-bit K-quants Q2_K and Q3_K (super-blocks of 256 in
// sub-blocks of 16), built once at load, in place, and the matrix products over it. rows4-k.ts does
// the same for Q4_K, Q5_K, Q6_K and Q5_0; dot.ts's row kernels keep the last rows % 4.
//
// Layout (src/kernels/ref/rows4-lowbit.ts is its TypeScript twin): rows in groups of four; a group
// keeps the bytes its four rows had, now super-block by super-block along K, each the size of four
// of the format's blocks. Sub-block s (elements 16s .. 16s + 15) of row r:
// Q2_K, 336 bytes per super-block of a group (4 x 84):
//   [0]  f16 d, rows 0..3              [8] f16 dmin, rows 0..3
//   [16] scale nibbles: scale of s at p = 16u + 4j + r, where s = 8(u >> 1) + 2j + (u & 1): nibble
//        p >> 5 of byte p & 31
//   [48] min nibbles: min of s at p = 16r + s: nibble p >> 5 of byte p & 31
//   [80] 16 chunks of 16: chunk c = qs bytes 4c .. +3 of rows 0..3 (byte 4r + i: the 2-bit codes of
//        elements 128(c >> 3) + 32j + 4(c & 7) + i at bits 2j, as in the row layout)
//   So pass u (elements 128(u >> 1) + 16(u & 1) + 32j + 0..15, j < 4) reads chunks 4u .. 4u + 3 and
//   one 16-byte load of scale nibbles that are already [sub-block][row] bytes; the mins, [row][sub-block],
//   meet the activations' sums of 16 in i32x4.dot_i16x8_s, two per row.
// Q3_K, 440 bytes per super-block of a group (4 x 110):
//   [0]  f16 d, rows 0..3
//   [8]  the 6-bit scales as stored (0..63, 32 meaning 0) of s at p = 4s + r: low 4 bits at nibble
//        p >> 5 of byte p & 31, top 2 bits at [40] bits 2(p >> 4) of byte p & 15
//   [56] 8 triples of 48 bytes: triple t = parts X0 | X1 | X2 of 16 bytes, byte 4r + i of each for
//        row r: the 3-bit codes c_k = q + 4 (0..7) of elements 32t + 4k + i (k < 8) as
//        X0 = c0 | c1 << 3 | (c6 & 3) << 6,  X1 = c2 | c3 << 3 | (c7 & 3) << 6,
//        X2 = c4 | c5 << 3 | (c6 >> 2) << 6 | (c7 >> 2) << 7
//        so a triple's 8 code vectors take 19 vector operations; the row layout's two planes (qs's
//        2-bit codes and hmask's third bits, apart) took about 5 a code.
//
// Integer dot products as rows4-k.ts: relaxed SIMD i32x4.relaxed_dot_i8x16_i7x16_add_s with the
// unsigned codes (0..3, 0..7) as its 7-bit operand; SIMD128 i32x4.dot_i16x8_s on codes widened to
// i16 against 4 activations splat as i16. Lanes are rows: one splat of 4 activations feeds four rows.
// The Q2_K mins come off through the activations' sums of 16; Q3_K's -4 starts each sub-block's sum
// at -4 * sum(a). The integer sums are those of dot.ts's row kernels, and blocks are summed in their
// f32 order:
//   Q2_K: s += (d * yd) * f32(isum) - (dmin * yd) * f32(summs)      Q3_K: s += f32(isum) * (d * yd)
// so every build of this layout and every build's row kernels agree bit for bit.

import { f16ToF32, halfx4 } from './f16';
import { storeRows, tokenBlock } from './rows4';
import { dot_q2_k, dot_q3_k } from './dot';
import { GGML_TYPE_Q2_K, GGML_TYPE_Q3_K } from './types.generated';

/** Whether rows4lo_pack / rows4lo_matmul take this type. */
@inline export function rows4loHas(type: i32): bool {
  return type == GGML_TYPE_Q2_K || type == GGML_TYPE_Q3_K;
}

@inline function blockBytes(type: i32): usize {
  return type == GGML_TYPE_Q2_K ? 84 : 110;
}

// ------------------------------------------------------------------ re-layout

/** Q3_K scale s (6 bits as stored, 0..63) of the 12 packed bytes at p. */
@inline function q3kScale(p: usize, s: i32): u32 {
  const low = s < 8 ? <u32>load<u8>(p + <usize>s) & 15 : <u32>load<u8>(p + <usize>(s - 8)) >> 4;
  return low | (((<u32>load<u8>(p + 8 + <usize>(s & 3)) >> <u32>(2 * (s >> 2))) & 3) << 4);
}

/** Q3_K code q + 4 (0..7) of element e of the block at src, in row layout (qs's 2 bits, hmask's third). */
@inline function q3kRowCode(src: usize, e: i32): u32 {
  const l = e & 31, t = e >> 5;
  const lo = (<u32>load<u8>(src + 32 + <usize>(32 * (t >> 2) + l)) >> <u32>(2 * (t & 3))) & 3;
  return lo | (((<u32>load<u8>(src + <usize>l) >> <u32>t) & 1) << 2);
}

/** OR v into the byte at p. */
@inline function orByte(p: usize, v: u32): void {
  store<u8>(p, load<u8>(p) | <u8>v);
}

/**
 * Re-lay `rows` rows (rowBytes apart) of a Q2_K or Q3_K matrix into the four-row layout in place,
 * group by group through `scratch` (4 * rowBytes bytes). The last rows % 4 are left as they are.
 * Returns 1 for another type.
 */
export function rows4lo_pack(type: i32, w: usize, rowBytes: i32, rows: i32, scratch: usize): i32 {
  if (!rows4loHas(type)) return 1;
  const rb = <usize>rowBytes, bb = blockBytes(type), nb = rowBytes / <i32>bb;
  for (let g = 0; g < (rows >> 2); g++) {
    const base = w + <usize>g * (rb << 2);
    memory.copy(scratch, base, rb << 2);
    for (let b = 0; b < nb; b++) {
      const dst = base + <usize>b * (bb << 2);
      memory.fill(dst, 0, bb << 2);
      for (let r = 0; r < 4; r++) {
        const src = scratch + <usize>r * rb + <usize>b * bb, ru = <usize>r;
        if (type == GGML_TYPE_Q2_K) {
          store<u16>(dst + (ru << 1), load<u16>(src + 80));
          store<u16>(dst + 8 + (ru << 1), load<u16>(src + 82));
          for (let s = 0; s < 16; s++) {
            const v = <u32>load<u8>(src + <usize>s);
            const p = 16 * (2 * (s >> 3) + (s & 1)) + 4 * ((s >> 1) & 3) + r, pm = 16 * r + s;
            orByte(dst + 16 + <usize>(p & 31), (v & 15) << <u32>(4 * (p >> 5)));
            orByte(dst + 48 + <usize>(pm & 31), (v >> 4) << <u32>(4 * (pm >> 5)));
          }
          for (let c = 0; c < 16; c++) store<u32>(dst + 80 + (<usize>c << 4) + (ru << 2), load<u32>(src + 16 + (<usize>c << 2)));
        } else {
          store<u16>(dst + (ru << 1), load<u16>(src + 108));
          for (let s = 0; s < 16; s++) {
            const v = q3kScale(src + 96, s), p = 4 * s + r;
            orByte(dst + 8 + <usize>(p & 31), (v & 15) << <u32>(4 * (p >> 5)));
            orByte(dst + 40 + <usize>(p & 15), (v >> 4) << <u32>(2 * (p >> 4)));
          }
          for (let t = 0; t < 8; t++) {
            for (let i = 0; i < 4; i++) {
              const e = 32 * t + i, at = dst + 56 + <usize>(48 * t) + (ru << 2) + <usize>i;
              const c6 = q3kRowCode(src, e + 24), c7 = q3kRowCode(src, e + 28);
              store<u8>(at, <u8>(q3kRowCode(src, e) | (q3kRowCode(src, e + 4) << 3) | ((c6 & 3) << 6)));
              store<u8>(at + 16, <u8>(q3kRowCode(src, e + 8) | (q3kRowCode(src, e + 12) << 3) | ((c7 & 3) << 6)));
              store<u8>(at + 32, <u8>(q3kRowCode(src, e + 16) | (q3kRowCode(src, e + 20) << 3) | ((c6 >> 2) << 6) | ((c7 >> 2) << 7)));
            }
          }
        }
      }
    }
  }
  return 0;
}

// ------------------------------------------------------------------ shared pieces

/** Lanes of a SIMD128 pair (rows 0, 1 in p01, rows 2, 3 in p23, two partial sums each) as rows. */
@inline function rowsOf(p01: v128, p23: v128): v128 {
  return i32x4.add(i32x4.shuffle(p01, p23, 0, 2, 4, 6), i32x4.shuffle(p01, p23, 1, 3, 5, 7));
}

/** SIMD128: codes c (u8 lanes, rows 0..3 x 4) times a (4 activations splat as i16), as a row pair. */
@inline function dotPair(p: v128, c: v128, a: v128, high: bool): v128 {
  return i32x4.add(p, i32x4.dot_i16x8_s(high ? i16x8.extend_high_i8x16_u(c) : i16x8.extend_low_i8x16_u(c), a));
}

/**
 * start + the sums (lane = row) of the code vectors c0..c3 against 16 activations at x: c_k takes
 * activations x + 4k .. +3. Literal offsets: V8 folds them into the loads, where each computed
 * address would cost integer operations (wasm addresses wrap at 32 bits).
 */
@inline function dot16(start: v128, c0: v128, c1: v128, c2: v128, c3: v128, x: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // One chain: the tiles keep four or more of them in flight (one per sub-block).
    const u = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x), c0, start);
    const v = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 4), c1, u);
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 12), c3, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x, 8), c2, v));
  }
  const a0 = i16x8.extend_low_i8x16_s(v128.load32_splat(x)), a1 = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 4));
  const a2 = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 8)), a3 = i16x8.extend_low_i8x16_s(v128.load32_splat(x, 12));
  const z = i32x4.splat(0);
  const p01 = dotPair(dotPair(dotPair(dotPair(z, c0, a0, false), c1, a1, false), c2, a2, false), c3, a3, false);
  const p23 = dotPair(dotPair(dotPair(dotPair(z, c0, a0, true), c1, a1, true), c2, a2, true), c3, a3, true);
  return i32x4.add(rowsOf(p01, p23), start);
}

/** Lanes 4k .. 4k + 3 (k < 4, a constant) of 16 unsigned bytes as i32. */
@inline function quarterU(v: v128, k: i32): v128 {
  const h = k < 2 ? i16x8.extend_low_i8x16_u(v) : i16x8.extend_high_i8x16_u(v);
  return (k & 1) ? i32x4.extend_high_i16x8_u(h) : i32x4.extend_low_i16x8_u(h);
}

/** Lanes 4k .. 4k + 3 (k < 4, a constant) of 16 signed bytes as i32. */
@inline function quarterS(v: v128, k: i32): v128 {
  const h = k < 2 ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_high_i8x16_s(v);
  return (k & 1) ? i32x4.extend_high_i16x8_s(h) : i32x4.extend_low_i16x8_s(h);
}

// ------------------------------------------------------------------ Q2_K

/**
 * The 2-bit codes j (a constant) of a chunk w, in place where one AND takes them: times 1 (j = 0,
 * mask m3 = 0x03), 4 (j = 1, m12 = 0x0c), 16 (j = 2, m48 = 0x30; j = 3 shifted down by 2 first).
 * q2kScaled puts the factors into the scales, so the sums come out 16 times the true ones.
 */
@inline function q2kCodes(w: v128, j: i32, m3: v128, m12: v128, m48: v128): v128 {
  return j == 0 ? v128.and(w, m3) : j == 1 ? v128.and(w, m12) : j == 2 ? v128.and(w, m48) : v128.and(i16x8.shr_u(w, 2), m48);
}

/** Scales of codes j (quarterU of the pass's scale bytes) times 16 / q2kCodes' factor: 16, 4, 1, 1. */
@inline function q2kScaled(sv: v128, j: i32): v128 {
  const s = quarterU(sv, j);
  return j == 0 ? i32x4.shl(s, 4) : j == 1 ? i32x4.shl(s, 2) : s;
}

/**
 * summs (lane = row): sum_s min[r][s] * bs[s] against one token's Q8_K sums of 16 at bs (i32), the
 * mins as [row][sub-block] i16: row r's sub-blocks 0..7 in mrl, 8..15 in mrh.
 */
@inline function q2kMins(bs: usize, m0l: v128, m0h: v128, m1l: v128, m1h: v128, m2l: v128, m2h: v128, m3l: v128, m3h: v128): v128 {
  // |sum of 16| <= 16 * 127: fits i16.
  const bl = i16x8.narrow_i32x4_s(v128.load(bs), v128.load(bs, 16)), bh = i16x8.narrow_i32x4_s(v128.load(bs, 32), v128.load(bs, 48));
  const p0 = i32x4.add(i32x4.dot_i16x8_s(m0l, bl), i32x4.dot_i16x8_s(m0h, bh)), p1 = i32x4.add(i32x4.dot_i16x8_s(m1l, bl), i32x4.dot_i16x8_s(m1h, bh));
  const p2 = i32x4.add(i32x4.dot_i16x8_s(m2l, bl), i32x4.dot_i16x8_s(m2h, bh)), p3 = i32x4.add(i32x4.dot_i16x8_s(m3l, bl), i32x4.dot_i16x8_s(m3h, bh));
  const u01 = i32x4.add(i32x4.shuffle(p0, p1, 0, 1, 4, 5), i32x4.shuffle(p0, p1, 2, 3, 6, 7));
  const u23 = i32x4.add(i32x4.shuffle(p2, p3, 0, 1, 4, 5), i32x4.shuffle(p2, p3, 2, 3, 6, 7));
  return rowsOf(u01, u23);
}

/** s + (d * yd) * f32(isum) - (dmin * yd) * f32(summs), lane = row, in dot_q2_k's f32 order. */
@inline function q2kStep(s: v128, d: v128, dmin: v128, yd: f32, isum: v128, summs: v128): v128 {
  const ydv = f32x4.splat(yd);
  return f32x4.add(s, f32x4.sub(f32x4.mul(f32x4.mul(d, ydv), f32x4.convert_i32x4_s(isum)), f32x4.mul(f32x4.mul(dmin, ydv), f32x4.convert_i32x4_s(summs))));
}

/**
 * One Q2_K row group (at g) against nt (1, 2 or 4, a constant) tokens: token t's quants at
 * x + t * xStep, its scales at ad + t * dStep, its sums of 16 at bs + t * bStep; rows lo..hi stored
 * at y + t * yStep. Each chunk's codes are made once for every token.
 */
@inline function q2kTile(nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  // From a run-time value: V8 keeps them in registers instead of rebuilding them at every use.
  const one = <i32>(nb >= 0), f = i8x16.splat(<i8>(0x0f * one)), m3 = i8x16.splat(<i8>(0x03 * one));
  const m12 = i8x16.splat(<i8>(0x0c * one)), m48 = i8x16.splat(<i8>(0x30 * one));
  for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * 336, xb = x + (<usize>b << 8), db = ad + (<usize>b << 2), bb = bs + (<usize>b << 6);
    const dd = v128.load(blk);
    const d = halfx4(i32x4.extend_low_i16x8_u(dd)), dmin = halfx4(i32x4.extend_high_i16x8_u(dd));
    let z0 = i32x4.splat(0), z1 = z0, z2 = z0, z3 = z0;
    {
      const nm0 = v128.load(blk, 48), nm1 = v128.load(blk, 64);
      const r0 = v128.and(nm0, f), r1 = v128.and(nm1, f), r2 = v128.and(i16x8.shr_u(nm0, 4), f), r3 = v128.and(i16x8.shr_u(nm1, 4), f);
      const m0l = i16x8.extend_low_i8x16_u(r0), m0h = i16x8.extend_high_i8x16_u(r0), m1l = i16x8.extend_low_i8x16_u(r1), m1h = i16x8.extend_high_i8x16_u(r1);
      const m2l = i16x8.extend_low_i8x16_u(r2), m2h = i16x8.extend_high_i8x16_u(r2), m3l = i16x8.extend_low_i8x16_u(r3), m3h = i16x8.extend_high_i8x16_u(r3);
      z0 = q2kMins(bb, m0l, m0h, m1l, m1h, m2l, m2h, m3l, m3h);
      if (nt > 1) z1 = q2kMins(bb + bStep, m0l, m0h, m1l, m1h, m2l, m2h, m3l, m3h);
      if (nt > 2) {
        z2 = q2kMins(bb + 2 * bStep, m0l, m0h, m1l, m1h, m2l, m2h, m3l, m3h);
        z3 = q2kMins(bb + 3 * bStep, m0l, m0h, m1l, m1h, m2l, m2h, m3l, m3h);
      }
    }
    const zero = i32x4.splat(0);
    let i0 = zero, i1 = zero, i2 = zero, i3 = zero;
    for (let u = 0; u < 4; u++) {
      const q = blk + 80 + (<usize>u << 6), xu = xb + (<usize>(u >> 1) << 7) + (<usize>(u & 1) << 4);
      const w0 = v128.load(q), w1 = v128.load(q, 16), w2 = v128.load(q, 32), w3 = v128.load(q, 48);
      const sv = v128.and(i16x8.shr_u(v128.load(blk + 16 + (<usize>(u & 1) << 4)), (u >> 1) << 2), f);
      {
        const c0 = q2kCodes(w0, 0, m3, m12, m48), c1 = q2kCodes(w1, 0, m3, m12, m48), c2 = q2kCodes(w2, 0, m3, m12, m48), c3 = q2kCodes(w3, 0, m3, m12, m48), sc = q2kScaled(sv, 0);
        i0 = i32x4.add(i0, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu), sc));
        if (nt > 1) i1 = i32x4.add(i1, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + xStep), sc));
        if (nt > 2) {
          i2 = i32x4.add(i2, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 2 * xStep), sc));
          i3 = i32x4.add(i3, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 3 * xStep), sc));
        }
      }
      {
        const c0 = q2kCodes(w0, 1, m3, m12, m48), c1 = q2kCodes(w1, 1, m3, m12, m48), c2 = q2kCodes(w2, 1, m3, m12, m48), c3 = q2kCodes(w3, 1, m3, m12, m48), sc = q2kScaled(sv, 1);
        i0 = i32x4.add(i0, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 32), sc));
        if (nt > 1) i1 = i32x4.add(i1, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + xStep + 32), sc));
        if (nt > 2) {
          i2 = i32x4.add(i2, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 2 * xStep + 32), sc));
          i3 = i32x4.add(i3, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 3 * xStep + 32), sc));
        }
      }
      {
        const c0 = q2kCodes(w0, 2, m3, m12, m48), c1 = q2kCodes(w1, 2, m3, m12, m48), c2 = q2kCodes(w2, 2, m3, m12, m48), c3 = q2kCodes(w3, 2, m3, m12, m48), sc = q2kScaled(sv, 2);
        i0 = i32x4.add(i0, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 64), sc));
        if (nt > 1) i1 = i32x4.add(i1, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + xStep + 64), sc));
        if (nt > 2) {
          i2 = i32x4.add(i2, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 2 * xStep + 64), sc));
          i3 = i32x4.add(i3, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 3 * xStep + 64), sc));
        }
      }
      {
        const c0 = q2kCodes(w0, 3, m3, m12, m48), c1 = q2kCodes(w1, 3, m3, m12, m48), c2 = q2kCodes(w2, 3, m3, m12, m48), c3 = q2kCodes(w3, 3, m3, m12, m48), sc = q2kScaled(sv, 3);
        i0 = i32x4.add(i0, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 96), sc));
        if (nt > 1) i1 = i32x4.add(i1, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + xStep + 96), sc));
        if (nt > 2) {
          i2 = i32x4.add(i2, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 2 * xStep + 96), sc));
          i3 = i32x4.add(i3, i32x4.mul(dot16(zero, c0, c1, c2, c3, xu + 3 * xStep + 96), sc));
        }
      }
    }
    // The sums are 16 times isum (q2kCodes): exact, as |16 isum| < 2^31.
    s0 = q2kStep(s0, d, dmin, load<f32>(db), i32x4.shr_s(i0, 4), z0);
    if (nt > 1) s1 = q2kStep(s1, d, dmin, load<f32>(db + dStep), i32x4.shr_s(i1, 4), z1);
    if (nt > 2) {
      s2 = q2kStep(s2, d, dmin, load<f32>(db + 2 * dStep), i32x4.shr_s(i2, 4), z2);
      s3 = q2kStep(s3, d, dmin, load<f32>(db + 3 * dStep), i32x4.shr_s(i3, 4), z3);
    }
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) {
    storeRows(y + 2 * yStep, s2, lo, hi);
    storeRows(y + 3 * yStep, s3, lo, hi);
  }
}

// ------------------------------------------------------------------ Q3_K

/**
 * -4 * the Q8_K sums of 16 of sub-blocks 4p .. 4p + 3 at p (one vector per pass): each Q3_K
 * sub-block's sum starts at its lane q, splat (codes are q + 4).
 */
@inline function q3kStarts(p: usize): v128 {
  return i32x4.neg(i32x4.shl(v128.load(p), 2));
}

@inline function splatLane(v: v128, q: i32): v128 {
  // Lane indices must be literals; q is a constant at every call, so the branches fold away.
  return q == 0 ? i32x4.shuffle(v, v, 0, 0, 0, 0) : q == 1 ? i32x4.shuffle(v, v, 1, 1, 1, 1) : q == 2 ? i32x4.shuffle(v, v, 2, 2, 2, 2) : i32x4.shuffle(v, v, 3, 3, 3, 3);
}

@inline function q3kStep(s: v128, d: v128, yd: f32, isum: v128): v128 {
  return f32x4.add(s, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(d, f32x4.splat(yd))));
}

/**
 * One Q3_K row group against nt (1, 2 or 4, a constant) tokens, as q2kTile. Pass p covers triples
 * 2p and 2p + 1 (sub-blocks 4p .. 4p + 3), whose 16 scales are one 16-byte vector.
 */
@inline function q3kTile(nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  const one = <i32>(nb >= 0), m7 = i8x16.splat(<i8>(0x07 * one)), m3 = i8x16.splat(<i8>(0x03 * one)), m4 = i8x16.splat(<i8>(0x04 * one));
  const f = i8x16.splat(<i8>(0x0f * one)), t3 = i8x16.splat(<i8>(0x30 * one)), bias = i8x16.splat(<i8>(32 * one));
  for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * 440, xb = x + (<usize>b << 8), db = ad + (<usize>b << 2), bb = bs + (<usize>b << 6);
    const d = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(blk)));
    const hb = v128.load(blk, 40);
    const zero = i32x4.splat(0);
    let i0 = zero, i1 = zero, i2 = zero, i3 = zero;
    for (let p = 0; p < 4; p++) {
      // Scales of sub-blocks 4p .. 4p + 3 as [sub-block][row] i8, 32 taken off.
      const ns = v128.and(i16x8.shr_u(v128.load(blk + 8 + (<usize>(p & 1) << 4)), (p >> 1) << 2), f);
      const sv = i8x16.sub(v128.or(ns, v128.and(i16x8.shl(i16x8.shr_u(hb, p << 1), 4), t3)), bias);
      const tr = blk + 56 + <usize>(96 * p), xp = xb + (<usize>p << 6), bp = bb + (<usize>p << 4);
      const st0 = q3kStarts(bp), st1 = nt > 1 ? q3kStarts(bp + bStep) : st0;
      const st2 = nt > 2 ? q3kStarts(bp + 2 * bStep) : st0, st3 = nt > 2 ? q3kStarts(bp + 3 * bStep) : st0;
      {
        const x0 = v128.load(tr), x1 = v128.load(tr, 16), x2 = v128.load(tr, 32);
        const c0 = v128.and(x0, m7), c1 = v128.and(i16x8.shr_u(x0, 3), m7), c2 = v128.and(x1, m7), c3 = v128.and(i16x8.shr_u(x1, 3), m7);
        const c4 = v128.and(x2, m7), c5 = v128.and(i16x8.shr_u(x2, 3), m7);
        const c6 = v128.or(v128.and(i16x8.shr_u(x0, 6), m3), v128.and(i16x8.shr_u(x2, 4), m4));
        const c7 = v128.or(v128.and(i16x8.shr_u(x1, 6), m3), v128.and(i16x8.shr_u(x2, 5), m4));
        const sa = quarterS(sv, 0), sb = quarterS(sv, 1);
        i0 = i32x4.add(i0, i32x4.add(i32x4.mul(dot16(splatLane(st0, 0), c0, c1, c2, c3, xp), sa), i32x4.mul(dot16(splatLane(st0, 1), c4, c5, c6, c7, xp + 16), sb)));
        if (nt > 1) i1 = i32x4.add(i1, i32x4.add(i32x4.mul(dot16(splatLane(st1, 0), c0, c1, c2, c3, xp + xStep), sa), i32x4.mul(dot16(splatLane(st1, 1), c4, c5, c6, c7, xp + xStep + 16), sb)));
        if (nt > 2) {
          i2 = i32x4.add(i2, i32x4.add(i32x4.mul(dot16(splatLane(st2, 0), c0, c1, c2, c3, xp + 2 * xStep), sa), i32x4.mul(dot16(splatLane(st2, 1), c4, c5, c6, c7, xp + 2 * xStep + 16), sb)));
          i3 = i32x4.add(i3, i32x4.add(i32x4.mul(dot16(splatLane(st3, 0), c0, c1, c2, c3, xp + 3 * xStep), sa), i32x4.mul(dot16(splatLane(st3, 1), c4, c5, c6, c7, xp + 3 * xStep + 16), sb)));
        }
      }
      {
        const x0 = v128.load(tr, 48), x1 = v128.load(tr, 64), x2 = v128.load(tr, 80);
        const c0 = v128.and(x0, m7), c1 = v128.and(i16x8.shr_u(x0, 3), m7), c2 = v128.and(x1, m7), c3 = v128.and(i16x8.shr_u(x1, 3), m7);
        const c4 = v128.and(x2, m7), c5 = v128.and(i16x8.shr_u(x2, 3), m7);
        const c6 = v128.or(v128.and(i16x8.shr_u(x0, 6), m3), v128.and(i16x8.shr_u(x2, 4), m4));
        const c7 = v128.or(v128.and(i16x8.shr_u(x1, 6), m3), v128.and(i16x8.shr_u(x2, 5), m4));
        const sa = quarterS(sv, 2), sb = quarterS(sv, 3);
        i0 = i32x4.add(i0, i32x4.add(i32x4.mul(dot16(splatLane(st0, 2), c0, c1, c2, c3, xp + 32), sa), i32x4.mul(dot16(splatLane(st0, 3), c4, c5, c6, c7, xp + 48), sb)));
        if (nt > 1) i1 = i32x4.add(i1, i32x4.add(i32x4.mul(dot16(splatLane(st1, 2), c0, c1, c2, c3, xp + xStep + 32), sa), i32x4.mul(dot16(splatLane(st1, 3), c4, c5, c6, c7, xp + xStep + 48), sb)));
        if (nt > 2) {
          i2 = i32x4.add(i2, i32x4.add(i32x4.mul(dot16(splatLane(st2, 2), c0, c1, c2, c3, xp + 2 * xStep + 32), sa), i32x4.mul(dot16(splatLane(st2, 3), c4, c5, c6, c7, xp + 2 * xStep + 48), sb)));
          i3 = i32x4.add(i3, i32x4.add(i32x4.mul(dot16(splatLane(st3, 2), c0, c1, c2, c3, xp + 3 * xStep + 32), sa), i32x4.mul(dot16(splatLane(st3, 3), c4, c5, c6, c7, xp + 3 * xStep + 48), sb)));
        }
      }
    }
    s0 = q3kStep(s0, d, load<f32>(db), i0);
    if (nt > 1) s1 = q3kStep(s1, d, load<f32>(db + dStep), i1);
    if (nt > 2) {
      s2 = q3kStep(s2, d, load<f32>(db + 2 * dStep), i2);
      s3 = q3kStep(s3, d, load<f32>(db + 3 * dStep), i3);
    }
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) {
    storeRows(y + 2 * yStep, s2, lo, hi);
    storeRows(y + 3 * yStep, s3, lo, hi);
  }
}

// ------------------------------------------------------------------ products

// One real function per format and token count (each inlines its tile with nt constant), as rows4-k.ts.
function q2kTile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q2kTile(1, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q2kTile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q2kTile(2, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q2kTile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q2kTile(4, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q3kTile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q3kTile(1, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q3kTile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q3kTile(2, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q3kTile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q3kTile(4, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }

/** nt (1, 2 or 4) tokens through one group's tile. */
@inline function tile(q2: bool, nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  if (q2) {
    if (nt == 4) q2kTile4(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 2) q2kTile2(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else q2kTile1(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
  } else {
    if (nt == 4) q3kTile4(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 2) q3kTile2(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else q3kTile1(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
  }
}

/**
 * Grouped rows r0..r1 for nTok tokens: group by group, tokens four at a time (then two, then one),
 * so a group's weights stay in L1 while every token passes over them. One token reads the groups
 * in order, one weight stream: four streams a quarter of the range apart, taken two super-blocks
 * at a time in turn (a Xeon VM's choice: whole 1.5B step, 1 thread, Q2_K 115.3 -> 104.2 ms CPU),
 * are slower on the Zen 5 VM: `bench/kernels/ab-wasm.mjs TYPE 8960x1536 A B --copies 16` (past the
 * caches), 1 thread, four streams -> one: Q2_K 18.6 -> 34.7 GMAC/s, Q3_K 17.0 -> 29.8 (from cache,
 * --copies 1: 34.3 -> 36.8, 28.4 -> 31.0).
 */
function rows4loGroups(q2: bool, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 8, xStep = <usize>cols, dStep = <usize>nb << 2, bStep = <usize>nb << 6, yStep = <usize>rows << 2;
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      tile(q2, 4, gw, nb, act + <usize>t * xStep, xStep, ad + <usize>t * dStep, dStep, asum + <usize>t * bStep, bStep, yg + <usize>t * yStep, yStep, lo, hi);
    }
    if (t + 2 <= nTok) {
      tile(q2, 2, gw, nb, act + <usize>t * xStep, xStep, ad + <usize>t * dStep, dStep, asum + <usize>t * bStep, bStep, yg + <usize>t * yStep, yStep, lo, hi);
      t += 2;
    }
    if (t < nTok) tile(q2, 1, gw, nb, act + <usize>t * xStep, xStep, ad + <usize>t * dStep, dStep, asum + <usize>t * bStep, bStep, yg + <usize>t * yStep, yStep, lo, hi);
  }
}

/**
 * Grouped rows r0..r1 one at a time from the layout (the plain build, no SIMD: the f16 scales
 * convert one by one here), in dot.ts's integer sums and f32 order.
 */
function rows4loScalar(q2: bool, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 8;
  for (let r = r0; r < r1; r++) {
    const lane = r & 3, gw = w + <usize>(r >> 2) * (rowBytes << 2);
    for (let t = 0; t < nTok; t++) {
      let s: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const x = act + <usize>t * <usize>cols + (<usize>b << 8), bi = <usize>t * <usize>nb + <usize>b;
        const yd = load<f32>(ad + (bi << 2)), bs = asum + (bi << 6);
        if (q2) {
          const blk = gw + <usize>b * 336;
          let isum = 0, summs = 0;
          for (let sb = 0; sb < 16; sb++) {
            const u = 2 * (sb >> 3) + (sb & 1), j = (sb >> 1) & 3, p = 16 * u + 4 * j + lane, pm = 16 * lane + sb;
            const sc = (<i32>load<u8>(blk + 16 + <usize>(p & 31)) >> (4 * (p >> 5))) & 15;
            const mn = (<i32>load<u8>(blk + 48 + <usize>(pm & 31)) >> (4 * (pm >> 5))) & 15;
            summs += load<i32>(bs + (<usize>sb << 2)) * mn;
            let sub = 0;
            for (let l = 0; l < 16; l++) {
              // Element 16sb + l = 128h + 32j + 4k + i: chunk 8h + k, bits 2j.
              const e = 16 * sb + l, c = 8 * (e >> 7) + ((e & 31) >> 2);
              const code = (<i32>load<u8>(blk + 80 + <usize>(16 * c + 4 * lane + (e & 3))) >> (2 * j)) & 3;
              sub += code * <i32>load<i8>(x + <usize>e);
            }
            isum += sc * sub;
          }
          const dd = f16ToF32(load<u16>(blk + (<usize>lane << 1))), dm = f16ToF32(load<u16>(blk + 8 + (<usize>lane << 1)));
          s += (yd * dd) * <f32>isum - (yd * dm) * <f32>summs;
        } else {
          const blk = gw + <usize>b * 440;
          let isum = 0;
          for (let sb = 0; sb < 16; sb++) {
            const p = 4 * sb + lane;
            const sc = (((<i32>load<u8>(blk + 8 + <usize>(p & 31)) >> (4 * (p >> 5))) & 15) | (((<i32>load<u8>(blk + 40 + <usize>(p & 15)) >> (2 * (p >> 4))) & 3) << 4)) - 32;
            let sub = 0;
            for (let l = 0; l < 16; l++) {
              // Element 16sb + l = 32t + 4k + i: triple t, code k.
              const e = 16 * sb + l, k = (e & 31) >> 2, tr = blk + 56 + <usize>(48 * (e >> 5) + 4 * lane + (e & 3));
              const x0 = <i32>load<u8>(tr), x1 = <i32>load<u8>(tr + 16), x2 = <i32>load<u8>(tr + 32);
              const code = k == 0 ? x0 & 7 : k == 1 ? (x0 >> 3) & 7 : k == 2 ? x1 & 7 : k == 3 ? (x1 >> 3) & 7 : k == 4 ? x2 & 7 : k == 5 ? (x2 >> 3) & 7
                : k == 6 ? (x0 >> 6) | (((x2 >> 6) & 1) << 2) : (x1 >> 6) | ((x2 >> 7) << 2);
              sub += (code - 4) * <i32>load<i8>(x + <usize>e);
            }
            isum += sc * sub;
          }
          s += <f32>isum * (f16ToF32(load<u16>(blk + (<usize>lane << 1))) * yd);
        }
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), s);
    }
  }
}

/** Rows r0..r1 of a Q2_K or Q3_K matrix re-laid by rows4lo_pack; returns 1 for other types. */
export function rows4lo_matmul(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): i32 {
  if (!rows4loHas(type)) return 1;
  const q2 = type == GGML_TYPE_Q2_K, nb = cols >> 8, g1 = min(r1, rows & ~3);
  if (r0 < g1) {
    if (ASC_FEATURE_SIMD) {
      // Token passes (rows4.ts tokenBlock): per token, a scale per super-block and Q8_K sums per 16.
      const dStep = <usize>nb << 2, bStep = <usize>nb << 6, tb = tokenBlock(cols);
      for (let t0 = 0; t0 < nTok; t0 += tb) {
        const n = min(tb, nTok - t0), tu = <usize>t0;
        rows4loGroups(q2, w, rowBytes, cols, rows, r0, g1, act + tu * <usize>cols, ad + tu * dStep, asum + tu * bStep, y + ((tu * <usize>rows) << 2), n);
      }
    } else {
      rows4loScalar(q2, w, rowBytes, cols, rows, r0, g1, act, ad, asum, y, nTok);
    }
  }
  // The last rows % 4, still in row layout: dot.ts's row kernels.
  for (let r = max(r0, rows & ~3); r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t = 0; t < nTok; t++) {
      const ao = act + <usize>t * <usize>cols, dof = ad + ((<usize>t * <usize>nb) << 2), bsum = asum + ((<usize>t * <usize>nb) << 6);
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), q2 ? dot_q2_k(wr, ao, dof, bsum, nb) : dot_q3_k(wr, ao, dof, nb));
    }
  }
  return 0;
}
