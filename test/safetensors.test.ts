// safetensors reader and writer: the format samples, write/parse round trips, and corrupt files
// (every truncation, absurd header lengths, bad JSON, bad offsets) each giving a FormatError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, writeSafetensors } from '../src/formats/safetensors.js';
import { concatChunks } from '../src/formats/gguf.js';
import { FormatError } from '../src/core/errors.js';
import { f16ToF32 } from '../src/core/f16.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLES = resolve(ROOT, '../shared/data/safetensors-samples');
/** Sample file letter = numpy typecode of the dtype it holds (samples/ReadMe.md, SOURCES.md). */
const SAMPLE_DTYPES: Record<string, string> = { B: 'U8', H: 'U16', I: 'U32', b: 'I8', h: 'I16', i: 'I32', e: 'F16', f: 'F32', d: 'F64' };
const RANGE = [-3, -2, -1, 0, 1, 2];
/** Every truncation of a small file must fail fast; generous for a slow CI machine. */
const TRUNCATION_BUDGET_MS = 2000;

function decode(dtype: string, data: Uint8Array): number[] {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read: Record<string, [number, (o: number) => number]> = {
    U8: [1, (o) => dv.getUint8(o)], I8: [1, (o) => dv.getInt8(o)],
    U16: [2, (o) => dv.getUint16(o, true)], I16: [2, (o) => dv.getInt16(o, true)],
    U32: [4, (o) => dv.getUint32(o, true)], I32: [4, (o) => dv.getInt32(o, true)],
    F16: [2, (o) => f16ToF32(dv.getUint16(o, true))], F32: [4, (o) => dv.getFloat32(o, true)], F64: [8, (o) => dv.getFloat64(o, true)],
  };
  const [size, get] = read[dtype]!;
  return Array.from({ length: data.byteLength / size }, (_, i) => get(i * size));
}

function expectedValues(dtype: string): number[] {
  if (!dtype.startsWith('U')) return RANGE;
  const mod = 2 ** Number(dtype.slice(1));
  return RANGE.map((x) => (x + mod) % mod);
}

const sample = (name: string): Uint8Array => new Uint8Array(readFileSync(resolve(SAMPLES, name)));

for (const [letter, dtype] of Object.entries(SAMPLE_DTYPES)) {
  test(`sample ${letter}.safetensors parses as ${dtype} range(-3, 3)`, () => {
    const st = parseSafetensors(sample(`${letter}.safetensors`), `${letter}.safetensors`);
    assert.deepEqual(st.metadata, { test: 'a' });
    assert.equal(st.tensors.length, 1);
    const t = st.tensors[0]!;
    assert.equal(t.name, letter);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [6]);
    assert.deepEqual(decode(dtype, t.data), expectedValues(dtype));
  });
}

test('overall.safetensors holds every sample, with data views into the file', () => {
  const bytes = sample('overall.safetensors');
  const st = parseSafetensors(bytes, 'overall.safetensors');
  assert.deepEqual(st.metadata, { test: 'a' });
  assert.deepEqual(st.tensors.map((t) => t.name).sort(), Object.keys(SAMPLE_DTYPES).sort());
  for (const t of st.tensors) {
    assert.equal(t.dtype, SAMPLE_DTYPES[t.name]);
    assert.deepEqual(decode(t.dtype, t.data), expectedValues(t.dtype));
    assert.equal(t.data.buffer, bytes.buffer, 'view, not copy');
  }
});

test('every sample survives parse -> write -> parse, and rewriting is byte-identical', () => {
  for (const f of readdirSync(SAMPLES).filter((n) => n.endsWith('.safetensors'))) {
    const a = parseSafetensors(sample(f), f);
    const once = concatChunks(writeSafetensors(a.tensors, a.metadata));
    const b = parseSafetensors(once, `rewritten ${f}`);
    assert.deepEqual(b.metadata, a.metadata);
    const byName = new Map(b.tensors.map((t) => [t.name, t]));
    for (const t of a.tensors) {
      const u = byName.get(t.name)!;
      assert.equal(u.dtype, t.dtype);
      assert.deepEqual(u.shape, t.shape);
      assert.deepEqual(u.data, t.data);
    }
    assert.deepEqual(concatChunks(writeSafetensors(b.tensors, b.metadata)), once, f);
  }
});

function syntheticTensors(): { name: string; dtype: string; shape: number[]; data: Uint8Array }[] {
  const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17) & 255);
  return [
    { name: 'odd.u8', dtype: 'U8', shape: [3], data: bytes(3, 1) },
    { name: 'w.bf16', dtype: 'BF16', shape: [2, 3], data: bytes(12, 2) },
    { name: 'w.f32', dtype: 'F32', shape: [3, 2], data: bytes(24, 3) },
    { name: 'scalar.f64', dtype: 'F64', shape: [], data: bytes(8, 4) },
    { name: 'empty.i64', dtype: 'I64', shape: [0, 4], data: new Uint8Array(0) },
    { name: 'mask', dtype: 'BOOL', shape: [5], data: Uint8Array.from([1, 0, 1, 1, 0]) },
    { name: 'é ünïcode', dtype: 'F16', shape: [1, 1], data: bytes(2, 5) },
  ];
}

test('write -> parse round trip: identical tensors, 8-aligned header, every tensor aligned to its element size', () => {
  const tensors = syntheticTensors();
  const file = concatChunks(writeSafetensors(tensors, { format: 'pt', note: 'x' }));
  const headerLen = Number(new DataView(file.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0);
  const st = parseSafetensors(file, 'synthetic');
  assert.deepEqual(st.metadata, { format: 'pt', note: 'x' });
  const sizes: Record<string, number> = { U8: 1, BOOL: 1, BF16: 2, F16: 2, F32: 4, F64: 8, I64: 8 };
  for (const t of tensors) {
    const u = st.tensors.find((x) => x.name === t.name)!;
    assert.equal(u.dtype, t.dtype);
    assert.deepEqual(u.shape, t.shape);
    assert.deepEqual(u.data, t.data);
    assert.equal(u.data.byteOffset % sizes[t.dtype]!, 0, `${t.name} aligned`);
  }
  assert.deepEqual(concatChunks(writeSafetensors(st.tensors, st.metadata)), file);
});

test('writer refuses a size that does not match the shape', () => {
  assert.throws(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: new Uint8Array(7) }]), /x: F32 \[2\] needs 8 bytes, got 7/);
});

// ---------------------------------------------------------------- corrupt files

function assertFormatError(fn: () => unknown, file: string, pattern?: RegExp): FormatError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof FormatError, `expected FormatError, got ${String(err)}`);
  assert.equal(err.file, file);
  assert.ok(err.message.includes(file), 'message names the file');
  if (pattern) assert.match(err.message, pattern);
  return err;
}

/** A file with this exact header JSON (padded with spaces to 8 bytes) and data section. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  padded.set(json);
  json = padded;
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

test('truncation at every offset gives a FormatError naming the file, quickly', () => {
  const files = [sample('overall.safetensors'), concatChunks(writeSafetensors(syntheticTensors()))];
  const start = performance.now();
  for (const full of files) {
    for (let n = 0; n < full.byteLength; n++) assertFormatError(() => parseSafetensors(full.subarray(0, n), 'cut.safetensors'), 'cut.safetensors');
  }
  assert.ok(performance.now() - start < TRUNCATION_BUDGET_MS, 'truncation checks are fast');
});

test('absurd header lengths are refused before anything is decoded', () => {
  const good = sample('f.safetensors');
  for (const len of [2n ** 64n - 1n, 2n ** 53n, 10n ** 12n, BigInt(good.byteLength)]) {
    const bad = good.slice();
    new DataView(bad.buffer).setBigUint64(0, len, true);
    const e = assertFormatError(() => parseSafetensors(bad, 'huge.safetensors'), 'huge.safetensors', /header length/);
    assert.equal(e.offset, 0);
  }
});

test('bad header JSON and malformed entries give FormatErrors', () => {
  const f32x2 = new Uint8Array(8);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['not json', (() => { const b = craft({ a: 1 }); b.set(new TextEncoder().encode('{"a": '), 8); return b; })(), /not valid UTF-8 JSON/],
    ['not an object', (() => { const b = craft({ a: 1 }); b.set(new TextEncoder().encode('{}'), 8); b[8] = 0x5b; b[9] = 0x5d; return b; })(), /start with '\{'|not a JSON object/],
    ['invalid utf-8', (() => { const b = craft({ abc: 1 }); b[11] = 0xff; return b; })(), /UTF-8/],
    ['dtype size mismatch', craft({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32x2), /needs 12 bytes/],
    ['unknown dtype', craft({ x: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, f32x2), /unknown dtype/],
    ['end before begin', craft({ x: { dtype: 'U8', shape: [0], data_offsets: [8, 0] } }, f32x2), /end before they begin/],
    ['overlap', craft({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32x2), /overlap/],
    ['hole', craft({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32x2), /hole/],
    ['offsets past the data', craft({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32x2), /truncated/],
    ['trailing bytes', craft({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32x2), /not described/],
    ['negative shape', craft({ x: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, f32x2), /shape/],
    ['offsets not a pair', craft({ x: { dtype: 'F32', shape: [2], data_offsets: [0] } }, f32x2), /data_offsets/],
    ['metadata not strings', craft({ __metadata__: { a: 1 } }), /__metadata__\.a/],
    ['huge shape', craft({ x: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, f32x2), /overflows/],
  ];
  for (const [what, bytes, pattern] of cases) {
    assertFormatError(() => parseSafetensors(bytes, `${what}.safetensors`), `${what}.safetensors`, pattern);
  }
});

test('tensors listed out of offset order are fine when they tile the data exactly', () => {
  const data = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  const st = parseSafetensors(craft({ b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] }, a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, data), 'order');
  assert.deepEqual(Array.from(st.tensors.find((t) => t.name === 'b')!.data), [5, 6]);
});
