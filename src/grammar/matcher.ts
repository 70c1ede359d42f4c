// The pushdown matcher over code points, as llama.cpp's llama-grammar: the state is a set of
// stacks of grammar positions, each stack's top a terminal (character class or token). Stacks are
// hash-consed linked lists (a node is (position, parent node)), and stack sets are interned too,
// so a state is one integer and a transition (set, code point) is memoized: the token trie walk
// in token-matcher.ts reuses transitions across the whole vocabulary. Not token-aware beyond
// TOKEN elements; see token-matcher.ts for the vocabulary side.

import { ALT, CHAR, CHAR_ALT, CHAR_ANY, CHAR_RNG_UPPER, type Grammar, RULE_REF, TOKEN, TOKEN_NOT } from './gbnf.js';

/** The empty stack: the grammar has matched a complete root. */
export const EMPTY_STACK = 0;
/** The set with no stacks: nothing can follow. */
export const DEAD = 0;

/** A UTF-8 sequence cut by a token boundary: its bits so far and how many bytes remain (-1: invalid). */
export interface PartialUtf8 { value: number; nRemain: number }
export const NO_PARTIAL: PartialUtf8 = Object.freeze({ value: 0, nRemain: 0 });

/** Most memoized (set, code point) transitions kept before the memo starts over. */
const MEMO_CAP = 1 << 22;

const UTF8_MASK = [0xff, 0x7f, 0x1f, 0x0f, 0x07];

/** Decode bytes after a partial sequence into code points and the partial sequence at the end. */
export function decodeUtf8(bytes: Uint8Array, partial: PartialUtf8 = NO_PARTIAL): { cps: number[]; partial: PartialUtf8 } {
  const cps: number[] = [];
  let value = partial.value, nRemain = partial.nRemain;
  if (nRemain < 0) return { cps, partial: { value: 0, nRemain: -1 } };
  let i = 0;
  while (i < bytes.length && nRemain > 0) {
    const b = bytes[i]!;
    if ((b >> 6) !== 2) return { cps, partial: { value: 0, nRemain: -1 } };
    value = (value << 6) | (b & 0x3f);
    i++;
    nRemain--;
  }
  if (partial.nRemain > 0 && nRemain === 0) cps.push(value);
  while (i < bytes.length) {
    const b = bytes[i]!;
    const hi = b >> 4;
    const len = hi < 8 ? 1 : hi < 12 ? 0 : hi < 14 ? 2 : hi === 14 ? 3 : 4;
    if (len === 0) return { cps, partial: { value: 0, nRemain: -1 } };
    value = b & UTF8_MASK[len]!;
    nRemain = len - 1;
    i++;
    while (i < bytes.length && nRemain > 0) {
      const c = bytes[i]!;
      if ((c >> 6) !== 2) return { cps, partial: { value: 0, nRemain: -1 } };
      value = (value << 6) | (c & 0x3f);
      i++;
      nRemain--;
    }
    if (nRemain === 0) cps.push(value);
  }
  return { cps, partial: nRemain > 0 ? { value, nRemain } : NO_PARTIAL };
}

/**
 * Interned stacks and stack sets of one grammar, with memoized advance and transitions. Shared by
 * every state of a matcher (and its checkpoints); grows with the distinct states visited.
 */
export class StackSpace {
  /** Node i: position and parent (node 0 is the empty stack). */
  private pos: number[] = [-1];
  private parent: number[] = [0];
  private readonly nodeIds = new Map<number, number>();
  private readonly advanced = new Map<number, number[]>();
  /** Set i: its sorted node ids (set 0 is the dead set). */
  private readonly sets: Int32Array[] = [new Int32Array(0)];
  private readonly setIds = new Map<string, number>([['', 0]]);
  private readonly charMemo = new Map<number, number>();
  private readonly tokenMemo = new Map<number, number>();

  constructor(readonly g: Grammar) {}

  private static readonly spaces = new WeakMap<Grammar, StackSpace>();

  /** The stack space shared by every matcher of this grammar. */
  static of(g: Grammar): StackSpace {
    let sp = StackSpace.spaces.get(g);
    if (!sp) { sp = new StackSpace(g); StackSpace.spaces.set(g, sp); }
    return sp;
  }

  get size(): number {
    return this.pos.length + this.sets.length;
  }

  node(pos: number, parent: number): number {
    const key = pos * 4294967296 + parent;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.pos.length;
      this.pos.push(pos);
      this.parent.push(parent);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  stack(set: number): Int32Array {
    return this.sets[set]!;
  }

  topPos(node: number): number {
    return this.pos[node]!;
  }

  /** Intern a set of stack nodes (any order, duplicates allowed). */
  internSet(nodes: number[]): number {
    if (nodes.length === 0) return DEAD;
    const sorted = Int32Array.from(new Set(nodes)).sort();
    const key = sorted.join(',');
    let id = this.setIds.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(sorted);
      this.setIds.set(key, id);
    }
    return id;
  }

  /** The stacks a stack expands to whose tops are terminals (or the empty stack). */
  advance(node: number): number[] {
    let out = this.advanced.get(node);
    if (out) return out;
    out = [];
    const g = this.g;
    const seen = new Set<number>();
    const todo = [node];
    while (todo.length) {
      const cur = todo.pop()!;
      if (seen.has(cur)) continue;
      seen.add(cur);
      if (cur === EMPTY_STACK) { out.push(cur); continue; }
      const p = this.pos[cur]!, par = this.parent[cur]!;
      const t = g.types[p]!;
      if (t === RULE_REF) {
        let sub = g.ruleStart[g.values[p]!]!;
        for (;;) {
          let next = par;
          if (!g.endOfSeq(p + 1)) next = this.node(p + 1, next);
          if (!g.endOfSeq(sub)) next = this.node(sub, next);
          todo.push(next);
          while (!g.endOfSeq(sub)) sub++;
          if (g.types[sub] === ALT) sub++; else break;
        }
      } else out.push(cur);
    }
    this.advanced.set(node, out);
    return out;
  }

  /** The start state: the root rule advanced to its first terminals. */
  initial(): number {
    const g = this.g;
    const nodes: number[] = [];
    let p = g.ruleStart[g.root]!;
    for (;;) {
      nodes.push(...this.advance(g.endOfSeq(p) ? EMPTY_STACK : this.node(p, EMPTY_STACK)));
      while (!g.endOfSeq(p)) p++;
      if (g.types[p] === ALT) p++; else break;
    }
    return this.internSet(nodes);
  }

  /** Does the character class at pos match cp? Returns the position after the class, negated when not. */
  matchChar(pos: number, cp: number): number {
    const g = this.g;
    const t0 = g.types[pos]!;
    const positive = t0 === CHAR || t0 === CHAR_ANY;
    let found = false;
    let p = pos;
    do {
      if (g.types[p + 1] === CHAR_RNG_UPPER) {
        found ||= g.values[p]! <= cp && cp <= g.values[p + 1]!;
        p += 2;
      } else if (g.types[p] === CHAR_ANY) {
        found = true;
        p += 1;
      } else {
        found ||= g.values[p] === cp;
        p += 1;
      }
    } while (g.types[p] === CHAR_ALT);
    return found === positive ? p : -p - 1;
  }

  /** Could some completion of the partial UTF-8 sequence match the class at pos? */
  matchPartial(pos: number, partial: PartialUtf8): boolean {
    const g = this.g;
    const t0 = g.types[pos]!;
    if (t0 === TOKEN || t0 === TOKEN_NOT) return false;
    const positive = t0 === CHAR || t0 === CHAR_ANY;
    const { value, nRemain } = partial;
    if (nRemain < 0 || (nRemain === 1 && value < 2)) return false;
    let low = value << (nRemain * 6);
    const high = low | ((1 << (nRemain * 6)) - 1);
    if (low === 0) { if (nRemain === 2) low = 1 << 11; else if (nRemain === 3) low = 1 << 16; }
    let p = pos;
    do {
      if (g.types[p + 1] === CHAR_RNG_UPPER) {
        if (g.values[p]! <= high && low <= g.values[p + 1]!) return positive;
        p += 2;
      } else if (g.types[p] === CHAR_ANY) {
        return true;
      } else {
        if (low <= g.values[p]! && g.values[p]! <= high) return positive;
        p += 1;
      }
    } while (g.types[p] === CHAR_ALT);
    return !positive;
  }

  /** The set after one code point (DEAD when no stack takes it). Memoized. */
  acceptChar(set: number, cp: number): number {
    if (set === DEAD) return DEAD;
    const key = set * 0x110000 + cp;
    let out = this.charMemo.get(key);
    if (out !== undefined) return out;
    const g = this.g;
    const next: number[] = [];
    for (const node of this.sets[set]!) {
      if (node === EMPTY_STACK) continue;
      const p = this.pos[node]!;
      const t = g.types[p]!;
      if (t === TOKEN || t === TOKEN_NOT) continue;
      const m = this.matchChar(p, cp);
      if (m < 0) continue;
      const par = this.parent[node]!;
      next.push(...this.advance(g.endOfSeq(m) ? par : this.node(m, par)));
    }
    out = this.internSet(next);
    // A cache, not state: bounded so long generations with many full-vocabulary walks stay small.
    if (this.charMemo.size >= MEMO_CAP) this.charMemo.clear();
    this.charMemo.set(key, out);
    return out;
  }

  /** The set after a whole token matched by TOKEN/TOKEN_NOT elements only. Memoized. */
  acceptTokenElement(set: number, token: number): number {
    const key = set * 4294967296 + token;
    let out = this.tokenMemo.get(key);
    if (out !== undefined) return out;
    const g = this.g;
    const next: number[] = [];
    for (const node of this.sets[set]!) {
      if (node === EMPTY_STACK) continue;
      const p = this.pos[node]!;
      const t = g.types[p]!;
      if (t !== TOKEN && t !== TOKEN_NOT) continue;
      if ((g.values[p] === token) !== (t === TOKEN)) continue;
      const par = this.parent[node]!;
      next.push(...this.advance(g.endOfSeq(p + 1) ? par : this.node(p + 1, par)));
    }
    out = this.internSet(next);
    this.tokenMemo.set(key, out);
    return out;
  }

  /** Whether the set holds the empty stack (the input so far is a complete match). */
  complete(set: number): boolean {
    const s = this.sets[set]!;
    return s.length > 0 && s[0] === EMPTY_STACK;
  }

  /** Whether any stack's top is a TOKEN or TOKEN_NOT element. */
  wantsToken(set: number): boolean {
    for (const node of this.sets[set]!) {
      if (node === EMPTY_STACK) continue;
      const t = this.g.types[this.pos[node]!]!;
      if (t === TOKEN || t === TOKEN_NOT) return true;
    }
    return false;
  }

  /** Whether a partial UTF-8 tail can still complete into a match of some stack. */
  partialOk(set: number, partial: PartialUtf8): boolean {
    if (partial.nRemain === 0) return true;
    for (const node of this.sets[set]!) if (node !== EMPTY_STACK && this.matchPartial(this.pos[node]!, partial)) return true;
    return false;
  }
}

/** A grammar matched against text, one code point at a time (llama.cpp's llama_grammar_accept). */
export class TextMatcher {
  readonly space: StackSpace;
  set: number;

  constructor(g: Grammar | StackSpace) {
    this.space = g instanceof StackSpace ? g : new StackSpace(g);
    this.set = this.space.initial();
  }

  /** Feed text; false (and the matcher dead) once a code point has no continuation. */
  push(text: string): boolean {
    for (const ch of text) {
      this.set = this.space.acceptChar(this.set, ch.codePointAt(0)!);
      if (this.set === DEAD) return false;
    }
    return true;
  }

  get dead(): boolean {
    return this.set === DEAD;
  }

  /** The text so far is a complete match of the grammar. */
  get complete(): boolean {
    return this.space.complete(this.set);
  }
}

/** Does the grammar match the whole text? */
export function matchesGrammar(g: Grammar | StackSpace, text: string): boolean {
  const m = new TextMatcher(g);
  return m.push(text) && m.complete;
}
