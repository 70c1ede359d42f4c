// Elementwise ops and normalization: RMS norm, SwiGLU, x += y * s, RoPE.

import { EXP_MAX, expConst, expF32, expF32x4k } from './exp';

export function rms_norm(x: usize, wt: usize, eps: f32, n: i32, nTok: i32, out: usize): void {
  for (let t = 0; t < nTok; t++) {
    const xo = x + ((<usize>t * <usize>n) << 2), oo = out + ((<usize>t * <usize>n) << 2);
    let ss: f64 = 0;
    for (let i = 0; i < n; i++) { const v = <f64>load<f32>(xo + (<usize>i << 2)); ss += v * v; }
    const scale = <f32>(1 / Math.sqrt(<f64><f32>(ss / n + eps)));
    for (let i = 0; i < n; i++) store<f32>(oo + (<usize>i << 2), (load<f32>(xo + (<usize>i << 2)) * scale) * load<f32>(wt + (<usize>i << 2)));
  }
}

/**
 * SiLU(g) * u in place of g, in f32 with exp.ts's polynomial e^x (as ggml's vectorized SiLU: a
 * polynomial exp and one division), four lanes at a time; the tail takes the same steps.
 */
export function swiglu(g: usize, u: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // Every constant made once before the loop (V8 rebuilds a v128 constant, three instructions, at
    // each use inside one): expF32x4k's twelve loaded, the sign mask and the limit from a run-time 1.
    // -v as a sign flip and min as pmin give the same values (pmin(x, 88) keeps a NaN x, as min does).
    const c0 = expConst(0), c1 = expConst(1), c2 = expConst(2), c3 = expConst(3), c4 = expConst(4), c5 = expConst(5);
    const c6 = expConst(6), c7 = expConst(7), c8 = expConst(8), c9 = expConst(9), c10 = expConst(10), c11 = expConst(11);
    const rt = <i32>(n >= 0), sign = i32x4.splat(0x80000000 * rt), lim = f32x4.splat(EXP_MAX * <f32>rt);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      const v = v128.load(g + p);
      const e = expF32x4k(f32x4.pmin(v128.xor(v, sign), lim), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
      v128.store(g + p, f32x4.mul(f32x4.div(v, f32x4.add(c10, e)), v128.load(u + p)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const v = load<f32>(g + p);
    store<f32>(g + p, v / (<f32>1 + expF32(min(-v, EXP_MAX))) * load<f32>(u + p));
  }
}

export function add_scaled(x: usize, y: usize, scale: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(scale);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(x + p, f32x4.add(v128.load(x + p), f32x4.mul(v128.load(y + p), s)));
    }
  }
  for (; i < n; i++) { const p = <usize>i << 2; store<f32>(x + p, load<f32>(x + p) + load<f32>(y + p) * scale); }
}

/**
 * Rotate heads in place. cs holds cos/sin pairs per (token, pair): [(nTok, nRot/2, 2)], computed by
 * the caller (RoPE scaling variants live in one place, the TypeScript side).
 */
export function rope(x: usize, nTok: i32, nHead: i32, headDim: i32, nRot: i32, neox: i32, cs: usize): void {
  const half = nRot >> 1;
  for (let t = 0; t < nTok; t++) {
    for (let h = 0; h < nHead; h++) {
      const base = x + ((<usize>(t * nHead + h) * <usize>headDim) << 2);
      for (let i = 0; i < half; i++) {
        const c = load<f32>(cs + ((<usize>(t * half + i) * 2) << 2));
        const s = load<f32>(cs + ((<usize>(t * half + i) * 2 + 1) << 2));
        const i0: i32 = neox ? i : 2 * i;
        const i1: i32 = neox ? i + half : 2 * i + 1;
        const p0 = base + (<usize>i0 << 2);
        const p1 = base + (<usize>i1 << 2);
        const a = load<f32>(p0), b = load<f32>(p1);
        store<f32>(p0, a * c - b * s);
        store<f32>(p1, a * s + b * c);
      }
    }
  }
}
