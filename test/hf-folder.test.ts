// loadHFFolder on small hand-written Hugging Face folders: config.json -> GGUF keys for each of the
// four architectures, tensor names and shapes, the llama/minicpm q/k permutation, llama3 rope_freqs,
// shards, chat templates, and the errors for what it cannot or must not load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHFFolder, type ModelSource } from '../src/formats/hf-folder.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import { concatChunks, plainValue, type GGUFTensorInfo } from '../src/formats/gguf.js';
import { AbortError, FormatError, ModelError, UnsupportedError } from '../src/core/errors.js';

/** convert_hf_to_gguf.py's rope_freqs for Llama 3.2 (head_dim 64, theta 5e5, factor 32, low 1, high 4, 8192), from numpy float32 replaying torch's ops. */
const LLAMA32_ROPE_FREQS_SMOOTH = [1.6513292789459229, 3.2922627925872803, 9.666730880737305];
/** Relative tolerance for rope_freqs: torch's float32 pow may differ from ours by an ulp. */
const ROPE_FREQS_RTOL = 1e-6;

type Tensor = { name: string; dtype: string; shape: number[]; data: Uint8Array };

/** An F32 [rows, cols] matrix whose element (r, c) is tag*100000 + r*100 + c: rows can be recognised after a permutation. */
function matrix(rows: number, cols: number, tag: number): Uint8Array {
  const a = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) a[r * cols + c] = tag * 100000 + r * 100 + c;
  return new Uint8Array(a.buffer);
}

interface Dims { hidden: number; layers: number; heads: number; kv: number; inter: number; vocab: number; headDim?: number }

/** A complete checkpoint of Llama shape, F32 unless `dtypes` says otherwise. */
function checkpoint(d: Dims, opts: { bias?: boolean; qkNorm?: boolean; lmHead?: boolean; dtypes?: Record<string, string> } = {}): Tensor[] {
  const hd = d.headDim ?? d.hidden / d.heads;
  const out: Tensor[] = [];
  let tag = 1;
  const add = (name: string, shape: number[]): void => {
    const dtype = opts.dtypes?.[name] ?? 'F32';
    let data = matrix(shape[0]!, shape[1] ?? 1, tag++);
    if (dtype !== 'F32') data = data.subarray(0, data.byteLength / 2); // F16/BF16: same element count, arbitrary bits
    out.push({ name, dtype, shape, data });
  };
  add('model.embed_tokens.weight', [d.vocab, d.hidden]);
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}.`;
    add(p + 'input_layernorm.weight', [d.hidden]);
    add(p + 'self_attn.q_proj.weight', [d.heads * hd, d.hidden]);
    add(p + 'self_attn.k_proj.weight', [d.kv * hd, d.hidden]);
    add(p + 'self_attn.v_proj.weight', [d.kv * hd, d.hidden]);
    add(p + 'self_attn.o_proj.weight', [d.hidden, d.heads * hd]);
    if (opts.bias) {
      add(p + 'self_attn.q_proj.bias', [d.heads * hd]);
      add(p + 'self_attn.k_proj.bias', [d.kv * hd]);
      add(p + 'self_attn.v_proj.bias', [d.kv * hd]);
    }
    if (opts.qkNorm) {
      add(p + 'self_attn.q_norm.weight', [hd]);
      add(p + 'self_attn.k_norm.weight', [hd]);
    }
    add(p + 'post_attention_layernorm.weight', [d.hidden]);
    add(p + 'mlp.gate_proj.weight', [d.inter, d.hidden]);
    add(p + 'mlp.up_proj.weight', [d.inter, d.hidden]);
    add(p + 'mlp.down_proj.weight', [d.hidden, d.inter]);
  }
  add('model.norm.weight', [d.hidden]);
  if (opts.lmHead) add('lm_head.weight', [d.vocab, d.hidden]);
  return out;
}

function baseConfig(modelType: string, d: Dims, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: modelType, hidden_size: d.hidden, num_hidden_layers: d.layers, num_attention_heads: d.heads,
    num_key_value_heads: d.kv, intermediate_size: d.inter, vocab_size: d.vocab, max_position_embeddings: 256,
    rms_norm_eps: 1e-6, ...(d.headDim ? { head_dim: d.headDim } : {}), ...extra,
  };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lutra-hf-'));
  dirs.push(d);
  return d;
}
process.on('exit', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Write a folder; with `shards` > 1, split the tensors over that many files plus model.safetensors.index.json. */
function writeFolder(config: unknown, tensors: Tensor[], files: Record<string, string> = {}, shards = 1): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  if (shards === 1) {
    writeFileSync(join(dir, 'model.safetensors'), concatChunks(writeSafetensors(tensors, { format: 'pt' })));
    return dir;
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(tensors.length / shards);
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    for (const t of part) weightMap[t.name] = file;
    writeFileSync(join(dir, file), concatChunks(writeSafetensors(part, { format: 'pt' })));
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

const meta = (src: ModelSource, key: string): unknown => {
  const v = src.metadata.get(key);
  return v === undefined ? undefined : plainValue(v);
};
const tensor = (src: ModelSource, name: string): GGUFTensorInfo => {
  const t = src.tensors.find((x) => x.name === name);
  assert.ok(t, `tensor ${name} present`);
  return t;
};
const floats = (t: GGUFTensorInfo): Float32Array => new Float32Array(t.data.slice().buffer);

/** GGUF row r of a q/k tensor holds HF row `hfRow(r)` after llama.cpp's permutation. */
function hfRow(r: number, headDim: number): number {
  const h = Math.floor(r / headDim), w = r % headDim;
  return h * headDim + (w & 1) * (headDim / 2) + (w >> 1);
}

function assertPermuted(t: GGUFTensorInfo, rows: number, cols: number, headDim: number, permuted: boolean): void {
  const v = floats(t);
  const tag = Math.floor(v[0]! / 100000);
  for (let r = 0; r < rows; r++) {
    const src = permuted ? hfRow(r, headDim) : r;
    for (let c = 0; c < cols; c++) assert.equal(v[r * cols + c], tag * 100000 + src * 100 + c, `${t.name} row ${r} col ${c}`);
  }
}

/** Export a loaded source and load it back: everything must come back identical. */
async function assertExportRoundTrip(src: ModelSource): Promise<void> {
  const dir = tempDir();
  await exportHFFolder(src, dir);
  const back = await loadHFFolder(dir);
  assert.deepEqual(back.tensors.map((t) => t.name).sort(), src.tensors.map((t) => t.name).sort());
  for (const t of src.tensors) {
    const u = tensor(back, t.name);
    assert.deepEqual(u.shape, t.shape, t.name);
    assert.equal(u.type, t.type, t.name);
    assert.deepEqual(u.data, t.data, t.name);
  }
  for (const [k, v] of src.metadata) if (k !== 'general.name') assert.deepEqual(back.metadata.get(k), v, k);
}

// ---------------------------------------------------------------- architectures

test('llama: hparams, names, reversed shapes, tied output, ggml types, q/k permuted, the rest views', async () => {
  const d: Dims = { hidden: 16, layers: 2, heads: 4, kv: 2, inter: 24, vocab: 10 };
  const dtypes = { 'model.layers.0.mlp.gate_proj.weight': 'BF16', 'model.layers.0.mlp.up_proj.weight': 'F16' };
  const dir = writeFolder(baseConfig('llama', d, { architectures: ['LlamaForCausalLM'], rope_theta: 500000, bos_token_id: 1, eos_token_id: 2 }), checkpoint(d, { dtypes }));
  const src = await loadHFFolder(dir);
  assert.equal(src.file, dir);
  const expected: Record<string, unknown> = {
    'general.architecture': 'llama', 'llama.context_length': 256, 'llama.embedding_length': 16, 'llama.block_count': 2,
    'llama.feed_forward_length': 24, 'llama.attention.head_count': 4, 'llama.attention.head_count_kv': 2,
    'llama.attention.layer_norm_rms_epsilon': Math.fround(1e-6), 'llama.rope.freq_base': 500000, 'llama.rope.dimension_count': 4,
    'llama.vocab_size': 10, 'tokenizer.ggml.bos_token_id': 1, 'tokenizer.ggml.eos_token_id': 2,
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(meta(src, k), v, k);
  assert.equal(meta(src, 'llama.attention.key_length'), undefined, 'no key_length when head_dim = hidden / heads');
  assert.equal(meta(src, 'llama.rope.scaling.type'), undefined);
  assert.equal(src.tensors.length, 1 + 2 * 9 + 1);
  assert.ok(!src.tensors.some((t) => t.name === 'output.weight'), 'tied: no output.weight invented');
  assert.deepEqual(tensor(src, 'token_embd.weight').shape, [16, 10]);
  assert.deepEqual(tensor(src, 'blk.1.ffn_down.weight').shape, [24, 16]);
  assert.deepEqual(tensor(src, 'output_norm.weight').shape, [16]);
  assert.equal(tensor(src, 'blk.0.ffn_gate.weight').type, 30);
  assert.equal(tensor(src, 'blk.0.ffn_up.weight').type, 1);
  assert.equal(tensor(src, 'blk.1.ffn_up.weight').type, 0);
  for (const l of [0, 1]) {
    assertPermuted(tensor(src, `blk.${l}.attn_q.weight`), 16, 16, 4, true);
    assertPermuted(tensor(src, `blk.${l}.attn_k.weight`), 8, 16, 4, true);
    assertPermuted(tensor(src, `blk.${l}.attn_v.weight`), 8, 16, 4, false);
  }
  const fileBuffer = tensor(src, 'token_embd.weight').data.buffer;
  assert.equal(tensor(src, 'blk.0.attn_v.weight').data.buffer, fileBuffer, 'v is a view of the file');
  assert.notEqual(tensor(src, 'blk.0.attn_q.weight').data.buffer, fileBuffer, 'q is a permuted copy');
  await assertExportRoundTrip(src);
});

test('llama: llama3 rope scaling becomes rope_freqs.weight as convert_hf_to_gguf.py computes it', async () => {
  const d: Dims = { hidden: 128, layers: 1, heads: 2, kv: 1, inter: 8, vocab: 4 };
  const rope_scaling = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  const src = await loadHFFolder(writeFolder(baseConfig('llama', d, { rope_theta: 500000, rope_scaling }), checkpoint(d, { lmHead: true })));
  const rf = tensor(src, 'rope_freqs.weight');
  assert.deepEqual(rf.shape, [32]);
  assert.equal(rf.type, 0);
  const v = floats(rf);
  const expected = [...Array(15).fill(1), ...LLAMA32_ROPE_FREQS_SMOOTH, ...Array(14).fill(32)];
  expected.forEach((e, i) => assert.ok(Math.abs(v[i]! - e) <= e * ROPE_FREQS_RTOL, `rope_freqs[${i}] = ${v[i]}, expected ${e}`));
  assert.equal(meta(src, 'llama.rope.scaling.type'), undefined, 'llama3 scaling is carried by the tensor only');
  assert.ok(src.tensors.some((t) => t.name === 'output.weight'), 'lm_head.weight -> output.weight');
  await assertExportRoundTrip(src);
});

test('llama: linear rope scaling and partial rotary factor', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 2, kv: 2, inter: 8, vocab: 4 };
  const src = await loadHFFolder(writeFolder(baseConfig('llama', d, { rope_scaling: { type: 'linear', factor: 4 }, partial_rotary_factor: 0.5 }), checkpoint(d)));
  assert.equal(meta(src, 'llama.rope.scaling.type'), 'linear');
  assert.equal(meta(src, 'llama.rope.scaling.factor'), 4);
  assert.equal(meta(src, 'llama.rope.dimension_count'), 4);
  assert.equal(meta(src, 'llama.rope.freq_base'), 10000, 'rope_theta defaults to 10000');
  await assertExportRoundTrip(src);
});

test('qwen2: q/k/v biases mapped and nothing permuted; yarn scaling keys', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 2, inter: 8, vocab: 6 };
  const rope_scaling = { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 };
  const src = await loadHFFolder(writeFolder(baseConfig('qwen2', d, { architectures: ['Qwen2ForCausalLM'], rope_theta: 1000000, rope_scaling }), checkpoint(d, { bias: true })));
  assert.equal(meta(src, 'general.architecture'), 'qwen2');
  assert.equal(meta(src, 'qwen2.rope.freq_base'), 1000000);
  assert.equal(meta(src, 'qwen2.rope.scaling.type'), 'yarn');
  assert.equal(meta(src, 'qwen2.rope.scaling.factor'), 4);
  assert.equal(meta(src, 'qwen2.rope.scaling.original_context_length'), 32768);
  assertPermuted(tensor(src, 'blk.0.attn_q.weight'), 16, 16, 4, false);
  assertPermuted(tensor(src, 'blk.0.attn_k.weight'), 8, 16, 4, false);
  assertPermuted(tensor(src, 'blk.0.attn_q.bias'), 16, 1, 4, false);
  assert.deepEqual(tensor(src, 'blk.0.attn_v.bias').shape, [8]);
  await assertExportRoundTrip(src);
});

test('llama with biases permutes them like the weights', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 2, inter: 8, vocab: 6 };
  const src = await loadHFFolder(writeFolder(baseConfig('llama', d), checkpoint(d, { bias: true })));
  assertPermuted(tensor(src, 'blk.0.attn_q.bias'), 16, 1, 4, true);
  assertPermuted(tensor(src, 'blk.0.attn_k.bias'), 8, 1, 4, true);
  assertPermuted(tensor(src, 'blk.0.attn_v.bias'), 8, 1, 4, false);
  await assertExportRoundTrip(src);
});

test('qwen3: q_norm/k_norm, head_dim other than hidden/heads gives key_length/value_length', async () => {
  const d: Dims = { hidden: 16, layers: 2, heads: 4, kv: 2, inter: 8, vocab: 6, headDim: 8 };
  const src = await loadHFFolder(writeFolder(baseConfig('qwen3', d, { rope_theta: 1000000 }), checkpoint(d, { qkNorm: true })));
  assert.equal(meta(src, 'general.architecture'), 'qwen3');
  assert.equal(meta(src, 'qwen3.attention.key_length'), 8);
  assert.equal(meta(src, 'qwen3.attention.value_length'), 8);
  assert.equal(meta(src, 'qwen3.rope.dimension_count'), 8);
  assert.deepEqual(tensor(src, 'blk.1.attn_q_norm.weight').shape, [8]);
  assert.deepEqual(tensor(src, 'blk.1.attn_k_norm.weight').shape, [8]);
  assert.deepEqual(tensor(src, 'blk.0.attn_q.weight').shape, [16, 32]);
  assertPermuted(tensor(src, 'blk.0.attn_q.weight'), 32, 16, 8, false);
  await assertExportRoundTrip(src);
});

test('minicpm: embedding/residual/logit scales, q/k permuted', async () => {
  const d: Dims = { hidden: 32, layers: 4, heads: 4, kv: 2, inter: 8, vocab: 6 };
  const cfg = baseConfig('minicpm', d, { architectures: ['MiniCPMForCausalLM'], scale_emb: 12, scale_depth: 1.4, dim_model_base: 256 });
  const src = await loadHFFolder(writeFolder(cfg, checkpoint(d)));
  assert.equal(meta(src, 'general.architecture'), 'minicpm');
  assert.equal(meta(src, 'minicpm.embedding_scale'), 12);
  assert.equal(meta(src, 'minicpm.residual_scale'), Math.fround(1.4 / Math.sqrt(4)));
  assert.equal(meta(src, 'minicpm.logit_scale'), 32 / 256);
  assert.equal(meta(src, 'minicpm.block_count'), 4);
  assertPermuted(tensor(src, 'blk.3.attn_q.weight'), 32, 32, 8, true);
  assertPermuted(tensor(src, 'blk.3.attn_k.weight'), 16, 32, 8, true);
  await assertExportRoundTrip(src);
});

test('minicpm: longrope factors become rope_factors_long/short tensors', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 2, kv: 2, inter: 8, vocab: 6 };
  const rope_scaling = { rope_type: 'longrope', long_factor: [1, 2, 3, 4], short_factor: [1, 1, 1.5, 2], original_max_position_embeddings: 64 };
  const cfg = baseConfig('minicpm', d, { scale_emb: 12, scale_depth: 1.4, dim_model_base: 256, rope_scaling });
  const src = await loadHFFolder(writeFolder(cfg, checkpoint(d)));
  assert.equal(meta(src, 'minicpm.rope.scaling.type'), 'longrope');
  assert.equal(meta(src, 'minicpm.rope.scaling.original_context_length'), 64);
  assert.deepEqual(Array.from(floats(tensor(src, 'rope_factors_long.weight'))), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(floats(tensor(src, 'rope_factors_short.weight'))), [1, 1, 1.5, 2]);
  await assertExportRoundTrip(src);
});

test('architecture is taken from architectures[0] when model_type is missing', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 4, inter: 8, vocab: 6 };
  const cfg = baseConfig('x', d);
  delete cfg['model_type'];
  cfg['architectures'] = ['Qwen2ForCausalLM'];
  const src = await loadHFFolder(writeFolder(cfg, checkpoint(d, { bias: true })));
  assert.equal(meta(src, 'general.architecture'), 'qwen2');
});

// ---------------------------------------------------------------- shards, tokenizer files, progress

test('sharded folder with model.safetensors.index.json loads like a single file; progress reaches the total', async () => {
  const d: Dims = { hidden: 16, layers: 2, heads: 4, kv: 2, inter: 24, vocab: 10 };
  const tensors = checkpoint(d, { lmHead: true });
  const cfg = baseConfig('llama', d);
  const one = await loadHFFolder(writeFolder(cfg, tensors));
  const dir = writeFolder(cfg, tensors, {}, 2);
  const seen: Array<{ loaded: number; total: number }> = [];
  const two = await loadHFFolder(dir, { onProgress: (p) => seen.push(p) });
  assert.deepEqual(two.tensors.map((t) => t.name).sort(), one.tensors.map((t) => t.name).sort());
  for (const t of one.tensors) assert.deepEqual(tensor(two, t.name).data, t.data, t.name);
  const total = statSync(join(dir, 'model-00001-of-00002.safetensors')).size + statSync(join(dir, 'model-00002-of-00002.safetensors')).size;
  assert.deepEqual(seen.at(-1), { loaded: total, total });
  assert.ok(seen.every((p, i) => i === 0 || p.loaded >= seen[i - 1]!.loaded));
});

test('tokenizer files: tokenizer.json/tokenizer_config.json passed through, chat_template into metadata', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 4, inter: 8, vocab: 6 };
  const tokenizerJson = { version: '1.0', model: { type: 'BPE', vocab: { a: 0 }, merges: [] } };
  const tokenizerConfig = { chat_template: '{{ messages[0].content }}', bos_token: '<s>' };
  const src = await loadHFFolder(writeFolder(baseConfig('llama', d), checkpoint(d), {
    'tokenizer.json': JSON.stringify(tokenizerJson), 'tokenizer_config.json': JSON.stringify(tokenizerConfig),
  }));
  assert.deepEqual(src.tokenizerJson, tokenizerJson);
  assert.deepEqual(src.tokenizerConfig, tokenizerConfig);
  assert.equal(meta(src, 'tokenizer.chat_template'), '{{ messages[0].content }}');

  const jinja = await loadHFFolder(writeFolder(baseConfig('llama', d), checkpoint(d), { 'chat_template.jinja': '{{ bos_token }}' }));
  assert.equal(meta(jinja, 'tokenizer.chat_template'), '{{ bos_token }}');
  assert.equal(jinja.tokenizerJson, undefined);
  const named = await loadHFFolder(writeFolder(baseConfig('llama', d), checkpoint(d), {
    'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'default', template: 'A' }, { name: 'tool_use', template: 'B' }] }),
  }));
  assert.equal(meta(named, 'tokenizer.chat_template'), 'A');
  assert.equal(meta(named, 'tokenizer.chat_template.tool_use'), 'B');
});

// ---------------------------------------------------------------- errors

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, pattern: RegExp): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
  assert.match(err.message, pattern);
  return err;
}

test('errors name the thing: model_type, dtype, tensor, missing files, corrupt shard, abort', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 4, inter: 8, vocab: 6 };
  const good = checkpoint(d);
  await rejectsWith(loadHFFolder(writeFolder(baseConfig('gpt2', d), good)), UnsupportedError, /model_type "gpt2"/);

  const i8 = good.map((t) => (t.name === 'model.layers.0.mlp.up_proj.weight' ? { ...t, dtype: 'I8', data: t.data.subarray(0, t.data.byteLength / 4) } : t));
  await rejectsWith(loadHFFolder(writeFolder(baseConfig('llama', d), i8)), UnsupportedError, /model\.layers\.0\.mlp\.up_proj\.weight: dtype I8/);

  const extra = [...good, { name: 'model.layers.0.mlp.weird.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) }];
  await rejectsWith(loadHFFolder(writeFolder(baseConfig('llama', d), extra)), UnsupportedError, /model\.layers\.0\.mlp\.weird\.weight/);

  const noConfig = tempDir();
  await rejectsWith(loadHFFolder(noConfig), ModelError, new RegExp(`${join(noConfig, 'config.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not found`));

  const cfgMissingKey = baseConfig('llama', d);
  delete cfgMissingKey['rms_norm_eps'];
  await rejectsWith(loadHFFolder(writeFolder(cfgMissingKey, good)), ModelError, /config\.json: missing rms_norm_eps/);

  const sharded = writeFolder(baseConfig('llama', d), good, {}, 2);
  rmSync(join(sharded, 'model-00002-of-00002.safetensors'));
  await rejectsWith(loadHFFolder(sharded), ModelError, /model-00002-of-00002\.safetensors: safetensors shard not found \(named in .*model\.safetensors\.index\.json\)/);

  const noWeights = tempDir();
  writeFileSync(join(noWeights, 'config.json'), JSON.stringify(baseConfig('llama', d)));
  await rejectsWith(loadHFFolder(noWeights), ModelError, /no model\.safetensors/);

  const cut = writeFolder(baseConfig('llama', d), good);
  truncateSync(join(cut, 'model.safetensors'), statSync(join(cut, 'model.safetensors')).size - 3);
  const e = (await rejectsWith(loadHFFolder(cut), FormatError, /truncated/)) as FormatError;
  assert.equal(e.file, join(cut, 'model.safetensors'));

  const badJson = writeFolder(baseConfig('llama', d), good, { 'tokenizer_config.json': '{"a": ' });
  await rejectsWith(loadHFFolder(badJson), FormatError, /tokenizer_config\.json: invalid JSON/);

  await rejectsWith(loadHFFolder(writeFolder(baseConfig('llama', d, { rope_scaling: { rope_type: 'dynamic', factor: 2 } }), good)), UnsupportedError, /rope_scaling type "dynamic"/);

  const ac = new AbortController();
  ac.abort();
  await rejectsWith(loadHFFolder(writeFolder(baseConfig('llama', d), good), { signal: ac.signal }), AbortError, /abort/);
});

test('index.json that names the wrong shard for a tensor is a FormatError naming the index', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 4, inter: 8, vocab: 6 };
  const dir = writeFolder(baseConfig('llama', d), checkpoint(d), {}, 2);
  const indexPath = join(dir, 'model.safetensors.index.json');
  const map: Record<string, string> = {
    'model.embed_tokens.weight': 'model-00002-of-00002.safetensors',
    'model.norm.weight': 'model-00002-of-00002.safetensors',
  };
  for (const t of checkpoint(d).slice(1, -1)) map[t.name] = 'model-00001-of-00002.safetensors';
  writeFileSync(indexPath, JSON.stringify({ weight_map: map }));
  const e = (await rejectsWith(loadHFFolder(dir), FormatError, /weight_map puts tensor model\.embed_tokens\.weight in model-00002/)) as FormatError;
  assert.equal(e.file, indexPath);
});

test('tensors at offsets that are not a multiple of their element size are copied to aligned memory', async () => {
  const d: Dims = { hidden: 16, layers: 1, heads: 4, kv: 4, inter: 8, vocab: 6 };
  const dir = writeFolder(baseConfig('llama', d), checkpoint(d));
  // Rewrite model.safetensors with an unpadded header of odd length, as some writers produce.
  const file = join(dir, 'model.safetensors');
  const bytes = new Uint8Array(readFileSync(file));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const json = new TextDecoder().decode(bytes.subarray(8, 8 + n)).trimEnd();
  const header = new TextEncoder().encode(json.length % 2 === 0 ? json + ' ' : json);
  const out = new Uint8Array(8 + header.byteLength + bytes.byteLength - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.byteLength), true);
  out.set(header, 8);
  out.set(bytes.subarray(8 + n), 8 + header.byteLength);
  assert.equal((8 + header.byteLength) % 2, 1, 'data section starts at an odd offset');
  writeFileSync(file, out);
  const src = await loadHFFolder(dir);
  for (const t of src.tensors) assert.equal(t.data.byteOffset % 4, 0, `${t.name} aligned`);
  const again = await loadHFFolder(writeFolder(baseConfig('llama', d), checkpoint(d)));
  for (const t of again.tensors) assert.deepEqual(tensor(src, t.name).data, t.data, t.name);
});
