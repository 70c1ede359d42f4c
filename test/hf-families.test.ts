// Hugging Face export and import of the families beyond the Llama block (qwen2moe, qwen3moe,
// MiniCPM-MoE, phi3, gemma3, minicpm3; phi2 as the converter splits its q/k/v; bitnet within float32
// rounding, its converter re-quantizes the projections): the tiny random model of each (test/arch-models.ts) exported to a safetensors folder
// loads back with every tensor and hyper-parameter equal and the same logits bit for bit. The
// folder is what transformers reads: one tensor per expert, Phi-3's fused projections, Gemma's
// norms stored without their +1, the shared-expert gate as [1, nEmbd].

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGGUF } from '../src/formats/gguf.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { loadHFFolder } from '../src/formats/hf-folder.js';
import { parseSafetensors } from '../src/formats/safetensors.js';
import { loadModel } from '../src/runtime/model.js';
import { ARCH_SPECS, archGGUF } from './arch-models.js';

const dirs: string[] = [];
process.on('exit', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const FAMILIES = ['qwen2moe', 'qwen3moe', 'minicpm-moe', 'phi3', 'gemma3-swa', 'minicpm3'];

for (const fam of FAMILIES) {
  test(`${fam}: GGUF -> HF folder -> back: tensors, hyper-parameters and logits identical`, async () => {
    const bytes = archGGUF(ARCH_SPECS[fam]!);
    const g = parseGGUF(bytes, fam);
    const dir = mkdtempSync(join(tmpdir(), `lutra-hf-${fam}-`));
    dirs.push(dir);
    await exportHFFolder(g, dir);
    const back = await loadHFFolder(dir);
    assert.deepEqual(back.tensors.map((t) => t.name).sort(), g.tensors.map((t) => t.name).sort());
    for (const t of g.tensors) {
      const u = back.tensors.find((x) => x.name === t.name)!;
      assert.deepEqual(u.shape, t.shape, t.name);
      assert.equal(u.type, t.type, t.name);
      assert.ok(Buffer.from(u.data).equals(Buffer.from(t.data)), `${t.name}: bytes differ`);
    }
    const spec = ARCH_SPECS[fam]!;
    for (const [k, v] of g.metadata) {
      if (!k.startsWith(`${spec.arch}.`)) continue;
      // The converter states the head size only where it is not nEmbd / nHead (Gemma 3 always).
      if (/\.(key|value)_length$/.test(k) && !back.metadata.has(k) && v.value === spec.nEmbd / spec.nHead) continue;
      assert.deepEqual(back.metadata.get(k), v, k);
    }
    const a = await loadModel(bytes, { backend: 'ref' });
    const b = await loadModel(dir, { backend: 'ref' });
    const toks = [1, 300, 12, 77, 450, 5, 9, 201, 33, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70];
    const la = a.createContext({ ctx: 32 }).decode(toks)!, lb = b.createContext({ ctx: 32 }).decode(toks)!;
    assert.deepEqual(Array.from(lb), Array.from(la));
    a.dispose(); b.dispose();
  });
}

test('qwen2moe export: one tensor per expert, the shared-expert gate as [1, nEmbd], the MoE config keys', async () => {
  const spec = ARCH_SPECS.qwen2moe!;
  const dir = mkdtempSync(join(tmpdir(), 'lutra-hf-moe-'));
  dirs.push(dir);
  await exportHFFolder(parseGGUF(archGGUF(spec), 'qwen2moe'), dir);
  const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
  const names = st.tensors.map((t) => t.name);
  assert.equal(names.filter((n) => /^model\.layers\.0\.mlp\.experts\.\d+\.gate_proj\.weight$/.test(n)).length, spec.moe!.nExpert);
  assert.deepEqual(st.tensors.find((t) => t.name === 'model.layers.1.mlp.experts.5.down_proj.weight')!.shape, [spec.nEmbd, spec.moe!.nFFExp]);
  assert.deepEqual(st.tensors.find((t) => t.name === 'model.layers.0.mlp.shared_expert_gate.weight')!.shape, [1, spec.nEmbd]);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.deepEqual([cfg.model_type, cfg.num_experts, cfg.num_experts_per_tok, cfg.moe_intermediate_size, cfg.shared_expert_intermediate_size, cfg.norm_topk_prob],
    ['qwen2_moe', 6, 2, 32, 64, false]);
  // A checkpoint missing an expert is refused naming it.
  const cut = st.tensors.filter((t) => t.name !== 'model.layers.1.mlp.experts.3.up_proj.weight');
  const { writeSafetensors } = await import('../src/formats/safetensors.js');
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat(writeSafetensors(cut.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data })), { format: 'pt' })));
  await assert.rejects(loadHFFolder(dir), /expert 3 of blk\.1\.ffn_up_exps\.weight is missing/);
});

test('gemma3 export: norms stored as w (GGUF holds 1 + w), the window and its pattern in config.json', async () => {
  const spec = ARCH_SPECS['gemma3-swa']!;
  const g = parseGGUF(archGGUF(spec), 'gemma3');
  const dir = mkdtempSync(join(tmpdir(), 'lutra-hf-gemma3-'));
  dirs.push(dir);
  await exportHFFolder(g, dir);
  const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
  const hf = st.tensors.find((t) => t.name === 'model.layers.0.pre_feedforward_layernorm.weight')!;
  const gg = g.tensors.find((t) => t.name === 'blk.0.ffn_norm.weight')!;
  const hv = new Float32Array(hf.data.slice().buffer), gv = new Float32Array(gg.data.slice().buffer);
  for (let i = 0; i < gv.length; i++) assert.equal(hv[i], Math.fround(gv[i]! - 1));
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.deepEqual([cfg.model_type, cfg.sliding_window, cfg.sliding_window_pattern, cfg.rope_local_base_freq, cfg.query_pre_attn_scalar, cfg.hidden_activation],
    ['gemma3_text', 16, 3, 10000, 32, 'gelu_pytorch_tanh']);
  // What lutra's gemma3 does not compute is refused when importing.
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, query_pre_attn_scalar: 256 }));
  await assert.rejects(loadHFFolder(dir), /query_pre_attn_scalar 256 differs from head_dim 32/);
});

test('bitnet: GGUF -> HF folder -> back: ternary projections survive weight_quant, relu2 survives as hidden_act; .scale tensors are refused', async () => {
  for (const spec of [ARCH_SPECS.bitnet!, { ...ARCH_SPECS.bitnet!, bitnet: { act: 'relu2' as const } }]) {
    const bytes = archGGUF(spec);
    const g = parseGGUF(bytes, 'bitnet');
    const dir = mkdtempSync(join(tmpdir(), 'lutra-hf-bitnet-'));
    dirs.push(dir);
    await exportHFFolder(g, dir);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual([cfg.model_type, cfg.hidden_act, cfg.tie_word_embeddings], ['bitnet', spec.bitnet?.act ?? 'silu', true]);
    const back = await loadHFFolder(dir);
    for (const [k, v] of g.metadata) {
      if (k.startsWith('bitnet.') && !/\.(key|value)_length$/.test(k)) assert.deepEqual(back.metadata.get(k), v, k);
    }
    assert.equal(back.metadata.get('bitnet.hidden_activation')?.value, spec.bitnet?.act ?? 'silu');
    // Each projection comes back ternary with its scale to within float32 rounding of the mean.
    for (const t of g.tensors) {
      const u = back.tensors.find((x) => x.name === t.name)!;
      const a = new Float32Array(t.data.slice().buffer), b = new Float32Array(u.data.slice().buffer);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * Math.abs(a[i]!), `${t.name}[${i}]: ${a[i]} vs ${b[i]}`);
    }
    const ma = await loadModel(bytes, { backend: 'ref' }), mb = await loadModel(dir, { backend: 'ref' });
    const toks = [1, 300, 12, 77, 450, 5, 9, 201];
    const la = ma.createContext({ ctx: 16 }).decode(toks)!, lb = mb.createContext({ ctx: 16 }).decode(toks)!;
    for (let i = 0; i < la.length; i++) assert.ok(Math.abs(la[i]! - lb[i]!) < 1e-4, `logit ${i}: ${la[i]} vs ${lb[i]}`);
    ma.dispose(); mb.dispose();
  }
  const scaled = parseGGUF(archGGUF(ARCH_SPECS['bitnet-scaled']!), 'bitnet-scaled');
  const dir = mkdtempSync(join(tmpdir(), 'lutra-hf-bitnet-'));
  dirs.push(dir);
  await assert.rejects(exportHFFolder(scaled, dir), /tensor blk\.0\.attn_q\.scale has no Hugging Face name in lutra's bitnet mapping/);
});

test('phi2: GGUF (fused attn_qkv) -> HF folder (q/k/v apart, PhiForCausalLM) -> back as the converter writes it (attn_q/k/v): the same logits', async () => {
  const bytes = archGGUF(ARCH_SPECS.phi2!);
  const dir = mkdtempSync(join(tmpdir(), 'lutra-hf-phi2-'));
  dirs.push(dir);
  await exportHFFolder(parseGGUF(bytes, 'phi2'), dir);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.deepEqual([cfg.model_type, cfg.architectures[0], cfg.partial_rotary_factor, cfg.layer_norm_eps, cfg.hidden_act], ['phi', 'PhiForCausalLM', 0.5, 1e-5, 'gelu_new']);
  const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
  for (const n of ['model.layers.1.self_attn.k_proj.bias', 'model.layers.0.self_attn.dense.weight', 'model.layers.0.mlp.fc1.bias', 'model.final_layernorm.bias', 'lm_head.bias']) {
    assert.ok(st.tensors.some((t) => t.name === n), n);
  }
  const back = await loadHFFolder(dir);
  assert.ok(back.tensors.some((t) => t.name === 'blk.0.attn_q.bias') && !back.tensors.some((t) => t.name.includes('attn_qkv')));
  const a = await loadModel(bytes, { backend: 'ref' }), b = await loadModel(dir, { backend: 'ref' });
  const toks = [1, 300, 12, 77, 450, 5, 9, 201];
  assert.deepEqual(Array.from(b.createContext({ ctx: 16 }).decode(toks)!), Array.from(a.createContext({ ctx: 16 }).decode(toks)!));
  a.dispose(); b.dispose();
});
