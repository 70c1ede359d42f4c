// The text side of generation: token ids to UTF-8-safe text pieces (a character split across tokens
// waits for its last byte), with stop strings: text that may be the start of a stop string is held
// back until it is not, and generation ends before the first stop string, which is not emitted.

import type { Tokenizer } from '../tokenizer/index.js';
import { StreamDecoder } from '../tokenizer/index.js';

/** Length of the longest suffix of `text` that is a proper prefix of one of `markers` (stop strings, tool-call openers). */
export function heldBack(text: string, markers: readonly string[]): number {
  let hold = 0;
  for (const m of markers) {
    for (let n = Math.min(m.length - 1, text.length); n > hold; n--) {
      if (text.endsWith(m.slice(0, n))) { hold = n; break; }
    }
  }
  return hold;
}

export class TextStream {
  private readonly decoder: StreamDecoder;
  private readonly stops: string[];
  private pending = '';
  /** A stop string was found: push() returned the text before it, and the stream is over. */
  stopped = false;

  constructor(tok: Tokenizer, opts: { special?: boolean; stop?: readonly string[] } = {}) {
    this.decoder = new StreamDecoder(tok, opts.special ?? false);
    this.stops = (opts.stop ?? []).filter((s) => s.length > 0);
  }

  /** The text this token lets out now ('' while a character or a possible stop string is incomplete). */
  push(id: number): string {
    this.pending += this.decoder.push(id);
    if (!this.stops.length) {
      const piece = this.pending;
      this.pending = '';
      return piece;
    }
    const hit = this.stops.map((s) => this.pending.indexOf(s)).filter((i) => i >= 0);
    if (hit.length) {
      const piece = this.pending.slice(0, Math.min(...hit));
      this.pending = '';
      this.stopped = true;
      return piece;
    }
    const hold = heldBack(this.pending, this.stops);
    const piece = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return piece;
  }

  /** What is still held back (an incomplete character becomes U+FFFD); '' after a stop. */
  flush(): string {
    if (this.stopped) return '';
    const tail = this.pending + this.decoder.flush();
    this.pending = '';
    return tail;
  }
}
