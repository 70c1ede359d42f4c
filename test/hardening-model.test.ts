// Model files that must be refused at load, each with an error naming the tensor, key or file:
// overlapping or out-of-file tensor data, a vocabulary that does not match the embedding, NaN
// hyper-parameters, NaN/Inf weights, bad token types and scores, a non-string architecture, and
// folder files that are directories, devices or oversized. Every case is built from a synthetic
// model that loads when left alone, so a test fails if its check is removed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadTokenizer } from '../src/runtime/model.js';
import { concatChunks, GGUFType, parseGGUF, writeGGUF, type GGUFTensorInfo, type GGUFValue } from '../src/formats/gguf.js';
import { parseSafetensors } from '../src/formats/safetensors.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { MAX_TOKENIZER_JSON_BYTES } from '../src/formats/hf-folder.js';
import { FormatError, LutraError } from '../src/core/errors.js';
import { tokenizerFromGGUF } from '../src/tokenizer/from-gguf.js';
import { CoreTokenizer } from '../src/tokenizer/vocab.js';
import { synthGGUF, SYNTH_VOCAB, type SynthShape } from './synth.js';

const shape: SynthShape = { nEmbd: 32, nLayer: 1, nHead: 4, nHeadKv: 2, nFF: 48 };
const f32 = (value: number): GGUFValue => ({ type: GGUFType.FLOAT32, value });

/** Load must fail with a LutraError of `code` whose one-line message matches every pattern. */
async function refuses(input: Parameters<typeof loadModel>[0], code: string, ...patterns: RegExp[]): Promise<LutraError> {
  let err: unknown;
  try {
    const m = await loadModel(input, { backend: 'ref' });
    m.dispose();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LutraError, `expected a LutraError, got ${err === undefined ? 'a loaded model' : String(err)}`);
  assert.equal(err.code, code, err.message);
  for (const p of patterns) assert.match(err.message, p);
  return err;
}

/** Parse, edit metadata / tensors, write back: the model stays valid apart from the edit. */
function rewrite(bytes: Uint8Array, edit: (md: Map<string, GGUFValue>, tensors: GGUFTensorInfo[]) => void): Uint8Array {
  const g = parseGGUF(bytes);
  edit(g.metadata, g.tensors);
  return concatChunks(writeGGUF(g.metadata, g.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: t.data }))));
}

/** Byte position of the u64 data offset in tensor `name`'s header entry. */
function offsetField(bytes: Uint8Array, name: string): number {
  const g = parseGGUF(bytes);
  const t = g.tensors.find((x) => x.name === name)!;
  const needle = new TextEncoder().encode(name);
  for (let p = 0; p < g.dataOffset; p++) {
    if (needle.every((b, i) => bytes[p + i] === b) && bytes[p - 8] === needle.length) {
      return p + needle.length + 4 + 8 * t.shape.length + 4;
    }
  }
  throw new Error(`tensor ${name} not found in the header`);
}

function withOffset(bytes: Uint8Array, name: string, offset: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setBigUint64(offsetField(out, name), BigInt(offset), true);
  return out;
}

test('the unedited synthetic model loads (every case below differs from it by one fault)', async () => {
  const m = await loadModel(synthGGUF({ arch: 'llama', shape }), { backend: 'ref' });
  assert.equal(m.hparams.nVocab, SYNTH_VOCAB);
  m.dispose();
});

test('GGUF tensors whose data overlap are refused, naming both tensors', async () => {
  const bytes = synthGGUF({ arch: 'llama', shape });
  const g = parseGGUF(bytes);
  const a = g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!;
  const bad = withOffset(bytes, 'blk.0.ffn_norm.weight', a.offset);
  assert.throws(() => parseGGUF(bad, 'overlap.gguf'), (e: unknown) => e instanceof FormatError &&
    /overlap\.gguf: tensor blk\.0\.(ffn|attn)_norm\.weight .*overlaps tensor blk\.0\.(attn|ffn)_norm\.weight/.test(e.message));
  await refuses(bad, 'E_FORMAT', /blk\.0\.ffn_norm\.weight/, /blk\.0\.attn_norm\.weight/, /overlaps/);
});

test('safetensors data_offsets that overlap are refused, naming both tensors', () => {
  const header = JSON.stringify({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } });
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + 8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  assert.throws(() => parseSafetensors(bytes, 'o.safetensors'), (e: unknown) => e instanceof FormatError && /tensor y: .*overlap tensor x/.test(e.message));
});

test('a GGUF tensor whose data run past the end of the file is refused, naming it', async () => {
  const bytes = synthGGUF({ arch: 'llama', shape });
  const g = parseGGUF(bytes);
  const dataSize = bytes.byteLength - g.dataOffset;
  const bad = withOffset(bytes, 'output_norm.weight', Math.floor((dataSize - 8) / g.alignment) * g.alignment);
  await refuses(bad, 'E_FORMAT', /tensor output_norm\.weight/, /past the end of the file/);
});

test('a vocabulary shorter than token_embd.weight is refused at load, naming both sizes', async () => {
  const n = 500;
  const bad = rewrite(synthGGUF({ arch: 'llama', shape }), (md) => {
    for (const k of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type']) {
      const v = md.get(k)!;
      if (v.type !== GGUFType.ARRAY) throw new Error(k);
      md.set(k, { ...v, value: (v.value as unknown as { slice(a: number, b: number): never }).slice(0, n), raw: undefined } as GGUFValue);
    }
  });
  await refuses(bad, 'E_MODEL', new RegExp(`${n} tokens`), new RegExp(`token_embd\\.weight has ${SYNTH_VOCAB} rows`));
});

test('a tokenizer.json shorter than the embedding loads; the padding ids decode to nothing', async () => {
  const dir = tempDir();
  const src = parseGGUF(synthGGUF({ arch: 'llama', shape }));
  const rows = SYNTH_VOCAB + 8;
  const grow = (t: GGUFTensorInfo): GGUFTensorInfo => {
    if (t.name !== 'token_embd.weight' && t.name !== 'output.weight') return t;
    const data = new Uint8Array(rows * shape.nEmbd * 4);
    data.set(t.data);
    return { ...t, shape: [shape.nEmbd, rows], nbytes: data.byteLength, data };
  };
  src.metadata.set('llama.vocab_size', { type: GGUFType.UINT32, value: rows });
  await exportHFFolder({ metadata: src.metadata, tensors: src.tensors.map(grow) }, dir);
  const m = await loadModel(dir, { backend: 'ref' });
  try {
    assert.equal(m.hparams.nVocab, rows);
    assert.equal(m.tokenizer.vocabSize, rows);
    assert.equal(m.detokenize([rows - 1]), '');
    assert.equal(m.tokenizer.tokenText(rows - 1), `[PAD${rows - 1}]`);
  } finally {
    m.dispose();
  }
});

test('CoreTokenizer.padTo: ids past the vocabulary are padding, never outside the vocabulary', () => {
  const g = parseGGUF(synthGGUF({ arch: 'llama', shape }));
  const tok = tokenizerFromGGUF(g.metadata, 'synth.gguf') as CoreTokenizer;
  assert.throws(() => tok.decode([SYNTH_VOCAB]), /outside the vocabulary/);
  tok.padTo(SYNTH_VOCAB + 4);
  assert.equal(tok.decode([SYNTH_VOCAB + 3]), '');
  assert.equal(tok.isControl(SYNTH_VOCAB + 3), false);
  assert.throws(() => tok.decode([SYNTH_VOCAB + 4]), /outside the vocabulary/);
});

test('NaN layer_norm_rms_epsilon is refused, naming the key', async () => {
  await refuses(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.attention.layer_norm_rms_epsilon', f32(NaN)]] }),
    'E_MODEL', /llama\.attention\.layer_norm_rms_epsilon = NaN is not a finite number/);
  await refuses(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.attention.layer_norm_rms_epsilon', f32(-1e-5)]] }),
    'E_MODEL', /llama\.attention\.layer_norm_rms_epsilon = .* out of range/);
});

test('NaN rope.freq_base is refused, naming the key', async () => {
  await refuses(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.rope.freq_base', f32(NaN)]] }), 'E_MODEL', /llama\.rope\.freq_base = NaN/);
  await refuses(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.rope.freq_base', f32(0)]] }), 'E_MODEL', /llama\.rope\.freq_base = 0 is out of range/);
  await refuses(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.rope.scaling.type', { type: GGUFType.STRING, value: 'linear' }], ['llama.rope.scaling.factor', f32(Infinity)]] }),
    'E_MODEL', /llama\.rope\.scaling\.factor = Infinity/);
});

test('Inf in a norm weight is refused, naming the tensor', async () => {
  const bad = synthGGUF({ arch: 'llama', shape, override: (name, v) => (name === 'blk.0.ffn_norm.weight' ? (v[3] = Infinity, v) : v) });
  await refuses(bad, 'E_MODEL', /tensor blk\.0\.ffn_norm\.weight holds Infinity at element 3/);
});

test('an all-Inf output matrix is refused, also when it is too large to scan whole', async () => {
  await refuses(synthGGUF({ arch: 'llama', shape, override: (name, v) => (name === 'output.weight' ? v.fill(Infinity) : v) }),
    'E_MODEL', /tensor output\.weight holds Infinity at row 0, column 0/);
  // 640 x 512 = 327680 elements: past the whole-tensor scan, caught by the sampled rows.
  const big: SynthShape = { nEmbd: 640, nLayer: 1, nHead: 10, nHeadKv: 10, nFF: 64 };
  await refuses(synthGGUF({ arch: 'llama', shape: big, override: (name, v) => (name === 'output.weight' ? v.fill(-Infinity) : v) }),
    'E_MODEL', /tensor output\.weight holds -Infinity/);
});

test('a token_type outside llama.cpp\'s enum is refused, naming the token index (E_MODEL, not E_TOKENIZER)', async () => {
  const bad = rewrite(synthGGUF({ arch: 'llama', shape }), (md) => {
    const v = md.get('tokenizer.ggml.token_type')!;
    const types = Int32Array.from(v.value as Int32Array);
    types[7] = 99;
    md.set('tokenizer.ggml.token_type', { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: types });
  });
  await refuses(bad, 'E_MODEL', /tokenizer\.ggml\.token_type\[7\] = 99/);
});

test('a non-finite token score is refused, naming the token index', async () => {
  const bad = rewrite(synthGGUF({ arch: 'llama', shape }), (md) => {
    const scores = Float32Array.from(md.get('tokenizer.ggml.scores')!.value as Float32Array);
    scores[9] = NaN;
    md.set('tokenizer.ggml.scores', { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: scores });
  });
  await refuses(bad, 'E_MODEL', /tokenizer\.ggml\.scores\[9\] = NaN/);
});

test('a non-string general.architecture is reported as the wrong type, not as missing', async () => {
  const bad = rewrite(synthGGUF({ arch: 'llama', shape }), (md) => md.set('general.architecture', { type: GGUFType.UINT32, value: 7 }));
  const e = await refuses(bad, 'E_FORMAT', /general\.architecture has type UINT32, should be STRING/);
  assert.doesNotMatch(e.message, /missing/);
});

// ---------------------------------------------------------------- files of a model folder

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lutra-hardening-'));
  dirs.push(d);
  return d;
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function exportedFolder(): Promise<string> {
  const dir = tempDir();
  await exportHFFolder(parseGGUF(synthGGUF({ arch: 'llama', shape })), dir);
  return dir;
}

test('the exported folder loads as is', async () => {
  const m = await loadModel(await exportedFolder(), { backend: 'ref' });
  m.dispose();
});

test('a config.json that is a directory is refused, naming the file', async () => {
  const dir = await exportedFolder();
  rmSync(join(dir, 'config.json'));
  mkdirSync(join(dir, 'config.json'));
  await refuses(dir, 'E_FILE', /config\.json: is a directory, not a regular file/);
});

test('a config.json linked to /dev/zero fails fast, naming the file, without reading it', { skip: !existsSync('/dev/zero') }, async () => {
  const dir = await exportedFolder();
  rmSync(join(dir, 'config.json'));
  symlinkSync('/dev/zero', join(dir, 'config.json'));
  const t0 = performance.now();
  await refuses(dir, 'E_FILE', /config\.json: is a character device, not a regular file/);
  assert.ok(performance.now() - t0 < 2000, 'must not read the device');
});

test('a tokenizer.json over the size cap is refused before it is read, naming the file and the cap', async () => {
  const dir = await exportedFolder();
  truncateSync(join(dir, 'tokenizer.json'), MAX_TOKENIZER_JSON_BYTES + 1); // sparse: no disk used
  await refuses(dir, 'E_FILE', /tokenizer\.json: \d+ bytes is over the \d+-byte limit/);
  await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof LutraError && e.code === 'E_FILE' && /tokenizer\.json/.test(e.message));
});

test('a model path that does not exist or is a device is an E_FILE naming it', async () => {
  const dir = tempDir();
  await refuses(join(dir, 'none.gguf'), 'E_FILE', /none\.gguf: no such file or directory/);
  if (existsSync('/dev/null')) await refuses('/dev/null', 'E_FILE', /\/dev\/null: is a character device/);
  writeFileSync(join(dir, 'w.safetensors'), new Uint8Array(8));
  await refuses(join(dir, 'w.safetensors'), 'E_FILE', /w\.safetensors: a bare \.safetensors file/);
});

test('config.json: an overflowing rope_theta (1e999 parses as Infinity) or a zero rms_norm_eps is refused, naming the key', async () => {
  for (const [edit, pattern] of [
    [(t: string) => t.replace(/"rope_theta":\s*[^,}]+/, '"rope_theta": 1e999'), /config\.json: rope_theta should be a finite number > 0/],
    [(t: string) => t.replace(/"rms_norm_eps":\s*[^,}]+/, '"rms_norm_eps": 0'), /config\.json: rms_norm_eps should be > 0/],
  ] as const) {
    const dir = await exportedFolder();
    const file = join(dir, 'config.json');
    const text = readFileSync(file, 'utf8');
    const edited = edit(text.includes('"rope_theta"') ? text : text.replace('{', '{"rope_theta": 10000,'));
    assert.notEqual(edited, text);
    writeFileSync(file, edited);
    await refuses(dir, 'E_MODEL', pattern);
  }
});
