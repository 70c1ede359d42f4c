// `lutra train-tokenizer`: learns a SentencePiece-style BPE vocabulary (GGUF tokenizer model
// `llama`) from plain text. Text is normalized as llama.cpp's SPM tokenizer sees it (one leading
// space, spaces as U+2581), cut into words that start at each ▁, and pair merges are learned by
// frequency. A merge's rank becomes its score, so llama.cpp's highest-score-first bigram merging
// replays the merges in order. All 256 <0xNN> byte tokens are kept for byte fallback.
// Nothing here reads another model's vocabulary.

import { GGUFType, type GGUFValue } from '../formats/gguf.js';

export const SPM_SPACE = '\u2581';
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 } as const;

export interface LearnedVocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  merges: number;
}

export interface BpeTrainOptions {
  vocabSize: number;
  /** Characters seen fewer times than this are left to byte fallback (default 2). */
  minCharCount?: number;
}

/** Words as llama.cpp's SPM path would see them: '▁word' pieces; newlines stay single chars. */
function countWords(text: string): Map<string, number> {
  const norm = SPM_SPACE + text.replaceAll(' ', SPM_SPACE);
  const counts = new Map<string, number>();
  const re = /\u2581+[^\u2581\n]*|[^\u2581\n]+|\n/gu;
  for (const m of norm.matchAll(re)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  return counts;
}

export function trainBpeVocab(text: string, o: BpeTrainOptions): LearnedVocab {
  const specials = ['<unk>', '<s>', '</s>'];
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const words = countWords(text);
  // Alphabet: characters frequent enough to earn a token; the rest fall back to bytes.
  const charCount = new Map<string, number>();
  for (const [w, c] of words) for (const ch of w) charCount.set(ch, (charCount.get(ch) ?? 0) + c);
  const minChar = o.minCharCount ?? 2;
  const alphabet = [...charCount].filter(([ch, c]) => c >= minChar && ch !== '\n').sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([ch]) => ch);
  const base = specials.length + bytes.length;
  const nMerges = o.vocabSize - base - alphabet.length;
  if (nMerges < 0) throw new Error(`vocabulary size ${o.vocabSize} is smaller than the ${base} special and byte tokens plus ${alphabet.length} characters`);
  const pieces: string[] = [...alphabet];
  const idOf = new Map<string, number>(pieces.map((p, i) => [p, i]));
  // Each distinct word as a symbol array (-1 = character without a token, never merged).
  const wordSyms: Int32Array[] = [], wordFreq: number[] = [];
  for (const [w, c] of words) {
    const chars = [...w];
    wordSyms.push(Int32Array.from(chars, (ch) => idOf.get(ch) ?? -1));
    wordFreq.push(c);
  }
  const lens = wordSyms.map((s) => s.length);
  const key = (a: number, b: number) => a * 65536 + b;
  const pairs = new Map<number, number>();
  const addPairs = (wi: number, sign: number) => {
    const s = wordSyms[wi]!, f = wordFreq[wi]! * sign;
    for (let i = 0; i + 1 < lens[wi]!; i++) {
      if (s[i]! < 0 || s[i + 1]! < 0) continue;
      const k = key(s[i]!, s[i + 1]!);
      const v = (pairs.get(k) ?? 0) + f;
      if (v === 0) pairs.delete(k); else pairs.set(k, v);
    }
  };
  for (let wi = 0; wi < wordSyms.length; wi++) addPairs(wi, 1);
  let merges = 0;
  for (; merges < nMerges; merges++) {
    let best = -1, bestCount = 0, bestText = '';
    for (const [k, c] of pairs) {
      if (c < bestCount) continue;
      const text = pieces[Math.floor(k / 65536)]! + pieces[k % 65536]!;
      if (c > bestCount || text < bestText) { best = k; bestCount = c; bestText = text; }
    }
    if (best < 0 || bestCount < 2) break;
    const a = Math.floor(best / 65536), b = best % 65536;
    let id = idOf.get(bestText);
    if (id === undefined) { id = pieces.length; pieces.push(bestText); idOf.set(bestText, id); }
    for (let wi = 0; wi < wordSyms.length; wi++) {
      const s = wordSyms[wi]!;
      const n = lens[wi]!;
      let has = false;
      for (let i = 0; i + 1 < n; i++) if (s[i] === a && s[i + 1] === b) { has = true; break; }
      if (!has) continue;
      addPairs(wi, -1);
      let j = 0;
      for (let i = 0; i < n; i++) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) { s[j++] = id; i++; } else s[j++] = s[i]!;
      }
      lens[wi] = j;
      addPairs(wi, 1);
    }
  }
  const tokens = [...specials, ...bytes, ...pieces];
  const scores = new Float32Array(tokens.length);
  const types = new Int32Array(tokens.length);
  types[0] = TOKEN_TYPE.UNKNOWN; types[1] = TOKEN_TYPE.CONTROL; types[2] = TOKEN_TYPE.CONTROL;
  for (let i = 0; i < 256; i++) types[specials.length + i] = TOKEN_TYPE.BYTE;
  // Characters rank below every merge; merge i scores -i so earlier merges win ties in llama.cpp.
  for (let i = 0; i < pieces.length; i++) {
    types[base + i] = TOKEN_TYPE.NORMAL;
    scores[base + i] = i < alphabet.length ? -(1e6 + i) : -(i - alphabet.length);
  }
  return { tokens, scores, types, merges };
}

/** The GGUF tokenizer.* metadata for a learned vocabulary (llama.cpp's `llama` SPM model). */
export function vocabMetadata(v: LearnedVocab): [string, GGUFValue][] {
  return [
    ['tokenizer.ggml.model', { type: GGUFType.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: v.tokens }],
    ['tokenizer.ggml.scores', { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: v.scores }],
    ['tokenizer.ggml.token_type', { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: v.types }],
    ['tokenizer.ggml.bos_token_id', { type: GGUFType.UINT32, value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: GGUFType.UINT32, value: 2 }],
    ['tokenizer.ggml.unknown_token_id', { type: GGUFType.UINT32, value: 0 }],
    ['tokenizer.ggml.add_bos_token', { type: GGUFType.BOOL, value: true }],
    ['tokenizer.ggml.add_eos_token', { type: GGUFType.BOOL, value: false }],
  ];
}
