// Bytes of weights a decode step reads, from a GGUF file's tensor table.
// Counts every matrix (2+ dims) and the embedding only when it doubles as the
// output matrix (no output.weight); a row lookup in a separate embedding is
// negligible. Sizes come from tensor offsets, so no quant-type table is needed.
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

const VALUE_SIZE = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const T_STRING = 8;
const T_ARRAY = 9;

class Reader {
  constructor(path) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
    this.pos = 0;
    this.path = path;
  }
  bytes(n) {
    const b = Buffer.alloc(n);
    const got = readSync(this.fd, b, 0, n, this.pos);
    if (got !== n) throw new Error(`${this.path}: GGUF truncated at offset ${this.pos}`);
    this.pos += n;
    return b;
  }
  u32() { return this.bytes(4).readUInt32LE(0); }
  u64() { return Number(this.bytes(8).readBigUInt64LE(0)); }
  str() { return this.bytes(this.u64()).toString('utf8'); }
  skipString() {
    const n = this.u64(); // read the length before moving pos: `pos += u64()` would not
    this.pos += n;
  }
  skipValue(type) {
    if (type === T_STRING) { this.skipString(); return; }
    if (type === T_ARRAY) {
      const inner = this.u32();
      const n = this.u64();
      if (inner === T_STRING) { for (let i = 0; i < n; i++) this.skipString(); return; }
      if (inner === T_ARRAY) { for (let i = 0; i < n; i++) this.skipValue(inner); return; }
      this.pos += n * VALUE_SIZE[inner];
      return;
    }
    const size = VALUE_SIZE[type];
    if (size === undefined) throw new Error(`${this.path}: unknown GGUF value type ${type} at offset ${this.pos}`);
    this.pos += size;
  }
}

/** @returns {{ fileBytes: number, decodeBytes: number, tensors: number, tiedEmbedding: boolean }} */
export function decodeWeightBytes(path) {
  const r = new Reader(path);
  try {
    if (r.bytes(4).toString('latin1') !== 'GGUF') throw new Error(`${path}: not a GGUF file`);
    r.u32(); // version
    const nTensors = r.u64();
    const nKv = r.u64();
    let alignment = 32;
    for (let i = 0; i < nKv; i++) {
      const key = r.str();
      const type = r.u32();
      if (key === 'general.alignment' && type === 4) alignment = r.u32();
      else r.skipValue(type);
    }
    const infos = [];
    for (let i = 0; i < nTensors; i++) {
      const name = r.str();
      const nDims = r.u32();
      for (let d = 0; d < nDims; d++) r.u64();
      r.u32(); // ggml type
      infos.push({ name, nDims, offset: r.u64() });
    }
    const dataStart = Math.ceil(r.pos / alignment) * alignment;
    const byOffset = [...infos].sort((a, b) => a.offset - b.offset);
    byOffset.forEach((t, i) => {
      const end = i + 1 < byOffset.length ? byOffset[i + 1].offset : r.size - dataStart;
      t.bytes = end - t.offset;
    });
    const tied = !infos.some((t) => t.name === 'output.weight');
    let decodeBytes = 0;
    for (const t of infos) {
      if (t.nDims < 2) continue;
      if (t.name === 'token_embd.weight' && !tied) continue;
      decodeBytes += t.bytes;
    }
    return { fileBytes: r.size, decodeBytes, tensors: infos.length, tiedEmbedding: tied };
  } finally {
    closeSync(r.fd);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const p of process.argv.slice(2)) console.log(p, decodeWeightBytes(p));
}
