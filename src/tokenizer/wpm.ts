// BERT WordPiece as llama.cpp runs it (llm_tokenizer_wpm): lowercase and strip accents (first code
// point of NFD, marks dropped), split on whitespace, punctuation, ASCII symbols and CJK ideographs,
// then greedy longest-match from the start of "▁word" (vocabularies spell word starts with ▁ and
// continuations bare, as convert_hf_to_gguf rewrites "##"). A word with an unmatched rest is [UNK].

import { cptFlags, codepoints, nfdFirst, toLowerCpt, CPT_ACCENT_MARK, CPT_CONTROL, CPT_PUNCTUATION, CPT_SYMBOL, CPT_WHITESPACE } from './unicode.js';
import type { TextModel, Vocab } from './vocab.js';

export interface WpmOptions {
  lowercase: boolean;
  stripAccents: boolean;
  unk: number;
}

function isChineseChar(c: number): boolean {
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) || (c >= 0x2b740 && c <= 0x2b81f) ||
    (c >= 0x2b920 && c <= 0x2ceaf) || // llama.cpp (and HF's Rust code) start this range at 0x2B920
    (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/** llm_tokenizer_wpm_session::preprocess: normalized words. */
export function wpmWords(text: string, lowercase: boolean, stripAccents: boolean): string[] {
  const words: string[] = [''];
  for (let cpt of codepoints(text)) {
    if (stripAccents) cpt = nfdFirst(cpt);
    const f = cptFlags(cpt);
    if (f & CPT_WHITESPACE) {
      if (words[words.length - 1]!.length) words.push('');
      continue;
    }
    if (cpt === 0 || cpt === 0xfffd || (f & CPT_CONTROL)) continue;
    if (stripAccents && (f & CPT_ACCENT_MARK)) continue;
    const s = String.fromCodePoint(lowercase ? toLowerCpt(cpt) : cpt);
    if ((f & CPT_PUNCTUATION) || (cpt < 0x7f && (f & CPT_SYMBOL)) || isChineseChar(cpt)) {
      if (words[words.length - 1]!.length) words.push('');
      words[words.length - 1] = s;
      words.push('');
    } else {
      words[words.length - 1] += s;
    }
  }
  if (!words[words.length - 1]!.length) words.pop();
  return words;
}

export class WpmModel implements TextModel {
  constructor(private readonly vocab: Vocab, private readonly opts: WpmOptions) {}

  encode(text: string, out: number[]): void {
    const maxLen = this.vocab.maxTokenLength;
    for (const w of wpmWords(text, this.opts.lowercase, this.opts.stripAccents)) {
      if (!w.length) continue;
      const word = '\u2581' + w;
      const n = word.length;
      const mark = out.length;
      for (let i = 0; i < n;) {
        let matched = -1;
        for (let j = Math.min(n, i + maxLen); j > i; j--) {
          const id = this.vocab.id(word.slice(i, j));
          if (id >= 0) { out.push(id); matched = j; break; }
        }
        if (matched < 0) { out.length = mark; break; }
        i = matched;
      }
      if (out.length === mark) out.push(this.opts.unk);
    }
  }
}
