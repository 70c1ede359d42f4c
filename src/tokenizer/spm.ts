// SentencePiece-style BPE as llama.cpp runs it (llm_tokenizer_spm): spaces become ▁, a space is
// prefixed to text that starts the input or follows a special token, then the highest-scoring
// adjacent pair that forms a vocabulary piece is merged until none is left; pieces that are not
// tokens fall back to <0xXX> byte tokens. llama.cpp runs the whole text as one merge; we cut it
// before a ▁ that no vocabulary piece can straddle, which gives the same merges (no candidate pair
// ever crosses such a cut) with small heaps. Symbols are a linked list over typed arrays.

import { TokenizerError } from '../core/errors.js';
import { PairHeap } from './pair-heap.js';
import { utf8Encoder } from './unicode.js';
import type { TextModel, Vocab } from './vocab.js';

export interface SpmOptions {
  scores: ArrayLike<number>;
  addSpacePrefix: boolean;
  unk: number | undefined;
}

export class SpmModel implements TextModel {
  private readonly heap = new PairHeap();
  private readonly byteIds: Int32Array;
  /** Text before an inner ▁ of some piece ("▁" for "▁▁"): a ▁ preceded by one of these may be straddled. */
  private readonly innerPrefixes = new Set<string>();
  private maxInnerPrefix = 0;
  private readonly innerPrefixEnds = new Set<number>(); // last UTF-16 unit of each inner prefix

  constructor(private readonly vocab: Vocab, private readonly opts: SpmOptions) {
    for (const t of vocab.tokens) {
      for (let k = t.indexOf('\u2581', 1); k > 0; k = t.indexOf('\u2581', k + 1)) {
        this.innerPrefixes.add(t.slice(0, k));
        this.innerPrefixEnds.add(t.charCodeAt(k - 1));
        if (k > this.maxInnerPrefix) this.maxInnerPrefix = k;
      }
    }
    // llama_vocab::byte_to_token: "<0xXX>", else the byte itself as a one-char piece.
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      let id = vocab.id(hex);
      if (id < 0 && b < 0x80) id = vocab.id(String.fromCharCode(b));
      this.byteIds[b] = id;
    }
  }

  encode(text: string, out: number[], afterSpecial: boolean): void {
    let t = this.opts.addSpacePrefix && afterSpecial ? ' ' + text : text;
    t = t.replaceAll(' ', '\u2581');
    const fallback = (sym: string): void => this.byteFallback(sym, out);
    let from = 0;
    for (let at = t.indexOf('\u2581', 1); at > 0; at = t.indexOf('\u2581', at + 1)) {
      if (!this.safeCut(t, at)) continue;
      spmTokenize(t.slice(from, at), this.vocab, this.opts.scores, this.heap, fallback, out);
      from = at;
    }
    spmTokenize(t.slice(from), this.vocab, this.opts.scores, this.heap, fallback, out);
  }

  /** No piece can cover both t[at-1] and t[at]: nothing before the ▁ at `at` is the start of a piece with an inner ▁ there. */
  private safeCut(t: string, at: number): boolean {
    if (!this.innerPrefixEnds.has(t.charCodeAt(at - 1))) return true;
    const max = Math.min(this.maxInnerPrefix, at);
    for (let k = 1; k <= max; k++) if (this.innerPrefixes.has(t.slice(at - k, at))) return false;
    return true;
  }

  private byteFallback(symbol: string, out: number[]): void {
    for (const b of utf8Encoder.encode(symbol)) {
      let id = this.byteIds[b]!;
      if (id < 0) id = this.opts.unk ?? -1;
      if (id < 0) throw new TokenizerError(`${this.vocab.file}: no byte token <0x${b.toString(16).toUpperCase().padStart(2, '0')}> and no unknown token to stand for byte 0x${b.toString(16)}`);
      out.push(id);
    }
  }
}

function symbolBuffers(n: number): { start: Int32Array; len: Int32Array; prev: Int32Array; next: Int32Array } {
  return { start: new Int32Array(n), len: new Int32Array(n), prev: new Int32Array(n), next: new Int32Array(n) };
}
let buf = symbolBuffers(1024); // reused across calls; encode is synchronous

/** llm_tokenizer_spm_session::tokenize over the code points of `text`. */
export function spmTokenize(
  text: string, vocab: Vocab, scores: ArrayLike<number>, heap: PairHeap,
  fallback: (symbol: string) => void, out: number[],
): void {
  if (!text.length) return;
  // symbols: UTF-16 start and length of each code point, linked through prev/next
  const n = text.length;
  if (n > buf.start.length) buf = symbolBuffers(Math.max(n, 2 * buf.start.length));
  const { start, len, prev, next } = buf;
  let count = 0;
  for (let i = 0; i < n;) {
    const c = text.charCodeAt(i);
    const w = c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1;
    start[count] = i;
    len[count] = w;
    prev[count] = count - 1;
    next[count] = i + w === n ? -1 : count + 1;
    count++;
    i += w;
  }

  heap.clear();
  const tryAdd = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const size = len[left]! + len[right]!;
    const id = vocab.tokenToId.get(text.substr(start[left]!, size));
    if (id === undefined) return;
    heap.push(-scores[id]!, left, right, size);
  };

  for (let i = 1; i < count; i++) tryAdd(i - 1, i);

  while (heap.length) {
    const left = heap.topLeft, right = heap.topRight, size = heap.topSize;
    heap.pop();
    // a candidate is stale once either side was merged away or grew
    if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
    len[left] = size;
    len[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    tryAdd(prev[left]!, left);
    tryAdd(left, next[left]!);
  }

  for (let i = 0; i !== -1; i = next[i]!) {
    const piece = text.substr(start[i]!, len[i]!);
    const id = vocab.tokenToId.get(piece);
    if (id !== undefined) out.push(id);
    else fallback(piece);
  }
}
