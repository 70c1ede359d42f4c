// The model-independent half of a tokenizer, shaped after llama.cpp's llama_vocab: the token table
// with per-token attributes, the special-token partition that runs before any model
// (tokenizer_st_partition), BOS/EOS framing, token -> bytes and detokenization. A TextModel
// (spm.ts, bpe.ts, wpm.ts, hf-models.ts) only ever sees plain text fragments.

import { TokenizerError } from '../core/errors.js';
import { ATTR, type EncodeOptions, type Tokenizer } from './types.js';
import { utf8Decoder } from './unicode.js';

/** The token table shared by a tokenizer and its model. */
export class Vocab {
  readonly tokenToId = new Map<string, number>();
  maxTokenLength = 0; // in UTF-16 units
  constructor(readonly tokens: readonly string[], readonly attrs: Uint16Array, readonly file: string) {
    if (attrs.length !== tokens.length) throw new TokenizerError(`${file}: ${tokens.length} tokens but ${attrs.length} token attributes`);
    tokens.forEach((t, i) => {
      this.tokenToId.set(t, i);
      if (t.length > this.maxTokenLength) this.maxTokenLength = t.length;
    });
  }
  get size(): number { return this.tokens.length; }
  /** Token id of a piece, or -1. */
  id(text: string): number { return this.tokenToId.get(text) ?? -1; }
  has(id: number, attr: number): boolean { return (this.attrs[id]! & attr) !== 0; }
}

/**
 * Tokenizes one fragment of plain text (special tokens already split out) and appends the ids.
 * afterSpecial: the fragment starts the input or follows a special token; atStart: it starts the input.
 */
export interface TextModel {
  encode(text: string, out: number[], afterSpecial: boolean, atStart: boolean): void;
}

export interface TokenizerParts {
  vocab: Vocab;
  model: TextModel;
  /** Bytes of a token rendered with special=true (control tokens as their text). */
  pieceBytes: (id: number) => Uint8Array;
  bos: number | undefined;
  eos: number | undefined;
  addBos: boolean;
  addEos: boolean;
  /** What addSpecial puts before / after the text (BOS; EOS or BERT's SEP). */
  prefix: readonly number[];
  suffix: readonly number[];
  eog: ReadonlySet<number>;
  /**
   * Strip one leading space on decode: from the first token, as llama.cpp's add_space_prefix does
   * ('first-token': after a BOS the space stays), or from the first token that renders any bytes,
   * as HF decoders do once special tokens are skipped ('first-text').
   */
  removeLeadingSpace: 'no' | 'first-token' | 'first-text';
  /** Decode clean-up: llama.cpp's clean_spaces passes, or transformers' clean_up_tokenization (" ," -> ",", " 's" -> "'s"). */
  cleanSpaces: 'no' | 'llama' | 'transformers';
  chatTemplate: string | undefined;
}

type Fragment = { text: string } | { id: number };

const EMPTY = new Uint8Array(0);
const isCSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

export class CoreTokenizer implements Tokenizer {
  private nIds: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly chatTemplate: string | undefined;
  readonly bosText: string | undefined;
  readonly eosText: string | undefined;
  private readonly pieces: (Uint8Array | undefined)[];
  /** Control, user-defined and unknown tokens, longest text first: the order llama.cpp splits them out. */
  private readonly specials: number[];

  constructor(private readonly p: TokenizerParts) {
    const v = p.vocab;
    this.nIds = v.size;
    this.bos = p.bos;
    this.eos = p.eos;
    this.addBos = p.addBos;
    this.addEos = p.addEos;
    this.chatTemplate = p.chatTemplate;
    this.bosText = p.bos === undefined ? undefined : v.tokens[p.bos];
    this.eosText = p.eos === undefined ? undefined : v.tokens[p.eos];
    this.pieces = new Array(v.size);
    this.specials = [];
    for (let id = 0; id < v.size; id++) {
      if (v.has(id, ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) this.specials.push(id);
    }
    this.specials.sort((a, b) => v.tokens[b]!.length - v.tokens[a]!.length || a - b);
  }

  /** Ids the model can produce: the vocabulary, plus padding rows after padTo. */
  get vocabSize(): number { return this.nIds; }

  /**
   * Accept ids up to `n` (the embedding's row count) as padding tokens: Hugging Face checkpoints pad
   * the embedding past the tokenizer (Qwen2: 151936 rows, 151665 tokens), transformers decodes those
   * ids to nothing, and convert_hf_to_gguf.py writes them as [PAD<id>] tokens. Never encoded.
   */
  padTo(n: number): void {
    if (n > this.nIds) this.nIds = n;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    if (addSpecial) out.push(...this.p.prefix);
    let afterSpecial = true;
    this.partition(text, opts.parseSpecial ?? false).forEach((f, i) => {
      if ('id' in f) {
        out.push(f.id);
        afterSpecial = true;
      } else {
        this.p.model.encode(f.text, out, afterSpecial, i === 0);
        afterSpecial = false;
      }
    });
    if (addSpecial) out.push(...this.p.suffix);
    return out;
  }

  /**
   * llama.cpp's tokenizer_st_partition: each special token, longest first, is cut out of every text
   * fragment. Control and unknown tokens only when parseSpecial; user-defined tokens always (HF added
   * tokens). LSTRIP / RSTRIP tokens swallow the ASCII whitespace beside them.
   */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = text.length ? [{ text }] : [];
    const v = this.p.vocab;
    for (const id of this.specials) {
      const attr = v.attrs[id]!;
      if (!parseSpecial && (attr & (ATTR.CONTROL | ATTR.UNKNOWN))) continue;
      const tok = v.tokens[id]!;
      if (!text.includes(tok)) continue;
      const next: Fragment[] = [];
      for (const f of frags) {
        if (!('text' in f)) { next.push(f); continue; }
        let rest = f.text;
        for (;;) {
          const at = rest.indexOf(tok);
          if (at < 0) break;
          let leftEnd = at;
          if (attr & ATTR.LSTRIP) while (leftEnd > 0 && isCSpace(rest.charCodeAt(leftEnd - 1))) leftEnd--;
          if (leftEnd > 0) next.push({ text: rest.slice(0, leftEnd) });
          next.push({ id });
          let rightStart = at + tok.length;
          if (attr & ATTR.RSTRIP) while (rightStart < rest.length && isCSpace(rest.charCodeAt(rightStart))) rightStart++;
          rest = rest.slice(rightStart);
        }
        if (rest.length) next.push({ text: rest });
      }
      frags = next;
    }
    return frags;
  }

  tokenBytes(id: number, special = false): Uint8Array {
    if (!(id >= 0 && id < this.vocabSize)) throw new TokenizerError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    if (id >= this.p.vocab.size) return EMPTY;
    if (!special && this.p.vocab.has(id, ATTR.CONTROL | ATTR.UNKNOWN)) return EMPTY;
    let b = this.pieces[id];
    if (!b) this.pieces[id] = b = this.p.pieceBytes(id);
    return b;
  }

  /** llama_detokenize(remove_special = false, unparse_special = special), including its clean-up passes. */
  decode(ids: ArrayLike<number>, special = false): string {
    const parts: Uint8Array[] = [];
    let n = 0;
    let strip = this.p.removeLeadingSpace !== 'no';
    for (let i = 0; i < ids.length; i++) {
      let b = this.tokenBytes(ids[i]!, special);
      const rendered = b.length > 0;
      if (strip && rendered && b[0] === 0x20) b = b.subarray(1);
      if (this.p.removeLeadingSpace === 'first-token' || rendered) strip = false;
      parts.push(b);
      n += b.length;
    }
    let bytes: Uint8Array = new Uint8Array(n);
    let o = 0;
    for (const b of parts) { bytes.set(b, o); o += b.length; }
    if (this.p.cleanSpaces === 'llama') bytes = cleanSpaces(bytes);
    const text = utf8Decoder.decode(bytes);
    return this.p.cleanSpaces === 'transformers' ? cleanUpTokenization(text) : text;
  }

  isEog(id: number): boolean { return this.p.eog.has(id); }
  isControl(id: number): boolean { return id >= 0 && id < this.p.vocab.size && this.p.vocab.has(id, ATTR.CONTROL); }
  tokenText(id: number): string {
    if (Number.isInteger(id) && id >= this.p.vocab.size && id < this.nIds) return `[PAD${id}]`;
    const t = this.p.vocab.tokens[id];
    if (t === undefined) throw new TokenizerError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return t;
  }
}

/** transformers' PreTrainedTokenizerBase.clean_up_tokenization. */
function cleanUpTokenization(t: string): string {
  return t.replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!').replaceAll(' ,', ',').replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

/** The three passes of llama.cpp's clean_spaces: " ?"/" !"/" ."/" ," lose the space, " ' " loses both, " 's"/" 'm"/" 're"/" 've" lose it. */
function cleanSpaces(t: Uint8Array): Uint8Array {
  const SP = 0x20, Q = 0x27;
  let total = t.length;
  let w = total ? 1 : 0;
  for (let i = 1; i < total; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) w--;
    t[w++] = x;
  }
  total = w;
  w = total ? 1 : 0;
  for (let i = 1; i < total; i++) {
    const x = t[i]!;
    if (x === Q && i + 1 < total && t[i - 1] === SP && t[i + 1] === SP) {
      w--;
      t[++i] = 0; // llama.cpp writes a NUL over the next space
    }
    t[w++] = x;
  }
  total = w;
  w = total ? 1 : 0;
  for (let i = 1; i < total; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && x === Q && i + 1 < total) {
      const x1 = t[i + 1]!;
      if (x1 === 0x73 || x1 === 0x6d) w--; // 's 'm
      else if (i + 2 < total) {
        const x2 = t[i + 2]!;
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) w--; // 're 've
      }
    }
    t[w++] = x;
  }
  return t.subarray(0, w);
}
