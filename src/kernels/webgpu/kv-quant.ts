// WGSL of the WebGPU backend's KV caches other than f16 (runtime/kv/packed.ts on the CPU): the
// Hadamard rotation, the cache-row writers and attention over such a cache. Rows are written on the
// GPU, where K and V are computed (reading them back each step to quantize on the CPU would cost a
// round trip per layer), with ggml's CPU from_float arithmetic, so the blocks are the bytes the CPU
// store writes (runtime/kv/cache-types.ts). Attention is ggml's CPU flash attention
// (kernels/ref/attention-quant.ts): Q in the K format's vecDot kind (the activation quantizer of
// formats.ts; bf16-rounded for a bf16 K), K.Q as the format's block dot (formats.ts's block bodies),
// online softmax, a quantized or bf16 V dequantized and accumulated in f32, an f16 V in f16.

import { BF16 } from '../../quant/float.js';
import { IQ4_NL } from '../../quant/iq4_nl.js';
import { Q4_0 } from '../../quant/q4_0.js';
import { Q4_1 } from '../../quant/q4_1.js';
import { Q5_0 } from '../../quant/q5_0.js';
import { Q5_1 } from '../../quant/q5_1.js';
import { Q8_0 } from '../../quant/q8_0.js';
import type { QuantFormat } from '../../quant/types.js';
import { IQ4NL_WGSL, blockFns, gpuFormat } from './formats.js';
import { ATTN_MAIN, BF16_WGSL, F16_WGSL, NEG_INF, PARAMS_WGSL } from './wgsl.js';

/** Cache types other than f16 the GPU writes and attends over (f32 runs the context on WebAssembly). */
export const GPU_KV_QUANT = ['q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'bf16'] as const;
export type GpuKVQuant = (typeof GPU_KV_QUANT)[number];

export function isGpuKVQuant(name: string): name is GpuKVQuant {
  return (GPU_KV_QUANT as readonly string[]).includes(name);
}

/** The quant format of each (its block dot, or for BF16 its vecDot kind, reads the cache's K). */
export const KV_QUANT_FORMAT: Readonly<Record<GpuKVQuant, QuantFormat>> = { q8_0: Q8_0, q4_0: Q4_0, q4_1: Q4_1, q5_0: Q5_0, q5_1: Q5_1, iq4_nl: IQ4_NL, bf16: BF16 };

/** Bytes of 32 values (a block of the quantized types; 32 bf16 values, so row bytes = n / 32 * this for all). */
export const KV_BLOCK_BYTES: Readonly<Record<GpuKVQuant, number>> = { q8_0: 34, q4_0: 18, q4_1: 20, q5_0: 22, q5_1: 24, iq4_nl: 18, bf16: 64 };

/** Types written as blocks of 32 (two a thread, so rows of whole block pairs); bf16 is written value by value. */
export function kvBlockQuant(type: GpuKVQuant): type is Exclude<GpuKVQuant, 'bf16'> {
  return type !== 'bf16';
}

/**
 * In-place Walsh-Hadamard rotation of consecutive rows of n1 values (n0 values in all), as
 * runtime/kv/hadamard.ts hadamardRows (ggml's fwht: scale by f0 = 1/sqrt(n) first, then butterflies
 * in f32): one thread per row.
 */
export const HADAMARD_WGSL = PARAMS_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let row = g.x + g.y * 65535u * 64u;
  let n = p.n1;
  if (row * n >= p.n0) { return; }
  let r = row * n;
  for (var j = 0u; j < n; j++) { X[r + j] = X[r + j] * p.f0; }
  for (var h = 1u; h < n; h <<= 1u) {
    for (var i = 0u; i < n; i += 2u * h) {
      for (var j = i; j < i + h; j++) {
        let u = X[r + j];
        let v = X[r + j + h];
        X[r + j] = u + v;
        X[r + j + h] = u - v;
      }
    }
  }
}`;

/** Per format: the WGSL that fills `bytes` (private, one u32 per byte) with block b (values at X[x..x+32)). */
const QUANTIZE: Readonly<Record<Exclude<GpuKVQuant, 'bf16'>, string>> = {
  // quantizeQ8_0Simd (ggml's x86 quantize_row_q8_0): id = 127/amax, round half to even, d = f16(amax/127).
  q8_0: `
  var amax = 0.0;
  for (var j = 0u; j < 32u; j++) { amax = max(amax, abs(X[x + j])); }
  let id = select(0.0, 127.0 / amax, amax != 0.0);
  let d = f2h(f16r(amax / 127.0));
  put(o, d & 0xffu); put(o + 1u, d >> 8u);
  for (var j = 0u; j < 32u; j++) { put(o + 2u + j, bitcast<u32>(i32(round(X[x + j] * id))) & 0xffu); }`,
  // quantize_row_q4_0_ref: the value of largest magnitude (first of ties), d = max / -8, id = 1/d,
  // nibble min(15, trunc(x * id + 8.5)).
  q4_0: `
  let df = smax(x) / -8.0;
  let id = select(0.0, 1.0 / df, df != 0.0);
  let d = f2h(f16r(df));
  put(o, d & 0xffu); put(o + 1u, d >> 8u);
  for (var j = 0u; j < 16u; j++) {
    let a = min(15u, u32(X[x + j] * id + 8.5));
    let b = min(15u, u32(X[x + 16u + j] * id + 8.5));
    put(o + 2u + j, a | (b << 4u));
  }`,
  // quantize_row_q4_1_ref: d = (max - min) / 15, m = min, nibble min(15, trunc((x - min) * id + 0.5)).
  q4_1: `
  let mi = minScale(x, o, 15.0);
  let mn = mi.x;
  let id = mi.y;
  for (var j = 0u; j < 16u; j++) {
    let a = min(15u, u32((X[x + j] - mn) * id + 0.5));
    let b = min(15u, u32((X[x + 16u + j] - mn) * id + 0.5));
    put(o + 4u + j, a | (b << 4u));
  }`,
  // quantize_row_q5_0_ref: as q4_0 with d = max / -16, 5-bit codes min(31, trunc(x * id + 16.5)), fifth bits in qh.
  q5_0: `
  let df = smax(x) / -16.0;
  let id = select(0.0, 1.0 / df, df != 0.0);
  let d = f2h(f16r(df));
  put(o, d & 0xffu); put(o + 1u, d >> 8u);
  var qh = 0u;
  for (var j = 0u; j < 16u; j++) {
    let a = min(31u, u32(X[x + j] * id + 16.5));
    let b = min(31u, u32(X[x + 16u + j] * id + 16.5));
    put(o + 6u + j, (a & 15u) | ((b & 15u) << 4u));
    qh |= ((a >> 4u) << j) | ((b >> 4u) << (j + 16u));
  }
  for (var k = 0u; k < 4u; k++) { put(o + 2u + k, (qh >> (8u * k)) & 0xffu); }`,
  // quantize_row_q5_1_ref: as q4_1 with d = (max - min) / 31 and 5-bit codes trunc((x - min) * id + 0.5)
  // (no clamp: they stay below 32), fifth bits in qh.
  q5_1: `
  let mi = minScale(x, o, 31.0);
  let mn = mi.x;
  let id = mi.y;
  var qh = 0u;
  for (var j = 0u; j < 16u; j++) {
    let a = u32((X[x + j] - mn) * id + 0.5) & 0xffu;
    let b = u32((X[x + 16u + j] - mn) * id + 0.5) & 0xffu;
    put(o + 8u + j, (a & 15u) | ((b & 15u) << 4u));
    qh |= (((a & 16u) >> 4u) << j) | (((b & 16u) >> 4u) << (j + 16u));
  }
  for (var k = 0u; k < 4u; k++) { put(o + 4u + k, (qh >> (8u * k)) & 0xffu); }`,
  // quantize_row_iq4_nl_ref (quant/iq4_nl.ts quantizeIq4NlRef): d = max / -127, each value's nearest
  // table entry, then the least-squares scale sum(w q x) / sum(w q q) with w = x^2. An all-zero block
  // (amax < GROUP_MAX_EPS) writes d = 0 and the indices ggml's buffer still holds: the last non-zero
  // block's before it in this write (the CPU store's one call for these rows), found by scanning
  // back up to 64 blocks (bounded: a zero model would otherwise scan the whole batch per block);
  // zeros where there is none (the CPU's then come from further back or an earlier call). The
  // values are 0 either way.
  iq4_nl: `
  var d = 0.0;
  if (iq4(x)) {
    d = iqd;
  } else {
    var pb = x;
    for (var s = 0u; s < 64u && pb >= 32u; s++) {
      pb -= 32u;
      if (iq4(pb)) { break; }
    }
  }
  let dh = f2h(f16r(d));
  put(o, dh & 0xffu); put(o + 1u, dh >> 8u);
  for (var j = 0u; j < 16u; j++) { put(o + 2u + j, L[j] | (L[16u + j] << 4u)); }`,
};

/**
 * IQ4_NL's indices of the block at x into L and its scale into iqd, or false (L untouched) for an
 * all-zero block; ggml's best_index_int8 (bisection, ties to the upper entry) in f32 as the reference.
 */
const IQ4_INDEX_WGSL = `${IQ4NL_WGSL}
var<private> L: array<u32, 32>;
var<private> iqd: f32;
fn best(v: f32) -> u32 {
  if (v <= f32(IQ4NL[0])) { return 0u; }
  if (v >= f32(IQ4NL[15])) { return 15u; }
  var ml = 0u;
  var mu = 15u;
  while (mu - ml > 1u) {
    let mav = (ml + mu) >> 1u;
    if (v < f32(IQ4NL[mav])) { mu = mav; } else { ml = mav; }
  }
  return select(mu, mu - 1u, v - f32(IQ4NL[mu - 1u]) < f32(IQ4NL[mu]) - v);
}
fn iq4(x: u32) -> bool {
  let mx = smax(x);
  if (abs(mx) < 1e-15) { return false; }
  let d = mx / -127.0;
  let id = 1.0 / d;
  var sumqx = 0.0;
  var sumq2 = 0.0;
  for (var j = 0u; j < 32u; j++) {
    let v = X[x + j];
    let l = best(id * v);
    L[j] = l;
    let q = f32(IQ4NL[l]);
    let w = v * v;
    sumqx += w * q * v;
    sumq2 += w * q * q;
  }
  iqd = select(0.0, sumqx / sumq2, sumq2 > 0.0);
  return true;
}`;

/**
 * Rows of f32 values (n0 = values per row, n2 = rows) into a cache of `type` blocks from row n1
 * (pos0). One thread per pair of blocks, so each writes whole words (a pair of 34-, 18-, 22-byte
 * blocks is 68, 36, 44 bytes); rows hold an even number of blocks (GpuKVQuant users check).
 */
export function kvQuantWriteWgsl(type: Exclude<GpuKVQuant, 'bf16'>): string {
  const bb = KV_BLOCK_BYTES[type];
  const words = bb / 2;
  return PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<u32>;
var<private> w: array<u32, ${words}>;
fn put(i: u32, b: u32) { w[i >> 2u] |= b << (8u * (i & 3u)); }
/** The value of largest magnitude of the block at x, the first of ties (q4_0/q5_0/iq4_nl's max). */
fn smax(x: u32) -> f32 {
  var amax = 0.0;
  var mx = 0.0;
  for (var j = 0u; j < 32u; j++) {
    let v = X[x + j];
    if (amax < abs(v)) { amax = abs(v); mx = v; }
  }
  return mx;
}
/** q4_1/q5_1: d = (max - min) / levels and m = min as the block's first 4 bytes at o; returns (min, 1/d). */
fn minScale(x: u32, o: u32, levels: f32) -> vec2<f32> {
  var mn = X[x];
  var mx = X[x];
  for (var j = 1u; j < 32u; j++) { mn = min(mn, X[x + j]); mx = max(mx, X[x + j]); }
  let df = (mx - mn) / levels;
  let d = f2h(f16r(df));
  let m = f2h(f16r(mn));
  put(o, d & 0xffu); put(o + 1u, d >> 8u); put(o + 2u, m & 0xffu); put(o + 3u, m >> 8u);
  return vec2<f32>(mn, select(0.0, 1.0 / df, df != 0.0));
}${type === 'iq4_nl' ? IQ4_INDEX_WGSL : ''}
fn quant(x: u32, o: u32) {${QUANTIZE[type]}
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let pr = g.x + g.y * 65535u * 64u;
  if (pr * 64u >= p.n0 * p.n2) { return; }
  for (var i = 0u; i < ${words}u; i++) { w[i] = 0u; }
  quant(pr * 64u, 0u);
  quant(pr * 64u + 32u, ${bb}u);
  let base = ((p.n1 * p.n0) / 64u + pr) * ${words}u;
  for (var i = 0u; i < ${words}u; i++) { C[base + i] = w[i]; }
}`;
}

/**
 * Scores over a quantized K cache: Q already prepared as the format's vecDot kind (X quants, XD
 * scales per 32, q8_1 sums from XD[n6]); K.Q = the sum over the head's blocks of the format's block
 * dot (the reference sums them in double, here f32), times the scale. n0 = nHead, n1 = nHeadKv,
 * n2 = headDim, n3 = pos0, n4 = score row stride, n5 = K row bytes, n6 = q8_1 sums start; f0 = scale.
 */
export function attnScoresQuantWgsl(f: QuantFormat): string {
  const g = gpuFormat(f);
  if (!g || g.block !== 32) throw new Error(`attnScoresQuantWgsl: no WebGPU block dot for ${f.name}`);
  return PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> XD: array<f32>;
@group(0) @binding(4) var<storage, read_write> S: array<f32>;
fn xv(i: u32) -> f32 { return X[i]; }
fn xd(i: u32) -> f32 { return XD[i >> 5u]; }
fn xs(i: u32) -> f32 { return XD[p.n6 + (i >> 5u)]; }
fn xb(i: u32) -> i32 { return 0; }
${blockFns(f, g)}
${ATTN_MAIN}
  let hd = p.n2;
  let nb = hd / 32u;
  let qo = th * hd;
  let last = p.n3 + t;
  for (var j = lid; j <= last; j += 64u) {
    let ko = j * p.n5 + kvh * nb * NB_BYTES;
    var dot = 0.0;
    for (var b = 0u; b < nb; b++) { dot += blk(ko + b * NB_BYTES, qo + 32u * b); }
    S[th * p.n4 + j] = dot * p.f0;
  }
}`;
}

/** Value i (0..31) of the block at byte o of W, dequantized as the format's `dequantize` (exact in f32). */
const DEQUANT: Readonly<Record<GpuKVQuant | 'f16', string>> = {
  f16: 'return h2f((W[(o + 2u * i) >> 2u] >> (((o + 2u * i) & 2u) * 8u)) & 0xffffu);',
  q8_0: 'return f32(sbi(o + 2u + i)) * rh(o);',
  q4_0: 'let b = rb(o + 2u + (i & 15u)); return (f32(select(b & 15u, b >> 4u, i >= 16u)) - 8.0) * rh(o);',
  q4_1: 'let b = rb(o + 4u + (i & 15u)); return f32(select(b & 15u, b >> 4u, i >= 16u)) * rh(o) + rh(o + 2u);',
  q5_0: `let b = rb(o + 6u + (i & 15u));
  let qh = rb(o + 2u) | (rb(o + 3u) << 8u) | (rb(o + 4u) << 16u) | (rb(o + 5u) << 24u);
  return f32(i32(select(b & 15u, b >> 4u, i >= 16u) | (((qh >> i) & 1u) << 4u)) - 16) * rh(o);`,
  q5_1: `let b = rb(o + 8u + (i & 15u));
  let qh = W[(o + 4u) >> 2u];
  return f32(select(b & 15u, b >> 4u, i >= 16u) | (((qh >> i) & 1u) << 4u)) * rh(o) + rh(o + 2u);`,
  iq4_nl: 'let b = rb(o + 2u + (i & 15u)); return f32(IQ4NL[select(b & 15u, b >> 4u, i >= 16u)]) * rh(o);',
  bf16: 'return b2f((W[(o + 2u * i) >> 2u] >> (((o + 2u * i) & 2u) * 8u)) & 0xffffu);',
};

/**
 * The softmax-weighted sum of V rows for one (token, head) per workgroup, one output element per
 * thread, online softmax as the reference: an f16 V's accumulator rounded to f16 after every update
 * (vType 'f16', its rows of 2-byte values), a quantized or bf16 V's kept in f32. n0 = nHead, n1 = nHeadKv,
 * n2 = headDimV, n3 = pos0, n4 = score row stride, n5 = V row bytes.
 */
export function attnAccWgsl(vType: GpuKVQuant | 'f16'): string {
  const f16 = vType === 'f16';
  const bb = f16 ? 64 : KV_BLOCK_BYTES[vType];
  const r = (e: string) => (f16 ? `f16r(${e})` : e);
  return PARAMS_WGSL + F16_WGSL + (vType === 'bf16' ? BF16_WGSL : '') + (vType === 'iq4_nl' ? IQ4NL_WGSL : '') + /* wgsl */ `
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
fn rh(o: u32) -> f32 { return h2f((W[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu); }
fn rb(o: u32) -> u32 { return (W[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn sbi(o: u32) -> i32 { return bitcast<i32>(rb(o) << 24u) >> 24u; }
fn dq(o: u32, i: u32) -> f32 { ${DEQUANT[vType]} }
${ATTN_MAIN}
  let hdv = p.n2;
  let last = p.n3 + t;
  for (var d = lid; d < hdv; d += 64u) {
    var M = ${NEG_INF};
    var Ssum = 0.0;
    var acc = 0.0;
    // Element d of the head: block (kvh * hdv + d) / 32 of the row, value d % 32 of it.
    let e = kvh * hdv + d;
    let bo = (e / 32u) * ${bb}u;
    for (var j = 0u; j <= last; j++) {
      let s = S[th * p.n4 + j];
      var ms = 1.0;
      var vs = 1.0;
      if (s > M) {
        let first = j == 0u;
        let old = M;
        M = s;
        ms = select(exp(old - M), 0.0, first);
        acc = ${r('acc * ms')};
      } else {
        vs = exp(s - M);
      }
      let v = dq(j * p.n5 + bo, e % 32u);
      acc = ${r('acc + v * vs')};
      Ssum = Ssum * ms + vs;
    }
    O[th * hdv + d] = acc * select(1.0 / Ssum, 0.0, Ssum == 0.0);
  }
}`;
}
