// SentencePiece Unigram as llama.cpp runs it for T5-style GGUFs (llm_tokenizer_ugm): the charsmap
// normalization with llama.cpp's whitespace rules (▁ escaping, prefix space, merged runs), then a
// Viterbi search for the best-scoring split, user-defined pieces scoring 0 and an unknown code
// point costing (lowest normal score - 10); consecutive unknowns become one [UNK].

import { CharsMap } from './charsmap.js';
import { ATTR } from './types.js';
import { utf8Decoder, utf8Encoder } from './unicode.js';
import type { TextModel, Vocab } from './vocab.js';

export interface UgmOptions {
  scores: ArrayLike<number>;
  charsmap: Uint8Array | undefined;
  addSpacePrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  treatWhitespaceAsSuffix: boolean;
  unk: number;
}

export class UgmModel implements TextModel {
  private readonly map: CharsMap | undefined;
  private readonly candidates = new Map<string, number>(); // normal, user-defined and unused pieces
  private readonly userDefined: string[] = []; // longest first
  private readonly unkScore: number;
  private maxLen = 0;

  constructor(private readonly vocab: Vocab, private readonly opts: UgmOptions) {
    this.map = opts.charsmap && opts.charsmap.length ? new CharsMap(opts.charsmap) : undefined;
    let min = Infinity;
    vocab.tokens.forEach((t, id) => {
      if (vocab.has(id, ATTR.NORMAL)) min = Math.min(min, opts.scores[id]!);
      if (vocab.has(id, ATTR.NORMAL | ATTR.USER_DEFINED | ATTR.UNUSED)) {
        this.candidates.set(t, id);
        this.maxLen = Math.max(this.maxLen, t.length);
      }
      if (vocab.has(id, ATTR.USER_DEFINED)) this.userDefined.push(t);
    });
    this.userDefined.sort((a, b) => b.length - a.length);
    this.unkScore = (min === Infinity ? 0 : min) - 10;
  }

  encode(text: string, out: number[]): void {
    const normalized = this.normalize(text);
    if (!normalized.length) return;
    const chars = Array.from(normalized);
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1);
    const tok = new Int32Array(n + 1).fill(this.opts.unk);
    best[0] = 0;
    for (let i = 0; i < n; i++) {
      let piece = '';
      let single = false;
      for (let j = i; j < n && piece.length < this.maxLen; j++) {
        piece += chars[j]!;
        const id = this.candidates.get(piece);
        if (id === undefined) continue;
        if (j === i) single = true;
        const s = best[i]! + (this.vocab.has(id, ATTR.USER_DEFINED) ? 0 : this.opts.scores[id]!);
        if (s > best[j + 1]!) { best[j + 1] = s; from[j + 1] = i; tok[j + 1] = id; }
      }
      if (!single) {
        const s = best[i]! + this.unkScore;
        if (s > best[i + 1]!) { best[i + 1] = s; from[i + 1] = i; tok[i + 1] = this.opts.unk; }
      }
    }
    const ids: number[] = [];
    let prevUnk = false;
    for (let e = n; e > 0; e = from[e]!) {
      const id = tok[e]!;
      const unk = id === this.opts.unk;
      if (!(prevUnk && unk)) ids.push(id);
      prevUnk = unk;
    }
    for (let k = ids.length - 1; k >= 0; k--) out.push(ids[k]!);
  }

  /** llm_tokenizer_ugm_session::normalize. */
  private normalize(text: string): string {
    const o = this.opts;
    const space = o.escapeWhitespaces ? '\u2581' : ' ';
    const prepend = !o.treatWhitespaceAsSuffix && o.addSpacePrefix;
    const append = o.treatWhitespaceAsSuffix && o.addSpacePrefix;
    const merge = o.removeExtraWhitespaces;
    let out = '';
    let spacePrepended = false;
    let inWord = false;
    const emit = (chunk: string): void => {
      for (const c of chunk) {
        if (c !== ' ') {
          if (!inWord) {
            inWord = true;
            if ((prepend && !spacePrepended) || merge) { out += space; spacePrepended = true; }
          }
          out += c;
        } else {
          inWord = false;
          if (!merge) out += space;
        }
      }
    };
    const input = utf8Encoder.encode(text);
    const utf8Len = (lead: number): number => (lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4);
    // i walks the JS string, at the same position in its UTF-8 bytes
    for (let i = 0, at = 0; at < input.length;) {
      const user = this.userDefined.length ? this.userDefined.find((u) => text.startsWith(u, i)) : undefined;
      let bytes: number;
      if (user) {
        emit(user);
        bytes = utf8Encoder.encode(user).length;
      } else {
        const m = this.map?.longestMatch(input, at);
        if (m) {
          emit(utf8Decoder.decode(m.replacement));
          bytes = m.length;
        } else {
          bytes = utf8Len(input[at]!);
          emit(utf8Decoder.decode(input.subarray(at, at + bytes)));
        }
      }
      const end = at + bytes;
      while (at < end) { const n = utf8Len(input[at]!); at += n; i += n === 4 ? 2 : 1; }
    }
    if (append) out += space;
    return out;
  }
}
