// Speculative decoding: a drafter (runtime/spec/drafters.ts: a draft model, the target's own first
// layers, prompt lookup; an FR-Spec head on either model) proposes up to nDraft tokens, the target
// runs them in one batch, and each is kept or replaced by the acceptance rule (spec/rejection.ts):
// greedy output equals plain decoding token for token, sampled output has the target's
// distribution. The target's sampler chain (bias, penalties, top-k/p, min-p, grammar) judges every
// position in order, so it sees exactly the tokens plain decoding would; the draft runs its own copy
// of the chain. Rejected positions are cut from both caches (Context.truncate). The same stepper,
// chain and text stream as generate.ts, composed around a verify step instead of a plain one.

import { AbortError, ArgumentError } from '../core/errors.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { Context } from './context.js';
import { finalChunk, startGeneration, type GenerateChunk, type GenerateOptions, type StopReason } from './generate.js';
import type { Model } from './model.js';
import { checkDraftVocab, LookupDrafter, ModelDrafter, type Draft, type Drafter } from './spec/drafters.js';
import { frSpecSubset, restrictedHead } from './spec/fr-spec.js';
import { checkLookup, type LookupOptions } from './spec/lookup.js';
import { acceptRejectionSampling, type AcceptRule } from './spec/rejection.js';
import { canShareKV, SharedPrefixKV } from './spec/shared-kv.js';
import { GpuContext } from './gpu-context.js';
import { TokenStepper, type HiddenOptions } from './stepper.js';

export interface SpeculativeOptions {
  /** A draft model with the target's vocabulary (token texts are compared). */
  draft?: Model;
  /** Self-drafting: the target's own first N layers and its head draft for it (layer skip). */
  layers?: number;
  /** Prompt lookup: draft the continuation of the last n-gram seen earlier (no draft model). */
  lookup?: boolean | LookupOptions;
  /** Layer skip: read the target's KV cache of the shared layers instead of a copy (default true; false to measure the copy). */
  shareKV?: boolean;
  /**
   * Layer skip with a shared cache: the verify continues from the draft's kept hidden states after
   * its layers instead of running the drafted tokens through those layers again (default true;
   * false to measure the recomputing path).
   */
  keepHidden?: boolean;
  /** Most tokens drafted per step (default 8; 10 for lookup). */
  nDraft?: number;
  /** Drafts shorter than this are not verified: a plain step instead (default 0). */
  nDraftMin?: number;
  /** A draft model stops drafting when its confidence in the next token is below this (default 0). */
  pMin?: number;
  /** FR-Spec: token ids by descending corpus frequency (`lutra fr-spec`); the draft's head keeps the first frSpecTokens. */
  frSpec?: ArrayLike<number>;
  /** How many ranked tokens the FR-Spec head keeps (default: all of frSpec). */
  frSpecTokens?: number;
  /** The acceptance rule (default: rejection sampling). For tests that show a wrong rule is caught. */
  acceptRule?: AcceptRule;
}

const DEFAULT_N_DRAFT = 8;
/** An empty draft (a plain step); never written to. */
const NO_DRAFT: Draft = { tokens: [], q: [] };
const DEFAULT_N_DRAFT_LOOKUP = 10;

/** Which drafter a set of options makes, so a cached one can be reused for equal options. */
export function drafterKey(o: SpeculativeOptions): unknown[] {
  return [o.draft, o.layers, JSON.stringify(o.lookup ?? null), o.frSpec, o.frSpecTokens, o.pMin, o.shareKV, o.keepHidden];
}

/** Refuse options that name no drafter, or several, or counts out of range. */
export function checkSpeculative(o: SpeculativeOptions): void {
  const kinds = [o.draft !== undefined, o.layers !== undefined, !!o.lookup].filter(Boolean).length;
  if (kinds !== 1) throw new ArgumentError(`speculative decoding needs exactly one drafter (draft, layers or lookup), got ${kinds}`);
  for (const [k, v] of Object.entries({ nDraft: o.nDraft, nDraftMin: o.nDraftMin, frSpecTokens: o.frSpecTokens })) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new ArgumentError(`speculative.${k} must be a non-negative integer, got ${v}`);
  }
  if (o.nDraft === 0) throw new ArgumentError('speculative.nDraft must be at least 1');
  if (o.pMin !== undefined && !(o.pMin >= 0 && o.pMin <= 1)) throw new ArgumentError(`speculative.pMin must be in [0, 1], got ${o.pMin}`);
  if (o.lookup && o.frSpec) throw new ArgumentError('speculative.frSpec restricts a draft model\'s head; prompt lookup has none');
  if (typeof o.lookup === 'object') checkLookup(o.lookup);
}

/**
 * Everything createDrafter would refuse for `target`, checked without allocating anything (a server
 * checks its options at startup, not at its first request): one drafter, counts in range, a draft
 * with the target's vocabulary, layers within the target's, FR-Spec ids within the draft's vocabulary.
 */
export function checkSpeculativeFor(target: Model, o: SpeculativeOptions): void {
  checkSpeculative(o);
  if (o.lookup) return;
  const model = o.draft ?? target;
  if (o.draft) checkDraftVocab(target.tokenizer, o.draft.tokenizer, target.file, o.draft.file);
  if (o.layers !== undefined && !(Number.isInteger(o.layers) && o.layers >= 1 && o.layers <= target.hparams.nLayer)) {
    throw new ArgumentError(`speculative.layers must be an integer in 1..${target.hparams.nLayer} (the target's layers), got ${o.layers}`);
  }
  if (o.frSpec) {
    const nVocab = model.hparams.nVocab;
    for (let i = 0; i < o.frSpec.length; i++) {
      const id = o.frSpec[i]!;
      if (!(Number.isInteger(id) && id >= 0 && id < nVocab)) throw new ArgumentError(`speculative.frSpec: token id ${id} is outside the draft's vocabulary (0..${nVocab - 1})`);
    }
  }
}

/** The drafter for `target` decoding in `ctx`: its own context (same size) on the draft model or the target. */
export function createDrafter(target: Model, ctx: Context, o: SpeculativeOptions): Drafter {
  checkSpeculativeFor(target, o);
  if (o.lookup) {
    const { ngramMin, ngramMax } = checkLookup(typeof o.lookup === 'object' ? o.lookup : {});
    return new LookupDrafter(ngramMin, ngramMax);
  }
  const model = o.draft ?? target;
  let subset: Int32Array | undefined;
  let head;
  let release: (() => void) | undefined;
  if (o.frSpec) {
    const nVocab = model.hparams.nVocab;
    subset = frSpecSubset(o.frSpec, o.frSpecTokens ?? o.frSpec.length, model.tokenizer, nVocab);
    head = restrictedHead(model.kernels, model.outputMatrix(), subset);
    const h = head;
    if (!h.format.lut) release = () => model.kernels.release?.(h.data);
  }
  // A layer-skip draft reads and writes the target's cache of the layers they share (spec/shared-kv.ts).
  const kv = !o.draft && o.layers !== undefined && o.shareKV !== false && canShareKV(ctx.kv) && sameHeads(ctx.kv, model.hparams) ? new SharedPrefixKV(ctx.kv, o.layers) : undefined;
  const dctx = model.createContext({ ctx: ctx.nCtx, batch: ctx.batch, layers: o.layers, head: head && subset ? { matrix: head, ids: subset } : undefined, kv });
  // Its hidden states after those layers are kept for the verify (a CPU target: the GPU forward starts at the embedding).
  const keepHidden = kv !== undefined && o.keepHidden !== false && !(ctx instanceof GpuContext);
  const name = o.draft ? `draft ${o.draft.file}` : o.layers !== undefined ? `layers 0..${o.layers - 1}${kv ? ', shared KV' : ''}${keepHidden ? ', kept hidden' : ''}` : 'target';
  return new ModelDrafter(subset ? `${name}, fr-spec ${subset.length}` : name, dctx, model.tokenizer, { subset, pMin: o.pMin, onDispose: release, shared: kv && { target: ctx, kv, keepHidden } });
}

/** The target's store has the heads a context of the model makes (not an MLA latent cache, say). */
function sameHeads(kv: Context['kv'], hp: Model['hparams']): boolean {
  return kv.nHeadKv === hp.nHeadKv && kv.headDim === hp.headDim && kv.headDimV === hp.headDimV;
}

export async function* generateSpeculative(
  ctx: Context, tok: Tokenizer, prompt: string | ArrayLike<number>, opts: GenerateOptions, drafter: Drafter,
): AsyncGenerator<GenerateChunk> {
  const spec = opts.speculative ?? {};
  const signal = opts.signal;
  const { ids, maxTokens, sampler, constraint, text, stopAtEog } = startGeneration(ctx, tok, prompt, opts);
  const nDraft = spec.nDraft ?? (spec.lookup ? DEFAULT_N_DRAFT_LOOKUP : DEFAULT_N_DRAFT);
  const nDraftMin = spec.nDraftMin ?? 0;
  const rule = spec.acceptRule ?? acceptRejectionSampling;
  const stepper = new TokenStepper(ctx, signal);
  drafter.begin(opts, constraint);

  // seq: the tokens whose keys and values are in ctx; `last` is the next one to run (the prompt's
  // last token at first, then the last token emitted), so the first generated token is verified too.
  const common = stepper.reusePrefix(ids);
  for (const id of ids) sampler.accept(id);
  const t0 = performance.now();
  if (ids.length - 1 > common) await stepper.decode(ids.slice(common, ids.length - 1));
  const t1 = performance.now();
  const seq = ids.slice(0, ids.length - 1);
  let last = ids[ids.length - 1]!;

  const nVocab = ctx.hp.nVocab;
  // The verify batch's logits rows: views of the context's own logits when the batch is one
  // micro-batch (they stay valid until its next decode, after every row is judged); copies only
  // when it is split, since a later micro-batch overwrites an earlier one's rows.
  const views: Float32Array[] = [];
  let copies: Float32Array | undefined;
  const keepView = (i: number, row: Float32Array) => { views[i] = row; };
  const keepCopy = (i: number, row: Float32Array) => {
    copies ??= new Float32Array((nDraft + 1) * nVocab);
    const dst = copies.subarray(i * nVocab, (i + 1) * nVocab);
    dst.set(row);
    views[i] = dst;
  };
  const batch: number[] = [];
  /** Where the verify starts: a layer-skip draft's kept hidden states, or (none) the embedding. */
  const from: HiddenOptions = {};
  const out: number[] = [];
  let drafted = 0, accepted = 0, steps = 0;
  const full = (n: number): StopReason | undefined => (maxTokens !== -1 && n >= maxTokens ? 'length' : seq.length >= ctx.nCtx ? 'context' : undefined);
  let reason = full(0);
  try {
    while (!reason) {
      const room = Math.min(nDraft, maxTokens === -1 ? Infinity : maxTokens - out.length - 1, ctx.nCtx - seq.length - 1);
      // `last` joins seq for the drafter's look and leaves again (no copy of the sequence per step).
      let draft = NO_DRAFT;
      if (room > 0) {
        seq.push(last);
        try { draft = await drafter.draft(seq, room); } finally { seq.pop(); }
      }
      // A layer-skip draft's kept rows cover `last` even when its tokens are dropped here.
      from.from = draft.hidden;
      if (draft.tokens.length < nDraftMin) draft = NO_DRAFT;
      if (signal?.aborted) throw new AbortError();
      batch.length = 0;
      batch.push(last);
      for (const t of draft.tokens) batch.push(t);
      await stepper.decode(batch, batch.length <= ctx.batch ? keepView : keepCopy, undefined, from);
      seq.push(last);
      steps++;
      drafted += draft.tokens.length;
      for (let i = 0; i <= draft.tokens.length && !reason; i++) {
        const logits = views[i]!;
        let id: number, kept = false;
        if (i === draft.tokens.length) {
          id = sampler.sample(logits, constraint); // every draft token kept: the step's extra token
        } else if (sampler.isGreedy) {
          id = sampler.sample(logits, constraint);
          kept = id === draft.tokens[i];
        } else {
          const p = sampler.distribution(logits, constraint);
          if (p.n === 0) id = -1;
          else ({ token: id, accepted: kept } = rule(p, draft.q[i]!, draft.tokens[i]!, () => sampler.uniform()));
        }
        if (id < 0) { reason = 'stop'; break; } // the grammar allows no token here
        if (kept) accepted++;
        sampler.accept(id);
        constraint?.accept(id);
        out.push(id);
        if (stopAtEog && tok.isEog(id)) { reason = 'eos'; break; }
        const piece = text.push(id);
        if (text.stopped) {
          if (piece) yield { done: false, token: id, text: piece };
          reason = 'stop';
          break;
        }
        yield { done: false, token: id, text: piece };
        if (signal?.aborted) throw new AbortError();
        if (constraint?.finished) { reason = 'eos'; break; }
        reason = full(out.length);
        if (kept) seq.push(id);
        else { last = id; break; }
      }
      // The rejected tail (and, on a stop, anything past the kept tokens) leaves the target's cache.
      ctx.truncate(seq.length);
    }
  } finally {
    if (ctx.nPast > seq.length) ctx.truncate(seq.length);
  }
  yield finalChunk(text, reason, out, ids.length, common, t0, t1, { speculative: { drafter: drafter.name, steps, drafted, accepted } });
}
