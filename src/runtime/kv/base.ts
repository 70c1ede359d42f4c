// What every KV store shares: its shape, how many positions it holds, and the checks on append and
// truncate (worded once, so every store names a full context or a hole the same way).

import { ArgumentError } from '../../core/errors.js';
import type { KVShape } from '../../models/kv-store.js';

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
