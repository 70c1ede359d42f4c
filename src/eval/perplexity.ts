// Perplexity exactly as llama.cpp's llama-perplexity computes it: tokenize the whole text with BOS,
// cut non-overlapping windows of nCtx tokens (tail dropped), put BOS first in each window, run each
// from an empty cache, and score only the second half (logits at nCtx/2 .. nCtx-2 against the next
// tokens). PPL = exp(mean negative log-likelihood over all scored tokens).

import { ArgumentError, throwIfAborted } from '../core/errors.js';
import type { Model } from '../runtime/model.js';
import type { Context } from '../runtime/context.js';

export interface PerplexityOptions {
  /** Window size in tokens (llama-perplexity -c). Default 512. */
  ctx?: number;
  /** Evaluate at most this many windows (default all). */
  chunks?: number;
  batch?: number;
  signal?: AbortSignal;
  /** Called after each window with its index (0-based), the window count and the running PPL. */
  onChunk?: (p: { chunk: number; chunks: number; ppl: number }) => void;
}

export interface PerplexityResult {
  ppl: number;
  /** Standard error of the PPL estimate, as llama.cpp prints after ±. */
  pplError: number;
  /** Tokens scored. */
  tokens: number;
  chunks: number;
  /** Running PPL after each window. */
  perChunk: number[];
  seconds: number;
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Run one window from an empty cache, as llama-perplexity does, and hand over the logits of every
 * scored position (the second half, up to the last-but-one token): cb(position, logits).
 */
export function scoreWindow(ctx: Context, window: Int32Array, cb: (pos: number, logits: Float32Array) => void): void {
  const n = window.length, first = n >> 1;
  ctx.truncate(0);
  ctx.decode(window.subarray(0, first), { logits: 'none' });
  ctx.decode(window.subarray(first), {
    onLogits: (i, logits) => {
      if (first + i <= n - 2) cb(first + i, logits);
    },
  });
}

export async function perplexity(model: Model, text: string, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const nCtx = opts.ctx ?? 512;
  if (!Number.isInteger(nCtx) || nCtx < 4) throw new ArgumentError(`ctx must be an integer >= 4, got ${nCtx}`);
  const t0 = performance.now();
  // llama.cpp's tools drop one trailing newline of a file prompt.
  if (text.endsWith('\n')) text = text.slice(0, -1);
  const tokens = model.tokenize(text, { addSpecial: true, parseSpecial: false });
  const available = Math.floor(tokens.length / nCtx);
  if (available === 0) throw new ArgumentError(`the text has ${tokens.length} tokens, fewer than one window of ${nCtx} (lower --ctx)`);
  const nChunks = opts.chunks ? Math.min(opts.chunks, available) : available;
  const bos = model.tokenizer.bos;
  const addBos = model.tokenizer.addBos && bos !== undefined;
  const ctx = model.createContext({ ctx: nCtx, batch: opts.batch ?? Math.min(nCtx, 128) });
  let nll = 0, nll2 = 0, count = 0;
  const perChunk: number[] = [];
  const window = new Int32Array(nCtx);
  for (let c = 0; c < nChunks; c++) {
    throwIfAborted(opts.signal);
    window.set(tokens.slice(c * nCtx, (c + 1) * nCtx));
    if (addBos) window[0] = bos!;
    scoreWindow(ctx, window, (pos, logits) => {
      const target = window[pos + 1]!;
      let max = -Infinity;
      for (let j = 0; j < logits.length; j++) if (logits[j]! > max) max = logits[j]!;
      let sum = 0;
      for (let j = 0; j < logits.length; j++) sum += Math.exp(logits[j]! - max);
      const v = -(logits[target]! - max - Math.log(sum));
      nll += v;
      nll2 += v * v;
      count++;
    });
    const ppl = Math.exp(nll / count);
    perChunk.push(ppl);
    opts.onChunk?.({ chunk: c, chunks: nChunks, ppl });
    await yieldToEventLoop();
  }
  const mean = nll / count;
  const ppl = Math.exp(mean);
  const variance = nll2 / count - mean * mean;
  const pplError = count > 1 ? Math.sqrt(Math.max(variance, 0) / (count - 1)) * ppl : 0;
  return { ppl, pplError, tokens: count, chunks: nChunks, perChunk, seconds: (performance.now() - t0) / 1000 };
}
