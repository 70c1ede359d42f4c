// Plain generation: prompt -> (prefix reuse) -> prefill -> sample -> stream text pieces, with max
// tokens, end-of-generation tokens, AbortSignal and timings. A composition of the token stepper
// (stepper.ts), the sampler chain (sampler.ts) and the text side (text-stream.ts: stop strings,
// UTF-8-safe pieces); a speculative loop composes the same three differently.

import { AbortError, ArgumentError } from '../core/errors.js';
import { type Grammar, grammarConstraint, LazyGrammar, LazyMatcher } from '../grammar/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { Context } from './context.js';
import type { SpeculativeOptions } from './speculative.js';
import { MAX_TOP_LOGPROBS, tokenLogprob, type TokenLogprob } from './logprobs.js';
import { SamplerChain, type SamplingOptions, type TokenConstraint } from './sampler.js';
import { TokenStepper } from './stepper.js';
import { TextStream } from './text-stream.js';

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
  /** Speculative decoding: verify steps run, draft tokens proposed and accepted. */
  speculative?: { drafter: string; steps: number; drafted: number; accepted: number };
}

export type GenerateChunk =
  | { done: false; token: number; text: string; logprob?: TokenLogprob }
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
  /**
   * Constrain the output: GBNF text, a parsed grammar, a lazy grammar (free until a trigger, then
   * constrained), or any TokenConstraint (used once: it keeps state).
   */
  grammar?: string | Grammar | LazyGrammar | TokenConstraint;
  /**
   * Give each token's log-probability and this many most likely alternatives (0..20) in its chunk's
   * `logprob`: log softmax of the model's logits plus logitBias at temperature 1 (see logprobs.ts).
   */
  logprobs?: number;
  /** Speculative decoding (runtime/speculative.ts): a drafter proposes tokens the model verifies in one batch. */
  speculative?: SpeculativeOptions;
}

export async function* generateTokens(
  ctx: Context, tok: Tokenizer, prompt: string | ArrayLike<number>, opts: GenerateOptions = {},
): AsyncGenerator<GenerateChunk> {
  const signal = opts.signal;
  const { ids, maxTokens, sampler, constraint, text, stopAtEog } = startGeneration(ctx, tok, prompt, opts);
  const stepper = new TokenStepper(ctx, signal);
  const full = (n: number): StopReason | undefined => (maxTokens !== -1 && n >= maxTokens ? 'length' : ctx.nPast >= ctx.nCtx ? 'context' : undefined);

  const common = stepper.reusePrefix(ids);
  for (const id of ids) sampler.accept(id);
  const t0 = performance.now();
  const nTop = opts.logprobs;
  // Logprobs and a grammar read the whole row; otherwise the chain may need only its top k.
  const topK = nTop === undefined && !constraint ? sampler.deviceTopK : 0;
  let logits = await stepper.decode(ids.slice(common), undefined, topK);
  const t1 = performance.now();

  if (nTop !== undefined && !(Number.isInteger(nTop) && nTop >= 0 && nTop <= MAX_TOP_LOGPROBS)) throw new ArgumentError(`logprobs must be an integer 0..${MAX_TOP_LOGPROBS}, got ${nTop}`);
  const bias = nTop === undefined ? undefined : opts.logitBias instanceof Map ? opts.logitBias : new Map(Object.entries(opts.logitBias ?? {}).map(([k, v]) => [Number(k), v]));

  const out: number[] = [];
  let reason = full(0);
  while (!reason) {
    const id = sampler.sample(logits, constraint);
    if (id < 0) { reason = 'stop'; break; } // the grammar allows no token here
    const logprob = nTop === undefined ? undefined : tokenLogprob(logits, bias, id, nTop);
    sampler.accept(id);
    constraint?.accept(id);
    out.push(id);
    if (stopAtEog && tok.isEog(id)) { reason = 'eos'; break; }
    const piece = text.push(id);
    if (text.stopped) {
      if (piece || logprob) yield { done: false, token: id, text: piece, ...(logprob ? { logprob } : {}) };
      reason = 'stop';
      break;
    }
    yield { done: false, token: id, text: piece, ...(logprob ? { logprob } : {}) };
    if (signal?.aborted) throw new AbortError();
    if (constraint?.finished) { reason = 'eos'; break; }
    reason = full(out.length);
    if (!reason) logits = await stepper.step(id, topK);
  }
  yield finalChunk(text, reason, out, ids.length, common, t0, t1);
}

/** What every generation loop sets up from its options: the prompt's ids (checked), maxTokens, the chain, the constraint, the text stream. */
export function startGeneration(ctx: Context, tok: Tokenizer, prompt: string | ArrayLike<number>, opts: GenerateOptions) {
  if (opts.signal?.aborted) throw new AbortError();
  const ids = typeof prompt === 'string'
    ? tok.encode(prompt, { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? true })
    : Array.from(prompt);
  if (ids.length === 0) throw new ArgumentError('the prompt is empty (no tokens; the model adds no BOS)');
  for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < ctx.hp.nVocab)) throw new ArgumentError(`prompt token id ${id} is outside the vocabulary (0..${ctx.hp.nVocab - 1})`);
  opts.onPromptTokens?.(ids);
  const maxTokens = opts.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < -1) throw new ArgumentError(`maxTokens must be an integer >= -1, got ${maxTokens}`);
  if (ids.length >= ctx.nCtx) throw new ArgumentError(`the prompt has ${ids.length} tokens, which does not fit the context size ${ctx.nCtx}`);
  const sampler = new SamplerChain(ctx.hp.nVocab, opts);
  const g = opts.grammar;
  const constraint = g === undefined ? undefined : g instanceof LazyGrammar ? new LazyMatcher(g, tok) : typeof g === 'object' && 'allows' in g ? g : grammarConstraint(g, tok);
  const text = new TextStream(tok, { special: opts.special, stop: opts.stop });
  return { ids, maxTokens, sampler, constraint, text, stopAtEog: opts.stopAtEog ?? true };
}

/** The closing chunk: what the text stream still holds, and the timings from the clock readings t0 (prompt), t1 (generation). */
export function finalChunk(text: TextStream, reason: StopReason, out: number[], promptTokens: number, cachedTokens: number, t0: number, t1: number, extra?: Pick<Timings, 'speculative'>): GenerateChunk {
  const tail = text.flush();
  const promptMs = t1 - t0, generateMs = performance.now() - t1;
  return {
    done: true,
    text: tail,
    stopReason: reason,
    tokens: out,
    timings: {
      promptTokens,
      cachedTokens,
      promptMs,
      generatedTokens: out.length,
      generateMs,
      promptTokensPerSecond: (promptTokens - cachedTokens) / Math.max(promptMs / 1000, 1e-9),
      tokensPerSecond: out.length / Math.max(generateMs / 1000, 1e-9),
      ...extra,
    },
  };
}
