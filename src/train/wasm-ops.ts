// Training ops on the WebAssembly kernels (assembly/train.ts): every buffer is a view of one shared
// memory (allocated once, through alloc), the products, attention, cross-entropy and SwiGLU split
// over worker threads (wasm-worker.ts) through a small control block of their own: an op, its
// integer and float arguments, and a counter threads take chunks from. Which thread computes an
// element never changes its value, so 1 and N threads give the same bits.

import { WasmArena } from '../kernels/wasm/arena.js';
import { detectWasm, type WasmFlavor } from '../kernels/wasm/index.js';
import * as binaries from '../kernels/wasm/binaries.generated.js';
import type { AttnShape } from './ops.js';
import type { TrainOps } from './backend.js';

export interface TrainExports {
  tr_matmul(w: number, x: number, T: number, rows: number, cols: number, y: number, r0: number, r1: number): void;
  tr_matmul_dx(w: number, dy: number, T: number, rows: number, cols: number, dx: number, c0: number, c1: number): void;
  tr_matmul_dw(x: number, dy: number, T: number, rows: number, cols: number, dw: number, r0: number, r1: number): void;
  tr_rms_norm(x: number, w: number, eps: number, n: number, T: number, out: number, rstd: number): void;
  tr_rms_norm_bwd(x: number, w: number, rstd: number, dout: number, n: number, T: number, dx: number, dw: number): void;
  tr_rope(x: number, T: number, nHead: number, headDim: number, cos: number, sin: number, inverse: number): void;
  tr_attention(q: number, k: number, v: number, T: number, nHead: number, nHeadKv: number, hd: number, probs: number, out: number, scratch: number, kv0: number, kv1: number): void;
  tr_attention_bwd(q: number, k: number, v: number, probs: number, dout: number, T: number, nHead: number, nHeadKv: number, hd: number, dq: number, dk: number, dv: number, scratch: number, kv0: number, kv1: number): void;
  tr_attention_scratch(T: number, hd: number): number;
  tr_swiglu(g: number, u: number, h: number, i0: number, i1: number): void;
  tr_swiglu_bwd(g: number, u: number, dh: number, dg: number, du: number, i0: number, i1: number): void;
  tr_cross_entropy(logits: number, targets: number, V: number, gradScale: number, dlogits: number, loss: number, t0: number, t1: number): void;
  tr_embed(table: number, ids: number, T: number, D: number, scale: number, x: number): void;
  tr_embed_bwd(dtable: number, ids: number, T: number, D: number, scale: number, dx: number): void;
  tr_axpy(x: number, y: number, a: number, n: number): void;
  tr_scale(x: number, y: number, a: number, n: number): void;
  tr_act_quant8(x: number, T: number, n: number): void;
  tr_pack_bf16(x: number, n: number, out: number): void;
  tr_unpack_bf16(x: number, n: number, out: number): void;
  tr_sumsq(g: number, n: number, s0: number): number;
  tr_adamw(w: number, g: number, m: number, v: number, n: number, b1: number, b2: number, eps: number, lr: number, decay: number, c1: number, c2: number): void;
}

// The control block (Int32Array): generation, workers done, op, split size, next chunk, chunk size,
// joined, error, then integer arguments; float arguments in a Float64Array from byte FARG_BYTE.
const GEN = 0, DONE = 1, OP = 2, TOTAL = 3, NEXT = 4, CHUNK = 5, JOIN = 6, ERR = 7, ARG = 8;
const FARG_BYTE = 256, CTRL_BYTES = 320;
const CLOSED = 1 << 30;
export const OP_EXIT = 99;
const OP_MATMUL = 1, OP_DW = 2, OP_DX = 3, OP_ATTN = 4, OP_ATTN_BWD = 5, OP_CE = 6, OP_SWIGLU = 7, OP_SWIGLU_BWD = 8;
/** Chunks per thread: a thread slowed by another process costs a chunk, not its share. */
const CHUNKS_PER_PART = 4;
/** Multiply-adds below which an op runs on the calling thread alone (a barrier costs 5-50 us). */
const PARALLEL_MIN = 1 << 16;
/** Polls a worker makes before it sleeps between jobs. */
const WORKER_SPIN = 2000;

/** Run chunks of the posted job until none is left (caller and workers alike); `part` picks per-thread scratch. */
export function runTrainShare(k: TrainExports, c: Int32Array, f: Float64Array, part: number): void {
  const op = c[OP]!, total = c[TOTAL]!, chunk = c[CHUNK]!;
  const a = (i: number) => c[ARG + i]!;
  for (;;) {
    const u0 = Atomics.add(c, NEXT, 1) * chunk;
    if (u0 >= total) return;
    const u1 = Math.min(total, u0 + chunk);
    switch (op) {
      case OP_MATMUL: k.tr_matmul(a(0), a(1), a(2), a(3), a(4), a(5), u0, u1); break;
      case OP_DW: k.tr_matmul_dw(a(0), a(1), a(2), a(3), a(4), a(5), u0, u1); break;
      case OP_DX: k.tr_matmul_dx(a(0), a(1), a(2), a(3), a(4), a(5), u0, u1); break;
      case OP_ATTN: k.tr_attention(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9) + part * a(10), u0, u1); break;
      case OP_ATTN_BWD: k.tr_attention_bwd(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11), a(12) + part * a(13), u0, u1); break;
      case OP_CE: k.tr_cross_entropy(a(0), a(1), a(2), f[FARG_BYTE / 8]!, a(3), a(4), u0, u1); break;
      case OP_SWIGLU: k.tr_swiglu(a(0), a(1), a(2), u0, u1); break;
      case OP_SWIGLU_BWD: k.tr_swiglu_bwd(a(0), a(1), a(2), a(3), a(4), u0, u1); break;
      default: return;
    }
  }
}

/** The loop of a worker thread: wait for a new generation, join unless the job closed, run chunks, report. */
export function trainWorkerLoop(k: TrainExports, ctrl: SharedArrayBuffer, part: number, ready: () => void): void {
  const c = new Int32Array(ctrl, 0, FARG_BYTE / 4), f = new Float64Array(ctrl);
  let gen = Atomics.load(c, GEN);
  ready();
  for (;;) {
    let spins = 0;
    while (Atomics.load(c, GEN) === gen) if (++spins > WORKER_SPIN) Atomics.wait(c, GEN, gen);
    gen = Atomics.load(c, GEN);
    if (c[OP] === OP_EXIT) break;
    if (Atomics.add(c, JOIN, 1) & CLOSED) continue;
    try { runTrainShare(k, c, f, part); } catch { Atomics.store(c, ERR, part); }
    Atomics.add(c, DONE, 1);
    Atomics.notify(c, DONE);
  }
}

function decode(s: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export class WasmTrainOps implements TrainOps {
  readonly name: string;
  readonly arena = new WasmArena();
  private k!: TrainExports;
  private readonly ctrl = new SharedArrayBuffer(CTRL_BYTES);
  private readonly c = new Int32Array(this.ctrl, 0, FARG_BYTE / 4);
  private readonly f = new Float64Array(this.ctrl);
  private workers: { terminate(): unknown }[] = [];
  private lossBuf: Float64Array | null = null;
  /** the attention kernels' per-thread scratch (tr_attention_scratch floats each), grown on demand */
  private attnScratch: Float32Array | null = null;
  /** Jobs that woke the workers. */
  barriers = 0;

  private constructor(readonly flavor: WasmFlavor, readonly threads: number) {
    this.name = `wasm-${flavor}, ${threads} thread${threads > 1 ? 's' : ''}`;
  }

  /** null where this engine has no shared-memory WebAssembly (the caller falls back to refOps). */
  static async create(opts: { threads?: number; flavor?: WasmFlavor } = {}): Promise<WasmTrainOps | null> {
    const sup = await detectWasm();
    const flavor = opts.flavor ?? sup.flavor;
    if (!flavor || !sup.threads) return null;
    const module = await WebAssembly.compile(decode(binaries[flavor]));
    const threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const o = new WasmTrainOps(flavor, threads);
    o.k = new WebAssembly.Instance(module, { env: { memory: o.arena.memory } }).exports as unknown as TrainExports;
    const { Worker } = await import('node:worker_threads');
    const ready: Promise<void>[] = [];
    for (let i = 1; i < threads; i++) {
      const w = new Worker(new URL('./wasm-worker.js', import.meta.url), { workerData: { module, memory: o.arena.memory, ctrl: o.ctrl, part: i } });
      ready.push(new Promise((res, rej) => { w.once('message', () => res()); w.once('error', rej); }));
      o.workers.push(w);
    }
    await Promise.all(ready);
    for (const w of o.workers) (w as unknown as { unref(): void }).unref();
    return o;
  }

  alloc(n: number): Float32Array {
    return this.arena.f32(n);
  }

  allocI32(n: number): Int32Array {
    const b = this.arena.bytes(n * 4);
    return new Int32Array(b.buffer, b.byteOffset, n);
  }

  allocU16(n: number): Uint16Array {
    const b = this.arena.bytes(n * 2);
    return new Uint16Array(b.buffer, b.byteOffset, n);
  }

  private p(a: ArrayBufferView): number {
    if (!this.arena.owns(a)) throw new Error('wasm training ops: a buffer not allocated by this backend (use ops.alloc)');
    return a.byteOffset;
  }

  /** Run the posted op over `total` units in chunks aligned to `align`, on this thread alone when `work` is small. */
  private run(op: number, total: number, align: number, work: number): void {
    const c = this.c, parts = work < PARALLEL_MIN ? 1 : this.workers.length + 1;
    c[OP] = op; c[TOTAL] = total;
    c[CHUNK] = Math.max(1, Math.ceil(total / align / (parts * CHUNKS_PER_PART))) * align;
    c[NEXT] = 0;
    if (parts === 1) {
      runTrainShare(this.k, c, this.f, 0);
      return;
    }
    this.barriers++;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, JOIN, 0);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    runTrainShare(this.k, c, this.f, 0);
    const joined = Atomics.add(c, JOIN, CLOSED) & (CLOSED - 1);
    let spins = 0;
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= joined) break;
      if (++spins > 20000) Atomics.wait(c, DONE, done, 1);
    }
    if (c[ERR]) { const part = c[ERR]; c[ERR] = 0; throw new Error(`training worker ${part} failed`); }
  }

  /** The op's integer arguments in its export's order (fixed parameters: a rest array would allocate per op). */
  private args(a0: number, a1: number, a2: number, a3: number, a4: number, a5: number, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0): void {
    const c = this.c;
    c[ARG + 13] = a13;
    c[ARG] = a0; c[ARG + 1] = a1; c[ARG + 2] = a2; c[ARG + 3] = a3; c[ARG + 4] = a4; c[ARG + 5] = a5; c[ARG + 6] = a6;
    c[ARG + 7] = a7; c[ARG + 8] = a8; c[ARG + 9] = a9; c[ARG + 10] = a10; c[ARG + 11] = a11; c[ARG + 12] = a12;
  }

  matmul(w: Float32Array, x: Float32Array, T: number, rows: number, cols: number, y: Float32Array): void {
    this.args(this.p(w), this.p(x), T, rows, cols, this.p(y));
    this.run(OP_MATMUL, rows, 4, T * rows * cols);
  }

  matmulBackward(w: Float32Array, x: Float32Array, dy: Float32Array, T: number, rows: number, cols: number, dw: Float32Array, dx: Float32Array | null): void {
    this.args(this.p(x), this.p(dy), T, rows, cols, this.p(dw));
    this.run(OP_DW, rows, 4, T * rows * cols);
    if (!dx) return;
    this.args(this.p(w), this.p(dy), T, rows, cols, this.p(dx));
    this.run(OP_DX, cols, 8, T * rows * cols);
  }

  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, n: number, T: number, out: Float32Array, rstd: Float32Array): void {
    this.k.tr_rms_norm(this.p(x), this.p(weight), eps, n, T, this.p(out), this.p(rstd));
  }

  rmsNormBackward(x: Float32Array, weight: Float32Array, rstd: Float32Array, dout: Float32Array, n: number, T: number, dx: Float32Array, dweight: Float32Array): void {
    this.k.tr_rms_norm_bwd(this.p(x), this.p(weight), this.p(rstd), this.p(dout), n, T, this.p(dx), this.p(dweight));
  }

  rope(x: Float32Array, T: number, nHead: number, headDim: number, cos: Float32Array, sin: Float32Array, inverse: boolean): void {
    this.k.tr_rope(this.p(x), T, nHead, headDim, this.p(cos), this.p(sin), inverse ? 1 : 0);
  }

  /** Base of the per-thread attention scratch and each thread's share in bytes (allocated once per shape, not per step). */
  private scratchFor(T: number, hd: number): [number, number] {
    const per = this.k.tr_attention_scratch(T, hd), need = per * (this.workers.length + 1);
    if (!this.attnScratch || this.attnScratch.length < need) { if (this.attnScratch) this.arena.releaseView(this.attnScratch); this.attnScratch = this.alloc(need); }
    return [this.attnScratch.byteOffset, per * 4];
  }

  attention(q: Float32Array, k: Float32Array, v: Float32Array, s: AttnShape, probs: Float32Array, out: Float32Array): void {
    const [sc, stride] = this.scratchFor(s.T, s.headDim);
    this.args(this.p(q), this.p(k), this.p(v), s.T, s.nHead, s.nHeadKv, s.headDim, this.p(probs), this.p(out), sc, stride);
    this.run(OP_ATTN, s.nHeadKv, 1, s.T * s.T * s.nHead * s.headDim);
  }

  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dout: Float32Array, s: AttnShape, dq: Float32Array, dk: Float32Array, dv: Float32Array, _dp: Float32Array): void {
    const [sc, stride] = this.scratchFor(s.T, s.headDim);
    this.args(this.p(q), this.p(k), this.p(v), this.p(probs), this.p(dout), s.T, s.nHead, s.nHeadKv, s.headDim, this.p(dq), this.p(dk), this.p(dv), sc, stride);
    this.run(OP_ATTN_BWD, s.nHeadKv, 1, 2 * s.T * s.T * s.nHead * s.headDim);
  }

  swiglu(g: Float32Array, u: Float32Array, n: number, h: Float32Array): void {
    this.args(this.p(g), this.p(u), this.p(h), 0, 0, 0);
    this.run(OP_SWIGLU, n, 4, n * 16);
  }

  swigluBackward(g: Float32Array, u: Float32Array, dh: Float32Array, n: number, dg: Float32Array, du: Float32Array): void {
    this.args(this.p(g), this.p(u), this.p(dh), this.p(dg), this.p(du), 0);
    this.run(OP_SWIGLU_BWD, n, 4, n * 16);
  }

  crossEntropy(logits: Float32Array, targets: Int32Array, T: number, V: number, gradScale: number, dlogits: Float32Array): number {
    if (!this.lossBuf || this.lossBuf.length < T) {
      const b = this.arena.bytes(T * 8);
      this.lossBuf = new Float64Array(b.buffer, b.byteOffset, T);
    }
    this.args(this.p(logits), this.p(targets), V, this.p(dlogits), this.lossBuf.byteOffset, 0);
    this.f[FARG_BYTE / 8] = gradScale;
    this.run(OP_CE, T, 1, T * V * 8);
    // summed here in token order, so the total does not depend on the split
    let loss = 0;
    for (let t = 0; t < T; t++) loss += this.lossBuf[t]!;
    return loss;
  }

  embed(table: Float32Array, ids: Int32Array, T: number, D: number, scale: number, x: Float32Array): void {
    this.k.tr_embed(this.p(table), this.p(ids), T, D, scale, this.p(x));
  }

  embedBackward(dtable: Float32Array, ids: Int32Array, T: number, D: number, scale: number, dx: Float32Array): void {
    this.k.tr_embed_bwd(this.p(dtable), this.p(ids), T, D, scale, this.p(dx));
  }

  axpy(x: Float32Array, y: Float32Array, a: number, n: number): void {
    this.k.tr_axpy(this.p(x), this.p(y), a, n);
  }

  scale(x: Float32Array, y: Float32Array, a: number, n: number): void {
    this.k.tr_scale(this.p(x), this.p(y), a, n);
  }

  divide(x: Float32Array, d: number, n: number): void {
    this.k.tr_scale(this.p(x), this.p(x), 1 / d, n);
  }

  quantAct8(x: Float32Array, T: number, n: number): void {
    this.k.tr_act_quant8(this.p(x), T, n);
  }

  packBf16(x: Float32Array, n: number, out: Uint16Array): void {
    this.k.tr_pack_bf16(this.p(x), n, this.p(out));
  }

  unpackBf16(x: Uint16Array, n: number, out: Float32Array): void {
    this.k.tr_unpack_bf16(this.p(x), n, this.p(out));
  }

  sumsq(g: Float32Array, s0: number): number {
    return this.k.tr_sumsq(this.p(g), g.length, s0);
  }

  adamw(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, eps: number, lr: number, decay: number, c1: number, c2: number): void {
    this.k.tr_adamw(this.p(w), this.p(g), this.p(m), this.p(v), w.length, b1, b2, eps, lr, decay, c1, c2);
  }

  dispose(): void {
    if (!this.workers.length) return;
    this.c[OP] = OP_EXIT;
    Atomics.add(this.c, GEN, 1);
    Atomics.notify(this.c, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
