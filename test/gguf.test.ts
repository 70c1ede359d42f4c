import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseGGUF, writeGGUF, concatChunks, GGUFType, plainValue, type GGUFValue } from '../src/formats/gguf.js';
import { FormatError } from '../src/core/errors.js';
import { STORIES_GGUF, QUANTIZED, DATA } from './helpers.js';
import { resolve } from 'node:path';

test('parses stories260K.gguf: metadata, tensor table, data views', () => {
  const bytes = new Uint8Array(readFileSync(STORIES_GGUF));
  const g = parseGGUF(bytes, 'stories260K.gguf');
  assert.equal(g.version, 3);
  assert.equal(g.tensors.length, 48);
  assert.equal(g.metadata.size, 19);
  assert.equal(g.dataOffset, 14176);
  assert.equal(plainValue(g.metadata.get('general.architecture')!), 'llama');
  assert.equal(plainValue(g.metadata.get('llama.embedding_length')!), 64);
  const tokens = plainValue(g.metadata.get('tokenizer.ggml.tokens')!) as string[];
  assert.equal(tokens.length, 512);
  assert.equal(tokens[1], '<s>');
  const emb = g.tensors.find((t) => t.name === 'token_embd.weight')!;
  assert.deepEqual(emb.shape, [64, 512]);
  assert.equal(emb.data.buffer, bytes.buffer, 'tensor data is a view, not a copy');
});

for (const file of [STORIES_GGUF, ...QUANTIZED.map((q) => q.file), resolve(DATA, 'models/llama-2-tiny-random/llama-2-tiny-random.gguf'), resolve(DATA, 'llama-vocab/ggml-vocab-gpt-2.gguf')]) {
  test(`writer round trip is byte-identical: ${file.split('/').pop()}`, () => {
    const bytes = new Uint8Array(readFileSync(file));
    const g = parseGGUF(bytes, file);
    const out = concatChunks(writeGGUF(g.metadata, g.tensors, g.version));
    assert.equal(out.byteLength, bytes.byteLength);
    assert.ok(Buffer.from(out).equals(Buffer.from(bytes)), 'bytes differ');
  });
}

test('every metadata value type, nested arrays, custom alignment round trip', () => {
  const md = new Map<string, GGUFValue>([
    ['general.alignment', { type: GGUFType.UINT32, value: 64 }],
    ['u8', { type: GGUFType.UINT8, value: 255 }],
    ['i8', { type: GGUFType.INT8, value: -128 }],
    ['u16', { type: GGUFType.UINT16, value: 65535 }],
    ['i16', { type: GGUFType.INT16, value: -32768 }],
    ['u32', { type: GGUFType.UINT32, value: 4294967295 }],
    ['i32', { type: GGUFType.INT32, value: -2147483648 }],
    ['f32', { type: GGUFType.FLOAT32, value: 1.5 }],
    ['bool', { type: GGUFType.BOOL, value: true }],
    ['str', { type: GGUFType.STRING, value: 'héllo ✓' }],
    ['u64', { type: GGUFType.UINT64, value: 18446744073709551615n }],
    ['i64', { type: GGUFType.INT64, value: -9223372036854775808n }],
    ['f64', { type: GGUFType.FLOAT64, value: Math.PI }],
    ['arr.f32', { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: new Float32Array([1, 2, 3]) }],
    ['arr.str', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: ['a', '', 'ccc'] }],
    ['arr.bool', { type: GGUFType.ARRAY, itemType: GGUFType.BOOL, value: [true, false] }],
    ['arr.nested', {
      type: GGUFType.ARRAY, itemType: GGUFType.ARRAY, value: [
        { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: new Int32Array([1, -2]) },
        { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: ['x'] },
      ],
    }],
  ]);
  const t = { name: 't', shape: [3, 2], type: 0, data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) };
  const bytes = concatChunks(writeGGUF(md, [t, { ...t, name: 'u' }]));
  const g = parseGGUF(bytes, 'mem');
  assert.equal(g.alignment, 64);
  assert.equal(g.dataOffset % 64, 0);
  assert.equal(g.tensors[1]!.offset, 64);
  for (const [k, v] of md) assert.deepEqual(g.metadata.get(k), v, k);
  assert.deepEqual(Array.from(new Float32Array(g.tensors[1]!.data.slice().buffer)), [1, 2, 3, 4, 5, 6]);
  assert.ok(Buffer.from(concatChunks(writeGGUF(g.metadata, g.tensors))).equals(Buffer.from(bytes)));
});

test('reads GGUF v2', () => {
  const md = new Map<string, GGUFValue>([['k', { type: GGUFType.STRING, value: 'v' }]]);
  const g = parseGGUF(concatChunks(writeGGUF(md, [], 2)), 'v2');
  assert.equal(g.version, 2);
  assert.equal(plainValue(g.metadata.get('k')!), 'v');
});

test('errors name the file, the thing and the offset', () => {
  const bytes = new Uint8Array(readFileSync(STORIES_GGUF));
  assert.throws(() => parseGGUF(bytes.subarray(0, 1000), 'cut.gguf'), (e: unknown) => e instanceof FormatError && /cut\.gguf: truncated.*at byte offset \d+/.test(e.message));
  assert.throws(() => parseGGUF(bytes.subarray(0, 100000), 'cut.gguf'), /truncated.*tensor .* past the end of the file/);
  const bad = bytes.slice(0, 64); bad[0] = 0x47; bad[1] = 0x47; bad[2] = 0x55; bad[3] = 0x47;
  assert.throws(() => parseGGUF(bad, 'bad.gguf'), /bad\.gguf: not a GGUF file: bad magic/);
  const huge = bytes.slice(0, 64);
  new DataView(huge.buffer).setBigUint64(8, 1n << 60n, true);
  assert.throws(() => parseGGUF(huge, 'huge.gguf'), /truncated or corrupt: tensor count/);
  const ver = bytes.slice(0, 64);
  new DataView(ver.buffer).setUint32(4, 7, true);
  assert.throws(() => parseGGUF(ver, 'v.gguf'), /unsupported GGUF version 7/);
});
