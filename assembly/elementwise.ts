// Elementwise ops and normalization: RMS norm, SwiGLU, x += y * s, RoPE.

import { EXP_MAX, expF32, expF32x4 } from './exp';

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
    const one = f32x4.splat(1), lim = f32x4.splat(EXP_MAX);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      const v = v128.load(g + p);
      const e = expF32x4(f32x4.min(f32x4.neg(v), lim));
      v128.store(g + p, f32x4.mul(f32x4.div(v, f32x4.add(one, e)), v128.load(u + p)));
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
