// InfLLM v2 (MiniCPM4's sparse attention; arXiv 2509.24663, CPM.cu's minicpm4_attn): a query token
// attends only a selection of 64-token blocks of the cache. Selection, per KV head, from compressed
// keys ("semantic kernels", C1: the mean of 32 keys at stride 16, kept incrementally as the cache
// grows): each query head of the group scores every C1 (softmax over them, normalized by its own
// log-sum-exp: the paper's exact variant; CPM.cu approximates the LSE from coarser C2 keys to save
// a GPU pass), the group sums the probabilities, a block scores the max over the C1 entries that
// overlap it (max-pool: kernel 5, stride 4, padding 1 at the defaults), the init blocks always win,
// the local window's blocks are always attended, and the top-k blocks by score join them. All query
// heads of a group share the blocks. Below dense_len keys attention is dense (the inner store's own
// attend: bit-identical). Stage 2 is the inner store's attention over the selected spans.
//
// MiniCPM4 is trained for it (dense/sparse switchable); on any other model this is a training-free
// approximation whose cost is measured by `lutra eval ppl --sparse-attn infllm2`.
// Local window: whole blocks (the query's block and the window/block - 1 before it), as the
// max-pool's exclusion range, so no block is half covered.

import { ArgumentError } from '../../core/errors.js';
import type { GGUFValue } from '../../formats/gguf.js';
import { hpKey, type HParamKey } from '../../formats/gguf-names.js';
import { F32 } from '../../quant/float.js';
import { weightBytes } from '../../quant/types.js';
import type { Kernels, WeightMatrix } from '../../kernels/types.js';
import type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';
import { kvInts } from './dense.js';

export interface InfLLMv2Options {
  /** Tokens per block (64). */
  blockSize?: number;
  /** Keys averaged into one compressed key (32) and the stride between them (16). */
  kernelSize?: number;
  kernelStride?: number;
  /** Leading blocks always attended (1). */
  initBlocks?: number;
  /** Blocks chosen by score, the init blocks among them (64). */
  topk?: number;
  /** Trailing tokens always attended, in whole blocks (2048). */
  windowSize?: number;
  /** Queries that see at most this many keys attend densely (8192; 0: always sparse). */
  denseLen?: number;
}

/** MiniCPM4's sparse_config (its model card's values for MiniCPM4/4.1-8B). */
export const INFLLM2_DEFAULTS: Readonly<Required<InfLLMv2Options>> = {
  blockSize: 64, kernelSize: 32, kernelStride: 16, initBlocks: 1, topk: 64, windowSize: 2048, denseLen: 8192,
};

/** lutra's GGUF keys for a model's sparse_config (formats/hf-folder.ts writes them from config.json). */
const META_KEYS: ReadonlyArray<[HParamKey, keyof InfLLMv2Options]> = [
  ['sparseBlockSize', 'blockSize'], ['sparseKernelSize', 'kernelSize'], ['sparseKernelStride', 'kernelStride'], ['sparseInitBlocks', 'initBlocks'],
  ['sparseTopk', 'topk'], ['sparseWindowSize', 'windowSize'], ['sparseDenseLen', 'denseLen'],
];

/** The InfLLM v2 settings a model declares in its metadata (undefined: none declared). */
export function infllm2FromMetadata(md: ReadonlyMap<string, GGUFValue>, arch: string): InfLLMv2Options | undefined {
  let o: InfLLMv2Options | undefined;
  for (const [key, opt] of META_KEYS) {
    const v = md.get(hpKey(arch, key));
    if (v !== undefined) (o ??= {})[opt] = Number(v.value);
  }
  return o;
}

/** A store whose attention can be limited to spans of positions and whose keys can be read back. */
export interface SpanKVStore extends KVStore {
  attendSpans(layer: number, q: Float32Array, pos: number, shape: AttentionShape, out: Float32Array, spans: Int32Array, spanCount: Int32Array, spanStride: number): void;
  readKeys(layer: number, pos0: number, n: number, dst: Float32Array): void;
}

type MutableMatrix = { -readonly [K in keyof WeightMatrix]: WeightMatrix[K] };

export class InfLLMv2KVStore implements KVStore {
  readonly o: Readonly<Required<InfLLMv2Options>>;
  readonly nLayer: number;
  readonly nCtx: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly headDimV: number;
  /** Compressed keys the context can hold, per KV head. */
  private readonly cap: number;
  /** Per layer: nHeadKv matrices of cap x headDim f32 (C1), and how many rows are computed. */
  private readonly c1: Float32Array[] = [];
  private readonly c1Len: number[] = [];
  /** Per layer and KV head: C1 as a matrix of c1Len rows, for Kernels.matmul (rows set per query). */
  private readonly c1Mat: MutableMatrix[][] = [];
  private readonly local: number;
  private readonly poolStride: number;
  private keysTmp: Float32Array;
  /** Scores of a group's query heads over the compressed keys (grown to heads x cap once). */
  private scores: Float32Array = new Float32Array(0);
  private readonly groupScore: Float64Array;
  private readonly blockScore: Float64Array;
  private readonly sorted: Float64Array;
  private readonly chosen: Uint8Array;
  /** Spans per KV head ([start, end) pairs, spanStride apart) and their counts: the last selection. */
  readonly spans: Int32Array;
  readonly spanCount: Int32Array;
  readonly spanStride: number;
  /** Sparse steps (queries past dense_len) and the positions they attended, summed: the measured sparsity. */
  sparseQueries = 0;
  attendedKeys = 0;
  seenKeys = 0;

  constructor(private readonly kernels: Kernels, shape: KVShape, readonly inner: SpanKVStore, opts: InfLLMv2Options = {}) {
    const o = { ...INFLLM2_DEFAULTS, ...opts };
    for (const [k, v] of Object.entries(o)) {
      if (!(Number.isInteger(v) && v >= 0) || (v === 0 && k !== 'denseLen' && k !== 'initBlocks' && k !== 'windowSize')) throw new ArgumentError(`InfLLM v2: ${k} must be a ${k === 'denseLen' || k === 'initBlocks' || k === 'windowSize' ? 'non-negative' : 'positive'} integer, got ${v}`);
    }
    if (o.blockSize % o.kernelStride !== 0) throw new ArgumentError(`InfLLM v2: the block size ${o.blockSize} must be a multiple of the kernel stride ${o.kernelStride}`);
    if (o.kernelSize < o.kernelStride) throw new ArgumentError(`InfLLM v2: the kernel size ${o.kernelSize} must be at least its stride ${o.kernelStride}`);
    this.o = o;
    ({ nLayer: this.nLayer, nCtx: this.nCtx, nHeadKv: this.nHeadKv, headDim: this.headDim, headDimV: this.headDimV } = shape);
    this.cap = this.count(shape.nCtx);
    this.local = Math.ceil(o.windowSize / o.blockSize);
    this.poolStride = o.blockSize / o.kernelStride;
    const f32 = (n: number) => kernels.allocF32 ? kernels.allocF32(n) : new Float32Array(n);
    for (let l = 0; l < this.nLayer; l++) {
      const c = f32(Math.max(1, this.nHeadKv * this.cap * this.headDim));
      this.c1.push(c);
      this.c1Len.push(0);
      const mats: MutableMatrix[] = [];
      for (let h = 0; h < this.nHeadKv; h++) {
        const data = new Uint8Array(c.buffer, c.byteOffset + h * this.cap * this.headDim * 4, this.cap * this.headDim * 4);
        mats.push({ ...weightBytes(data), name: `infllm2.c1.${l}.${h}`, format: F32, rows: 0, cols: this.headDim, rowBytes: this.headDim * 4 });
      }
      this.c1Mat.push(mats);
    }
    this.keysTmp = new Float32Array(o.kernelSize * this.nHeadKv * this.headDim);
    this.groupScore = new Float64Array(Math.max(1, this.cap));
    const nBlocks = Math.ceil(shape.nCtx / o.blockSize);
    this.blockScore = new Float64Array(nBlocks);
    this.sorted = new Float64Array(nBlocks);
    this.chosen = new Uint8Array(nBlocks);
    this.spanStride = 2 * (o.topk + 2);
    this.spans = kvInts(kernels, this.nHeadKv * this.spanStride);
    this.spanCount = kvInts(kernels, this.nHeadKv);
  }

  /** Compressed keys over the first n positions: complete kernels only. */
  count(n: number): number {
    const { kernelSize: k, kernelStride: s } = this.o;
    return n >= k ? Math.floor((n - k) / s) + 1 : 0;
  }

  get length(): number { return this.inner.length; }

  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    this.inner.append(layer, pos0, keys, values, nTok);
    // Rewritten positions invalidate the compressed keys over them; new complete kernels are added.
    const have = Math.min(this.c1Len[layer]!, this.count(pos0));
    const want = this.count(pos0 + nTok);
    for (let i = have; i < want; i++) this.compress(layer, i);
    this.c1Len[layer] = want;
  }

  /** C1 entry i of one layer: per KV head, the mean of keys s*i .. s*i+k-1 as the cache holds them. */
  private compress(layer: number, i: number): void {
    const { kernelSize: k, kernelStride: s } = this.o;
    const hd = this.headDim, H = this.nHeadKv, stride = H * hd;
    this.inner.readKeys(layer, s * i, k, this.keysTmp);
    const c = this.c1[layer]!, t = this.keysTmp;
    for (let h = 0; h < H; h++) {
      const o = (h * this.cap + i) * hd;
      for (let d = 0; d < hd; d++) {
        let sum = 0;
        for (let j = 0; j < k; j++) sum += t[j * stride + h * hd + d]!;
        c[o + d] = sum / k;
      }
    }
  }

  /** The compressed keys of one layer and KV head (c1Len rows of headDim), for tests and tools. */
  compressed(layer: number, kvh: number): Float32Array {
    const o = kvh * this.cap * this.headDim;
    return this.c1[layer]!.subarray(o, o + this.c1Len[layer]! * this.headDim);
  }

  attend(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array): void {
    // Sliding-window layers keep their window; queries that see at most dense_len keys attend densely.
    const nDense = shape.window ? nTok : Math.max(0, Math.min(nTok, this.o.denseLen - pos0));
    if (nDense > 0) this.inner.attend(layer, q, nDense, pos0, shape, out);
    const qStride = shape.nHead * shape.headDim, oStride = shape.nHead * shape.headDimV;
    for (let t = nDense; t < nTok; t++) {
      const pos = pos0 + t, qt = q.subarray(t * qStride, (t + 1) * qStride);
      this.select(layer, qt, pos, shape);
      this.inner.attendSpans(layer, qt, pos, shape, out.subarray(t * oStride), this.spans, this.spanCount, this.spanStride);
    }
  }

  /**
   * The blocks one query token at pos attends, per KV head, into spans/spanCount: the init blocks,
   * the local window's blocks and the top-k of the rest by the group's compressed-key score.
   */
  select(layer: number, q: Float32Array, pos: number, shape: AttentionShape): void {
    if (pos >= this.inner.length) throw new ArgumentError(`KV store: attending to position ${pos}, but it holds ${this.inner.length}`);
    const { blockSize: B, initBlocks, topk } = this.o;
    const H = this.nHeadKv, hd = this.headDim, G = shape.nHead / H;
    if (this.scores.length < G * this.cap) {
      if (this.scores.length) this.kernels.release?.(this.scores);
      this.scores = this.kernels.allocF32 ? this.kernels.allocF32(Math.max(1, G * this.cap)) : new Float32Array(Math.max(1, G * this.cap));
    }
    const qb = Math.floor(pos / B);
    const nC = Math.min(this.count(pos + 1), this.c1Len[layer]!);
    const firstLocal = Math.max(0, qb - this.local + 1);
    const ps = this.poolStride;
    this.sparseQueries++;
    this.seenKeys += pos + 1;
    for (let h = 0; h < H; h++) {
      const chosen = this.chosen;
      chosen.fill(0, 0, qb + 1);
      for (let b = firstLocal; b <= qb; b++) chosen[b] = 1;
      // Candidates: blocks before the local window. Score: the group's summed softmax over C1.
      const nCand = firstLocal;
      if (nCand > 0) {
        const gs = this.groupScore;
        gs.fill(0, 0, nC);
        if (nC > 0) {
          const m = this.c1Mat[layer]![h]!;
          m.rows = nC;
          const y = this.scores.subarray(0, G * nC);
          this.kernels.matmul(m, q.subarray(h * G * hd, (h + 1) * G * hd), G, y);
          for (let g = 0; g < G; g++) {
            let max = -Infinity;
            for (let i = 0; i < nC; i++) max = Math.max(max, y[g * nC + i]! * shape.scale);
            let sum = 0;
            for (let i = 0; i < nC; i++) sum += Math.exp(y[g * nC + i]! * shape.scale - max);
            const lse = max + Math.log(sum);
            for (let i = 0; i < nC; i++) gs[i] += Math.exp(y[g * nC + i]! * shape.scale - lse);
          }
        }
        const bs = this.blockScore;
        let finite = 0;
        for (let b = 0; b < nCand; b++) {
          if (b < initBlocks) { bs[b] = Infinity; continue; }
          // Max-pool over the compressed keys overlapping block b (kernel ps + 1, stride ps, padding 1).
          const i0 = Math.max(0, b * ps - 1), i1 = Math.min(nC, b * ps + ps);
          let m = -Infinity;
          for (let i = i0; i < i1; i++) m = Math.max(m, gs[i]!);
          bs[b] = m;
          if (m > -Infinity) finite++;
        }
        const nInit = Math.min(initBlocks, nCand);
        if (nInit + finite <= topk) {
          for (let b = 0; b < nCand; b++) if (bs[b]! > -Infinity) chosen[b] = 1;
        } else {
          // The topk-th largest score; ties at it go to the earlier blocks.
          const srt = this.sorted.subarray(0, nCand);
          srt.set(bs.subarray(0, nCand));
          srt.sort();
          const thr = srt[nCand - topk]!;
          let left = topk;
          for (let b = 0; b < nCand; b++) if (bs[b]! > thr) { chosen[b] = 1; left--; }
          for (let b = 0; b < nCand && left > 0; b++) if (bs[b] === thr) { chosen[b] = 1; left--; }
        }
      }
      // Runs of chosen blocks as [start, end) spans (the kernel stops each at pos).
      let n = 0;
      const base = h * this.spanStride;
      for (let b = 0; b <= qb; b++) {
        if (!chosen[b]) continue;
        const start = b * B;
        if (n > 0 && this.spans[base + 2 * n - 1] === start) this.spans[base + 2 * n - 1] = start + B;
        else { this.spans[base + 2 * n] = start; this.spans[base + 2 * n + 1] = start + B; n++; }
        this.attendedKeys += Math.min(B, pos + 1 - start) / H;
      }
      this.spanCount[h] = n;
    }
  }

  truncate(n: number): void {
    this.inner.truncate(n);
    for (let l = 0; l < this.nLayer; l++) this.c1Len[l] = Math.min(this.c1Len[l]!, this.count(n));
  }

  copyPrefix(from: KVStore, n: number): void {
    if (!(from instanceof InfLLMv2KVStore) || from.cap !== this.cap || from.nLayer !== this.nLayer) throw new ArgumentError(`KV store: cannot copy from a ${from.constructor.name} into an InfLLM v2 store`);
    this.inner.copyPrefix(from.inner, n);
    const c = this.count(n);
    for (let l = 0; l < this.nLayer; l++) {
      this.c1[l]!.set(from.c1[l]!);
      this.c1Len[l] = Math.min(from.c1Len[l]!, c);
    }
  }

  get bytes(): number { return this.inner.bytes + this.nLayer * this.nHeadKv * this.cap * this.headDim * 4; }

  bytesUsed(): number { return this.inner.bytesUsed() + this.nLayer * this.nHeadKv * this.count(this.inner.length) * this.headDim * 4; }

  dispose(): void {
    this.inner.dispose();
    for (const c of this.c1) this.kernels.release?.(c);
    if (this.scores.length) this.kernels.release?.(this.scores);
    this.kernels.release?.(this.spans);
    this.kernels.release?.(this.spanCount);
    this.c1.length = 0;
  }
}
