// The shared control block between the main thread and kernel workers, and the work split.
// Layout of the Int32Array over `ctrl`: [0] job generation, [1] workers done, [2] op,
// [3] participants, [4] items to split (rows, tiles or heads), from [5] the job's integer
// arguments, in the order of its export's parameters less the split range; the Float32Array view
// holds float arguments from index 40; [SPIN] how long workers spin before sleeping. From GROUP
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
export const OP_EXIT = 99;
/** Set to a worker's index when its share threw. */
export const ERR = 47;
/** Atomics.load polls a worker makes before it sleeps on Atomics.wait (0: sleep at once). */
export const SPIN = 46;
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
  attention(q: number, k: number, v: number, nTok: number, pos0: number, nHead: number, nHeadKv: number, headDim: number, headDimV: number, scale: number, f16: number, out: number, h0: number, h1: number, scratch: number): void;
  quantize_q8(x: number, n: number, nTok: number, qs: number, d: number, s: number, isum: number): void;
  rows4_pack(w: number, rowBytes: number, rows: number, blockBytes: number, scratch: number): void;
  round_f16(x: number, n: number): void;
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

/** Contiguous share `part` of `n` items among `parts`, in multiples of `align`. */
export function share(n: number, parts: number, part: number, align = 4): [number, number] {
  const per = Math.ceil(n / parts / align) * align;
  const a = Math.min(n, part * per);
  return [a, Math.min(n, a + per)];
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

/** Attention split by heads: attention's arguments less h0, h1; each participant gets scratchBytes of scratch from `scratch` on. */
export function postAttention(c: Int32Array, f: Float32Array, q: number, k: number, v: number, nTok: number, pos0: number, nHead: number, nHeadKv: number, headDim: number, headDimV: number, scale: number, f16: number, out: number, scratch: number, scratchBytes: number): void {
  c[2] = OP_ATTENTION; c[ITEMS] = nHead;
  c[ARG] = q; c[ARG + 1] = k; c[ARG + 2] = v; c[ARG + 3] = nTok; c[ARG + 4] = pos0; c[ARG + 5] = nHead; c[ARG + 6] = nHeadKv;
  c[ARG + 7] = headDim; c[ARG + 8] = headDimV; f[FARG] = scale; c[ARG + 9] = f16; c[ARG + 10] = out; c[ARG + 11] = scratch; c[ARG + 12] = scratchBytes;
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

/** gate = silu(gate) * up over n elements, split by elements: swiglu's arguments. */
export function postSwiglu(c: Int32Array, g: number, u: number, n: number): void {
  c[2] = OP_SWIGLU; c[ITEMS] = n;
  c[ARG] = g; c[ARG + 1] = u;
}

/** Run participant `part`'s share of the job described in the control block. */
export function runShare(k: KernelExports, c: Int32Array, f: Float32Array, part: number): void {
  const parts = c[3]!, items = c[ITEMS]!;
  const a = (i: number) => c[ARG + i]!;
  switch (c[2]) {
    case OP_MATMUL: {
      const [r0, r1] = share(items, parts, part);
      runRange(k, c, OP_MATMUL, ARG, r0, r1);
      return;
    }
    case OP_LUT: {
      // Whole 16-row tiles per participant.
      const [t0, t1] = share(items, parts, part, 1);
      runRange(k, c, OP_LUT, ARG, t0, t1);
      return;
    }
    case OP_GROUP: {
      // This participant's rows of the sub-jobs laid end to end, cut where each sub-job's span starts.
      const [u0, u1] = share(items, parts, part, GROUP_ALIGN);
      for (let i = 0, n = c[GROUP_N]!; i < n; i++) {
        const b = GROUP + i * SUB, op = c[b]!, subItems = c[b + 1]!, first = c[b + 2]!;
        const lo = Math.max(u0 - first, 0), hi = Math.min(u1 - first, span(op, subItems));
        if (lo >= hi) continue;
        if (op === OP_LUT) runRange(k, c, op, b + 3, lo / LUT_TILE, Math.min(hi / LUT_TILE, subItems));
        else runRange(k, c, op, b + 3, lo, Math.min(hi, subItems));
      }
      return;
    }
    case OP_SWIGLU: {
      const [i0, i1] = share(items, parts, part, GROUP_ALIGN);
      if (i0 < i1) k.swiglu(a(0) + i0 * 4, a(1) + i0 * 4, i1 - i0);
      return;
    }
    case OP_ATTENTION: {
      const [h0, h1] = share(items, parts, part, 1);
      if (h0 < h1) k.attention(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), f[FARG]!, a(9), a(10), h0, h1, a(11) + part * a(12));
      return;
    }
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
