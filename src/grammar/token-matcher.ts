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

/** Token ids kept in the per-state mask cache of one stack space (4 bytes each). */
const MASK_CACHE_INTS = 1 << 23;

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
  /** Irregular tokens read with no cut character before them: their whole code points and cut tail (undefined: invalid alone). */
  private readonly alone = new Map<number, { cps: number[]; tail: PartialUtf8 } | undefined>();
  /** Allowed tokens per interned state of a grammar's stack space (states recur: masks are reused). */
  private readonly masks = new WeakMap<StackSpace, { byState: Map<number, Int32Array>; ints: number }>();
  private scratch: Uint8Array | undefined;
  private trieBuilt = false;
  // Trie nodes: incoming code point; children childList[childStart[n] .. childStart[n+1]); tokens
  // ending at a node: firstTok[n], then nextTok[token] (-1 ends).
  private nodeChar!: Uint32Array;
  private childStart!: Uint32Array;
  private childList!: Uint32Array;
  private firstTok!: Int32Array;
  private nextTok!: Int32Array;
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
        this.alone.set(id, d.partial.nRemain < 0 ? undefined : { cps: d.cps, tail: d.partial });
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

  /** An irregular token decoded with no cut character before it (undefined: not valid UTF-8 alone). */
  aloneOf(id: number): { cps: number[]; tail: PartialUtf8 } | undefined {
    return this.alone.get(id);
  }

  /**
   * The allowed tokens of a state (no cut character pending), computed by `fill` once per state of
   * a stack space and kept (up to MASK_CACHE_INTS token ids per space).
   */
  cachedMask(space: StackSpace, set: number, fill: (allowed: Uint8Array) => void): Int32Array {
    let c = this.masks.get(space);
    if (!c) { c = { byState: new Map(), ints: 0 }; this.masks.set(space, c); }
    let ids = c.byState.get(set);
    if (ids) return ids;
    const scratch = (this.scratch ??= new Uint8Array(this.n));
    scratch.fill(0);
    fill(scratch);
    let n = 0;
    for (let i = 0; i < this.n; i++) n += scratch[i]!;
    ids = new Int32Array(n);
    for (let i = 0, k = 0; i < this.n; i++) if (scratch[i]) ids[k++] = i;
    if (c.ints + n > MASK_CACHE_INTS) { c.byState.clear(); c.ints = 0; }
    c.byState.set(set, ids);
    c.ints += n;
    return ids;
  }

  private buildTrie(): void {
    // One hash map from (node, code point) to child: ~150k tokens insert in a fraction of a second.
    const child = new Map<number, number>();
    const nodeChar: number[] = [0], parent: number[] = [0];
    const nextTok = new Int32Array(this.n).fill(-1);
    let firstTok: number[] = [-1];
    for (let id = 0; id < this.n; id++) {
      if (this.kind[id] !== KIND_TEXT) continue;
      let node = 0;
      const a = this.cpStart[id]!, b = this.cpStart[id + 1]!;
      for (let i = a; i < b; i++) {
        const cp = this.cps[i]!;
        const key = node * 0x110000 + cp;
        let c = child.get(key);
        if (c === undefined) { c = nodeChar.length; nodeChar.push(cp); parent.push(node); firstTok.push(-1); child.set(key, c); }
        node = c;
      }
      nextTok[id] = firstTok[node]!;
      firstTok[node] = id;
    }
    const n = nodeChar.length;
    const childStart = new Uint32Array(n + 1);
    for (let c = 1; c < n; c++) childStart[parent[c]! + 1]!++;
    for (let i = 0; i < n; i++) childStart[i + 1]! += childStart[i]!;
    const fill = childStart.slice(0, n);
    const childList = new Uint32Array(Math.max(n - 1, 0));
    for (let c = 1; c < n; c++) childList[fill[parent[c]!]!++] = c;
    this.nodeChar = Uint32Array.from(nodeChar);
    this.childStart = childStart;
    this.childList = childList;
    this.firstTok = Int32Array.from(firstTok);
    firstTok = [];
    this.nextTok = nextTok;
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
    const { childStart, childList, nodeChar, firstTok, nextTok } = this;
    while (nodes.length) {
      const node = nodes.pop()!, s = sets.pop()!;
      for (let k = childStart[node]!, end = childStart[node + 1]!; k < end; k++) {
        const c = childList[k]!;
        const s2 = space.acceptChar(s, nodeChar[c]!);
        if (s2 === DEAD) continue;
        for (let t = firstTok[c]!; t >= 0; t = nextTok[t]!) { allowed[t] = 1; count++; }
        if (childStart[c + 1]! > childStart[c]!) { nodes.push(c); sets.push(s2); }
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
    // Matchers of one grammar share its stack space: interned states, transitions and masks are reused.
    this.space = grammar instanceof StackSpace ? grammar : StackSpace.of(grammar);
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
    } else if (kind === KIND_IRREGULAR && partial.nRemain === 0) {
      const d = this.index.aloneOf(id);
      if (!d) s = DEAD;
      else for (const cp of d.cps) { s = sp.acceptChar(s, cp); if (s === DEAD) break; }
      tail = d?.tail ?? NO_PARTIAL;
      if (s !== DEAD && !sp.partialOk(s, tail)) s = DEAD;
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
    if (partial.nRemain === 0) {
      const ids = this.index.cachedMask(this.space, set, (a) => this.computeMask(a));
      for (let i = 0; i < ids.length; i++) allowed[ids[i]!] = 1;
      return ids.length;
    }
    return this.computeMask(allowed);
  }

  private computeMask(allowed: Uint8Array): number {
    const { set, partial } = this.state;
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
