// The token stepper: runs tokens through a context and returns logits, giving the event loop a turn
// after every micro-batch (a server's /health, client disconnects and aborts must not wait for a
// whole prompt). What to do with the logits (sampling, verifying a draft) is the caller's.

import { AbortError } from '../core/errors.js';
import type { Context, DecodeOptions, HiddenStart } from './context.js';
import { GpuContext } from './gpu-context.js';

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** DecodeOptions.from and .residual, split over the micro-batches. */
export interface HiddenOptions {
  from?: HiddenStart;
  residual?: Float32Array;
}

export class TokenStepper {
  /** One-token input, reused so that stepping a token allocates nothing here. */
  private readonly one = new Int32Array(1);

  constructor(readonly ctx: Context, private readonly signal?: AbortSignal) {}

  /**
   * Keep the context's cached positions that match the start of `ids` (all but the last token at
   * most: its logits must be recomputed) and drop the rest. Returns the number kept.
   */
  reusePrefix(ids: ArrayLike<number>): number {
    const { ctx } = this;
    let common = 0;
    while (common < ctx.nPast && common < ids.length - 1 && ctx.tokens[common] === ids[common]) common++;
    ctx.truncate(common);
    return common;
  }

  /**
   * Decode `tokens` at the end of the context in micro-batches of ctx.batch, checking the signal
   * before and yielding to the event loop after each. Returns the last token's logits (a view the
   * next decode overwrites); with `onLogits`, each token's row as it is computed.
   */
  async decode(tokens: ArrayLike<number>, onLogits?: (index: number, logits: Float32Array) => void, topK?: number, hidden: HiddenOptions = {}): Promise<Float32Array> {
    const { ctx } = this;
    const d = ctx.hp.nEmbd;
    let logits: Float32Array | undefined;
    for (let i = 0; i < tokens.length; i += ctx.batch) {
      if (this.signal?.aborted) throw new AbortError();
      const whole = i === 0 && tokens.length <= ctx.batch;
      const part = whole ? tokens : Array.prototype.slice.call(tokens, i, i + ctx.batch);
      const last = i + ctx.batch >= tokens.length;
      const opts: DecodeOptions = onLogits ? { onLogits: (j: number, row: Float32Array) => onLogits(i + j, row) } : { logits: last ? 'last' as const : 'none' as const, topK };
      if (hidden.from) opts.from = whole ? hidden.from : { layer: hidden.from.layer, hidden: hidden.from.hidden.subarray(i * d) };
      if (last && hidden.residual) opts.residual = hidden.residual;
      // A WebGPU context (runtime/gpu-context.ts) decodes asynchronously.
      logits = ctx instanceof GpuContext ? await ctx.decodeAsync(part, opts) : ctx.decode(part, opts);
      await yieldToEventLoop();
    }
    return logits!;
  }

  /** decode([token]); topK as DecodeOptions.topK. */
  step(token: number, topK?: number): Promise<Float32Array> {
    this.one[0] = token;
    return this.decode(this.one, undefined, topK);
  }
}
