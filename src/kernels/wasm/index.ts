// The WebAssembly backend: picks the best build the engine supports (relaxed SIMD, SIMD, plain),
// keeps every buffer it computes on in one shared memory (weights, KV cache, scratch), and splits
// matrix products by rows and attention by heads over a pool of worker threads. Which formats it
// computes, and how it prepares their activations, it reads from each format's traits (`wasm`,
// `vecDot`, `lut.wasm`); ops it does not implement (formats without a `wasm` trait, embeddings of
// formats get_rows lacks) go to the reference backend.

import { RefKernels } from '../ref/index.js';
import { ropeTheta, type AttentionParams, type Kernels, type QuantAttentionParams, type LutTables, type MatmulKernels, type RopeParams, type WeightMatrix, type PrepareWeightsOptions } from '../types.js';
import { WasmArena } from './arena.js';
import { MAX_GROUP, postAddRows, postAddScaled, postAttention, postAttentionQuant, postEncoderAttention, postLayerNorm, postLutMatmul, postMapHalf, postMatmul, postPackX, postQuantizeQ8, postQuantizeQ8K, postRmsNorm, postSwiglu, type AttentionJob, type AttentionQuantJob, type KernelExports } from './protocol.js';
import { KernelPool } from './pool.js';
import { LUT_TILE, lutDequantRow, lutShape, packLut, type LutShape } from '../lut-layout.js';
import { ROWS4_FLAG, ROWS4_U8_FLAG, rows4Block, rows4Fits, rows4Row, rows4SplitsActs } from '../ref/rows4.js';
import { rows4kFits, rows4kRow } from '../ref/rows4-k.js';
import { rows4loFits, rows4loRow } from '../ref/rows4-lowbit.js';
import { tq1RecodedRowBytes, tq2Rows4Row } from '../ref/ternary.js';
import { GEMM_FLAG, GEMM_MIN_TOK, gemmPackedFloats, gemmScratchBytes } from '../ref/gemm.js';
import { addRows, encoderAttentionRef, layerNorm, mapHalf } from '../ref/encoder.js';
import { f32ToF16 } from '../../core/f16.js';

import { weightBytes, type QuantFormat, type WeightBytes } from '../../quant/types.js';
import { Q4_0 } from '../../quant/q4_0.js';
import { Q8_0 } from '../../quant/q8_0.js';
import { TQ2_0 } from '../../quant/tq2_0.js';
import * as binaries from './binaries.generated.js';

export type WasmFlavor = 'relaxed' | 'simd' | 'plain';

/**
 * The measured rule of `--kernels auto`: table lookup for codes of at most this many bits, and for
 * any LUT-able format without an integer dequantize kernel here (lutra INTn); above it, the
 * dequantize kernel. Measured with `lutra bench --kernels lut,dequant` (bench/results/).
 * Under relaxed SIMD, formats with the four-row layout (Q4_0) take it instead; on SIMD128 the LUT
 * kernels still win decoding (by a little) and lose batches. Measured 2026-12-03 (2-core Xeon with
 * AVX-VNNI, load 9-14, so CPU-time medians; bench/results/2026-12-03-xeon-2c-rows4-v2.md), Q4_0,
 * 1 thread, one token / four tokens: bench/kernels/gemv.mjs, ms per product, 4864x896 relaxed
 * (Node 24) four-row 0.21 / 0.46 vs LUT 0.51 / 1.78, SIMD128 (Node 20) four-row 0.49 / 1.22 vs
 * LUT 0.40 / 1.41; bench/kernels/step.mjs, a whole 0.5B-shape step, relaxed four-row 65.8 / 103 ms
 * vs LUT 84.8 / 205, SIMD128 four-row 76.5 / 130 vs LUT 72.9 / 169.
 */
export const AUTO_LUT_MAX_BITS = 4;

/** Whether `auto` puts a format on the table-lookup kernels in a build of this flavor. */
export function lutPreferred(format: QuantFormat, sh: LutShape, flavor: WasmFlavor = 'relaxed'): boolean {
  if (!format.wasm) return true;
  // Ternary formats: the direct int8 kernels (assembly/ternary.ts) where relaxed SIMD's dot product
  // exists; on SIMD128 their i16 products lose to the tables (bench/results/2026-12-03-xeon-2c-ternary.md).
  if (format.wasm.ternary && flavor === 'relaxed') return false;
  return sh.bits <= AUTO_LUT_MAX_BITS && !(format.wasm.rows4 && flavor === 'relaxed');
}

interface LutEntry {
  readonly shape: LutShape;
  readonly main: Uint8Array;
  readonly tail: Uint8Array | null;
  /** The descriptor lut_matmul reads (13 x i32 in wasm memory). */
  readonly desc: Int32Array;
}

/** Multiply-adds below which a job runs on the calling thread alone. */
const PARALLEL_MIN_WORK = 1 << 17;
/**
 * The same for attention (score multiply-adds) and SwiGLU (elements, an exp each): a decode step's
 * attention at short context and its SwiGLU cost tens of microseconds a layer, far above a barrier.
 */
const PARALLEL_MIN_ATTENTION = 1 << 13;
const PARALLEL_MIN_SWIGLU = 1 << 11;
/**
 * Elements from which the encoder's row-wise ops (layer norm, bias rows, GELU table, residual) and
 * the GEMM's activation packing are split over the threads: the vision tower's run over 1024 x
 * 1152..4320 values, ~3% of a one-thread encode, which would stay serial at two threads.
 */
const PARALLEL_MIN_ROWWISE = 1 << 17;
/**
 * Values from which a prefill's activation quantization and RMS norm are split by tokens: ~5% of a
 * one-thread 0.5B pp128 (quantize_q8 alone 3% of its samples), which stayed serial at two threads.
 */
const PARALLEL_MIN_TOKENWISE = 1 << 13;

function decodeBase64(s: string): Uint8Array {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(s, 'base64'));
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let relaxedVerdict: boolean | undefined;

/** Q4_0 x Q8 products of known data through the relaxed and the plain-SIMD builds must match. */
async function relaxedAgrees(): Promise<boolean> {
  if (relaxedVerdict !== undefined) return relaxedVerdict;
  try {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
    const run = async (flavor: WasmFlavor): Promise<number[]> => {
      const m = await WebAssembly.compile(decodeBase64(binaries[flavor]) as Uint8Array<ArrayBuffer>);
      const k = new WebAssembly.Instance(m, { env: { memory } }).exports as unknown as KernelExports;
      const b = new Uint8Array(memory.buffer);
      const f = new Float32Array(memory.buffer);
      const W = 70000, X = 71000, Q = 72000, D = 73000, S = 73100, I = 73200, Y = 73300;
      for (let r = 0; r < 5; r++) {
        const o = W + r * 36;
        b[o] = 0x00; b[o + 1] = 0x3c; b[o + 18] = 0x00; b[o + 19] = 0x38; // d = 1 and 0.5
        for (let j = 0; j < 16; j++) { b[o + 2 + j] = (j * 7 + r * 3) & 0xff; b[o + 20 + j] = (j * 13 + r) & 0xff; }
      }
      for (let i = 0; i < 64; i++) f[(X >> 2) + i] = ((i * 37) % 29) - 14.5;
      k.quantize_q8(X, 64, 1, Q, D, S, I);
      k.matmul(Q4_0.id, W, 36, 64, 5, 0, 5, Q, D, S, I, Y, 1);
      return Array.from(f.subarray(Y >> 2, (Y >> 2) + 5));
    };
    const a = await run('relaxed'), s = await run('simd');
    relaxedVerdict = a.every((v, i) => Math.abs(v - s[i]!) <= 1e-3 * Math.max(1, Math.abs(s[i]!)));
  } catch {
    relaxedVerdict = false;
  }
  return relaxedVerdict;
}

export interface WasmSupport {
  flavor: WasmFlavor | null;
  threads: boolean;
}

/** What this engine can run: the best wasm build, and whether shared-memory threads exist. */
export async function detectWasm(): Promise<WasmSupport> {
  if (typeof WebAssembly === 'undefined') return { flavor: null, threads: false };
  let flavor: WasmFlavor | null = null;
  for (const f of ['relaxed', 'simd', 'plain'] as WasmFlavor[]) {
    if (!WebAssembly.validate(decodeBase64(binaries[f]) as Uint8Array<ArrayBuffer>)) continue;
    // Engines that shipped relaxed SIMD behind a flag (Node 20's V8, when run with
    // --experimental-wasm-relaxed-simd) decode some opcodes as an older draft did: run a known
    // product and keep the build only if it agrees with SIMD128. lutra no longer turns that flag on
    // itself (v8.setFlagsFromString after start-up): on Node 20 the build it enabled never agreed,
    // so every process paid a flag change and a compile for nothing.
    if (f === 'relaxed' && !(await relaxedAgrees())) continue;
    flavor = f;
    break;
  }
  let threads = typeof SharedArrayBuffer !== 'undefined';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
  } catch {
    threads = false;
  }
  // Without shared memory: one thread on the non-shared builds (relaxed is only built shared).
  if (!threads && flavor === 'relaxed') flavor = WebAssembly.validate(decodeBase64(binaries.simd1) as Uint8Array<ArrayBuffer>) ? 'simd' : 'plain';
  return { flavor, threads };
}

export class WasmKernels implements Kernels {
  readonly name: string;
  readonly arena: WasmArena;
  private readonly k: KernelExports;
  private readonly ref = new RefKernels();
  /** The worker threads, and the control block jobs are posted in. */
  readonly pool: KernelPool;
  private readonly c: Int32Array;
  private readonly f: Float32Array;
  /** Inside matmulMany: which activation preparation each scratch area holds (its products share x). */
  private readonly prepared = new Map<'act' | 'lut' | 'split' | 'gemm16' | 'gemm32', string>();
  /**
   * The tiled GEMM's packed activations (gemm_pack_x), rounded to f16 for F16 weights and not for
   * F32 (so a group of both packs each once), and its weight panels: one slot per product of a group.
   */
  private readonly gemmX = new Map<'gemm16' | 'gemm32', Float32Array>();
  private gemmW: Uint8Array | null = null;
  private gemmWUsed = 0;
  /** encoderAttention's scratch, encoder_attention_scratch bytes per thread. */
  private encScratch: Uint8Array | null = null;
  // Activation scratch in wasm memory, grown on demand.
  private actBytes: Uint8Array | null = null;
  private actD: Float32Array | null = null;
  private actS: Float32Array | null = null;
  private actF: Float32Array | null = null;
  private actSum: Int32Array | null = null;
  /** The split relaxed four-row Q8_0 kernel's activations: per block of 32, max(a, 0) then max(-a, 0). */
  private actSplit: Uint8Array | null = null;
  private ropeCS: Float32Array | null = null;
  private ids: Int32Array | null = null;
  private attnScratch: Float32Array | null = null;
  private attnQScratch: Uint8Array | null = null;
  /** attention's and attentionQuant's jobs, filled in place per call: the hot loop allocates nothing. */
  private readonly attnJob: AttentionJob = {
    q: 0, k: 0, v: 0, nTok: 0, pos0: 0, nHead: 0, nHeadKv: 0, headDim: 0, headDimV: 0, scale: 0, f16: 0, spans: 0, spanCount: 0, spanStride: 0, out: 0,
  };
  private readonly attnQJob: AttentionQuantJob = {
    q: 0, k: 0, v: 0, nTok: 0, pos0: 0, nHead: 0, nHeadKv: 0, headDim: 0, headDimV: 0, scale: 0,
    kType: 0, vType: 0, kRowBytes: 0, vRowBytes: 0, spans: 0, spanCount: 0, spanStride: 0, out: 0,
  };
  private readonly copies = new WeakMap<Uint8Array, Uint8Array>();
  private readonly luts = new Map<WeightMatrix, LutEntry>();
  /** Matrices re-laid at load in four-row groups (ref/rows4.ts), for the dequantize kernels. */
  private readonly rows4 = new Set<WeightMatrix>();
  /** Q8_0 matrices among them whose grouped payloads are biased (rows4_bias_q8), for rows4-q8u.ts. */
  private readonly biased = new Set<WeightMatrix>();
  /**
   * Whether this engine's relaxed dot reads its second operand as an exact unsigned byte, as V8's
   * lowering to x86 VNNI (vpdpbusd) does: then Q8_0 matrices are re-laid biased and take one dot per
   * 16 weight bytes and token instead of two (assembly/rows4-q8u.ts). The relaxed SIMD spec leaves
   * bytes of 128..255 in that operand to the engine (ARM's sdot reads them signed; x86 without VNNI
   * saturates pairs in pmaddubsw), so it is measured, not assumed: probeQ8Unsigned.
   */
  readonly q8Unsigned: boolean;
  /** Matrices whose owner accepted the tiled GEMM's order (prepareWeights' gemm option). */
  private readonly gemmOk = new Set<WeightMatrix>();
  /** TQ1_0 matrices re-coded at load as TQ2_0 matrices (ref/ternary.ts), which the products read instead. */
  private readonly recoded = new Map<WeightMatrix, WeightMatrix>();
  private lutTbl: Uint8Array | null = null;
  private lutTh: Float32Array | null = null;
  private lutA: Float32Array | null = null;
  private lutQs: Uint8Array | null = null;
  private lutD: Float32Array | null = null;
  /** Set by create(): which kernels 1-4-bit formats get, and the LUT table precision. */
  matmulKernels: MatmulKernels = 'auto';
  lutTables: LutTables = 'int8';

  private constructor(readonly flavor: WasmFlavor, readonly threads: number, module: WebAssembly.Module, arena: WasmArena, unsignedDot = true) {
    this.arena = arena;
    this.k = new WebAssembly.Instance(module, { env: { memory: arena.memory } }).exports as unknown as KernelExports;
    this.pool = new KernelPool(this.k);
    this.c = this.pool.c;
    this.f = this.pool.f;
    this.q8Unsigned = unsignedDot && flavor === 'relaxed' && this.probeQ8Unsigned();
    this.name = `wasm-${flavor}${threads > 1 ? `, ${threads} threads` : ', 1 thread'}${arena.fixed ? ' (no shared memory)' : ''}`;
  }

  /**
   * Runs bytes that tell the readings apart through the biased Q8_0 kernels themselves (rows4_pack,
   * rows4_bias_q8, then one token in far streams, 3 tokens in a tile, 6 in a tile of four and a remainder)
   * and compares every output with the exact integer sums: weights of 127 (biased 255) against
   * activations of 127 overflow pmaddubsw's 16-bit pairs, and a signed reading turns 255 into -1.
   * Scales of 1, so each output is its integer sum in f32, exactly.
   */
  private probeQ8Unsigned(): boolean {
    const rows = 68, cols = 64, nb = cols / 32, rowBytes = nb * 34, nMax = 6;
    const a = this.arena;
    const w = a.bytes(rows * rowBytes), scratch = a.bytes(4 * rowBytes), q = a.bytes(cols * nMax);
    const d = a.f32(nb * nMax), sv = a.f32(nb * nMax), y = a.f32(rows * nMax);
    try {
      const sums = new Int32Array(sv.buffer, sv.byteOffset, sv.length);
      const wv = new Int8Array(w.buffer, w.byteOffset, w.length), qv = new Int8Array(q.buffer, q.byteOffset, q.length);
      const wOf = (r: number, k: number) => (r % 5 === 0 ? 127 : r % 5 === 1 ? -128 : ((r * 37 + k * 11) % 256) - 128);
      const aOf = (t: number, k: number) => (t === 0 ? 127 : t === 1 ? -127 : ((t * 53 + k * 29) % 255) - 127);
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < nb; b++) {
          const o = r * rowBytes + b * 34;
          w[o] = 0x00; w[o + 1] = 0x3c; // f16 1.0
          for (let j = 0; j < 32; j++) wv[o + 2 + j] = wOf(r, b * 32 + j);
        }
      }
      for (let t = 0; t < nMax; t++) {
        for (let b = 0; b < nb; b++) {
          let s = 0;
          for (let j = 0; j < 32; j++) { const v = aOf(t, b * 32 + j); qv[t * cols + b * 32 + j] = v; s += v; }
          d[t * nb + b] = 1; sums[t * nb + b] = s;
        }
      }
      this.k.rows4_pack(w.byteOffset, rowBytes, rows, 34, 1, scratch.byteOffset);
      this.k.rows4_bias_q8(w.byteOffset, rowBytes, rows);
      for (const nTok of [1, 3, 6]) {
        y.fill(NaN);
        if (this.k.matmul(Q8_0.id | ROWS4_FLAG | ROWS4_U8_FLAG, w.byteOffset, rowBytes, cols, rows, 0, rows, q.byteOffset, d.byteOffset, 0, sv.byteOffset, y.byteOffset, nTok) !== 0) return false;
        for (let t = 0; t < nTok; t++) {
          for (let r = 0; r < rows; r++) {
            let want = 0;
            for (let k = 0; k < cols; k++) want += wOf(r, k) * aOf(t, k);
            if (y[t * rows + r] !== want) return false;
          }
        }
      }
      return true;
    } catch {
      return false;
    } finally {
      for (const v of [w, scratch, q, d, sv, y]) a.releaseView(v);
    }
  }

  /**
   * `shared: false` (forced where SharedArrayBuffer is missing) runs one thread over an ordinary
   * memory of `memoryBytes`, sized once: it must hold the model, KV caches and scratch.
   */
  static async create(opts: { threads?: number; flavor?: WasmFlavor; shared?: boolean; memoryBytes?: number; matmul?: MatmulKernels; lutTables?: LutTables; unsignedDot?: boolean } = {}): Promise<WasmKernels | null> {
    const k = await WasmKernels.createRaw(opts);
    if (k) { k.matmulKernels = opts.matmul ?? 'auto'; k.lutTables = opts.lutTables ?? 'int8'; }
    return k;
  }

  private static async createRaw(opts: { threads?: number; flavor?: WasmFlavor; shared?: boolean; memoryBytes?: number; unsignedDot?: boolean }): Promise<WasmKernels | null> {
    const sup = await detectWasm();
    const shared = sup.threads && opts.shared !== false;
    // Relaxed SIMD is built for shared memory only: without it, the best choice is SIMD128.
    const flavor = opts.flavor ?? (sup.flavor === 'relaxed' && !shared ? 'simd' : sup.flavor);
    if (!flavor) return null;
    if (!shared) {
      if (flavor === 'relaxed') return null;
      const module = await WebAssembly.compile(decodeBase64(flavor === 'simd' ? binaries.simd1 : binaries.plain1) as Uint8Array<ArrayBuffer>);
      return new WasmKernels(flavor, 1, module, new WasmArena({ shared: false, bytes: opts.memoryBytes ?? 2 ** 30 }));
    }
    if (flavor === 'relaxed' && !(await relaxedAgrees())) return null;
    const module = await WebAssembly.compile(decodeBase64(binaries[flavor]) as Uint8Array<ArrayBuffer>);
    const arena = new WasmArena();
    const threads = Math.max(1, Math.floor(opts.threads ?? (await defaultThreads())));
    const kernels = new WasmKernels(flavor, threads, module, arena, opts.unsignedDot !== false);
    // Each thread's own working memory (assembly/scratch.ts), part i at base + i * per: set on this
    // instance here, on each worker's as it starts.
    const per = kernels.k.thread_scratch_bytes(), scratch = arena.bytes(per * threads);
    kernels.k.thread_scratch(scratch.byteOffset, per);
    await kernels.pool.start(module, arena.memory, threads - 1, { base: scratch.byteOffset, per });
    return kernels;
  }

  private runJob(): void {
    this.pool.run();
  }

  /**
   * Whether a product of `work` multiply-adds runs on this thread alone: without workers, or when
   * too small to pay for waking them (a few microseconds), unless it joins a matmulMany group.
   */
  private alone(work: number): boolean {
    return this.pool.size === 0 || (!this.pool.grouping && work < PARALLEL_MIN_WORK);
  }

  /**
   * Whether a prefill's per-token preparation (activation quantization, RMS norm) of nTok rows of n
   * runs on this thread alone: no workers, one token, too small, or inside a group that has already
   * collected products (which read what an earlier preparation wrote).
   */
  private tokenwiseAlone(n: number, nTok: number): boolean {
    return this.pool.size === 0 || nTok < 2 || n * nTok < PARALLEL_MIN_TOKENWISE || !this.pool.free;
  }

  private quantizeQ8(x: number, cols: number, nTok: number, qs: number, d: number, s: number, isum: number): void {
    if (this.tokenwiseAlone(cols, nTok)) return this.k.quantize_q8(x, cols, nTok, qs, d, s, isum);
    postQuantizeQ8(this.c, x, cols, nTok, qs, d, s, isum);
    this.runJob();
  }

  private quantizeQ8K(x: number, cols: number, nTok: number, qs: number, d: number, bsums: number): void {
    if (this.tokenwiseAlone(cols, nTok)) return this.k.quantize_q8_k(x, cols, nTok, qs, d, bsums);
    postQuantizeQ8K(this.c, x, cols, nTok, qs, d, bsums);
    this.runJob();
  }

  /** Whether a row-wise op over n values runs on this thread alone: no workers, too small, or inside a group. */
  private rowwiseAlone(n: number): boolean {
    return this.pool.size === 0 || this.pool.grouping || n < PARALLEL_MIN_ROWWISE;
  }

  /**
   * Whether this product must write its prepared activation (`key`) into `scratch`: always, except
   * inside matmulMany when an earlier product of the group already wrote the same there. When one
   * wrote another preparation, the group so far runs first, since its products read that scratch.
   */
  private mustPrepare(scratch: 'act' | 'lut' | 'split' | 'gemm16' | 'gemm32', key: string): boolean {
    if (!this.pool.grouping) return true;
    const had = this.prepared.get(scratch);
    if (had === key) return false;
    if (had !== undefined) {
      this.pool.end();
      this.pool.begin();
      this.prepared.clear();
    }
    this.prepared.set(scratch, key);
    return true;
  }

  /**
   * Products of one input by several matrices (q/k/v, gate/up) as one job over the threads: one
   * barrier instead of one per matrix, the activation prepared once per kind, and matrices too
   * small to split alone (k, v) split with the rest. Each row is computed as matmul computes it.
   */
  matmulMany(ws: readonly WeightMatrix[], x: Float32Array, nTok: number, ys: readonly Float32Array[]): void {
    let work = 0;
    for (const w of ws) work += w.rows * w.cols * nTok;
    if (this.pool.size === 0 || ws.length < 2 || work < PARALLEL_MIN_WORK) {
      for (let i = 0; i < ws.length; i++) this.matmul(ws[i]!, x, nTok, ys[i]!);
      return;
    }
    for (let i0 = 0; i0 < ws.length; i0 += MAX_GROUP) {
      // The GEMM's weight panels for the whole group, reserved before any product is posted.
      let panels = 0;
      for (let i = i0; i < Math.min(ws.length, i0 + MAX_GROUP); i++) if (this.takesGemm(ws[i]!, nTok)) panels += gemmScratchBytes(ws[i]!.rows);
      this.ensureGemmPanels(panels);
      this.gemmWUsed = 0;
      this.pool.begin();
      try {
        for (let i = i0; i < Math.min(ws.length, i0 + MAX_GROUP); i++) this.matmul(ws[i]!, x, nTok, ys[i]!);
        this.pool.end();
      } finally {
        this.pool.abandon();
        this.prepared.clear();
      }
    }
  }

  dispose(): void {
    this.pool.dispose();
  }

  allocF32(n: number): Float32Array {
    return this.arena.f32(n);
  }

  allocBytes(n: number): Uint8Array {
    return this.arena.bytes(n);
  }

  release(v: ArrayBufferView): void {
    this.arena.releaseView(v);
  }

  /** Weight bytes inside wasm memory: a view when they already are, else one copy (cached). */
  private weightPtr(w: WeightMatrix): number {
    if (this.arena.owns(w.data)) return w.data.byteOffset;
    let c = this.copies.get(w.data);
    if (!c) {
      c = this.arena.bytes(w.data.byteLength);
      c.set(w.data);
      this.copies.set(w.data, c);
    }
    return c.byteOffset;
  }

  private ensureAct(cols: number, nTok: number): void {
    const n = cols * nTok;
    if (!this.actBytes || this.actBytes.length < n) {
      for (const v of [this.actBytes, this.actD, this.actS, this.actF, this.actSum, this.actSplit]) if (v) this.arena.releaseView(v);
      const cap = Math.max(n, (this.actBytes?.length ?? 0) * 2);
      this.actBytes = this.arena.bytes(cap);
      // Only the split relaxed Q8_0 kernel reads it; where Q8_0 is biased (q8Unsigned) or there is no relaxed SIMD, none is made.
      this.actSplit = this.flavor === 'relaxed' && !this.q8Unsigned ? this.arena.bytes(2 * cap) : null;
      this.actD = this.arena.f32(Math.ceil(cap / 32));
      this.actS = this.arena.f32(Math.ceil(cap / 32));
      this.actF = this.arena.f32(cap);
      const sumView = this.arena.f32(Math.ceil(cap / 16));
      this.actSum = new Int32Array(sumView.buffer, sumView.byteOffset, sumView.length);
    }
  }

  /**
   * Put matrices on the table-lookup kernels per `matmulKernels`: pack each in place when its tiles
   * are the size of its rows (Q4_0, Q4_1, TQ2_0, INTn), else into a new buffer, freeing the old
   * bytes (TQ1_0). One tensor at a time, so the weights are never held twice.
   */
  prepareWeights(ws: WeightMatrix[], opts: PrepareWeightsOptions = {}): string {
    if (opts.gemm) for (const w of ws) this.gemmOk.add(w);
    const onLut = new Map<string, number>();
    let others = 0, relaid = 0, ternary = 0, biasedN = 0;
    for (const w of new Set(ws)) {
      if (this.luts.has(w) || this.rows4.has(w) || this.recoded.has(w)) continue;
      const sh = this.matmulKernels === 'dequant' ? null : lutShape(w.format, w.rows, w.cols, w.rowBytes);
      if (!sh || (this.matmulKernels === 'auto' && !lutPreferred(w.format, sh, this.flavor))) {
        if (this.prepareTernary(w)) ternary++;
        else if (this.packRows4(w)) { relaid++; if (this.biased.has(w)) biasedN++; }
        else others++;
        continue;
      }
      let main: Uint8Array, tail: Uint8Array | null = null;
      if (w.format.lut!.wasm && this.arena.owns(w.data)) {
        ({ main, tail } = this.packInWasm(w, sh));
      } else {
        // Bytes outside wasm memory, or a format without a wasm packer: the TypeScript packer, into a new buffer.
        const p = packLut(w.format, w.data, w.rows, w.cols, w.rowBytes, (n) => this.arena.bytes(n));
        main = p.main; tail = p.tail;
        if (this.arena.owns(w.data)) this.arena.releaseRange(w.data.byteOffset, w.data.byteLength);
      }
      const dv = this.arena.f32(13);
      const desc = new Int32Array(dv.buffer, dv.byteOffset, 13);
      desc.set([main.byteOffset, tail?.byteOffset ?? 0, sh.tileBytes, sh.cols, sh.rows, sh.group, sh.bits, sh.offKind, 0, this.lutTables === 'exact' ? 1 : 0, sh.groupBytes, sh.codeOff, sh.fullTiles]);
      dv[8] = sh.zc;
      this.luts.set(w, { shape: sh, desc, main, tail });
      onLut.set(w.format.name, (onLut.get(w.format.name) ?? 0) + 1);
    }
    const r4 = [relaid ? `${relaid} in four-row layout${biasedN ? `, ${biasedN} of them Q8_0 biased for the unsigned dot` : ''}` : '', ternary ? `${ternary} ternary in four-row layout` : ''].filter(Boolean).join(', ');
    if (this.matmulKernels === 'dequant') return `matmul: dequantize kernels (asked for${r4 ? `; ${r4}` : ''})`;
    const lut = [...onLut].map(([n, c]) => `${c} ${n}`).join(', ');
    const deq = others + relaid + ternary ? `, dequantize for ${others + relaid + ternary}${r4 ? ` (${r4})` : ''}` : '';
    return `matmul: ${lut ? `table lookup for ${lut} (${this.lutTables} tables)` : 'no table-lookup tensors'}${deq}${this.matmulKernels === 'lut' ? ' (lut asked for)' : ''}`;
  }

  /**
   * Ternary matrices for the direct kernels under SIMD (assembly/ternary.ts): TQ1_0 re-coded as
   * TQ2_0 (tq1_recode: into a new buffer, the old bytes freed, as the LUT packer does with TQ1_0),
   * then re-laid in four-row groups in place (tq2_pack4), so the products read one stream.
   */
  private prepareTernary(w: WeightMatrix): boolean {
    const kind = w.format.wasm?.ternary;
    if (!kind || this.flavor === 'plain' || w.cols % TQ2_0.blockSize !== 0 || !this.arena.owns(w.data) || w.rows < 4) return false;
    let m = w;
    if (kind === 'recode') {
      const rowBytes = tq1RecodedRowBytes(w.rowBytes), data = this.arena.bytes(w.rows * rowBytes);
      this.k.tq1_recode(w.data.byteOffset, data.byteOffset, (w.rows * w.rowBytes) / w.format.typeSize);
      this.arena.releaseRange(w.data.byteOffset, w.data.byteLength);
      m = { name: w.name, format: TQ2_0, rows: w.rows, cols: w.cols, rowBytes, ...weightBytes(data) };
      this.recoded.set(w, m);
    }
    const scratch = this.arena.bytes(4 * m.rowBytes);
    this.k.tq2_pack4(m.data.byteOffset, m.rowBytes, m.rows, scratch.byteOffset);
    this.arena.releaseView(scratch);
    this.rows4.add(m);
    return true;
  }

  /** A TQ1_0 matrix's TQ2_0 re-coding, when prepareWeights made one (tests and `lutra bench`). */
  recodedOf(w: WeightMatrix): WeightMatrix | undefined {
    return this.recoded.get(w);
  }

  /** Re-lay a matrix in four-row groups, in place (rows4_pack, rows4k_pack, rows4lo_pack), when its format has the layout. */
  private packRows4(w: WeightMatrix): boolean {
    const k = rows4kFits(w.format, w.rows, w.cols), lo = rows4loFits(w.format, w.rows, w.cols);
    if (!(k || lo || rows4Fits(w.format, w.rows, w.cols)) || !this.arena.owns(w.data)) return false;
    // An owner that opted into the tiled GEMM (F16 rows) keeps the row layout the GEMM reads.
    if (w.format.wasm?.gemm && this.gemmOk.has(w)) return false;
    const scratch = this.arena.bytes(4 * w.rowBytes);
    if (k) this.k.rows4k_pack(w.format.id, w.data.byteOffset, w.rowBytes, w.rows, scratch.byteOffset);
    else if (lo) this.k.rows4lo_pack(w.format.id, w.data.byteOffset, w.rowBytes, w.rows, scratch.byteOffset);
    else {
      const { blockBytes, fields } = rows4Block(w.format.typeSize, w.rowBytes);
      this.k.rows4_pack(w.data.byteOffset, w.rowBytes, w.rows, blockBytes, fields, scratch.byteOffset);
      if (this.q8Unsigned && rows4SplitsActs(w.format)) {
        this.k.rows4_bias_q8(w.data.byteOffset, w.rowBytes, w.rows);
        this.biased.add(w);
      }
    }
    this.arena.releaseView(scratch);
    this.rows4.add(w);
    return true;
  }

  /**
   * packLutTile's twin in WebAssembly (lut_pack_tile): in place through a one-tile copy when tiles
   * are the size of their rows, else into a new buffer, the old bytes freed.
   */
  private packInWasm(w: WeightMatrix, sh: LutShape): { main: Uint8Array; tail: Uint8Array | null } {
    const { kind, codeOff: intCodeOff } = w.format.lut!.wasm!;
    const src = w.data.byteOffset, rb = w.rowBytes;
    const scratch = this.arena.bytes(sh.group + 16);
    const pack = (from: number, n: number, to: number) =>
      this.k.lut_pack_tile(kind, from, rb, n, w.format.typeSize, sh.groups, sh.group, sh.bits, sh.groupBytes, sh.codeOff, sh.offKind, intCodeOff, to, scratch.byteOffset);
    const tail = sh.tiles > sh.fullTiles ? this.arena.bytes(sh.tileBytes) : null;
    if (tail) pack(src + sh.fullTiles * LUT_TILE * rb, sh.rows - sh.fullTiles * LUT_TILE, tail.byteOffset);
    if (sh.inPlace) {
      const tmp = this.arena.bytes(LUT_TILE * rb);
      const mem = new Uint8Array(this.arena.memory.buffer);
      for (let t = 0; t < sh.fullTiles; t++) {
        const off = src + t * sh.tileBytes;
        mem.copyWithin(tmp.byteOffset, off, off + sh.tileBytes);
        pack(tmp.byteOffset, LUT_TILE, off);
      }
      this.arena.releaseView(tmp);
      this.arena.releaseView(scratch);
      return { main: w.data, tail };
    }
    const main = this.arena.bytes(Math.max(1, sh.fullTiles * sh.tileBytes));
    for (let t = 0; t < sh.fullTiles; t++) pack(src + t * LUT_TILE * rb, LUT_TILE, main.byteOffset + t * sh.tileBytes);
    this.arena.releaseRange(src, w.data.byteLength);
    this.arena.releaseView(scratch);
    return { main, tail };
  }

  /** The kernel a prepared matrix runs on (tests and `lutra bench`). */
  kernelOf(w: WeightMatrix): 'lut' | 'dequant' {
    return this.luts.has(w) ? 'lut' : 'dequant';
  }

  /** Whether a prepared matrix was re-laid in four-row groups (tests and `lutra bench`). */
  inRows4(w: WeightMatrix): boolean {
    return this.rows4.has(w);
  }

  /** Whether a prepared Q8_0 matrix was re-laid with biased payloads (q8Unsigned; tests). */
  inRows4Biased(w: WeightMatrix): boolean {
    return this.biased.has(w);
  }

  /** Run `run` on copies of x and y inside wasm memory: re-laid bytes are only read here. */
  private staged(cols: number, rows: number, x: Float32Array, nTok: number, y: Float32Array, run: (xs: Float32Array, ys: Float32Array) => void): void {
    const xs = this.arena.f32(cols * nTok), ys = this.arena.f32(rows * nTok);
    try {
      xs.set(x.subarray(0, cols * nTok));
      run(xs, ys);
      y.set(ys);
    } finally {
      this.arena.releaseView(xs); this.arena.releaseView(ys);
    }
  }

  private lutMatmul(e: LutEntry, x: Float32Array, nTok: number, y: Float32Array): void {
    const sh = e.shape, cols = sh.cols, exact = this.lutTables === 'exact';
    if (!this.arena.owns(x) || !this.arena.owns(y)) return this.staged(cols, sh.rows, x, nTok, y, (xs, ys) => this.lutMatmul(e, xs, nTok, ys));
    const nG = (cols / sh.group) * nTok;
    const tblBytes = cols * nTok * (exact ? 8 : 4);
    if (!this.lutTbl || this.lutTbl.length < tblBytes || this.lutTh!.length < nG || this.lutQs!.length < cols * nTok) {
      for (const v of [this.lutTbl, this.lutTh, this.lutA, this.lutQs, this.lutD]) if (v) this.arena.releaseView(v);
      const cap = Math.max(cols * nTok, (this.lutQs?.length ?? 0) * 2);
      this.lutTbl = this.arena.bytes(cap * 8);
      this.lutQs = this.arena.bytes(cap);
      // Groups are >= 8 elements; Q8 sums need one int per 16.
      this.lutTh = this.arena.f32(Math.ceil(cap / 8));
      this.lutA = this.arena.f32(Math.ceil(cap / 8));
      this.lutD = this.arena.f32(Math.ceil(cap / 8));
    }
    const tbl = this.lutTbl.byteOffset, th = this.lutTh!.byteOffset, tA = this.lutA!.byteOffset;
    const freshTables = this.mustPrepare('lut', `${sh.group} ${exact}`);
    const freshAct = exact && this.mustPrepare('act', `lut ${sh.group}`);
    if (!freshTables && !freshAct) {
      // Built for an earlier product of this matmulMany group.
    } else if (exact) {
      const qs = this.lutQs!.byteOffset, d = this.lutD!.byteOffset;
      // Activations as the dequantize kernels quantize them for the same block size (the same integer sums).
      if (sh.group === 32 || sh.group === 256) {
        this.ensureAct(cols, nTok);
        if (sh.group === 32) this.quantizeQ8(x.byteOffset, cols, nTok, qs, d, this.actS!.byteOffset, this.actSum!.byteOffset);
        else this.quantizeQ8K(x.byteOffset, cols, nTok, qs, d, this.actSum!.byteOffset);
      } else {
        this.k.lut_quantize_acts(x.byteOffset, cols, nTok, sh.group, qs, d);
      }
      this.k.lut_tables_exact(qs, d, cols, nTok, sh.group, tbl, th, tA);
    } else {
      this.k.lut_tables(x.byteOffset, cols, nTok, sh.group, tbl, th, tA);
    }
    const desc = e.desc.byteOffset;
    if (this.alone(sh.rows * cols * nTok)) {
      this.k.lut_matmul(desc, 0, sh.tiles, tbl, th, tA, y.byteOffset, nTok);
      return;
    }
    postLutMatmul(this.c, desc, sh.tiles, tbl, th, tA, y.byteOffset, nTok);
    this.runJob();
  }

  /** Whether a product goes to the tiled GEMM: its owner accepted it, a format with the trait, enough tokens, rows as the file has them. */
  private takesGemm(w: WeightMatrix, nTok: number): boolean {
    return this.gemmOk.has(w) && !!w.format.wasm?.gemm && nTok >= GEMM_MIN_TOK && !this.luts.has(w) && !this.rows4.has(w);
  }

  private ensureGemmPanels(bytes: number): void {
    if (this.gemmW && this.gemmW.length >= bytes) return;
    if (this.gemmW) this.arena.releaseView(this.gemmW);
    this.gemmW = this.arena.bytes(Math.max(bytes, 1 << 16));
  }

  /** The packed activations of one kind (F16-rounded or not), grown to n floats. */
  private gemmPacked(kind: 'gemm16' | 'gemm32', n: number): Float32Array {
    let v = this.gemmX.get(kind);
    if (!v || v.length < n) {
      if (v) this.arena.releaseView(v);
      v = this.arena.f32(Math.max(n, (v?.length ?? 0) * 2));
      this.gemmX.set(kind, v);
    }
    return v;
  }

  /** One GEMM job (matmul's export with GEMM_FLAG): on this thread when small, else split by rows. */
  private gemmRun(type: number, w: number, rowBytes: number, cols: number, rows: number, xq: number, panels: number, y: number, nTok: number): void {
    if (this.alone(rows * cols * nTok)) {
      this.k.matmul(type, w, rowBytes, cols, rows, 0, rows, xq, panels, 0, 0, y, nTok);
      return;
    }
    postMatmul(this.c, type, w, rowBytes, cols, rows, xq, panels, 0, 0, y, nTok);
    this.runJob();
  }

  /** y = W x through the tiled GEMM (assembly/gemm.ts): activations packed once per group, panels per product. */
  private gemmMatmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
    const f16 = w.format.vecDot === 'f16', kind = f16 ? 'gemm16' : 'gemm32';
    if (this.mustPrepare(kind, 'x')) {
      const xq = this.gemmPacked(kind, gemmPackedFloats(w.cols, nTok));
      // Inside a matmulMany group no other job may run: the packing stays on this thread there.
      if (this.rowwiseAlone(w.cols * nTok)) this.k.gemm_pack_x(x.byteOffset, w.cols, w.cols, nTok, xq.byteOffset, f16 ? 1 : 0);
      else {
        postPackX(this.c, x.byteOffset, w.cols, w.cols, nTok, xq.byteOffset, f16 ? 1 : 0);
        this.runJob();
      }
    }
    const bytes = gemmScratchBytes(w.rows);
    let off = 0;
    if (this.pool.grouping) {
      off = this.gemmWUsed;
      this.gemmWUsed += bytes;
      if (!this.gemmW || this.gemmW.length < this.gemmWUsed) throw new Error(`wasm gemm: panels of ${w.name} were not reserved for its group`);
    } else {
      this.ensureGemmPanels(bytes);
    }
    this.gemmRun(w.format.id | GEMM_FLAG, this.weightPtr(w), w.rowBytes, w.cols, w.rows, this.gemmX.get(kind)!.byteOffset, this.gemmW!.byteOffset + off, y.byteOffset, nTok);
  }

  matmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void {
    const lut = this.luts.get(w);
    if (lut) return this.lutMatmul(lut, x, nTok, y);
    const rec = this.recoded.get(w);
    if (rec) return this.matmul(rec, x, nTok, y);
    const relaid = this.rows4.has(w), biased = this.biased.has(w);
    const type = w.format.id | (relaid ? ROWS4_FLAG : 0) | (biased ? ROWS4_U8_FLAG : 0), traits = w.format.wasm;
    if (!traits || w.cols % traits.colsAlign !== 0 || !this.arena.owns(x) || !this.arena.owns(y)) {
      if (relaid) return this.staged(w.cols, w.rows, x, nTok, y, (xs, ys) => this.matmul(w, xs, nTok, ys));
      this.ref.matmul(w, x, nTok, y);
      return;
    }
    if (this.takesGemm(w, nTok)) return this.gemmMatmul(w, x, nTok, y);
    const cols = w.cols;
    this.ensureAct(cols, nTok);
    let act = x.byteOffset, ad = 0, as = 0, asum = 0;
    // Inside matmulMany an earlier product may have prepared this input the same way already.
    const fresh = w.format.vecDot === 'f32' || this.mustPrepare('act', w.format.vecDot === 'q8_1' ? 'q8_0' : w.format.vecDot);
    switch (w.format.vecDot) {
      case 'q8_K':
        if (fresh) this.quantizeQ8K(x.byteOffset, cols, nTok, this.actBytes!.byteOffset, this.actD!.byteOffset, this.actSum!.byteOffset);
        act = this.actBytes!.byteOffset; ad = this.actD!.byteOffset; asum = this.actSum!.byteOffset;
        break;
      case 'q8_0': case 'q8_1':
        // One quantizer for both: q8_1's d * sum per block comes along in actS.
        if (fresh) this.quantizeQ8(x.byteOffset, cols, nTok, this.actBytes!.byteOffset, this.actD!.byteOffset, this.actS!.byteOffset, this.actSum!.byteOffset);
        act = this.actBytes!.byteOffset; ad = this.actD!.byteOffset; as = this.actS!.byteOffset; asum = this.actSum!.byteOffset;
        // The relaxed four-row Q8_0 kernel reads the activations split into two 0..127 halves (not the biased one: rows4-q8u.ts).
        if (relaid && !biased && this.flavor === 'relaxed' && rows4SplitsActs(w.format)) {
          const freshSplit = this.mustPrepare('split', 'q8_0');
          if (freshSplit || fresh) this.k.rows4_split_q8(act, cols * nTok, this.actSplit!.byteOffset);
          act = this.actSplit!.byteOffset;
        }
        break;
      case 'f16':
        // Activations rounded to f16 as ggml converts them for its f16 dot product.
        if (fresh) {
          this.actF!.set(x.subarray(0, cols * nTok));
          this.k.round_f16(this.actF!.byteOffset, cols * nTok);
        }
        act = this.actF!.byteOffset;
        break;
      case 'f32':
        break;
      default:
        throw new Error(`${w.format.name} declares a wasm kernel but vecDot ${w.format.vecDot}, which the wasm backend does not prepare`);
    }
    if (this.alone(w.rows * cols * nTok)) {
      const r = this.k.matmul(type, this.weightPtr(w), w.rowBytes, cols, w.rows, 0, w.rows, act, ad, as, asum, y.byteOffset, nTok);
      if (r !== 0) throw new Error(`wasm matmul: unsupported type ${type}`);
      return;
    }
    postMatmul(this.c, type, this.weightPtr(w), w.rowBytes, cols, w.rows, act, ad, as, asum, y.byteOffset, nTok);
    this.runJob();
  }

  rmsNorm(x: Float32Array, weight: Float32Array, eps: number, n: number, nTok: number, out: Float32Array): void {
    if (!this.arena.owns(x) || !this.arena.owns(out) || !this.arena.owns(weight)) return this.ref.rmsNorm(x, weight, eps, n, nTok, out);
    if (this.tokenwiseAlone(n, nTok)) return this.k.rms_norm(x.byteOffset, weight.byteOffset, eps, n, nTok, out.byteOffset);
    // eps reaches the workers through an f32 slot, as the kernel takes it (an f32 parameter).
    postRmsNorm(this.c, this.f, x.byteOffset, weight.byteOffset, eps, n, nTok, out.byteOffset);
    this.runJob();
  }

  /** Whose table ropeCS holds: the parameters (by identity: a model's RopeParams never change), first position, tokens. */
  private readonly ropeKey: { p: RopeParams | null; pos0: number; nTok: number; cs: Float32Array | null } = { p: null, pos0: -1, nTok: 0, cs: null };

  rope(x: Float32Array, nTok: number, nHead: number, headDim: number, pos0: number, p: RopeParams): void {
    if (!this.arena.owns(x)) return this.ref.rope(x, nTok, nHead, headDim, pos0, p);
    const half = p.nRot >> 1;
    if (!this.ropeCS || this.ropeCS.length < nTok * half * 2) {
      if (this.ropeCS) this.arena.releaseView(this.ropeCS);
      this.ropeCS = this.arena.f32(Math.max(nTok * half * 2, 1024));
    }
    const cs = this.ropeCS;
    // Every layer rotates q and k at the same positions with the same parameters: the table of the
    // last call serves again (its cos/sin were 3000 Math calls a 0.5B decode step).
    const key = this.ropeKey;
    if (!(key.p === p && key.pos0 === pos0 && key.nTok >= nTok && key.cs === cs)) {
      key.p = p; key.pos0 = pos0; key.nTok = nTok; key.cs = cs;
      for (let t = 0; t < nTok; t++) {
        const pos = pos0 + t;
        for (let i = 0; i < half; i++) {
          const theta = ropeTheta(p, pos, i);
          cs[(t * half + i) * 2] = Math.cos(theta) * p.mscale;
          cs[(t * half + i) * 2 + 1] = Math.sin(theta) * p.mscale;
        }
      }
    }
    this.k.rope(x.byteOffset, nTok, nHead, headDim, p.nRot, p.neox ? 1 : 0, cs.byteOffset);
  }

  attention(q: Float32Array, kCache: Float32Array | Uint16Array, vCache: Float32Array | Uint16Array, nTok: number, pos0: number, p: AttentionParams, out: Float32Array): void {
    const a = this.arena;
    // Four calls, not [..].every: this runs for every layer of every decoded token, and the hot path never allocates.
    if (!a.owns(q) || !a.owns(kCache) || !a.owns(vCache) || !a.owns(out) || p.f16 !== kCache instanceof Uint16Array || p.f16 !== vCache instanceof Uint16Array
      || (p.spans && (!a.owns(p.spans) || !p.spanCount || !a.owns(p.spanCount)))) {
      return this.ref.attention(q, kCache, vCache, nTok, pos0, p, out);
    }
    if (p.spans && nTok !== 1) throw new RangeError(`attention over spans takes one query token, got ${nTok}`);
    const parts = this.pool.size + 1;
    const per = this.k.attention_scratch(p.nHead, p.nHeadKv, p.headDim, p.headDimV);
    if (!this.attnScratch || this.attnScratch.length < per * parts) {
      if (this.attnScratch) a.releaseView(this.attnScratch);
      this.attnScratch = a.f32(per * parts);
    }
    const j = this.attnJob;
    j.q = q.byteOffset; j.k = kCache.byteOffset; j.v = vCache.byteOffset; j.nTok = nTok; j.pos0 = pos0;
    j.nHead = p.nHead; j.nHeadKv = p.nHeadKv; j.headDim = p.headDim; j.headDimV = p.headDimV; j.scale = p.scale; j.f16 = p.f16 ? 1 : 0;
    j.spans = p.spans ? p.spans.byteOffset : 0; j.spanCount = p.spans ? p.spanCount!.byteOffset : 0; j.spanStride = p.spanStride ?? 0;
    j.out = out.byteOffset;
    const scratch = this.attnScratch.byteOffset;
    if (this.pool.size === 0 || p.nHead < 2 || nTok * (pos0 + nTok) * p.nHead * p.headDim < PARALLEL_MIN_ATTENTION) {
      this.k.attention(j.q, j.k, j.v, nTok, pos0, j.nHead, j.nHeadKv, j.headDim, j.headDimV, j.scale, j.f16, j.spans, j.spanCount, j.spanStride, j.out, 0, p.nHead, scratch);
      return;
    }
    postAttention(this.c, this.f, j, scratch, per * 4);
    this.runJob();
  }

  attentionQuant(q: Float32Array, k: WeightBytes, v: WeightBytes, nTok: number, pos0: number, p: QuantAttentionParams, out: Float32Array): void {
    const a = this.arena;
    if (!p.kFormat.wasmAttention || !p.vFormat.wasmAttention || !a.owns(q) || !a.owns(k.data) || !a.owns(v.data) || !a.owns(out)
      || (p.spans && (!a.owns(p.spans) || !a.owns(p.spanCount!)))) {
      return this.ref.attentionQuant(q, k, v, nTok, pos0, p, out);
    }
    if (p.spans && nTok !== 1) throw new RangeError(`attention over spans takes one query token, got ${nTok}`);
    const parts = this.pool.size + 1;
    // Per participant: the kernel takes the query heads of a KV head together, with scratch per head.
    const group = p.nHead / p.nHeadKv;
    const per = this.k.attention_quant_scratch(pos0 + nTok, p.headDim, p.headDimV) * group;
    if (!this.attnQScratch || this.attnQScratch.length < per * parts) {
      if (this.attnQScratch) a.releaseView(this.attnQScratch);
      // Room for twice the positions, so a growing context reallocates now and then, not every step.
      this.attnQScratch = a.bytes(this.k.attention_quant_scratch(2 * (pos0 + nTok), p.headDim, p.headDimV) * group * parts);
    }
    const j = this.attnQJob;
    j.q = q.byteOffset; j.k = k.data.byteOffset; j.v = v.data.byteOffset; j.nTok = nTok; j.pos0 = pos0;
    j.nHead = p.nHead; j.nHeadKv = p.nHeadKv; j.headDim = p.headDim; j.headDimV = p.headDimV; j.scale = p.scale;
    j.kType = p.kFormat.id; j.vType = p.vFormat.id; j.kRowBytes = p.kRowBytes; j.vRowBytes = p.vRowBytes;
    j.spans = p.spans ? p.spans.byteOffset : 0; j.spanCount = p.spanCount ? p.spanCount.byteOffset : 0; j.spanStride = p.spanStride;
    j.out = out.byteOffset;
    const scratch = this.attnQScratch.byteOffset;
    if (this.pool.size === 0 || p.nHead < 2 || nTok * (pos0 + nTok) * p.nHead * p.headDim < PARALLEL_MIN_ATTENTION) {
      this.k.attention_quant(j.q, j.k, j.v, nTok, pos0, j.nHead, j.nHeadKv, j.headDim, j.headDimV, j.scale, j.kType, j.vType, j.kRowBytes, j.vRowBytes, j.spans, j.spanCount, j.spanStride, j.out, 0, p.nHead, scratch);
      return;
    }
    postAttentionQuant(this.c, this.f, j, scratch, per);
    this.runJob();
  }

  encoderAttention(q: Float32Array, k: Float32Array, v: Float32Array, nQ: number, nK: number, nHead: number, dHead: number, scale: number, out: Float32Array): void {
    const a = this.arena;
    if (![q, k, v, out].every((t) => a.owns(t))) {
      return encoderAttentionRef(q, k, v, nQ, nK, nHead, dHead, scale, out, new Float32Array(nQ * nK));
    }
    // One job split by heads: each thread packs, multiplies and normalizes whole heads in its own scratch.
    const parts = this.pool.size + 1, per = this.k.encoder_attention_scratch(nQ, nK, dHead);
    if (!this.encScratch || this.encScratch.length < per * parts) {
      if (this.encScratch) a.releaseView(this.encScratch);
      this.encScratch = a.bytes(per * parts);
    }
    const sc = this.encScratch.byteOffset;
    if (this.pool.size === 0 || nHead < 2) {
      this.k.encoder_attention(q.byteOffset, k.byteOffset, v.byteOffset, nQ, nK, nHead, dHead, scale, out.byteOffset, 0, nHead, sc);
      return;
    }
    postEncoderAttention(this.c, this.f, q.byteOffset, k.byteOffset, v.byteOffset, nQ, nK, nHead, dHead, scale, out.byteOffset, sc, per);
    this.runJob();
  }

  layerNorm(x: Float32Array, weight: Float32Array, bias: Float32Array | null, eps: number, n: number, nTok: number, out: Float32Array): void {
    const a = this.arena;
    if (!a.owns(x) || !a.owns(out) || !a.owns(weight) || (bias && !a.owns(bias))) return layerNorm(x, weight, bias, eps, n, nTok, out);
    // eps travels to the workers as an f32: a file's is one (GGUF stores it so); another stays here.
    if (this.rowwiseAlone(n * nTok) || Math.fround(eps) !== eps) return this.k.layer_norm(x.byteOffset, weight.byteOffset, bias ? bias.byteOffset : 0, eps, n, nTok, out.byteOffset);
    postLayerNorm(this.c, this.f, x.byteOffset, weight.byteOffset, bias ? bias.byteOffset : 0, eps, n, nTok, out.byteOffset);
    this.runJob();
  }

  addRows(y: Float32Array, b: Float32Array, n: number, nTok: number): void {
    if (!this.arena.owns(y) || !this.arena.owns(b)) return addRows(y, b, n, nTok);
    if (this.rowwiseAlone(n * nTok)) return this.k.add_rows(y.byteOffset, b.byteOffset, n, nTok);
    postAddRows(this.c, y.byteOffset, b.byteOffset, n, nTok);
    this.runJob();
  }

  toF16(src: Float32Array, n: number, dst: Uint16Array, offset: number): void {
    if (!(n >= 0 && n <= src.length && offset >= 0 && offset + n <= dst.length)) throw new RangeError(`toF16: ${n} values from ${src.length} into ${dst.length} at ${offset}`);
    if (!this.arena.owns(src) || !this.arena.owns(dst)) {
      for (let i = 0; i < n; i++) dst[offset + i] = f32ToF16(src[i]!);
      return;
    }
    this.k.f32_to_f16(src.byteOffset, dst.byteOffset + offset * 2, n);
  }

  mapHalf(x: Float32Array, n: number, table: Float32Array, clamp: boolean): void {
    if (!this.arena.owns(x) || !this.arena.owns(table)) return mapHalf(x, n, table, clamp, f32ToF16);
    if (this.rowwiseAlone(n)) return this.k.map_half(x.byteOffset, n, table.byteOffset, clamp ? 1 : 0);
    postMapHalf(this.c, x.byteOffset, n, table.byteOffset, clamp ? 1 : 0);
    this.runJob();
  }

  swiglu(gate: Float32Array, up: Float32Array, n: number): void {
    if (!this.arena.owns(gate) || !this.arena.owns(up)) return this.ref.swiglu(gate, up, n);
    if (this.pool.size === 0 || n < PARALLEL_MIN_SWIGLU) return this.k.swiglu(gate.byteOffset, up.byteOffset, n);
    postSwiglu(this.c, gate.byteOffset, up.byteOffset, n);
    this.runJob();
  }

  addScaled(x: Float32Array, y: Float32Array, scale: number, n: number): void {
    if (!this.arena.owns(x) || !this.arena.owns(y)) return this.ref.addScaled(x, y, scale, n);
    if (this.rowwiseAlone(n) || Math.fround(scale) !== scale) return this.k.add_scaled(x.byteOffset, y.byteOffset, scale, n);
    postAddScaled(this.c, this.f, x.byteOffset, y.byteOffset, scale, n);
    this.runJob();
  }

  /** One row's bytes read back from a re-laid embedding table, reused so a lookup allocates nothing. */
  private embedRow: Uint8Array | null = null;

  embed(table: WeightMatrix, ids: ArrayLike<number>, nTok: number, out: Float32Array): void {
    const rec = this.recoded.get(table);
    if (rec) return this.embed(rec, ids, nTok, out);
    const lut = this.luts.get(table), relaid = this.rows4.has(table);
    if (lut || relaid) {
      // A tied table re-laid for the matmul kernels: its rows are read back from the new layout.
      let row: Uint8Array | null = null;
      if (relaid) {
        if (!this.embedRow || this.embedRow.length < table.rowBytes) this.embedRow = new Uint8Array(table.rowBytes);
        row = this.embedRow;
      }
      for (let t = 0; t < nTok; t++) {
        const id = ids[t]!;
        if (!(Number.isInteger(id) && id >= 0 && id < table.rows)) throw new RangeError(`token id ${id} is outside the vocabulary (0..${table.rows - 1})`);
        if (lut) lutDequantRow(lut, id, out, t * table.cols);
        else {
          if (this.biased.has(table)) rows4Row(table.data, table.rowBytes, table.rows, table.format.typeSize, id, row!, 0, true);
          else (table.format.wasm?.ternary ? tq2Rows4Row : table.format.wasm?.rows4k ? rows4kRow : table.format.wasm?.rows4lo ? rows4loRow : rows4Row)(table.data, table.rowBytes, table.rows, table.format.typeSize, id, row!, 0);
          table.format.dequantize(row!, 0, out, t * table.cols, table.cols);
        }
      }
      return;
    }
    if (!this.arena.owns(out) || !this.arena.owns(table.data)) return this.ref.embed(table, ids, nTok, out);
    if (!this.ids || this.ids.length < nTok) {
      if (this.ids) this.arena.releaseView(this.ids);
      const v = this.arena.f32(Math.max(nTok, 512));
      this.ids = new Int32Array(v.buffer, v.byteOffset, v.length);
    }
    for (let t = 0; t < nTok; t++) {
      const id = ids[t]!;
      if (!(Number.isInteger(id) && id >= 0 && id < table.rows)) throw new RangeError(`token id ${id} is outside the vocabulary (0..${table.rows - 1})`);
      this.ids[t] = id;
    }
    if (this.k.get_rows(table.format.id, table.data.byteOffset, table.rowBytes, table.cols, this.ids.byteOffset, nTok, out.byteOffset) !== 0) {
      this.ref.embed(table, ids, nTok, out);
    }
  }
}

async function defaultThreads(): Promise<number> {
  if (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) return navigator.hardwareConcurrency;
  try {
    const os = await import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  } catch {
    return 1;
  }
}
