// The shared control block between the main thread and kernel workers, and the work split.
// Layout of the Int32Array over `ctrl`: [0] job generation, [1] workers done, [2] op,
// [3] participants, [4] items to split (rows, tiles or heads), from [5] the job's integer
// arguments, in the order of its export's parameters less the split range; the Float32Array view
// holds float arguments from index 40. Each op's arguments are written by its post* function and
// read by runShare, both below, so the slot order lives in this file only.

export const OP_MATMUL = 1;
export const OP_ATTENTION = 2;
export const OP_LUT = 3;
export const OP_EXIT = 99;
export const CTRL_INTS = 48;
/** Set to a worker's index when its share threw. */
export const ERR = 47;
const ITEMS = 4;
const ARG = 5;
const FARG = 40;

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

/** Run participant `part`'s share of the job described in the control block. */
export function runShare(k: KernelExports, c: Int32Array, f: Float32Array, part: number): void {
  const parts = c[3]!, items = c[ITEMS]!;
  const a = (i: number) => c[ARG + i]!;
  switch (c[2]) {
    case OP_MATMUL: {
      const [r0, r1] = share(items, parts, part);
      if (r0 < r1) k.matmul(a(0), a(1), a(2), a(3), a(4), r0, r1, a(5), a(6), a(7), a(8), a(9), a(10));
      return;
    }
    case OP_LUT: {
      // Whole 16-row tiles per participant.
      const [t0, t1] = share(items, parts, part, 1);
      if (t0 < t1) k.lut_matmul(a(0), t0, t1, a(1), a(2), a(3), a(4), a(5));
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
 * The loop every kernel worker runs (Node worker_threads or a Web Worker): spin briefly, then
 * sleep on Atomics.wait until the job generation changes; run this worker's share; report.
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
    let spins = 0;
    while (Atomics.load(c, 0) === gen) {
      if (++spins > 20000) Atomics.wait(c, 0, gen);
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
