// SentencePiece-style BPE as llama.cpp runs it (llm_tokenizer_spm): spaces become ▁, a space is
// prefixed to text that starts the input or follows a special token, then the highest-scoring
// adjacent pair that forms a vocabulary piece is merged until none is left; pieces that are not
// tokens fall back to <0xXX> byte tokens. No pre-splitting: a whole text file is one merge run,
// so the symbols are a linked list over typed arrays and candidates sit in a heap.

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

  constructor(private readonly vocab: Vocab, private readonly opts: SpmOptions) {
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
    spmTokenize(t, this.vocab, this.opts.scores, this.heap, (sym) => this.byteFallback(sym, out), out);
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

/** llm_tokenizer_spm_session::tokenize over the code points of `text`. */
export function spmTokenize(
  text: string, vocab: Vocab, scores: ArrayLike<number>, heap: PairHeap,
  fallback: (symbol: string) => void, out: number[],
): void {
  if (!text.length) return;
  // symbols: UTF-16 start and length of each code point, linked through prev/next
  const n = text.length;
  const start = new Int32Array(n);
  const len = new Int32Array(n);
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
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
