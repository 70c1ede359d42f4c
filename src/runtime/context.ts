// An inference context: the KV cache and scratch of one sequence, allocated once. decode() runs
// tokens through the model in micro-batches and keeps track of how many positions are filled.

import { ArgumentError } from '../core/errors.js';
import type { Kernels } from '../kernels/types.js';
import { DecoderScratch, decoderForward, type DecoderHParams, type DecoderWeights } from '../models/layers.js';
import { KVCache, type KVCacheType } from './kv-cache.js';

export interface ContextOptions {
  /** Context size in tokens (default: the model's training context, at most 4096). */
  ctx?: number;
  /** Largest number of tokens run through the model at once (default 64). */
  batch?: number;
  /** KV cache precision (default f16, as llama.cpp). */
  kvType?: KVCacheType;
  /** Run this context on other kernels than the model's (a profiling wrapper, say). */
  kernels?: Kernels;
}

export class Context {
  readonly nCtx: number;
  readonly batch: number;
  readonly kv: KVCache;
  private readonly scratch: DecoderScratch;
  /** Number of positions already in the cache. */
  nPast = 0;
  /** The tokens at positions 0..nPast-1, so a later prompt can reuse the common prefix. */
  readonly tokens: number[] = [];

  private readonly kernels: Kernels;

  constructor(kernels: Kernels, readonly hp: DecoderHParams, private readonly w: DecoderWeights, opts: ContextOptions = {}) {
    this.kernels = opts.kernels ?? kernels;
    const nCtx = opts.ctx ?? Math.min(hp.nCtxTrain, 4096);
    if (!Number.isInteger(nCtx) || nCtx <= 0) throw new ArgumentError(`context size must be a positive integer, got ${nCtx}`);
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(batch) || batch <= 0) throw new ArgumentError(`batch size must be a positive integer, got ${batch}`);
    this.nCtx = nCtx;
    this.batch = Math.min(batch, nCtx);
    const alloc = kernels.allocF32 ? (n: number) => kernels.allocF32!(n) : undefined;
    this.kv = new KVCache(hp.nLayer, nCtx, hp.nHeadKv, hp.headDim, hp.headDimV, opts.kvType ?? 'f16', alloc);
    this.scratch = new DecoderScratch(hp, this.batch, alloc);
  }

  private disposed = false;

  /** Give the KV cache and scratch back to the kernels' memory. The context is unusable after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of [...this.kv.buffers(), ...this.scratch.buffers()]) this.kernels.release?.(b);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Forget everything after position `n` (0 clears the sequence). */
  truncate(n = 0): void {
    if (n < 0 || n > this.nPast) throw new ArgumentError(`cannot truncate to ${n}: context holds ${this.nPast} positions`);
    this.nPast = n;
    this.tokens.length = n;
  }

  /**
   * Append tokens at nPast. With `logits: 'last'` returns the last token's logits (a view that the
   * next call overwrites); with `onLogits`, calls it with each token's logits row as it is computed.
   */
  decode(tokens: ArrayLike<number>, opts: { logits?: 'last' | 'none'; onLogits?: (index: number, logits: Float32Array) => void } = {}): Float32Array | undefined {
    const n = tokens.length;
    if (this.disposed) throw new ArgumentError('decode: this context has been disposed');
    if (n === 0) throw new ArgumentError('decode: no tokens');
    if (this.nPast + n > this.nCtx) {
      throw new ArgumentError(`context full: ${this.nPast} + ${n} tokens exceed the context size ${this.nCtx}`);
    }
    const nVocab = this.hp.nVocab;
    let out: Float32Array | undefined;
    for (let i = 0; i < n; i += this.batch) {
      const m = Math.min(this.batch, n - i);
      const chunk = sliceLike(tokens, i, m);
      const isLast = i + m === n;
      const mode = opts.onLogits ? 'all' : isLast && opts.logits !== 'none' ? 'last' : 'none';
      decoderForward(this.kernels, this.hp, this.w, this.kv, this.scratch, chunk, m, this.nPast, mode);
      this.nPast += m;
      for (let t = 0; t < m; t++) this.tokens.push(chunk[t]!);
      if (opts.onLogits) {
        for (let t = 0; t < m; t++) opts.onLogits(i + t, this.scratch.logits.subarray(t * nVocab, (t + 1) * nVocab));
      }
      if (isLast && mode !== 'none') {
        const row = mode === 'all' ? m - 1 : 0;
        out = this.scratch.logits.subarray(row * nVocab, (row + 1) * nVocab);
      }
    }
    return out;
  }
}

function sliceLike(a: ArrayLike<number>, start: number, n: number): ArrayLike<number> {
  if (start === 0 && n === a.length) return a;
  if (a instanceof Int32Array || a instanceof Uint32Array || Array.isArray(a)) return a.slice(start, start + n);
  return Array.from({ length: n }, (_, i) => a[start + i]!);
}
