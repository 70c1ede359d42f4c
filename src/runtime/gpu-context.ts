// A context whose forward runs on the WebGPU backend (models/gpu-llama.ts): the KV cache lives on the
// GPU, the token stepper calls decodeAsync, and only the logits rows asked for come back. When the
// device is lost (destroyed, reset, the adapter gone) or a synchronous caller needs the CPU's cache
// (embeddings, speculative drafting), the context moves to the WebAssembly kernels for good: it
// replays its cached tokens through the CPU forward first, so generation goes on where it was.

import { GPU_KV_QUANT, GpuError, TOPK_MAX, isGpuKVQuant, kvBlockQuant, type GpuKVQuant } from '../kernels/webgpu/index.js';
import type { Kernels } from '../kernels/types.js';
import type { GpuKVCache, GpuLlama, GpuLlamaContext } from '../models/gpu-llama.js';
import type { Architecture, DecoderHParams } from '../models/index.js';
import { Context, type ContextOptions, type DecodeOptions } from './context.js';
import { normalizeKVCache } from './kv/index.js';
import { kvCacheFormat } from './kv/cache-types.js';
import { kRotationSize, rotates, V_ROTATION_SIZE } from './kv/hadamard.js';

/**
 * The GPU cache of a context (f16 or a GpuKVQuant per side, rotated as the CPU store would be), or
 * why its KV cache cannot live on the GPU: f32 caches (named), merged or sparse ones and a caller's
 * own store run on the CPU, whose attention reads them: a by-op fallback, named in the context's
 * cpuReason.
 */
export function gpuCache(opts: ContextOptions, hp: DecoderHParams): GpuKVCache | string {
  if (opts.kv) return 'a caller-supplied KV store lives on the CPU';
  const o = normalizeKVCache(opts.cacheType ?? opts.kvType ?? 'f16');
  const extra = Object.keys(o).filter((k) => k !== 'k' && k !== 'v' && k !== 'rotation' && (o as unknown as Record<string, unknown>)[k] !== undefined);
  const onGpu = (t: string): t is GpuKVQuant | 'f16' => t === 'f16' || isGpuKVQuant(t);
  for (const [side, t] of [['K', o.k], ['V', o.v]] as const) {
    if (!onGpu(t)) return `KV cache type ${t} (${side}) has no WebGPU attention yet (the GPU keeps f16, ${GPU_KV_QUANT.join(', ')}): this context runs on WebAssembly`;
  }
  if (extra.length) return `KV cache settings ${extra.join(', ')} have no WebGPU path yet: this context runs on WebAssembly`;
  const k = o.k as GpuKVQuant | 'f16', v = o.v as GpuKVQuant | 'f16';
  for (const [side, t, n] of [['K', k, hp.nHeadKv * hp.headDim], ['V', v, hp.nHeadKv * hp.headDimV]] as const) {
    if (t !== 'f16' && kvBlockQuant(t) && n % 64) return `a ${t} ${side} cache row of ${n} values is not whole block pairs (64) as the GPU quantizer writes them: this context runs on WebAssembly`;
  }
  const rotation = o.rotation ?? true;
  return {
    k, v,
    // Only ggml's quantized types are rotated (bf16 is not: runtime/kv/packed.ts).
    rotK: rotation && kvCacheFormat(k).quantized && rotates(hp.headDim) ? kRotationSize(hp.headDim) : 0,
    rotV: rotation && kvCacheFormat(v).quantized && rotates(hp.headDimV) ? V_ROTATION_SIZE : 0,
  };
}

export class GpuContext extends Context {
  private gpuCtx: GpuLlamaContext | null;
  /** Why the context left the GPU (null while on it). */
  cpuReason: string | null = null;

  constructor(kernels: Kernels, arch: Architecture, hp: DecoderHParams, w: unknown, opts: ContextOptions, private readonly gpu: GpuLlama, private readonly onNote?: (line: string) => void) {
    super(kernels, arch, hp, w, opts);
    const cache = gpuCache(opts, hp);
    const refusal = typeof cache === 'string' ? cache : null;
    this.gpuCtx = typeof cache === 'string' ? null : gpu.createContext(this.nCtx, this.batch, cache);
    if (refusal) {
      this.cpuReason = refusal;
      onNote?.(`backend: WebAssembly for this context (${refusal})`);
    }
  }

  get onGpu(): boolean {
    return this.gpuCtx !== null;
  }

  /**
   * Leave the GPU: free its cache and rebuild the CPU's from the tokens held so far. Only token ids
   * can be replayed: rows that came in as input embeddings (an image's, held as a negative id,
   * runtime/vision.ts IMAGE_ROW) cannot. The GPU never takes them (decode and decodeAsync with
   * embeddings leave it first), but should it hold one, the CPU keeps the tokens before it and the
   * caller gets an error saying so rather than a cache that silently lacks the picture.
   */
  toCpu(reason: string): void {
    if (!this.gpuCtx) return;
    try { this.gpuCtx.dispose(); } catch { /* a lost device has nothing left to free */ }
    this.gpuCtx = null;
    this.cpuReason = reason;
    this.onNote?.(`backend: WebAssembly from here on (${reason})`);
    const held = this.tokens.slice();
    const first = held.findIndex((t) => t < 0);
    super.truncate(0);
    const replay = first < 0 ? held : held.slice(0, first);
    if (replay.length) super.decode(replay, { logits: 'none' });
    if (first >= 0) {
      let last = first;
      while (last + 1 < held.length && held[last + 1]! < 0) last++;
      throw new GpuError(`the context left the GPU (${reason}) holding input-embedding rows (an image's) at positions ${first}..${last}, which the WebAssembly replay cannot rebuild from token ids: it now holds the ${first} tokens before them; send the image again`);
    }
  }

  /** Synchronous decoding reads the CPU's cache: move there first. */
  override decode(tokens: ArrayLike<number>, opts: DecodeOptions = {}): Float32Array | undefined {
    this.toCpu('a synchronous decode (embeddings, speculative drafting) needs the CPU cache');
    return super.decode(tokens, opts);
  }

  override truncate(n = 0): void {
    if (!this.gpuCtx) return super.truncate(n);
    if (n < 0 || n > this.nPast) super.truncate(n); // the base class names the error
    this.nPast = n;
    this.tokens.length = n;
  }

  /**
   * decode() on the GPU for the stepper: the last token's logits (a fresh array; with opts.topK only
   * the k largest, the rest -Infinity), or with onLogits every token's row. Falls back to the CPU (see toCpu) on a GpuError.
   */
  async decodeAsync(tokens: ArrayLike<number>, opts: DecodeOptions = {}): Promise<Float32Array | undefined> {
    if (!this.gpuCtx || opts.onHidden || opts.from || opts.residual || opts.embeddings?.length) {
      if (this.gpuCtx) this.toCpu('embeddings and hidden states are computed on the CPU');
      return super.decode(tokens, opts);
    }
    const n = tokens.length;
    if (n === 0 || this.nPast + n > this.nCtx) return super.decode(tokens, opts); // the base class names the error
    let out: Float32Array | undefined;
    let i = 0;
    try {
      for (; i < n; i += this.batch) {
        const m = Math.min(this.batch, n - i);
        const chunk = Array.prototype.slice.call(tokens, i, i + m) as number[];
        const isLast = i + m === n;
        const mode = opts.onLogits ? 'all' : isLast && opts.logits !== 'none' ? 'last' : 'none';
        // Only the sampler's top k come back when that is all it reads (DecodeOptions.topK).
        const k = mode === 'last' && opts.topK && opts.topK <= TOPK_MAX ? opts.topK : 0;
        const rows = await this.gpuCtx.decode(chunk, this.nPast, mode, k);
        this.nPast += m;
        for (const t of chunk) this.tokens.push(t);
        if (rows && opts.onLogits) for (let t = 0; t < m; t++) opts.onLogits(i + t, rows.subarray(t * this.nLogits, (t + 1) * this.nLogits));
        if (rows && isLast) out = rows.subarray(rows.length - this.nLogits);
      }
      return out;
    } catch (e) {
      if (!(e instanceof GpuError)) throw e;
      // Chunks before i are in this.tokens: the CPU replays them, then runs the rest.
      this.toCpu(e.message);
      const onLogits = opts.onLogits, at = i;
      return super.decode(Array.prototype.slice.call(tokens, i), { ...opts, onLogits: onLogits && ((j, row) => onLogits(at + j, row)) });
    }
  }

  override dispose(): void {
    try { this.gpuCtx?.dispose(); } catch { /* lost */ }
    this.gpuCtx = null;
    super.dispose();
  }
}
