// The WebGPU backend's per-format table, the GPU twin of each format's `dot` in quant/: how one
// block of a weight row (raw GGUF bytes, read as u32 words; blocks of 18 or 22 bytes need not be
// word-aligned) meets the activations prepared as that format's vecDot kind (q8 quants held as
// exact integers in f32). A format missing here runs its products on the CPU kernels, per matrix.
// Keyed by format name as ggml's per-backend tables are; quant/ stays codecs only.

import { IQ4_NL_VALUES } from '../../quant/iq4_nl.js';
import type { QuantFormat } from '../../quant/types.js';
import { F16_WGSL, PARAMS_WGSL } from './wgsl.js';

export type GpuActKind = 'f32' | 'f16' | 'q8_0' | 'q8_1' | 'q8_K';

export interface GpuFormat {
  /** Elements per block as the shader walks them (2 for F16: one word). */
  block: number;
  act: GpuActKind;
  /** WGSL body of `fn blk(o: u32, x: u32) -> f32`: o is the block's byte offset in W, x its first element in X. */
  body: string;
  /** Module-scope WGSL the body needs (IQ4_NL's value table). */
  decls?: string;
}

/**
 * ggml's kvalues_iq4nl as a private array (indexed at run time; a private copy per invocation is
 * what WGSL guarantees to allow, where dynamic indexing of a const array is left to the compiler).
 */
export const IQ4NL_WGSL = `var<private> IQ4NL: array<i32, 16> = array<i32, 16>(${Array.from(IQ4_NL_VALUES).join(', ')});`;

/** Byte k (0..3) of word q, signed; a byte of W at byte offset o; a signed byte of W. */
const BYTES = `fn sb(q: u32, k: u32) -> f32 { return f32(i32((q >> (8u * k)) & 0xffu) - (i32(((q >> (8u * k)) & 0x80u)) << 1u)); }
fn bt(q: u32, k: u32) -> u32 { return (q >> (8u * k)) & 0xffu; }
fn rb(o: u32) -> u32 { return (W[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn sbi(o: u32) -> i32 { return bitcast<i32>(rb(o) << 24u) >> 24u; }
fn xi(i: u32) -> i32 { return i32(xv(i)); }`;

/** Integer sum of 16 bytes of 4-bit pairs at byte o (low nibbles elements 0..15, high 16..31) minus zero, times the q8 activations at x. */
const NIBBLES = `fn nibbles(o: u32, x: u32, zero: i32) -> f32 {
  var isum = 0.0;
  for (var j = 0u; j < 16u; j += 4u) {
    let q = rw(o + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      isum += f32(i32(b & 15u) - zero) * xv(x + j + k) + f32(i32(b >> 4u) - zero) * xv(x + j + k + 16u);
    }
  }
  return isum;
}`;

/** As nibbles for Q5_0/Q5_1: 4 bytes of fifth bits at byte o, then the 16 bytes of nibbles. */
const NIBBLES5 = `fn nibbles5(o: u32, x: u32, zero: i32) -> f32 {
  let qh = rw(o);
  var isum = 0.0;
  for (var j = 0u; j < 16u; j += 4u) {
    let q = rw(o + 4u + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      let jj = j + k;
      let lo = i32((b & 15u) | (((qh >> jj) << 4u) & 16u)) - zero;
      let hi = i32((b >> 4u) | ((qh >> (jj + 12u)) & 16u)) - zero;
      isum += f32(lo) * xv(x + jj) + f32(hi) * xv(x + jj + 16u);
    }
  }
  return isum;
}`;

/** The 6-bit (scale, min) pair j of a Q4_K/Q5_K block whose 12 scale bytes start at o (quant/k-common.ts scaleMinK4). */
const SCALE_MIN = `fn scmin(o: u32, j: u32) -> vec2<i32> {
  if (j < 4u) { return vec2<i32>(i32(rb(o + j) & 63u), i32(rb(o + j + 4u) & 63u)); }
  return vec2<i32>(i32((rb(o + j + 4u) & 15u) | ((rb(o + j - 4u) >> 6u) << 4u)), i32((rb(o + j + 4u) >> 4u) | ((rb(o + j) >> 6u) << 4u)));
}`;

/**
 * Q4_K and Q5_K: per 64-element chunk two sub-blocks with 6-bit scales and mins; the mins meet the
 * Q8_K block sums of 16 (xb), as the reference's dot does. `hi5` adds Q5_K's fifth bits from qh.
 */
function kScaleMinBody(qsOff: number, hi5: boolean): string {
  return `
  var isum = 0i;
  var summs = 0i;
  for (var c = 0u; c < 4u; c++) {
    let s1 = scmin(o + 4u, 2u * c);
    let s2 = scmin(o + 4u, 2u * c + 1u);
    var lo = 0i;
    var hi = 0i;
    for (var l = 0u; l < 32u; l += 4u) {
      let q = rw(o + ${qsOff}u + 32u * c + l);${hi5 ? '\n      let h = rw(o + 16u + l);' : ''}
      for (var k = 0u; k < 4u; k++) {
        let b = bt(q, k);${hi5 ? `
        let hb = bt(h, k);
        lo += i32((b & 15u) | select(0u, 16u, (hb & (1u << (2u * c))) != 0u)) * xi(x + 64u * c + l + k);
        hi += i32((b >> 4u) | select(0u, 16u, (hb & (2u << (2u * c))) != 0u)) * xi(x + 64u * c + 32u + l + k);` : `
        lo += i32(b & 15u) * xi(x + 64u * c + l + k);
        hi += i32(b >> 4u) * xi(x + 64u * c + 32u + l + k);`}
      }
    }
    isum += s1.x * lo + s2.x * hi;
    summs += (xb(x + 64u * c) + xb(x + 64u * c + 16u)) * s1.y + (xb(x + 64u * c + 32u) + xb(x + 64u * c + 48u)) * s2.y;
  }
  let yd = xd(x);
  return (rh(o) * yd) * f32(isum) - (rh(o + 2u) * yd) * f32(summs);`;
}

/**
 * Bodies read the activations through accessors the enclosing shader defines (global buffers in the
 * matrix-vector shader, a workgroup tile in the matrix-matrix one): xv(i) the value (a q8 quant as an
 * exact integer), xd(i) the scale of i's block (32, or 256 for q8_K), xs(i) a q8_1 block's d * sum,
 * xb(i) a q8_K sum of the 16 quants from i.
 */
const TABLE: Readonly<Record<string, GpuFormat>> = {
  F32: { block: 1, act: 'f32', body: 'return bitcast<f32>(W[o >> 2u]) * xv(x);' },
  F16: { block: 2, act: 'f16', body: 'let w = rw(o); return h2f(w & 0xffffu) * xv(x) + h2f(w >> 16u) * xv(x + 1u);' },
  Q8_0: {
    block: 32, act: 'q8_0', body: `
  var isum = 0.0;
  for (var j = 0u; j < 32u; j += 4u) {
    let q = rw(o + 2u + j);
    for (var k = 0u; k < 4u; k++) { isum += sb(q, k) * xv(x + j + k); }
  }
  return isum * (rh(o) * xd(x));`,
  },
  Q4_0: { block: 32, act: 'q8_0', body: 'return nibbles(o + 2u, x, 8) * (rh(o) * xd(x));' },
  Q4_1: { block: 32, act: 'q8_1', body: 'return nibbles(o + 4u, x, 0) * (rh(o) * xd(x)) + rh(o + 2u) * xs(x);' },
  Q5_0: { block: 32, act: 'q8_0', body: 'return nibbles5(o + 2u, x, 16) * (rh(o) * xd(x));' },
  // { f16 d; f16 m; u8 qh[4]; u8 qs[16] }: 24 bytes, word-aligned; Q4_1's sums term, Q5_0's fifth bits.
  Q5_1: { block: 32, act: 'q8_1', body: 'return nibbles5(o + 4u, x, 0) * (rh(o) * xd(x)) + rh(o + 2u) * xs(x);' },
  // { f16 d; u8 qs[16] }: Q4_0's layout, each nibble an index into the non-linear table.
  IQ4_NL: {
    block: 32, act: 'q8_0', decls: IQ4NL_WGSL, body: `
  var isum = 0.0;
  for (var j = 0u; j < 16u; j += 4u) {
    let q = rw(o + 2u + j);
    for (var k = 0u; k < 4u; k++) {
      let b = (q >> (8u * k)) & 0xffu;
      isum += f32(IQ4NL[b & 15u]) * xv(x + j + k) + f32(IQ4NL[b >> 4u]) * xv(x + j + k + 16u);
    }
  }
  return isum * (rh(o) * xd(x));`,
  },
  // { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }
  Q4_K: { block: 256, act: 'q8_K', body: kScaleMinBody(16, false) },
  // { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }
  Q5_K: { block: 256, act: 'q8_K', body: kScaleMinBody(48, true) },
  // { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: 210 bytes, so every other block is not word-aligned.
  Q6_K: {
    block: 256, act: 'q8_K', body: `
  var isum = 0i;
  for (var h = 0u; h < 2u; h++) {
    for (var qu = 0u; qu < 4u; qu++) {
      let qlo = o + 64u * h + 32u * (qu & 1u);
      let shL = select(0u, 4u, qu >= 2u);
      let shH = 2u * qu;
      let yq = x + 128u * h + 32u * qu;
      for (var hf = 0u; hf < 32u; hf += 16u) {
        var isuml = 0i;
        for (var l = hf; l < hf + 16u; l += 4u) {
          let a = rw(qlo + l);
          let hq = rw(o + 128u + 32u * h + l);
          for (var k = 0u; k < 4u; k++) {
            let q = i32(((bt(a, k) >> shL) & 15u) | (((bt(hq, k) >> shH) & 3u) << 4u)) - 32;
            isuml += q * xi(yq + l + k);
          }
        }
        isum += sbi(o + 192u + 8u * h + 2u * qu + (hf >> 4u)) * isuml;
      }
    }
  }
  return f32(isum) * (rh(o + 208u) * xd(x));`,
  },
  // { u8 qs[64]; f16 d }: element 128j + 32l + m in bits 2l of qs[32j + m], as t + 1.
  TQ2_0: {
    block: 256, act: 'q8_K', body: `
  var isum = 0i;
  for (var j = 0u; j < 64u; j += 32u) {
    for (var m = 0u; m < 32u; m += 4u) {
      let q = rw(o + j + m);
      for (var k = 0u; k < 4u; k++) {
        let b = bt(q, k);
        for (var l = 0u; l < 4u; l++) { isum += (i32((b >> (2u * l)) & 3u) - 1) * xi(x + 4u * j + 32u * l + m + k); }
      }
    }
  }
  return f32(isum) * (rh(o + 64u) * xd(x));`,
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

/** Reading W: an f16 at byte o (o even), a word at any byte o (blocks of 18, 34, 66 or 210 bytes need not be aligned). */
const W_READS = `fn rh(o: u32) -> f32 { return h2f((W[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu); }
fn rw(o: u32) -> u32 {
  let s = (o & 3u) * 8u;
  let lo = W[o >> 2u];
  if (s == 0u) { return lo; }
  return (lo >> s) | (W[(o >> 2u) + 1u] << (32u - s));
}`;

/** The shader text shared by both products: params, f16 helpers, W reads, byte helpers, the format's block. */
export function blockFns(f: QuantFormat, g: GpuFormat): string {
  return `${W_READS}
${g.decls ?? ''}
${BYTES}
${NIBBLES}
${NIBBLES5}
${SCALE_MIN}
fn blk(o: u32, x: u32) -> f32 {${g.body}
}
const NB_BYTES = ${f.typeSize}u * ${g.block}u / ${f.blockSize}u;`;
}

function table(f: QuantFormat, caller: string): GpuFormat {
  const g = TABLE[f.name];
  if (!g) throw new Error(`${caller}: no WebGPU kernel for ${f.name}`);
  return g;
}

/** log2 of the activation block a scale covers: 256 for q8_K, else 32. */
const scaleShift = (g: GpuFormat) => (g.act === 'q8_K' ? 8 : 5);

/**
 * y[t, rowOff + r] = W[r] . x[t] for the rows of one weight shard: one workgroup of 64 per (row, token),
 * each thread a stride of blocks, a tree sum at the end. The decode product (a few tokens).
 * n0 = rows, n1 = cols, n2 = rowOff, n3 = yStride (all rows), n4 = rowBytes, n5 = workgroups along x,
 * n6 = where q8_1 block sums / q8_K sums of 16 start in XD.
 */
export function matvecWgsl(f: QuantFormat): string {
  const g = table(f, 'matvecWgsl');
  return PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> XD: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
var<workgroup> red: array<f32, 64>;
fn xv(i: u32) -> f32 { return X[i]; }
fn xd(i: u32) -> f32 { return XD[i >> ${scaleShift(g)}u]; }
fn xs(i: u32) -> f32 { return XD[p.n6 + (i >> 5u)]; }
fn xb(i: u32) -> i32 { return i32(XD[p.n6 + (i >> 4u)]); }
${blockFns(f, g)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  _ = arrayLength(&XD); // a static use: F32/F16 read no scales, yet the layout keeps the binding
  let r = wg.x + wg.y * p.n5;
  let t = wg.z;
  if (r >= p.n0) { return; }
  let nb = p.n1 / ${g.block}u;
  var acc = 0.0;
  for (var b = lid; b < nb; b += 64u) { acc += blk(r * p.n4 + b * NB_BYTES, t * p.n1 + b * ${g.block}u); }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[t * p.n3 + p.n2 + r] = red[0]; }
}`;
}

/** The matrix-matrix tile: rows per workgroup (one a thread), columns staged per step. */
export const GEMM_ROWS = 64, GEMM_K = 256;

/**
 * Tokens per tile: the staged activations are packed into 512 words whatever their kind (q8 quants
 * four to a word, f16 values two, f32 one), because workgroup memory is zero-initialised by the
 * shader's prologue and its size, not the product, dominated compile time on SwiftShader (2048 words:
 * about 4 s a pipeline, 512: about 1 s).
 */
export function gemmTokens(f: QuantFormat): number {
  const act = table(f, 'gemmTokens').act;
  return act === 'f32' ? 2 : act === 'f16' ? 4 : 8;
}

/**
 * Y[t, rowOff + r] = W[r] . x[t] for many tokens at once (prefill): a workgroup owns a tile of
 * GEMM_ROWS rows x gemmTokens(f) tokens; per step of GEMM_K columns it stages the tokens' prepared
 * activations (values, block scales, sums) in workgroup memory, then each thread runs its row's
 * blocks against all the tile's tokens, so a weight block is fetched once per tile of tokens (not
 * once per token as repeated matrix-vector products would) and the activations once per 64 rows.
 * Same block bodies as the matrix-vector shader, so the same integer arithmetic per block.
 * n0 = rows, n1 = cols, n2 = rowOff, n3 = yStride, n4 = rowBytes, n5 = nTok, n6 = sums start in XD.
 */
export function gemmWgsl(f: QuantFormat): string {
  const g = table(f, 'gemmWgsl');
  const T = gemmTokens(f), K = GEMM_K, sh = scaleShift(g);
  const q8 = g.act !== 'f32' && g.act !== 'f16';
  const per = q8 ? 4 : g.act === 'f16' ? 2 : 1; // values a word of XS holds
  const words = (T * K) / per;
  const sumShift = g.act === 'q8_1' ? 5 : 4;
  // How a staged word is made from the values k0 + k*per .. of token tt, and read back as value i.
  const stage = q8
    ? `var w = 0u;
      for (var e = 0u; e < 4u; e++) { w |= (bitcast<u32>(i32(ld(tt, k + e))) & 0xffu) << (8u * e); }
      XS[i] = w;`
    : g.act === 'f16' ? 'XS[i] = f2h(ld(tt, k)) | (f2h(ld(tt, k + 1u)) << 16u);' : 'XS[i] = bitcast<u32>(ld(tt, k));';
  const read = q8
    ? 'f32(bitcast<i32>(XS[i >> 2u] << (24u - 8u * (i & 3u))) >> 24u)'
    : g.act === 'f16' ? 'h2f((XS[i >> 1u] >> (16u * (i & 1u))) & 0xffffu)' : 'bitcast<f32>(XS[i])';
  return PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> XD: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
var<workgroup> XS: array<u32, ${words}>;${q8 ? `
var<workgroup> XDS: array<f32, ${(T * K) >> sh}>;` : ''}${g.act === 'q8_1' || g.act === 'q8_K' ? `
var<workgroup> XSS: array<f32, ${(T * K) >> sumShift}>;` : ''}
fn xv(i: u32) -> f32 { return ${read}; }
fn xd(i: u32) -> f32 { return ${q8 ? `XDS[i >> ${sh}u]` : '0.0'}; }
fn xs(i: u32) -> f32 { return ${g.act === 'q8_1' ? 'XSS[i >> 5u]' : '0.0'}; }
fn xb(i: u32) -> i32 { return ${g.act === 'q8_K' ? 'i32(XSS[i >> 4u])' : '0'}; }
${blockFns(f, g)}
var<private> t0: u32;
var<private> nt: u32;
var<private> k0: u32;
var<private> kn: u32;
/** Value k (of this step's columns) of the tile's token tt; 0 past the tokens or the columns. */
fn ld(tt: u32, k: u32) -> f32 {
  if (tt >= nt || k >= kn) { return 0.0; }
  return X[(t0 + tt) * p.n1 + k0 + k];
}
@compute @workgroup_size(${GEMM_ROWS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  _ = arrayLength(&XD);
  let r = wg.x * ${GEMM_ROWS}u + lid;
  t0 = wg.y * ${T}u;
  nt = min(${T}u, p.n5 - t0);
  var acc: array<f32, ${T}>;
  // The step loop's own variable keeps the barriers in uniform control flow (a private variable does not).
  for (var ks = 0u; ks < p.n1; ks += ${K}u) {
    k0 = ks;
    kn = min(${K}u, p.n1 - ks);
    for (var i = lid; i < ${words}u; i += ${GEMM_ROWS}u) {
      let tt = i / ${K / per}u;
      let k = (i % ${K / per}u) * ${per}u;
      ${stage}
    }${q8 ? `
    // Block scales of the staged columns (their blocks start on multiples of ${1 << sh} here and in X).
    for (var i = lid; i < ${(T * K) >> sh}u; i += ${GEMM_ROWS}u) {
      let tt = i / ${K >> sh}u;
      let k = (i % ${K >> sh}u) << ${sh}u;
      var v = 0.0;
      if (tt < nt && k < kn) { v = XD[((t0 + tt) * p.n1 + k0 + k) >> ${sh}u]; }
      XDS[i] = v;
    }` : ''}${g.act === 'q8_1' || g.act === 'q8_K' ? `
    // ${g.act === 'q8_1' ? 'q8_1 d * sum per 32' : 'q8_K sums per 16'}.
    for (var i = lid; i < ${(T * K) >> sumShift}u; i += ${GEMM_ROWS}u) {
      let tt = i / ${K >> sumShift}u;
      let k = (i % ${K >> sumShift}u) << ${sumShift}u;
      var v = 0.0;
      if (tt < nt && k < kn) { v = XD[p.n6 + (((t0 + tt) * p.n1 + k0 + k) >> ${sumShift}u)]; }
      XSS[i] = v;
    }` : ''}
    workgroupBarrier();
    if (r < p.n0) {
      for (var kb = 0u; kb < kn; kb += ${g.block}u) {
        let o = r * p.n4 + ((ks + kb) / ${g.block}u) * NB_BYTES;
        for (var tt = 0u; tt < nt; tt++) { acc[tt] += blk(o, tt * ${K}u + kb); }
      }
    }
    workgroupBarrier();
  }
  if (r < p.n0) {
    for (var tt = 0u; tt < nt; tt++) { Y[(t0 + tt) * p.n3 + p.n2 + r] = acc[tt]; }
  }
}`;
}

/** The activation quantizers' entry: one thread per block b of p.n1. */
const PER_BLOCK_MAIN = `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let b = g.x + g.y * 65535u * 64u;
  if (b >= p.n1) { return; }`;

/**
 * Activations in a format's vecDot kind, as kernels/ref/activations.ts prepares them: f16-rounded
 * values, or Q8_0/Q8_1 blocks of 32 (round half to even at 127/amax, an f16-rounded scale, and for
 * Q8_1 the f16-rounded d * sum at XD[n1 + block]). n0 = elements (all tokens), n1 = blocks.
 */
export function actWgsl(kind: Exclude<GpuActKind, 'f32'>): string {
  const head = PARAMS_WGSL + F16_WGSL + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Q: array<f32>;
@group(0) @binding(3) var<storage, read_write> D: array<f32>;
`;
  if (kind === 'q8_K') return head + Q8K_WGSL;
  if (kind === 'f16') return head + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * 65535u * 64u;
  if (i >= p.n0) { return; }
  Q[i] = f16r(X[i]);
  if (i == 0u) { D[0] = 0.0; }
}`;
  return head + /* wgsl */ `
${PER_BLOCK_MAIN}
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

/**
 * Q8_K super-blocks of 256 as quant/q8_K.ts quantizeQ8KBlocks (ggml's quantize_row_q8_K_ref): the
 * signed absolute maximum gives iscale = -127/max, quants min(127, round-half-even(iscale * x)), the
 * scale 1/iscale at D[b] and the sums of 16 at D[n2 + 16 b + j]. n1 = blocks of 256, n2 = where the sums start.
 */
const Q8K_WGSL = /* wgsl */ `
${PER_BLOCK_MAIN}
  let o = b * 256u;
  var amax = 0.0;
  var mx = 0.0;
  for (var j = 0u; j < 256u; j++) {
    let ax = abs(X[o + j]);
    if (ax > amax) { amax = ax; mx = X[o + j]; }
  }
  if (amax == 0.0) {
    D[b] = 0.0;
    for (var j = 0u; j < 256u; j++) { Q[o + j] = 0.0; }
    for (var j = 0u; j < 16u; j++) { D[p.n2 + 16u * b + j] = 0.0; }
    return;
  }
  let iscale = -127.0 / mx;
  for (var j = 0u; j < 16u; j++) {
    var sum = 0.0;
    for (var i = 0u; i < 16u; i++) {
      let q = min(127.0, round(iscale * X[o + 16u * j + i]));
      Q[o + 16u * j + i] = q;
      sum += q;
    }
    D[p.n2 + 16u * b + j] = sum;
  }
  D[b] = 1.0 / iscale;
}`;
