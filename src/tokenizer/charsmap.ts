// SentencePiece's precompiled normalization map: a XOR-compressed compact double array (XCDA) of
// byte strings whose leaves index NUL-terminated replacement strings. Shared by the HF Precompiled
// normalizer and llama.cpp's UGM tokenizer, which both replace the longest matching prefix.

import { TokenizerError } from '../core/errors.js';

export class CharsMap {
  private readonly nodes: Uint32Array;
  private readonly replacements: Uint8Array;

  /** blob: u32 trie size in bytes, the trie, then the replacement strings. */
  constructor(blob: Uint8Array) {
    if (blob.length < 4) throw new TokenizerError(`precompiled charsmap of ${blob.length} bytes has no header`);
    const size = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0, true);
    if (4 + size >= blob.length || size % 4 !== 0) throw new TokenizerError(`precompiled charsmap of ${blob.length} bytes cannot hold a trie of ${size} bytes`);
    this.nodes = new Uint32Array(blob.slice(4, 4 + size).buffer);
    this.replacements = blob.subarray(4 + size);
  }

  private node(i: number): number {
    if (i >= this.nodes.length) throw new TokenizerError(`precompiled charsmap: trie index ${i} out of range (${this.nodes.length} entries)`);
    return this.nodes[i]!;
  }
  private base(i: number): number { const n = this.node(i); return ((n >>> 10) << ((n & (1 << 9)) >>> 6)) >>> 0; }
  private lcheck(i: number): number { return (this.node(i) & ((1 << 31) | 0xff)) >>> 0; }
  private leaf(i: number): boolean { return ((this.node(i) >>> 8) & 1) === 1; }
  private value(i: number): number { return this.node(i) & 0x7fffffff; }

  /** The longest prefix of input[at..] with a replacement, or undefined. */
  longestMatch(input: Uint8Array, at: number): { length: number; replacement: Uint8Array } | undefined {
    let length = 0, offset = 0;
    let idx = this.base(0);
    for (let p = at; p < input.length; p++) {
      const c = input[p]!;
      if (c === 0) break;
      idx ^= c;
      if (this.lcheck(idx) !== c) break;
      const isLeaf = this.leaf(idx);
      idx ^= this.base(idx);
      if (isLeaf) { length = p - at + 1; offset = this.value(idx); }
    }
    if (!length) return undefined;
    if (offset >= this.replacements.length) throw new TokenizerError(`precompiled charsmap: replacement offset ${offset} out of range`);
    let end = offset;
    while (end < this.replacements.length && this.replacements[end] !== 0) end++;
    return { length, replacement: this.replacements.subarray(offset, end) };
  }
}
