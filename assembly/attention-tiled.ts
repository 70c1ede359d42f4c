// Causal attention for long query batches (prefill), in tiles as llama.cpp's CPU flash attention
// does once a batch has 64 or more queries (ggml's flash_attn_ext_tiled): Q in f32, keys in tiles
// of 64, each tile's scores one small matrix product, a softmax update per tile (one max, one
// rescale), the V update a second product, all in f32. Not the decode path (attention.ts): a
// query row's result here depends only on its own scores and the fixed tiles of 64 keys from
// position 0, never on which rows, heads or threads share a block. Twin: kernels/ref/attention-tiled.ts.

import { halfx4, f16ToF32 } from './f16';
import { expConst, expF32, expF32x4k } from './exp';

/** Keys per tile (ggml's GGML_FA_TILE_KV). */
const KT: i32 = 64;
/** Query batches of at least this many tokens take this path (ggml's GGML_FA_TILE_Q). */
export const TILED_MIN_TOKENS: i32 = 64;
/** Rows (token x query head of one KV head) a block aims at: its K/V tile is widened once for all. */
const ROWS: i32 = 64;

/** Element d of a cached row at kp as f32 (f16: an f16 half widened). */
@inline function cacheAt(kp: usize, d: i32, f16: i32): f32 {
  return f16 ? f16ToF32(load<u16>(kp + (<usize>d << 1))) : load<f32>(kp + (<usize>d << 2));
}

/** Tokens per block for a group of query heads sharing one KV head. */
@inline function blockTokens(group: i32): i32 {
  return max(1, ROWS / group);
}

/** Floats of scratch one participant needs (rows of Q, scores, accumulators, M, S; K and V tiles). */
export function attention_tiled_scratch(nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32): i32 {
  const group = nHead / nHeadKv;
  const rows = blockTokens(group) * group;
  return rows * (headDim + KT + headDimV + 2) + headDim * KT + KT * headDimV;
}

/**
 * c[r][j] += sum over k < n, in order, of a[r][k] * b[k][j] for rows 0..rows and columns 0..cols
 * (row strides in bytes; f32, each product and sum rounded): the scores (Q against the transposed
 * K tile, c zeroed first) and the V update (probabilities against the V tile). Two rows by 16
 * columns in registers, then 4 columns, then single columns; every element's sum runs over k in
 * the same order whatever block it falls in, so the twin walks it one element at a time.
 */
function gemmAcc(a: usize, aRow: usize, b: usize, bRow: usize, c: usize, cRow: usize, rows: i32, cols: i32, n: i32): void {
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    for (; r + 2 <= rows; r += 2) {
      const a0 = a + <usize>r * aRow, a1 = a0 + aRow, c0 = c + <usize>r * cRow, c1 = c0 + cRow;
      let j = 0;
      for (; j + 16 <= cols; j += 16) {
        const o0 = c0 + (<usize>j << 2), o1 = c1 + (<usize>j << 2);
        let p0 = v128.load(o0), p1 = v128.load(o0, 16), p2 = v128.load(o0, 32), p3 = v128.load(o0, 48);
        let q0 = v128.load(o1), q1 = v128.load(o1, 16), q2 = v128.load(o1, 32), q3 = v128.load(o1, 48);
        let bp = b + (<usize>j << 2);
        for (let k = 0; k < n; k++) {
          const v0 = v128.load(bp), v1 = v128.load(bp, 16), v2 = v128.load(bp, 32), v3 = v128.load(bp, 48);
          const x0 = v128.load32_splat(a0 + (<usize>k << 2)), x1 = v128.load32_splat(a1 + (<usize>k << 2));
          p0 = f32x4.add(p0, f32x4.mul(x0, v0)); p1 = f32x4.add(p1, f32x4.mul(x0, v1));
          p2 = f32x4.add(p2, f32x4.mul(x0, v2)); p3 = f32x4.add(p3, f32x4.mul(x0, v3));
          q0 = f32x4.add(q0, f32x4.mul(x1, v0)); q1 = f32x4.add(q1, f32x4.mul(x1, v1));
          q2 = f32x4.add(q2, f32x4.mul(x1, v2)); q3 = f32x4.add(q3, f32x4.mul(x1, v3));
          bp += bRow;
        }
        v128.store(o0, p0); v128.store(o0, p1, 16); v128.store(o0, p2, 32); v128.store(o0, p3, 48);
        v128.store(o1, q0); v128.store(o1, q1, 16); v128.store(o1, q2, 32); v128.store(o1, q3, 48);
      }
      for (; j + 4 <= cols; j += 4) {
        const o0 = c0 + (<usize>j << 2), o1 = c1 + (<usize>j << 2);
        let p0 = v128.load(o0), q0 = v128.load(o1);
        let bp = b + (<usize>j << 2);
        for (let k = 0; k < n; k++) {
          const v0 = v128.load(bp);
          p0 = f32x4.add(p0, f32x4.mul(v128.load32_splat(a0 + (<usize>k << 2)), v0));
          q0 = f32x4.add(q0, f32x4.mul(v128.load32_splat(a1 + (<usize>k << 2)), v0));
          bp += bRow;
        }
        v128.store(o0, p0); v128.store(o1, q0);
      }
      for (; j < cols; j++) {
        let p0 = load<f32>(c0 + (<usize>j << 2)), q0 = load<f32>(c1 + (<usize>j << 2));
        for (let k = 0; k < n; k++) {
          const v = load<f32>(b + <usize>k * bRow + (<usize>j << 2));
          p0 += load<f32>(a0 + (<usize>k << 2)) * v;
          q0 += load<f32>(a1 + (<usize>k << 2)) * v;
        }
        store<f32>(c0 + (<usize>j << 2), p0); store<f32>(c1 + (<usize>j << 2), q0);
      }
    }
  }
  for (; r < rows; r++) {
    const a0 = a + <usize>r * aRow, c0 = c + <usize>r * cRow;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      // The odd row (blocks of 9 tokens x 7 heads are 63 rows) in vectors too: scalar, its one
      // chain of dependent adds per column cost about a third of the 62 vector rows' time.
      for (; j + 16 <= cols; j += 16) {
        const o0 = c0 + (<usize>j << 2);
        let p0 = v128.load(o0), p1 = v128.load(o0, 16), p2 = v128.load(o0, 32), p3 = v128.load(o0, 48);
        let bp = b + (<usize>j << 2);
        for (let k = 0; k < n; k++) {
          const x0 = v128.load32_splat(a0 + (<usize>k << 2));
          p0 = f32x4.add(p0, f32x4.mul(x0, v128.load(bp))); p1 = f32x4.add(p1, f32x4.mul(x0, v128.load(bp, 16)));
          p2 = f32x4.add(p2, f32x4.mul(x0, v128.load(bp, 32))); p3 = f32x4.add(p3, f32x4.mul(x0, v128.load(bp, 48)));
          bp += bRow;
        }
        v128.store(o0, p0); v128.store(o0, p1, 16); v128.store(o0, p2, 32); v128.store(o0, p3, 48);
      }
      for (; j + 4 <= cols; j += 4) {
        const o0 = c0 + (<usize>j << 2);
        let p0 = v128.load(o0);
        let bp = b + (<usize>j << 2);
        for (let k = 0; k < n; k++) {
          p0 = f32x4.add(p0, f32x4.mul(v128.load32_splat(a0 + (<usize>k << 2)), v128.load(bp)));
          bp += bRow;
        }
        v128.store(o0, p0);
      }
    }
    for (; j < cols; j++) {
      let p0 = load<f32>(c0 + (<usize>j << 2));
      for (let k = 0; k < n; k++) p0 += load<f32>(a0 + (<usize>k << 2)) * load<f32>(b + <usize>k * bRow + (<usize>j << 2));
      store<f32>(c0 + (<usize>j << 2), p0);
    }
  }
}

/**
 * One row's softmax update for a tile: scores sc[0..kn4) (scaled here), the first `valid` of them
 * seen by the row; M/S the row's running max and sum, acc its accumulator. Leaves p (over sc) with
 * exp(s - M) for valid keys and 0 for the rest up to kn4. The tile's sum is four lanes of keys
 * k = lane mod 4, added ((l0 + l1) + l2) + l3.
 */
function rowSoftmax(s: usize, kn4: i32, valid: i32, scale: f32, mp: usize, sp: usize, acc: usize, headDimV: i32): void {
  if (valid <= 0) { memory.fill(s, 0, <usize>kn4 << 2); return; }
  let m: f32 = -Infinity;
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    let m4 = f32x4.splat(-Infinity);
    const sc4 = f32x4.splat(scale);
    for (; k + 4 <= valid; k += 4) m4 = f32x4.max(m4, f32x4.mul(v128.load(s + (<usize>k << 2)), sc4));
    m = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  }
  for (; k < valid; k++) m = max(m, load<f32>(s + (<usize>k << 2)) * scale);
  const mOld = load<f32>(mp);
  const mNew = max(mOld, m);
  let S = load<f32>(sp);
  if (mNew > mOld) {
    const ms = expF32(mOld - mNew);
    let e = 0;
    if (ASC_FEATURE_SIMD) {
      const ms4 = f32x4.splat(ms);
      for (; e + 4 <= headDimV; e += 4) v128.store(acc + (<usize>e << 2), f32x4.mul(v128.load(acc + (<usize>e << 2)), ms4));
    }
    for (; e < headDimV; e++) store<f32>(acc + (<usize>e << 2), load<f32>(acc + (<usize>e << 2)) * ms);
    S *= ms;
    store<f32>(mp, mNew);
  }
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let sum4 = f32x4.splat(0);
    const sc4 = f32x4.splat(scale), m4 = f32x4.splat(mNew), v4 = i32x4.splat(valid);
    // expF32x4k's constants loaded once: V8 rebuilds a v128 constant (three instructions) at every
    // use inside a loop.
    const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
    const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
    let lane = i32x4(0, 1, 2, 3);
    for (let j = 0; j < kn4; j += 4) {
      const p = s + (<usize>j << 2);
      const e4 = v128.and(expF32x4k(f32x4.sub(f32x4.mul(v128.load(p), sc4), m4), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11), i32x4.lt_s(lane, v4));
      v128.store(p, e4);
      sum4 = f32x4.add(sum4, e4);
      lane = i32x4.add(lane, i32x4.splat(4));
    }
    l0 = f32x4.extract_lane(sum4, 0); l1 = f32x4.extract_lane(sum4, 1); l2 = f32x4.extract_lane(sum4, 2); l3 = f32x4.extract_lane(sum4, 3);
  } else {
    for (let j = 0; j < kn4; j += 4) {
      const p = s + (<usize>j << 2);
      const e0: f32 = j < valid ? expF32(load<f32>(p) * scale - mNew) : 0;
      const e1: f32 = j + 1 < valid ? expF32(load<f32>(p, 4) * scale - mNew) : 0;
      const e2: f32 = j + 2 < valid ? expF32(load<f32>(p, 8) * scale - mNew) : 0;
      const e3: f32 = j + 3 < valid ? expF32(load<f32>(p, 12) * scale - mNew) : 0;
      store<f32>(p, e0); store<f32>(p, e1, 4); store<f32>(p, e2, 8); store<f32>(p, e3, 12);
      l0 += e0; l1 += e1; l2 += e2; l3 += e3;
    }
  }
  store<f32>(sp, S + (((l0 + l1) + l2) + l3));
}

/**
 * Attention of nTok query tokens at positions pos0.. (no spans) for query heads h0..h1, tiled.
 * Layouts and arguments as attention.ts's `attention`; scratch: attention_tiled_scratch floats.
 */
export function attention_tiled(q: usize, k: usize, v: usize, nTok: i32, pos0: i32, nHead: i32, nHeadKv: i32, headDim: i32, headDimV: i32, scale: f32, f16: i32,
  out: usize, h0: i32, h1: i32, scratch: usize): void {
  const group = nHead / nHeadKv;
  const bt = blockTokens(group);
  const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
  const maxRows = bt * group;
  const qs = scratch;
  const sc = qs + (<usize>(maxRows * headDim) << 2);
  const acc = sc + (<usize>(maxRows * KT) << 2);
  const Mr = acc + (<usize>(maxRows * headDimV) << 2);
  const Sr = Mr + (<usize>maxRows << 2);
  const kt = Sr + (<usize>maxRows << 2);
  const vt = kt + (<usize>(headDim * KT) << 2);
  for (let g0 = h0; g0 < h1;) {
    const kvh = g0 / group;
    const g1 = min(h1, (kvh + 1) * group);
    const n = g1 - g0;
    for (let t0 = 0; t0 < nTok; t0 += bt) {
      const nt = min(bt, nTok - t0);
      const rows = nt * n;
      // Rows in [token][head] order: Q copied in, M = -inf, S = 0, acc = 0.
      for (let tt = 0; tt < nt; tt++) {
        for (let i = 0; i < n; i++) {
          const r = tt * n + i;
          memory.copy(qs + (<usize>(r * headDim) << 2), q + (<usize>((t0 + tt) * nHead + g0 + i) * <usize>headDim << 2), <usize>headDim << 2);
          store<f32>(Mr + (<usize>r << 2), -Infinity);
          store<f32>(Sr + (<usize>r << 2), 0);
        }
      }
      memory.fill(acc, 0, <usize>(rows * headDimV) << 2);
      const lastPos = pos0 + t0 + nt - 1;
      for (let j0 = 0; j0 <= lastPos; j0 += KT) {
        const kn = min(KT, lastPos + 1 - j0);
        const kn4 = (kn + 3) & ~3, kn16 = (kn + 15) & ~15;
        // K tile transposed (keys as lanes), zero past kn; V tile as rows of f32.
        let j4 = 0;
        if (ASC_FEATURE_SIMD) {
          // Four keys by four dimensions at a time: widened (f16), transposed in registers, stored as
          // four runs of keys; the scalar loop below was a fifth of a 512-token prefill's attention.
          const e: usize = f16 ? 1 : 2, st = <usize>kStride << e;
          for (; j4 + 4 <= kn; j4 += 4) {
            const p0 = k + (<usize>((j0 + j4) * kStride + kvh * headDim) << e);
            const p1 = p0 + st, p2 = p1 + st, p3 = p2 + st;
            let d = 0;
            for (; d + 4 <= headDim; d += 4) {
              let r0: v128, r1: v128, r2: v128, r3: v128;
              if (f16) {
                const o = <usize>d << 1;
                r0 = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(p0 + o))); r1 = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(p1 + o)));
                r2 = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(p2 + o))); r3 = halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(p3 + o)));
              } else {
                const o = <usize>d << 2;
                r0 = v128.load(p0 + o); r1 = v128.load(p1 + o); r2 = v128.load(p2 + o); r3 = v128.load(p3 + o);
              }
              const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
              const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
              const o = kt + (<usize>(d * KT + j4) << 2), row = <usize>KT << 2;
              v128.store(o, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
              v128.store(o + row, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
              v128.store(o + 2 * row, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
              v128.store(o + 3 * row, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
            }
            for (; d < headDim; d++) {
              for (let i = 0; i < 4; i++) store<f32>(kt + (<usize>(d * KT + j4 + i) << 2), cacheAt(p0 + <usize>i * st, d, f16));
            }
          }
        }
        for (let j = j4; j < kn; j++) {
          const kp = k + (<usize>((j0 + j) * kStride + kvh * headDim) << (f16 ? 1 : 2));
          for (let d = 0; d < headDim; d++) store<f32>(kt + (<usize>(d * KT + j) << 2), cacheAt(kp, d, f16));
        }
        for (let j = 0; j < kn; j++) {
          const vp = v + (<usize>((j0 + j) * vStride + kvh * headDimV) << (f16 ? 1 : 2));
          const vo = vt + (<usize>(j * headDimV) << 2);
          if (f16) {
            let e = 0;
            if (ASC_FEATURE_SIMD) {
              for (; e + 4 <= headDimV; e += 4) v128.store(vo + (<usize>e << 2), halfx4(i32x4.extend_low_i16x8_u(v128.load64_zero(vp + (<usize>e << 1)))));
            }
            for (; e < headDimV; e++) store<f32>(vo + (<usize>e << 2), f16ToF32(load<u16>(vp + (<usize>e << 1))));
          } else {
            memory.copy(vo, vp, <usize>headDimV << 2);
          }
        }
        for (let j = kn; j < kn16; j++) {
          for (let d = 0; d < headDim; d++) store<f32>(kt + (<usize>(d * KT + j) << 2), 0);
        }
        memory.fill(sc, 0, <usize>(rows * KT) << 2);
        gemmAcc(qs, <usize>headDim << 2, kt, <usize>KT << 2, sc, <usize>KT << 2, rows, kn16, headDim);
        for (let r = 0; r < rows; r++) {
          const pos = pos0 + t0 + r / n;
          rowSoftmax(sc + (<usize>(r * KT) << 2), kn4, min(kn, pos + 1 - j0), scale, Mr + (<usize>r << 2), Sr + (<usize>r << 2),
            acc + (<usize>(r * headDimV) << 2), headDimV);
        }
        gemmAcc(sc, <usize>KT << 2, vt, <usize>headDimV << 2, acc, <usize>headDimV << 2, rows, headDimV, kn);
      }
      for (let r = 0; r < rows; r++) {
        const S = load<f32>(Sr + (<usize>r << 2));
        const inv: f32 = S == 0 ? 0 : <f32>1 / S;
        const a = acc + (<usize>(r * headDimV) << 2);
        const oo = out + (<usize>((t0 + r / n) * nHead + g0 + r % n) * <usize>headDimV << 2);
        for (let e = 0; e < headDimV; e++) store<f32>(oo + (<usize>e << 2), load<f32>(a + (<usize>e << 2)) * inv);
      }
    }
    g0 = g1;
  }
}
