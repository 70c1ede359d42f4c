// The generate loop: prompt -> (prefix reuse) -> prefill -> sample -> stream text pieces, with
// max tokens, stop strings, end-of-generation tokens, AbortSignal and timings.

import { AbortError, ArgumentError } from '../core/errors.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { StreamDecoder } from '../tokenizer/index.js';
import type { Context } from './context.js';
import { SamplerChain, type SamplingOptions } from './sampler.js';

export type StopReason = 'eos' | 'length' | 'stop' | 'context';

export interface Timings {
  promptTokens: number;
  /** Prompt tokens served from the context's cache instead of recomputed. */
  cachedTokens: number;
  promptMs: number;
  generatedTokens: number;
  generateMs: number;
  promptTokensPerSecond: number;
  tokensPerSecond: number;
}

export type GenerateChunk =
  | { done: false; token: number; text: string }
  | { done: true; text: string; stopReason: StopReason; timings: Timings; tokens: number[] };

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (default 256; -1 = until the context is full). */
  maxTokens?: number;
  /** Generation ends before any of these strings; the stop string itself is not emitted. */
  stop?: string[];
  signal?: AbortSignal;
  /** Add BOS/EOS as the model's tokenizer rules say (default true) when the prompt is text. */
  addSpecial?: boolean;
  /** Match special-token texts in the prompt (default true, as llama.cpp's tools do). */
  parseSpecial?: boolean;
  /** Emit control tokens' text (default false). */
  special?: boolean;
  /** Stop at end-of-generation tokens (default true). */
  stopAtEog?: boolean;
  /** Called once with the prompt's token ids. */
  onPromptTokens?: (ids: number[]) => void;
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
function heldBack(text: string, stops: string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(s.slice(0, k))) { hold = k; break; }
    }
  }
  return hold;
}

export async function* generateTokens(
  ctx: Context, tok: Tokenizer, prompt: string | ArrayLike<number>, opts: GenerateOptions = {},
): AsyncGenerator<GenerateChunk> {
  const signal = opts.signal;
  if (signal?.aborted) throw new AbortError();
  const ids = typeof prompt === 'string'
    ? tok.encode(prompt, { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? true })
    : Array.from(prompt);
  if (ids.length === 0) throw new ArgumentError('the prompt is empty (no tokens; the model adds no BOS)');
  for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < ctx.hp.nVocab)) throw new ArgumentError(`prompt token id ${id} is outside the vocabulary (0..${ctx.hp.nVocab - 1})`);
  opts.onPromptTokens?.(ids);
  const maxTokens = opts.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < -1) throw new ArgumentError(`maxTokens must be an integer >= -1, got ${maxTokens}`);
  if (ids.length >= ctx.nCtx) throw new ArgumentError(`the prompt has ${ids.length} tokens, which does not fit the context size ${ctx.nCtx}`);
  const stops = (opts.stop ?? []).filter((s) => s.length > 0);
  const sampler = new SamplerChain(ctx.hp.nVocab, opts);

  // Reuse the cached prefix; always recompute at least the last prompt token to get its logits.
  let common = 0;
  while (common < ctx.nPast && common < ids.length - 1 && ctx.tokens[common] === ids[common]) common++;
  ctx.truncate(common);
  for (const id of ids) sampler.accept(id);

  const t0 = performance.now();
  let logits: Float32Array | undefined;
  const rest = ids.slice(common);
  for (let i = 0; i < rest.length; i += ctx.batch) {
    if (signal?.aborted) throw new AbortError();
    const part = rest.slice(i, i + ctx.batch);
    logits = ctx.decode(part, { logits: i + ctx.batch >= rest.length ? 'last' : 'none' });
    // A turn for the event loop after every batch, the last one too: a server's /health, client
    // disconnects and signals must not wait for a whole request of short generations.
    await yieldToEventLoop();
  }
  const t1 = performance.now();

  const decoder = new StreamDecoder(tok, opts.special ?? false);
  const out: number[] = [];
  let pending = '';
  let emitted = '';
  let reason: StopReason = 'length';
  const stopAtEog = opts.stopAtEog ?? true;
  for (;;) {
    if (maxTokens !== -1 && out.length >= maxTokens) { reason = 'length'; break; }
    if (ctx.nPast >= ctx.nCtx) { reason = 'context'; break; }
    const id = sampler.sample(logits!);
    sampler.accept(id);
    out.push(id);
    if (stopAtEog && tok.isEog(id)) { reason = 'eos'; break; }
    pending += decoder.push(id);
    if (stops.length) {
      const hit = stops.map((s) => pending.indexOf(s)).filter((i) => i >= 0);
      if (hit.length) {
        const cut = Math.min(...hit);
        const piece = pending.slice(0, cut);
        if (piece) { emitted += piece; yield { done: false, token: id, text: piece }; }
        pending = '';
        reason = 'stop';
        break;
      }
    }
    const hold = stops.length ? heldBack(pending, stops) : 0;
    const piece = pending.slice(0, pending.length - hold);
    pending = pending.slice(pending.length - hold);
    emitted += piece;
    yield { done: false, token: id, text: piece };
    if (signal?.aborted) throw new AbortError();
    if (maxTokens !== -1 && out.length >= maxTokens) { reason = 'length'; break; }
    if (ctx.nPast >= ctx.nCtx) { reason = 'context'; break; }
    logits = ctx.decode([id], { logits: 'last' });
    await yieldToEventLoop();
  }
  const tail = reason === 'stop' ? '' : pending + decoder.flush();
  const t2 = performance.now();
  const promptMs = t1 - t0, generateMs = t2 - t1;
  yield {
    done: true,
    text: tail,
    stopReason: reason,
    tokens: out,
    timings: {
      promptTokens: ids.length,
      cachedTokens: common,
      promptMs,
      generatedTokens: out.length,
      generateMs,
      promptTokensPerSecond: rest.length / Math.max(promptMs / 1000, 1e-9),
      tokensPerSecond: out.length / Math.max(generateMs / 1000, 1e-9),
    },
  };
}
