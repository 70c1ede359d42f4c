// A grammar matched token by token against a vocabulary: "may this token come next?" in a few
// memoized transitions (one per code point of the token), and the full allowed set by one walk of
// a code-point trie of the vocabulary that prunes at the first rejected character, as
// llama.cpp's llama_grammar_reject_candidates shares prefixes. Each vocabulary's decoded tokens
// and trie are built once and cached. EOG tokens are allowed only where the grammar is complete;
// control tokens only through token elements (`<[id]>`, `!<...>`), never by their text, since
// their text is not part of the output.

import { type Grammar, parseGbnf } from './gbnf.js';
import { DEAD, decodeUtf8, NO_PARTIAL, type PartialUtf8, StackSpace } from './matcher.js';

/** What the matcher needs of a tokenizer (a subset of lutra's Tokenizer). */
export interface TokenVocab {
  readonly vocabSize: number;
  tokenBytes(id: number, special?: boolean): Uint8Array;
  isEog(id: number): boolean;
  isControl(id: number): boolean;
  /** For `<text>` token references in GBNF. */
  encode?(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
}

const KIND_TEXT = 0, KIND_EOG = 1, KIND_NEVER = 2, KIND_IRREGULAR = 3;

/** Per-vocabulary decode cache and code-point trie (built on first use, shared by all matchers). */
export class VocabIndex {
  readonly n: number;
  /** KIND_* per token. */
  readonly kind: Uint8Array;
  /** Code points of KIND_TEXT tokens: cps[cpStart[i] .. cpStart[i+1]). */
  private readonly cpStart: Uint32Array;
  private readonly cps: Uint32Array;
  /** Tokens whose bytes are not whole UTF-8 characters: decoded against the state's partial sequence. */
  readonly irregular: number[] = [];
  /** End-of-generation tokens and tokens never taken by their text (control, empty). */
  readonly eog: number[] = [];
  readonly never: number[] = [];
  private readonly bytes = new Map<number, Uint8Array>();
  private trieBuilt = false;
  // Trie nodes: incoming code point, children [childStart, childStart + childCount), tokens ending here.
  private nodeChar!: Uint32Array;
  private childStart!: Uint32Array;
  private childCount!: Uint32Array;
  private tokStart!: Uint32Array;
  private tokCount!: Uint32Array;
  private tokList!: Int32Array;

  constructor(vocab: TokenVocab) {
    const n = this.n = vocab.vocabSize;
    this.kind = new Uint8Array(n);
    this.cpStart = new Uint32Array(n + 1);
    const all: number[] = [];
    for (let id = 0; id < n; id++) {
      this.cpStart[id] = all.length;
      if (vocab.isEog(id)) { this.kind[id] = KIND_EOG; this.eog.push(id); continue; }
      if (vocab.isControl(id)) { this.kind[id] = KIND_NEVER; this.never.push(id); continue; }
      const b = vocab.tokenBytes(id, false);
      if (b.length === 0 || b[0] === 0) { this.kind[id] = KIND_NEVER; this.never.push(id); continue; }
      const d = decodeUtf8(b);
      if (d.partial.nRemain !== 0) {
        this.kind[id] = KIND_IRREGULAR;
        this.irregular.push(id);
        this.bytes.set(id, b);
        continue;
      }
      for (const cp of d.cps) all.push(cp);
    }
    this.cpStart[n] = all.length;
    this.cps = Uint32Array.from(all);
  }

  codePoints(id: number): Uint32Array {
    return this.cps.subarray(this.cpStart[id]!, this.cpStart[id + 1]!);
  }

  tokenBytes(id: number): Uint8Array {
    return this.bytes.get(id)!;
  }

  private buildTrie(): void {
    const ids: number[] = [];
    for (let id = 0; id < this.n; id++) if (this.kind[id] === KIND_TEXT) ids.push(id);
    const cmp = (a: number, b: number) => {
      const x = this.codePoints(a), y = this.codePoints(b);
      const m = Math.min(x.length, y.length);
      for (let i = 0; i < m; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return x.length - y.length || a - b;
    };
    ids.sort(cmp);
    const nodeChar: number[] = [0], childStart: number[] = [0], childCount: number[] = [0], tokStart: number[] = [0], tokCount: number[] = [0];
    const tokList: number[] = [];
    // Breadth first, so each node's children are contiguous: [node, lo, hi, depth] over sorted ids.
    const queue: number[][] = [[0, 0, ids.length, 0]];
    for (let q = 0; q < queue.length; q++) {
      const [node, lo0, hi, depth] = queue[q]!;
      let lo = lo0!;
      tokStart[node!] = tokList.length;
      while (lo < hi! && this.codePoints(ids[lo]!).length === depth) tokList.push(ids[lo++]!);
      tokCount[node!] = tokList.length - tokStart[node!]!;
      childStart[node!] = nodeChar.length;
      let count = 0;
      while (lo < hi!) {
        const c = this.codePoints(ids[lo]!)[depth!]!;
        let end = lo + 1;
        while (end < hi! && this.codePoints(ids[end]!)[depth!] === c) end++;
        const child = nodeChar.length;
        nodeChar.push(c); childStart.push(0); childCount.push(0); tokStart.push(0); tokCount.push(0);
        queue.push([child, lo, end, depth! + 1]);
        count++;
        lo = end;
      }
      childCount[node!] = count;
      queue[q] = [];
    }
    this.nodeChar = Uint32Array.from(nodeChar);
    this.childStart = Uint32Array.from(childStart);
    this.childCount = Uint32Array.from(childCount);
    this.tokStart = Uint32Array.from(tokStart);
    this.tokCount = Uint32Array.from(tokCount);
    this.tokList = Int32Array.from(tokList);
    this.trieBuilt = true;
  }

  get trieNodes(): number {
    if (!this.trieBuilt) this.buildTrie();
    return this.nodeChar.length;
  }

  /** Mark every text token whose code points the set takes to a live state. Returns how many. */
  walk(space: StackSpace, set: number, allowed: Uint8Array): number {
    if (!this.trieBuilt) this.buildTrie();
    let count = 0;
    const nodes: number[] = [0], sets: number[] = [set];
    while (nodes.length) {
      const node = nodes.pop()!, s = sets.pop()!;
      const start = this.childStart[node]!, end = start + this.childCount[node]!;
      for (let c = start; c < end; c++) {
        const s2 = space.acceptChar(s, this.nodeChar[c]!);
        if (s2 === DEAD) continue;
        const t0 = this.tokStart[c]!, t1 = t0 + this.tokCount[c]!;
        for (let t = t0; t < t1; t++) { allowed[this.tokList[t]!] = 1; count++; }
        if (this.childCount[c]) { nodes.push(c); sets.push(s2); }
      }
    }
    return count;
  }
}

const indexes = new WeakMap<TokenVocab, VocabIndex>();

/** The cached index of a vocabulary (decoding 150k tokens once is ~100 ms; the trie is built on first mask). */
export function vocabIndex(vocab: TokenVocab): VocabIndex {
  let ix = indexes.get(vocab);
  if (!ix) { ix = new VocabIndex(vocab); indexes.set(vocab, ix); }
  return ix;
}

/** A matcher state: the interned stack set and the UTF-8 sequence a token boundary cut. */
export interface TokenMatcherState { readonly set: number; readonly partial: PartialUtf8 }

/**
 * A grammar over a vocabulary. Cheap per-token checks (allows) for sample-then-check, a full mask
 * (fillMask) for when the sampled candidates are all rejected, checkpoint/rollback for
 * speculative decoding.
 */
export class TokenMatcher {
  readonly space: StackSpace;
  readonly index: VocabIndex;
  private state: TokenMatcherState;

  constructor(grammar: Grammar | StackSpace, readonly vocab: TokenVocab) {
    this.space = grammar instanceof StackSpace ? grammar : new StackSpace(grammar);
    this.index = vocabIndex(vocab);
    this.state = { set: this.space.initial(), partial: NO_PARTIAL };
  }

  /** The state after the token, or undefined when the grammar rejects it. */
  next(id: number, from: TokenMatcherState = this.state): TokenMatcherState | undefined {
    const { set, partial } = from;
    if (set === DEAD || !(id >= 0 && id < this.index.n)) return undefined;
    const sp = this.space;
    const kind = this.index.kind[id]!;
    if (kind === KIND_EOG) return sp.complete(set) && partial.nRemain === 0 ? from : undefined;
    const byToken = sp.wantsToken(set) ? sp.acceptTokenElement(set, id) : DEAD;
    if (kind === KIND_NEVER) return byToken === DEAD ? undefined : { set: byToken, partial: NO_PARTIAL };
    let s = set, tail: PartialUtf8 = NO_PARTIAL;
    if (kind === KIND_TEXT && partial.nRemain === 0) {
      for (const cp of this.index.codePoints(id)) { s = sp.acceptChar(s, cp); if (s === DEAD) break; }
    } else {
      const d = decodeUtf8(kind === KIND_TEXT ? this.vocab.tokenBytes(id, false) : this.index.tokenBytes(id), partial);
      if (d.partial.nRemain < 0) s = DEAD;
      else for (const cp of d.cps) { s = sp.acceptChar(s, cp); if (s === DEAD) break; }
      tail = d.partial;
      if (s !== DEAD && !sp.partialOk(s, tail)) s = DEAD;
    }
    if (byToken !== DEAD) {
      if (s === DEAD) return { set: byToken, partial: NO_PARTIAL };
      // A token taken both as a token element and as text: either reading continues.
      if (tail.nRemain === 0) return { set: sp.internSet([...sp.stack(byToken), ...sp.stack(s)]), partial: NO_PARTIAL };
    }
    return s === DEAD ? undefined : { set: s, partial: tail };
  }

  allows(id: number): boolean {
    return this.next(id) !== undefined;
  }

  /** Take a token the grammar allows; throws naming it otherwise. */
  accept(id: number): void {
    const s = this.next(id);
    if (!s) throw new Error(`grammar: token ${id} is not allowed here`);
    this.state = s;
  }

  /** Set allowed[id] = 1 for each token the grammar allows next (others untouched: pass zeros). Returns how many. */
  fillMask(allowed: Uint8Array): number {
    const { set, partial } = this.state;
    if (set === DEAD) return 0;
    const ix = this.index, sp = this.space;
    let count = 0;
    if (partial.nRemain === 0) count += ix.walk(sp, set, allowed);
    const check = (id: number) => { if (!allowed[id] && this.next(id)) { allowed[id] = 1; count++; } };
    for (const id of ix.irregular) check(id);
    if (partial.nRemain !== 0) {
      // Only tokens starting with continuation bytes can finish the cut character.
      for (let id = 0; id < ix.n; id++) if (ix.kind[id] === KIND_TEXT) check(id);
    }
    for (const id of ix.eog) check(id);
    if (sp.wantsToken(set)) {
      for (const id of ix.never) check(id);
      for (let id = 0; id < ix.n; id++) if (ix.kind[id] === KIND_TEXT) check(id);
    }
    return count;
  }

  /** The text so far is a complete match: an end-of-generation token may come. */
  get complete(): boolean {
    return this.space.complete(this.state.set) && this.state.partial.nRemain === 0;
  }

  /** Nothing can follow but the end (complete, and no stack wants more). */
  get finished(): boolean {
    const s = this.space.stack(this.state.set);
    return s.length === 1 && s[0] === 0 && this.state.partial.nRemain === 0;
  }

  checkpoint(): TokenMatcherState {
    return this.state;
  }

  rollback(state: TokenMatcherState): void {
    this.state = state;
  }

  reset(): void {
    this.state = { set: this.space.initial(), partial: NO_PARTIAL };
  }
}

/** A TokenMatcher for GBNF text (token references `<text>` resolved with the vocabulary) or a parsed grammar. */
export function grammarConstraint(grammar: string | Grammar, vocab: TokenVocab): TokenMatcher {
  const g = typeof grammar === 'string'
    ? parseGbnf(grammar, {
      tokenId: vocab.encode && ((text) => {
        const ids = vocab.encode!(text, { addSpecial: false, parseSpecial: true });
        return ids.length === 1 ? ids[0] : undefined;
      }),
    })
    : grammar;
  return new TokenMatcher(g, vocab);
}
