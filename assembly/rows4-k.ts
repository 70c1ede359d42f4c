// The four-row decode layout of the K-quants Q4_K, Q5_K and Q6_K (super-blocks of 256) and of Q5_0
// (the type Q4_K_M files fall back to for rows of 896, whose fifth bits rows4.ts's plain chunking
// would leave scattered), built once at load, in place, and the matrix products over it. rows4.ts
// does the same for Q4_0 and Q8_0; matmul.ts keeps the row layout for matrices never re-laid and
// for the last rows % 4.
//
// Layout (src/kernels/ref/rows4-k.ts is its TypeScript twin): rows in groups of four; a group keeps
// the bytes its four rows had, now super-block by super-block along K, each the size of four of
// the format's blocks, so the re-layout is in place:
//
// Q4_K, 576 bytes per super-block of a group (4 x 144):
//   [0]  f16 d, rows 0..3            [8]  f16 dmin, rows 0..3
//   [16] scale nibbles NS  [32] min nibbles NM  [48] high bits H   (the 6-bit scales and mins)
//   [64] 512 bytes of quants: 32 chunks of 16, chunk 8c + k = bytes 32c + 4k .. +3 of rows 0..3
//        (low nibbles: sub-block 2c, high nibbles: sub-block 2c + 1, as in the row layout)
//   Scale j of row r is at position p = 4(j & 3) + r, its low 4 bits in nibble j >> 2 of NS[p],
//   its high 2 bits at bit 2(j >> 2) of H[p]; min j of row r at position p = 8r + j, low bits in
//   nibble p >> 4 of NM[p & 15], high bits at bit 4 + 2(p >> 4) of H[p & 15]. So four vector ops
//   decode all 64, scales as [sub-block][row] bytes (widened to one i32x4 per sub-block: lane =
//   row) and mins as [row][sub-block] bytes (one i32x4.dot_i16x8_s per row against the sums of
//   the activations' pairs of 16).
// Q5_K, 704 bytes per super-block of a group (4 x 176): Q4_K's 64 header bytes, then
//   [64] 128 bytes of fifth bits: 8 chunks of 16, chunk k = qh bytes 4k .. +3 of rows 0..3 (bit 2c:
//        the low nibble's element of 64-element chunk c, bit 2c + 1: the high nibble's), then
//   [192] the quants as Q4_K's
// Q6_K, 840 bytes per super-block of a group (4 x 210):
//   [0]  f16 d, rows 0..3            [8]  i8 scales: byte 4j + r = scale j of row r (j < 16)
//   [72] 16 triples of 48 bytes, triple 8h + k = parts X0 | X1 | X2 of 16 bytes, byte 4r + i of
//        each for row r and l = 4k + i: the 6-bit code of element 128h + 32p + l in the low six
//        bits of Xp (p < 3), and bits 2p, 2p + 1 of element 128h + 96 + l's code in its top two.
//        So three of the four codes of a triple are one AND each (0x3f) and the fourth is three
//        shifts, three ANDs and two ORs (ggml's nibble and two-bit planes took 17 operations for
//        the four): 2048x2560, one token, 1 thread, CPU time 17.8 -> 20.3 GMAC/s from cache.
// Q5_0, 88 bytes per block of a group (4 x 22):
//   [0]  f16 d, rows 0..3
//   [8]  16 bytes: byte 4r + i holds, at bits 2c and 2c + 1, the top two bits (3, 4) of the code b
//        of element 16 + 4c + i (c < 4)
//   [24] 4 chunks of 16: chunk c, byte 4r + i = a | (b & 7) << 5, a and b the 5-bit codes (0..31) of
//        elements 4c + i and 16 + 4c + i of row r
//   So a chunk's 32 codes take six vector operations: a = x & 31; b = (x >> 5 & 7) | (top bits
//   shifted to bits 3-4 & 0x18). (ggml's nibbles and fifth bits, re-packed as [8] holding each
//   element's fifth bit, took nine: 0.5B Q4_K_M step, interleaved A/B, in the commit that made this.)
//
// Integer dot products per build: relaxed SIMD i32x4.relaxed_dot_i8x16_i7x16_add_s in its
// deterministic form, the int8 activations first and the unsigned weights (Q4_K 0..15, Q5_K and
// Q5_0 0..31, Q6_K 0..63) second; SIMD128 i32x4.dot_i16x8_s on weights widened to i16 against 4 activations splat as i16.
// Lanes are rows, so one splat of 4 activations feeds four rows. The Q4_K mins come off through
// the activations' sums of 16, the Q6_K -32 as the starting value of each sub-block's sum, the
// Q5_0 -16 through the block's activation sum. Every build gives the integer sums dot.ts's row
// kernels give and sums blocks in their (ggml's generic) f32 order:
//   Q4_K, Q5_K: s += (d * yd) * f32(isum) - (dmin * yd) * f32(summs)
//   Q6_K, Q5_0: s += f32(isum) * (d * yd)
// so the re-laid matrix, the plain build's row kernels (and for the K-quants every build's) and
// every build of this layout agree bit for bit. (matmul.ts's SIMD Q5_0 tiles sum four lanes per
// block and add them at the end: the same terms in another f32 order.)

import { f16ToF32, halfx4 } from './f16';
import { band2, bandBlock, bandFits, bandFirst, bandCount, BAND_GROUP, BAND_Q5_0, BAND_SLICE } from './rows4-band';
import { threadScratch, decodeScratch } from './scratch';
import { storeRows, q4Chunk, dotLH, tokenBlock, touch9, touch4x9, touchLimit, sunk, scales4, TOUCH, scalesKeep, scalesRebias } from './rows4';
import { dot_q4_k, dot_q5_k, dot_q6_k, dot_q5 } from './dot';
import { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q5_0 } from './types.generated';

/** Whether rows4k_pack / rows4k_matmul take this type. */
@inline export function rows4kHas(type: i32): bool {
  return type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K || type == GGML_TYPE_Q6_K || type == GGML_TYPE_Q5_0;
}

@inline function blockBytes(type: i32): usize {
  return type == GGML_TYPE_Q4_K ? 144 : type == GGML_TYPE_Q5_K ? 176 : type == GGML_TYPE_Q6_K ? 210 : 22;
}

/** Elements per block: 256, or 32 for Q5_0. */
@inline function blockElems(type: i32): i32 {
  return type == GGML_TYPE_Q5_0 ? 32 : 256;
}

// ------------------------------------------------------------------ re-layout

/** Q4_K scale (k = 0) or min (k = 1) j of the 12 packed bytes at p (get_scale_min_k4). */
@inline function q4kScaleMin(p: usize, j: i32, k: i32): u32 {
  if (j < 4) return load<u8>(p + <usize>(j + 4 * k)) & 63;
  const lo = k ? <u32>load<u8>(p + <usize>(j + 4)) >> 4 : <u32>load<u8>(p + <usize>(j + 4)) & 0xf;
  return lo | ((<u32>load<u8>(p + <usize>(j - 4 + 4 * k)) >> 6) << 4);
}

/** The 6-bit code of element 128h + 32q + l of the Q6_K block at src, in row layout (ggml's ql and qh). */
@inline function q6kRowCode(src: usize, h: i32, q: i32, l: i32): u32 {
  const lb = <u32>load<u8>(src + <usize>(64 * h + 32 * (q & 1) + l)), hb = <u32>load<u8>(src + 128 + <usize>(32 * h + l));
  return ((q < 2 ? lb : lb >> 4) & 15) | (((hb >> <u32>(2 * q)) & 3) << 4);
}

/**
 * Re-lay `rows` rows (rowBytes apart) of a Q4_K, Q5_K, Q6_K or Q5_0 matrix into the four-row layout in place,
 * group by group through `scratch` (4 * rowBytes bytes). The last rows % 4 are left as they are.
 * Returns 1 for another type.
 */
export function rows4k_pack(type: i32, w: usize, rowBytes: i32, rows: i32, scratch: usize): i32 {
  if (!rows4kHas(type)) return 1;
  const rb = <usize>rowBytes, bb = blockBytes(type), nb = rowBytes / <i32>bb;
  for (let g = 0; g < (rows >> 2); g++) {
    const base = w + <usize>g * (rb << 2);
    memory.copy(scratch, base, rb << 2);
    for (let b = 0; b < nb; b++) {
      const dst = base + <usize>b * (bb << 2);
      if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K) memory.fill(dst + 16, 0, 48);
      if (type == GGML_TYPE_Q5_0) memory.fill(dst + 8, 0, 16);
      for (let r = 0; r < 4; r++) {
        const src = scratch + <usize>r * rb + <usize>b * bb, ru = <usize>r;
        if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K) {
          store<u16>(dst + (ru << 1), load<u16>(src));
          store<u16>(dst + 8 + (ru << 1), load<u16>(src + 2));
          for (let j = 0; j < 8; j++) {
            const sc = q4kScaleMin(src + 4, j, 0), m = q4kScaleMin(src + 4, j, 1);
            const ps = dst + <usize>(4 * (j & 3) + r), hs = <u32>(j >> 2);
            store<u8>(ps + 16, load<u8>(ps + 16) | <u8>((sc & 15) << (4 * hs)));
            store<u8>(ps + 48, load<u8>(ps + 48) | <u8>((sc >> 4) << (2 * hs)));
            const p = 8 * r + j, pm = dst + <usize>(p & 15), hm = <u32>(p >> 4);
            store<u8>(pm + 32, load<u8>(pm + 32) | <u8>((m & 15) << (4 * hm)));
            store<u8>(pm + 48, load<u8>(pm + 48) | <u8>((m >> 4) << (4 + 2 * hm)));
          }
          // Q5_K: the fifth bits (32 bytes at 16), then the quants as Q4_K's.
          const q5 = type == GGML_TYPE_Q5_K, qsAt: usize = q5 ? 48 : 16, qsTo: usize = q5 ? 192 : 64;
          if (q5) for (let k = 0; k < 8; k++) store<u32>(dst + 64 + (<usize>k << 4) + (ru << 2), load<u32>(src + 16 + (<usize>k << 2)));
          for (let c = 0; c < 32; c++) store<u32>(dst + qsTo + (<usize>c << 4) + (ru << 2), load<u32>(src + qsAt + (<usize>c << 2)));
        } else if (type == GGML_TYPE_Q5_0) {
          store<u16>(dst + (ru << 1), load<u16>(src));
          const qh = load<u32>(src + 2);
          for (let c = 0; c < 4; c++) {
            for (let i = 0; i < 4; i++) {
              const j = <u32>(4 * c + i), q = <u32>load<u8>(src + 6 + <usize>j);
              const a = (q & 15) | (((qh >> j) & 1) << 4), b = (q >> 4) | (((qh >> (16 + j)) & 1) << 4);
              store<u8>(dst + 24 + (<usize>c << 4) + (ru << 2) + <usize>i, <u8>(a | ((b & 7) << 5)));
              const at = dst + 8 + (ru << 2) + <usize>i;
              store<u8>(at, load<u8>(at) | <u8>((b >> 3) << <u32>(2 * c)));
            }
          }
        } else {
          store<u16>(dst + (ru << 1), load<u16>(src + 208));
          for (let j = 0; j < 16; j++) store<u8>(dst + 8 + <usize>(4 * j + r), load<u8>(src + 192 + <usize>j));
          for (let h = 0; h < 2; h++) {
            for (let l = 0; l < 32; l++) {
              const t = dst + 72 + <usize>(48 * (8 * h + (l >> 2))) + (ru << 2) + <usize>(l & 3);
              const c3 = q6kRowCode(src, h, 3, l);
              for (let p = 0; p < 3; p++) store<u8>(t + <usize>(p << 4), <u8>(q6kRowCode(src, h, p, l) | (((c3 >> (2 * p)) & 3) << 6)));
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

/** acc + 4 unsigned weights of each row (w: u8 lanes, 0..63) times the 4 activations at a (relaxed SIMD). */
@inline function rdot(acc: v128, w: v128, a: usize): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(a), w, acc);
}

/** SIMD128: 4 activations at a, splat as i16 (twice the 4). */
@inline function act16(a: usize): v128 {
  return i16x8.extend_low_i8x16_s(v128.load32_splat(a));
}

// ------------------------------------------------------------------ Q4_K

/**
 * sum_j min[j][r] * (bs[2j] + bs[2j+1]) per row r (lanes), the Q8_K sums of 16 at bs (i32), the
 * mins as [row][sub-block] i16 in m0..m3.
 */
@inline function q4kMins(bs: usize, m0: v128, m1: v128, m2: v128, m3: v128): v128 {
  const b0 = v128.load(bs), b1 = v128.load(bs, 16), b2 = v128.load(bs, 32), b3 = v128.load(bs, 48);
  // |sum of 32| <= 32 * 127: fits i16.
  const pl = i32x4.add(i32x4.shuffle(b0, b1, 0, 2, 4, 6), i32x4.shuffle(b0, b1, 1, 3, 5, 7));
  const ph = i32x4.add(i32x4.shuffle(b2, b3, 0, 2, 4, 6), i32x4.shuffle(b2, b3, 1, 3, 5, 7));
  const bv = i16x8.narrow_i32x4_s(pl, ph);
  const p0 = i32x4.dot_i16x8_s(m0, bv), p1 = i32x4.dot_i16x8_s(m1, bv), p2 = i32x4.dot_i16x8_s(m2, bv), p3 = i32x4.dot_i16x8_s(m3, bv);
  const u01 = i32x4.add(i32x4.shuffle(p0, p1, 0, 1, 4, 5), i32x4.shuffle(p0, p1, 2, 3, 6, 7));
  const u23 = i32x4.add(i32x4.shuffle(p2, p3, 0, 1, 4, 5), i32x4.shuffle(p2, p3, 2, 3, 6, 7));
  return rowsOf(u01, u23);
}

/** Scale vector (lane = row) of sub-block j = 2c + hiHalf from the decoded scale bytes sa (j < 4) / sb. */
@inline function q4kScale(sa: v128, sb: v128, c: i32, hiHalf: i32): v128 {
  const v = c < 2 ? sa : sb;
  const s16 = (c & 1) ? i16x8.extend_high_i8x16_u(v) : i16x8.extend_low_i8x16_u(v);
  return hiHalf ? i32x4.extend_high_i16x8_u(s16) : i32x4.extend_low_i16x8_u(s16);
}

/**
 * Bit b (0..7, any value) of each byte of h as 0x10: i16 shifts down by b, up by 4 (what they
 * carry across bytes is masked off).
 */
@inline function bitTo4(h: v128, b: i32): v128 {
  return v128.and(i16x8.shl(i16x8.shr_u(h, b), 4), i8x16.splat(0x10));
}

/**
 * Token t's integer sums (lane = row) over the two sub-blocks of 64-element chunk c of the
 * super-block at q (its quants; Q5_K (five): its fifth bits at qh), activations at x (the
 * super-block's), scaled: lo * s_lo + hi * s_hi.
 */
@inline function kChunk(five: bool, q: usize, qh: usize, x: usize, c: i32, slo: v128, shi: v128): v128 {
  const m = i8x16.splat(0x0f);
  const qc = q + <usize>(c << 7), xc = x + <usize>(c << 6);
  if (ASC_FEATURE_RELAXED_SIMD) {
    let lo = i32x4.splat(0), hi = i32x4.splat(0);
    for (let k = 0; k < 8; k++) {
      const w = v128.load(qc + (<usize>k << 4)), xk = xc + (<usize>k << 2);
      let wl = v128.and(w, m), wh = v128.and(i16x8.shr_u(w, 4), m);
      if (five) {
        const h = v128.load(qh + (<usize>k << 4));
        wl = v128.or(wl, bitTo4(h, 2 * c)); wh = v128.or(wh, bitTo4(h, 2 * c + 1));
      }
      lo = rdot(lo, wl, xk);
      hi = rdot(hi, wh, xk + 32);
    }
    return i32x4.add(i32x4.mul(lo, slo), i32x4.mul(hi, shi));
  }
  let l01 = i32x4.splat(0), l23 = i32x4.splat(0), h01 = i32x4.splat(0), h23 = i32x4.splat(0);
  for (let k = 0; k < 8; k++) {
    const w = v128.load(qc + (<usize>k << 4)), xk = xc + (<usize>k << 2);
    let wl = v128.and(w, m), wh = v128.and(i16x8.shr_u(w, 4), m);
    if (five) {
      const h = v128.load(qh + (<usize>k << 4));
      wl = v128.or(wl, bitTo4(h, 2 * c)); wh = v128.or(wh, bitTo4(h, 2 * c + 1));
    }
    const al = act16(xk), ah = act16(xk + 32);
    l01 = i32x4.add(l01, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(wl), al));
    l23 = i32x4.add(l23, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(wl), al));
    h01 = i32x4.add(h01, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(wh), ah));
    h23 = i32x4.add(h23, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(wh), ah));
  }
  return i32x4.add(i32x4.mul(rowsOf(l01, l23), slo), i32x4.mul(rowsOf(h01, h23), shi));
}

/** s + (d * yd) * f32(isum) - (dmin * yd) * f32(summs), lane = row, in dot_q4_k's f32 order. */
@inline function q4kStep(s: v128, d: v128, dmin: v128, yd: f32, isum: v128, summs: v128): v128 {
  const ydv = f32x4.splat(yd);
  return f32x4.add(s, f32x4.sub(f32x4.mul(f32x4.mul(d, ydv), f32x4.convert_i32x4_s(isum)), f32x4.mul(f32x4.mul(dmin, ydv), f32x4.convert_i32x4_s(summs))));
}

/**
 * The codes of one 16-byte chunk w of chunk group c of a Q4_K (five: Q5_K) group super-block,
 * sub-block 2c (low nibbles); Q5_K's fifth bits from the chunk's qh bytes hh (bit 2c).
 */
@inline function q4kLow(five: bool, w: v128, hh: v128, c: i32, f: v128, t1: v128): v128 {
  const wl = v128.and(w, f);
  return five ? v128.or(wl, v128.and(i16x8.shl(i16x8.shr_u(hh, 2 * c), 4), t1)) : wl;
}

/** The same chunk's codes of sub-block 2c + 1 (high nibbles; Q5_K: bit 2c + 1 of hh). */
@inline function q4kHigh(five: bool, w: v128, hh: v128, c: i32, f: v128, t1: v128): v128 {
  const wh = v128.and(i16x8.shr_u(w, 4), f);
  return five ? v128.or(wh, v128.and(i16x8.shl(i16x8.shr_u(hh, 2 * c + 1), 4), t1)) : wh;
}

/**
 * One Q4_K row group (at g) against nt (1..4, a constant) tokens: token t's quants at
 * x + t * xStep, its scales at ad + t * dStep, its sums of 16 at bs + t * bStep; rows lo..hi stored
 * at y + t * yStep. A super-block's scales and mins are decoded once for all tokens.
 */
@inline function q4kTile(five: bool, nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  // From a run-time value: V8 keeps them in registers instead of rebuilding them at every use.
  const one = <i32>(nb >= 0), f = i8x16.splat(<i8>(0x0f * one)), t3 = i8x16.splat(<i8>(0x30 * one)), t1 = i8x16.splat(<i8>(0x10 * one));
  for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * (five ? 704 : 576);
    if (ASC_FEATURE_RELAXED_SIMD && nt == 1) {
      // The decode streams' block (q4kDecode4T), so one token alone and inside them agree.
      s0 = q4kBlock1(five, s0, blk, x + (<usize>b << 8), load<f32>(ad + (<usize>b << 2)), bs + (<usize>b << 6), f, t3, t1);
      continue;
    }
    const dd = v128.load(blk);
    const d = halfx4(i32x4.extend_low_i16x8_u(dd)), dmin = halfx4(i32x4.extend_high_i16x8_u(dd));
    const ns = v128.load(blk + 16), nm = v128.load(blk + 32), hb = v128.load(blk + 48);
    const sa = v128.or(v128.and(ns, f), v128.and(i16x8.shl(hb, 4), t3));
    const sb = v128.or(v128.and(i16x8.shr_u(ns, 4), f), v128.and(i16x8.shl(hb, 2), t3));
    const ma = v128.or(v128.and(nm, f), v128.and(hb, t3));
    const mb = v128.or(v128.and(i16x8.shr_u(nm, 4), f), v128.and(i16x8.shr_u(hb, 2), t3));
    const m0 = i16x8.extend_low_i8x16_u(ma), m1 = i16x8.extend_high_i8x16_u(ma), m2 = i16x8.extend_low_i8x16_u(mb), m3 = i16x8.extend_high_i8x16_u(mb);
    const qh = blk + 64, q = blk + (five ? 192 : 64), xb = x + (<usize>b << 8), db = ad + (<usize>b << 2), bb = bs + (<usize>b << 6);
    let i0 = i32x4.splat(0), i1 = i32x4.splat(0), i2 = i32x4.splat(0), i3 = i32x4.splat(0);
    if (ASC_FEATURE_RELAXED_SIMD) {
      // Chunk by chunk, each 16-byte load of quants split into nibbles once for every token (2-4).
      for (let c = 0; c < 4; c++) {
        const qc = q + <usize>(c << 7), xc = xb + <usize>(c << 6);
        let l0 = i32x4.splat(0), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
        for (let k = 0; k < 8; k++) {
          const w = v128.load(qc + (<usize>k << 4)), xk = xc + (<usize>k << 2);
          const hh = five ? v128.load(qh + (<usize>k << 4)) : w;
          const wl = q4kLow(five, w, hh, c, f, t1), wh = q4kHigh(five, w, hh, c, f, t1);
          l0 = rdot(l0, wl, xk); h0 = rdot(h0, wh, xk + 32);
          l1 = rdot(l1, wl, xk + xStep); h1 = rdot(h1, wh, xk + xStep + 32);
          if (nt > 2) { l2 = rdot(l2, wl, xk + 2 * xStep); h2 = rdot(h2, wh, xk + 2 * xStep + 32); }
          if (nt > 3) { l3 = rdot(l3, wl, xk + 3 * xStep); h3 = rdot(h3, wh, xk + 3 * xStep + 32); }
        }
        const slo = q4kScale(sa, sb, c, 0), shi = q4kScale(sa, sb, c, 1);
        i0 = i32x4.add(i0, i32x4.add(i32x4.mul(l0, slo), i32x4.mul(h0, shi)));
        i1 = i32x4.add(i1, i32x4.add(i32x4.mul(l1, slo), i32x4.mul(h1, shi)));
        if (nt > 2) i2 = i32x4.add(i2, i32x4.add(i32x4.mul(l2, slo), i32x4.mul(h2, shi)));
        if (nt > 3) i3 = i32x4.add(i3, i32x4.add(i32x4.mul(l3, slo), i32x4.mul(h3, shi)));
      }
    } else for (let c = 0; c < 4; c++) {
      const slo = q4kScale(sa, sb, c, 0), shi = q4kScale(sa, sb, c, 1);
      i0 = i32x4.add(i0, kChunk(five, q, qh, xb, c, slo, shi));
      if (nt > 1) i1 = i32x4.add(i1, kChunk(five, q, qh, xb + xStep, c, slo, shi));
      if (nt > 2) i2 = i32x4.add(i2, kChunk(five, q, qh, xb + 2 * xStep, c, slo, shi));
      if (nt > 3) i3 = i32x4.add(i3, kChunk(five, q, qh, xb + 3 * xStep, c, slo, shi));
    }
    s0 = q4kStep(s0, d, dmin, load<f32>(db), i0, q4kMins(bb, m0, m1, m2, m3));
    if (nt > 1) s1 = q4kStep(s1, d, dmin, load<f32>(db + dStep), i1, q4kMins(bb + bStep, m0, m1, m2, m3));
    if (nt > 2) s2 = q4kStep(s2, d, dmin, load<f32>(db + 2 * dStep), i2, q4kMins(bb + 2 * bStep, m0, m1, m2, m3));
    if (nt > 3) s3 = q4kStep(s3, d, dmin, load<f32>(db + 3 * dStep), i3, q4kMins(bb + 3 * bStep, m0, m1, m2, m3));
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

// ------------------------------------------------------------------ Q6_K

/**
 * The 6-bit codes (u8 lanes, 0..63) of part q (0..3) of triple tr: 4 elements of each row, with
 * the masks 0x3f (m), 0x03 (m3), 0x0c (m12) and 0x30 (m48) given. i16 shifts; what they carry
 * across bytes is masked off.
 */
@inline function q6kCodesM(tr: usize, q: i32, m: v128, m3: v128, m12: v128, m48: v128): v128 {
  if (q < 3) return v128.and(v128.load(tr + (<usize>q << 4)), m);
  return q6kTop(v128.load(tr), v128.load(tr, 16), v128.load(tr, 32), m3, m12, m48);
}

/** Part 3's codes from the top two bits of parts X0, X1, X2 (its bits 0-1, 2-3, 4-5). */
@inline function q6kTop(x0: v128, x1: v128, x2: v128, m3: v128, m12: v128, m48: v128): v128 {
  return v128.or(v128.or(v128.and(i16x8.shr_u(x0, 6), m3), v128.and(i16x8.shr_u(x1, 4), m12)), v128.and(i16x8.shr_u(x2, 2), m48));
}

/** q6kCodesM with the masks made here. */
@inline function q6kCodes(tr: usize, q: i32): v128 {
  return q6kCodesM(tr, q, i8x16.splat(0x3f), i8x16.splat(0x03), i8x16.splat(0x0c), i8x16.splat(0x30));
}

/**
 * Token t's integer sum (lane = row) over sub-block j = 8h + 2q + kk of the super-block whose
 * triples start at tr (activations at x, the super-block's; its Q8_K sum of 16 at bs), times the
 * sub-block's scales sc: sc * (sum(code * a) - 32 * sum(a)).
 */
@inline function q6kSub(tr: usize, x: usize, bs: usize, h: i32, q: i32, kk: i32, sc: v128): v128 {
  const j = 8 * h + 2 * q + kk;
  const t0 = tr + <usize>(48 * (8 * h + 4 * kk)), x0 = x + <usize>(128 * h + 32 * q + 16 * kk);
  const start = i32x4.splat(-(load<i32>(bs + (<usize>j << 2)) << 5));
  if (ASC_FEATURE_RELAXED_SIMD) {
    let acc = start;
    for (let k = 0; k < 4; k++) acc = rdot(acc, q6kCodes(t0 + <usize>(48 * k), q), x0 + (<usize>k << 2));
    return i32x4.mul(acc, sc);
  }
  let p01 = i32x4.splat(0), p23 = i32x4.splat(0);
  for (let k = 0; k < 4; k++) {
    const w = q6kCodes(t0 + <usize>(48 * k), q), a = act16(x0 + (<usize>k << 2));
    p01 = i32x4.add(p01, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(w), a));
    p23 = i32x4.add(p23, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(w), a));
  }
  return i32x4.mul(i32x4.add(rowsOf(p01, p23), start), sc);
}

/** Scales (lane = row) of Q6_K sub-block j of the group super-block at blk. */
@inline function q6kScale(blk: usize, j: i32): v128 {
  return i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(blk + 8 + <usize>(4 * j))));
}

/**
 * One token (the decode case): the four sub-blocks j = 8h + 2q + kk (q < 4) at once, so each
 * triple is loaded and split into its four codes once, as q6kSub's sums: sum_q sc_j * (sum(code * a) - 32 * sum(a)).
 */
@inline function q6kQuad(blk: usize, x: usize, bs: usize, h: i32, kk: i32, m: v128, m3: v128, m12: v128, m48: v128): v128 {
  const j0 = 8 * h + kk;
  const s0 = i32x4.splat(-(load<i32>(bs + (<usize>j0 << 2)) << 5)), s1 = i32x4.splat(-(load<i32>(bs + (<usize>(j0 + 2) << 2)) << 5));
  const s2 = i32x4.splat(-(load<i32>(bs + (<usize>(j0 + 4) << 2)) << 5)), s3 = i32x4.splat(-(load<i32>(bs + (<usize>(j0 + 6) << 2)) << 5));
  // Relaxed: the starting sums in the row lanes; SIMD128 adds them after pairing its lanes.
  const z = i32x4.splat(0);
  let a0 = ASC_FEATURE_RELAXED_SIMD ? s0 : z, a1 = ASC_FEATURE_RELAXED_SIMD ? s1 : z, a2 = ASC_FEATURE_RELAXED_SIMD ? s2 : z, a3 = ASC_FEATURE_RELAXED_SIMD ? s3 : z;
  let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
  for (let k = 0; k < 4; k++) {
    const t = blk + 72 + <usize>(48 * (8 * h + 4 * kk + k));
    const X0 = v128.load(t), X1 = v128.load(t, 16), X2 = v128.load(t, 32);
    const c0 = v128.and(X0, m), c1 = v128.and(X1, m), c2 = v128.and(X2, m);
    const c3 = q6kTop(X0, X1, X2, m3, m12, m48);
    const xk = x + <usize>(128 * h + 16 * kk + 4 * k);
    if (ASC_FEATURE_RELAXED_SIMD) {
      a0 = rdot(a0, c0, xk); a1 = rdot(a1, c1, xk + 32); a2 = rdot(a2, c2, xk + 64); a3 = rdot(a3, c3, xk + 96);
    } else {
      // Lanes a*: rows 0, 1 (two partial sums each); b*: rows 2, 3.
      const x0 = act16(xk), x1 = act16(xk + 32), x2 = act16(xk + 64), x3 = act16(xk + 96);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(c0), x0)); b0 = i32x4.add(b0, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(c0), x0));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(c1), x1)); b1 = i32x4.add(b1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(c1), x1));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(c2), x2)); b2 = i32x4.add(b2, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(c2), x2));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(c3), x3)); b3 = i32x4.add(b3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(c3), x3));
    }
  }
  if (!ASC_FEATURE_RELAXED_SIMD) {
    a0 = i32x4.add(rowsOf(a0, b0), s0); a1 = i32x4.add(rowsOf(a1, b1), s1);
    a2 = i32x4.add(rowsOf(a2, b2), s2); a3 = i32x4.add(rowsOf(a3, b3), s3);
  }
  return i32x4.add(i32x4.add(i32x4.mul(a0, q6kScale(blk, j0)), i32x4.mul(a1, q6kScale(blk, j0 + 2))), i32x4.add(i32x4.mul(a2, q6kScale(blk, j0 + 4)), i32x4.mul(a3, q6kScale(blk, j0 + 6))));
}

@inline function q6kStep(s: v128, d: v128, yd: f32, isum: v128): v128 {
  return f32x4.add(s, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(d, f32x4.splat(yd))));
}

/** One Q6_K row group against nt tokens, as q4kTile. */
@inline function q6kTile(nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  // From a run-time value: V8 keeps them in registers instead of rebuilding them at every use.
  const one = <i32>(nb >= 0), m = i8x16.splat(<i8>(0x3f * one)), m3 = i8x16.splat(<i8>(0x03 * one)), m12 = i8x16.splat(<i8>(0x0c * one)), m48 = i8x16.splat(<i8>(0x30 * one));
  for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * 840;
    const d = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(blk)));
    const tr = blk + 72, xb = x + (<usize>b << 8), db = ad + (<usize>b << 2), bb = bs + (<usize>b << 6);
    let i0 = i32x4.splat(0), i1 = i32x4.splat(0), i2 = i32x4.splat(0), i3 = i32x4.splat(0);
    if (nt == 1) {
      for (let h = 0; h < 2; h++) for (let kk = 0; kk < 2; kk++) i0 = i32x4.add(i0, q6kQuad(blk, xb, bb, h, kk, m, m3, m12, m48));
    } else if (ASC_FEATURE_RELAXED_SIMD) {
      // Sub-block by sub-block, each 4-element code vector made once for every token.
      for (let h = 0; h < 2; h++) {
        for (let kk = 0; kk < 2; kk++) {
          for (let q = 0; q < 4; q++) {
            const j = 8 * h + 2 * q + kk, sc = q6kScale(blk, j), jb = <usize>j << 2;
            const t0 = tr + <usize>(48 * (8 * h + 4 * kk)), x0 = xb + <usize>(128 * h + 32 * q + 16 * kk);
            let a0 = i32x4.splat(-(load<i32>(bb + jb) << 5)), a1 = a0, a2 = a0, a3 = a0;
            if (nt > 1) a1 = i32x4.splat(-(load<i32>(bb + bStep + jb) << 5));
            if (nt > 2) a2 = i32x4.splat(-(load<i32>(bb + 2 * bStep + jb) << 5));
            if (nt > 3) a3 = i32x4.splat(-(load<i32>(bb + 3 * bStep + jb) << 5));
            for (let k = 0; k < 4; k++) {
              const code = q6kCodesM(t0 + <usize>(48 * k), q, m, m3, m12, m48), xk = x0 + (<usize>k << 2);
              a0 = rdot(a0, code, xk);
              if (nt > 1) a1 = rdot(a1, code, xk + xStep);
              if (nt > 2) a2 = rdot(a2, code, xk + 2 * xStep);
              if (nt > 3) a3 = rdot(a3, code, xk + 3 * xStep);
            }
            i0 = i32x4.add(i0, i32x4.mul(a0, sc));
            if (nt > 1) i1 = i32x4.add(i1, i32x4.mul(a1, sc));
            if (nt > 2) i2 = i32x4.add(i2, i32x4.mul(a2, sc));
            if (nt > 3) i3 = i32x4.add(i3, i32x4.mul(a3, sc));
          }
        }
      }
    } else for (let h = 0; h < 2; h++) {
      for (let kk = 0; kk < 2; kk++) {
        for (let q = 0; q < 4; q++) {
          const sc = q6kScale(blk, 8 * h + 2 * q + kk);
          i0 = i32x4.add(i0, q6kSub(tr, xb, bb, h, q, kk, sc));
          if (nt > 1) i1 = i32x4.add(i1, q6kSub(tr, xb + xStep, bb + bStep, h, q, kk, sc));
          if (nt > 2) i2 = i32x4.add(i2, q6kSub(tr, xb + 2 * xStep, bb + 2 * bStep, h, q, kk, sc));
          if (nt > 3) i3 = i32x4.add(i3, q6kSub(tr, xb + 3 * xStep, bb + 3 * bStep, h, q, kk, sc));
        }
      }
    }
    s0 = q6kStep(s0, d, load<f32>(db), i0);
    if (nt > 1) s1 = q6kStep(s1, d, load<f32>(db + dStep), i1);
    if (nt > 2) s2 = q6kStep(s2, d, load<f32>(db + 2 * dStep), i2);
    if (nt > 3) s3 = q6kStep(s3, d, load<f32>(db + 3 * dStep), i3);
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

// ------------------------------------------------------------------ Q5_0

/** Chunk c's (a constant) codes, 0..31: the low elements' a (hi = 0) or the high ones' b. */
@inline function q50Codes(blk: usize, h: v128, c: i32, hi: i32): v128 {
  return q50CodesM(blk, h, c, hi, i8x16.splat(31), i8x16.splat(0x18), i8x16.splat(7));
}

/**
 * q50Codes with the masks 31 (m), 0x18 (t) and 7 (s) given: a = x & 31; b = (x >> 5 & 7) | the top bits,
 * bits 2c and 2c + 1 of h, moved to bits 3-4. Both are i16 shifts: the bits they carry across bytes
 * land outside each byte's mask.
 */
@inline function q50CodesM(blk: usize, h: v128, c: i32, hi: i32, m: v128, t: v128, s: v128): v128 {
  const x = v128.load(blk + 24 + (<usize>c << 4));
  if (!hi) return v128.and(x, m);
  const top = v128.and(c == 0 ? i16x8.shl(h, 3) : c == 1 ? i16x8.shl(h, 1) : c == 2 ? i16x8.shr_u(h, 1) : i16x8.shr_u(h, 3), t);
  return v128.or(v128.and(i16x8.shr_u(x, 5), s), top);
}

/** acc + chunk c's (a constant) sums, lane = row, against the block's 32 activations at x. */
@inline function q50Chunk(acc: v128, blk: usize, h: v128, x: usize, c: i32): v128 {
  const lo = q50Codes(blk, h, c, 0), hi = q50Codes(blk, h, c, 1);
  const xl = x + (<usize>c << 2), xh = x + 16 + (<usize>c << 2);
  if (ASC_FEATURE_RELAXED_SIMD) return rdot(rdot(acc, lo, xl), hi, xh);
  const al = act16(xl), ah = act16(xh);
  const p01 = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), al), i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), ah));
  const p23 = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), al), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), ah));
  return i32x4.add(acc, rowsOf(p01, p23));
}

/** Token t's integer sum (lane = row) of the block at blk against 32 activations at x less 16 * sum(a). */
@inline function q50Block(blk: usize, x: usize, asum: i32): v128 {
  const h = v128.load(blk + 8);
  // Chunks spelled out so each one's shifts are constants.
  let acc = i32x4.splat(-(asum << 4));
  acc = q50Chunk(acc, blk, h, x, 0);
  acc = q50Chunk(acc, blk, h, x, 1);
  acc = q50Chunk(acc, blk, h, x, 2);
  return q50Chunk(acc, blk, h, x, 3);
}

/**
 * One Q5_0 row group against nt tokens, as q4kTile: token t's quants at x + t * xStep, its block
 * scales at ad + t * dStep and integer block sums at bs + t * dStep.
 */
@inline function q50Tile(nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  if (ASC_FEATURE_RELAXED_SIMD && nt > 1) {
    // Chunk by chunk, each chunk's codes made once for every token (as rows4.ts's q4Tile): per
    // token they cost four times the dot products. The masks are made from a run-time value, so
    // that V8 keeps them in registers instead of rebuilding each v128 constant at every use.
    const one = <i32>(nb >= 0), m = i8x16.splat(<i8>(31 * one)), t = i8x16.splat(<i8>(0x18 * one)), s7 = i8x16.splat(<i8>(7 * one));
    const keep = scalesKeep(one), rebias = scalesRebias(one);
    for (let b = 0; b < nb; b++) {
      const blk = g + <usize>b * 88, h = v128.load(blk + 8);
      const x0 = x + (<usize>b << 5), x1 = x0 + xStep, x2 = x1 + xStep, x3 = x2 + xStep, bi = bs + (<usize>b << 2);
      let a0 = i32x4.splat(-(load<i32>(bi) << 4)), a1 = a0, a2 = a0, a3 = a0;
      if (nt > 1) a1 = i32x4.splat(-(load<i32>(bi + dStep) << 4));
      if (nt > 2) a2 = i32x4.splat(-(load<i32>(bi + 2 * dStep) << 4));
      if (nt > 3) a3 = i32x4.splat(-(load<i32>(bi + 3 * dStep) << 4));
      let l = q50CodesM(blk, h, 0, 0, m, t, s7), u = q50CodesM(blk, h, 0, 1, m, t, s7);
      a0 = q4Chunk(a0, x0, 0, l, u); if (nt > 1) a1 = q4Chunk(a1, x1, 0, l, u); if (nt > 2) a2 = q4Chunk(a2, x2, 0, l, u); if (nt > 3) a3 = q4Chunk(a3, x3, 0, l, u);
      l = q50CodesM(blk, h, 1, 0, m, t, s7); u = q50CodesM(blk, h, 1, 1, m, t, s7);
      a0 = q4Chunk(a0, x0, 1, l, u); if (nt > 1) a1 = q4Chunk(a1, x1, 1, l, u); if (nt > 2) a2 = q4Chunk(a2, x2, 1, l, u); if (nt > 3) a3 = q4Chunk(a3, x3, 1, l, u);
      l = q50CodesM(blk, h, 2, 0, m, t, s7); u = q50CodesM(blk, h, 2, 1, m, t, s7);
      a0 = q4Chunk(a0, x0, 2, l, u); if (nt > 1) a1 = q4Chunk(a1, x1, 2, l, u); if (nt > 2) a2 = q4Chunk(a2, x2, 2, l, u); if (nt > 3) a3 = q4Chunk(a3, x3, 2, l, u);
      l = q50CodesM(blk, h, 3, 0, m, t, s7); u = q50CodesM(blk, h, 3, 1, m, t, s7);
      a0 = q4Chunk(a0, x0, 3, l, u); if (nt > 1) a1 = q4Chunk(a1, x1, 3, l, u); if (nt > 2) a2 = q4Chunk(a2, x2, 3, l, u); if (nt > 3) a3 = q4Chunk(a3, x3, 3, l, u);
      const d = scales4(blk, keep, rebias), di = ad + (<usize>b << 2);
      s0 = q6kStep(s0, d, load<f32>(di), a0);
      if (nt > 1) s1 = q6kStep(s1, d, load<f32>(di + dStep), a1);
      if (nt > 2) s2 = q6kStep(s2, d, load<f32>(di + 2 * dStep), a2);
      if (nt > 3) s3 = q6kStep(s3, d, load<f32>(di + 3 * dStep), a3);
    }
  } else for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * 88;
    const d = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(blk)));
    const xb = x + (<usize>b << 5), bi = <usize>b << 2;
    s0 = q6kStep(s0, d, load<f32>(ad + bi), q50Block(blk, xb, load<i32>(bs + bi)));
    if (nt > 1) s1 = q6kStep(s1, d, load<f32>(ad + bi + dStep), q50Block(blk, xb + xStep, load<i32>(bs + bi + dStep)));
    if (nt > 2) s2 = q6kStep(s2, d, load<f32>(ad + bi + 2 * dStep), q50Block(blk, xb + 2 * xStep, load<i32>(bs + bi + 2 * dStep)));
    if (nt > 3) s3 = q6kStep(s3, d, load<f32>(ad + bi + 3 * dStep), q50Block(blk, xb + 3 * xStep, load<i32>(bs + bi + 3 * dStep)));
  }
  storeRows(y, s0, lo, hi);
  if (nt > 1) storeRows(y + yStep, s1, lo, hi);
  if (nt > 2) storeRows(y + 2 * yStep, s2, lo, hi);
  if (nt > 3) storeRows(y + 3 * yStep, s3, lo, hi);
}

/**
 * s + one token's f32 term of the Q5_0 group block at bg: low and high nibbles in separate
 * dependency chains (one chain of eight dependent dot products per block was the limit); integer
 * sums are exact, so the f32 step (q6kStep) sees what q50Tile's does.
 */
@inline function q50Block1(s: v128, bg: usize, xb: usize, st: v128, yd: f32, m: v128, t: v128, s7: v128, keep: v128, rebias: v128): v128 {
  const hg = v128.load(bg + 8);
  let l = st, u = i32x4.splat(0);
  l = rdot(l, q50CodesM(bg, hg, 0, 0, m, t, s7), xb); u = rdot(u, q50CodesM(bg, hg, 0, 1, m, t, s7), xb + 16);
  l = rdot(l, q50CodesM(bg, hg, 1, 0, m, t, s7), xb + 4); u = rdot(u, q50CodesM(bg, hg, 1, 1, m, t, s7), xb + 20);
  l = rdot(l, q50CodesM(bg, hg, 2, 0, m, t, s7), xb + 8); u = rdot(u, q50CodesM(bg, hg, 2, 1, m, t, s7), xb + 24);
  l = rdot(l, q50CodesM(bg, hg, 3, 0, m, t, s7), xb + 12); u = rdot(u, q50CodesM(bg, hg, 3, 1, m, t, s7), xb + 28);
  return q6kStep(s, scales4(bg, keep, rebias), yd, i32x4.add(l, u));
}

/**
 * Decode (relaxed, one token): four Q5_0 row groups at g + i * stride (i < 4, a quarter of the row
 * range apart), q50Block1 each: four weight streams, once touched TOUCH bytes ahead every 528 bytes
 * (off now: rows4.ts TOUCH_AHEAD).
 * Sums stored at y + i * yStride. Whole 0.5B Q4_K_M step (mostly Q5_0), quiet, interleaved A/B
 * (bench/kernels/ab-step.mjs, 9 rounds): two streams untouched -> touched, 1 thread 55.2 -> 48.9 ms
 * CPU, 2 threads 33.5 -> 32.1 ms wall; two touched -> four touched, 48.1 -> 42.5 and 34.4 -> 29.5.
 */
function q50Decode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, y: usize, yStride: usize, lim: usize): void {
  const one = <i32>(nb >= 0), m = i8x16.splat(<i8>(31 * one)), t = i8x16.splat(<i8>(0x18 * one)), s7 = i8x16.splat(<i8>(7 * one));
  const keep = scalesKeep(one), rebias = scalesRebias(one);
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, sink = s0;
  for (let b = 0; b < nb; b++) {
    const bg = g + <usize>b * 88, xb = x + (<usize>b << 5), st = i32x4.splat(-(load<i32>(bs + (<usize>b << 2)) << 4)), yd = load<f32>(ad + (<usize>b << 2));
    if (lim != 0 && b % 6 == 0) {
      sink = touch4x9(sink, bg, stride, lim);
    }
    s0 = q50Block1(s0, bg, xb, st, yd, m, t, s7, keep, rebias);
    s1 = q50Block1(s1, bg + stride, xb, st, yd, m, t, s7, keep, rebias);
    s2 = q50Block1(s2, bg + 2 * stride, xb, st, yd, m, t, s7, keep, rebias);
    s3 = q50Block1(s3, bg + 3 * stride, xb, st, yd, m, t, s7, keep, rebias);
  }
  v128.store(y, sunk(s0, sink, nb)); v128.store(y + yStride, s1); v128.store(y + 2 * yStride, s2); v128.store(y + 3 * yStride, s3);
}

/**
 * s + one token's f32 term of the Q4_K (five: Q5_K) group super-block at blk (relaxed), odd k in a
 * second pair of sums (four chains in flight instead of two). q4kTile takes it for one token, so a
 * token alone and inside the decode streams agree: the same codes (q4kLow, q4kHigh), scales
 * (q4kScaleAt) and f32 step (q4kEnd) as q4kDecode4IT.
 */
@inline function q4kBlock1(five: bool, s: v128, blk: usize, xb: usize, yd: f32, bb: usize, f: v128, t3: v128, t1: v128): v128 {
  const qh = blk + 64, q = blk + (five ? 192 : 64);
  let i0 = i32x4.splat(0);
  for (let c = 0; c < 4; c++) {
    const qc = q + <usize>(c << 7), xc = xb + <usize>(c << 6);
    let l0 = i32x4.splat(0), l1 = l0, h0 = l0, h1 = l0;
    for (let k = 0; k < 8; k++) {
      const w = v128.load(qc + (<usize>k << 4)), xk = xc + (<usize>k << 2);
      const hh = five ? v128.load(qh + (<usize>k << 4)) : w;
      const wl = q4kLow(five, w, hh, c, f, t1), wh = q4kHigh(five, w, hh, c, f, t1);
      if (k & 1) { l1 = rdot(l1, wl, xk); h1 = rdot(h1, wh, xk + 32); } else { l0 = rdot(l0, wl, xk); h0 = rdot(h0, wh, xk + 32); }
    }
    i0 = i32x4.add(i0, i32x4.add(i32x4.mul(i32x4.add(l0, l1), q4kScaleAt(blk, c, 0, f, t3)), i32x4.mul(i32x4.add(h0, h1), q4kScaleAt(blk, c, 1, f, t3))));
  }
  return q4kEnd(s, blk, yd, bb, i0, f, t3);
}

/**
 * Decode (relaxed, one token): four Q4_K (five: Q5_K) row groups at g + i * stride (i < 4, a
 * quarter of the row range apart), as q6kDecode4: four weight streams in different pages keep
 * more misses in flight than one, and each super-block touches (touch9) the four streams' lines
 * TOUCH bytes ahead. Each group's super-block is q4kBlock1, so the outputs are q4kTile's. Whole
 * 1.5B Q4_K_M step, 1 thread, CPU time, interleaved A/B (bench/kernels/ab-step.mjs): one stream
* 175 -> four streams 149 -> touched 145 ms (quiet, 9 rounds). (Touching Q6_K's four streams measured no gain;
 * touching is off now: rows4.ts TOUCH_AHEAD.)
 */
@inline function q4kDecode4T(five: bool, g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, y: usize, yStride: usize, lim: usize): void {
  const one = <i32>(nb >= 0), f = i8x16.splat(<i8>(0x0f * one)), t3 = i8x16.splat(<i8>(0x30 * one)), t1 = i8x16.splat(<i8>(0x10 * one));
  const sbb: usize = five ? 704 : 576;
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, sink = s0;
  for (let b = 0; b < nb; b++) {
    const bo = <usize>b * sbb, xb = x + (<usize>b << 8), bb = bs + (<usize>b << 6), yd = load<f32>(ad + (<usize>b << 2));
    if (lim != 0) {
      sink = touch4x9(sink, g + bo, stride, lim);
    }
    s0 = q4kBlock1(five, s0, g + bo, xb, yd, bb, f, t3, t1);
    s1 = q4kBlock1(five, s1, g + stride + bo, xb, yd, bb, f, t3, t1);
    s2 = q4kBlock1(five, s2, g + 2 * stride + bo, xb, yd, bb, f, t3, t1);
    s3 = q4kBlock1(five, s3, g + 3 * stride + bo, xb, yd, bb, f, t3, t1);
  }
  v128.store(y, sunk(s0, sink, nb)); v128.store(y + yStride, s1); v128.store(y + 2 * yStride, s2); v128.store(y + 3 * yStride, s3);
}
function q4kDecode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, y: usize, yStride: usize, lim: usize): void {
  if (lim == 0) q4kDecode4IT(false, g, stride, nb, x, ad, bs, y, yStride, decodeScratch());
  else q4kDecode4T(false, g, stride, nb, x, ad, bs, y, yStride, lim);
}

/** Scale vector (lane = row) of sub-block 2c + hiHalf of the Q4_K group super-block at blk, decoded from its bytes. */
@inline function q4kScaleAt(blk: usize, c: i32, hiHalf: i32, f: v128, t3: v128): v128 {
  const ns = v128.load(blk + 16), hb = v128.load(blk + 48);
  const v = c < 2 ? v128.or(v128.and(ns, f), v128.and(i16x8.shl(hb, 4), t3)) : v128.or(v128.and(i16x8.shr_u(ns, 4), f), v128.and(i16x8.shl(hb, 2), t3));
  const s16 = (c & 1) ? i16x8.extend_high_i8x16_u(v) : i16x8.extend_low_i8x16_u(v);
  return hiHalf ? i32x4.extend_high_i16x8_u(s16) : i32x4.extend_low_i16x8_u(s16);
}

/** The f32 step of the Q4_K group super-block at blk with its integer sum i0 (q4kBlock1's ending). */
@inline function q4kEnd(s: v128, blk: usize, yd: f32, bb: usize, i0: v128, f: v128, t3: v128): v128 {
  const dd = v128.load(blk);
  const d = halfx4(i32x4.extend_low_i16x8_u(dd)), dmin = halfx4(i32x4.extend_high_i16x8_u(dd));
  const nm = v128.load(blk + 32), hb = v128.load(blk + 48);
  const ma = v128.or(v128.and(nm, f), v128.and(hb, t3));
  const mb = v128.or(v128.and(i16x8.shr_u(nm, 4), f), v128.and(i16x8.shr_u(hb, 2), t3));
  const m0 = i16x8.extend_low_i8x16_u(ma), m1 = i16x8.extend_high_i8x16_u(ma), m2 = i16x8.extend_low_i8x16_u(mb), m3 = i16x8.extend_high_i8x16_u(mb);
  return q4kStep(s, d, dmin, yd, i0, q4kMins(bb, m0, m1, m2, m3));
}

/**
 * Decode (relaxed, one token), Q4_K (five: Q5_K): the four streams of q4kDecode4T taken chunk by chunk together,
 * so each pair of activation splats feeds eight dots (four streams' low and high nibbles) instead
 * of two. The integer sums are q4kBlock1's (integers: any order), the f32 step the same.
 */
@inline function q4kDecode4IT(five: bool, g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, y: usize, yStride: usize, sc: usize): void {
  const one = <i32>(nb >= 0), f = i8x16.splat(<i8>(0x0f * one)), t3 = i8x16.splat(<i8>(0x30 * one)), t1 = i8x16.splat(<i8>(0x10 * one));
  const sbb: usize = five ? 704 : 576, qb: usize = five ? 192 : 64;
  // The four streams' f32 sums (sc + 64 on) and integer super-block sums (sc on) wait in the
  // thread's scratch: in registers, V8 kept them and spilled two of the eight dot chains instead.
  const z = f32x4.splat(0);
  v128.store(sc, z, 64); v128.store(sc, z, 80); v128.store(sc, z, 96); v128.store(sc, z, 112);
  for (let b = 0; b < nb; b++) {
    const p0 = g + <usize>b * sbb, p1 = p0 + stride, p2 = p1 + stride, p3 = p2 + stride;
    const xb = x + (<usize>b << 8);
    v128.store(sc, z, 0); v128.store(sc, z, 16); v128.store(sc, z, 32); v128.store(sc, z, 48);
    for (let c = 0; c < 4; c++) {
      const qo: usize = qb + <usize>(c << 7), xc = xb + <usize>(c << 6);
      let l0 = i32x4.splat(0), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
      for (let k = 0; k < 8; k++) {
        const ko = qo + (<usize>k << 4), xk = xc + (<usize>k << 2), hk: usize = 64 + (<usize>k << 4);
        const a = v128.load32_splat(xk), bh = v128.load32_splat(xk + 32);
        let w = v128.load(p0 + ko), hh = five ? v128.load(p0 + hk) : w;
        l0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, q4kLow(five, w, hh, c, f, t1), l0); h0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(bh, q4kHigh(five, w, hh, c, f, t1), h0);
        w = v128.load(p1 + ko); hh = five ? v128.load(p1 + hk) : w;
        l1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, q4kLow(five, w, hh, c, f, t1), l1); h1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(bh, q4kHigh(five, w, hh, c, f, t1), h1);
        w = v128.load(p2 + ko); hh = five ? v128.load(p2 + hk) : w;
        l2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, q4kLow(five, w, hh, c, f, t1), l2); h2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(bh, q4kHigh(five, w, hh, c, f, t1), h2);
        w = v128.load(p3 + ko); hh = five ? v128.load(p3 + hk) : w;
        l3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, q4kLow(five, w, hh, c, f, t1), l3); h3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(bh, q4kHigh(five, w, hh, c, f, t1), h3);
      }
      v128.store(sc, i32x4.add(v128.load(sc), i32x4.add(i32x4.mul(l0, q4kScaleAt(p0, c, 0, f, t3)), i32x4.mul(h0, q4kScaleAt(p0, c, 1, f, t3)))));
      v128.store(sc, i32x4.add(v128.load(sc, 16), i32x4.add(i32x4.mul(l1, q4kScaleAt(p1, c, 0, f, t3)), i32x4.mul(h1, q4kScaleAt(p1, c, 1, f, t3)))), 16);
      v128.store(sc, i32x4.add(v128.load(sc, 32), i32x4.add(i32x4.mul(l2, q4kScaleAt(p2, c, 0, f, t3)), i32x4.mul(h2, q4kScaleAt(p2, c, 1, f, t3)))), 32);
      v128.store(sc, i32x4.add(v128.load(sc, 48), i32x4.add(i32x4.mul(l3, q4kScaleAt(p3, c, 0, f, t3)), i32x4.mul(h3, q4kScaleAt(p3, c, 1, f, t3)))), 48);
    }
    const yd = load<f32>(ad + (<usize>b << 2)), bb = bs + (<usize>b << 6);
    v128.store(sc, q4kEnd(v128.load(sc, 64), p0, yd, bb, v128.load(sc), f, t3), 64);
    v128.store(sc, q4kEnd(v128.load(sc, 80), p1, yd, bb, v128.load(sc, 16), f, t3), 80);
    v128.store(sc, q4kEnd(v128.load(sc, 96), p2, yd, bb, v128.load(sc, 32), f, t3), 96);
    v128.store(sc, q4kEnd(v128.load(sc, 112), p3, yd, bb, v128.load(sc, 48), f, t3), 112);
  }
  v128.store(y, v128.load(sc, 64)); v128.store(y + yStride, v128.load(sc, 80)); v128.store(y + 2 * yStride, v128.load(sc, 96)); v128.store(y + 3 * yStride, v128.load(sc, 112));
}
function q5kDecode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, y: usize, yStride: usize, lim: usize): void {
  if (lim == 0) q4kDecode4IT(true, g, stride, nb, x, ad, bs, y, yStride, decodeScratch());
  else q4kDecode4T(true, g, stride, nb, x, ad, bs, y, yStride, lim);
}

/**
 * Decode (relaxed, one token): four Q6_K row groups at g + i * stride (i < 4, a quarter of the row
 * range apart), q6kBlock1 each, as q4kDecode4T. Group i's sums stored at y + i * yStride. Eight
 * streams (an eighth apart) had measured a little faster on the Xeon VM (whole 1.5B Q4_K_M step
 * 145.7 -> 142.4 ms CPU); on the Zen 5 VM eight streams stall past the caches: 8960x1536 x12
 * (129 MiB), 1 thread, `bench/kernels/ab-wasm.mjs Q6_K 8960x1536 A B --copies 12`, eight streams
 * 11.1 GMAC/s, four 17.8, one 17.7 (from cache, --copies 1: 24.2, 27.2, 20.0).
 */
function q6kDecode4(g: usize, stride: usize, nb: i32, x: usize, ad: usize, bs: usize, y: usize, yStride: usize): void {
  const one = <i32>(nb >= 0), m = i8x16.splat(<i8>(0x3f * one)), m3 = i8x16.splat(<i8>(0x03 * one)), m12 = i8x16.splat(<i8>(0x0c * one)), m48 = i8x16.splat(<i8>(0x30 * one));
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  for (let b = 0; b < nb; b++) {
    const bo = <usize>b * 840, xb = x + (<usize>b << 8), bb = bs + (<usize>b << 6), yd = load<f32>(ad + (<usize>b << 2));
    const p = g + bo;
    s0 = q6kBlock1(s0, p, xb, bb, yd, m, m3, m12, m48);
    s1 = q6kBlock1(s1, p + stride, xb, bb, yd, m, m3, m12, m48);
    s2 = q6kBlock1(s2, p + 2 * stride, xb, bb, yd, m, m3, m12, m48);
    s3 = q6kBlock1(s3, p + 3 * stride, xb, bb, yd, m, m3, m12, m48);
  }
  v128.store(y, s0); v128.store(y + yStride, s1); v128.store(y + 2 * yStride, s2); v128.store(y + 3 * yStride, s3);
}

/** s + one token's f32 term of the group super-block at blk (q6kTile's one-token sum, same order). */
@inline function q6kBlock1(s: v128, blk: usize, xb: usize, bb: usize, yd: f32, m: v128, m3: v128, m12: v128, m48: v128): v128 {
  let i0 = q6kQuad(blk, xb, bb, 0, 0, m, m3, m12, m48);
  i0 = i32x4.add(i0, q6kQuad(blk, xb, bb, 0, 1, m, m3, m12, m48));
  i0 = i32x4.add(i0, q6kQuad(blk, xb, bb, 1, 0, m, m3, m12, m48));
  i0 = i32x4.add(i0, q6kQuad(blk, xb, bb, 1, 1, m, m3, m12, m48));
  return q6kStep(s, halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(blk))), yd, i0);
}

// ------------------------------------------------------------------ products

// One real function per format and token count (each inlines its tile with nt constant): inlining
// all sixteen into one caller made one function that Binaryen took ~200 s per build to optimize.
function q4kTile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(false, 1, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q4kTile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(false, 2, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q4kTile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(false, 3, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q4kTile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(false, 4, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q5kTile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(true, 1, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q5kTile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(true, 2, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q5kTile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(true, 3, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q5kTile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q4kTile(true, 4, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q50Tile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q50Tile(1, g, nb, x, xStep, ad, dStep, bs, y, yStep, lo, hi); }
function q50Tile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q50Tile(2, g, nb, x, xStep, ad, dStep, bs, y, yStep, lo, hi); }
function q50Tile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q50Tile(3, g, nb, x, xStep, ad, dStep, bs, y, yStep, lo, hi); }
function q50Tile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q50Tile(4, g, nb, x, xStep, ad, dStep, bs, y, yStep, lo, hi); }
function q6kTile1(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q6kTile(1, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q6kTile2(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q6kTile(2, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q6kTile3(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q6kTile(3, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }
function q6kTile4(g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void { q6kTile(4, g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi); }

@inline function tile(type: i32, nt: i32, g: usize, nb: i32, x: usize, xStep: usize, ad: usize, dStep: usize, bs: usize, bStep: usize, y: usize, yStep: usize, lo: i32, hi: i32): void {
  if (type == GGML_TYPE_Q4_K) {
    if (nt == 4) q4kTile4(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 3) q4kTile3(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 2) q4kTile2(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else q4kTile1(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
  } else if (type == GGML_TYPE_Q5_K) {
    if (nt == 4) q5kTile4(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 3) q5kTile3(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 2) q5kTile2(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else q5kTile1(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
  } else if (type == GGML_TYPE_Q5_0) {
    if (nt == 4) q50Tile4(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 3) q50Tile3(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 2) q50Tile2(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else q50Tile1(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
  } else {
    if (nt == 4) q6kTile4(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 3) q6kTile3(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else if (nt == 2) q6kTile2(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
    else q6kTile1(g, nb, x, xStep, ad, dStep, bs, bStep, y, yStep, lo, hi);
  }
}

/**
 * Q5_0 prefill in bands (as rows4-band.ts does Q4_0): per band of four whole groups and slice of
 * BAND_SLICE blocks, the 5-bit codes are made once into the thread's scratch as bytes (low
 * elements of chunks 0..3 at 16c, high ones at 64 + 16c, per group 128 bytes, then the four
 * groups' f32 scales), then the tokens run two at a time (band2, kind BAND_Q5_0: the -16 through
 * the activations' block sums). The same integer sums and f32 order as q50Tile (q6kStep), so the
 * same bits.
 */
function q50Bands(w: usize, rowBytes: usize, cols: i32, rows: i32, ga: i32, nBands: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 5, xStep = <usize>cols, aStep = <usize>nb << 2, yStep = <usize>rows << 2, gStride = rowBytes << 2, blk = bandBlock(false);
  const one = <i32>(nb >= 0), m = i8x16.splat(<i8>(31 * one)), t = i8x16.splat(<i8>(0x18 * one)), s7 = i8x16.splat(<i8>(7 * one));
  const keep = scalesKeep(one), rebias = scalesRebias(one);
  for (let i = 0; i < nBands; i++) {
    const g = ga + (i << 2), yg = y + (<usize>g << 4);
    for (let k0 = 0; k0 < nb; k0 += BAND_SLICE) {
      const kn = min(BAND_SLICE, nb - k0), ku = <usize>k0, gk = w + <usize>g * gStride + ku * 88;
      let d = threadScratch;
      for (let b = 0; b < kn; b++) {
        let p = gk + <usize>b * 88;
        for (let q = 0; q < 4; q++) {
          const o = d + <usize>q * BAND_GROUP, h = v128.load(p + 8);
          v128.store(d + 512 + (<usize>q << 4), scales4(p, keep, rebias));
          v128.store(o, q50CodesM(p, h, 0, 0, m, t, s7)); v128.store(o, q50CodesM(p, h, 0, 1, m, t, s7), 64);
          v128.store(o, q50CodesM(p, h, 1, 0, m, t, s7), 16); v128.store(o, q50CodesM(p, h, 1, 1, m, t, s7), 80);
          v128.store(o, q50CodesM(p, h, 2, 0, m, t, s7), 32); v128.store(o, q50CodesM(p, h, 2, 1, m, t, s7), 96);
          v128.store(o, q50CodesM(p, h, 3, 0, m, t, s7), 48); v128.store(o, q50CodesM(p, h, 3, 1, m, t, s7), 112);
          p += gStride;
        }
        d += blk;
      }
      const xk = act + (ku << 5), adk = ad + (ku << 2), ask = asum + (ku << 2);
      // Tokens two at a time; an odd last one as a pair of itself.
      for (let tk = 0; tk < nTok; tk += 2) {
        const tu = <usize>tk, two = tk + 1 < nTok;
        band2(BAND_Q5_0, kn, threadScratch, BAND_GROUP, blk, threadScratch + 512, blk, xk + tu * xStep, two ? xStep : 0, adk + tu * aStep, ask + tu * aStep, two ? aStep : 0, yg + tu * yStep, two ? yStep : 0, k0 == 0);
      }
    }
  }
}

/**
 * Grouped rows r0..r1 for nTok tokens: group by group, tokens four at a time, so a group's
 * weights stay in L1 while every token passes over them.
 */
@inline function rows4kGroups(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols / blockElems(type);
  // Per token: a scale per block; Q8_K sums per 16 elements, Q8 sums per block.
  const xStep = <usize>cols, dStep = <usize>nb << 2, bStep = type == GGML_TYPE_Q5_0 ? dStep : <usize>nb << 6, yStep = <usize>rows << 2;
  // Decode: whole groups in four streams a quarter of the range apart, as rows4.ts's q4Rows.
  // Batches: group by group below. (Q5_0's two far groups in one pass for 2-4 tokens were slower on
  // Zen 5: 0.5B Q4_K_M, 4 tokens, 1 thread, interleaved A/B: 56.4 -> 51.5 ms CPU; 3 tokens 46.1 -> 41.3.)
  let pa = 0, pd = 0;
  if (ASC_FEATURE_RELAXED_SIMD && nTok == 1) {
    pa = (r0 + 3) >> 2; pd = ((r1 >> 2) - pa) >> 2;
    const lim = touchLimit(w, <usize>((r1 >> 2) << 2) * rowBytes);
    for (let i = 0; i < pd; i++) {
      const g0 = pa + i, wg = w + <usize>g0 * (rowBytes << 2), yg = y + (<usize>g0 << 4);
      if (type == GGML_TYPE_Q6_K) q6kDecode4(wg, <usize>pd * (rowBytes << 2), nb, act, ad, asum, yg, <usize>pd << 4);
      else if (type == GGML_TYPE_Q4_K) q4kDecode4(wg, <usize>pd * (rowBytes << 2), nb, act, ad, asum, yg, <usize>pd << 4, lim);
      else if (type == GGML_TYPE_Q5_K) q5kDecode4(wg, <usize>pd * (rowBytes << 2), nb, act, ad, asum, yg, <usize>pd << 4, lim);
      else q50Decode4(wg, <usize>pd * (rowBytes << 2), nb, act, ad, asum, yg, <usize>pd << 4, lim);
    }
  }
  // Q5_0 over many tokens: whole bands of four groups, two tokens at a time (q50Bands).
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (type == GGML_TYPE_Q5_0 && bandFits(nTok)) {
      pa = bandFirst(r0); pd = bandCount(r0, r1);
      q50Bands(w, rowBytes, cols, rows, pa, pd, act, ad, asum, y, nTok);
    }
  }
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    if (g >= pa && g < pa + 4 * pd) continue;
    const gw = w + <usize>g * (rowBytes << 2), yg = y + (<usize>g << 4);
    const lo = max(r0 - (g << 2), 0), hi = min(r1 - (g << 2), 4);
    let t = 0;
    for (; t + 4 <= nTok; t += 4) {
      tile(type, 4, gw, nb, act + <usize>t * xStep, xStep, ad + <usize>t * dStep, dStep, asum + <usize>t * bStep, bStep, yg + <usize>t * yStep, yStep, lo, hi);
    }
    const left = nTok - t, xt = act + <usize>t * xStep, dt = ad + <usize>t * dStep, bt = asum + <usize>t * bStep, yt = yg + <usize>t * yStep;
    if (left == 1) tile(type, 1, gw, nb, xt, xStep, dt, dStep, bt, bStep, yt, yStep, lo, hi);
    else if (left == 2) tile(type, 2, gw, nb, xt, xStep, dt, dStep, bt, bStep, yt, yStep, lo, hi);
    else if (left == 3) tile(type, 3, gw, nb, xt, xStep, dt, dStep, bt, bStep, yt, yStep, lo, hi);
  }
}

/** Q4_K scale (k = 0) or min (k = 1) j of lane r of a re-laid super-block at blk. */
@inline function q4kRelaidScaleMin(blk: usize, r: i32, j: i32, k: i32): i32 {
  if (k == 0) {
    const p = blk + <usize>(4 * (j & 3) + r), hs = j >> 2;
    return ((<i32>load<u8>(p + 16) >> (4 * hs)) & 15) | (((<i32>load<u8>(p + 48) >> (2 * hs)) & 3) << 4);
  }
  const p = 8 * r + j, pm = blk + <usize>(p & 15), hm = p >> 4;
  return ((<i32>load<u8>(pm + 32) >> (4 * hm)) & 15) | (((<i32>load<u8>(pm + 48) >> (4 + 2 * hm)) & 3) << 4);
}

/**
 * Grouped rows r0..r1 one at a time from the layout (the plain build, no SIMD: the f16 scales
 * convert one by one here), in dot.ts's integer sums and f32 order.
 */
function rows4kScalar(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): void {
  const nb = cols >> 8;
  for (let r = r0; r < r1; r++) {
    const lane = r & 3, gw = w + <usize>(r >> 2) * (rowBytes << 2);
    if (type == GGML_TYPE_Q5_0) {
      const nb5 = cols >> 5;
      for (let t = 0; t < nTok; t++) {
        let s: f32 = 0;
        for (let b = 0; b < nb5; b++) {
          const blk = gw + <usize>b * 88, x = act + <usize>t * <usize>cols + (<usize>b << 5), bi = (<usize>t * <usize>nb5 + <usize>b) << 2;
          let isum = 0;
          for (let c = 0; c < 4; c++) {
            for (let i = 0; i < 4; i++) {
              const v = <i32>load<u8>(blk + 24 + (<usize>c << 4) + (<usize>lane << 2) + <usize>i), h = <i32>load<u8>(blk + 8 + (<usize>lane << 2) + <usize>i);
              const q0 = v & 31, q1 = (v >> 5) | (((h >> (2 * c)) & 3) << 3);
              isum += (q0 - 16) * <i32>load<i8>(x + <usize>(4 * c + i)) + (q1 - 16) * <i32>load<i8>(x + <usize>(16 + 4 * c + i));
            }
          }
          s += <f32>isum * (f16ToF32(load<u16>(blk + (<usize>lane << 1))) * load<f32>(ad + bi));
        }
        store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), s);
      }
      continue;
    }
    for (let t = 0; t < nTok; t++) {
      let s: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const x = act + <usize>t * <usize>cols + (<usize>b << 8), bi = <usize>t * <usize>nb + <usize>b;
        const yd = load<f32>(ad + (bi << 2)), bs = asum + (bi << 6);
        if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K) {
          const q5 = type == GGML_TYPE_Q5_K, blk = gw + <usize>b * (q5 ? 704 : 576), qs = blk + (q5 ? 192 : 64);
          let isum = 0, summs = 0;
          for (let j = 0; j < 8; j++) {
            summs += (load<i32>(bs + (<usize>j << 3)) + load<i32>(bs + (<usize>j << 3) + 4)) * q4kRelaidScaleMin(blk, lane, j, 1);
          }
          for (let c = 0; c < 4; c++) {
            let lo = 0, hi = 0;
            for (let l = 0; l < 32; l++) {
              const v = <i32>load<u8>(qs + <usize>(((8 * c + (l >> 2)) << 4) + (lane << 2) + (l & 3)));
              const h = q5 ? <i32>load<u8>(blk + 64 + <usize>(((l >> 2) << 4) + (lane << 2) + (l & 3))) : 0;
              lo += <i32>load<i8>(x + <usize>(64 * c + l)) * ((v & 15) | (((h >> (2 * c)) & 1) << 4));
              hi += <i32>load<i8>(x + <usize>(64 * c + 32 + l)) * ((v >> 4) | (((h >> (2 * c + 1)) & 1) << 4));
            }
            isum += q4kRelaidScaleMin(blk, lane, 2 * c, 0) * lo + q4kRelaidScaleMin(blk, lane, 2 * c + 1, 0) * hi;
          }
          const dd = f16ToF32(load<u16>(blk + (<usize>lane << 1))), dm = f16ToF32(load<u16>(blk + 8 + (<usize>lane << 1)));
          s += (dd * yd) * <f32>isum - (dm * yd) * <f32>summs;
        } else {
          const blk = gw + <usize>b * 840;
          let isum = 0;
          for (let j = 0; j < 16; j++) {
            const h = j >> 3, q = (j >> 1) & 3, kk = j & 1;
            let sub = 0;
            for (let i = 0; i < 16; i++) {
              const k = 4 * kk + (i >> 2), tr = blk + 72 + <usize>(48 * (8 * h + k)) + <usize>((lane << 2) + (i & 3));
              const code = q < 3 ? <i32>load<u8>(tr + (<usize>q << 4)) & 63
                : (<i32>load<u8>(tr) >> 6) | ((<i32>load<u8>(tr + 16) >> 6) << 2) | ((<i32>load<u8>(tr + 32) >> 6) << 4);
              sub += (code - 32) * <i32>load<i8>(x + <usize>(128 * h + 32 * q + 16 * kk + i));
            }
            isum += <i32>load<i8>(blk + 8 + <usize>(4 * j + lane)) * sub;
          }
          s += <f32>isum * (f16ToF32(load<u16>(blk + (<usize>lane << 1))) * yd);
        }
      }
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), s);
    }
  }
}

/** Rows r0..r1 of a Q4_K, Q5_K, Q6_K or Q5_0 matrix re-laid by rows4k_pack; returns 1 for other types. */
export function rows4k_matmul(type: i32, w: usize, rowBytes: usize, cols: i32, rows: i32, r0: i32, r1: i32, act: usize, ad: usize, asum: usize, y: usize, nTok: i32): i32 {
  if (!rows4kHas(type)) return 1;
  const g1 = min(r1, rows & ~3);
  if (r0 < g1) {
    if (ASC_FEATURE_SIMD) {
      // Token passes (rows4.ts tokenBlock): per token, a scale per block and Q8_K sums per 16
      // elements, or Q8 sums per block (Q5_0).
      const nbk = cols / blockElems(type), dStep = <usize>nbk << 2, bStep = type == GGML_TYPE_Q5_0 ? dStep : <usize>nbk << 6;
      const tb = tokenBlock(cols);
      for (let t0 = 0; t0 < nTok; t0 += tb) {
        const n = min(tb, nTok - t0), tu = <usize>t0;
        const xt = act + tu * <usize>cols, adt = ad + tu * dStep, bt = asum + tu * bStep, yt = y + ((tu * <usize>rows) << 2);
        if (type == GGML_TYPE_Q4_K) rows4kGroups(GGML_TYPE_Q4_K, w, rowBytes, cols, rows, r0, g1, xt, adt, bt, yt, n);
        else if (type == GGML_TYPE_Q5_K) rows4kGroups(GGML_TYPE_Q5_K, w, rowBytes, cols, rows, r0, g1, xt, adt, bt, yt, n);
        else if (type == GGML_TYPE_Q5_0) rows4kGroups(GGML_TYPE_Q5_0, w, rowBytes, cols, rows, r0, g1, xt, adt, bt, yt, n);
        else rows4kGroups(GGML_TYPE_Q6_K, w, rowBytes, cols, rows, r0, g1, xt, adt, bt, yt, n);
      }
    } else {
      rows4kScalar(type, w, rowBytes, cols, rows, r0, g1, act, ad, asum, y, nTok);
    }
  }
  // The last rows % 4, still in row layout: dot.ts's row kernels (dot_q5's sums in ggml's order).
  const nb = cols >> 8, nb5 = cols >> 5;
  for (let r = max(r0, rows & ~3); r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let t = 0; t < nTok; t++) {
      if (type == GGML_TYPE_Q5_0) {
        const bo = (<usize>t * <usize>nb5) << 2;
        store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), dot_q5(wr, act + <usize>t * <usize>cols, ad + bo, 0, nb5, false));
        continue;
      }
      const ao = act + <usize>t * <usize>cols, dof = ad + ((<usize>t * <usize>nb) << 2), bsum = asum + ((<usize>t * <usize>nb) << 6);
      const v = type == GGML_TYPE_Q4_K ? dot_q4_k(wr, ao, dof, bsum, nb) : type == GGML_TYPE_Q5_K ? dot_q5_k(wr, ao, dof, bsum, nb) : dot_q6_k(wr, ao, dof, bsum, nb);
      store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), v);
    }
  }
  return 0;
}
