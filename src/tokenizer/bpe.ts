// Byte-level BPE as llama.cpp runs it (llm_tokenizer_bpe_session): the pre-tokenizer regex list cuts
// the text into words, each word is spelled in GPT-2 byte chars (or kept as raw UTF-8 for SPM-style
// BPE like Gemma 4), and the lowest-ranked merge is applied until none is left. `bpeMerge` is the
// merge loop alone, shared with the Hugging Face BPE model.

import { PairHeap } from './pair-heap.js';
import { regexSplit } from './regex-split.js';
import { byteLevelEncode, utf8Encoder } from './unicode.js';
import type { TextModel, Vocab } from './vocab.js';

/** Merge ranks keyed by left + SEP + right. */
const MERGE_SEP = '\u0001';

/**
 * Splits a merges entry the way llama.cpp does ("a b": first space at index >= 1); returns the
 * rank key, or undefined for an entry with no separator.
 */
function mergeKey(entry: string | readonly string[]): string | undefined {
  if (typeof entry !== 'string') return entry.length === 2 ? entry[0] + MERGE_SEP + entry[1] : undefined;
  const pos = entry.indexOf(' ', 1);
  return pos < 0 ? undefined : entry.slice(0, pos) + MERGE_SEP + entry.slice(pos + 1);
}

export function buildRanks(merges: readonly (string | readonly string[])[]): Map<string, number> {
  const ranks = new Map<string, number>();
  merges.forEach((m, i) => {
    const key = mergeKey(m);
    // llama.cpp uses emplace: the first rank of a repeated pair wins
    if (key !== undefined && !ranks.has(key)) ranks.set(key, i);
  });
  return ranks;
}

const heap = new PairHeap();

/**
 * Merges adjacent symbols by rank (lowest first, leftmost on ties) until no pair has a rank, as
 * llm_tokenizer_bpe_session and HF's Word::merge_all do. Returns the final symbols.
 */
export function bpeMerge(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  const n = symbols.length;
  if (n < 2) return symbols;
  const text = symbols.slice();
  const len = new Int32Array(n);
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) { len[i] = symbols[i]!.length; prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
  heap.clear();
  const tryAdd = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const rank = ranks.get(text[left]! + MERGE_SEP + text[right]!);
    if (rank === undefined) return;
    heap.push(rank, left, right, len[left]! + len[right]!);
  };
  for (let i = 1; i < n; i++) tryAdd(i - 1, i);
  while (heap.length) {
    const left = heap.topLeft, right = heap.topRight, size = heap.topSize;
    heap.pop();
    if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
    text[left] = text[left]! + text[right]!;
    len[left] = size;
    len[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    tryAdd(prev[left]!, left);
    tryAdd(left, next[left]!);
  }
  const out: string[] = [];
  for (let i = 0; i !== -1; i = next[i]!) out.push(text[i]!);
  return out;
}

export interface BpeOptions {
  exprs: readonly string[];
  byteEncode: boolean;
  ignoreMerges: boolean;
  escapeWhitespaces: boolean;
  /** Gemma 4: a word of newlines that is itself a token stays whole. */
  newlineWordsWhole: boolean;
  ranks: ReadonlyMap<string, number>;
}

export class BpeModel implements TextModel {
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly vocab: Vocab, private readonly opts: BpeOptions) {}

  encode(text: string, out: number[]): void {
    const t = this.opts.escapeWhitespaces ? text.replaceAll(' ', '\u2581') : text;
    for (const raw of regexSplit(t, this.opts.exprs)) {
      if (!raw.length) continue;
      let ids = this.cache.get(raw);
      if (!ids) {
        ids = this.word(raw);
        if (this.cache.size > 50_000) this.cache.clear();
        this.cache.set(raw, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private word(raw: string): number[] {
    const o = this.opts;
    const word = o.byteEncode ? byteLevelEncode(raw) : raw;
    const whole = this.vocab.id(word);
    let symbols: string[];
    if (whole >= 0 && (o.ignoreMerges || (o.newlineWordsWhole && /^\n+$/.test(word)))) symbols = [word];
    else symbols = bpeMerge(Array.from(word), o.ranks);
    const ids: number[] = [];
    for (const s of symbols) {
      const id = this.vocab.id(s);
      if (id >= 0) { ids.push(id); continue; }
      // llama.cpp looks every UTF-8 byte of the unknown symbol up as a one-byte piece (byte-level) or
      // as <0xXX> (raw UTF-8 BPE); bytes with no such token are dropped
      for (const b of utf8Encoder.encode(s)) {
        const bid = o.byteEncode
          ? (b < 0x80 ? this.vocab.id(String.fromCharCode(b)) : -1)
          : this.vocab.id(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
        if (bid >= 0) ids.push(bid);
      }
    }
    return ids;
  }
}
