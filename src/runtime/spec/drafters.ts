// Drafters: what proposes the tokens a speculative loop verifies. A draft model (another model with
// the same vocabulary, the target's own first layers, either with an FR-Spec head) samples them
// through its own copy of the sampler chain and reports the distribution each was drawn from; prompt
// lookup copies them from earlier in the sequence (a point mass: no distribution).

import { ArgumentError } from '../../core/errors.js';
import type { Tokenizer } from '../../tokenizer/index.js';
import type { Context, HiddenStart } from '../context.js';
import { SamplerChain, type SamplingOptions, type TokenConstraint } from '../sampler.js';
import { GpuContext } from '../gpu-context.js';
import { TokenStepper } from '../stepper.js';
import { copyDist, drawFrom, probOf, type Dist } from './rejection.js';
import { lookupDraft } from './lookup.js';
import type { SharedPrefixKV } from './shared-kv.js';

export interface Draft {
  tokens: number[];
  /** The distribution tokens[i] was drawn from; null: a point mass (a lookup or greedy draft). */
  q: (Dist | null)[];
  /**
   * A layer-skip draft sharing the target's cache: the residual stream after its last layer for the
   * sequence's last token and each drafted token (rows 0..tokens.length), their first layers' keys
   * and values already in the target's cache; the verify continues from there (DecodeOptions.from).
   * Valid until the next draft().
   */
  hidden?: HiddenStart;
}

/** A constraint the draft may advance and take back (src/grammar's TokenMatcher is one). */
export interface RewindableConstraint extends TokenConstraint {
  checkpoint(): unknown;
  rollback(state: unknown): void;
}

export interface Drafter {
  readonly name: string;
  /** Called once per generation with its sampling options and constraint. */
  begin(opts: SamplingOptions, constraint?: TokenConstraint): void;
  /**
   * Up to n tokens that may follow `seq` (the whole sequence: prompt and generated tokens). The
   * Draft may be the drafter's own object, refilled by the next call: read it before calling again.
   */
  draft(seq: readonly number[], n: number): Promise<Draft>;
  dispose(): void;
}

/** Prompt lookup: the continuation of the sequence's last n-gram where it occurred before. */
export class LookupDrafter implements Drafter {
  readonly name = 'lookup';
  constructor(private readonly ngramMin: number, private readonly ngramMax: number) {}
  private readonly out: Draft = { tokens: [], q: [] };
  begin(): void {}
  async draft(seq: readonly number[], n: number): Promise<Draft> {
    const out = this.out;
    out.tokens = lookupDraft(seq, n, this.ngramMin, this.ngramMax);
    out.q.length = 0;
    for (let i = 0; i < out.tokens.length; i++) out.q.push(null);
    return out;
  }
  dispose(): void {}
}

/** Tokens a model at the other end may propose but the target cannot take: llama.cpp's SPEC_VOCAB_MAX_SIZE_DIFFERENCE. */
const MAX_VOCAB_DIFFERENCE = 128;

/**
 * Refuse a draft whose vocabulary is not the target's: sizes within MAX_VOCAB_DIFFERENCE (padding)
 * and the same text for every id both have, with the same BOS and EOS.
 */
export function checkDraftVocab(target: Tokenizer, draft: Tokenizer, targetName: string, draftName: string): void {
  const fail = (why: string) => { throw new ArgumentError(`draft model ${draftName} cannot draft for ${targetName}: ${why}`); };
  if (Math.abs(target.vocabSize - draft.vocabSize) > MAX_VOCAB_DIFFERENCE) fail(`vocabularies of ${draft.vocabSize} and ${target.vocabSize} tokens`);
  if (target.bos !== draft.bos || target.eos !== draft.eos) fail(`BOS/EOS ids ${draft.bos}/${draft.eos} differ from ${target.bos}/${target.eos}`);
  const n = Math.min(target.vocabSize, draft.vocabSize);
  for (let id = 0; id < n; id++) {
    const a = target.tokenText(id), b = draft.tokenText(id);
    if (a !== b) fail(`token ${id} is ${JSON.stringify(b)} in the draft but ${JSON.stringify(a)} in the target`);
  }
}

export interface ModelDrafterOptions {
  /** The draft's vocabulary when its head covers only part of it (FR-Spec): logits come one per id. */
  subset?: Int32Array;
  /** Stop drafting when the draft's confidence in its next token is below this (default 0). */
  pMin?: number;
  /** Called when the drafter is disposed (to free an FR-Spec head, say). */
  onDispose?: () => void;
  /**
   * A layer-skip draft whose context's store is a view of the target's (spec/shared-kv.ts): the
   * positions the target context holds are taken, not run again.
   */
  shared?: { target: Context; kv: SharedPrefixKV; keepHidden?: boolean };
}

/** Top softmax probability of a logits row: a greedy draft's confidence. */
function topProb(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return 1 / sum;
}

export class ModelDrafter implements Drafter {
  private chain: SamplerChain | undefined;
  private constraint: RewindableConstraint | undefined;
  /** How many tokens of the current generation's sequence the chain has accepted. */
  private seen = 0;
  private readonly stepper: TokenStepper;
  private readonly subset: Int32Array | undefined;
  private readonly pMin: number;
  private readonly one = new Int32Array(1);
  private readonly two = new Int32Array(CATCH_UP_MAX);
  private readonly out: Draft = { tokens: [], q: [] };
  /** With shared.keepHidden: the kept residual rows (Draft.hidden) and a view of each, grown to the longest draft. */
  private kept: HiddenStart | undefined;
  private keptRows: Float32Array[] = [];

  constructor(readonly name: string, readonly ctx: Context, private readonly tok: Tokenizer, private readonly opts: ModelDrafterOptions = {}) {
    this.stepper = new TokenStepper(ctx);
    this.subset = opts.subset;
    this.pMin = opts.pMin ?? 0;
    if (!(this.pMin >= 0 && this.pMin <= 1)) throw new ArgumentError(`pMin must be in [0, 1], got ${this.pMin}`);
  }

  begin(opts: SamplingOptions, constraint?: TokenConstraint): void {
    // Its own stream of draws: the draft's and the target's RNG must not move together.
    const seed = opts.seed === undefined ? undefined : (opts.seed ^ 0x5bd1e995) >>> 0;
    this.chain = new SamplerChain(this.ctx.hp.nVocab, { ...opts, seed });
    const c = constraint as Partial<RewindableConstraint> | undefined;
    // A constraint that cannot be taken back is left to the target alone: drafts stay exact, only less likely accepted.
    this.constraint = c && typeof c.checkpoint === 'function' && typeof c.rollback === 'function' ? (c as RewindableConstraint) : undefined;
    this.seen = 0;
  }

  async draft(seq: readonly number[], n: number): Promise<Draft> {
    const chain = this.chain;
    if (!chain) throw new ArgumentError('draft: begin() was not called');
    // One Draft object, refilled each round: the loop reads it before asking for the next.
    const out = this.out;
    out.tokens.length = 0;
    out.q.length = 0;
    out.hidden = undefined;
    if (n <= 0 || seq.length === 0) return out;
    for (; this.seen < seq.length; this.seen++) chain.accept(seq[this.seen]!);
    let from = this.stepper.reusePrefix(seq);
    const shared = this.opts.shared;
    if (shared) {
      // The target holds seq's first t tokens (all but the last, in the speculative loop): their
      // keys and values of this draft's layers are in the shared store already.
      const t = Math.min(shared.target.nPast, seq.length - 1);
      let n = from;
      while (n < t && shared.target.tokens[n] === seq[n]) n++;
      if (n > from) {
        shared.kv.extendTo(n);
        this.ctx.adopt(seq, n);
        from = n;
      }
    }
    const keep = shared?.keepHidden ? this.keepRows(n + 1, shared.kv.nLayer) : undefined;
    const one = this.one;
    let logits: Float32Array;
    if (seq.length - from <= CATCH_UP_MAX && !(this.ctx instanceof GpuContext)) {
      // The usual round: the target's new token, or the last drafted one and it. Decoded here, with
      // no event-loop turn (the verify batch gives one a round) and no copy of the sequence's tail.
      const tail = seq.length - from === 1 ? one : this.two;
      for (let i = from; i < seq.length; i++) tail[i - from] = seq[i]!;
      logits = this.ctx.decode(tail, keep ? { logits: 'last', residual: keep[0] } : LAST)!;
    } else {
      // A prompt: in micro-batches, giving the event loop its turns.
      logits = await this.stepper.decode(seq.slice(from), undefined, undefined, keep ? { residual: keep[0] } : NO_HIDDEN);
    }
    const cp = chain.checkpoint();
    const cc = this.constraint?.checkpoint();
    try {
      for (let i = 0; i < n; i++) {
        const d = chain.distribution(logits, this.constraint, this.subset);
        if (d.n === 0) break;
        let x: number, q: Dist | null;
        if (chain.isGreedy) {
          x = d.ids[0]!;
          q = null;
          if (this.pMin > 0 && topProb(logits) < this.pMin) break;
        } else {
          x = drawFrom(d, chain.uniform());
          if (this.pMin > 0 && probOf(d, x) < this.pMin) break;
          q = copyDist(d);
        }
        out.tokens.push(x);
        out.q.push(q);
        if (i + 1 === n || this.tok.isEog(x)) break;
        chain.accept(x);
        this.constraint?.accept(x);
        if (this.constraint?.finished) break;
        // Synchronously: a draft step is a fraction of the target's, and the event loop gets its turn
        // after the catch-up decode above and after the verify batch; a turn per drafted token cost
        // more than a small draft's step.
        one[0] = x;
        logits = this.ctx.decode(one, keep ? { logits: 'last', residual: keep[i + 1] } : LAST)!;
      }
      // The last drafted token through the draft's layers too (no head): the verify starts past them.
      const m = out.tokens.length;
      if (keep && m > 0) {
        one[0] = out.tokens[m - 1]!;
        this.ctx.decode(one, { logits: 'none', residual: keep[m] });
      }
      if (keep) out.hidden = this.kept;
    } finally {
      chain.rollback(cp, true); // fresh uniforms next round (SamplerChain.rollback)
      if (this.constraint) this.constraint.rollback(cc);
    }
    return out;
  }

  /** Views of at least `rows` kept residual rows (Draft.hidden), grown when a draft is longer than any before. */
  private keepRows(rows: number, layer: number): Float32Array[] {
    if (this.keptRows.length < rows) {
      const d = this.ctx.hp.nEmbd;
      const hidden = new Float32Array(rows * d);
      this.kept = { layer, hidden };
      this.keptRows = Array.from({ length: rows }, (_, r) => hidden.subarray(r * d, (r + 1) * d));
    }
    return this.keptRows;
  }

  dispose(): void {
    this.ctx.dispose();
    this.opts.onDispose?.();
  }
}

const NO_HIDDEN = {};
/**
 * The most tokens a round's catch-up decode runs: the target's token after a rejection (1), or the
 * last drafted token and the target's extra one after a fully kept draft (2).
 */
const CATCH_UP_MAX = 2;
const LAST = { logits: 'last' } as const;
