// safetensors container: bytes -> { metadata, tensors } and back. Tensors are views into the given
// bytes (never copied here). The 8-byte header length is checked against the file size before the
// header is decoded, and every tensor's offsets against the data section, so a corrupt file gives a
// FormatError with a byte offset instead of a huge allocation. Knows dtypes only by their size.

import { ArgumentError, FormatError } from '../core/errors.js';

export interface SafetensorsTensor {
  name: string;
  /** The dtype string as written in the header: 'F32', 'F16', 'BF16', 'I8', 'U8', 'I64', 'BOOL', ... */
  dtype: string;
  /** As in the file: row-major, last dimension contiguous. */
  shape: number[];
  /** View of the tensor's bytes inside the file buffer. */
  data: Uint8Array;
}

export interface SafetensorsTensorToWrite {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Bits per element of every dtype the safetensors format defines (sub-byte floats included). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32,
  I64: 64, U64: 64, F64: 64, C64: 64,
  F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

/** Bytes per element, or undefined for an unknown or sub-byte dtype. */
export function safetensorsDtypeSize(dtype: string): number | undefined {
  const bits = DTYPE_BITS[dtype];
  return bits !== undefined && bits % 8 === 0 ? bits / 8 : undefined;
}

const HEADER_PREFIX = 8;
/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;

/** Byte size of `shape` elements of `dtype`, or a message saying why it has none. */
function tensorBytes(dtype: string, shape: number[]): number | string {
  const bits = DTYPE_BITS[dtype];
  if (bits === undefined) return `unknown dtype ${JSON.stringify(dtype)}`;
  let n = 1;
  for (const d of shape) n *= d;
  if (!Number.isSafeInteger(n * bits)) return `element count of shape [${shape.join(', ')}] overflows`;
  if ((n * bits) % 8 !== 0) return `${n} ${dtype} elements do not fill whole bytes`;
  return (n * bits) / 8;
}

/** Parse a whole safetensors file held in memory. `file` is the name used in error messages. */
export function parseSafetensors(bytes: Uint8Array, file: string): { metadata: Record<string, string>; tensors: SafetensorsTensor[] } {
  if (bytes.byteLength < HEADER_PREFIX) {
    throw new FormatError(file, `truncated: ${bytes.byteLength} bytes, a safetensors file starts with an 8-byte header length`, 0);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  const room = bytes.byteLength - HEADER_PREFIX;
  if (n64 > BigInt(room)) throw new FormatError(file, `header length ${n64} is larger than the ${room} bytes after it (truncated or not a safetensors file)`, 0);
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) throw new FormatError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, 0);
  if (n < 2 || bytes[HEADER_PREFIX] !== 0x7b /* { */) {
    throw new FormatError(file, `header does not start with '{' (not a safetensors file)`, HEADER_PREFIX);
  }

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_PREFIX, HEADER_PREFIX + n)));
  } catch (e) {
    throw new FormatError(file, `header is not valid UTF-8 JSON: ${(e as Error).message}`, HEADER_PREFIX);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FormatError(file, 'header is not a JSON object', HEADER_PREFIX);
  }

  const dataStart = HEADER_PREFIX + n;
  const dataSize = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError(file, '__metadata__ is not an object', HEADER_PREFIX);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new FormatError(file, `__metadata__.${k} is not a string`, HEADER_PREFIX);
        metadata[k] = v;
      }
      continue;
    }
    const bad = (msg: string): FormatError => new FormatError(file, `tensor ${name}: ${msg}`, HEADER_PREFIX);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('header entry is not an object');
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad('dtype is not a string');
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      throw bad(`data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
    const size = tensorBytes(dtype, shape as number[]);
    if (typeof size === 'string') throw bad(size);
    if (size !== end - begin) throw bad(`shape [${shape.join(', ')}] of ${dtype} needs ${size} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // Like the reference implementation: the data section is covered exactly, with no holes and no
  // overlaps, whatever order the header lists the tensors in.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: (typeof entries)[number] | undefined;
  for (const e of byOffset) {
    if (e.begin < pos) throw new FormatError(file, `tensor ${e.name}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${prev!.name} at [${prev!.begin}, ${prev!.end}]`, dataStart + e.begin);
    if (e.begin > pos) throw new FormatError(file, `tensor ${e.name}: data_offsets [${e.begin}, ${e.end}] leave a hole after ${pos}`, dataStart + pos);
    if (e.end > dataSize) {
      throw new FormatError(file, `truncated: tensor ${e.name} (${e.dtype} [${e.shape.join(', ')}]) needs data up to ${e.end}, the data section has ${dataSize} bytes`, dataStart + e.begin);
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataSize) throw new FormatError(file, `${dataSize - pos} bytes after the last tensor are not described by the header`, dataStart + pos);

  const tensors = entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) }));
  return { metadata, tensors };
}

/**
 * Serialize a safetensors file. Returns the file as chunks (tensor data is not copied) so callers can
 * stream it to disk. The header is padded with spaces to 8 bytes, as the reference writer does, and
 * tensors are laid out widest dtype first (stable otherwise), so every tensor starts aligned to its
 * element size.
 */
export function writeSafetensors(tensors: SafetensorsTensorToWrite[], metadata?: Record<string, string>): Uint8Array[] {
  const order = tensors.map((t, i) => ({ t, i, bits: DTYPE_BITS[t.dtype] ?? 0 }));
  order.sort((a, b) => b.bits - a.bits || a.i - b.i);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header['__metadata__'] = metadata;
  const names = new Set<string>();
  let off = 0;
  for (const { t } of order) {
    if (t.name === '__metadata__' || names.has(t.name)) throw new ArgumentError(`safetensors: duplicate or reserved tensor name ${t.name}`);
    names.add(t.name);
    const size = tensorBytes(t.dtype, t.shape);
    if (typeof size === 'string') throw new ArgumentError(`safetensors: tensor ${t.name}: ${size}`);
    if (size !== t.data.byteLength) throw new ArgumentError(`safetensors: tensor ${t.name}: ${t.dtype} [${t.shape.join(', ')}] needs ${size} bytes, got ${t.data.byteLength}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + size] };
    off += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const prefix = new Uint8Array(HEADER_PREFIX);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  return [prefix, json, ...order.map(({ t }) => t.data)];
}
