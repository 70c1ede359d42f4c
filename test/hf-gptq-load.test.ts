// Hugging Face GPTQ and AWQ folders load and run directly: a model's linear layers are quantized
// to lutra's INT4 asymmetric groups-of-32 type, written in GPTQ (and AWQ) checkpoint layout
// (qweight / qzeros / scales / g_idx, HF row order), and loaded back through the HF path. The
// layers must arrive as exactly the same bytes, so the logits equal those of the GGUF that holds
// the lutra tensors directly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGGUF, writeGGUF, concatChunks, type GGUFTensorInfo } from '../src/formats/gguf.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { parseSafetensors, writeSafetensors } from '../src/formats/safetensors.js';
import { ggufToHFName, permuteRows, qkHeads } from '../src/formats/hf-arch.js';
import { exportGptq, exportAwq, gptqLutraType } from '../src/formats/hf-gptq.js';
import { quantFormat } from '../src/quant/table.js';
import { loadModel } from '../src/runtime/model.js';
import { synthGGUF } from './synth.js';

const shape = { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 128 };
const LINEAR = /\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

async function roundTrip(method: 'gptq' | 'awq'): Promise<void> {
  const g = parseGGUF(synthGGUF({ arch: 'llama', shape, seed: 5 }), 'synth');
  // GGUF with the linear layers in lutra's INT4 type (the reference).
  const lutraBytes = new Map<string, Uint8Array>();
  const tensors = g.tensors.map((t): GGUFTensorInfo => {
    if (!LINEAR.test(t.name)) return t;
    const [inF, outF] = t.shape as [number, number];
    const type = gptqLutraType({ inF, outF, bits: 4, group: 32 });
    const f = new Float32Array(t.data.slice().buffer);
    const out = new Uint8Array((f.length / 32) * (2 + 1 + 16));
    quantFormat(type).quantize!(f, 0, out, 0, f.length);
    lutraBytes.set(t.name, out);
    return { ...t, type, data: out, nbytes: out.byteLength };
  });
  const ref = await loadModel(concatChunks(writeGGUF(g.metadata, tensors)));

  // The F32 model as a HF folder, then its linears replaced by the packed layout.
  const dir = mkdtempSync(join(tmpdir(), `lutra-${method}-`));
  await exportHFFolder(g, dir);
  const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
  const out: { name: string; dtype: string; shape: number[]; data: Uint8Array }[] = [];
  for (const t of st.tensors) {
    const m = /^(.*)\.weight$/.exec(t.name);
    const gguf = [...lutraBytes.keys()].find((n) => ggufToHFName(n) === t.name);
    if (!m || !gguf) { out.push({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data.slice() }); continue; }
    const [outF, inF] = t.shape as [number, number];
    const heads = qkHeads(gguf, shape.nHead, shape.nHeadKv);
    let bytes = lutraBytes.get(gguf)!;
    if (heads !== undefined) bytes = permuteRows(bytes, outF, heads, true, gguf); // back to HF's row order
    const s = { inF, outF, bits: 4, group: 32 };
    const p = method === 'gptq' ? exportGptq(bytes, s) : exportAwq(bytes, s);
    const i32 = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const qwShape = method === 'gptq' ? [inF * 4 / 32, outF] : [inF, outF / 8];
    out.push({ name: `${m[1]}.qweight`, dtype: 'I32', shape: qwShape, data: i32(p.qweight) });
    out.push({ name: `${m[1]}.qzeros`, dtype: 'I32', shape: [inF / 32, outF * 4 / 32], data: i32(p.qzeros) });
    out.push({ name: `${m[1]}.scales`, dtype: 'F16', shape: [inF / 32, outF], data: new Uint8Array(p.scales.buffer, p.scales.byteOffset, p.scales.byteLength) });
    if (method === 'gptq') out.push({ name: `${m[1]}.g_idx`, dtype: 'I32', shape: [inF], data: i32(p.gIdx!) });
  }
  writeFileSync(join(dir, 'model.safetensors'), concatChunks(writeSafetensors(out)));
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  cfg.quantization_config = method === 'gptq'
    ? { quant_method: 'gptq', bits: 4, group_size: 32, desc_act: false }
    : { quant_method: 'awq', bits: 4, group_size: 32, version: 'gemm', zero_point: true };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));

  const hf = await loadModel(dir);
  const prompt = [1, 17, 300, 42, 99, 7];
  const a = ref.createContext({ ctx: 32 }).decode(prompt, { logits: 'last' })!.slice();
  const b = hf.createContext({ ctx: 32 }).decode(prompt, { logits: 'last' })!.slice();
  assert.deepEqual(Array.from(b), Array.from(a), `${method}: logits differ from the GGUF holding the same INT4 tensors`);
  ref.dispose();
  hf.dispose();
  if (method === 'gptq') {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, desc_act: true } }));
    await assert.rejects(loadModel(dir), /act-order GPTQ \(desc_act: true\) is not supported/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, quantization_config: { quant_method: 'exl2', bits: 4 } }));
    await assert.rejects(loadModel(dir), /quant_method "exl2" is not supported/);
  }
}

test('a HF GPTQ folder (4-bit, groups of 32, g_idx) loads directly and matches the lutra INT4 GGUF exactly; act-order and unknown methods are refused by name', () => roundTrip('gptq'));
test('a HF AWQ GEMM folder (4-bit) loads directly and matches the lutra INT4 GGUF exactly', () => roundTrip('awq'));
