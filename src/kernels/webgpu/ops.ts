// The WebGPU backend's dispatcher: compiled pipelines (one per shader, made on first use), storage
// buffers, and the encoding of each op into one compute pass per step. Parameters go into a
// uniform arena (one 256-byte slot per dispatch) written once before the submit. Reads back only
// what the caller asks (a logits row, the top k (value, id) pairs) and never waits on a lost device: every
// wait races the device's loss. The forward that strings these ops together is the model's.
/// <reference types="@webgpu/types" />

import type { QuantFormat } from '../../quant/types.js';
import { ropeTheta, type RopeParams } from '../types.js';
import { GpuError, type Gpu } from './device.js';
import { GEMM_ROWS, actWgsl, gemmTokens, gemmWgsl, gpuFormat, matvecWgsl, type GpuActKind } from './formats.js';
import { ADD_WGSL, TOPK_MAX, TOPK_MERGE_WGSL, TOPK_SCAN_WGSL, TOPK_THREADS, ROPE_WGSL, SWIGLU_WGSL, attnScoresHalfWgsl, kvWriteWgsl, rmsNormWgsl, type HalfType } from './wgsl.js';
import type { GpuMatrix } from './weights.js';
import { HADAMARD_WGSL, attnAccWgsl, attnScoresQuantWgsl, kvBlockQuant, kvQuantWriteWgsl, type GpuKVQuant } from './kv-quant.js';

// GPUBufferUsage / GPUMapMode values (spec constants), so nothing here needs those globals.
const STORAGE = 0x80, COPY_DST = 0x08, COPY_SRC = 0x04, UNIFORM = 0x40, MAP_READ = 0x01;
const SLOT = 256, SLOTS = 1024;
const WG = 64;
/** Largest workgroup count along one dimension (the spec's default limit). */
const MAX_DIM = 65535;
/** From this many tokens a product runs the tiled matrix-matrix shader (llama.cpp's WebGPU cut-off, 4, too). */
export const TILED_MIN_TOKENS = 4;

/** Floats the activation-scale buffer needs for n prepared values: q8 scales per 32 (or 256), then q8_1 sums per 32 or q8_K sums per 16. */
export function activationScaleFloats(n: number): number {
  return Math.ceil(n / 32) + Math.ceil(n / 16) + 2;
}

export class GpuOps {
  readonly device: GPUDevice;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly arena: GPUBuffer;
  private readonly arenaU32 = new Uint32Array(SLOTS * SLOT / 4);
  private readonly arenaF32 = new Float32Array(this.arenaU32.buffer);
  private slot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly staging = new Map<number, GPUBuffer>();
  /** Dispatches and submits since creation (tests check the per-token counts). */
  dispatches = 0;
  submits = 0;
  /** Bytes read back from the device (tests check that sampling reads k pairs, not the logits row). */
  bytesRead = 0;

  constructor(readonly gpu: Gpu) {
    this.device = gpu.device;
    this.arena = this.device.createBuffer({ size: SLOTS * SLOT, usage: UNIFORM | COPY_DST, label: 'lutra params' });
  }

  private check(): void {
    if (this.gpu.lostReason) throw new GpuError(this.gpu.lostReason);
  }

  /** A storage buffer of `bytes` (at least 4), zeroed. */
  buffer(bytes: number, label: string): GPUBuffer {
    this.check();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > this.gpu.deviceBinding) throw new GpuError(`${label}: ${size} bytes exceed the adapter's storage binding limit of ${this.gpu.deviceBinding} bytes (maxStorageBufferBindingSize/maxBufferSize)`);
    return this.device.createBuffer({ size, usage: STORAGE | COPY_DST | COPY_SRC, label });
  }

  /** A storage buffer holding `data`. */
  upload(data: Float32Array, label: string): GPUBuffer {
    const b = this.buffer(data.byteLength, label);
    this.write(b, data);
    return b;
  }

  write(b: GPUBuffer, data: Float32Array | Uint32Array, offsetBytes = 0): void {
    this.check();
    // WebAssembly's shared memory (norms, biases) is a SharedArrayBuffer, which writeBuffer refuses.
    const src = data.buffer instanceof ArrayBuffer ? data : data.slice();
    this.device.queue.writeBuffer(b, offsetBytes, src.buffer, src.byteOffset, src.byteLength);
  }

  private pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Compile every shader now and report WGSL errors by name (device creation succeeded but a shader did not). */
  async compileAll(formats: readonly QuantFormat[]): Promise<void> {
    this.device.pushErrorScope('validation');
    for (const [k, c] of Object.entries(STATIC)) this.pipeline(k, () => c);
    this.pipeline('rmsnorm', () => rmsNormWgsl(false));
    this.pipeline('rmsnorm-inplace', () => rmsNormWgsl(true));
    for (const k of ['f16', 'q8_0', 'q8_1', 'q8_K'] as const) this.pipeline(`act-${k}`, () => actWgsl(k));
    for (const f of formats) {
      if (!gpuFormat(f)) continue;
      this.pipeline(`matvec-${f.name}`, () => matvecWgsl(f));
      this.pipeline(`gemm-${f.name}`, () => gemmWgsl(f));
    }
    const err = await this.device.popErrorScope();
    if (err) throw new GpuError(`a WebGPU shader did not compile: ${err.message}`);
  }

  /** Start recording a step. */
  begin(): void {
    this.check();
    if (this.encoder) throw new Error('GpuOps.begin: a step is already being recorded');
    this.encoder = this.device.createCommandEncoder({ label: 'lutra step' });
    this.pass = null;
    this.slot = 0;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.encoder) this.begin();
    this.pass ??= this.encoder!.beginComputePass();
    return this.pass;
  }

  private dispatch(key: string, code: () => string, u: readonly number[], f: readonly number[], buffers: readonly GPUBuffer[], x: number, y = 1, z = 1): void {
    if (this.slot === SLOTS) this.flush();
    const s = this.slot++;
    const o = (s * SLOT) / 4;
    for (let i = 0; i < 8; i++) this.arenaU32[o + i] = u[i] ?? 0;
    for (let i = 0; i < 4; i++) this.arenaF32[o + 8 + i] = f[i] ?? 0;
    const pipe = this.pipeline(key, code);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.arena, offset: s * SLOT, size: 48 } }];
    buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b } }));
    const bg = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  /** Workgroups for n invocations of 64, as (x, y) within the per-dimension limit. */
  private grid(n: number): [number, number] {
    const g = Math.max(1, Math.ceil(n / WG));
    return g <= MAX_DIM ? [g, 1] : [MAX_DIM, Math.ceil(g / MAX_DIM)];
  }

  /** Submit what is recorded (the params arena first). */
  flush(): void {
    if (!this.encoder) return;
    this.check();
    this.pass?.end();
    this.pass = null;
    if (this.slot) this.device.queue.writeBuffer(this.arena, 0, this.arenaU32.buffer, 0, this.slot * SLOT);
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.encoder = null;
    this.slot = 0;
  }

  /** Copy `bytes` of src (from byte srcOff) to dst within the step. */
  copy(src: GPUBuffer, srcOff: number, dst: GPUBuffer, dstOff: number, bytes: number): void {
    if (!this.encoder) this.begin();
    this.pass?.end();
    this.pass = null;
    this.encoder!.copyBufferToBuffer(src, srcOff, dst, dstOff, bytes);
  }

  /** Submit the step and read back `bytes` of src from byte `offset`; rejects (never hangs) if the device is lost. */
  async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    let st = this.staging.get(size);
    if (!st) {
      st = this.device.createBuffer({ size, usage: MAP_READ | COPY_DST, label: 'lutra readback' });
      this.staging.set(size, st);
    }
    this.copy(src, offset, st, 0, size);
    this.flush();
    this.bytesRead += size;
    const lost = this.gpu.lost.then((r) => { throw new GpuError(r); });
    try {
      await Promise.race([st.mapAsync(MAP_READ), lost]);
    } catch (e) {
      throw e instanceof GpuError ? e : new GpuError(this.gpu.lostReason ?? `WebGPU readback failed: ${(e as Error).message}`, { cause: e });
    }
    this.check();
    const out = st.getMappedRange().slice(0, bytes);
    st.unmap();
    return out;
  }

  async readF32(src: GPUBuffer, offsetFloats: number, n: number): Promise<Float32Array> {
    return new Float32Array(await this.read(src, offsetFloats * 4, n * 4));
  }

  // --- ops ---

  /** Activations x (nTok rows of cols) in the form `kind` wants into q (and block scales/sums into d). */
  prepareActivations(kind: GpuActKind, x: GPUBuffer, n: number, q: GPUBuffer, d: GPUBuffer): void {
    if (kind === 'f32') return;
    const nb = Math.ceil(n / 32);
    if (kind === 'q8_K') {
      if (n % 256) throw new GpuError(`q8_K activations come in blocks of 256, got ${n} values`);
      const [gx, gy] = this.grid(n / 256);
      this.dispatch('act-q8_K', () => actWgsl(kind), [n, n / 256, nb], [], [x, q, d], gx, gy);
      return;
    }
    const [gx, gy] = this.grid(kind === 'f16' ? n : nb);
    this.dispatch(`act-${kind}`, () => actWgsl(kind), [n, nb], [], [x, q, d], gx, gy);
  }

  /**
   * y[t, :] = W x[t] for nTok tokens; x is already in the format's activation form (xq, xd; x itself
   * for f32), xd big enough for activationScaleFloats(nTok * cols). One dispatch per shard: the
   * matrix-vector shader for a few tokens, the tiled matrix-matrix one from TILED_MIN_TOKENS on, and
   * always on a CPU emulation (SwiftShader runs a workgroup's barriers as coroutine switches: the
   * matrix-vector shader's workgroup per row made a 151936-row head take a minute, the tiled one's
   * thread per row a quarter of that). `tiled` forces either, for tests.
   */
  matvec(w: GpuMatrix, xq: GPUBuffer, xd: GPUBuffer, nTok: number, y: GPUBuffer, tiled = nTok >= TILED_MIN_TOKENS || this.gpu.software): void {
    const f = w.format;
    const nbTot = Math.ceil((nTok * w.cols) / 32);
    for (const s of w.shards) {
      const u = [s.rows, w.cols, s.row0, w.rows, w.rowBytes, 0, nbTot];
      if (tiled) {
        u[5] = nTok;
        this.dispatch(`gemm-${f.name}`, () => gemmWgsl(f), u, [], [s.buffer, xq, xd, y], Math.ceil(s.rows / GEMM_ROWS), Math.ceil(nTok / gemmTokens(f)));
      } else {
        const nx = Math.min(s.rows, MAX_DIM), ny = Math.ceil(s.rows / nx);
        u[5] = nx;
        this.dispatch(`matvec-${f.name}`, () => matvecWgsl(f), u, [], [s.buffer, xq, xd, y], nx, ny, nTok);
      }
    }
  }

  rmsNorm(x: GPUBuffer, weight: GPUBuffer, eps: number, n: number, rows: number, out: GPUBuffer | null): void {
    const gx = Math.min(rows, MAX_DIM), gy = Math.ceil(rows / MAX_DIM);
    if (out) this.dispatch('rmsnorm', () => rmsNormWgsl(false), [n, rows], [eps], [x, weight, out], gx, gy);
    else this.dispatch('rmsnorm-inplace', () => rmsNormWgsl(true), [n, rows], [eps], [x, weight], gx, gy);
  }

  /** cs: (cos, sin) * mscale per token and pair (nTok * half * 2 floats). */
  rope(x: GPUBuffer, cs: GPUBuffer, nTok: number, nHead: number, headDim: number, half: number, neox: boolean): void {
    const [gx, gy] = this.grid(nTok * nHead * half);
    this.dispatch('rope', () => ROPE_WGSL, [nTok, nHead, headDim, half, neox ? 1 : 0], [], [x, cs], gx, gy);
  }

  /** Rows of `width` values for positions pos0..pos0+nTok-1 into an f16 (or bf16) cache. */
  kvWrite(x: GPUBuffer, cache: GPUBuffer, width: number, pos0: number, nTok: number, type: HalfType = 'f16'): void {
    if (width % 2) throw new GpuError(`the ${type} KV cache holds rows of an even number of values, got ${width}`);
    const [gx, gy] = this.grid((width * nTok) / 2);
    this.dispatch(`kv-write-${type}`, () => kvWriteWgsl(type), [width, pos0, nTok], [], [x, cache], gx, gy);
  }

  /** Causal attention of nTok queries at pos0.. over f16 caches; scores needs nTok * nHead * stride floats. */
  attention(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, scores: GPUBuffer, stride: number, nTok: number, pos0: number, p: { nHead: number; nHeadKv: number; headDim: number; headDimV: number; scale: number }, out: GPUBuffer): void {
    if (pos0 + nTok > stride) throw new GpuError(`attention over ${pos0 + nTok} positions exceeds the score rows of ${stride}`);
    if (p.headDim % 2) throw new GpuError(`WebGPU attention needs an even head size, got ${p.headDim}`);
    const groups = nTok * p.nHead;
    this.dispatch('attn-scores-f16', () => attnScoresHalfWgsl('f16'), [p.nHead, p.nHeadKv, p.headDim, pos0, stride], [p.scale], [q, k, scores], groups);
    this.dispatch('attn-acc-f16', () => attnAccWgsl('f16'), [p.nHead, p.nHeadKv, p.headDimV, pos0, stride, 2 * p.nHeadKv * p.headDimV], [], [scores, v, out], groups);
  }

  /** Rotate n values in place as consecutive Walsh-Hadamard rows of `size` (a power of two dividing n). */
  hadamard(x: GPUBuffer, n: number, size: number): void {
    if (n % size || size & (size - 1)) throw new GpuError(`Hadamard rows of ${size} do not tile ${n} values`);
    const [gx, gy] = this.grid(n / size);
    this.dispatch('hadamard', () => HADAMARD_WGSL, [n, size], [Math.fround(1 / Math.fround(Math.sqrt(size)))], [x], gx, gy);
  }

  /** Rows of `width` values for positions pos0..pos0+nTok-1 into a quantized cache of `type` blocks (or a bf16 one). */
  kvQuantWrite(type: GpuKVQuant, x: GPUBuffer, cache: GPUBuffer, width: number, pos0: number, nTok: number): void {
    if (!kvBlockQuant(type)) return this.kvWrite(x, cache, width, pos0, nTok, type);
    if (width % 64) throw new GpuError(`a ${type} KV cache on the GPU holds rows of whole block pairs (64 values), got ${width}`);
    const [gx, gy] = this.grid((width * nTok) / 64);
    this.dispatch(`kvq-write-${type}`, () => kvQuantWriteWgsl(type), [width, pos0, nTok], [], [x, cache], gx, gy);
  }

  /**
   * Causal attention of nTok queries at pos0.. over caches of kType/vType (f16 or a GpuKVQuant).
   * K is read as kFormat's vecDot kind says: null or F16 an f16 cache and BF16 a bf16 one (Q rounded
   * to the cache's type, ggml's vec_dot_type for them), a 32-element format by its block dot with Q
   * prepared as its activation kind in xq/xd (prepareActivations). kRowBytes/vRowBytes are the
   * caches' row sizes. Same scores buffer as attention().
   */
  attentionQuant(q: GPUBuffer, xq: GPUBuffer, xd: GPUBuffer, k: GPUBuffer, v: GPUBuffer, scores: GPUBuffer, stride: number, nTok: number, pos0: number,
    p: { nHead: number; nHeadKv: number; headDim: number; headDimV: number; scale: number; kFormat: QuantFormat | null; vType: GpuKVQuant | 'f16'; kRowBytes: number; vRowBytes: number }, out: GPUBuffer): void {
    if (pos0 + nTok > stride) throw new GpuError(`attention over ${pos0 + nTok} positions exceeds the score rows of ${stride}`);
    const groups = nTok * p.nHead;
    const kf = p.kFormat, half = !kf || kf.vecDot === 'f16' ? 'f16' : kf.vecDot === 'bf16' ? 'bf16' : null;
    if (half) {
      if (p.headDim % 2) throw new GpuError(`WebGPU attention over a ${half} K cache needs an even head size, got ${p.headDim}`);
      this.dispatch(`attn-scores-${half}`, () => attnScoresHalfWgsl(half), [p.nHead, p.nHeadKv, p.headDim, pos0, stride], [p.scale], [q, k, scores], groups);
    } else {
      const g = gpuFormat(kf!);
      if (!g || g.block !== 32) throw new GpuError(`a ${kf!.name} K cache has no WebGPU attention (no block dot of 32)`);
      const act = g.act as 'q8_0' | 'q8_1';
      const n = nTok * p.nHead * p.headDim;
      this.prepareActivations(act, q, n, xq, xd);
      this.dispatch(`attn-scores-${kf!.name}`, () => attnScoresQuantWgsl(kf!), [p.nHead, p.nHeadKv, p.headDim, pos0, stride, p.kRowBytes, n / 32], [p.scale], [k, xq, xd, scores], groups);
    }
    this.dispatch(`attn-acc-${p.vType}`, () => attnAccWgsl(p.vType), [p.nHead, p.nHeadKv, p.headDimV, pos0, stride, p.vRowBytes], [], [scores, v, out], groups);
  }

  swiglu(gate: GPUBuffer, up: GPUBuffer, n: number): void {
    const [gx, gy] = this.grid(n);
    this.dispatch('swiglu', () => SWIGLU_WGSL, [n], [], [gate, up], gx, gy);
  }

  /** x[i] += y[i % period] * scale for i < n (period = n: a residual; the bias length: a bias). */
  add(x: GPUBuffer, y: GPUBuffer, n: number, period = n, scale = 1): void {
    const [gx, gy] = this.grid(n);
    this.dispatch('add', () => ADD_WGSL, [n, period], [scale], [x, y], gx, gy);
  }

  /**
   * The k largest of x[0..n) (ties: the smaller index first) as (value bits, index) u32 pairs into
   * out[0..2k), descending: top-k sampling reads back 8k bytes instead of the logits row.
   * cand holds topKCandidateWords(k) u32.
   */
  topK(x: GPUBuffer, n: number, k: number, cand: GPUBuffer, out: GPUBuffer): void {
    if (!(Number.isInteger(k) && k >= 1 && k <= TOPK_MAX)) throw new GpuError(`GPU top-k takes k in 1..${TOPK_MAX}, got ${k}`);
    this.dispatch('topk-scan', () => TOPK_SCAN_WGSL, [n, k], [], [x, cand], TOPK_THREADS / WG);
    this.dispatch('topk-merge', () => TOPK_MERGE_WGSL, [n, k, TOPK_THREADS * k], [], [cand, out], 1);
  }

  destroy(): void {
    for (const b of this.staging.values()) b.destroy();
    this.staging.clear();
    this.arena.destroy();
  }
}

/**
 * The RoPE shader's table for positions pos0..pos0+nTok-1: (cos, sin) * mscale of every pair, from
 * ropeTheta in double precision as the reference computes them. out holds nTok * nRot floats.
 */
export function ropeTable(p: RopeParams, pos0: number, nTok: number, out: Float32Array): Float32Array {
  const half = p.nRot >> 1;
  for (let t = 0; t < nTok; t++) {
    for (let i = 0; i < half; i++) {
      const theta = ropeTheta(p, pos0 + t, i);
      out[(t * half + i) * 2] = Math.cos(theta) * p.mscale;
      out[(t * half + i) * 2 + 1] = Math.sin(theta) * p.mscale;
    }
  }
  return out.subarray(0, nTok * half * 2);
}

const STATIC: Readonly<Record<string, string>> = {
  rope: ROPE_WGSL, 'kv-write-f16': kvWriteWgsl('f16'), 'attn-scores-f16': attnScoresHalfWgsl('f16'), 'attn-acc-f16': attnAccWgsl('f16'),
  swiglu: SWIGLU_WGSL, add: ADD_WGSL, 'topk-scan': TOPK_SCAN_WGSL, 'topk-merge': TOPK_MERGE_WGSL,
};

/** u32 words of the top-k candidate buffer. */
export const topKCandidateWords = (k: number) => 2 * TOPK_THREADS * k;
