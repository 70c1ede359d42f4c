// Bit-exactness with llama.cpp's llama-quantize, checked through small golden digests.
//
// 1. A deterministic synthetic F32 llama model (rows of 256 and 768, a dozen kinds of rows: gaussian,
//    heavy tails, outlier columns, zero / constant / tiny / huge blocks, exact ternary and rounding
//    ties) is quantized by lutra to every standard type with --pure; each tensor's sha256 must equal
//    the one llama-quantize produced from the same file.
// 2. stories260K (64-wide rows, so the K-types fall back) quantized with llama.cpp's mixtures:
//    every tensor's type and bytes, and the whole file, must equal llama-quantize's output.
//
// The digests live in test/golden/quant/llama-quantize.json with the commands that made them. To
// check against a local llama.cpp instead of the digests, or to rewrite them:
//   LUTRA_LLAMA_QUANTIZE=../llama.cpp/build/bin/llama-quantize LUTRA_GGML_DEQUANT=/path/to/ggml-dequant \
//   [LUTRA_WRITE_GOLDENS=1] node --test dist/test/quant-golden.test.js
// (ggml-dequant is bench/ptq/ggml-dequant.c built against llama.cpp's libggml-base: ggml's own
// to_float, so the dequantized floats are checked too.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseGGUF, writeGGUF, concatChunks, GGUFType, type GGUFValue, type GGUFTensorToWrite } from '../src/formats/gguf.js';
import { quantizeFile } from '../src/ptq/quantize-model.js';
import { quantFormat } from '../src/quant/table.js';
import { REPO, STORIES_GGUF } from './helpers.js';

const GOLDEN = resolve(REPO, 'test/golden/quant/llama-quantize.json');
const LLAMA_QUANTIZE = process.env.LUTRA_LLAMA_QUANTIZE;
const GGML_DEQUANT = process.env.LUTRA_GGML_DEQUANT;
const WRITE = process.env.LUTRA_WRITE_GOLDENS === '1';

// MXFP4_MOE with --pure puts every matrix in MXFP4 (llama-quantize has no plain MXFP4 file type).
const PURE_TYPES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'TQ1_0', 'TQ2_0', 'MXFP4_MOE'];
const SYNTH_FTYPES = ['Q2_K', 'Q3_K_M', 'Q4_K_S', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'TQ1_0'];
const STORIES_FTYPES = ['Q4_0', 'Q8_0', 'Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_K_S', 'Q4_K_M', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'TQ2_0', 'MXFP4_MOE'];

/** "TYPE sha256-prefix" of one tensor's bytes (64 bits of the digest are plenty to tell bytes apart). */
type TensorDigest = string;
interface Golden {
  about: string;
  llamaCpp: string;
  commands: string[];
  synthetic: {
    sha256: string;
    pure: Record<string, Record<string, TensorDigest>>;
    /** sha256 prefix of each tensor dequantized by ggml's to_float, as float32 bytes. */
    dequantized: Record<string, Record<string, string>>; mixtures: Record<string, { file: string; tensors: Record<string, TensorDigest> }> };
  stories260K: Record<string, { file: string; tensors: Record<string, TensorDigest> }>;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** xorshift32 stream. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

/** One row of a given kind; the kinds cover the branches of the reference quantizers. */
function fillRow(out: Float32Array, off: number, n: number, kind: number, r: () => number): void {
  const g = () => (r() + r() + r() + r() - 2) * 1.7; // roughly gaussian
  for (let i = 0; i < n; i++) {
    let v: number;
    switch (kind) {
      case 0: v = g() * 0.05; break;
      case 1: v = r() * 2 - 1; break;
      case 2: v = g() ** 3; break; // heavy tails
      case 3: v = i % 41 === 7 ? g() * 40 : g(); break; // outlier columns
      case 4: v = 0; break;
      case 5: v = 0.75; break;
      case 6: v = g() * 1e-20; break; // below GROUP_MAX_EPS
      case 7: v = g() * 3e3; break;
      case 8: v = r() < 0.85 ? 0 : g(); break;
      case 9: v = Math.abs(g()) + 0.5; break; // all positive, min > 0
      case 10: v = -Math.abs(g()) - 2; break; // all negative
      case 11: v = Math.round(g() * 4) / 8; break; // a coarse grid: rounding ties
      case 12: v = ((i >> 4) & 1) ? 0 : g(); break; // zero sub-blocks
      case 13: v = (Math.floor(r() * 3) - 1) * 0.3; break; // exactly ternary
      case 14: v = i < 3 ? 50 : g() * 0.01; break; // one block dominated by three values
      default: v = g() * 1e-6;
    }
    out[off + i] = v;
  }
}

/** The synthetic model: llama, 1 layer, embedding 256, 4 heads (2 KV), FFN 768, vocabulary 512. */
function syntheticModel(): Uint8Array {
  const stories = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF);
  const u32 = (value: number): GGUFValue => ({ type: GGUFType.UINT32, value });
  const md = new Map<string, GGUFValue>([
    ['general.architecture', { type: GGUFType.STRING, value: 'llama' }],
    ['general.name', { type: GGUFType.STRING, value: 'lutra quant golden' }],
    ['llama.context_length', u32(256)],
    ['llama.embedding_length', u32(256)],
    ['llama.feed_forward_length', u32(768)],
    ['llama.block_count', u32(1)],
    ['llama.attention.head_count', u32(4)],
    ['llama.attention.head_count_kv', u32(2)],
    ['llama.rope.dimension_count', u32(64)],
    ['llama.attention.layer_norm_rms_epsilon', { type: GGUFType.FLOAT32, value: 1e-5 }],
    ['general.file_type', u32(0)],
    ...[...stories.metadata].filter(([k]) => k.startsWith('tokenizer.')),
  ]);
  const tensors: GGUFTensorToWrite[] = [];
  let seed = 1;
  const add = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const r = rng(seed++ * 7919);
    if (shape.length === 1) v.fill(1);
    else for (let row = 0; row < n / shape[0]!; row++) fillRow(v, row * shape[0]!, shape[0]!, Math.floor(r() * 16), r);
    tensors.push({ name, shape, type: 0, data: new Uint8Array(v.buffer) });
  };
  add('token_embd.weight', [256, 512]);
  add('output_norm.weight', [256]);
  add('output.weight', [256, 512]);
  add('blk.0.attn_norm.weight', [256]);
  add('blk.0.attn_q.weight', [256, 256]);
  add('blk.0.attn_k.weight', [256, 128]);
  add('blk.0.attn_v.weight', [256, 128]);
  add('blk.0.attn_output.weight', [256, 256]);
  add('blk.0.ffn_norm.weight', [256]);
  add('blk.0.ffn_gate.weight', [256, 768]);
  add('blk.0.ffn_up.weight', [256, 768]);
  add('blk.0.ffn_down.weight', [768, 256]);
  return concatChunks(writeGGUF(md, tensors));
}

function digests(file: string): Record<string, TensorDigest> {
  const g = parseGGUF(new Uint8Array(readFileSync(file)), file);
  const out: Record<string, TensorDigest> = {};
  for (const t of g.tensors) out[t.name] = `${typeName(t.type)} ${sha(t.data).slice(0, 16)}`;
  return out;
}

function typeName(id: number): string {
  return ({ 0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4' } as Record<number, string>)[id] ?? `type#${id}`;
}

const dir = mkdtempSync(join(tmpdir(), 'lutra-quant-golden-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const synthPath = join(dir, 'synthetic-f32.gguf');
const synthBytes = syntheticModel();
writeFileSync(synthPath, synthBytes);

function llamaQuantize(args: string[]): void {
  execFileSync(LLAMA_QUANTIZE!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const golden: Golden = existsSync(GOLDEN) && !WRITE
  ? JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden
  : {
    about: 'type and sha256 prefix of every tensor llama-quantize wrote (and of ggml\'s dequantization); test/quant-golden.test.ts regenerates the inputs and compares lutra\'s output',
    llamaCpp: '', commands: [], synthetic: { sha256: '', pure: {}, dequantized: {}, mixtures: {} }, stories260K: {},
  };

if (LLAMA_QUANTIZE) {
  // Recompute the reference from llama.cpp itself (and keep it when asked to).
  golden.llamaCpp = process.env.LUTRA_LLAMA_CPP_VERSION ?? golden.llamaCpp;
  golden.commands = [
    'synthetic: node --test dist/test/quant-golden.test.js writes the F32 model (syntheticModel() in this test), then for each TYPE: llama-quantize --pure synthetic-f32.gguf OUT TYPE',
    'synthetic mixtures and stories260K: for each FTYPE: llama-quantize IN OUT FTYPE',
    'dequantized: ggml-dequant OUT OUT.f32 (bench/ptq/ggml-dequant.c: ggml_get_type_traits(type)->to_float of libggml-base)',
    'regenerate: LUTRA_LLAMA_QUANTIZE=../llama.cpp/build/bin/llama-quantize LUTRA_GGML_DEQUANT=ggml-dequant LUTRA_WRITE_GOLDENS=1 node --test dist/test/quant-golden.test.js',
  ];
  golden.synthetic.sha256 = sha(synthBytes);
  for (const t of PURE_TYPES) {
    const out = join(dir, `ref-synth-${t}.gguf`);
    llamaQuantize(['--pure', synthPath, out, t]);
    golden.synthetic.pure[t] = digests(out);
    if (GGML_DEQUANT) {
      const f32 = join(dir, `ref-synth-${t}.f32`);
      execFileSync(GGML_DEQUANT, [out, f32]);
      const all = readFileSync(f32);
      const g = parseGGUF(new Uint8Array(readFileSync(out)), out);
      const d: Record<string, string> = {};
      let off = 0;
      for (const tt of g.tensors) {
        const n = tt.shape.reduce((a, b) => a * b, 1) * 4;
        if (tt.type !== 0) d[tt.name] = sha(all.subarray(off, off + n)).slice(0, 16);
        off += n;
      }
      golden.synthetic.dequantized[t] = d;
    }
  }
  for (const f of SYNTH_FTYPES) {
    const out = join(dir, `ref-synth-${f}.gguf`);
    llamaQuantize([synthPath, out, f]);
    golden.synthetic.mixtures[f] = { file: sha(readFileSync(out)), tensors: digests(out) };
  }
  for (const f of STORIES_FTYPES) {
    const out = join(dir, `ref-stories-${f}.gguf`);
    llamaQuantize([STORIES_GGUF, out, f]);
    golden.stories260K[f] = { file: sha(readFileSync(out)), tensors: digests(out) };
  }
  if (WRITE) writeFileSync(GOLDEN, JSON.stringify(golden, null, 1) + '\n');
}

test('the synthetic input is the one the goldens were made from', () => {
  assert.equal(sha(synthBytes), golden.synthetic.sha256, 'syntheticModel() changed: regenerate the goldens');
});

for (const t of PURE_TYPES) {
  test(`--pure ${t}: every tensor's bytes equal llama-quantize's, dequantized floats equal ggml's`, async () => {
    const want = golden.synthetic.pure[t];
    assert.ok(want, `no golden for ${t}`);
    const out = join(dir, `lutra-synth-${t}.gguf`);
    await quantizeFile(synthPath, out, { type: t, pure: true });
    const got = digests(out);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const [name, d] of Object.entries(want)) assert.equal(got[name], d, `${name}: type or bytes differ from llama-quantize's`);
    const wantDeq = golden.synthetic.dequantized[t];
    assert.ok(wantDeq, `no dequantization golden for ${t}`);
    const g = parseGGUF(new Uint8Array(readFileSync(out)), out);
    for (const tt of g.tensors) {
      if (tt.type === 0) continue;
      const n = tt.shape.reduce((a, b) => a * b, 1);
      const y = new Float32Array(n);
      quantFormat(tt.type, tt.name).dequantize(tt.data, 0, y, 0, n);
      assert.equal(sha(new Uint8Array(y.buffer)).slice(0, 16), wantDeq[tt.name], `${tt.name}: dequantized floats differ from ggml's to_float`);
    }
  });
}

const mixtureCases = [
  ...SYNTH_FTYPES.map((f) => ({ label: `synthetic ${f}: llama.cpp's mixture`, input: synthPath, f, want: () => golden.synthetic.mixtures[f] })),
  ...STORIES_FTYPES.map((f) => ({ label: `stories260K ${f}: llama.cpp's mixture and fallbacks`, input: STORIES_GGUF, f, want: () => golden.stories260K[f] })),
];
for (const { label, input, f, want: wantOf } of mixtureCases) {
  test(`${label}, file byte-identical to llama-quantize's`, async () => {
    const want = wantOf();
    assert.ok(want, `no golden for ${label}`);
    const out = join(dir, `lutra-${f}-${input === synthPath ? 'synth' : 'stories'}.gguf`);
    await quantizeFile(input, out, { type: f });
    const got = digests(out);
    for (const [name, d] of Object.entries(want.tensors)) assert.equal(got[name], d, `${name}: type or bytes differ from llama-quantize's`);
    assert.equal(sha(readFileSync(out)), want.file, 'whole file differs (metadata or layout)');
  });
}
