// Hugging Face normalizers (tokenizer.json "normalizer"): string -> string, one function per type,
// built by a factory that throws on a type it does not know. Precompiled is SentencePiece's
// compiled character map (a double-array trie of replacements), walked as llama.cpp's UGM
// tokenizer walks it: longest matching prefix first.

import { TokenizerError } from '../core/errors.js';
import { literalRegex, onigRegex } from './hf-regex.js';
import { CharsMap } from './charsmap.js';
import { utf8Decoder, utf8Encoder } from './unicode.js';

export type Normalizer = (text: string) => string;

type Json = Record<string, unknown>;

function isChineseChar(c: number): boolean {
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) || (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
    (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

const stripMarks = (s: string): string => s.normalize('NFD').replace(/\p{Mn}/gu, '');

/** Per-character lowercase, as tokenizers does (char::to_lowercase: no final-sigma rule). */
const lowercase = (s: string): string => {
  let out = '';
  for (const ch of s) out += ch.toLowerCase();
  return out;
};

/** BertNormalizer: clean control chars, pad CJK ideographs, strip accents, lowercase. */
function bertNormalizer(c: Json): Normalizer {
  const clean = c.clean_text !== false;
  const chinese = c.handle_chinese_chars !== false;
  const lower = c.lowercase !== false;
  const strip = (c.strip_accents as boolean | null | undefined) ?? lower;
  return (text) => {
    let out = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (clean) {
        if (cp === 0 || cp === 0xfffd) continue;
        if (ch === '\t' || ch === '\n' || ch === '\r' || /\s/u.test(ch)) { out += ' '; continue; }
        if (/\p{Cc}|\p{Cf}|\p{Co}|\p{Cn}/u.test(ch)) continue;
      }
      out += chinese && isChineseChar(cp) ? ` ${ch} ` : ch;
    }
    if (strip) out = stripMarks(out);
    if (lower) out = lowercase(out);
    return out;
  };
}

/** SentencePiece's Precompiled normalizer: each longest charsmap match replaced, other characters kept. */
function precompiled(c: Json): Normalizer {
  const b64 = c.precompiled_charsmap as string | undefined;
  if (!b64) return (t) => t;
  const map = new CharsMap(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
  return (text) => {
    const input = utf8Encoder.encode(text);
    const out: number[] = [];
    for (let at = 0; at < input.length;) {
      const m = map.longestMatch(input, at);
      if (m) {
        for (const b of m.replacement) out.push(b);
        at += m.length;
      } else {
        const lead = input[at]!;
        const n = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
        for (let k = 0; k < n && at < input.length; k++) out.push(input[at++]!);
      }
    }
    return utf8Decoder.decode(Uint8Array.from(out));
  };
}

export function normalizerFromJSON(cfg: unknown): Normalizer | undefined {
  if (cfg === null || cfg === undefined) return undefined;
  const c = cfg as Json;
  switch (c.type) {
    case 'NFC': return (t) => t.normalize('NFC');
    case 'NFD': return (t) => t.normalize('NFD');
    case 'NFKC': return (t) => t.normalize('NFKC');
    case 'NFKD': return (t) => t.normalize('NFKD');
    case 'Lowercase': return lowercase;
    case 'StripAccents': return (t) => t.replace(/\p{Mn}/gu, '');
    case 'Strip': {
      const left = c.strip_left !== false, right = c.strip_right !== false;
      return (t) => (left ? (right ? t.trim() : t.trimStart()) : right ? t.trimEnd() : t);
    }
    case 'Replace': {
      const p = c.pattern as { String?: string; Regex?: string };
      const re = p.Regex !== undefined ? onigRegex(p.Regex) : literalRegex(p.String ?? '');
      const content = (c.content as string) ?? '';
      return (t) => t.replace(re, () => content);
    }
    case 'Prepend': {
      const pre = (c.prepend as string) ?? '';
      return (t) => (t.length ? pre + t : t);
    }
    case 'Sequence': {
      const steps = ((c.normalizers as unknown[]) ?? []).map(normalizerFromJSON).filter((n): n is Normalizer => !!n);
      return (t) => steps.reduce((acc, n) => n(acc), t);
    }
    case 'BertNormalizer': return bertNormalizer(c);
    case 'Precompiled': return precompiled(c);
    default:
      throw new TokenizerError(`unknown normalizer type '${String(c.type)}' in tokenizer.json`);
  }
}
