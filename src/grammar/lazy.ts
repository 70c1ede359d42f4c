// Lazy grammars, as llama.cpp's grammar triggers: generation is free until a trigger appears in
// the output (a trigger token, or trigger text anywhere, or at the very start), and from the
// trigger on the grammar constrains every token, fed the output from the trigger's first
// character (a trigger text may have begun in earlier, free tokens). A token that would complete
// a trigger is allowed only if the grammar accepts the text from the trigger to the token's end,
// so a triggered part always matches. Used for tool_choice "auto": free text, or a tool call
// whose arguments validate. Triggers inside a thinking block (between `ignoreBetween`'s texts)
// do not count.

import type { Grammar } from './gbnf.js';
import { DEAD, decodeUtf8, NO_PARTIAL, type PartialUtf8 } from './matcher.js';
import { TokenMatcher, type TokenMatcherState, type TokenVocab } from './token-matcher.js';

export interface LazyTriggers {
  /** Token ids that start the constrained part. */
  tokens?: readonly number[];
  /** Texts that start it wherever they appear. */
  texts?: readonly string[];
  /** Texts that start it only at the start of the output (after whitespace). */
  startTexts?: readonly string[];
  /** Open and close texts of a block in which triggers do not count (a `<think>` block). */
  ignoreBetween?: readonly [string, string];
}

/** A grammar that applies from the first trigger on. */
export class LazyGrammar {
  constructor(readonly grammar: Grammar, readonly triggers: LazyTriggers) {
    if (!triggers.tokens?.length && !triggers.texts?.length && !triggers.startTexts?.length) throw new Error('LazyGrammar: no trigger given');
  }
}

interface LazyState { readonly text: string; readonly partial: PartialUtf8; readonly inner: TokenMatcherState | undefined }

/** Per vocabulary and trigger set: the tokens that may complete a trigger text (the rest never does). */
const mayTriggerCache = new WeakMap<TokenVocab, Map<string, Uint8Array>>();

/** The TokenConstraint of a LazyGrammar over a vocabulary (one generation: it keeps state). */
export class LazyMatcher {
  readonly inner: TokenMatcher;
  private state: LazyState = { text: '', partial: NO_PARTIAL, inner: undefined };
  private readonly tokenSet: Set<number>;
  private readonly texts: readonly string[];
  private readonly starts: readonly string[];
  private readonly window: number;
  private mayTrigger: Uint8Array | undefined;

  constructor(readonly lazy: LazyGrammar, readonly vocab: TokenVocab) {
    this.inner = new TokenMatcher(lazy.grammar, vocab);
    this.tokenSet = new Set(lazy.triggers.tokens ?? []);
    this.texts = lazy.triggers.texts ?? [];
    this.starts = lazy.triggers.startTexts ?? [];
    this.window = Math.max(0, ...[...this.texts, ...this.starts].map((t) => t.length));
  }

  /** The grammar has taken over. */
  get triggered(): boolean {
    return this.state.inner !== undefined;
  }

  /** Output text so far, up to the trigger (for tests and diagnostics). */
  get freeText(): string {
    return this.state.text;
  }

  /** Where a new trigger text starts in text (its end past `from`), or -1. */
  private findTrigger(text: string, from: number): number {
    let best = -1;
    const scanFrom = Math.max(0, from - this.window);
    for (const t of this.texts) {
      for (let k = text.indexOf(t, scanFrom); k >= 0; k = text.indexOf(t, k + 1)) {
        if (k + t.length <= from) continue;
        if (!this.ignored(text, k)) { if (best < 0 || k < best) best = k; break; }
      }
    }
    const lead = text.length - text.trimStart().length;
    for (const t of this.starts) if (text.startsWith(t, lead) && lead + t.length > from && (best < 0 || lead < best)) best = lead;
    return best;
  }

  private ignored(text: string, at: number): boolean {
    const ib = this.lazy.triggers.ignoreBetween;
    if (!ib) return false;
    const open = text.lastIndexOf(ib[0], at);
    return open >= 0 && open + ib[0].length <= at && text.lastIndexOf(ib[1], at) < open;
  }

  /** The state after a token, or undefined when it is not allowed. */
  next(id: number, from: LazyState = this.state): LazyState | undefined {
    if (from.inner !== undefined) {
      const s = this.inner.next(id, from.inner);
      return s && { text: from.text, partial: from.partial, inner: s };
    }
    if (this.tokenSet.has(id)) {
      // The trigger token itself: the grammar reads it from its initial state (as a token or as text).
      const s = this.inner.next(id, this.initial());
      return s && { text: from.text, partial: NO_PARTIAL, inner: s };
    }
    if (this.vocab.isEog(id)) return from;
    const d = decodeUtf8(this.vocab.tokenBytes(id, true), from.partial);
    const partial = d.partial.nRemain < 0 ? NO_PARTIAL : d.partial;
    const piece = d.partial.nRemain < 0 ? '\ufffd' : String.fromCodePoint(...d.cps);
    const text = from.text + piece;
    if (!this.window || !piece) return { text, partial, inner: undefined };
    const at = this.findTrigger(text, from.text.length);
    if (at < 0) return { text, partial, inner: undefined };
    // Feed the grammar everything from the trigger's first character, and any cut character after.
    const sp = this.inner.space;
    let set = this.initial().set;
    for (const ch of text.slice(at)) { set = sp.acceptChar(set, ch.codePointAt(0)!); if (set === DEAD) return undefined; }
    if (!sp.partialOk(set, partial)) return undefined;
    return { text: text.slice(0, at), partial: NO_PARTIAL, inner: { set, partial } };
  }

  private initial(): TokenMatcherState {
    return { set: this.inner.space.initial(), partial: NO_PARTIAL };
  }

  allows(id: number): boolean {
    return this.next(id) !== undefined;
  }

  accept(id: number): void {
    const s = this.next(id);
    if (!s) throw new Error(`lazy grammar: token ${id} is not allowed here`);
    this.state = s;
    if (s.inner) this.inner.rollback(s.inner);
  }

  fillMask(allowed: Uint8Array): number {
    if (this.state.inner) return this.inner.fillMask(allowed);
    // Free: every token but those that would start a part the grammar refuses.
    const may = this.mayTriggerTokens();
    let n = 0;
    for (let id = 0; id < allowed.length && id < may.length; id++) {
      if (!may[id] || this.allows(id)) { allowed[id] = 1; n++; }
    }
    return n;
  }

  private mayTriggerTokens(): Uint8Array {
    if (this.mayTrigger) return this.mayTrigger;
    const key = JSON.stringify([...this.tokenSet, this.texts, this.starts]);
    let byKey = mayTriggerCache.get(this.vocab);
    if (!byKey) { byKey = new Map(); mayTriggerCache.set(this.vocab, byKey); }
    let may = byKey.get(key);
    if (!may) {
      // A token completes a trigger text only if it holds the trigger's last character (or cut UTF-8).
      const lasts = new Set([...this.texts, ...this.starts].map((t) => t.codePointAt(t.length - 1)!));
      may = new Uint8Array(this.vocab.vocabSize);
      for (let id = 0; id < may.length; id++) {
        if (this.tokenSet.has(id)) { may[id] = 1; continue; }
        const d = decodeUtf8(this.vocab.tokenBytes(id, true));
        if (d.partial.nRemain !== 0 || d.cps.some((c) => lasts.has(c)) || (this.starts.length && d.cps.length === 0)) may[id] = 1;
      }
      byKey.set(key, may);
    }
    return (this.mayTrigger = may);
  }

  /** Nothing but the end can follow (only once triggered). */
  get finished(): boolean {
    return this.state.inner !== undefined && this.inner.finished;
  }

  checkpoint(): LazyState {
    return this.state;
  }

  rollback(state: unknown): void {
    this.state = state as LazyState;
    if (this.state.inner) this.inner.rollback(this.state.inner);
  }

  reset(): void {
    this.state = { text: '', partial: NO_PARTIAL, inner: undefined };
    this.inner.reset();
  }
}
