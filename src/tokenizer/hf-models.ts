// Hugging Face tokenizer models (tokenizer.json "model"): BPE (byte-level or SentencePiece-style with
// byte_fallback), WordPiece and Unigram, each turning one pre-tokenized piece into ids; a factory
// builds them and throws on a model type it does not know.

import { TokenizerError } from '../core/errors.js';
import { bpeMerge, buildRanks } from './bpe.js';
import { utf8Encoder } from './unicode.js';
import type { Vocab } from './vocab.js';

export interface HfModel {
  tokenize(piece: string, out: number[]): void;
}

type Json = Record<string, unknown>;

const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

export class HfBpe implements HfModel {
  private readonly ranks: Map<string, number>;
  private readonly unk: number;
  private readonly cache = new Map<string, number[]>();
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly byteFallback: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;

  constructor(private readonly vocab: Vocab, c: Json) {
    this.ranks = buildRanks((c.merges as (string | string[])[]) ?? []);
    this.unk = typeof c.unk_token === 'string' ? vocab.id(c.unk_token) : -1;
    this.prefix = (c.continuing_subword_prefix as string | null) ?? '';
    this.suffix = (c.end_of_word_suffix as string | null) ?? '';
    this.byteFallback = c.byte_fallback === true;
    this.fuseUnk = c.fuse_unk === true;
    this.ignoreMerges = c.ignore_merges === true;
    if (this.prefix || this.suffix) throw new TokenizerError('BPE model: continuing_subword_prefix / end_of_word_suffix are not supported');
  }

  tokenize(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (!ids) {
      ids = this.word(piece);
      if (this.cache.size > 50_000) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (const id of ids) out.push(id);
  }

  private word(piece: string): number[] {
    if (this.ignoreMerges) {
      const id = this.vocab.id(piece);
      if (id >= 0) return [id];
    }
    // initial symbols: known chars; unknown ones as byte tokens (byte_fallback) or [UNK] (fused if asked)
    const symbols: string[] = [];
    let lastUnk = false;
    for (const ch of piece) {
      if (this.vocab.id(ch) >= 0) { symbols.push(ch); lastUnk = false; continue; }
      if (this.byteFallback) {
        const bytes = [...utf8Encoder.encode(ch)].map(byteToken);
        if (bytes.every((b) => this.vocab.id(b) >= 0)) { symbols.push(...bytes); lastUnk = false; continue; }
      }
      if (this.unk < 0) continue; // tokenizers drops the char when the model has no unk_token
      if (!(this.fuseUnk && lastUnk)) symbols.push(this.vocab.tokens[this.unk]!);
      lastUnk = true;
    }
    return bpeMerge(symbols, this.ranks).map((s) => {
      const id = this.vocab.id(s);
      if (id < 0) throw new TokenizerError(`BPE model: merged piece ${JSON.stringify(s)} is not in the vocabulary`);
      return id;
    });
  }
}

export class HfWordPiece implements HfModel {
  private readonly unk: number;
  private readonly prefix: string;
  private readonly maxChars: number;

  constructor(private readonly vocab: Vocab, c: Json) {
    this.unk = vocab.id((c.unk_token as string) ?? '[UNK]');
    if (this.unk < 0) throw new TokenizerError(`WordPiece model: unk_token ${JSON.stringify(c.unk_token)} is not in the vocabulary`);
    this.prefix = (c.continuing_subword_prefix as string | undefined) ?? '##';
    this.maxChars = (c.max_input_chars_per_word as number | undefined) ?? 100;
  }

  tokenize(piece: string, out: number[]): void {
    const chars = Array.from(piece);
    if (chars.length > this.maxChars) { out.push(this.unk); return; }
    const ids: number[] = [];
    for (let start = 0; start < chars.length;) {
      let found = -1, end = chars.length;
      for (; end > start; end--) {
        const sub = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        found = this.vocab.id(sub);
        if (found >= 0) break;
      }
      if (found < 0) { out.push(this.unk); return; }
      ids.push(found);
      start = end;
    }
    out.push(...ids);
  }
}

interface TrieNode { next: Map<string, TrieNode>; id: number }

export class HfUnigram implements HfModel {
  private readonly root: TrieNode = { next: new Map(), id: -1 };
  private readonly unk: number;
  private readonly unkScore: number;
  private readonly byteFallback: boolean;

  constructor(private readonly vocab: Vocab, private readonly scores: Float64Array, c: Json) {
    this.unk = typeof c.unk_id === 'number' ? c.unk_id : -1;
    this.byteFallback = c.byte_fallback === true;
    let min = Infinity;
    for (let id = 0; id < scores.length; id++) if (scores[id]! < min) min = scores[id]!;
    this.unkScore = min - 10; // tokenizers' K_UNK_PENALTY
    vocab.tokens.forEach((t, id) => {
      if (id >= scores.length) return;
      let node = this.root;
      for (const ch of t) {
        let n = node.next.get(ch);
        if (!n) { n = { next: new Map(), id: -1 }; node.next.set(ch, n); }
        node = n;
      }
      node.id = id;
    });
  }

  /** Viterbi over code points: best total score, unknown single chars at min score - 10, consecutive unknowns fused. */
  tokenize(piece: string, out: number[]): void {
    const chars = Array.from(piece);
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const tok = new Int32Array(n + 1).fill(-1);
    best[0] = 0;
    for (let i = 0; i < n; i++) {
      if (best[i] === -Infinity) continue;
      let node: TrieNode | undefined = this.root;
      let singleFound = false;
      for (let j = i; j < n && node; j++) {
        node = node.next.get(chars[j]!);
        if (node && node.id >= 0) {
          if (j === i) singleFound = true;
          const s = best[i]! + this.scores[node.id]!;
          if (s > best[j + 1]!) { best[j + 1] = s; from[j + 1] = i; tok[j + 1] = node.id; }
        }
      }
      if (!singleFound) {
        const s = best[i]! + this.unkScore;
        if (s > best[i + 1]!) { best[i + 1] = s; from[i + 1] = i; tok[i + 1] = this.unk; }
      }
    }
    const path: [number, number, number][] = []; // [id, start, end]
    for (let e = n; e > 0; e = from[e]!) path.push([tok[e]!, from[e]!, e]);
    path.reverse();
    let prevUnk = false;
    for (const [id, s, e] of path) {
      if (id === this.unk || id < 0) {
        if (this.byteFallback) {
          for (const b of utf8Encoder.encode(chars.slice(s, e).join(''))) {
            const bid = this.vocab.id(byteToken(b));
            out.push(bid >= 0 ? bid : this.unk);
          }
          continue;
        }
        if (this.unk < 0) throw new TokenizerError(`Unigram model: ${JSON.stringify(chars.slice(s, e).join(''))} has no piece and the model has no unk_id`);
        if (!prevUnk) out.push(this.unk);
        prevUnk = true;
        continue;
      }
      out.push(id);
      prevUnk = false;
    }
  }
}

/** Vocabulary entries of a tokenizer.json model: [piece, id] pairs (and Unigram scores). */
export function modelVocab(c: Json): { pieces: [string, number][]; scores?: Float64Array } {
  switch (c.type) {
    case 'BPE':
    case 'WordPiece': {
      const v = c.vocab as Record<string, number> | undefined;
      if (!v || typeof v !== 'object') throw new TokenizerError(`${String(c.type)} model: "vocab" is missing`);
      return { pieces: Object.entries(v) };
    }
    case 'Unigram': {
      const v = c.vocab as [string, number][] | undefined;
      if (!Array.isArray(v)) throw new TokenizerError('Unigram model: "vocab" is missing');
      return { pieces: v.map(([p], i) => [p, i]), scores: Float64Array.from(v.map(([, s]) => s)) };
    }
    default:
      throw new TokenizerError(`unknown tokenizer model type '${String(c.type)}' in tokenizer.json (supported: BPE, WordPiece, Unigram)`);
  }
}

export function modelFromJSON(c: Json, vocab: Vocab, scores: Float64Array | undefined): HfModel {
  switch (c.type) {
    case 'BPE': return new HfBpe(vocab, c);
    case 'WordPiece': return new HfWordPiece(vocab, c);
    case 'Unigram': return new HfUnigram(vocab, scores!, c);
    default:
      throw new TokenizerError(`unknown tokenizer model type '${String(c.type)}' in tokenizer.json (supported: BPE, WordPiece, Unigram)`);
  }
}
