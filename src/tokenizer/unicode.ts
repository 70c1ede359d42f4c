// Unicode facts the tokenizers need, with llama.cpp's definitions (src/unicode.cpp): one category flag
// per code point (from the engine's own Unicode tables via \p{..}), llama.cpp's White_Space set,
// simple lowercase, the first code point of NFD, and GPT-2's byte <-> printable-char map.
// Not a normalizer: HF normalizers live in hf-normalizers.ts.

export const CPT_UNDEFINED = 0x0001;
export const CPT_NUMBER = 0x0002;
export const CPT_LETTER = 0x0004;
export const CPT_SEPARATOR = 0x0008;
export const CPT_ACCENT_MARK = 0x0010;
export const CPT_PUNCTUATION = 0x0020;
export const CPT_SYMBOL = 0x0040;
export const CPT_CONTROL = 0x0080;
export const CPT_WHITESPACE = 0x0100;

const MAX_CODEPOINTS = 0x110000;

// llama.cpp's table_whitespace (PropList White_Space); JS \s differs (adds U+FEFF, drops U+0085).
const WHITESPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

const CATEGORY_TESTS: [RegExp, number][] = [
  [/^\p{Cn}$/u, CPT_UNDEFINED],
  [/^\p{L}$/u, CPT_LETTER],
  [/^\p{N}$/u, CPT_NUMBER],
  [/^\p{M}$/u, CPT_ACCENT_MARK],
  [/^\p{P}$/u, CPT_PUNCTUATION],
  [/^\p{S}$/u, CPT_SYMBOL],
  [/^\p{Z}$/u, CPT_SEPARATOR],
  [/^\p{C}$/u, CPT_CONTROL],
];

// Filled lazily: 0 means "not computed yet"; bit 0x8000 marks a computed entry.
const flagCache = new Uint16Array(MAX_CODEPOINTS);

function computeFlags(cpt: number): number {
  const s = String.fromCodePoint(cpt);
  let flags = CPT_UNDEFINED;
  for (const [re, flag] of CATEGORY_TESTS) {
    if (re.test(s)) { flags = flag; break; }
  }
  if (WHITESPACE.has(cpt)) flags |= CPT_WHITESPACE;
  return flags;
}

/** Category flags of a code point; out-of-range code points are UNDEFINED, as in llama.cpp. */
export function cptFlags(cpt: number): number {
  if (cpt < 0 || cpt >= MAX_CODEPOINTS) return CPT_UNDEFINED;
  let f = flagCache[cpt]!;
  if (f === 0) {
    f = computeFlags(cpt) | 0x8000;
    flagCache[cpt] = f;
  }
  return f & 0x7fff;
}

export const isWhitespace = (cpt: number): boolean => (cptFlags(cpt) & CPT_WHITESPACE) !== 0;

/** UnicodeData simple lowercase mapping (JS toLowerCase is the full mapping; only U+0130 differs, by a trailing mark). */
export function toLowerCpt(cpt: number): number {
  if (cpt < 0x41) return cpt;
  if (cpt < 0x80) return cpt >= 0x41 && cpt <= 0x5a ? cpt + 32 : cpt;
  return String.fromCodePoint(cpt).toLowerCase().codePointAt(0)!;
}

/** First code point of the NFD decomposition: what llama.cpp's unicode_cpts_normalize_nfd keeps. */
export function nfdFirst(cpt: number): number {
  if (cpt < 0xc0) return cpt;
  return String.fromCodePoint(cpt).normalize('NFD').codePointAt(0)!;
}

/** Code points of a JS string; a lone surrogate reads as U+FFFD, as its UTF-8 encoding would. */
export function codepoints(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out.push(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000);
        i++;
        continue;
      }
    }
    out.push(c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
  }
  return out;
}

export const utf8Encoder = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** GPT-2 bytes_to_unicode: every byte gets a printable code point; bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF map to themselves. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map: string[] = new Array(256);
  const keep = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(keep(b) ? b : 256 + n++);
  return map;
})();

/** Inverse of BYTE_TO_CHAR, keyed by char code; -1 where a char is not a byte-level char. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const inv = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => { inv[ch.charCodeAt(0)] = b; });
  return inv;
})();

/** UTF-8 bytes of `text` spelled with GPT-2 byte-level chars. */
export function byteLevelEncode(text: string): string {
  const bytes = utf8Encoder.encode(text);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_CHAR[bytes[i]!];
  return out;
}
