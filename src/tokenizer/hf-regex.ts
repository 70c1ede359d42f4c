// Hugging Face tokenizers compile pre-tokenizer and normalizer patterns with Oniguruma; this turns
// such a pattern into an equivalent JS RegExp ('u' flag): (?i:...) groups spelled out per letter
// (Node 20 has no inline modifiers), \s as Unicode White_Space (JS adds U+FEFF, misses U+0085),
// \d as \p{Nd}, \p{Han}-style script names as \p{Script=..}, possessive quantifiers and atomic
// groups as their plain forms (JS has neither; the difference only shows on pathological text).

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
    cache.set(src, re);
  }
  return re;
}

/** A global RegExp matching a literal string. */
export function literalRegex(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'gu');
}
