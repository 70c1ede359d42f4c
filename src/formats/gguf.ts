// GGUF v2/v3 container: bytes -> { metadata, tensor table } and back. Tensors are views into the
// given bytes (never copied here). Every count and length read from the header is checked against
// the bytes that remain before anything is allocated, so a corrupt header cannot ask for gigabytes.
// Knows nothing about quantization beyond the block size table needed to size tensor data.

import { FormatError } from '../core/errors.js';
import { ggmlTypeInfo } from '../quant/table.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
const GGML_MAX_DIMS = 4;

export enum GGUFType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** A metadata value with its on-disk type, so a file can be written back byte for byte. */
export type GGUFValue =
  | { type: Exclude<GGUFType, GGUFType.STRING | GGUFType.ARRAY | GGUFType.UINT64 | GGUFType.INT64 | GGUFType.BOOL>; value: number }
  | { type: GGUFType.UINT64 | GGUFType.INT64; value: bigint }
  | { type: GGUFType.BOOL; value: boolean }
  | { type: GGUFType.STRING; value: string; raw?: Uint8Array }
  | { type: GGUFType.ARRAY; itemType: GGUFType; value: GGUFArray; raw?: Map<number, Uint8Array> };
// `raw` keeps the exact bytes of strings that are not valid UTF-8, so they are written back unchanged.

/** Numeric arrays are typed arrays; strings, bools and nested arrays are plain arrays. */
export type GGUFArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array | string[] | boolean[] | GGUFValue[];

export interface GGUFTensorInfo {
  name: string;
  /** ggml order: shape[0] is the contiguous row length. */
  shape: number[];
  type: number;
  /** Offset relative to the start of the data section. */
  offset: number;
  nbytes: number;
  /** View of the tensor's bytes inside the file buffer. */
  data: Uint8Array;
}

export interface GGUFFile {
  version: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  alignment: number;
  dataOffset: number;
}

/** Plain JS value of a metadata entry (numbers for integers that fit, bigint otherwise). */
export function plainValue(v: GGUFValue): unknown {
  switch (v.type) {
    case GGUFType.UINT64:
    case GGUFType.INT64:
      return Number.isSafeInteger(Number(v.value)) ? Number(v.value) : v.value;
    case GGUFType.ARRAY:
      return Array.isArray(v.value) && v.itemType === GGUFType.ARRAY ? (v.value as GGUFValue[]).map(plainValue) : v.value;
    default:
      return v.value;
  }
}

class Reader {
  pos = 0;
  private readonly view: DataView;
  // ignoreBOM: a vocabulary may hold U+FEFF as a token; the default decoder would drop it.
  private readonly strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private readonly lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  /** Bytes of the last string read when they were not valid UTF-8. */
  lastRaw: Uint8Array | undefined;
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }
  need(n: number, what: string): void {
    if (n > this.remaining) throw new FormatError(this.file, `truncated: ${what} needs ${n} bytes, ${this.remaining} left`, this.pos);
  }
  u8(what: string): number { this.need(1, what); return this.view.getUint8(this.pos++); }
  u32(what: string): number { this.need(4, what); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(what: string): bigint { this.need(8, what); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  /** A u64 count or length that must fit the remaining bytes at `minItemBytes` each. */
  count(what: string, minItemBytes: number): number {
    const at = this.pos;
    const n = this.u64(what);
    if (n > BigInt(Math.floor(this.remaining / Math.max(minItemBytes, 1)))) {
      throw new FormatError(this.file, `truncated or corrupt: ${what} ${n} needs at least ${n * BigInt(Math.max(minItemBytes, 1))} bytes, ${this.remaining} left`, at);
    }
    return Number(n);
  }
  string(what: string): string {
    const len = this.count(`length of ${what}`, 1);
    // Browsers' TextDecoder refuses views of shared memory (where the wasm kernels keep the file).
    const shared = typeof SharedArrayBuffer !== 'undefined' && this.bytes.buffer instanceof SharedArrayBuffer;
    const b = shared ? this.bytes.slice(this.pos, this.pos + len) : this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    this.lastRaw = undefined;
    try {
      return this.strict.decode(b);
    } catch {
      this.lastRaw = b.slice();
      return this.lenient.decode(b);
    }
  }
  scalar(type: GGUFType, what: string): GGUFValue {
    const size = SCALAR_SIZE[type]!;
    this.need(size, what);
    const p = this.pos;
    this.pos += size;
    const dv = this.view;
    switch (type) {
      case GGUFType.UINT8: return { type, value: dv.getUint8(p) };
      case GGUFType.INT8: return { type, value: dv.getInt8(p) };
      case GGUFType.UINT16: return { type, value: dv.getUint16(p, true) };
      case GGUFType.INT16: return { type, value: dv.getInt16(p, true) };
      case GGUFType.UINT32: return { type, value: dv.getUint32(p, true) };
      case GGUFType.INT32: return { type, value: dv.getInt32(p, true) };
      case GGUFType.FLOAT32: return { type, value: dv.getFloat32(p, true) };
      case GGUFType.FLOAT64: return { type, value: dv.getFloat64(p, true) };
      case GGUFType.BOOL: {
        const b = dv.getUint8(p);
        if (b > 1) throw new FormatError(this.file, `invalid bool ${b} in ${what}`, p);
        return { type, value: b === 1 };
      }
      case GGUFType.UINT64: return { type, value: dv.getBigUint64(p, true) };
      case GGUFType.INT64: return { type, value: dv.getBigInt64(p, true) };
      default: throw new FormatError(this.file, `unknown value type ${type} in ${what}`, p - size);
    }
  }
  value(type: number, what: string, depth: number): GGUFValue {
    if (type === GGUFType.STRING) {
      const value = this.string(what);
      return this.lastRaw ? { type, value, raw: this.lastRaw } : { type, value };
    }
    if (type === GGUFType.ARRAY) return this.array(what, depth);
    if (!(type in SCALAR_SIZE)) throw new FormatError(this.file, `unknown value type ${type} in ${what}`, this.pos - 4);
    return this.scalar(type, what);
  }
  array(what: string, depth: number): GGUFValue {
    if (depth > 8) throw new FormatError(this.file, `arrays nested too deeply in ${what}`, this.pos);
    const typeAt = this.pos;
    const itemType = this.u32(`array type of ${what}`) as GGUFType;
    if (itemType !== GGUFType.STRING && itemType !== GGUFType.ARRAY && !(itemType in SCALAR_SIZE)) {
      throw new FormatError(this.file, `unknown array item type ${itemType} in ${what}`, typeAt);
    }
    const minSize = itemType === GGUFType.STRING ? 8 : itemType === GGUFType.ARRAY ? 12 : SCALAR_SIZE[itemType]!;
    const n = this.count(`array length of ${what}`, minSize);
    if (itemType === GGUFType.STRING) {
      const out = new Array<string>(n);
      let raw: Map<number, Uint8Array> | undefined;
      for (let i = 0; i < n; i++) {
        out[i] = this.string(`${what}[${i}]`);
        if (this.lastRaw) (raw ??= new Map()).set(i, this.lastRaw);
      }
      return raw ? { type: GGUFType.ARRAY, itemType, value: out, raw } : { type: GGUFType.ARRAY, itemType, value: out };
    }
    if (itemType === GGUFType.ARRAY) {
      const out = new Array<GGUFValue>(n);
      for (let i = 0; i < n; i++) out[i] = this.array(`${what}[${i}]`, depth + 1);
      return { type: GGUFType.ARRAY, itemType, value: out };
    }
    if (itemType === GGUFType.BOOL) {
      const out = new Array<boolean>(n);
      for (let i = 0; i < n; i++) out[i] = this.scalar(GGUFType.BOOL, `${what}[${i}]`).value as boolean;
      return { type: GGUFType.ARRAY, itemType, value: out };
    }
    const size = SCALAR_SIZE[itemType]!;
    // Copy numeric arrays into their own (aligned) buffer: they are small metadata, not weights.
    // Copy explicitly: Buffer.prototype.slice would return a view, not an aligned copy.
    const raw = new Uint8Array(n * size);
    raw.set(this.bytes.subarray(this.pos, this.pos + n * size));
    this.pos += n * size;
    const b = raw.buffer;
    const arr: GGUFArray = (() => {
      switch (itemType) {
        case GGUFType.UINT8: return new Uint8Array(b, 0, n);
        case GGUFType.INT8: return new Int8Array(b, 0, n);
        case GGUFType.UINT16: return new Uint16Array(b, 0, n);
        case GGUFType.INT16: return new Int16Array(b, 0, n);
        case GGUFType.UINT32: return new Uint32Array(b, 0, n);
        case GGUFType.INT32: return new Int32Array(b, 0, n);
        case GGUFType.FLOAT32: return new Float32Array(b, 0, n);
        case GGUFType.FLOAT64: return new Float64Array(b, 0, n);
        case GGUFType.UINT64: return new BigUint64Array(b, 0, n);
        default: return new BigInt64Array(b, 0, n);
      }
    })();
    return { type: GGUFType.ARRAY, itemType, value: arr };
  }
}

/** Parse a whole GGUF file held in memory. `file` is the name used in error messages. */
export function parseGGUF(bytes: Uint8Array, file = '<bytes>'): GGUFFile {
  const r = new Reader(bytes, file);
  if (bytes.byteLength < 4) throw new FormatError(file, `not a GGUF file: ${bytes.byteLength} bytes`, 0);
  const magic = r.u32('magic');
  if (magic !== GGUF_MAGIC) throw new FormatError(file, `not a GGUF file: bad magic 0x${magic.toString(16).padStart(8, '0')}`, 0);
  const version = r.u32('version');
  if (version !== 2 && version !== 3) {
    throw new FormatError(file, `unsupported GGUF version ${version} (lutra reads v2 and v3)`, 4);
  }
  const nTensors = r.count('tensor count', 4 + 8 + 4 + 4 + 8 + 1);
  const nKv = r.count('metadata count', 8 + 4 + 1);
  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKv; i++) {
    const at = r.pos;
    const key = r.string(`key of metadata entry ${i} of ${nKv}`);
    const type = r.u32(`type of metadata ${key}`);
    if (metadata.has(key)) throw new FormatError(file, `duplicate metadata key ${key}`, at);
    metadata.set(key, r.value(type, `metadata ${key}`, 0));
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const a = Number(al.value);
    if (al.type !== GGUFType.UINT32 || !(a > 0) || (a & (a - 1)) !== 0) {
      throw new FormatError(file, `general.alignment must be a u32 power of two, got ${String(al.value)}`);
    }
    alignment = a;
  }
  const infos: Array<Omit<GGUFTensorInfo, 'data' | 'nbytes'> & { at: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = r.pos;
    const what = `tensor info ${i} of ${nTensors}`;
    const name = r.string(`name of ${what}`);
    if (names.has(name)) throw new FormatError(file, `duplicate tensor name ${name}`, at);
    names.add(name);
    const nDims = r.u32(`dimension count of tensor ${name}`);
    if (nDims > GGML_MAX_DIMS) throw new FormatError(file, `tensor ${name}: ${nDims} dimensions (max ${GGML_MAX_DIMS})`, r.pos - 4);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const dimAt = r.pos;
      const ne = r.u64(`dimension ${d} of tensor ${name}`);
      if (ne > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(file, `tensor ${name}: dimension ${d} is ${ne}`, dimAt);
      shape.push(Number(ne));
    }
    const typeAt = r.pos;
    const type = r.u32(`type of tensor ${name}`);
    const ti = ggmlTypeInfo(type);
    if (!ti) throw new FormatError(file, `tensor ${name}: unknown ggml type id ${type}`, typeAt);
    const offAt = r.pos;
    const off = r.u64(`offset of tensor ${name}`);
    if (off > BigInt(bytes.byteLength)) throw new FormatError(file, `truncated: tensor ${name}: data offset ${off} is past the end of the file`, offAt);
    if (Number(off) % alignment !== 0) throw new FormatError(file, `tensor ${name}: data offset ${off} is not aligned to ${alignment}`, offAt);
    if (shape.length > 0 && shape[0]! % ti.blockSize !== 0) {
      throw new FormatError(file, `tensor ${name}: row length ${shape[0]} is not a multiple of the ${ti.name} block size ${ti.blockSize}`, at);
    }
    infos.push({ name, shape, type, offset: Number(off), at });
  }
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  const dataSize = bytes.byteLength - dataOffset;
  const tensors: GGUFTensorInfo[] = [];
  for (const t of infos) {
    const ti = ggmlTypeInfo(t.type)!;
    let n = 1;
    for (const d of t.shape) n *= d;
    if (!Number.isSafeInteger(n)) throw new FormatError(file, `tensor ${t.name}: element count overflows`, t.at);
    const nbytes = (n / ti.blockSize) * ti.typeSize;
    if (dataSize < 0 || t.offset + nbytes > dataSize) {
      throw new FormatError(file, `truncated: tensor ${t.name} (${t.shape.join('x')} ${ti.name}, ${nbytes} bytes at data offset ${t.offset}) runs past the end of the file`, dataOffset + t.offset);
    }
    const start = dataOffset + t.offset;
    tensors.push({ name: t.name, shape: t.shape, type: t.type, offset: t.offset, nbytes, data: bytes.subarray(start, start + nbytes) });
  }
  checkNoOverlap(tensors, file, dataOffset);
  return { version, metadata, tensors, alignment, dataOffset };
}

/**
 * ggml's loader refuses tensors whose data share bytes: two weights would alias, and in-place
 * re-layouts (the LUT packer) would run twice over the same bytes. Empty tensors take no room.
 */
function checkNoOverlap(tensors: GGUFTensorInfo[], file: string, dataOffset: number): void {
  const byOffset = tensors.filter((t) => t.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!, t = byOffset[i]!;
    if (t.offset < prev.offset + prev.nbytes) {
      throw new FormatError(file, `tensor ${t.name} (data offset ${t.offset}, ${t.nbytes} bytes) overlaps tensor ${prev.name} (data offset ${prev.offset}, ${prev.nbytes} bytes)`, dataOffset + t.offset);
    }
  }
}

// ---------------------------------------------------------------- writer

class Writer {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1 << 16);
  private view = new DataView(this.cur.buffer);
  private pos = 0;
  length = 0;
  private readonly enc = new TextEncoder();
  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.flush();
    if (n > this.cur.length) {
      this.cur = new Uint8Array(n);
      this.view = new DataView(this.cur.buffer);
    }
  }
  private flush(): void {
    if (this.pos > 0) this.chunks.push(this.cur.slice(0, this.pos));
    this.pos = 0;
  }
  u8(v: number): void { this.ensure(1); this.view.setUint8(this.pos, v); this.pos++; this.length++; }
  u32(v: number): void { this.ensure(4); this.view.setUint32(this.pos, v, true); this.pos += 4; this.length += 4; }
  u64(v: bigint | number): void { this.ensure(8); this.view.setBigUint64(this.pos, BigInt(v), true); this.pos += 8; this.length += 8; }
  bytes(b: Uint8Array): void {
    this.flush();
    this.chunks.push(b);
    this.length += b.byteLength;
  }
  string(s: string, raw?: Uint8Array): void {
    const b = raw ?? this.enc.encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  scalar(type: GGUFType, v: number | bigint | boolean): void {
    const size = SCALAR_SIZE[type]!;
    this.ensure(size);
    const dv = this.view, p = this.pos;
    switch (type) {
      case GGUFType.UINT8: dv.setUint8(p, v as number); break;
      case GGUFType.INT8: dv.setInt8(p, v as number); break;
      case GGUFType.UINT16: dv.setUint16(p, v as number, true); break;
      case GGUFType.INT16: dv.setInt16(p, v as number, true); break;
      case GGUFType.UINT32: dv.setUint32(p, v as number, true); break;
      case GGUFType.INT32: dv.setInt32(p, v as number, true); break;
      case GGUFType.FLOAT32: dv.setFloat32(p, v as number, true); break;
      case GGUFType.FLOAT64: dv.setFloat64(p, v as number, true); break;
      case GGUFType.BOOL: dv.setUint8(p, v ? 1 : 0); break;
      case GGUFType.UINT64: dv.setBigUint64(p, BigInt(v as bigint), true); break;
      case GGUFType.INT64: dv.setBigInt64(p, BigInt(v as bigint), true); break;
      default: throw new Error(`unknown GGUF scalar type ${type}`);
    }
    this.pos += size;
    this.length += size;
  }
  value(v: GGUFValue): void {
    if (v.type === GGUFType.STRING) return this.string(v.value, v.raw);
    if (v.type === GGUFType.ARRAY) {
      this.u32(v.itemType);
      const items = v.value as ArrayLike<unknown>;
      this.u64(items.length);
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (v.itemType === GGUFType.STRING) this.string(it as string, v.raw?.get(i));
        else if (v.itemType === GGUFType.ARRAY) this.value(it as GGUFValue);
        else this.scalar(v.itemType, it as number);
      }
      return;
    }
    this.scalar(v.type, v.value);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    if (n) this.bytes(new Uint8Array(n));
  }
  result(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

export interface GGUFTensorToWrite {
  name: string;
  shape: number[];
  type: number;
  data: Uint8Array;
}

/**
 * Serialize a GGUF v3 file. Returns the file as a list of chunks (tensor data is not copied), so
 * callers can stream it to disk. Tensors are laid out in the given order, each aligned.
 */
export function writeGGUF(metadata: Map<string, GGUFValue>, tensors: GGUFTensorToWrite[], version = 3): Uint8Array[] {
  const alignV = metadata.get('general.alignment');
  const alignment = alignV ? Number(alignV.value) : GGUF_DEFAULT_ALIGNMENT;
  const w = new Writer();
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.u64(tensors.length);
  w.u64(metadata.size);
  for (const [k, v] of metadata) {
    w.string(k);
    w.u32(v.type);
    w.value(v);
  }
  let off = 0;
  for (const t of tensors) {
    const ti = ggmlTypeInfo(t.type);
    if (!ti) throw new Error(`tensor ${t.name}: unknown ggml type ${t.type}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    const nbytes = (n / ti.blockSize) * ti.typeSize;
    if (nbytes !== t.data.byteLength) throw new Error(`tensor ${t.name}: ${t.shape.join('x')} ${ti.name} needs ${nbytes} bytes, got ${t.data.byteLength}`);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(d);
    w.u32(t.type);
    w.u64(off);
    off += Math.ceil(nbytes / alignment) * alignment;
  }
  // As llama.cpp and gguf-py write them: a file without tensors ends right after its header.
  if (tensors.length) w.pad(alignment);
  for (const t of tensors) {
    w.bytes(t.data);
    w.pad(alignment);
  }
  return w.result();
}

export function concatChunks(chunks: Uint8Array[]): Uint8Array {
  const n = chunks.reduce((a, c) => a + c.byteLength, 0);
  const out = new Uint8Array(n);
  let p = 0;
  for (const c of chunks) { out.set(c, p); p += c.byteLength; }
  return out;
}
