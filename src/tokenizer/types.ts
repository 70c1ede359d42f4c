// The tokenizer contract the rest of lutra calls, and llama.cpp's per-token attribute bits.
// Types only; the implementation is vocab.ts plus one model file per tokenizer family.

export interface EncodeOptions {
  /** Default true: add BOS/EOS (or CLS/SEP) as the model's rules say. */
  addSpecial?: boolean;
  /** Default false: control-token texts in the input (e.g. "<|im_end|>") are matched as tokens only when true. */
  parseSpecial?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  /**
   * Raw bytes of one token as it appears in output text (byte-fallback tokens <0x0A> give their byte,
   * SPM's ▁ becomes a space, GPT-2 byte-level chars map back to bytes). Control tokens give empty
   * bytes unless special=true.
   */
  tokenBytes(id: number, special?: boolean): Uint8Array;
  decode(ids: ArrayLike<number>, special?: boolean): string;
  /** EOS, EOT, and the tokens llama.cpp treats as end-of-generation (<|im_end|>, <|eot_id|>, <|endoftext|> ...). */
  isEog(id: number): boolean;
  isControl(id: number): boolean;
  /** The vocabulary piece as stored. */
  tokenText(id: number): string;
  readonly chatTemplate: string | undefined;
  readonly bosText: string | undefined;
  readonly eosText: string | undefined;
}

/** llama_token_attr bits (llama.h). */
export const ATTR = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

/** GGUF tokenizer.ggml.token_type values -> attribute bits (llama_vocab::impl::load). */
export function attrFromTokenType(t: number): number {
  switch (t) {
    case 1: return ATTR.NORMAL;
    case 2: return ATTR.UNKNOWN;
    case 3: return ATTR.CONTROL;
    case 4: return ATTR.USER_DEFINED;
    case 5: return ATTR.UNUSED;
    case 6: return ATTR.BYTE;
    default: return ATTR.UNDEFINED;
  }
}
