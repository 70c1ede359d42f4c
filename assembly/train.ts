// Training kernels: forward and backward of the decoder's ops over f32 row-major buffers, and the
// AdamW step. Twins: src/train/ops.ts (one function each, same meaning); held together by
// test/train-wasm.test.ts. Products and attention dot products sum in f32 lanes (SIMD), so they
// differ from the twins' float64 sums in the last bits; the elementwise ops, RMS norm, RoPE and
// AdamW compute in f64 exactly as the twins do. Every output element is summed by one thread in one
// order whatever the split, so results do not depend on the thread count. Each kernel is its own
// (non-inline) function: Binaryen's time grows badly with big inlined bodies.

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

/**
 * Causal GQA attention for KV heads kv0..kv1 (and their query heads): q(T, nHead*hd), k/v(T,
 * nHeadKv*hd) -> out(T, nHead*hd), probs(nHead, T, T).
 */
export function tr_attention(q: usize, k: usize, v: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32, probs: usize, out: usize, kv0: i32, kv1: i32): void {
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

/** Accumulates dq, dk, dv from dout for KV heads kv0..kv1; dp is T floats of scratch. */
export function tr_attention_bwd(q: usize, k: usize, v: usize, probs: usize, dout: usize, T: i32, nHead: i32, nHeadKv: i32, hd: i32,
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

/** h = silu(g) * u over elements i0..i1 (f64 as the twin). */
export function tr_swiglu(g: usize, u: usize, h: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const p = <usize>i << 2;
    const x = <f64>load<f32>(g + p);
    store<f32>(h + p, <f32>((x / (1 + Math.exp(-x))) * <f64>load<f32>(u + p)));
  }
}

export function tr_swiglu_bwd(g: usize, u: usize, dh: usize, dg: usize, du: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const p = <usize>i << 2;
    const x = <f64>load<f32>(g + p), sig = 1 / (1 + Math.exp(-x)), d = <f64>load<f32>(dh + p);
    store<f32>(du + p, <f32>(<f64>load<f32>(du + p) + d * x * sig));
    store<f32>(dg + p, <f32>(<f64>load<f32>(dg + p) + d * <f64>load<f32>(u + p) * sig * (1 + x * (1 - sig))));
  }
}

/**
 * Softmax cross-entropy for tokens t0..t1 of logits(T, V) against targets(T, i32): loss[t] (f64)
 * = log-sum-exp - logit[target]; dlogits = (softmax - onehot) * gradScale (may be the logits).
 */
export function tr_cross_entropy(logits: usize, targets: usize, V: i32, gradScale: f64, dlogits: usize, loss: usize, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    const o = logits + ((<usize>t * <usize>V) << 2), d = dlogits + ((<usize>t * <usize>V) << 2);
    const tgt = load<i32>(targets + (<usize>t << 2));
    const lt = <f64>load<f32>(o + (<usize>tgt << 2));
    let max: f32 = -Infinity;
    for (let i = 0; i < V; i++) max = Mathf.max(max, load<f32>(o + (<usize>i << 2)));
    let sum: f64 = 0;
    for (let i = 0; i < V; i++) {
      const e = Math.exp(<f64>load<f32>(o + (<usize>i << 2)) - <f64>max);
      sum += e;
      store<f32>(d + (<usize>i << 2), <f32>e);
    }
    store<f64>(loss + (<usize>t << 3), Math.log(sum) + <f64>max - lt);
    const s = (1 / sum) * gradScale;
    for (let i = 0; i < V; i++) store<f32>(d + (<usize>i << 2), <f32>(<f64>load<f32>(d + (<usize>i << 2)) * s));
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
