// An inference context: the KV store and scratch of one sequence, allocated once. decode() runs
// tokens through the architecture's forward in micro-batches and keeps track of how many positions
// are filled.

import { ArgumentError } from '../core/errors.js';
import type { Kernels, WeightMatrix } from '../kernels/types.js';
import { DecoderScratch, ForwardPass, type Architecture, type DecoderHParams, type InputEmbeddings } from '../models/index.js';
import { createKVStore, type KVCacheSpec, type KVCacheType, type KVStore } from './kv/index.js';

export interface ContextOptions {
  /** Context size in tokens (default: the model's training context, at most 4096). */
  ctx?: number;
  /** Largest number of tokens run through the model at once (default 64). */
  batch?: number;
  /** KV cache precision of K and V (default f16, as llama.cpp). */
  kvType?: KVCacheType;
  /** KV cache settings: a type for both, or { k, v, rotation, ... } (wins over kvType). */
  cacheType?: KVCacheSpec;
  /** Run this context on other kernels than the model's (a profiling wrapper, say). */
  kernels?: Kernels;
  /** Run only the first N layers (a layer-skip draft of the model; its cache holds those layers only). */
  layers?: number;
  /**
   * An output projection over part of the vocabulary (an FR-Spec draft head): logits have
   * head.matrix.rows values, row j for vocabulary id head.ids[j].
   */
  head?: { matrix: WeightMatrix; ids: Int32Array };
  /**
   * 'latent': an MLA model (MiniCPM3) caches each position's compressed latent and rotated key
   * instead of every head's key and value (12x smaller for MiniCPM3-4B; numerically not llama.cpp's
   * cache). Default: cacheType's `mla`, else 'expanded', as llama.cpp. Ignored by models without one.
   */
  mlaCache?: 'expanded' | 'latent';
  /**
   * Use this KV store instead of making one (a layer-skip draft reading and writing the target's
   * cache of the layers they share); it is not disposed with the context. Its shape must be the one
   * this context would make.
   */
  kv?: KVStore;
}

export interface DecodeOptions {
  logits?: 'last' | 'none';
  onLogits?: (index: number, logits: Float32Array) => void;
  /** Instead of logits: each token's final-normed hidden state (nEmbd values, a view the next batch overwrites). */
  onHidden?: (index: number, hidden: Float32Array) => void;
  embeddings?: readonly InputEmbeddings[];
  /**
   * The caller reads only the k largest logits of the last row (1: its argmax; SamplerChain.deviceTopK):
   * a backend may leave the others -Infinity. The WebGPU context selects them on the device and reads
   * back k (value, id) pairs instead of the row; the CPU ignores it.
   */
  topK?: number;
  /**
   * Continue a forward instead of starting one: `hidden` holds, for each token, the residual stream
   * after layer `layer`-1 (nEmbd values a token), and only layers layer.. run; the cache must
   * already hold layers 0..layer-1 at these positions. A layer-skip draft that shares this
   * context's cache kept both (runtime/spec/shared-kv.ts), so the target's verify does not run its
   * first layers again.
   */
  from?: HiddenStart;
  /** Copy the last token's residual stream after this context's last layer here (nEmbd values): what `from` continues. */
  residual?: Float32Array;
}

/** Hidden states to continue a forward from: see DecodeOptions.from. */
export interface HiddenStart {
  layer: number;
  hidden: Float32Array;
}

const NO_EMBEDDINGS: readonly InputEmbeddings[] = [];

export class Context {
  readonly nCtx: number;
  readonly batch: number;
  readonly kv: KVStore;
  /** Values in a logits row: the vocabulary, or the rows of a restricted head. */
  readonly nLogits: number;
  private readonly scratch: DecoderScratch;
  private readonly pass: ForwardPass;
  /** Number of positions already in the cache. */
  nPast = 0;
  /** The tokens at positions 0..nPast-1, so a later prompt can reuse the common prefix. */
  readonly tokens: number[] = [];

  private readonly kernels: Kernels;

  constructor(kernels: Kernels, private readonly arch: Architecture, readonly hp: DecoderHParams, private readonly w: unknown, opts: ContextOptions = {}) {
    this.kernels = opts.kernels ?? kernels;
    const nCtx = opts.ctx ?? Math.min(hp.nCtxTrain, 4096);
    if (!Number.isInteger(nCtx) || nCtx <= 0) throw new ArgumentError(`context size must be a positive integer, got ${nCtx}`);
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(batch) || batch <= 0) throw new ArgumentError(`batch size must be a positive integer, got ${batch}`);
    this.nCtx = nCtx;
    this.batch = Math.min(batch, nCtx);
    const alloc = kernels.allocF32 ? (n: number) => kernels.allocF32!(n) : undefined;
    const nLayer = opts.layers ?? hp.nLayer;
    if (!Number.isInteger(nLayer) || nLayer < 1 || nLayer > hp.nLayer) throw new ArgumentError(`layers must be an integer in 1..${hp.nLayer}, got ${nLayer}`);
    const head = opts.head?.matrix;
    if (head && (head.cols !== hp.nEmbd || head.rows > hp.nVocab)) throw new ArgumentError(`head ${head.name}: ${head.rows}x${head.cols} does not project ${hp.nEmbd} features to at most ${hp.nVocab} logits`);
    if (head && opts.head!.ids.length !== head.rows) throw new ArgumentError(`head ${head.name}: ${head.rows} rows but ${opts.head!.ids.length} vocabulary ids`);
    this.nLogits = head?.rows ?? hp.nVocab;
    const mla = opts.mlaCache ?? (typeof opts.cacheType === 'object' ? opts.cacheType.mla : undefined) ?? 'expanded';
    if (mla !== 'expanded' && mla !== 'latent') throw new ArgumentError(`mlaCache must be 'expanded' or 'latent', got ${JSON.stringify(mla)}`);
    const latent = mla === 'latent' && hp.latentKV !== undefined;
    const shape = { nLayer, nCtx, nHeadKv: hp.nHeadKv, headDim: hp.headDim, headDimV: hp.headDimV, ...(latent ? hp.latentKV : {}) };
    if (opts.kv) {
      const k = opts.kv;
      if (k.nLayer !== shape.nLayer || k.nCtx !== nCtx || k.nHeadKv !== shape.nHeadKv || k.headDim !== shape.headDim || k.headDimV !== shape.headDimV) {
        throw new ArgumentError(`kv: a store of ${k.nLayer} layers x ${k.nCtx} positions x ${k.nHeadKv} heads of ${k.headDim}/${k.headDimV} is not the ${shape.nLayer} x ${nCtx} x ${shape.nHeadKv} x ${shape.headDim}/${shape.headDimV} this context needs`);
      }
    }
    this.ownsKV = !opts.kv;
    this.kv = opts.kv ?? createKVStore(opts.cacheType ?? opts.kvType ?? 'f16', this.kernels, shape);
    this.scratch = new DecoderScratch(hp, this.batch, alloc);
    this.pass = new ForwardPass(this.kernels, hp, this.kv, this.scratch);
    this.pass.nLayer = nLayer;
    this.pass.latentKV = latent;
    this.pass.head = head ?? null;
    this.pass.headIds = opts.head?.ids ?? null;
  }

  private readonly ownsKV: boolean;
  private disposed = false;
  private readonly disposers: (() => void)[] = [];

  /** Run `fn` when this context is disposed (what was made for it, a speculative drafter's own context, goes with it). */
  onDispose(fn: () => void): void {
    this.disposers.push(fn);
  }

  /** Give the KV cache and scratch back to the kernels' memory. The context is unusable after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const fn of this.disposers.splice(0)) fn();
    if (this.ownsKV) this.kv.dispose();
    for (const b of this.scratch.buffers()) this.kernels.release?.(b);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Forget everything after position `n` (0 clears the sequence). */
  truncate(n = 0): void {
    if (n < 0 || n > this.nPast) throw new ArgumentError(`cannot truncate to ${n}: context holds ${this.nPast} positions`);
    this.nPast = n;
    this.tokens.length = n;
    this.kv.truncate(n);
  }

  /**
   * Take positions nPast..n-1 as computed, holding tokens[nPast..n): another context that shares
   * this one's KV store (opts.kv) has put their keys and values there.
   */
  adopt(tokens: ArrayLike<number>, n: number): void {
    if (this.ownsKV) throw new ArgumentError('adopt: this context owns its KV store; only one sharing another\'s can take positions computed there');
    if (!(Number.isInteger(n) && n >= this.nPast && n <= this.kv.length && n <= tokens.length)) throw new ArgumentError(`adopt: cannot take positions up to ${n}: the context holds ${this.nPast}, the store ${this.kv.length}, the tokens ${tokens.length}`);
    for (let i = this.nPast; i < n; i++) this.tokens.push(tokens[i]!);
    this.nPast = n;
  }

  /**
   * Append tokens at nPast. With `logits: 'last'` returns the last token's logits (a view that the
   * next call overwrites); with `onLogits`, calls it with each token's logits row as it is computed.
   * `embeddings` put rows (an image's, say) in place of the embeddings of the tokens they cover.
   */
  decode(tokens: ArrayLike<number>, opts: DecodeOptions = {}): Float32Array | undefined {
    const n = tokens.length;
    if (this.disposed) throw new ArgumentError('decode: this context has been disposed');
    if (n === 0) throw new ArgumentError('decode: no tokens');
    if (this.nPast + n > this.nCtx) {
      throw new ArgumentError(`context full: ${this.nPast} + ${n} tokens exceed the context size ${this.nCtx}`);
    }
    const nVocab = this.nLogits;
    const embeddings = opts.embeddings ?? NO_EMBEDDINGS;
    for (const e of embeddings) {
      if (!(Number.isInteger(e.start) && e.start >= 0 && e.data.length % this.hp.nEmbd === 0 && e.start + e.data.length / this.hp.nEmbd <= n)) {
        throw new ArgumentError(`decode: input embeddings of ${e.data.length} values at token ${e.start} are not whole rows of ${this.hp.nEmbd} within the ${n} tokens`);
      }
    }
    if (opts.onHidden && opts.onLogits) throw new ArgumentError('decode: onHidden and onLogits cannot be asked together');
    const from = opts.from, d = this.hp.nEmbd;
    if (from) {
      if (!(Number.isInteger(from.layer) && from.layer >= 1 && from.layer <= this.pass.nLayer)) throw new ArgumentError(`decode: cannot start at layer ${from.layer} of a context running layers 0..${this.pass.nLayer - 1}`);
      if (from.hidden.length < n * d) throw new ArgumentError(`decode: ${from.hidden.length} hidden values do not cover ${n} tokens of ${d}`);
      if (embeddings.length) throw new ArgumentError('decode: input embeddings and hidden states cannot be given together (hidden states start past the embedding)');
      if (this.kv.length < this.nPast + n) throw new ArgumentError(`decode: continuing from layer ${from.layer} needs the cache's first layers at positions up to ${this.nPast + n - 1}; it holds ${this.kv.length}`);
    }
    if (opts.residual && opts.residual.length < d) throw new ArgumentError(`decode: a residual buffer of ${opts.residual.length} values cannot hold ${d}`);
    let out: Float32Array | undefined;
    for (let i = 0; i < n; i += this.batch) {
      const m = Math.min(this.batch, n - i);
      const chunk = sliceLike(tokens, i, m);
      const isLast = i + m === n;
      const mode = opts.onHidden ? 'hidden' : opts.onLogits ? 'all' : isLast && opts.logits !== 'none' ? 'last' : 'none';
      const f = this.pass;
      f.tokens = chunk; f.nTok = m; f.pos0 = this.nPast; f.logits = mode; f.offset = i; f.embeddings = embeddings;
      f.layer0 = from ? from.layer : 0;
      if (from) this.scratch.x.set(from.hidden.subarray(i * d, (i + m) * d));
      this.arch.forward(f, this.w);
      if (isLast && opts.residual) opts.residual.set(this.scratch.x.subarray((m - 1) * d, m * d));
      this.nPast += m;
      for (let t = 0; t < m; t++) this.tokens.push(chunk[t]!);
      if (opts.onLogits) {
        for (let t = 0; t < m; t++) opts.onLogits(i + t, this.scratch.logits.subarray(t * nVocab, (t + 1) * nVocab));
      }
      if (opts.onHidden) {
        for (let t = 0; t < m; t++) opts.onHidden(i + t, this.scratch.xn.subarray(t * d, (t + 1) * d));
      }
      if (isLast && (mode === 'all' || mode === 'last')) {
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
