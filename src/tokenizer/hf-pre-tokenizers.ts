// Hugging Face pre-tokenizers (tokenizer.json "pre_tokenizer"): one small class per type, each
// splitting every piece of the text further, and a factory that throws on a type it does not know.
// Pieces carry whether they start the input, which Metaspace's prepend_scheme "first" needs.

import { TokenizerError } from '../core/errors.js';
import { literalRegex, onigRegex } from './hf-regex.js';
import { byteLevelEncode } from './unicode.js';

export interface Piece { text: string; first: boolean }

export interface PreTokenizer {
  split(pieces: Piece[]): Piece[];
}

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** HF split(): cut `text` at the matches of `re` and regroup matches and gaps per `behavior`. */
export function splitByRegex(piece: Piece, re: RegExp, behavior: Behavior, invert = false): Piece[] {
  const text = piece.text;
  const parts: [string, boolean][] = []; // [text, isMatch]
  let prev = 0;
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    if (!m[0].length) continue;
    if (m.index! > prev) parts.push([text.slice(prev, m.index), invert]);
    parts.push([m[0], !invert]);
    prev = m.index! + m[0].length;
  }
  if (prev < text.length) parts.push([text.slice(prev), invert]);

  const out: string[] = [];
  switch (behavior) {
    case 'Removed':
      for (const [t, isMatch] of parts) if (!isMatch) out.push(t);
      break;
    case 'Isolated':
      for (const [t] of parts) out.push(t);
      break;
    case 'MergedWithPrevious': {
      // a match joins the part before it, unless that part was a match too (tokenizers' fold)
      let prevMatch = false;
      for (const [t, isMatch] of parts) {
        if (isMatch && !prevMatch && out.length) out[out.length - 1] += t;
        else out.push(t);
        prevMatch = isMatch;
      }
      break;
    }
    case 'MergedWithNext': {
      // the same fold run from the end: a match joins the part after it unless that one was a match
      let nextMatch = false;
      const rev: string[] = [];
      for (let i = parts.length - 1; i >= 0; i--) {
        const [t, isMatch] = parts[i]!;
        if (isMatch && !nextMatch && rev.length) rev[rev.length - 1] = t + rev[rev.length - 1];
        else rev.push(t);
        nextMatch = isMatch;
      }
      out.push(...rev.reverse());
      break;
    }
    case 'Contiguous': {
      let prevMatch = false;
      for (const [t, isMatch] of parts) {
        if (isMatch === prevMatch && out.length) out[out.length - 1] += t;
        else out.push(t);
        prevMatch = isMatch;
      }
      break;
    }
    default:
      throw new TokenizerError(`Split pre-tokenizer: unknown behavior '${behavior as string}'`);
  }
  return out.filter((t) => t.length).map((t, i) => ({ text: t, first: piece.first && i === 0 }));
}

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevelPre implements PreTokenizer {
  constructor(private readonly addPrefixSpace: boolean, private readonly useRegex: boolean) {}
  split(pieces: Piece[]): Piece[] {
    const out: Piece[] = [];
    for (const p of pieces) {
      const q = this.addPrefixSpace && !p.text.startsWith(' ') ? { text: ' ' + p.text, first: p.first } : p;
      for (const s of this.useRegex ? splitByRegex(q, onigRegex(GPT2_PATTERN), 'Isolated') : [q]) {
        out.push({ text: byteLevelEncode(s.text), first: s.first });
      }
    }
    return out;
  }
}

class SplitPre implements PreTokenizer {
  private readonly re: RegExp;
  constructor(pattern: { String?: string; Regex?: string }, private readonly behavior: Behavior, private readonly invert: boolean) {
    if (pattern.Regex !== undefined) this.re = onigRegex(pattern.Regex);
    else if (pattern.String !== undefined) this.re = literalRegex(pattern.String);
    else throw new TokenizerError(`Split pre-tokenizer: pattern has neither String nor Regex (${JSON.stringify(pattern)})`);
  }
  split(pieces: Piece[]): Piece[] {
    return pieces.flatMap((p) => splitByRegex(p, this.re, this.behavior, this.invert));
  }
}

class DigitsPre implements PreTokenizer {
  constructor(private readonly individual: boolean) {}
  split(pieces: Piece[]): Piece[] {
    return pieces.flatMap((p) => splitByRegex(p, /\p{N}/gu, this.individual ? 'Isolated' : 'Contiguous'));
  }
}

class MetaspacePre implements PreTokenizer {
  private readonly re: RegExp;
  constructor(private readonly replacement: string, private readonly prepend: 'always' | 'first' | 'never', private readonly doSplit: boolean) {
    this.re = literalRegex(replacement);
  }
  split(pieces: Piece[]): Piece[] {
    const out: Piece[] = [];
    for (const p of pieces) {
      let t = p.text.replaceAll(' ', this.replacement);
      if ((this.prepend === 'always' || (this.prepend === 'first' && p.first)) && !t.startsWith(this.replacement)) t = this.replacement + t;
      const q = { text: t, first: p.first };
      if (this.doSplit) out.push(...splitByRegex(q, this.re, 'MergedWithNext'));
      else out.push(q);
    }
    return out;
  }
}

class SequencePre implements PreTokenizer {
  constructor(private readonly steps: PreTokenizer[]) {}
  split(pieces: Piece[]): Piece[] {
    return this.steps.reduce((acc, s) => s.split(acc), pieces);
  }
}

class RegexPre implements PreTokenizer {
  constructor(private readonly re: RegExp, private readonly behavior: Behavior, private readonly invert: boolean) {}
  split(pieces: Piece[]): Piece[] {
    return pieces.flatMap((p) => splitByRegex(p, this.re, this.behavior, this.invert));
  }
}

const BERT_PUNCT = /[!-/:-@[-`{-~]|\p{P}/gu;

class BertPre implements PreTokenizer {
  split(pieces: Piece[]): Piece[] {
    return pieces
      .flatMap((p) => splitByRegex(p, /\s+/gu, 'Removed'))
      .flatMap((p) => splitByRegex(p, BERT_PUNCT, 'Isolated'));
  }
}

type Json = Record<string, unknown>;

/** The pre-tokenizer of a tokenizer.json, or undefined for null. */
export function preTokenizerFromJSON(cfg: unknown): PreTokenizer | undefined {
  if (cfg === null || cfg === undefined) return undefined;
  const c = cfg as Json;
  switch (c.type) {
    case 'ByteLevel':
      return new ByteLevelPre(c.add_prefix_space === true, c.use_regex !== false);
    case 'Split':
      return new SplitPre(c.pattern as { String?: string; Regex?: string }, (c.behavior as Behavior) ?? 'Isolated', c.invert === true);
    case 'Digits':
      return new DigitsPre(c.individual_digits === true);
    case 'Metaspace': {
      const scheme = (c.prepend_scheme as string | undefined) ?? (c.add_prefix_space === false ? 'never' : 'always');
      if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw new TokenizerError(`Metaspace pre-tokenizer: unknown prepend_scheme '${scheme}'`);
      return new MetaspacePre((c.replacement as string | undefined) ?? '\u2581', scheme, c.split !== false);
    }
    case 'Sequence':
      return new SequencePre(((c.pretokenizers as unknown[]) ?? []).map((s) => preTokenizerFromJSON(s)!).filter(Boolean));
    case 'Whitespace':
      return new RegexPre(onigRegex('\\w+|[^\\w\\s]+'), 'Removed', true);
    case 'WhitespaceSplit':
      return new RegexPre(/\s+/gu, 'Removed', false);
    case 'Punctuation':
      return new RegexPre(/\p{P}|[!-/:-@[-`{-~]/gu, (c.behavior as Behavior) ?? 'Isolated', false);
    case 'BertPreTokenizer':
      return new BertPre();
    case 'CharDelimiterSplit':
      return new RegexPre(literalRegex(c.delimiter as string), 'Removed', false);
    default:
      throw new TokenizerError(`unknown pre-tokenizer type '${String(c.type)}' in tokenizer.json`);
  }
}
