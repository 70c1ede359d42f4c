// Training kernels: forward and backward of the decoder's ops over f32 row-major buffers, and the
// AdamW step. Twins: src/train/ops.ts (one function each, same meaning); held together by
// test/train-wasm.test.ts. Products and attention dot products sum in f32 lanes (SIMD), and the
// softmaxes, SiLU and cross-entropy take exp.ts's f32 polynomial e^x four lanes at a time, so they
// differ from the twins' float64 in the last bits; RMS norm, RoPE, embedding and AdamW compute in
// f64 exactly as the twins do. Every output element is summed by one thread in one order whatever
// the split, so results do not depend on the thread count. Each kernel is its own (non-inline)
// function: Binaryen's time grows badly with big inlined bodies.

import { EXP_MAX, expConst, expF32, expF32x4k } from './exp';

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function hsum4(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** a . b over n floats: four lanes then their sum, the tail (n % 4) after; scalar without SIMD. */
function dotf(a: usize, b: usize, n: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) acc = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), acc);
    s = hsum4(acc);
  }
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/** y[0..n) += a * x[0..n) */
function axpyf(y: usize, x: usize, a: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const av = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) { const p = <usize>i << 2; v128.store(y + p, madd(v128.load(x + p), av, v128.load(y + p))); }
  }
  for (; i < n; i++) { const p = <usize>i << 2; store<f32>(y + p, load<f32>(y + p) + a * load<f32>(x + p)); }
}

/** y(T, rows) = x(T, cols) . W(rows, cols)^T for rows r0..r1: four rows by two tokens per pass. */
export function tr_matmul(w: usize, x: usize, T: i32, rows: i32, cols: i32, y: usize, r0: i32, r1: i32): void {
  const rb = <usize>cols << 2;
  let r = r0;
  if (ASC_FEATURE_SIMD && (cols & 3) == 0) {
    for (; r + 4 <= r1; r += 4) {
      const w0 = w + <usize>r * rb, w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
      let t = 0;
      for (; t + 2 <= T; t += 2) {
        const xa = x + <usize>t * rb, xb = xa + rb;
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (let i: usize = 0; i < rb; i += 16) {
          const p = v128.load(xa + i), q = v128.load(xb + i);
          const u0 = v128.load(w0 + i), u1 = v128.load(w1 + i), u2 = v128.load(w2 + i), u3 = v128.load(w3 + i);
          a0 = madd(u0, p, a0); a1 = madd(u1, p, a1); a2 = madd(u2, p, a2); a3 = madd(u3, p, a3);
          b0 = madd(u0, q, b0); b1 = madd(u1, q, b1); b2 = madd(u2, q, b2); b3 = madd(u3, q, b3);
        }
        const ya = y + ((<usize>t * <usize>rows + <usize>r) << 2), yb = ya + (<usize>rows << 2);
        store<f32>(ya, hsum4(a0)); store<f32>(ya, hsum4(a1), 4); store<f32>(ya, hsum4(a2), 8); store<f32>(ya, hsum4(a3), 12);
        store<f32>(yb, hsum4(b0)); store<f32>(yb, hsum4(b1), 4); store<f32>(yb, hsum4(b2), 8); store<f32>(yb, hsum4(b3), 12);
      }
      for (; t < T; t++) {
        const xa = x + <usize>t * rb, ya = y + ((<usize>t * <usize>rows + <usize>r) << 2);
        store<f32>(ya, dotf(w0, xa, cols)); store<f32>(ya, dotf(w1, xa, cols), 4);
        store<f32>(ya, dotf(w2, xa, cols), 8); store<f32>(ya, dotf(w3, xa, cols), 12);
      }
    }
  }
  // the rows left (and every row without SIMD): the same lane sums as the tiles above
  for (; r < r1; r++) {
    const wr = w + <usize>r * rb;
    for (let t = 0; t < T; t++) store<f32>(y + ((<usize>t * <usize>rows + <usize>r) << 2), dotf(wr, x + <usize>t * rb, cols));
  }
}

/**
 * dx(T, cols) += dy(T, rows) . W for columns c0..c1 (multiples of 4 but for the end): four tokens
 * by eight columns per pass, each element summed over r in order.
 */
export function tr_matmul_dx(w: usize, dy: usize, T: i32, rows: i32, cols: i32, dx: usize, c0: i32, c1: i32): void {
  const rb = <usize>cols << 2, gb = <usize>rows << 2;
  let t = 0;
  if (ASC_FEATURE_SIMD && (cols & 3) == 0) {
    for (; t + 4 <= T; t += 4) {
      const g0 = dy + <usize>t * gb, g1 = g0 + gb, g2 = g1 + gb, g3 = g2 + gb;
      const d0 = dx + <usize>t * rb, d1 = d0 + rb, d2 = d1 + rb, d3 = d2 + rb;
      let c = c0;
      for (; c + 8 <= c1; c += 8) {
        const o = <usize>c << 2;
        let a0 = v128.load(d0 + o), a1 = v128.load(d0 + o, 16), b0 = v128.load(d1 + o), b1 = v128.load(d1 + o, 16);
        let e0 = v128.load(d2 + o), e1 = v128.load(d2 + o, 16), f0 = v128.load(d3 + o), f1 = v128.load(d3 + o, 16);
        let wp = w + o, go: usize = 0;
        for (let r = 0; r < rows; r++) {
          const u = v128.load(wp), v = v128.load(wp, 16);
          let s = v128.load32_splat(g0 + go); a0 = madd(u, s, a0); a1 = madd(v, s, a1);
          s = v128.load32_splat(g1 + go); b0 = madd(u, s, b0); b1 = madd(v, s, b1);
          s = v128.load32_splat(g2 + go); e0 = madd(u, s, e0); e1 = madd(v, s, e1);
          s = v128.load32_splat(g3 + go); f0 = madd(u, s, f0); f1 = madd(v, s, f1);
          wp += rb; go += 4;
        }
        v128.store(d0 + o, a0); v128.store(d0 + o, a1, 16); v128.store(d1 + o, b0); v128.store(d1 + o, b1, 16);
        v128.store(d2 + o, e0); v128.store(d2 + o, e1, 16); v128.store(d3 + o, f0); v128.store(d3 + o, f1, 16);
      }
      for (; c + 4 <= c1; c += 4) {
        const o = <usize>c << 2;
        let a0 = v128.load(d0 + o), b0 = v128.load(d1 + o), e0 = v128.load(d2 + o), f0 = v128.load(d3 + o);
        let wp = w + o, go: usize = 0;
        for (let r = 0; r < rows; r++) {
          const u = v128.load(wp);
          a0 = madd(u, v128.load32_splat(g0 + go), a0); b0 = madd(u, v128.load32_splat(g1 + go), b0);
          e0 = madd(u, v128.load32_splat(g2 + go), e0); f0 = madd(u, v128.load32_splat(g3 + go), f0);
          wp += rb; go += 4;
        }
        v128.store(d0 + o, a0); v128.store(d1 + o, b0); v128.store(d2 + o, e0); v128.store(d3 + o, f0);
      }
    }
    for (; t < T; t++) {
      const g0 = dy + <usize>t * gb, d0 = dx + <usize>t * rb;
      for (let c = c0; c < c1; c += 4) {
        const o = <usize>c << 2;
        let a0 = v128.load(d0 + o);
        let wp = w + o;
        for (let r = 0; r < rows; r++) { a0 = madd(v128.load(wp), v128.load32_splat(g0 + (<usize>r << 2)), a0); wp += rb; }
        v128.store(d0 + o, a0);
      }
    }
    return;
  }
  for (; t < T; t++) {
    for (let c = c0; c < c1; c++) {
      const p = dx + <usize>t * rb + (<usize>c << 2);
      let s = load<f32>(p);
      for (let r = 0; r < rows; r++) s += load<f32>(w + <usize>r * rb + (<usize>c << 2)) * load<f32>(dy + <usize>t * gb + (<usize>r << 2));
      store<f32>(p, s);
    }
  }
}

/** dW(rows, cols) += dy(T, rows)^T . x(T, cols) for rows r0..r1: four rows by eight columns per pass, summed over t in order. */
export function tr_matmul_dw(x: usize, dy: usize, T: i32, rows: i32, cols: i32, dw: usize, r0: i32, r1: i32): void {
  const rb = <usize>cols << 2, gb = <usize>rows << 2;
  let r = r0;
  if (ASC_FEATURE_SIMD && (cols & 3) == 0) {
    for (; r + 4 <= r1; r += 4) {
      const w0 = dw + <usize>r * rb, w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
      const gr = dy + (<usize>r << 2);
      let c = 0;
      for (; c + 8 <= cols; c += 8) {
        const o = <usize>c << 2;
        let a0 = v128.load(w0 + o), a1 = v128.load(w0 + o, 16), b0 = v128.load(w1 + o), b1 = v128.load(w1 + o, 16);
        let e0 = v128.load(w2 + o), e1 = v128.load(w2 + o, 16), f0 = v128.load(w3 + o), f1 = v128.load(w3 + o, 16);
        let xp = x + o, gp = gr;
        for (let t = 0; t < T; t++) {
          const u = v128.load(xp), v = v128.load(xp, 16);
          let s = v128.load32_splat(gp); a0 = madd(u, s, a0); a1 = madd(v, s, a1);
          s = v128.load32_splat(gp, 4); b0 = madd(u, s, b0); b1 = madd(v, s, b1);
          s = v128.load32_splat(gp, 8); e0 = madd(u, s, e0); e1 = madd(v, s, e1);
          s = v128.load32_splat(gp, 12); f0 = madd(u, s, f0); f1 = madd(v, s, f1);
          xp += rb; gp += gb;
        }
        v128.store(w0 + o, a0); v128.store(w0 + o, a1, 16); v128.store(w1 + o, b0); v128.store(w1 + o, b1, 16);
        v128.store(w2 + o, e0); v128.store(w2 + o, e1, 16); v128.store(w3 + o, f0); v128.store(w3 + o, f1, 16);
      }
      for (; c + 4 <= cols; c += 4) {
        const o = <usize>c << 2;
        let a0 = v128.load(w0 + o), b0 = v128.load(w1 + o), e0 = v128.load(w2 + o), f0 = v128.load(w3 + o);
        let xp = x + o, gp = gr;
        for (let t = 0; t < T; t++) {
          const u = v128.load(xp);
          a0 = madd(u, v128.load32_splat(gp), a0); b0 = madd(u, v128.load32_splat(gp, 4), b0);
          e0 = madd(u, v128.load32_splat(gp, 8), e0); f0 = madd(u, v128.load32_splat(gp, 12), f0);
          xp += rb; gp += gb;
        }
        v128.store(w0 + o, a0); v128.store(w1 + o, b0); v128.store(w2 + o, e0); v128.store(w3 + o, f0);
      }
    }
    for (; r < r1; r++) {
      const wr = dw + <usize>r * rb, gr = dy + (<usize>r << 2);
      for (let c = 0; c < cols; c += 4) {
        const o = <usize>c << 2;
        let a0 = v128.load(wr + o);
        let xp = x + o, gp = gr;
        for (let t = 0; t < T; t++) { a0 = madd(v128.load(xp), v128.load32_splat(gp), a0); xp += rb; gp += gb; }
        v128.store(wr + o, a0);
      }
    }
    return;
  }
  for (; r < r1; r++) {
    for (let c = 0; c < cols; c++) {
      const p = dw + <usize>r * rb + (<usize>c << 2);
      let s = load<f32>(p);
      for (let t = 0; t < T; t++) s += load<f32>(dy + <usize>t * gb + (<usize>r << 2)) * load<f32>(x + <usize>t * rb + (<usize>c << 2));
      store<f32>(p, s);
    }
  }
}

/** out(T, n) = x / rms(x) * weight; rstd(T) kept for the backward. f64 sums, as the twin. */
export function tr_rms_norm(x: usize, wt: usize, eps: f64, n: i32, T: i32, out: usize, rstd: usize): void {
  for (let t = 0; t < T; t++) {
    const o = x + ((<usize>t * <usize>n) << 2), oo = out + ((<usize>t * <usize>n) << 2);
    let ss: f64 = 0;
    for (let i = 0; i < n; i++) { const v = <f64>load<f32>(o + (<usize>i << 2)); ss += v * v; }
    const r = 1 / Math.sqrt(ss / n + eps);
    store<f32>(rstd + (<usize>t << 2), <f32>r);
    for (let i = 0; i < n; i++) store<f32>(oo + (<usize>i << 2), <f32>(<f64>load<f32>(o + (<usize>i << 2)) * r * <f64>load<f32>(wt + (<usize>i << 2))));
  }
}

export function tr_rms_norm_bwd(x: usize, wt: usize, rstd: usize, dout: usize, n: i32, T: i32, dx: usize, dw: usize): void {
  for (let t = 0; t < T; t++) {
    const o = (<usize>t * <usize>n) << 2;
    const r = <f64>load<f32>(rstd + (<usize>t << 2));
    let dot: f64 = 0;
    for (let i = 0; i < n; i++) {
      const p = <usize>i << 2;
      const g = <f64>load<f32>(dout + o + p), xv = <f64>load<f32>(x + o + p);
      store<f32>(dw + p, <f32>(<f64>load<f32>(dw + p) + g * xv * r));
      dot += g * <f64>load<f32>(wt + p) * xv;
    }
    const c = (dot * r * r * r) / n;
    for (let i = 0; i < n; i++) {
      const p = <usize>i << 2;
      store<f32>(dx + o + p, <f32>(<f64>load<f32>(dx + o + p) + (<f64>load<f32>(dout + o + p) * <f64>load<f32>(wt + p) * r - <f64>load<f32>(x + o + p) * c)));
    }
  }
}

/** Adjacent-pair RoPE in place on x(T, nHead, headDim) with cos/sin tables (T, headDim/2); inverse = 1 rotates back (the backward). */
export function tr_rope(x: usize, T: i32, nHead: i32, headDim: i32, cos: usize, sin: usize, inverse: i32): void {
  const half = headDim >> 1;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const c = <f64>load<f32>(cos + (<usize>(t * half + i) << 2));
      let s = <f64>load<f32>(sin + (<usize>(t * half + i) << 2));
      if (inverse) s = -s;
      for (let h = 0; h < nHead; h++) {
        const p = x + (<usize>((t * nHead + h) * headDim + 2 * i) << 2);
        const a = <f64>load<f32>(p), b = <f64>load<f32>(p, 4);
        store<f32>(p, <f32>(a * c - b * s));
        store<f32>(p, <f32>(a * s + b * c), 4);
      }
    }
  }
}

/** Floats of per-thread scratch the attention kernels need for T tokens of head size hd. */
export function tr_attention_scratch(T: i32, hd: i32): i32 {
  const tp = keyPad(T);
  return hd * tp + T * tp + tp;
}

/**
 * Row length of the transposed heads and score rows: T rounded up to 32, so the scores of a query
 * run in blocks of 32 keys (eight independent lane sums; the keys past the query are computed and
 * ignored, those past T read the zero padding).
 */
@inline function keyPad(T: i32): i32 {
  return (T + 31) & ~31;
}

/** kt(hd, tp) = the head's keys (or values) transposed: column j is token j's vector (the dot products then run four tokens per lane). */
function transposeHead(k: usize, T: i32, ks: i32, kh: i32, hd: i32, kt: usize, tp: i32): void {
  for (let j = 0; j < T; j++) {
    const src = k + (<usize>(j * ks + kh) << 2);
    for (let d = 0; d < hd; d++) store<f32>(kt + (<usize>(d * tp + j) << 2), load<f32>(src + (<usize>d << 2)));
  }
  // the lanes past T: zero, so a four-token group that runs past the last token reads no garbage
  for (let d = 0; d < hd; d++) for (let j = T; j < tp; j++) store<f32>(kt + (<usize>(d * tp + j) << 2), 0);
}

/** s[j] = a . column j of kt for j in [0, n rounded up to 32): 32 keys a pass in eight lane sums. */
function dotsT(a: usize, kt: usize, tp: i32, hd: i32, n: i32, s: usize): void {
  const rb = <usize>tp << 2;
  for (let j = 0; j < n; j += 32) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    let kp = kt + (<usize>j << 2);
    for (let d = 0; d < hd; d++) {
      const x = v128.load32_splat(a + (<usize>d << 2));
      a0 = madd(v128.load(kp), x, a0); a1 = madd(v128.load(kp, 16), x, a1); a2 = madd(v128.load(kp, 32), x, a2); a3 = madd(v128.load(kp, 48), x, a3);
      a4 = madd(v128.load(kp, 64), x, a4); a5 = madd(v128.load(kp, 80), x, a5); a6 = madd(v128.load(kp, 96), x, a6); a7 = madd(v128.load(kp, 112), x, a7);
      kp += rb;
    }
    const o = s + (<usize>j << 2);
    v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
    v128.store(o, a4, 64); v128.store(o, a5, 80); v128.store(o, a6, 96); v128.store(o, a7, 112);
  }
}

/**
 * out[0..hd) += sum over t in [t0, t1) of c[t * cs] * row t of x (stride xs floats): 32, then 16,
 * then 4 floats of the head at a time in registers. With cs = 1 the weights are a row (attention's
 * P.V, dS.K); with cs = T a column of a (T, T) matrix (dV = P^T.dout, dK = dS^T.q).
 */
function columnRows(c: usize, cs: i32, x: usize, xs: i32, t0: i32, t1: i32, hd: i32, out: usize): void {
  const xb = <usize>xs << 2, cb = <usize>cs << 2;
  let ch = 0;
  for (; ch + 32 <= hd; ch += 32) {
    const o = out + (<usize>ch << 2);
    let a0 = v128.load(o), a1 = v128.load(o, 16), a2 = v128.load(o, 32), a3 = v128.load(o, 48);
    let a4 = v128.load(o, 64), a5 = v128.load(o, 80), a6 = v128.load(o, 96), a7 = v128.load(o, 112);
    let xp = x + <usize>t0 * xb + (<usize>ch << 2), cp = c + <usize>t0 * cb;
    for (let t = t0; t < t1; t++) {
      const w = v128.load32_splat(cp);
      a0 = madd(v128.load(xp), w, a0); a1 = madd(v128.load(xp, 16), w, a1); a2 = madd(v128.load(xp, 32), w, a2); a3 = madd(v128.load(xp, 48), w, a3);
      a4 = madd(v128.load(xp, 64), w, a4); a5 = madd(v128.load(xp, 80), w, a5); a6 = madd(v128.load(xp, 96), w, a6); a7 = madd(v128.load(xp, 112), w, a7);
      xp += xb; cp += cb;
    }
    v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
    v128.store(o, a4, 64); v128.store(o, a5, 80); v128.store(o, a6, 96); v128.store(o, a7, 112);
  }
  for (; ch + 16 <= hd; ch += 16) {
    const o = out + (<usize>ch << 2);
    let a0 = v128.load(o), a1 = v128.load(o, 16), a2 = v128.load(o, 32), a3 = v128.load(o, 48);
    let xp = x + <usize>t0 * xb + (<usize>ch << 2), cp = c + <usize>t0 * cb;
    for (let t = t0; t < t1; t++) {
      const w = v128.load32_splat(cp);
      a0 = madd(v128.load(xp), w, a0); a1 = madd(v128.load(xp, 16), w, a1); a2 = madd(v128.load(xp, 32), w, a2); a3 = madd(v128.load(xp, 48), w, a3);
      xp += xb; cp += cb;
    }
    v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
  }
  for (; ch < hd; ch += 4) {
    const o = out + (<usize>ch << 2);
    let a0 = v128.load(o);
    let xp = x + <usize>t0 * xb + (<usize>ch << 2), cp = c + <usize>t0 * cb;
    for (let t = t0; t < t1; t++) { a0 = madd(v128.load(xp), v128.load32_splat(cp), a0); xp += xb; cp += cb; }
    v128.store(o, a0);
  }
}

/** max of s[0..n) */
function rowMax(s: usize, n: i32): f32 {
  let j = 0, m: f32 = -Infinity;
  if (ASC_FEATURE_SIMD && n >= 4) {
    let mv = v128.load(s);
    for (j = 4; j + 4 <= n; j += 4) mv = f32x4.max(mv, v128.load(s + (<usize>j << 2)));
    m = Mathf.max(Mathf.max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), Mathf.max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  }
  for (; j < n; j++) m = Mathf.max(m, load<f32>(s + (<usize>j << 2)));
  return m;
}

/** s[j] = e^(s[j] - max) for j < n with exp.ts's polynomial (four lanes, the tail the same steps); returns their sum (f64 over f32 lanes). */
function expRow(s: usize, n: i32, max: f32): f64 {
  let j = 0;
  const mv = f32x4.splat(max);
  let acc = f32x4.splat(0);
  const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
  const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
  for (; j + 4 <= n; j += 4) {
    const p = s + (<usize>j << 2);
    const e = expF32x4k(f32x4.sub(v128.load(p), mv), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
    v128.store(p, e);
    acc = f32x4.add(acc, e);
  }
  let sum = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
  for (; j < n; j++) { const p = s + (<usize>j << 2); const e = expF32(load<f32>(p) - max); store<f32>(p, e); sum += <f64>e; }
  return sum;
}

/**
 * Causal GQA attention for KV heads kv0..kv1 (and their query heads): q(T, nHead*hd), k/v(T,
 * nHeadKv*hd) -> out(T, nHead*hd), probs(nHead, T, T) (entries past each query's position left
 * alone). With SIMD and hd % 4 == 0: a query's scores four keys per lane against the head's keys
 * transposed into scratch (tr_attention_scratch floats), the softmax with the f32 polynomial e^x,
 * the weighted sum of values in registers; otherwise one dot product per key (attentionScalar).
 */
export function tr_attention(q: usize, k: usize, v: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32, probs: usize, out: usize, scratch: usize, kv0: i32, kv1: i32): void {
  if (!ASC_FEATURE_SIMD || (hd & 3) != 0) { attentionScalar(q, k, v, T, nHead, nHeadKv, hd, probs, out, kv0, kv1); return; }
  const group = nHead / nHeadKv;
  const scale: f32 = <f32>(1 / Math.sqrt(<f64>hd));
  const qs = nHead * hd, ks = nHeadKv * hd, tp = keyPad(T);
  const kt = scratch, srow = scratch + (<usize>(hd * tp) << 2);
  for (let kvh = kv0; kvh < kv1; kvh++) {
    const kh = kvh * hd;
    transposeHead(k, T, ks, kh, hd, kt, tp);
    for (let h = kvh * group; h < (kvh + 1) * group; h++) {
      for (let t = 0; t < T; t++) {
        const n = t + 1;
        const qo = q + (<usize>(t * qs + h * hd) << 2), po = probs + (<usize>((h * T + t) * T) << 2);
        dotsT(qo, kt, tp, hd, n, srow);
        const sv = f32x4.splat(scale);
        for (let j = 0; j < n; j += 4) { const p = srow + (<usize>j << 2); v128.store(p, f32x4.mul(v128.load(p), sv)); }
        const max = rowMax(srow, n);
        const inv = <f32>(1 / expRow(srow, n, max));
        const iv = f32x4.splat(inv);
        let j = 0;
        for (; j + 4 <= n; j += 4) { const p = <usize>j << 2; const x = f32x4.mul(v128.load(srow + p), iv); v128.store(srow + p, x); v128.store(po + p, x); }
        for (; j < n; j++) { const p = <usize>j << 2; const x = load<f32>(srow + p) * inv; store<f32>(srow + p, x); store<f32>(po + p, x); }
        const oo = out + (<usize>(t * qs + h * hd) << 2);
        memory.fill(oo, 0, <usize>hd << 2);
        columnRows(srow, 1, v + (<usize>kh << 2), ks, 0, n, hd, oo);
      }
    }
  }
}

function attentionScalar(q: usize, k: usize, v: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32, probs: usize, out: usize, kv0: i32, kv1: i32): void {
  const group = nHead / nHeadKv;
  const scale: f32 = <f32>(1 / Math.sqrt(<f64>hd));
  const qs = nHead * hd, ks = nHeadKv * hd;
  for (let h = kv0 * group; h < kv1 * group; h++) {
    const kh = (h / group) * hd;
    for (let t = 0; t < T; t++) {
      const qo = q + (<usize>(t * qs + h * hd) << 2), po = probs + (<usize>((h * T + t) * T) << 2);
      let max: f32 = -Infinity;
      for (let j = 0; j <= t; j++) {
        const d = dotf(qo, k + (<usize>(j * ks + kh) << 2), hd) * scale;
        store<f32>(po + (<usize>j << 2), d);
        if (d > max) max = d;
      }
      let sum: f64 = 0;
      for (let j = 0; j <= t; j++) {
        const e = Math.exp(<f64>load<f32>(po + (<usize>j << 2)) - <f64>max);
        store<f32>(po + (<usize>j << 2), <f32>e);
        sum += e;
      }
      const inv = 1 / sum;
      const oo = out + (<usize>(t * qs + h * hd) << 2);
      memory.fill(oo, 0, <usize>hd << 2);
      for (let j = 0; j <= t; j++) {
        const p = <f32>(<f64>load<f32>(po + (<usize>j << 2)) * inv);
        store<f32>(po + (<usize>j << 2), p);
        axpyf(oo, v + (<usize>(j * ks + kh) << 2), p, hd);
      }
    }
  }
}

/**
 * Accumulates dq, dk, dv from dout for KV heads kv0..kv1; scratch: tr_attention_scratch floats.
 * With SIMD and hd % 4 == 0, per query head: first per query t, dP against the values transposed
 * (four keys per lane), dS = P (dP - P.dP) / sqrt(hd) kept as a (T, T) matrix and dq_t = dS_t . K
 * in registers; then per key j, dv_j += P[:, j] . dout and dk_j += dS[:, j] . q in registers.
 */
export function tr_attention_bwd(q: usize, k: usize, v: usize, probs: usize, dout: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32,
  dq: usize, dk: usize, dv: usize, scratch: usize, kv0: i32, kv1: i32): void {
  if (!ASC_FEATURE_SIMD || (hd & 3) != 0) { attentionBwdScalar(q, k, v, probs, dout, T, nHead, nHeadKv, hd, dq, dk, dv, scratch, kv0, kv1); return; }
  const group = nHead / nHeadKv;
  const scale: f32 = <f32>(1 / Math.sqrt(<f64>hd));
  const qs = nHead * hd, ks = nHeadKv * hd, tp = keyPad(T);
  const vt = scratch, ds = scratch + (<usize>(hd * tp) << 2);
  for (let kvh = kv0; kvh < kv1; kvh++) {
    const kh = kvh * hd;
    transposeHead(v, T, ks, kh, hd, vt, tp);
    for (let h = kvh * group; h < (kvh + 1) * group; h++) {
      for (let t = 0; t < T; t++) {
        const n = t + 1;
        const qo = <usize>(t * qs + h * hd) << 2, po = probs + (<usize>((h * T + t) * T) << 2), dso = ds + (<usize>(t * tp) << 2);
        dotsT(dout + qo, vt, tp, hd, n, dso);
        let j = 0;
        let dv4 = f32x4.splat(0);
        for (; j + 4 <= n; j += 4) dv4 = madd(v128.load(po + (<usize>j << 2)), v128.load(dso + (<usize>j << 2)), dv4);
        let dot = hsum4(dv4);
        for (; j < n; j++) dot += load<f32>(po + (<usize>j << 2)) * load<f32>(dso + (<usize>j << 2));
        const dotv = f32x4.splat(dot), sv = f32x4.splat(scale);
        for (j = 0; j + 4 <= n; j += 4) {
          const p = <usize>j << 2;
          v128.store(dso + p, f32x4.mul(f32x4.mul(v128.load(po + p), f32x4.sub(v128.load(dso + p), dotv)), sv));
        }
        for (; j < n; j++) { const p = <usize>j << 2; store<f32>(dso + p, load<f32>(po + p) * (load<f32>(dso + p) - dot) * scale); }
        columnRows(dso, 1, k + (<usize>kh << 2), ks, 0, n, hd, dq + qo);
      }
      // per key j: the columns of P and dS below the diagonal, with dout and q rows
      for (let j = 0; j < T; j++) {
        const ko = <usize>(j * ks + kh) << 2;
        columnRows(probs + (<usize>(h * T * T + j) << 2), T, dout + (<usize>(h * hd) << 2), qs, j, T, hd, dv + ko);
        columnRows(ds + (<usize>j << 2), tp, q + (<usize>(h * hd) << 2), qs, j, T, hd, dk + ko);
      }
    }
  }
}

function attentionBwdScalar(q: usize, k: usize, v: usize, probs: usize, dout: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32,
  dq: usize, dk: usize, dv: usize, dp: usize, kv0: i32, kv1: i32): void {
  const group = nHead / nHeadKv;
  const scale: f32 = <f32>(1 / Math.sqrt(<f64>hd));
  const qs = nHead * hd, ks = nHeadKv * hd;
  for (let h = kv0 * group; h < kv1 * group; h++) {
    const kh = (h / group) * hd;
    for (let t = 0; t < T; t++) {
      const qo = <usize>(t * qs + h * hd) << 2, po = probs + (<usize>((h * T + t) * T) << 2);
      let dot: f32 = 0;
      for (let j = 0; j <= t; j++) {
        const vo = <usize>(j * ks + kh) << 2, p = load<f32>(po + (<usize>j << 2));
        const d = dotf(dout + qo, v + vo, hd);
        axpyf(dv + vo, dout + qo, p, hd);
        store<f32>(dp + (<usize>j << 2), d);
        dot += p * d;
      }
      for (let j = 0; j <= t; j++) {
        const ds = load<f32>(po + (<usize>j << 2)) * (load<f32>(dp + (<usize>j << 2)) - dot) * scale;
        if (ds == 0) continue;
        const ko = <usize>(j * ks + kh) << 2;
        axpyf(dq + qo, k + ko, ds, hd);
        axpyf(dk + ko, q + qo, ds, hd);
      }
    }
  }
}

/**
 * h = silu(g) * u over elements i0..i1, in f32 with exp.ts's polynomial e^x four lanes at a time
 * (the tail the same steps); the twin computes in f64 (held within the f32 tolerance).
 */
export function tr_swiglu(g: usize, u: usize, h: usize, i0: i32, i1: i32): void {
  let i = i0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1), lim = f32x4.splat(EXP_MAX);
    const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
    const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
    for (; i + 4 <= i1; i += 4) {
      const p = <usize>i << 2;
      const x = v128.load(g + p);
      const e = expF32x4k(f32x4.min(f32x4.neg(x), lim), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
      v128.store(h + p, f32x4.mul(f32x4.div(x, f32x4.add(one, e)), v128.load(u + p)));
    }
  }
  for (; i < i1; i++) {
    const p = <usize>i << 2;
    const x = load<f32>(g + p);
    store<f32>(h + p, x / (<f32>1 + expF32(Mathf.min(-x, EXP_MAX))) * load<f32>(u + p));
  }
}

/** du += dh * x * sig(x), dg += dh * u * sig * (1 + x (1 - sig)) over i0..i1, f32 as tr_swiglu. */
export function tr_swiglu_bwd(g: usize, u: usize, dh: usize, dg: usize, du: usize, i0: i32, i1: i32): void {
  let i = i0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1), lim = f32x4.splat(EXP_MAX);
    const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
    const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
    for (; i + 4 <= i1; i += 4) {
      const p = <usize>i << 2;
      const x = v128.load(g + p), d = v128.load(dh + p);
      const sig = f32x4.div(one, f32x4.add(one, expF32x4k(f32x4.min(f32x4.neg(x), lim), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11)));
      v128.store(du + p, f32x4.add(v128.load(du + p), f32x4.mul(f32x4.mul(d, x), sig)));
      const t = f32x4.add(one, f32x4.mul(x, f32x4.sub(one, sig)));
      v128.store(dg + p, f32x4.add(v128.load(dg + p), f32x4.mul(f32x4.mul(f32x4.mul(d, v128.load(u + p)), sig), t)));
    }
  }
  for (; i < i1; i++) {
    const p = <usize>i << 2;
    const x = load<f32>(g + p), d = load<f32>(dh + p);
    const sig = <f32>1 / (<f32>1 + expF32(Mathf.min(-x, EXP_MAX)));
    store<f32>(du + p, load<f32>(du + p) + (d * x) * sig);
    store<f32>(dg + p, load<f32>(dg + p) + ((d * load<f32>(u + p)) * sig) * (<f32>1 + x * (<f32>1 - sig)));
  }
}

/**
 * Softmax cross-entropy for tokens t0..t1 of logits(T, V) against targets(T, i32): loss[t] (f64)
 * = log-sum-exp - logit[target]; dlogits = (softmax - onehot) * gradScale (may be the logits).
 * e^x with exp.ts's f32 polynomial four lanes at a time, its sum in f64; the twin is all f64.
 */
export function tr_cross_entropy(logits: usize, targets: usize, V: i32, gradScale: f64, dlogits: usize, loss: usize, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    const o = logits + ((<usize>t * <usize>V) << 2), d = dlogits + ((<usize>t * <usize>V) << 2);
    const tgt = load<i32>(targets + (<usize>t << 2));
    const lt = <f64>load<f32>(o + (<usize>tgt << 2));
    const max = rowMax(o, V);
    let i = 0;
    let sum: f64 = 0;
    if (ASC_FEATURE_SIMD) {
      const mv = f32x4.splat(max);
      let s0 = f64x2.splat(0), s1 = s0;
      const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
      const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
      for (; i + 4 <= V; i += 4) {
        const p = <usize>i << 2;
        const e = expF32x4k(f32x4.sub(v128.load(o + p), mv), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
        v128.store(d + p, e);
        s0 = f64x2.add(s0, f64x2.promote_low_f32x4(e));
        s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<i32>(e, e, 2, 3, 0, 1)));
      }
      sum = (f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1)) + (f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1));
    }
    for (; i < V; i++) { const p = <usize>i << 2; const e = expF32(load<f32>(o + p) - max); store<f32>(d + p, e); sum += <f64>e; }
    store<f64>(loss + (<usize>t << 3), Math.log(sum) + <f64>max - lt);
    const s = <f32>((1 / sum) * gradScale);
    i = 0;
    if (ASC_FEATURE_SIMD) {
      const sv = f32x4.splat(s);
      for (; i + 4 <= V; i += 4) { const p = d + (<usize>i << 2); v128.store(p, f32x4.mul(v128.load(p), sv)); }
    }
    for (; i < V; i++) { const p = d + (<usize>i << 2); store<f32>(p, load<f32>(p) * s); }
    store<f32>(d + (<usize>tgt << 2), <f32>(<f64>load<f32>(d + (<usize>tgt << 2)) - gradScale));
  }
}

/** x(T, D) = table[ids[t]] * scale */
export function tr_embed(table: usize, ids: usize, T: i32, D: i32, scale: f64, x: usize): void {
  for (let t = 0; t < T; t++) {
    const src = table + ((<usize>load<i32>(ids + (<usize>t << 2)) * <usize>D) << 2), dst = x + ((<usize>t * <usize>D) << 2);
    for (let i = 0; i < D; i++) store<f32>(dst + (<usize>i << 2), <f32>(<f64>load<f32>(src + (<usize>i << 2)) * scale));
  }
}

/** dtable[ids[t]] += dx(T, D) * scale */
export function tr_embed_bwd(dtable: usize, ids: usize, T: i32, D: i32, scale: f64, dx: usize): void {
  for (let t = 0; t < T; t++) {
    const dst = dtable + ((<usize>load<i32>(ids + (<usize>t << 2)) * <usize>D) << 2), src = dx + ((<usize>t * <usize>D) << 2);
    for (let i = 0; i < D; i++) store<f32>(dst + (<usize>i << 2), <f32>(<f64>load<f32>(dst + (<usize>i << 2)) + <f64>load<f32>(src + (<usize>i << 2)) * scale));
  }
}

/** x[0..n) += a * y[0..n) in f64 (the residual adds) */
export function tr_axpy(x: usize, y: usize, a: f64, n: i32): void {
  for (let i = 0; i < n; i++) { const p = <usize>i << 2; store<f32>(x + p, <f32>(<f64>load<f32>(x + p) + a * <f64>load<f32>(y + p))); }
}

/** x[0..n) = y[0..n) * a in f64 (x may be y) */
export function tr_scale(x: usize, y: usize, a: f64, n: i32): void {
  for (let i = 0; i < n; i++) { const p = <usize>i << 2; store<f32>(x + p, <f32>(<f64>load<f32>(y + p) * a)); }
}

/** BitNet's int8 per-token absmax activations in place on x(T, n), in f64 as the twin (ops.quantAct8): bit for bit. */
export function tr_act_quant8(x: usize, T: i32, n: i32): void {
  for (let t = 0; t < T; t++) {
    const o = x + ((<usize>t * <usize>n) << 2);
    let amax: f64 = 0;
    for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(<f64>load<f32>(o + (<usize>i << 2))));
    if (amax == 0) continue;
    const s = 127 / amax, inv = amax / 127;
    for (let i = 0; i < n; i++) { const p = o + (<usize>i << 2); store<f32>(p, <f32>(nearest<f64>(<f64>load<f32>(p) * s) * inv)); }
  }
}

/** out[0..n) = f32 x[0..n) as bf16 bits, nearest even, NaN kept quiet (ops.packBf16, f32ToBf16): bit for bit. */
export function tr_pack_bf16(x: usize, n: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const b = load<u32>(x + (<usize>i << 2));
    const r = (b & 0x7fffffff) > 0x7f800000 ? (b >> 16) | 64 : (b + (0x7fff + ((b >> 16) & 1))) >> 16;
    store<u16>(out + (<usize>i << 1), <u16>r);
  }
}

/** out[0..n) = bf16 bits x[0..n) widened to f32 (exact), eight at a time. */
export function tr_unpack_bf16(x: usize, n: i32, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= n; i += 8) {
      const v = v128.load(x + (<usize>i << 1)), o = out + (<usize>i << 2);
      v128.store(o, i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
      v128.store(o, i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
    }
  }
  for (; i < n; i++) store<u32>(out + (<usize>i << 2), <u32>load<u16>(x + (<usize>i << 1)) << 16);
}

/** s0 plus the squares of g[0..n) in f64, in order (gradient clipping's one running sum over every parameter). */
export function tr_sumsq(g: usize, n: i32, s0: f64): f64 {
  let s = s0;
  for (let i = 0; i < n; i++) { const v = <f64>load<f32>(g + (<usize>i << 2)); s += v * v; }
  return s;
}

/** One AdamW step over n weights, in f64 as the twin (src/train/optim.ts) computes it: bit for bit equal. */
export function tr_adamw(w: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, eps: f64, lr: f64, decay: f64, c1: f64, c2: f64): void {
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    const gi = <f64>load<f32>(g + p);
    const mi = b1 * <f64>load<f32>(m + p) + (1 - b1) * gi;
    const vi = b2 * <f64>load<f32>(v + p) + (1 - b2) * gi * gi;
    store<f32>(m + p, <f32>mi);
    store<f32>(v + p, <f32>vi);
    store<f32>(w + p, <f32>(<f64>load<f32>(w + p) * decay - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps)));
  }
}
