// Incremental detokenization for generation: token bytes go through one streaming UTF-8 decoder,
// so a character split across tokens (byte-fallback <0xE2><0x96><0x81>, or a byte-level BPE token
// ending mid-character) is held back until it is complete. Invalid sequences come out as U+FFFD.

import type { Tokenizer } from './types.js';

export class StreamDecoder {
  private decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly tok: Tokenizer, private readonly special = false) {}

  /** Text completed by this token; '' while a character is still incomplete. */
  push(id: number): string {
    return this.decoder.decode(this.tok.tokenBytes(id, this.special), { stream: true });
  }

  /** Whatever is still buffered (an incomplete character becomes U+FFFD); the decoder can be reused after. */
  flush(): string {
    return this.decoder.decode();
  }
}
