// The WebGPU backend's per-format table, the GPU twin of each format's `dot` in quant/: how one
// block of a weight row (raw GGUF bytes, read as u32 words; blocks of 18 or 22 bytes need not be
// word-aligned) meets the activations prepared as that format's vecDot kind (q8 quants held as
// exact integers in f32). A format missing here runs its products on the CPU kernels, per matrix.
// Keyed by format name as ggml's per-backend tables are; quant/ stays codecs only.

import type { QuantFormat } from '../../quant/types.js';
import { F16_WGSL, PARAMS_WGSL } from './wgsl.js';

export type GpuActKind = 'f32' | 'f16' | 'q8_0' | 'q8_1' | 'q8_K';

interface GpuFormat {
  /** Elements per block as the shader walks them (2 for F16: one word). */
  block: number;
  act: GpuActKind;
  /** WGSL body of `fn blk(o: u32, x: u32) -> f32`: o is the block's byte offset in W, x its first element in X. */
  body: string;
}

/** Signed byte k (0..3) of word q. */
const SB = 'fn sb(q: u32, k: u32) -> f32 { return f32(i32((q >> (8u * k)) & 0xffu) - (i32(((q >> (8u * k)) & 0x80u)) << 1u)); }';

/** Integer sum of 16 bytes of 4-bit pairs at byte o (low nibbles elements 0..15, high 16..31) minus zero, times the q8 activations at x. */
const NIBBLES = `fn nibbles(o: u32, x: u32, zero: i32) -> f32 {
  var isum = 0.0;
  for (var j = 0u; j < 16u; j += 4u) {
    let q = rw(o + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      isum += f32(i32(b & 15u) - zero) * X[x + j + k] + f32(i32(b >> 4u) - zero) * X[x + j + k + 16u];
    }
  }
  return isum;
}`;

const TABLE: Readonly<Record<string, GpuFormat>> = {
  F32: { block: 1, act: 'f32', body: 'return bitcast<f32>(W[o >> 2u]) * X[x];' },
  F16: { block: 2, act: 'f16', body: 'let w = rw(o); return h2f(w & 0xffffu) * X[x] + h2f(w >> 16u) * X[x + 1u];' },
  Q8_0: {
    block: 32, act: 'q8_0', body: `
  var isum = 0.0;
  for (var j = 0u; j < 32u; j += 4u) {
    let q = rw(o + 2u + j);
    for (var k = 0u; k < 4u; k++) { isum += sb(q, k) * X[x + j + k]; }
  }
  return isum * (rh(o) * XD[x >> 5u]);`,
  },
  Q4_0: { block: 32, act: 'q8_0', body: 'return nibbles(o + 2u, x, 8) * (rh(o) * XD[x >> 5u]);' },
  Q4_1: { block: 32, act: 'q8_1', body: 'return nibbles(o + 4u, x, 0) * (rh(o) * XD[x >> 5u]) + rh(o + 2u) * XD[p.n6 + (x >> 5u)];' },
  Q5_0: {
    block: 32, act: 'q8_0', body: `
  let qh = rw(o + 2u);
  var isum = 0.0;
  for (var j = 0u; j < 16u; j += 4u) {
    let q = rw(o + 6u + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      let jj = j + k;
      let lo = i32((b & 15u) | (((qh >> jj) << 4u) & 16u)) - 16;
      let hi = i32((b >> 4u) | ((qh >> (jj + 12u)) & 16u)) - 16;
      isum += f32(lo) * X[x + jj] + f32(hi) * X[x + jj + 16u];
    }
  }
  return isum * (rh(o) * XD[x >> 5u]);`,
  },
};

/** The GPU's handling of a format, or null: its products run on the CPU kernels. */
export function gpuFormat(f: QuantFormat): GpuFormat | null {
  return TABLE[f.name] ?? null;
}

/** Why a matrix's products cannot run on the GPU (null: they can). */
export function gpuMatrixRefusal(f: QuantFormat, cols: number): string | null {
  const g = TABLE[f.name];
  if (!g) return `format ${f.name} has no WebGPU kernel yet`;
  if (cols % g.block !== 0) return `${cols} columns are not whole ${f.name} blocks of ${g.block}`;
  return null;
}

/**
 * y[t, rowOff + r] = W[r] . x[t] for the rows of one weight shard: one workgroup of 64 per (row, token),
 * each thread a stride of blocks, a tree sum at the end.
 * n0 = rows, n1 = cols, n2 = rowOff, n3 = yStride (all rows), n4 = rowBytes, n5 = workgroups along x,
 * n6 = where q8_1 block sums start in XD.
 */
export function matvecWgsl(f: QuantFormat): string {
  const g = TABLE[f.name];
  if (!g) throw new Error(`matvecWgsl: no WebGPU kernel for ${f.name}`);
  return PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> XD: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
var<workgroup> red: array<f32, 64>;
fn rh(o: u32) -> f32 { return h2f((W[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu); }
fn rw(o: u32) -> u32 {
  let s = (o & 3u) * 8u;
  let lo = W[o >> 2u];
  if (s == 0u) { return lo; }
  return (lo >> s) | (W[(o >> 2u) + 1u] << (32u - s));
}
${SB}
${NIBBLES}
fn blk(o: u32, x: u32) -> f32 {${g.body}
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  _ = arrayLength(&XD); // a static use: F32/F16 read no scales, yet the layout keeps the binding
  let r = wg.x + wg.y * p.n5;
  let t = wg.z;
  if (r >= p.n0) { return; }
  let nb = p.n1 / ${g.block}u;
  let tb = ${f.typeSize}u * ${g.block}u / ${f.blockSize}u;
  var acc = 0.0;
  for (var b = lid; b < nb; b += 64u) { acc += blk(r * p.n4 + b * tb, t * p.n1 + b * ${g.block}u); }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[t * p.n3 + p.n2 + r] = red[0]; }
}`;
}

/**
 * Activations in a format's vecDot kind, as kernels/ref/activations.ts prepares them: f16-rounded
 * values, or Q8_0/Q8_1 blocks of 32 (round half to even at 127/amax, an f16-rounded scale, and for
 * Q8_1 the f16-rounded d * sum at XD[n1 + block]). n0 = elements (all tokens), n1 = blocks.
 */
export function actWgsl(kind: Exclude<GpuActKind, 'f32' | 'q8_K'>): string {
  const head = PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Q: array<f32>;
@group(0) @binding(3) var<storage, read_write> D: array<f32>;
`;
  if (kind === 'f16') return head + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * 65535u * 64u;
  if (i >= p.n0) { return; }
  Q[i] = f16r(X[i]);
  if (i == 0u) { D[0] = 0.0; }
}`;
  return head + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let b = g.x + g.y * 65535u * 64u;
  if (b >= p.n1) { return; }
  let o = b * 32u;
  var amax = 0.0;
  for (var j = 0u; j < 32u; j++) { amax = max(amax, abs(X[o + j])); }
  let d = amax / 127.0;
  let id = select(0.0, 127.0 / amax, amax != 0.0);
  var sum = 0.0;
  for (var j = 0u; j < 32u; j++) {
    let q = round(X[o + j] * id);
    Q[o + j] = q;
    sum += q;
  }
  D[b] = f16r(d);
  ${kind === 'q8_1' ? 'D[p.n1 + b] = f16r(d * sum);' : ''}
}`;
}
