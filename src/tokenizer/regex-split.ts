// llama.cpp's pre-tokenizer engine (unicode_regex_split): a list of regexes applied in turn, each one
// cutting every piece left by the previous one into matches and the gaps between them. The common
// GPT-2 / Llama-3 / Qwen2 / Qwen3.5 / Kimi-K2 / digit-group expressions have hand-written splitters
// there (ported one for one below, quirks included); any other expression runs as a JS regex over
// llama.cpp's "collapsed" text, where each non-ASCII code point becomes one byte naming its category,
// so the goldens llama.cpp produces are reproduced rather than what an ideal Unicode regex would do.

import {
  codepoints, cptFlags, isWhitespace, toLowerCpt,
  CPT_LETTER, CPT_NUMBER, CPT_PUNCTUATION, CPT_ACCENT_MARK, CPT_SYMBOL, CPT_WHITESPACE,
} from './unicode.js';
import { TokenizerError } from '../core/errors.js';
import { assertLinearRegex } from './hf-regex.js';

/** A splitter turns one piece [ini, end) of the code points into consecutive piece lengths. */
type CustomSplit = (cpts: readonly number[], ini: number, end: number, out: number[]) => void;

const OUT = -1; // a position outside the current piece

// Shared scaffolding of llama.cpp's hand-written splitters: positions outside the piece read as
// "no code point" with no flags (flags 0), which is what stops every run at the piece boundary.
class Cursor {
  prevEnd: number;
  constructor(readonly cpts: readonly number[], readonly ini: number, readonly end: number, readonly out: number[]) {
    this.prevEnd = ini;
  }
  cpt(pos: number): number { return pos >= this.ini && pos < this.end ? this.cpts[pos]! : OUT; }
  flags(pos: number): number { return pos >= this.ini && pos < this.end ? cptFlags(this.cpts[pos]!) : 0; }
  add(end: number): number {
    const len = end - this.prevEnd;
    if (len > 0) this.out.push(len);
    this.prevEnd = end;
    return len;
  }
}

const isL = (f: number): boolean => (f & CPT_LETTER) !== 0;
const isN = (f: number): boolean => (f & CPT_NUMBER) !== 0;
const isWS = (f: number): boolean => (f & CPT_WHITESPACE) !== 0;
const isM = (f: number): boolean => (f & CPT_ACCENT_MARK) !== 0;
const CR = 0x0d, LF = 0x0a, APOS = 0x27, SPACE = 0x20;

/** 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive; returns the match length or 0. */
function contraction(c: Cursor, pos: number, caseInsensitive: boolean): number {
  if (c.cpt(pos) !== APOS || pos + 1 >= c.end) return 0;
  const low = (x: number): number => (caseInsensitive && x !== OUT ? toLowerCpt(x) : x);
  const n1 = low(c.cpt(pos + 1));
  if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) return 2; // s t m d
  if (pos + 2 < c.end) {
    const n2 = low(c.cpt(pos + 2));
    if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) return 3; // re ve ll
  }
  return 0;
}

/** \s+(?!\S) | \s+ tail shared by all splitters, with the optional \s*[\r\n]+ branch before it. */
function whitespaceTail(c: Cursor, pos: number, withNewlineBranch: boolean): number {
  let n = 0;
  let lastRN = 0;
  while (isWS(c.flags(pos + n))) {
    const x = c.cpt(pos + n);
    if (x === CR || x === LF) lastRN = pos + n + 1;
    n++;
  }
  if (withNewlineBranch && lastRN > 0) { c.add(lastRN); return lastRN; }
  if (n > 1 && c.cpt(pos + n) !== OUT) { pos += n - 1; c.add(pos); return pos; }
  if (n > 0) { pos += n; c.add(pos); return pos; }
  c.add(++pos);
  return pos;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
const splitGpt2: CustomSplit = (cpts, ini, end, out) => {
  const c = new Cursor(cpts, ini, end, out);
  for (let pos = ini; pos < end;) {
    const cpt = c.cpt(pos);
    const flags = c.flags(pos);
    const k = contraction(c, pos, false);
    if (k) { pos += c.add(pos + k); continue; }
    let flags2 = cpt === SPACE ? c.flags(pos + 1) : flags;
    if (isL(flags2)) {
      pos += cpt === SPACE ? 1 : 0;
      while (isL(flags2)) flags2 = c.flags(++pos);
      c.add(pos);
      continue;
    }
    if (isN(flags2)) {
      pos += cpt === SPACE ? 1 : 0;
      while (isN(flags2)) flags2 = c.flags(++pos);
      c.add(pos);
      continue;
    }
    if (!(isWS(flags2) || isL(flags2) || isN(flags2)) && flags2 !== 0) {
      pos += cpt === SPACE ? 1 : 0;
      while (!(isWS(flags2) || isL(flags2) || isN(flags2)) && flags2 !== 0) flags2 = c.flags(++pos);
      c.add(pos);
      continue;
    }
    pos = whitespaceTail(c, pos, false);
  }
};

// Llama-3 (digits in runs of up to 3) and Qwen2 (single digits); Qwen3.5 also lets letter runs take \p{M}:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
function makeLlama3Like(maxDigits: number, marks: boolean): CustomSplit {
  const letterish = (f: number): boolean => isL(f) || (marks && isM(f));
  return (cpts, ini, end, out) => {
    const c = new Cursor(cpts, ini, end, out);
    for (let pos = ini; pos < end;) {
      const cpt = c.cpt(pos);
      const flags = c.flags(pos);
      const k = contraction(c, pos, true);
      if (k) { pos += c.add(pos + k); continue; }
      if (!(cpt === CR || cpt === LF || isN(flags))) {
        if (letterish(flags) || letterish(c.flags(pos + 1))) {
          pos++;
          while (letterish(c.flags(pos))) pos++;
          c.add(pos);
          continue;
        }
      }
      if (isN(flags)) {
        let start = pos;
        while (isN(c.flags(pos))) {
          if (++pos - start >= maxDigits) { c.add(pos); start = pos; }
        }
        c.add(pos);
        continue;
      }
      let flags2 = cpt === SPACE ? c.flags(pos + 1) : flags;
      const other = (f: number): boolean => !(isWS(f) || letterish(f) || isN(f));
      if (other(flags2) && flags !== 0) {
        pos += cpt === SPACE ? 1 : 0;
        while (other(flags2) && flags2 !== 0) flags2 = c.flags(++pos);
        let cpt2 = c.cpt(pos);
        while (cpt2 === CR || cpt2 === LF) cpt2 = c.cpt(++pos);
        c.add(pos);
        continue;
      }
      pos = whitespaceTail(c, pos, true);
    }
  };
}

function isHan(cpt: number): boolean {
  return (cpt >= 0x4e00 && cpt <= 0x9fff) || (cpt >= 0x3400 && cpt <= 0x4dbf) || (cpt >= 0x20000 && cpt <= 0x2a6df) ||
    (cpt >= 0x2a700 && cpt <= 0x2b73f) || (cpt >= 0x2b740 && cpt <= 0x2b81f) || (cpt >= 0x2b820 && cpt <= 0x2ceaf) ||
    (cpt >= 0x2ceb0 && cpt <= 0x2ebef) || (cpt >= 0xf900 && cpt <= 0xfaff) || (cpt >= 0x2f800 && cpt <= 0x2fa1f);
}

// Kimi-K2: [\p{Han}]+ | letter words without Han (+ contraction) | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n]* | whitespace
const splitKimiK2: CustomSplit = (cpts, ini, end, out) => {
  const c = new Cursor(cpts, ini, end, out);
  const nonHanLetter = (p: number): boolean => isL(c.flags(p)) && !isHan(c.cpt(p));
  for (let pos = ini; pos < end;) {
    const cpt = c.cpt(pos);
    const flags = c.flags(pos);
    if (isHan(cpt)) {
      while (isHan(c.cpt(pos))) pos++;
      c.add(pos);
      continue;
    }
    const leadable = !(cpt === CR || cpt === LF || isL(flags) || isN(flags));
    if ((isL(flags) && !isHan(cpt)) || (leadable && nonHanLetter(pos + 1))) {
      let lead = false;
      if (leadable) { lead = true; pos++; }
      let letters = false;
      while (nonHanLetter(pos)) { letters = true; pos++; }
      if (letters || (!lead && nonHanLetter(pos))) {
        if (!letters) pos++;
        while (nonHanLetter(pos)) pos++;
        if (c.cpt(pos) === APOS && pos + 1 < end) {
          const n1 = toLowerCpt(c.cpt(pos + 1));
          if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) pos += 2;
          else if (pos + 2 < end) {
            const n2 = toLowerCpt(c.cpt(pos + 2));
            if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) pos += 3;
          }
        }
        c.add(pos);
        continue;
      } else if (lead) {
        pos--;
      }
    }
    if (isN(flags)) {
      let start = pos;
      while (isN(c.flags(pos))) {
        if (++pos - start >= 3) { c.add(pos); start = pos; }
      }
      c.add(pos);
      continue;
    }
    let flags2 = cpt === SPACE ? c.flags(pos + 1) : flags;
    if (!(isWS(flags2) || isL(flags2) || isN(flags2)) && flags2 !== 0) {
      pos += cpt === SPACE ? 1 : 0;
      while (!(isWS(flags2) || isL(flags2) || isN(flags2)) && flags2 !== 0) flags2 = c.flags(++pos);
      let cpt2 = c.cpt(pos);
      while (cpt2 === CR || cpt2 === LF) cpt2 = c.cpt(++pos);
      c.add(pos);
      continue;
    }
    pos = whitespaceTail(c, pos, true);
  }
};

// AFMoE / tiny_aya digits: a digit run is cut into a leading 1-2 digits and then groups of 3; other text stays whole.
const splitDigitGroups: CustomSplit = (cpts, ini, end, out) => {
  const c = new Cursor(cpts, ini, end, out);
  for (let pos = ini; pos < end;) {
    if (isN(c.flags(pos))) {
      const start = pos;
      while (pos < end && isN(c.flags(pos))) pos++;
      const count = pos - start;
      let cur = start;
      const rem = count % 3;
      if (rem > 0) { c.add(cur + rem); cur += rem; }
      while (cur < start + count) { c.add(cur + 3); cur += 3; }
      continue;
    }
    pos++;
  }
  if (c.prevEnd < end) c.add(end);
};

// superbpe's (?=(\d{3})+(?!\d)): a cut wherever the ASCII digits from there to the end of their run
// number a positive multiple of 3. As a regex the lookahead rescans the run from every position
// (quadratic: 40k digits took 0.9 s), so the cuts are found in one pass from the right.
const splitDigitTriples: CustomSplit = (cpts, ini, end, out) => {
  const cuts: number[] = [];
  let run = 0;
  for (let i = end - 1; i >= ini; i--) {
    const x = cpts[i]!;
    run = x >= 0x30 && x <= 0x39 ? run + 1 : 0;
    if (run > 0 && run % 3 === 0) cuts.push(i);
  }
  let prev = ini;
  for (let k = cuts.length - 1; k >= 0; k--) {
    if (cuts[k]! > prev) { out.push(cuts[k]! - prev); prev = cuts[k]!; }
  }
  if (end > prev) out.push(end - prev);
};

// [^\n]+|[\n]+
const splitNewlines: CustomSplit = (cpts, ini, end, out) => {
  let pos = ini;
  while (pos < end) {
    const nl = cpts[pos] === LF;
    const start = pos;
    while (pos < end && (cpts[pos] === LF) === nl) pos++;
    out.push(pos - start);
  }
};

// Keyed by the exact expression text, as unicode_regex_split_custom does.
const CUSTOM: ReadonlyMap<string, CustomSplit> = new Map<string, CustomSplit>([
  ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", splitGpt2],
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", makeLlama3Like(3, false)],
  ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", makeLlama3Like(3, false)],
  ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", makeLlama3Like(1, false)],
  ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", makeLlama3Like(1, true)],
  ['\\p{Han}+', splitKimiK2],
  ['\\p{AFMoE_digits}', splitDigitGroups],
  ['[^\\n]+|[\\n]+', splitNewlines],
  ['\\d{1,3}(?=(?:\\d{3})*\\b)', splitDigitGroups],
  ['(?=(\\d{3})+(?!\\d))', splitDigitTriples],
]);

// --- generic path: llama.cpp's "collapsed" regex -------------------------------------------------

// \p{..} names llama.cpp understands, the byte standing for that category in collapsed text, and the
// ASCII members spelled out (ASCII code points are kept as themselves in collapsed text).
const UCAT: Record<string, [number, string]> = {
  '\\p{N}': [CPT_NUMBER, '0-9'],
  '\\p{L}': [CPT_LETTER, 'A-Za-z'],
  '\\p{P}': [CPT_PUNCTUATION, '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}'],
  '\\p{M}': [CPT_ACCENT_MARK, ''],
  '\\p{S}': [CPT_SYMBOL, '\\$\\+<->^`\\|'],
  '\\p{Lu}': [CPT_LETTER, 'A-Za-z'],
  '\\p{Ll}': [CPT_LETTER, 'A-Za-z'],
  '\\p{Lt}': [CPT_LETTER, 'A-Za-z'],
  '\\p{Lm}': [CPT_LETTER, 'A-Za-z'],
  '\\p{Lo}': [CPT_LETTER, 'A-Za-z'],
};
const CAT_CHAR: Record<number, string> = {
  [CPT_NUMBER]: '\xd1', [CPT_LETTER]: '\xd2', [CPT_PUNCTUATION]: '\xd3', [CPT_ACCENT_MARK]: '\xd4', [CPT_SYMBOL]: '\xd5',
};

const usesCategories = (expr: string): boolean => Object.keys(UCAT).some((k) => expr.includes(k));

/** llama.cpp's regex_expr_collapsed: \p{X} becomes [<category byte><ASCII members>] (no brackets inside a class). */
function collapseExpr(expr: string): string {
  if ([...expr].some((ch) => ch.codePointAt(0)! >= 128)) {
    throw new TokenizerError(`pre-tokenizer regex ${JSON.stringify(expr)} mixes unicode categories and non-ASCII characters (unsupported by llama.cpp too)`);
  }
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (ch === '[' && (i === 0 || expr[i - 1] !== '\\')) { out += '['; inside = true; continue; }
    if (inside && ch === ']' && expr[i - 1] !== '\\') { out += ']'; inside = false; continue; }
    if (ch === '\\' && i + 3 < expr.length && expr[i + 1] === 'p' && expr[i + 2] === '{') {
      const close = expr.indexOf('}', i + 3);
      if (close !== -1 && close <= i + 10) {
        const cat = UCAT[expr.slice(i, close + 1)];
        if (cat) {
          out += (inside ? '' : '[') + CAT_CHAR[cat[0]] + cat[1] + (inside ? '' : ']');
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

/** std::regex (C locale) \s is ASCII whitespace only; spell it out so JS does not widen it. */
function asciiSpaces(expr: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (ch === '\\' && i + 1 < expr.length) {
      const n = expr[i + 1]!;
      if (n === 's') out += inside ? '\\t-\\r ' : '[\\t-\\r ]';
      else if (n === 'S' && !inside) out += '[^\\t-\\r ]';
      else out += ch + n;
      i++;
      continue;
    }
    if (ch === '[') inside = true;
    else if (ch === ']') inside = false;
    out += ch;
  }
  return out;
}

interface CompiledExpr { custom?: CustomSplit; collapsed?: RegExp; wide?: RegExp }
const compiled = new Map<string, CompiledExpr>();

function compile(expr: string): CompiledExpr {
  let c = compiled.get(expr);
  if (c) return c;
  const custom = CUSTOM.get(expr);
  try {
    if (custom) c = { custom };
    else {
      assertLinearRegex(expr);
      if (usesCategories(expr)) c = { collapsed: new RegExp(asciiSpaces(collapseExpr(expr)), 'g') };
      else {
        const src = asciiSpaces(expr);
        let re: RegExp;
        try { re = new RegExp(src, 'gu'); } catch { re = new RegExp(src, 'g'); }
        c = { wide: re };
      }
    }
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`pre-tokenizer regex ${JSON.stringify(expr)} does not compile: ${(e as Error).message}`);
  }
  compiled.set(expr, c);
  return c;
}

/** Runs `re` over each piece of `text` (one UTF-16 unit per code point when `unitPerCpt`), as unicode_regex_split_stl. */
function splitWithRegex(text: string, cptStart: number[] | undefined, re: RegExp, offsets: number[]): number[] {
  const out: number[] = [];
  let start = 0;
  const cpLen = (s: string): number => {
    if (!cptStart) return s.length;
    let n = 0;
    for (const _ of s) n++;
    return n;
  };
  for (const len of offsets) {
    const a = cptStart ? cptStart[start]! : start;
    const b = cptStart ? cptStart[start + len]! : start + len;
    const piece = text.slice(a, b);
    re.lastIndex = 0;
    let prev = 0; // in UTF-16 units of `piece`
    for (const m of piece.matchAll(re)) {
      const pos = m.index!;
      if (pos > prev) out.push(cpLen(piece.slice(prev, pos)));
      const n = cpLen(m[0]);
      if (n > 0) out.push(n);
      prev = pos + m[0].length;
    }
    if (prev < piece.length) out.push(cpLen(piece.slice(prev)));
    start += len;
  }
  return out;
}

/**
 * Splits `text` with llama.cpp's pre-tokenizer regex list. Returns the pieces as strings; pieces are
 * whole code points, and concatenated they give `text` back (lone surrogates read as U+FFFD).
 */
export function regexSplit(text: string, exprs: readonly string[]): string[] {
  const cpts = codepoints(text);
  let offsets = cpts.length ? [cpts.length] : [];
  let collapsed: string | undefined;
  let wide: { text: string; starts: number[] } | undefined;
  for (const expr of exprs) {
    const c = compile(expr);
    if (c.custom) {
      const next: number[] = [];
      let start = 0;
      for (const len of offsets) { c.custom(cpts, start, start + len, next); start += len; }
      offsets = next;
    } else if (c.collapsed) {
      collapsed ??= collapseText(cpts);
      offsets = splitWithRegex(collapsed, undefined, c.collapsed, offsets);
    } else {
      wide ??= wideText(cpts);
      offsets = splitWithRegex(wide.text, wide.starts, c.wide!, offsets);
    }
  }
  const words: string[] = [];
  let start = 0;
  for (const len of offsets) {
    words.push(cptsToString(cpts, start, start + len));
    start += len;
  }
  return words;
}

function cptsToString(cpts: readonly number[], a: number, b: number): string {
  let s = '';
  for (let i = a; i < b; i += 4096) s += String.fromCodePoint(...cpts.slice(i, Math.min(b, i + 4096)));
  return s;
}

/** One char per code point: ASCII as is, whitespace as \v, else the category byte (0xD0 for "other"). */
function collapseText(cpts: readonly number[]): string {
  let s = '';
  for (const cpt of cpts) {
    if (cpt < 128) { s += String.fromCharCode(cpt); continue; }
    const f = cptFlags(cpt);
    if (isWS(f)) s += '\x0b';
    else s += CAT_CHAR[f & 0xff] ?? '\xd0';
  }
  return s;
}

/** The text for std::wregex: non-ASCII whitespace becomes \v (wregex's \s only knows ASCII). */
function wideText(cpts: readonly number[]): { text: string; starts: number[] } {
  let s = '';
  const starts: number[] = [];
  for (const cpt of cpts) {
    starts.push(s.length);
    s += cpt > 0x7f && isWhitespace(cpt) ? '\x0b' : String.fromCodePoint(cpt);
  }
  starts.push(s.length);
  return { text: s, starts };
}
