// exportHFFolder on stories260K.gguf: export, load back with loadHFFolder, and every tensor must
// equal the GGUF's byte for byte (so the q/k un-permutation is the exact inverse), the hparams
// must match, and the tokenizer.json must be the standard LlamaConverter file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGGUF, plainValue, GGUFType, type GGUFFile } from '../src/formats/gguf.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { loadHFFolder } from '../src/formats/hf-folder.js';
import { permuteRows } from '../src/formats/hf-arch.js';
import { parseSafetensors } from '../src/formats/safetensors.js';
import { spmMerges } from '../src/formats/hf-tokenizer-json.js';
import { UnsupportedError } from '../src/core/errors.js';
import { ggmlTypeName } from '../src/quant/table.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STORIES = resolve(ROOT, '../shared/data/models/stories260K/stories260K.gguf');
const STORIES_Q4 = resolve(ROOT, '../shared/data/models/stories260K/quantized/stories260K-q4_0-mix.gguf');
/**
 * sha256 of JSON.stringify(model.merges) of the exported stories260K tokenizer.json. That file was
 * checked with HF `tokenizers` (Tokenizer.from_file): it reproduces llama.cpp's ids for all 47
 * cases of stories260K.gguf.inp/.out.
 */
const STORIES_MERGES = { count: 165, sha256: 'dfd7f7b5de80fc5bdeac2dc5cdfcea6b5fd48b9be7d33edd0456f60114958191' };

const dirs: string[] = [];
process.on('exit', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lutra-hf-export-'));
  dirs.push(d);
  return d;
}
/** A fresh Uint8Array (not a pooled Buffer view) for parseGGUF. */
const readGGUF = (file: string): GGUFFile => parseGGUF(new Uint8Array(readFileSync(file)), file);

test('stories260K: export -> loadHFFolder gives the GGUF tensors byte for byte and the same hparams', async () => {
  const g = readGGUF(STORIES);
  const dir = tempDir();
  await exportHFFolder(g, dir);
  const back = await loadHFFolder(dir);
  assert.deepEqual(back.tensors.map((t) => t.name), g.tensors.map((t) => t.name));
  for (const t of g.tensors) {
    const u = back.tensors.find((x) => x.name === t.name)!;
    assert.deepEqual(u.shape, t.shape, t.name);
    assert.equal(u.type, t.type, t.name);
    assert.deepEqual(u.data, t.data, t.name);
  }
  const hparams = [...g.metadata.keys()].filter((k) => k.startsWith('llama.') || k === 'general.architecture' || /tokenizer\.ggml\.(bos|eos)_token_id/.test(k));
  assert.equal(hparams.length, 11);
  for (const k of hparams) assert.deepEqual(back.metadata.get(k), g.metadata.get(k), k);

  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.deepEqual(config.architectures, ['LlamaForCausalLM']);
  assert.equal(config.rms_norm_eps, 1e-5, 'float32 eps written as its shortest decimal');
  assert.equal(config.num_key_value_heads, 4);
  assert.equal(config.tie_word_embeddings, false, 'stories260K stores output.weight');
});

test('stories260K: safetensors q/k are in HF order, i.e. the exact inverse of the GGUF permutation', async () => {
  const g = readGGUF(STORIES);
  const dir = tempDir();
  await exportHFFolder(g, dir);
  const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
  assert.deepEqual(st.metadata, { format: 'pt' });
  for (const [gg, hf, heads, rows] of [['blk.2.attn_q.weight', 'model.layers.2.self_attn.q_proj.weight', 8, 64], ['blk.2.attn_k.weight', 'model.layers.2.self_attn.k_proj.weight', 4, 32]] as const) {
    const gt = g.tensors.find((t) => t.name === gg)!;
    const ht = st.tensors.find((t) => t.name === hf)!;
    assert.deepEqual(ht.shape, [rows, 64]);
    assert.notDeepEqual(ht.data, gt.data, 'rows were moved');
    assert.deepEqual(ht.data, permuteRows(gt.data, rows, heads, true, gg));
    assert.deepEqual(permuteRows(ht.data, rows, heads, false, hf), gt.data);
  }
  const v = st.tensors.find((t) => t.name === 'model.layers.2.self_attn.v_proj.weight')!;
  assert.deepEqual(v.data, g.tensors.find((t) => t.name === 'blk.2.attn_v.weight')!.data);
});

test('permuteRows: inverse undoes forward for several head layouts and element sizes', () => {
  let s = 12345;
  const rand = (): number => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  for (const [rows, heads, rowBytes] of [[8, 1, 4], [16, 4, 8], [64, 8, 2], [24, 3, 6], [4, 2, 1]] as const) {
    const x = Uint8Array.from({ length: rows * rowBytes }, rand);
    const p = permuteRows(x, rows, heads, false, 'x');
    assert.deepEqual(permuteRows(p, rows, heads, true, 'x'), x);
    assert.deepEqual(permuteRows(permuteRows(x, rows, heads, true, 'x'), rows, heads, false, 'x'), x);
  }
  assert.throws(() => permuteRows(new Uint8Array(12), 6, 4, false, 'odd'), /odd: 6 rows cannot be split into 4 heads/);
});

test('stories260K: tokenizer.json is a byte-fallback BPE with LlamaConverter merges; tokenizer_config.json', async () => {
  const g = readGGUF(STORIES);
  g.metadata.set('tokenizer.chat_template', { type: GGUFType.STRING, value: '{% for m in messages %}{{ m.content }}{% endfor %}' });
  const dir = tempDir();
  await exportHFFolder(g, dir);
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const tokens = plainValue(g.metadata.get('tokenizer.ggml.tokens')!) as string[];
  assert.equal(tj.model.type, 'BPE');
  assert.equal(tj.model.byte_fallback, true);
  assert.equal(tj.model.fuse_unk, true);
  assert.equal(tj.model.unk_token, '<unk>');
  assert.equal(Object.keys(tj.model.vocab).length, 512);
  tokens.forEach((t, i) => assert.equal(tj.model.vocab[t], i));
  assert.equal(tj.model.merges.length, STORIES_MERGES.count);
  assert.equal(createHash('sha256').update(JSON.stringify(tj.model.merges)).digest('hex'), STORIES_MERGES.sha256);
  assert.deepEqual(tj.normalizer.normalizers.map((n: { type: string }) => n.type), ['Prepend', 'Replace']);
  assert.deepEqual(tj.decoder.decoders.map((n: { type: string }) => n.type), ['Replace', 'ByteFallback', 'Fuse', 'Strip']);
  assert.equal(tj.pre_tokenizer, null);
  assert.deepEqual(tj.added_tokens.map((t: { content: string }) => t.content), ['<unk>', '<s>', '</s>']);
  assert.deepEqual(tj.post_processor.single[0], { SpecialToken: { id: '<s>', type_id: 0 } });

  const tc = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  assert.equal(tc.chat_template, '{% for m in messages %}{{ m.content }}{% endfor %}');
  assert.equal(tc.bos_token, '<s>');
  assert.equal(tc.eos_token, '</s>');
  assert.equal(tc.add_bos_token, true);
  const back = await loadHFFolder(dir);
  assert.equal(plainValue(back.metadata.get('tokenizer.chat_template')!), tc.chat_template);
  assert.deepEqual(back.tokenizerJson, tj);
});

test('spmMerges orders by score, then longer left piece, then longer right piece', () => {
  // Pieces 0-2 are scored 0 as in LlamaConverter; "abc" splits as a+bc and ab+c, longer left first.
  const tokens = ['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'ab', 'bc', 'abc'];
  const scores = [9, 9, 9, -1, -1, -1, -2, -3, -1.5];
  assert.deepEqual(spmMerges(tokens, scores), [['ab', 'c'], ['a', 'bc'], ['a', 'b'], ['b', 'c']]);
});

test('quantized tensors cannot be exported: UnsupportedError naming tensor and type', async () => {
  const g = readGGUF(STORIES_Q4);
  const q = g.tensors.find((t) => ![0, 1, 30].includes(t.type))!;
  await assert.rejects(exportHFFolder(g, tempDir()), (e: unknown) => e instanceof UnsupportedError && e.message.includes(`tensor ${q.name}: type ${ggmlTypeName(q.type)}`));
});
