// What every KV store shares: its shape, how many positions it holds, and the checks on append and
// truncate (worded once, so every store names a full context or a hole the same way).

import { ArgumentError } from '../../core/errors.js';
import type { AttentionShape, KVShape } from '../../models/kv-store.js';

export abstract class KVStoreBase implements Readonly<KVShape> {
  readonly nLayer: number;
  readonly nCtx: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly headDimV: number;
  /** Positions 0..length-1 hold keys and values. */
  length = 0;

  constructor(shape: KVShape) {
    ({ nLayer: this.nLayer, nCtx: this.nCtx, nHeadKv: this.nHeadKv, headDim: this.headDim, headDimV: this.headDimV } = shape);
  }

  /** Throws unless positions pos0..pos0+nTok-1 fit the context and leave no hole. */
  protected checkAppend(pos0: number, nTok: number): void {
    if (pos0 + nTok > this.nCtx) throw new ArgumentError(`context full: positions ${pos0}..${pos0 + nTok - 1} exceed the context size ${this.nCtx}`);
    if (pos0 > this.length) throw new ArgumentError(`KV store: appending at position ${pos0} would leave a hole after position ${this.length - 1}`);
  }

  /** Throws unless the store can be cut back to n positions. */
  protected checkTruncate(n: number): void {
    if (!(Number.isInteger(n) && n >= 0 && n <= this.length)) throw new ArgumentError(`KV store: cannot truncate to ${n}: it holds ${this.length} positions`);
  }
}

/**
 * A store whose attention is one kernel run over its positions, optionally restricted to spans per
 * KV head: the sliding window and the sparse attention's block selection, worded once for the dense
 * and the packed stores.
 */
export abstract class SpanKVStoreBase extends KVStoreBase {
  /** One [start, end) span per KV head, for a sliding-window query (filled per query). */
  protected abstract readonly window: Int32Array;
  /** 1 per KV head. */
  protected abstract readonly windowCount: Int32Array;

  /** nTok queries from pos0 over every position before them, or over spanCount[kvh] spans of spans[kvh * spanStride]. */
  protected abstract run(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array, spans: Int32Array | null, spanCount: Int32Array | null, spanStride: number): void;

  attend(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array): void {
    const w = shape.window ?? 0;
    // Queries whose window still starts at position 0 attend as plain causal attention.
    const nFull = w ? Math.max(0, Math.min(nTok, w - pos0)) : nTok;
    if (nFull > 0) this.run(layer, q, nFull, pos0, shape, out, null, null, 0);
    // Past it, one query at a time over one span per KV head: its window.
    const qStride = shape.nHead * shape.headDim, oStride = shape.nHead * shape.headDimV;
    for (let t = nFull; t < nTok; t++) {
      const pos = pos0 + t;
      for (let h = 0; h < this.nHeadKv; h++) { this.window[2 * h] = pos - w + 1; this.window[2 * h + 1] = pos + 1; }
      this.run(layer, q.subarray(t * qStride), 1, pos, shape, out.subarray(t * oStride), this.window, this.windowCount, 2);
    }
  }

  /**
   * One query token at pos over only the given positions: kvh attends spanCount[kvh] [start, end)
   * pairs from spans[kvh * spanStride] (the sparse attention's block selection).
   */
  attendSpans(layer: number, q: Float32Array, pos: number, shape: AttentionShape, out: Float32Array, spans: Int32Array, spanCount: Int32Array, spanStride: number): void {
    this.run(layer, q, 1, pos, shape, out, spans, spanCount, spanStride);
  }
}
