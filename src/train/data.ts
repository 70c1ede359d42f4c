// Training data: the text split into a training part and a held-out tail (cut at a blank line so
// no story is split across them), each tokenized as one text with BOS in front, as llama.cpp's
// perplexity tool tokenizes a file. Windows of ctx+1 tokens start with BOS, like its chunks.

import type { Tokenizer } from '../tokenizer/types.js';
import type { Xorshift128 } from './rng.js';

export interface SplitText { train: string; heldOut: string }

/** The last `fraction` of the text (from the blank line nearest the cut) is held out. */
export function splitText(text: string, fraction: number): SplitText {
  if (fraction <= 0) return { train: text, heldOut: '' };
  let cut = Math.floor(text.length * (1 - fraction));
  const nl = text.indexOf('\n\n', cut);
  if (nl >= 0) cut = nl + 2;
  return { train: text.slice(0, cut), heldOut: text.slice(cut) };
}

export function tokenizeText(tok: Tokenizer, text: string): Int32Array {
  if (text.endsWith('\n')) text = text.slice(0, -1);
  return Int32Array.from(tok.encode(text, { addSpecial: true, parseSpecial: false }));
}

export class Windows {
  constructor(readonly tokens: Int32Array, readonly ctx: number, readonly bos: number) {
    if (tokens.length < ctx + 1) throw new Error(`${tokens.length} tokens is fewer than one window of ${ctx + 1}`);
  }
  /** A random window: input[0..ctx) with BOS first, target[0..ctx). */
  sample(rng: Xorshift128, input: Int32Array, target: Int32Array): void {
    this.at(rng.int(this.tokens.length - this.ctx), input, target);
  }
  at(start: number, input: Int32Array, target: Int32Array): void {
    const T = this.ctx;
    input.set(this.tokens.subarray(start, start + T));
    input[0] = this.bos;
    target.set(this.tokens.subarray(start + 1, start + T + 1));
  }
  /** Non-overlapping windows for validation. */
  get fixedCount(): number {
    return Math.floor((this.tokens.length - 1) / this.ctx);
  }
}
