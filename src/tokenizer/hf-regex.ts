// Hugging Face tokenizers compile pre-tokenizer and normalizer patterns with Oniguruma; this turns
// such a pattern into an equivalent JS RegExp ('u' flag): (?i:...) groups spelled out per letter
// (Node 20 has no inline modifiers), \s as Unicode White_Space (JS adds U+FEFF, misses U+0085),
// \d as \p{Nd}, \p{Han}-style script names as \p{Script=..}, possessive quantifiers and atomic
// groups as their plain forms (JS has neither; the difference only shows on pathological text).
// Patterns that could then backtrack exponentially are refused (assertLinearRegex, below).

import { TokenizerError } from '../core/errors.js';

const WS_CLASS_BODY = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WORD_CLASS_BODY = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';

function propertyEscape(name: string, negate: boolean): string {
  const p = negate ? 'P' : 'p';
  try {
    new RegExp(`\\${p}{${name}}`, 'u');
    return `\\${p}{${name}}`;
  } catch {
    try {
      new RegExp(`\\${p}{Script=${name}}`, 'u');
      return `\\${p}{Script=${name}}`;
    } catch {
      throw new TokenizerError(`regex property \\p{${name}} is not known to JavaScript`);
    }
  }
}

/** Letters in (?i:...) become [xX]; only ASCII letters outside classes are expanded. */
function caseless(body: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\') { out += ch + (body[i + 1] ?? ''); i++; continue; }
    if (ch === '[') inClass = true;
    else if (ch === ']') inClass = false;
    if (!inClass && /[a-zA-Z]/.test(ch)) out += `[${ch.toLowerCase()}${ch.toUpperCase()}]`;
    else out += ch;
  }
  return out;
}

/** Oniguruma pattern -> JS RegExp source for the 'u' flag. */
export function translateOnigRegex(src: string): string {
  let out = '';
  let inClass = false;
  let afterQuantifier = false; // a '+' right after a quantifier makes it possessive
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    const wasQuantifier: boolean = afterQuantifier;
    afterQuantifier = false;
    if (ch === '\\' && i + 1 < src.length) {
      const n = src[i + 1]!;
      i++;
      if (n === 's') { out += inClass ? WS_CLASS_BODY : `[${WS_CLASS_BODY}]`; continue; }
      if (n === 'S') { out += inClass ? '\\S' : `[^${WS_CLASS_BODY}]`; continue; }
      if (n === 'd') { out += '\\p{Nd}'; continue; }
      if (n === 'D') { out += '\\P{Nd}'; continue; }
      if (n === 'w') { out += inClass ? WORD_CLASS_BODY : `[${WORD_CLASS_BODY}]`; continue; }
      if (n === 'W') { out += inClass ? '\\W' : `[^${WORD_CLASS_BODY}]`; continue; }
      if ((n === 'p' || n === 'P') && src[i + 1] === '{') {
        const close = src.indexOf('}', i + 2);
        if (close > 0) {
          out += propertyEscape(src.slice(i + 2, close), n === 'P');
          i = close;
          continue;
        }
      }
      out += '\\' + n;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
      continue;
    }
    if (ch === '[') { inClass = true; out += ch; continue; }
    if (ch === '(' && src.startsWith('(?i:', i)) {
      // find the matching parenthesis
      let depth = 0, j = i;
      for (; j < src.length; j++) {
        if (src[j] === '\\') { j++; continue; }
        if (src[j] === '(') depth++;
        else if (src[j] === ')' && --depth === 0) break;
      }
      out += '(?:' + translateOnigRegex(caseless(src.slice(i + 4, j))) + ')';
      i = j;
      continue;
    }
    if (ch === '(' && src.startsWith('(?>', i)) { out += '(?:'; i += 2; continue; }
    if (ch === '+' && wasQuantifier) continue;
    if (ch === '?' || ch === '*' || ch === '+') afterQuantifier = !wasQuantifier;
    if (ch === '{') {
      const close = src.indexOf('}', i);
      if (close > 0 && /^\{\d*(,\d*)?\}$/.test(src.slice(i, close + 1))) {
        out += src.slice(i, close + 1);
        i = close;
        afterQuantifier = true;
        continue;
      }
    }
    out += ch;
  }
  return out;
}

const cache = new Map<string, RegExp>();

/** A global, Unicode-aware RegExp for an Oniguruma pattern. */
export function onigRegex(src: string): RegExp {
  let re = cache.get(src);
  if (!re) {
    const js = translateOnigRegex(src);
    try {
      re = new RegExp(js, 'gu');
    } catch (e) {
      throw new TokenizerError(`regex ${JSON.stringify(src)} cannot be used (as ${JSON.stringify(js)}): ${(e as Error).message}`);
    }
    assertLinearRegex(src, js);
    cache.set(src, re);
  }
  return re;
}

/** A global RegExp matching a literal string. */
export function literalRegex(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'gu');
}

// ---- Catastrophic backtracking ---------------------------------------------------------------
// JS RegExps backtrack, and the Onig possessive/atomic forms that kept real patterns linear are
// dropped above. A tokenizer.json is untrusted input, so each pattern is parsed and refused when a
// repetition can split the same text in more than one way (exponential in the text length):
//   - a variable quantifier inside an unbounded one, whose characters can also start what follows
//     it in the same or the next iteration: (a+)+, (a*)*b, (\w+\s?)+, (a?a?)*; but not (\w+\s)+;
//   - an unbounded repetition of an alternation whose branches can start with the same character: (a|a)*, (a|ab)+;
//   - backreferences (matching with them is NP-hard).
// Character sets are compared on a fixed sample of code points (all of Latin-1 plus one or two of each
// common script, digit, mark, space, symbol), which is exact for the ASCII-heavy classes tokenizers use.

/** The pattern was refused before use: it can take exponential time on some inputs. */
export class UnsafeRegexError extends TokenizerError {
  constructor(readonly pattern: string, readonly reason: string) {
    super(`regex ${JSON.stringify(pattern)} can backtrack exponentially (${reason}); refused`);
    (this as { code: string }).code = 'E_REGEX_UNSAFE';
  }
}

type RNode =
  | { k: 'atom'; src: string }
  | { k: 'assert'; body?: RNode }
  | { k: 'backref'; src: string }
  | { k: 'group'; body: RNode }
  | { k: 'alt'; alts: RNode[][] }
  | { k: 'quant'; min: number; max: number; body: RNode; src: string };

class RegexParser {
  i = 0;
  constructor(readonly s: string) {}
  parse(): RNode {
    const n = this.disjunction();
    if (this.i < this.s.length) throw new Error(`unexpected '${this.s[this.i]}' at ${this.i}`);
    return n;
  }
  private disjunction(): RNode {
    const alts: RNode[][] = [this.alternative()];
    while (this.s[this.i] === '|') { this.i++; alts.push(this.alternative()); }
    return { k: 'alt', alts };
  }
  private alternative(): RNode[] {
    const seq: RNode[] = [];
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const start = this.i;
      const atom = this.atom();
      const q = atom.k === 'assert' ? undefined : this.quantifier();
      seq.push(q ? { k: 'quant', ...q, body: atom, src: this.s.slice(start, this.i) } : atom);
    }
    return seq;
  }
  private quantifier(): { min: number; max: number } | undefined {
    const s = this.s;
    let q: { min: number; max: number } | undefined;
    const ch = s[this.i];
    if (ch === '*') q = { min: 0, max: Infinity };
    else if (ch === '+') q = { min: 1, max: Infinity };
    else if (ch === '?') q = { min: 0, max: 1 };
    else if (ch === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.i));
      if (!m) return undefined;
      const min = Number(m[1]);
      q = { min, max: m[2] === undefined ? min : m[3] ? Number(m[3]) : Infinity };
      this.i += m[0].length - 1;
    }
    if (!q) return undefined;
    this.i++;
    if (s[this.i] === '?') this.i++; // lazy: the same search space
    return q;
  }
  private atom(): RNode {
    const s = this.s;
    const ch = s[this.i]!;
    if (ch === '^' || ch === '$') { this.i++; return { k: 'assert' }; }
    if (ch === '(') {
      this.i++;
      let look = false;
      if (s.startsWith('?:', this.i)) this.i += 2;
      else if (s.startsWith('?=', this.i) || s.startsWith('?!', this.i)) { this.i += 2; look = true; }
      else if (s.startsWith('?<=', this.i) || s.startsWith('?<!', this.i)) { this.i += 3; look = true; }
      else if (s.startsWith('?<', this.i)) this.i = s.indexOf('>', this.i) + 1;
      const body = this.disjunction();
      if (s[this.i] !== ')') throw new Error('unbalanced parenthesis');
      this.i++;
      return look ? { k: 'assert', body } : { k: 'group', body };
    }
    const start = this.i;
    if (ch === '[') {
      this.i++;
      while (this.i < s.length && s[this.i] !== ']') this.i += s[this.i] === '\\' ? 2 : 1;
      this.i++;
      return { k: 'atom', src: s.slice(start, this.i) };
    }
    if (ch === '\\') {
      const n = s[this.i + 1] ?? '';
      if (n === 'b' || n === 'B') { this.i += 2; return { k: 'assert' }; }
      if (/[1-9]/.test(n) || (n === 'k' && s[this.i + 2] === '<')) {
        this.i += 2;
        while (/[0-9]/.test(s[this.i] ?? '')) this.i++;
        if (n === 'k') this.i = s.indexOf('>', this.i) + 1;
        return { k: 'backref', src: s.slice(start, this.i) };
      }
      if ((n === 'p' || n === 'P') && s[this.i + 2] === '{') this.i = s.indexOf('}', this.i) + 1;
      else if (n === 'u' && s[this.i + 2] === '{') this.i = s.indexOf('}', this.i) + 1;
      else if (n === 'u') this.i += 6;
      else if (n === 'x') this.i += 4;
      else if (n === 'c') this.i += 3;
      else this.i += 2;
      return { k: 'atom', src: s.slice(start, this.i) };
    }
    this.i += ch.codePointAt(0)! > 0xffff ? 2 : 1;
    return { k: 'atom', src: s.slice(start, this.i) };
  }
}

/** Code points the character sets are compared on. */
const PROBES: number[] = (() => {
  const p: number[] = [];
  for (let c = 0; c < 0x250; c++) p.push(c);
  p.push(
    0x2b0, 0x300, 0x301, 0x34f, 0x370, 0x391, 0x3b1, 0x3c9, 0x400, 0x410, 0x430, 0x48a, 0x531, 0x5d0, 0x5b0, 0x600, 0x627, 0x64b, 0x660,
    0x6f0, 0x700, 0x900, 0x915, 0x93e, 0x94d, 0x966, 0x9a4, 0xa15, 0xb95, 0xc15, 0xd15, 0xe01, 0xe31, 0xe50, 0xf40, 0x10a0, 0x1100, 0x1200,
    0x1680, 0x16ee, 0x1780, 0x1800, 0x1e00, 0x1f00, 0x2000, 0x200a, 0x200b, 0x200d, 0x2013, 0x2014, 0x2018, 0x201c, 0x2026, 0x2028,
    0x2029, 0x202f, 0x205f, 0x2070, 0x20ac, 0x2103, 0x2160, 0x2190, 0x2200, 0x2460, 0x2500, 0x25a0, 0x2600, 0x2603, 0x2700, 0x3000,
    0x3001, 0x3002, 0x3005, 0x3007, 0x3041, 0x3042, 0x30a2, 0x30fc, 0x3105, 0x3131, 0x4e00, 0x9fa5, 0xa000, 0xa4d0, 0xac00, 0xd7a3,
    0xe000, 0xf900, 0xfb01, 0xfe0f, 0xfeff, 0xff01, 0xff10, 0xff21, 0xff41, 0xff66, 0xfffd, 0x10000, 0x10400, 0x1d400, 0x1d7ce, 0x1f300,
    0x1f44d, 0x1f600, 0x1f9d1, 0x20000, 0xe0001, 0xf0000,
  );
  return p;
})();
const PROBE_TEXT = PROBES.map((c) => String.fromCodePoint(c));
const probeSets = new Map<string, Uint8Array>();

/** Which probes one atom (a character, class, escape or '.') matches; undefined when it does not compile alone. */
function atomSet(src: string): Uint8Array {
  let set: Uint8Array | undefined = probeSets.get(src);
  if (!set) {
    set = new Uint8Array(PROBES.length);
    let re: RegExp | undefined;
    try { re = new RegExp(`^(?:${src})$`, 'su'); } catch { re = undefined; }
    for (let j = 0; j < PROBES.length; j++) set[j] = re ? (re.test(PROBE_TEXT[j]!) ? 1 : 0) : 1;
    probeSets.set(src, set);
  }
  return set;
}

const overlaps = (a: Uint8Array, b: Uint8Array): boolean => a.some((x, j) => x === 1 && b[j] === 1);
function union(a: Uint8Array, b: Uint8Array): Uint8Array {
  const o: Uint8Array = new Uint8Array(a.length);
  for (let j = 0; j < a.length; j++) o[j] = a[j]! | b[j]!;
  return o;
}
const EMPTY: Uint8Array = new Uint8Array(PROBES.length);

function nullable(n: RNode): boolean {
  switch (n.k) {
    case 'atom': return false;
    case 'assert': case 'backref': return true;
    case 'group': return nullable(n.body);
    case 'alt': return n.alts.some((seq) => seq.every(nullable));
    case 'quant': return n.min === 0 || nullable(n.body);
  }
}

/** Characters that can start a match of the sequence. */
function firstOfSeq(seq: readonly RNode[]): Uint8Array {
  let f = EMPTY;
  for (const n of seq) {
    f = union(f, first(n));
    if (!nullable(n)) break;
  }
  return f;
}

function first(n: RNode): Uint8Array {
  switch (n.k) {
    case 'atom': return atomSet(n.src);
    case 'assert': case 'backref': return EMPTY;
    case 'group': return first(n.body);
    case 'alt': return n.alts.map(firstOfSeq).reduce(union, EMPTY);
    case 'quant': return n.max === 0 ? EMPTY : first(n.body);
  }
}

function branches(n: RNode): RNode[][] {
  if (n.k === 'group') return branches(n.body);
  if (n.k === 'alt') return n.alts;
  return [[n]];
}

/**
 * Walks `n` knowing what can follow it (`follow`); inside an unbounded repetition (`inLoop`) a
 * variable quantifier whose body can start with a character that may also follow it is a choice
 * the engine can take both ways on every iteration, hence exponential.
 */
function walk(n: RNode, follow: Uint8Array, inLoop: boolean, pattern: string): void {
  switch (n.k) {
    case 'backref': throw new UnsafeRegexError(pattern, `backreference ${n.src}`);
    case 'atom': return;
    case 'assert': if (n.body) walk(n.body, EMPTY, false, pattern); return;
    case 'group': return walk(n.body, follow, inLoop, pattern);
    case 'alt': for (const seq of n.alts) walkSeq(seq, follow, inLoop, pattern); return;
    case 'quant': break;
  }
  const start = first(n.body);
  if (inLoop && n.max > n.min && overlaps(start, follow)) {
    throw new UnsafeRegexError(pattern, `inside a repetition, ${n.src} can start with a character that can also follow it`);
  }
  if (n.max <= 1) return walk(n.body, follow, inLoop, pattern);
  const unbounded = n.max === Infinity;
  if (unbounded) {
    const alts = branches(n.body);
    const firsts = alts.map(firstOfSeq);
    for (let a = 0; a < firsts.length; a++) {
      for (let b = a + 1; b < firsts.length; b++) {
        if (overlaps(firsts[a]!, firsts[b]!)) throw new UnsafeRegexError(pattern, `the repeated alternatives of ${n.src} can start with the same character`);
      }
    }
  }
  // Within the body, what follows is the next iteration, or (inside an enclosing loop) what follows the repetition.
  walk(n.body, inLoop ? union(start, follow) : start, inLoop || unbounded, pattern);
}

function walkSeq(seq: readonly RNode[], follow: Uint8Array, inLoop: boolean, pattern: string): void {
  let after = follow;
  for (let i = seq.length - 1; i >= 0; i--) {
    walk(seq[i]!, after, inLoop, pattern);
    after = nullable(seq[i]!) ? union(first(seq[i]!), after) : first(seq[i]!);
  }
}

/** Refuses a pattern (given as `pattern`, compiled as the JS source `jsSource`) that can backtrack exponentially. */
export function assertLinearRegex(pattern: string, jsSource = pattern): void {
  let ast: RNode;
  try {
    ast = new RegexParser(jsSource).parse();
  } catch (e) {
    throw new TokenizerError(`regex ${JSON.stringify(pattern)} cannot be analysed: ${(e as Error).message}`);
  }
  walk(ast, EMPTY, false, pattern);
}
