// The shared control block between the main thread and kernel workers, and the work split.
// Layout of the Int32Array over `ctrl`: [0] job generation, [1] workers done, [2] op,
// [3] participants, [4] items to split (rows, tiles or heads), from [5] the job's integer
// arguments, in the order of its export's parameters less the split range; the Float32Array view
// holds float arguments from index 40; [SPIN] how long workers spin before sleeping, [NEXT] the
// next chunk to take, [JOIN] the workers that joined the job (runShare), [SCHED] how jobs are cut
// (set by the pool), [UNITS] the last job's split units (read by the pool's tuner). From GROUP
// on, the sub-jobs of a grouped job (OP_GROUP): several products over one split, one barrier.
// Each op's arguments are written by its post* function and read by runShare, both below, so the
// slot order lives in this file only.

import { LUT_TILE } from '../lut-layout.js';

export const OP_MATMUL = 1;
export const OP_ATTENTION = 2;
export const OP_LUT = 3;
/** Several OP_MATMUL / OP_LUT jobs run as one: their rows laid end to end and split once. */
export const OP_GROUP = 4;
/** Nothing: the pool's cost per barrier (bench/kernels/pool.mjs). */
export const OP_NOP = 5;
export const OP_SWIGLU = 6;
export const OP_ATTENTION_QUANT = 7;
/** An encoder's non-causal attention (Kernels.encoderAttention), split by heads. */
export const OP_ENCODER_ATTENTION = 8;
/**
 * An encoder's row-wise ops (the vision tower's layer norms, bias rows, f16-table GELU, residuals)
 * and the GEMM's activation packing, split by rows, elements or token groups: each row or element
 * is computed as on one thread, so the split never changes a bit.
 */
export const OP_LAYER_NORM = 9;
export const OP_ADD_ROWS = 10;
export const OP_MAP_HALF = 11;
export const OP_PACK_X = 12;
export const OP_ADD_SCALED = 13;
/**
 * A prefill's activation quantization (quantize_q8 / quantize_q8_k) and RMS norm, split by tokens:
 * each token is quantized or normalized as on one thread, so the split never changes a bit. They
 * ran on the calling thread before every product was shared out: serial time at every thread count.
 */
export const OP_QUANTIZE_Q8 = 14;
export const OP_QUANTIZE_Q8_K = 15;
export const OP_RMS_NORM = 16;
export const OP_EXIT = 99;
/** Set to a worker's index when its share threw. */
export const ERR = 47;
/** Atomics.load polls a worker makes before it sleeps on Atomics.wait (0: sleep at once). */
export const SPIN = 46;
/** The next chunk of the job to take. */
const NEXT = 45;
/** The units a job is split over (written by every thread's runShare: the same value). */
export const UNITS = 41;
/** Workers that joined the job; CLOSED once the caller has taken the last chunk. */
const JOIN = 44;
const CLOSED = 1 << 30;
/**
 * Chunks per participant a job is cut into: threads take them in turn from an atomic counter, so
 * a thread slowed by another process costs the job one chunk, not its whole share, and a worker
 * that wakes after the caller took the last chunk skips the job instead of being waited for.
 */
const CHUNKS_PER_PART = 8;
/**
 * How jobs are cut, set by the pool: 0, CHUNKS_PER_PART equal chunks per thread; 1 (BIG_FIRST), one
 * big chunk per thread (its share less one equal chunk) taken first, then the equal chunks. Every
 * chunk of a decode product starts new weight streams, and a stream's start costs (the prefetchers
 * learn it again): one 4864x896 Q4_0 product over 40 copies (98 MB), 2 threads, interleaved
 * (bench/kernels/pool.mjs --products): 16 equal chunks 57-58 GMAC/s, guided chunks (half of what is
 * left over the threads) 65, big first 62-64 (a noisier phase, where equal chunks gave 49-51),
 * one chunk per thread 74-75 (54-58 in that noisier phase: nothing left to rebalance a slowed
 * thread). One thread: 40 (32).
 */
export const SCHED = 42;
export const BIG_FIRST = 1;
const ITEMS = 4;
const ARG = 5;
const FARG = 40;
/** The group area: [GROUP + i * SUB] = op, items, first split unit, then the op's ARG slots. */
const GROUP = 48;
const SUB = 16;
/** The most products one grouped job holds. */
export const MAX_GROUP = 8;
export const CTRL_INTS = GROUP + MAX_GROUP * SUB;
/**
 * Grouped jobs split rows in units of this many: a multiple of every kernel's row tile (the
 * dequantize kernels' 4, the LUT kernels' 16), so each product's share starts on a tile.
 */
const GROUP_ALIGN = LUT_TILE;
/** The number of sub-jobs of a grouped job. */
const GROUP_N = ARG;

export interface KernelExports {
  matmul(type: number, w: number, rowBytes: number, cols: number, rows: number, r0: number, r1: number, act: number, ad: number, as: number, asum: number, y: number, nTok: number): number;
  attention(q: number, k: number, v: number, nTok: number, pos0: number, nHead: number, nHeadKv: number, headDim: number, headDimV: number, scale: number, f16: number,
    spans: number, spanCount: number, spanStride: number, out: number, h0: number, h1: number, scratch: number): void;
  attention_scratch(nHead: number, nHeadKv: number, headDim: number, headDimV: number): number;
  attention_quant(q: number, k: number, v: number, nTok: number, pos0: number, nHead: number, nHeadKv: number, headDim: number, headDimV: number, scale: number,
    kType: number, vType: number, kRowBytes: number, vRowBytes: number, spans: number, spanCount: number, spanStride: number, out: number, h0: number, h1: number, scratch: number): void;
  attention_quant_scratch(nKv: number, headDim: number, headDimV: number): number;
  quantize_q8(x: number, n: number, nTok: number, qs: number, d: number, s: number, isum: number): void;
  rows4_pack(w: number, rowBytes: number, rows: number, blockBytes: number, fields: number, scratch: number): void;
  rows4k_pack(type: number, w: number, rowBytes: number, rows: number, scratch: number): number;
  rows4lo_pack(type: number, w: number, rowBytes: number, rows: number, scratch: number): number;
  tq1_recode(src: number, dst: number, nBlocks: number): void;
  tq2_pack4(w: number, rowBytes: number, rows: number, scratch: number): void;
  rows4_split_q8(act: number, n: number, pn: number): void;
  thread_scratch(p: number, bytes: number): void;
  thread_scratch_bytes(): number;
  rows4_bias_q8(w: number, rowBytes: number, rows: number): void;
  round_f16(x: number, n: number): void;
  f32_to_f16(src: number, dst: number, n: number): void;
  gemm_pack_x(x: number, cols: number, xStride: number, nTok: number, dst: number, round: number): void;
  layer_norm(x: number, w: number, b: number, eps: number, n: number, nTok: number, out: number): void;
  softmax_rows(x: number, n: number, rows: number, scale: number): void;
  softmax_pack(x: number, n: number, rows: number, scale: number, dst: number): void;
  map_half(x: number, n: number, table: number, clamp: number): void;
  add_rows(y: number, b: number, n: number, rows: number): void;
  copy_rows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, cols: number): void;
  encoder_attention(q: number, k: number, v: number, nQ: number, nK: number, nHead: number, dHead: number, scale: number, out: number, h0: number, h1: number, scratch: number): void;
  encoder_attention_scratch(nQ: number, nK: number, dHead: number): number;
  get_rows(type: number, table: number, rowBytes: number, cols: number, ids: number, nTok: number, out: number): number;
  quantize_q8_k(x: number, n: number, nTok: number, qs: number, d: number, bsums: number): void;
  rms_norm(x: number, w: number, eps: number, n: number, nTok: number, out: number): void;
  swiglu(g: number, u: number, n: number): void;
  add_scaled(x: number, y: number, scale: number, n: number): void;
  rope(x: number, nTok: number, nHead: number, headDim: number, nRot: number, neox: number, cs: number): void;
  lut_tables(x: number, cols: number, nTok: number, group: number, tbl: number, th: number, tA: number): void;
  lut_quantize_acts(x: number, cols: number, nTok: number, group: number, qs: number, d: number): void;
  lut_tables_exact(qs: number, d: number, cols: number, nTok: number, group: number, tbl: number, th: number, tA: number): void;
  lut_pack_tile(kind: number, src: number, rowBytes: number, n: number, blockBytes: number, groups: number, group: number, bits: number, groupBytes: number, codeOff: number, offKind: number, intCodeOff: number, dst: number, scratch: number): void;
  lut_matmul(desc: number, tile0: number, tile1: number, tbl: number, th: number, tA: number, y: number, nTok: number): void;
}

/** y = W x over `rows` rows, split by rows: KernelExports.matmul's arguments less r0, r1. */
export function postMatmul(c: Int32Array, type: number, w: number, rowBytes: number, cols: number, rows: number, act: number, ad: number, as: number, asum: number, y: number, nTok: number): void {
  c[2] = OP_MATMUL; c[ITEMS] = rows;
  c[ARG] = type; c[ARG + 1] = w; c[ARG + 2] = rowBytes; c[ARG + 3] = cols; c[ARG + 4] = rows;
  c[ARG + 5] = act; c[ARG + 6] = ad; c[ARG + 7] = as; c[ARG + 8] = asum; c[ARG + 9] = y; c[ARG + 10] = nTok;
}

/** A LUT-packed product over `tiles` 16-row tiles, split by tiles: lut_matmul's arguments less tile0, tile1. */
export function postLutMatmul(c: Int32Array, desc: number, tiles: number, tbl: number, th: number, tA: number, y: number, nTok: number): void {
  c[2] = OP_LUT; c[ITEMS] = tiles;
  c[ARG] = desc; c[ARG + 1] = tbl; c[ARG + 2] = th; c[ARG + 3] = tA; c[ARG + 4] = y; c[ARG + 5] = nTok;
}

/** The arguments of attention less h0, h1, in its order, for postAttention. */
export interface AttentionJob {
  q: number; k: number; v: number; nTok: number; pos0: number; nHead: number; nHeadKv: number; headDim: number; headDimV: number; scale: number;
  f16: number; spans: number; spanCount: number; spanStride: number; out: number;
}

/**
 * Attention over an f32/f16 cache split by heads in whole KV groups where there are enough of them
 * (the kernel reads each K/V row once per group it is given); each participant gets scratchBytes of
 * scratch from `scratch` on.
 */
export function postAttention(c: Int32Array, f: Float32Array, j: AttentionJob, scratch: number, scratchBytes: number): void {
  c[2] = OP_ATTENTION; c[ITEMS] = j.nHead;
  c[ARG] = j.q; c[ARG + 1] = j.k; c[ARG + 2] = j.v; c[ARG + 3] = j.nTok; c[ARG + 4] = j.pos0; c[ARG + 5] = j.nHead; c[ARG + 6] = j.nHeadKv;
  c[ARG + 7] = j.headDim; c[ARG + 8] = j.headDimV; f[FARG] = j.scale; c[ARG + 9] = j.f16; c[ARG + 10] = j.spans; c[ARG + 11] = j.spanCount;
  c[ARG + 12] = j.spanStride; c[ARG + 13] = j.out; c[ARG + 14] = scratch; c[ARG + 15] = scratchBytes;
}

/** The arguments of attention_quant less h0, h1, in its order, for postAttentionQuant. */
export interface AttentionQuantJob {
  q: number; k: number; v: number; nTok: number; pos0: number; nHead: number; nHeadKv: number; headDim: number; headDimV: number; scale: number;
  kType: number; vType: number; kRowBytes: number; vRowBytes: number; spans: number; spanCount: number; spanStride: number; out: number;
}

/** Attention over a cache in ggml formats split by heads; each participant gets scratchBytes of scratch from `scratch` on. */
export function postAttentionQuant(c: Int32Array, f: Float32Array, j: AttentionQuantJob, scratch: number, scratchBytes: number): void {
  c[2] = OP_ATTENTION_QUANT; c[ITEMS] = j.nHead;
  c[ARG] = j.q; c[ARG + 1] = j.k; c[ARG + 2] = j.v; c[ARG + 3] = j.nTok; c[ARG + 4] = j.pos0; c[ARG + 5] = j.nHead; c[ARG + 6] = j.nHeadKv;
  c[ARG + 7] = j.headDim; c[ARG + 8] = j.headDimV; f[FARG] = j.scale; c[ARG + 9] = j.kType; c[ARG + 10] = j.vType;
  c[ARG + 11] = j.kRowBytes; c[ARG + 12] = j.vRowBytes; c[ARG + 13] = j.spans; c[ARG + 14] = j.spanCount; c[ARG + 15] = j.spanStride;
  c[ARG + 16] = j.out; c[ARG + 17] = scratch; c[ARG + 18] = scratchBytes;
}

/** encoder_attention's arguments less h0, h1, split by heads; each participant gets scratchBytes from `scratch` on. */
export function postEncoderAttention(c: Int32Array, f: Float32Array, q: number, k: number, v: number, nQ: number, nK: number, nHead: number, dHead: number, scale: number, out: number, scratch: number, scratchBytes: number): void {
  c[2] = OP_ENCODER_ATTENTION; c[ITEMS] = nHead;
  c[ARG] = q; c[ARG + 1] = k; c[ARG + 2] = v; c[ARG + 3] = nQ; c[ARG + 4] = nK; c[ARG + 5] = nHead; c[ARG + 6] = dHead; f[FARG] = scale;
  c[ARG + 7] = out; c[ARG + 8] = scratch; c[ARG + 9] = scratchBytes;
}

/** Rows of the split space a sub-job spans: its rows (or tiles of LUT_TILE rows), padded to GROUP_ALIGN. */
function span(op: number, items: number): number {
  const rows = op === OP_LUT ? items * LUT_TILE : items;
  return Math.ceil(rows / GROUP_ALIGN) * GROUP_ALIGN;
}

/**
 * Whether the job just posted (an OP_MATMUL or OP_LUT) can join a group of `n` sub-jobs: others
 * (attention) run alone.
 */
export function groupable(c: Int32Array, n: number): boolean {
  return n < MAX_GROUP && (c[2] === OP_MATMUL || c[2] === OP_LUT);
}

/** Move the job just posted into sub-job slot `n` of a group; returns the group's split size so far. */
export function collect(c: Int32Array, n: number, units: number): number {
  const b = GROUP + n * SUB, op = c[2]!, items = c[ITEMS]!;
  c[b] = op; c[b + 1] = items; c[b + 2] = units;
  for (let i = 0; i < SUB - 3; i++) c[b + 3 + i] = c[ARG + i]!;
  return units + span(op, items);
}

/** Turn `n` collected sub-jobs spanning `units` into one OP_GROUP job (n >= 1). */
export function postGroup(c: Int32Array, n: number, units: number): void {
  c[2] = OP_GROUP; c[ITEMS] = units; c[GROUP_N] = n;
}

/** Rows (or LUT tiles) r0..r1 of the OP_MATMUL / OP_LUT job whose ARG slots start at `arg`. */
function runRange(k: KernelExports, c: Int32Array, op: number, arg: number, r0: number, r1: number): void {
  if (r0 >= r1) return;
  const a = (i: number) => c[arg + i]!;
  if (op === OP_MATMUL) k.matmul(a(0), a(1), a(2), a(3), a(4), r0, r1, a(5), a(6), a(7), a(8), a(9), a(10));
  else k.lut_matmul(a(0), r0, r1, a(1), a(2), a(3), a(4), a(5));
}

/** layer_norm over nTok rows of n, split by rows; eps must be an f32 (it travels in the float slot). */
export function postLayerNorm(c: Int32Array, f: Float32Array, x: number, w: number, b: number, eps: number, n: number, nTok: number, out: number): void {
  c[2] = OP_LAYER_NORM; c[ITEMS] = nTok;
  c[ARG] = x; c[ARG + 1] = w; c[ARG + 2] = b; c[ARG + 3] = n; c[ARG + 4] = out; f[FARG] = eps;
}

/** add_rows (y's rows of n += b), split by rows. */
export function postAddRows(c: Int32Array, y: number, b: number, n: number, rows: number): void {
  c[2] = OP_ADD_ROWS; c[ITEMS] = rows;
  c[ARG] = y; c[ARG + 1] = b; c[ARG + 2] = n;
}

/** map_half over n elements, split by elements. */
export function postMapHalf(c: Int32Array, x: number, n: number, table: number, clamp: number): void {
  c[2] = OP_MAP_HALF; c[ITEMS] = n;
  c[ARG] = x; c[ARG + 1] = table; c[ARG + 2] = clamp;
}

/** gemm_pack_x of nTok tokens, split by groups of four tokens (the packed layout's unit). */
export function postPackX(c: Int32Array, x: number, cols: number, xStride: number, nTok: number, dst: number, round: number): void {
  c[2] = OP_PACK_X; c[ITEMS] = Math.ceil(nTok / 4);
  c[ARG] = x; c[ARG + 1] = cols; c[ARG + 2] = xStride; c[ARG + 3] = nTok; c[ARG + 4] = dst; c[ARG + 5] = round;
}

/** add_scaled (x += y * scale) over n elements, split by elements. */
export function postAddScaled(c: Int32Array, f: Float32Array, x: number, y: number, scale: number, n: number): void {
  c[2] = OP_ADD_SCALED; c[ITEMS] = n;
  c[ARG] = x; c[ARG + 1] = y; f[FARG] = scale;
}

/** gate = silu(gate) * up over n elements, split by elements: swiglu's arguments. */
export function postSwiglu(c: Int32Array, g: number, u: number, n: number): void {
  c[2] = OP_SWIGLU; c[ITEMS] = n;
  c[ARG] = g; c[ARG + 1] = u;
}

/** quantize_q8 of nTok rows of n (s, isum: 0 for none), split by tokens. */
export function postQuantizeQ8(c: Int32Array, x: number, n: number, nTok: number, qs: number, d: number, s: number, isum: number): void {
  c[2] = OP_QUANTIZE_Q8; c[ITEMS] = nTok;
  c[ARG] = x; c[ARG + 1] = n; c[ARG + 2] = qs; c[ARG + 3] = d; c[ARG + 4] = s; c[ARG + 5] = isum;
}

/** quantize_q8_k of nTok rows of n, split by tokens. */
export function postQuantizeQ8K(c: Int32Array, x: number, n: number, nTok: number, qs: number, d: number, bsums: number): void {
  c[2] = OP_QUANTIZE_Q8_K; c[ITEMS] = nTok;
  c[ARG] = x; c[ARG + 1] = n; c[ARG + 2] = qs; c[ARG + 3] = d; c[ARG + 4] = bsums;
}

/** rms_norm over nTok rows of n, split by rows; eps as the kernel takes it, an f32. */
export function postRmsNorm(c: Int32Array, f: Float32Array, x: number, w: number, eps: number, n: number, nTok: number, out: number): void {
  c[2] = OP_RMS_NORM; c[ITEMS] = nTok;
  c[ARG] = x; c[ARG + 1] = w; c[ARG + 2] = n; c[ARG + 3] = out; f[FARG] = eps;
}

/** Rows lo..hi (GROUP_ALIGN-aligned but for the end of its span) of one product: rows, or LUT tiles. */
function runSub(k: KernelExports, c: Int32Array, op: number, items: number, arg: number, lo: number, hi: number): void {
  if (op === OP_LUT) runRange(k, c, op, arg, lo / LUT_TILE, Math.min(Math.ceil(hi / LUT_TILE), items));
  else runRange(k, c, op, arg, lo, Math.min(hi, items));
}

/** Rows u0..u1 of the split space of the product job in the control block (one product, or a group laid end to end). */
function runUnits(k: KernelExports, c: Int32Array, u0: number, u1: number): void {
  if (c[2] !== OP_GROUP) return runSub(k, c, c[2]!, c[ITEMS]!, ARG, u0, u1);
  for (let i = 0, n = c[GROUP_N]!; i < n; i++) {
    const b = GROUP + i * SUB, op = c[b]!, items = c[b + 1]!, first = c[b + 2]!;
    const lo = Math.max(u0 - first, 0), hi = Math.min(u1 - first, span(op, items));
    if (lo < hi) runSub(k, c, op, items, b + 3, lo, hi);
  }
}

/**
 * Reset the control block's counters for the next job among `parts` participants, JOIN last: a
 * worker late for the previous job that joins this one finds the rest already reset.
 */
export function startJob(c: Int32Array, parts: number): void {
  c[3] = parts;
  c[NEXT] = 0;
  Atomics.store(c, 1, 0);
  Atomics.store(c, JOIN, 0);
}

/** The caller, its chunks done: no worker joins from here on; returns how many joined (to wait for). */
export function closeJob(c: Int32Array): number {
  return Atomics.add(c, JOIN, CLOSED) & (CLOSED - 1);
}

/**
 * Heads per share of a grouped attention job: a whole KV group (so its K/V rows are read once), or
 * a part of one where there are fewer groups than threads (multi-query attention).
 */
function attentionAlign(nHead: number, nHeadKv: number, parts: number): number {
  const group = nHead / nHeadKv;
  return Math.max(1, Math.min(group, Math.ceil(nHead / parts)));
}

/**
 * Run chunks of the job described in the control block until none is left; `part` picks this
 * thread's attention scratch. Which thread computes a row or head never changes its result.
 * Returns how many units (rows, elements, heads) this thread ran: the pool's spin tuner weighs the
 * caller's share by it.
 */
export function runShare(k: KernelExports, c: Int32Array, f: Float32Array, part: number): number {
  const op = c[2]!, parts = c[3]!, items = c[ITEMS]!;
  const a = (i: number) => c[ARG + i]!;
  // The split space: rows of products (a group's laid end to end), elements, or heads.
  let total = items, align = GROUP_ALIGN;
  if (op === OP_MATMUL || op === OP_LUT) total = span(op, items);
  else if (op === OP_ATTENTION_QUANT || op === OP_ENCODER_ATTENTION || op === OP_LAYER_NORM || op === OP_ADD_ROWS || op === OP_PACK_X
    || op === OP_QUANTIZE_Q8 || op === OP_QUANTIZE_Q8_K || op === OP_RMS_NORM) align = 1;
  else if (op === OP_ATTENTION) align = attentionAlign(a(5), a(6), parts);
  else if (op !== OP_GROUP && op !== OP_SWIGLU && op !== OP_MAP_HALF && op !== OP_ADD_SCALED) return 0;
  const chunk = Math.max(1, Math.ceil(total / align / (parts * CHUNKS_PER_PART))) * align;
  // Big first: the first nBig chunks are `big` units, the rest `chunk` (none big for jobs too small to have them).
  const big = c[SCHED] === BIG_FIRST ? Math.max(0, Math.floor((total - parts * chunk) / parts / align) * align) : 0;
  const nBig = big > 0 ? parts : 0;
  c[UNITS] = total;
  for (let mine = 0; ; ) {
    const i = Atomics.add(c, NEXT, 1);
    const u0 = i < nBig ? i * big : nBig * big + (i - nBig) * chunk;
    if (u0 >= total) return mine;
    const u1 = Math.min(total, u0 + (i < nBig ? big : chunk));
    mine += u1 - u0;
    if (op === OP_SWIGLU) k.swiglu(a(0) + u0 * 4, a(1) + u0 * 4, u1 - u0);
    else if (op === OP_ATTENTION) k.attention(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), f[FARG]!, a(9), a(10), a(11), a(12), a(13), u0, u1, a(14) + part * a(15));
    else if (op === OP_ENCODER_ATTENTION) k.encoder_attention(a(0), a(1), a(2), a(3), a(4), a(5), a(6), f[FARG]!, a(7), u0, u1, a(8) + part * a(9));
    else if (op === OP_LAYER_NORM) k.layer_norm(a(0) + u0 * a(3) * 4, a(1), a(2), f[FARG]!, a(3), u1 - u0, a(4) + u0 * a(3) * 4);
    else if (op === OP_ADD_ROWS) k.add_rows(a(0) + u0 * a(2) * 4, a(1), a(2), u1 - u0);
    else if (op === OP_MAP_HALF) k.map_half(a(0) + u0 * 4, u1 - u0, a(1), a(2));
    else if (op === OP_PACK_X) k.gemm_pack_x(a(0) + u0 * 16 * a(2), a(1), a(2), Math.min(a(3) - 4 * u0, 4 * (u1 - u0)), a(4) + u0 * 16 * a(1), a(5));
    else if (op === OP_QUANTIZE_Q8) {
      // Per token: n int8s, and one f32 (d, s) or i32 (isum) per block of 32.
      const blk = (a(1) >> 5) * 4 * u0, opt = (p: number) => (p ? p + blk : 0);
      k.quantize_q8(a(0) + u0 * a(1) * 4, a(1), u1 - u0, a(2) + u0 * a(1), a(3) + blk, opt(a(4)), opt(a(5)));
    } else if (op === OP_QUANTIZE_Q8_K) {
      // Per token: n int8s, one f32 d per 256 and one i32 sum per 16.
      k.quantize_q8_k(a(0) + u0 * a(1) * 4, a(1), u1 - u0, a(2) + u0 * a(1), a(3) + (a(1) >> 8) * 4 * u0, a(4) + (a(1) >> 4) * 4 * u0);
    } else if (op === OP_RMS_NORM) k.rms_norm(a(0) + u0 * a(2) * 4, a(1), f[FARG]!, a(2), u1 - u0, a(3) + u0 * a(2) * 4);
    else if (op === OP_ADD_SCALED) k.add_scaled(a(0) + u0 * 4, a(1) + u0 * 4, f[FARG]!, u1 - u0);
    else if (op === OP_ATTENTION_QUANT) k.attention_quant(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), f[FARG]!, a(9), a(10), a(11), a(12), a(13), a(14), a(15), a(16), u0, u1, a(17) + part * a(18));
    else runUnits(k, c, u0, u1);
  }
}

/**
 * The loop every kernel worker runs (Node worker_threads or a Web Worker): spin c[SPIN] polls,
 * then sleep on Atomics.wait until the job generation changes; run this worker's share; report.
 */
export function workerLoop(k: KernelExports, ctrl: SharedArrayBuffer, part: number, ready: () => void): void {
  const c = new Int32Array(ctrl);
  const f = new Float32Array(ctrl);
  let gen = Atomics.load(c, 0);
  // The pool waits for this before posting the first job, so `gen` above cannot miss one.
  ready();
  for (;;) {
    // Proceed only on a new generation: a wake-up without one must not run the job again, since
    // the main thread may already be writing the next job's arguments.
    const spin = c[SPIN]!;
    let spins = 0;
    while (Atomics.load(c, 0) === gen) {
      if (++spins > spin) Atomics.wait(c, 0, gen);
    }
    gen = Atomics.load(c, 0);
    if (c[2] === OP_EXIT) break;
    // Woken after the caller took the last chunk: the job is done without this worker.
    if (Atomics.add(c, JOIN, 1) & CLOSED) continue;
    try {
      runShare(k, c, f, part);
    } catch {
      // Report instead of dying silently: the main thread turns this into an error.
      Atomics.store(c, ERR, part);
    }
    Atomics.add(c, 1, 1);
    Atomics.notify(c, 1);
  }
}
