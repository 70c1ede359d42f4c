// WGSL sources of the WebGPU backend's ops other than the matrix products (formats.ts): RMSNorm,
// RoPE from a host-computed cos/sin table, the f16/bf16 KV-cache write, attention scores over it,
// SwiGLU, residual and bias adds, and top-k (argmax at k = 1). Each op is the twin of a kernel in kernels/ref/ and
// rounds as it does (f16 with round-half-even, done in integer arithmetic, not by pack2x16float,
// whose rounding WGSL leaves to the implementation). f32 arithmetic only: no `enable f16`.

/** Every shader's parameters: eight u32 then four f32 (48 bytes), one 256-byte arena slot per dispatch. */
export const PARAMS_WGSL = /* wgsl */ `
struct P { n0: u32, n1: u32, n2: u32, n3: u32, n4: u32, n5: u32, n6: u32, n7: u32, f0: f32, f1: f32, f2: f32, f3: f32 }
@group(0) @binding(0) var<uniform> p: P;
`;

/** f16 helpers: bits -> f32 (exact), f32 -> nearest f16 value (ties to even), f16 value -> bits. */
export const F16_WGSL = /* wgsl */ `
fn h2f(h: u32) -> f32 {
  let s = h & 0x8000u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { let v = f32(m) * 5.9604644775390625e-8; return select(v, -v, s != 0u); }
  if (e == 31u) { return bitcast<f32>((s << 16u) | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>((s << 16u) | ((e + 112u) << 23u) | (m << 13u));
}
fn f16r(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let s = b & 0x80000000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return x; }
  if (a >= 0x477ff000u) { return bitcast<f32>(s | 0x7f800000u); }
  if (a < 0x38800000u) {
    let r = round(bitcast<f32>(a) * 16777216.0) * 5.9604644775390625e-8;
    return bitcast<f32>(s | bitcast<u32>(r));
  }
  let r = (a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u;
  return bitcast<f32>(s | r);
}
fn f2h(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let s = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a >= 0x7f800000u) { return s | 0x7c00u | select(0u, 0x200u, a > 0x7f800000u); }
  if (a < 0x38800000u) { return s | u32(round(bitcast<f32>(a) * 16777216.0)); }
  return s | (((a >> 23u) - 112u) << 10u) | ((a >> 13u) & 0x3ffu);
}
`;

/**
 * bf16 helpers: bits -> f32 (exact), f32 -> bits with round-half-even and NaN kept quiet (core/f16.ts
 * f32ToBf16, ggml's GGML_FP32_TO_BF16), f32 -> nearest bf16 value.
 */
export const BF16_WGSL = /* wgsl */ `
fn b2f(h: u32) -> f32 { return bitcast<f32>(h << 16u); }
fn f2b(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return ((b >> 16u) | 64u) & 0xffffu; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}
fn bf16r(x: f32) -> f32 { return b2f(f2b(x)); }
`;

/** The 2-byte cache types and how a value is rounded to one (WGSL), read from its bits and packed. */
export type HalfType = 'f16' | 'bf16';
const HALF: Readonly<Record<HalfType, { lib: string; round: string; read: string; bits: string }>> = {
  f16: { lib: F16_WGSL, round: 'f16r', read: 'h2f', bits: 'f2h(f16r(X))' },
  bf16: { lib: F16_WGSL + BF16_WGSL, round: 'bf16r', read: 'b2f', bits: 'f2b(X)' },
};

/** The attention shaders' entry: one workgroup per (token t, head h), its KV head kvh (grouped-query). */
export const ATTN_MAIN = `@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let th = wg.x;
  let h = th % p.n0;
  let t = th / p.n0;
  let kvh = h / (p.n0 / p.n1);`;

/** The lowest finite f32: WGSL rejects an infinite constant. */
export const NEG_INF = '-3.40282346638528859812e38';

/** out[t] = x[t] / rms(x[t]) * w; n0 = n, n1 = rows; f0 = eps. One workgroup of 64 per row. */
export function rmsNormWgsl(inPlace: boolean): string {
  return PARAMS_WGSL + (inPlace
    ? `@group(0) @binding(1) var<storage, read_write> X: array<f32>;\n`
    : `@group(0) @binding(1) var<storage, read> X: array<f32>;\n@group(0) @binding(3) var<storage, read_write> O: array<f32>;\n`) + /* wgsl */ `
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.n1) { return; }
  let n = p.n0;
  let o = row * n;
  var ss = 0.0;
  for (var i = lid; i < n; i += 64u) { let v = X[o + i]; ss += v * v; }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(red[0] / f32(n) + p.f0);
  for (var i = lid; i < n; i += 64u) { ${inPlace ? 'X' : 'O'}[o + i] = (X[o + i] * scale) * Wt[i]; }
}`;
}

/**
 * RoPE in place from a table of (cos, sin) * mscale per token and pair, computed on the host in
 * double precision by ropeTheta (every scaling: linear, YaRN, LongRoPE factors).
 * n0 = nTok, n1 = nHead, n2 = headDim, n3 = half (nRot / 2), n4 = neox.
 */
export const ROPE_WGSL = PARAMS_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> CS: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = p.n3;
  let id = g.x + g.y * 65535u * 64u;
  if (id >= p.n0 * p.n1 * half) { return; }
  let i = id % half;
  let th = id / half;
  let h = th % p.n1;
  let t = th / p.n1;
  let base = (t * p.n1 + h) * p.n2;
  var i0 = base + 2u * i;
  var i1 = i0 + 1u;
  if (p.n4 != 0u) { i0 = base + i; i1 = base + i + half; }
  let c = CS[(t * half + i) * 2u];
  let s = CS[(t * half + i) * 2u + 1u];
  let a = X[i0];
  let b = X[i1];
  X[i0] = a * c - b * s;
  X[i1] = a * s + b * c;
}`;

/** Keys or values of nTok positions (f32, rows of n0 values) into an f16 or bf16 cache at row n1 (pos0). n2 = nTok. */
export function kvWriteWgsl(t: HalfType): string {
  const h = HALF[t];
  return PARAMS_WGSL + h.lib + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let pairs = p.n0 * p.n2 / 2u;
  let i = g.x + g.y * 65535u * 64u;
  if (i >= pairs) { return; }
  let lo = ${h.bits.replace('X', 'X[2u * i]')};
  let hi = ${h.bits.replace('X', 'X[2u * i + 1u]')};
  C[(p.n1 * p.n0) / 2u + i] = lo | (hi << 16u);
}`;
}

/**
 * Attention scores K.Q of one (token, head) per workgroup over positions 0..pos0+t over an f16 or
 * bf16 cache, as the reference rounds them: Q to the cache's type (ggml's vec_dot_type for F16 and
 * BF16), the dot in f32 (the reference sums in double), times the scale.
 * n0 = nHead, n1 = nHeadKv, n2 = headDim, n3 = pos0, n4 = score row stride; f0 = scale.
 */
export function attnScoresHalfWgsl(t: HalfType): string {
  const h = HALF[t];
  return PARAMS_WGSL + h.lib + /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<u32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
${ATTN_MAIN}
  let hd = p.n2;
  let kStride = p.n1 * hd;
  let qo = th * hd;
  let last = p.n3 + t;
  for (var j = lid; j <= last; j += 64u) {
    let ko = j * kStride + kvh * hd;
    var dot = 0.0;
    for (var d = 0u; d < hd; d += 2u) {
      let w = K[(ko + d) >> 1u];
      dot += ${h.round}(Q[qo + d]) * ${h.read}(w & 0xffffu) + ${h.round}(Q[qo + d + 1u]) * ${h.read}(w >> 16u);
    }
    S[th * p.n4 + j] = dot * p.f0;
  }
}`;
}

// The weighted sum of V rows over the f16 cache: kv-quant.ts attnAccWgsl('f16'), one shader for every V type.

/** gate[i] = silu(gate[i]) * up[i]; n0 = n. */
export const SWIGLU_WGSL = PARAMS_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g3: vec3<u32>) {
  let i = g3.x + g3.y * 65535u * 64u;
  if (i >= p.n0) { return; }
  let g = G[i];
  G[i] = (g / (1.0 + exp(-g))) * U[i];
}`;

/** x[i] += y[i % n1] * f0 over n0 elements: the residual add (n1 = n0) and the bias add (n1 = bias length, f0 = 1). */
export const ADD_WGSL = PARAMS_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * 65535u * 64u;
  if (i >= p.n0) { return; }
  X[i] += Y[i % p.n1] * p.f0;
}`;

/** The largest k the GPU top-k takes (a thread keeps its k best in registers); threads of its first pass. */
export const TOPK_MAX = 64, TOPK_THREADS = 512;

/** Does (v, i) come before (bv, bi): the larger value, the smaller index on ties (a stable descending sort). */
const TOPK_BEFORE = `fn before(v: f32, i: u32, bv: f32, bi: u32) -> bool { return v > bv || (v == bv && i < bi); }`;

/**
 * Top-k, pass 1: each of TOPK_THREADS threads keeps the k best of the logits i = thread, thread +
 * TOPK_THREADS, ... (sorted, by insertion) and writes them to C as (value bits, index) pairs, unused
 * slots as index 0xffffffff. n0 = n, n1 = k. NaN logits are skipped.
 */
export const TOPK_SCAN_WGSL = PARAMS_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<u32>;
${TOPK_BEFORE}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let th = g.x;
  let k = p.n1;
  var bv: array<f32, ${TOPK_MAX}>;
  var bi: array<u32, ${TOPK_MAX}>;
  var n = 0u;
  for (var i = th; i < p.n0; i += ${TOPK_THREADS}u) {
    let v = X[i];
    if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { continue; } // NaN: by its bits, since v != v may be optimised away
    if (n == k && !before(v, i, bv[k - 1u], bi[k - 1u])) { continue; }
    var j = min(n, k - 1u);
    while (j > 0u && before(v, i, bv[j - 1u], bi[j - 1u])) {
      bv[j] = bv[j - 1u];
      bi[j] = bi[j - 1u];
      j--;
    }
    bv[j] = v;
    bi[j] = i;
    n = min(n + 1u, k);
  }
  for (var j = 0u; j < k; j++) {
    C[2u * (th * k + j)] = bitcast<u32>(bv[j]);
    C[2u * (th * k + j) + 1u] = select(0xffffffffu, bi[j], j < n);
  }
}`;

/**
 * Top-k, pass 2: one workgroup takes the best remaining candidate k times (a tree reduction each
 * round) and writes (value bits, index) pairs to R in descending order. n1 = k, n2 = candidates.
 */
export const TOPK_MERGE_WGSL = PARAMS_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> C: array<u32>;
@group(0) @binding(2) var<storage, read_write> R: array<u32>;
${TOPK_BEFORE}
var<workgroup> rv: array<f32, 256>;
var<workgroup> ri: array<u32, 256>;
var<workgroup> rs: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var r = 0u; r < p.n1; r++) {
    var v = 0.0;
    var id = 0xffffffffu;
    var slot = 0xffffffffu;
    for (var s = lid; s < p.n2; s += 256u) {
      let ci = C[2u * s + 1u];
      if (ci == 0xffffffffu) { continue; }
      let cv = bitcast<f32>(C[2u * s]);
      if (id == 0xffffffffu || before(cv, ci, v, id)) { v = cv; id = ci; slot = s; }
    }
    rv[lid] = v;
    ri[lid] = id;
    rs[lid] = slot;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w >>= 1u) {
      if (lid < w) {
        let oi = ri[lid + w];
        if (oi != 0xffffffffu && (ri[lid] == 0xffffffffu || before(rv[lid + w], oi, rv[lid], ri[lid]))) {
          rv[lid] = rv[lid + w];
          ri[lid] = oi;
          rs[lid] = rs[lid + w];
        }
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      R[2u * r] = bitcast<u32>(rv[0]);
      R[2u * r + 1u] = ri[0];
      if (rs[0] != 0xffffffffu) { C[2u * rs[0] + 1u] = 0xffffffffu; }
    }
    workgroupBarrier();
    storageBarrier();
  }
}`;
