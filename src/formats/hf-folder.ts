// A Hugging Face model folder (config.json + safetensors shards + tokenizer files) -> the same
// { metadata, tensors } a GGUF file gives, with keys, names, shapes and q/k row order as llama.cpp's
// convert_hf_to_gguf.py would write them, so the model loader cannot tell the two apart.
// Each shard is read once; tensors are views into it, except q/k (permuted copies) and tensors
// whose offset in the file is not a multiple of their element size (aligned copies).

import { importGptq, importAwq, gptqLutraType } from './hf-gptq.js';
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FileError, FormatError, ModelError, UnsupportedError, throwIfAborted } from '../core/errors.js';
import type { GGUFTensorInfo, GGUFValue } from './gguf.js';
import type { ModelSource } from './source.js';
import { parseSafetensors, type SafetensorsTensor } from './safetensors.js';
import {
  archFromConfig, bitnetWeightQuant, hfExpertName, hfToGGUFName, isBitnetTernary, isIgnoredHFTensor, isShiftedNorm, llama3RopeFreqs, permuteRows, qkHeads, type HFArchSpec,
} from './hf-arch.js';
import { BLOCK, TENSOR, f32, hpKey, modelMetadata, str, u32, type GGUFHParams } from './gguf-names.js';
import { quantFormat } from '../quant/table.js';

/** What every container loader produces (defined once in source.ts, shared with the GGUF path). */
export type { ModelSource } from './source.js';

export interface LoadHFFolderOptions {
  signal?: AbortSignal;
  /** Bytes of safetensors read so far, of the total over all shards. */
  onProgress?: (p: { loaded: number; total: number }) => void;
}

/**
 * Caps on the JSON and text files of a folder, checked before a byte is read: tokenizer.json of a
 * 256k vocabulary with merges is ~20 MB, a safetensors index of a 600B checkpoint ~10 MB, configs
 * and chat templates are kilobytes.
 */
export const MAX_TOKENIZER_JSON_BYTES = 64 << 20;
export const MAX_INDEX_JSON_BYTES = 64 << 20;
export const MAX_CONFIG_JSON_BYTES = 4 << 20;

const GGML_TYPE_OF_DTYPE: Record<string, number> = { F32: 0, F16: 1, BF16: 30 };
const ELEMENT_BYTES: Record<number, number> = { 0: 4, 1: 2, 30: 2 };
const READ_CHUNK = 64 << 20;

type Json = Record<string, unknown>;

export async function loadHFFolder(dir: string, opts: LoadHFFolderOptions = {}): Promise<ModelSource> {
  const { signal, onProgress } = opts;
  throwIfAborted(signal);
  const configPath = path.join(dir, 'config.json');
  const config = await readJson(configPath, MAX_CONFIG_JSON_BYTES, 'a Hugging Face model folder needs config.json');
  if (!isObject(config)) throw new FormatError(configPath, 'config.json is not a JSON object');
  const spec = archFromConfig(config, configPath);
  const tokenizerJson = await readJson(path.join(dir, 'tokenizer.json'), MAX_TOKENIZER_JSON_BYTES);
  const tokenizerConfig = await readJson(path.join(dir, 'tokenizer_config.json'), MAX_TOKENIZER_JSON_BYTES);

  const { metadata, extraTensors, nHead, nHeadKv } = configToMetadata(config, spec, configPath, dir);
  await addChatTemplate(metadata, dir, tokenizerConfig);

  const { shards, weightMap, indexPath } = await listShards(dir);
  const sizes: number[] = [];
  for (const s of shards) {
    const st = await statRegularFile(s);
    if (!st) throw new ModelError(`${s}: safetensors shard not found${indexPath ? ` (named in ${indexPath})` : ''}`);
    sizes.push(st.size);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  let loaded = 0;
  onProgress?.({ loaded, total });

  const tensors: GGUFTensorInfo[] = [...extraTensors];
  const seen = new Map<string, string>();
  // GPTQ / AWQ checkpoints: a linear layer is qweight + qzeros + scales (+ g_idx), gathered here
  // and moved into lutra's asymmetric integer type once all shards are read (no float round trip).
  const quant = quantConfig(config, configPath);
  const packed = new Map<string, Partial<Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', SafetensorsTensor>> & { file: string }>();
  // Mixture-of-experts checkpoints: one tensor per expert, stacked per layer and projection at the end.
  const experts = new Map<string, ExpertPart[]>();
  for (let si = 0; si < shards.length; si++) {
    const file = shards[si]!;
    const bytes = await readWhole(file, sizes[si]!, signal, (n) => {
      loaded += n;
      onProgress?.({ loaded, total });
    });
    const st = parseSafetensors(bytes, file);
    for (const t of st.tensors) {
      const prev = seen.get(t.name);
      if (prev) throw new FormatError(file, `tensor ${t.name} is also in ${prev}`);
      seen.set(t.name, file);
      if (isIgnoredHFTensor(t.name)) continue;
      const pm = quant && /^(.*)\.(qweight|qzeros|scales|g_idx)$/.exec(t.name);
      if (pm) {
        const entry = packed.get(pm[1]!) ?? { file };
        entry[pm[2] as 'qweight'] = t;
        packed.set(pm[1]!, entry);
        continue;
      }
      const type = GGML_TYPE_OF_DTYPE[t.dtype];
      if (type === undefined) throw new UnsupportedError(`${file}: tensor ${t.name}: dtype ${t.dtype} is not supported (lutra loads F32, F16 and BF16 safetensors)`);
      const expert = spec.experts ? hfExpertName(t.name) : undefined;
      if (expert) {
        const list = experts.get(expert.gguf) ?? [];
        list[expert.expert] = { t, type, file };
        experts.set(expert.gguf, list);
        continue;
      }
      const name = hfToGGUFName(t.name, spec);
      if (!name) throw new UnsupportedError(`${file}: tensor ${t.name} has no GGUF equivalent in lutra's ${spec.arch} mapping`);
      const heads = spec.permuteQK ? qkHeads(name, nHead, nHeadKv) : undefined;
      let data = t.data;
      let shape = [...t.shape].reverse();
      if (heads !== undefined) data = permuteRows(data, t.shape[0] ?? 0, heads, false, `${file}: tensor ${t.name}`);
      else if (data.byteOffset % ELEMENT_BYTES[type]! !== 0) data = data.slice();
      // llama.cpp's shared-expert gate is a vector; the checkpoint's a [1, nEmbd] matrix.
      if (name.endsWith(`${BLOCK.ffnGateInpShexp}.weight`) && shape.length === 2 && shape[1] === 1) shape = [shape[0]!];
      if (spec.arch === 'bitnet' && isBitnetTernary(name)) {
        // BitnetModel.weight_quant: the projections stored ternary times their mean magnitude, in the checkpoint's type.
        const n = data.byteLength / ELEMENT_BYTES[type]!;
        const fmt = quantFormat(type, name);
        const v = new Float32Array(n);
        fmt.dequantize(data, 0, v, 0, n);
        bitnetWeightQuant(v);
        const out = new Uint8Array(data.byteLength);
        fmt.quantize!(v, 0, out, 0, n);
        tensors.push({ name, shape, type, offset: 0, nbytes: out.byteLength, data: out });
        continue;
      }
      if (spec.normShift && isShiftedNorm(name)) {
        // Gemma's RMSNorm multiplies by (1 + w): GGUF holds 1 + w, as float32 (convert_hf_to_gguf's norm_shift).
        const n = data.byteLength / ELEMENT_BYTES[type]!;
        const v = new Float32Array(n);
        quantFormat(type, name).dequantize(data, 0, v, 0, n);
        for (let i = 0; i < n; i++) v[i] = v[i]! + spec.normShift;
        tensors.push({ ...f32Tensor(name, v), shape });
        continue;
      }
      tensors.push({ name, shape, type, offset: t.data.byteOffset - bytes.byteOffset, nbytes: data.byteLength, data });
    }
  }
  for (const [name, list] of experts) tensors.push(stackExperts(name, list, int(config, 'num_experts', configPath)));
  for (const [base, parts] of packed) {
    const name = hfToGGUFName(`${base}.weight`, spec);
    if (!name) throw new UnsupportedError(`${parts.file}: packed layer ${base} has no GGUF equivalent in lutra's ${spec.arch} mapping`);
    const { type, data, inF, outF } = importPacked(base, parts, quant!, parts.file);
    const heads = spec.permuteQK ? qkHeads(name, nHead, nHeadKv) : undefined;
    const rows = heads !== undefined ? permuteRows(data, outF, heads, false, `${parts.file}: layer ${base}`) : data;
    tensors.push({ name, shape: [inF, outF], type, offset: 0, nbytes: rows.byteLength, data: rows });
  }
  if (weightMap) {
    for (const [name, shard] of weightMap) {
      const where = seen.get(name);
      if (where !== path.join(dir, shard)) {
        throw new FormatError(indexPath!, `weight_map puts tensor ${name} in ${shard}, ${where ? `found in ${path.basename(where)}` : 'no shard has it'}`);
      }
    }
  }
  return { file: dir, metadata, tensors, tokenizerJson, tokenizerConfig };
}

// ---------------------------------------------------------------- config.json -> metadata

interface ConfigMapping {
  metadata: Map<string, GGUFValue>;
  extraTensors: GGUFTensorInfo[];
  nHead: number;
  nHeadKv: number;
}

/** config.json -> GGUF hparams, following convert_hf_to_gguf.py (TextModel, LlamaModel, Qwen2Model, MiniCPMModel). */
export function configToMetadata(cfg: Json, spec: HFArchSpec, file: string, dir = ''): ConfigMapping {
  const num = (key: string, dflt?: number): number => {
    const v = cfg[key];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw new ModelError(`${file}: missing ${key}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelError(`${file}: ${key} should be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (key: string, dflt?: number): number => {
    const v = num(key, dflt);
    if (!Number.isSafeInteger(v) || v < 0) throw new ModelError(`${file}: ${key} should be a non-negative integer, got ${v}`);
    return v;
  };
  const a = spec.arch;
  const extraTensors: GGUFTensorInfo[] = [];
  const nEmbd = int('hidden_size');
  const nLayer = int('num_hidden_layers');
  const nHead = int('num_attention_heads');
  const nHeadKv = int('num_key_value_heads', nHead);
  if (nHead === 0 || nHeadKv === 0) throw new ModelError(`${file}: num_attention_heads and num_key_value_heads must be positive`);
  // MiniCPM3: each head's key is its unrotated and rotated parts, the value of its own size.
  const mla = a === 'minicpm3'
    ? { qLora: int('q_lora_rank'), kvLora: int('kv_lora_rank'), nope: int('qk_nope_head_dim'), rope: int('qk_rope_head_dim'), v: int('v_head_dim') }
    : undefined;
  const headDim = mla ? mla.nope + mla.rope : int('head_dim', Math.floor(nEmbd / nHead));
  // transformers v5 moves rope_theta and the scaling into rope_parameters.
  const ropeParams = isObject(cfg['rope_parameters']) ? (cfg['rope_parameters'] as Json) : undefined;
  const scaling = isObject(cfg['rope_scaling']) ? (cfg['rope_scaling'] as Json) : ropeParams;
  const theta = cfg['rope_theta'] ?? ropeParams?.['rope_theta'] ?? (a === 'gemma3' ? 1_000_000 : 10000);
  if (typeof theta !== 'number' || !(theta > 0 && Number.isFinite(theta))) throw new ModelError(`${file}: rope_theta should be a finite number > 0, got ${JSON.stringify(theta)}`);
  const ropeDim = mla ? mla.rope : Math.floor(headDim * num('partial_rotary_factor', 1));

  const name = typeof cfg['_name_or_path'] === 'string' && cfg['_name_or_path'] ? path.basename(cfg['_name_or_path']) : path.basename(path.resolve(dir || '.'));
  const nCtxTrain = int('max_position_embeddings');
  const nFF = int('intermediate_size');
  // Gemma 3's converter always states the head size.
  const explicitHeadDim = a === 'gemma3' || !!mla || (cfg['head_dim'] !== undefined && cfg['head_dim'] !== null && headDim !== Math.floor(nEmbd / nHead));
  // Phi-2 normalizes with LayerNorm (layer_norm_eps); every other family here with RMSNorm.
  const epsKey = a === 'phi2' ? 'layer_norm_eps' : 'rms_norm_eps';
  const eps = num(epsKey);
  if (!(eps > 0)) throw new ModelError(`${file}: ${epsKey} should be > 0, got ${eps}`);
  const hp: GGUFHParams = {
    arch: a, nCtxTrain, nEmbd, nFF, nLayer, nHead, nHeadKv, headDim: explicitHeadDim ? headDim : undefined,
    nRot: ropeDim, ropeBase: theta, eps, nVocab: int('vocab_size'),
  };

  const ropeType = scaling ? (scaling['rope_type'] ?? scaling['type'] ?? 'default') : 'default';
  const sNum = (key: string, dflt?: number): number => {
    const v = scaling?.[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelError(`${file}: rope_scaling.${key} should be a number, got ${JSON.stringify(v ?? null)}`);
    return v;
  };
  switch (ropeType) {
    case 'default':
      break;
    case 'linear':
      hp.ropeScaling = { type: 'linear', factor: sNum('factor') };
      break;
    case 'yarn':
      hp.ropeScaling = { type: 'yarn', factor: sNum('factor'), origCtx: sNum('original_max_position_embeddings', cfg['original_max_position_embeddings'] as number | undefined) };
      break;
    case 'llama3': {
      if (a !== 'llama') throw new UnsupportedError(`${file}: rope_scaling type llama3 is only supported for llama, not ${a}`);
      const freqs = llama3RopeFreqs({
        base: theta,
        dim: headDim,
        factor: sNum('factor', 8),
        lowFreqFactor: sNum('low_freq_factor', 1),
        highFreqFactor: sNum('high_freq_factor', 4),
        // convert_hf_to_gguf.py reads it from the top level; Llama 3.x configs keep it in rope_scaling.
        originalContext: sNum('original_max_position_embeddings', (cfg['original_max_position_embeddings'] as number | undefined) ?? 8192),
      });
      extraTensors.push(f32Tensor(TENSOR.ropeFreqs, freqs));
      break;
    }
    case 'longrope': {
      if (a !== 'minicpm' && a !== 'minicpm3') throw new UnsupportedError(`${file}: rope_scaling type longrope is only supported for minicpm and minicpm3, not ${a}`);
      const long = scaling!['long_factor'], short = scaling!['short_factor'];
      const half = ropeDim / 2;
      for (const [k, v] of [['long_factor', long], ['short_factor', short]] as const) {
        if (!Array.isArray(v) || v.length !== half || !v.every((x) => typeof x === 'number')) {
          throw new ModelError(`${file}: rope_scaling.${k} should be ${half} numbers (the rotated dimensions / 2)`);
        }
      }
      const orig = scaling!['original_max_position_embeddings'];
      hp.ropeScaling = { type: 'longrope', origCtx: typeof orig === 'number' ? orig : undefined };
      extraTensors.push(f32Tensor(TENSOR.ropeFactorsLong, Float32Array.from(long as number[])));
      extraTensors.push(f32Tensor(TENSOR.ropeFactorsShort, Float32Array.from(short as number[])));
      break;
    }
    default:
      throw new UnsupportedError(`${file}: rope_scaling type ${JSON.stringify(ropeType)} is not supported (lutra maps linear, yarn, llama3${a === 'minicpm' ? ', longrope' : ''})`);
  }

  // BitnetModel: linear rope scaling of factor 1 stated; the FFN activation as lutra's bitnet reads it.
  if (a === 'bitnet' && !hp.ropeScaling) hp.ropeScaling = { type: 'linear', factor: 1 };
  if (a === 'minicpm') hp.scales = { emb: num('scale_emb'), residual: num('scale_depth') / Math.sqrt(nLayer), logit: nEmbd / num('dim_model_base') };
  const md = new Map<string, GGUFValue>(modelMetadata(hp, { name }));
  const k = (key: Parameters<typeof hpKey>[1]) => hpKey(a, key);
  if (isObject(cfg['sparse_config'])) {
    // MiniCPM4's InfLLM v2 settings, kept as lutra's GGUF keys: the defaults of --sparse-attn infllm2.
    const sc = cfg['sparse_config'] as Json;
    if (sc['use_nope'] === true) throw new UnsupportedError(`${file}: sparse_config.use_nope true (compressed keys without RoPE) is not supported; lutra scores the cached (rotated) keys`);
    for (const [key, hk] of [['block_size', 'sparseBlockSize'], ['kernel_size', 'sparseKernelSize'], ['kernel_stride', 'sparseKernelStride'], ['init_blocks', 'sparseInitBlocks'],
      ['topk', 'sparseTopk'], ['window_size', 'sparseWindowSize'], ['dense_len', 'sparseDenseLen']] as const) {
      const v = sc[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ModelError(`${file}: sparse_config.${key} should be a non-negative integer, got ${JSON.stringify(v)}`);
      md.set(k(hk), u32(v));
    }
  }
  if (a === 'phi2') {
    const act = cfg['hidden_act'] ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw new UnsupportedError(`${file}: hidden_act ${JSON.stringify(act)} is not supported for phi2 (gelu_new)`);
    if (cfg['qk_layernorm'] === true) throw new UnsupportedError(`${file}: qk_layernorm is not supported for phi2`);
    md.set(k('normEps'), f32(eps));
  }
  if (a === 'bitnet') {
    const act = cfg['hidden_act'] ?? 'silu';
    if (act !== 'silu' && act !== 'relu2') throw new UnsupportedError(`${file}: hidden_act ${JSON.stringify(act)} is not supported for bitnet (silu, relu2)`);
    // llama.cpp's converter drops hidden_act (its graph runs SiLU); lutra keeps it (see models/bitnet.ts).
    md.set(k('hiddenActivation'), str(act));
  }
  if (mla) {
    // MiniCPM3Model; its muP scales are llama.cpp's (and lutra's) constants, so other values are refused.
    md.set(k('qLoraRank'), u32(mla.qLora));
    md.set(k('kvLoraRank'), u32(mla.kvLora));
    md.set(k('valueLength'), u32(mla.v));
    for (const [key, want] of [['scale_emb', 12], ['scale_depth', 1.4], ['dim_model_base', 256]] as const) {
      if (cfg[key] !== undefined && cfg[key] !== want) throw new UnsupportedError(`${file}: ${key} ${JSON.stringify(cfg[key])}: lutra's minicpm3 (as llama.cpp's) uses ${want}`);
    }
  }
  if (spec.experts) {
    // Qwen2MoeModel / Qwen3MoeModel: experts, used per token, each one's width, the shared expert's.
    md.set(k('expertCount'), u32(int('num_experts')));
    md.set(k('expertUsedCount'), u32(int('num_experts_per_tok')));
    if (cfg['moe_intermediate_size'] !== undefined) md.set(k('expertFeedForwardLength'), u32(int('moe_intermediate_size')));
    if (cfg['shared_expert_intermediate_size'] !== undefined) md.set(k('expertSharedFeedForwardLength'), u32(int('shared_expert_intermediate_size')));
  }
  if (a === 'gemma3') {
    // Gemma3Model: what lutra's gemma3 does not compute is refused by name.
    const act = cfg['hidden_activation'] ?? cfg['hidden_act'] ?? 'gelu_pytorch_tanh';
    if (act !== 'gelu_pytorch_tanh') throw new UnsupportedError(`${file}: hidden_activation ${JSON.stringify(act)} is not supported for gemma3 (gelu_pytorch_tanh)`);
    if (cfg['attn_logit_softcapping'] !== undefined && cfg['attn_logit_softcapping'] !== null) throw new UnsupportedError(`${file}: attn_logit_softcapping is not supported for gemma3`);
    const qScale = cfg['query_pre_attn_scalar'];
    if (qScale !== undefined && qScale !== headDim) throw new UnsupportedError(`${file}: query_pre_attn_scalar ${JSON.stringify(qScale)} differs from head_dim ${headDim}, which lutra's gemma3 assumes`);
    const pattern = cfg['sliding_window_pattern'];
    if (pattern !== 1 && cfg['sliding_window'] !== undefined && cfg['sliding_window'] !== null) {
      md.set(k('slidingWindow'), u32(int('sliding_window')));
      // llama.cpp's default is 6; stated here so that other patterns load as the checkpoint has them.
      if (pattern !== undefined) md.set(k('slidingWindowPattern'), u32(int('sliding_window_pattern')));
    }
    if (cfg['rope_local_base_freq'] !== undefined) md.set(k('ropeFreqBaseSwa'), f32(num('rope_local_base_freq')));
    const cap = cfg['final_logit_softcapping'];
    if (cap !== undefined && cap !== null) md.set(k('finalLogitSoftcapping'), f32(num('final_logit_softcapping')));
  }
  for (const k of ['bos', 'eos'] as const) {
    const id = cfg[`${k}_token_id`];
    if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) md.set(`tokenizer.ggml.${k}_token_id`, u32(id));
  }
  return { metadata: md, extraTensors, nHead, nHeadKv };
}

interface ExpertPart { t: SafetensorsTensor; type: number; file: string }

/** The experts of one layer's projection as llama.cpp's stacked tensor [cols, rows, nExpert] (expert e's rows at e * rows). */
function stackExperts(name: string, parts: ExpertPart[], nExpert: number): GGUFTensorInfo {
  const first = parts[0];
  for (let e = 0; e < nExpert; e++) {
    const p = parts[e];
    if (!p) throw new ModelError(`${first?.file ?? name}: expert ${e} of ${name} is missing (num_experts is ${nExpert})`);
    if (p.type !== first!.type || p.t.shape.join('x') !== first!.t.shape.join('x')) {
      throw new ModelError(`${p.file}: expert ${e} of ${name} is ${p.t.dtype} ${p.t.shape.join('x')}, expert 0 ${first!.t.dtype} ${first!.t.shape.join('x')}`);
    }
  }
  if (parts.length > nExpert) throw new ModelError(`${parts[nExpert]!.file}: ${name} has expert ${parts.length - 1}, past num_experts ${nExpert}`);
  const size = first!.t.data.byteLength;
  const data = new Uint8Array(size * nExpert);
  for (let e = 0; e < nExpert; e++) data.set(parts[e]!.t.data, e * size);
  return { name, shape: [...first!.t.shape].reverse().concat(nExpert), type: first!.type, offset: 0, nbytes: data.byteLength, data };
}

/** A non-negative integer of config.json. */
function int(cfg: Json, key: string, file: string): number {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ModelError(`${file}: ${key} should be a non-negative integer, got ${JSON.stringify(v ?? null)}`);
  return v;
}

function f32Tensor(name: string, values: Float32Array): GGUFTensorInfo {
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return { name, shape: [values.length], type: 0, offset: 0, nbytes: data.byteLength, data };
}

/** tokenizer_config.json's chat_template (string or named list), else chat_template.jinja / .json, as gguf-py's SpecialVocab does. */
async function addChatTemplate(md: Map<string, GGUFValue>, dir: string, tokenizerConfig: unknown): Promise<void> {
  let tmpl: unknown = isObject(tokenizerConfig) ? (tokenizerConfig as Json)['chat_template'] : undefined;
  if (tmpl === undefined || tmpl === null) {
    const jinja = await readSmallText(path.join(dir, 'chat_template.jinja'), MAX_CONFIG_JSON_BYTES);
    if (jinja !== undefined) tmpl = jinja;
    else {
      const j = await readJson(path.join(dir, 'chat_template.json'), MAX_CONFIG_JSON_BYTES);
      if (isObject(j)) tmpl = (j as Json)['chat_template'];
    }
  }
  if (typeof tmpl === 'string') md.set('tokenizer.chat_template', str(tmpl));
  else if (Array.isArray(tmpl)) {
    for (const t of tmpl) {
      if (!isObject(t) || typeof t['name'] !== 'string' || typeof t['template'] !== 'string') continue;
      md.set(t['name'] === 'default' ? 'tokenizer.chat_template' : `tokenizer.chat_template.${t['name']}`, str(t['template']));
    }
  }
}

// ---------------------------------------------------------------- files

async function listShards(dir: string): Promise<{ shards: string[]; weightMap?: Map<string, string>; indexPath?: string }> {
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  const index = await readJson(indexPath, MAX_INDEX_JSON_BYTES);
  if (index === undefined) {
    const single = path.join(dir, 'model.safetensors');
    if (!(await statRegularFile(single))) throw new ModelError(`${dir}: no model.safetensors or model.safetensors.index.json`);
    return { shards: [single] };
  }
  const wm = isObject(index) ? (index as Json)['weight_map'] : undefined;
  if (!isObject(wm)) throw new FormatError(indexPath, 'weight_map is missing or not an object');
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [tensor, shard] of Object.entries(wm as Json)) {
    if (typeof shard !== 'string' || shard === '' || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new FormatError(indexPath, `weight_map entry for ${tensor} is not a file name in the folder: ${JSON.stringify(shard)}`);
    }
    weightMap.set(tensor, shard);
    const p = path.join(dir, shard);
    if (!shards.includes(p)) shards.push(p);
  }
  if (shards.length === 0) throw new FormatError(indexPath, 'weight_map is empty');
  return { shards, weightMap, indexPath };
}

/** Read a whole file into one fresh buffer, in chunks so progress and abort work on multi-GB shards. */
async function readWhole(file: string, size: number, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<Uint8Array> {
  const fh = await openRegularFile(file);
  try {
    const out = new Uint8Array(size);
    let pos = 0;
    while (pos < size) {
      throwIfAborted(signal);
      const { bytesRead } = await fh.read(out, pos, Math.min(READ_CHUNK, size - pos), pos);
      if (bytesRead === 0) throw new FormatError(file, `file shrank while reading: got ${pos} of ${size} bytes`, pos);
      pos += bytesRead;
      onBytes(bytesRead);
    }
    throwIfAborted(signal);
    return out;
  } finally {
    await fh.close();
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory', ENOTDIR: 'a path component is not a directory', EISDIR: 'is a directory',
  EACCES: 'permission denied', EPERM: 'operation not permitted', ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long', EIO: 'I/O error', EMFILE: 'too many open files', ENFILE: 'too many open files',
  ENXIO: 'no such device', ENODEV: 'no such device',
};

/** An fs error as a FileError naming the path (ENOENT, EISDIR, EACCES, ... in words, with the code). */
export function fileError(file: string, e: unknown): FileError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return new FileError(file, code ? `${ERRNO_TEXT[code] ?? 'cannot read'} (${code})` : `cannot read: ${(e as Error)?.message ?? String(e)}`);
}

function kindOf(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device'
    : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file';
}

/** stat() following links; undefined when the path does not exist; a FileError unless it is a regular file. */
export async function statRegularFile(file: string): Promise<Stats | undefined> {
  let st: Stats;
  try {
    st = await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(file, e);
  }
  if (!st.isFile()) throw new FileError(file, `is ${kindOf(st)}, not a regular file`);
  return st;
}

/**
 * Open for reading without blocking on a FIFO swapped in after the stat, and check again on the
 * handle itself that it is a regular file (at most maxBytes long when given).
 */
export async function openRegularFile(file: string, maxBytes?: number): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw fileError(file, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FileError(file, `is ${kindOf(st)}, not a regular file`);
    if (maxBytes !== undefined && st.size > maxBytes) throw new FileError(file, `${st.size} bytes is over the ${maxBytes}-byte limit for this file`);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/**
 * A small text file (config, tokenizer, template) as UTF-8, or undefined when it does not exist.
 * Refused before reading when it is not a regular file or over maxBytes, and never read past
 * maxBytes even if it grows meanwhile.
 */
export async function readSmallText(file: string, maxBytes: number): Promise<string | undefined> {
  const st = await statRegularFile(file);
  if (!st) return undefined;
  if (st.size > maxBytes) throw new FileError(file, `${st.size} bytes is over the ${maxBytes}-byte limit for this file`);
  const fh = await openRegularFile(file, maxBytes);
  try {
    // One byte of room past the size stat gave: a file that grows while being read is refused.
    const buf = new Uint8Array(st.size + 1);
    let pos = 0;
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, pos, buf.length - pos, pos));
      } catch (e) {
        throw fileError(file, e);
      }
      if (n === 0) break;
      pos += n;
      if (pos > st.size) throw new FileError(file, `grew past its ${st.size} bytes while being read`);
    }
    return new TextDecoder().decode(buf.subarray(0, pos));
  } finally {
    await fh.close();
  }
}

/** Parsed JSON, or undefined when the file does not exist (an error naming the path when `requiredWhy` is given). */
export async function readJson(file: string, maxBytes: number, requiredWhy?: string): Promise<unknown> {
  const text = await readSmallText(file, maxBytes);
  if (text === undefined) {
    if (requiredWhy) throw new ModelError(`${file}: not found (${requiredWhy})`);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, `invalid JSON: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// ---------------------------------------------------------------- GPTQ / AWQ layers

interface QuantConfig { method: 'gptq' | 'awq'; bits: number; group: number }

function quantConfig(cfg: Json, file: string): QuantConfig | undefined {
  const q = cfg.quantization_config;
  if (q === undefined || q === null) return undefined;
  if (!isObject(q)) throw new FormatError(file, 'quantization_config is not an object');
  const method = String(q.quant_method ?? '').toLowerCase();
  if (method !== 'gptq' && method !== 'awq') throw new UnsupportedError(`${file}: quantization_config.quant_method ${JSON.stringify(q.quant_method)} is not supported (lutra imports gptq and awq)`);
  const bits = Number(q.bits ?? q.w_bit);
  const group = Number(q.group_size ?? q.q_group_size);
  if (!Number.isInteger(bits)) throw new FormatError(file, 'quantization_config.bits is missing');
  if (!Number.isInteger(group) || group <= 0) throw new UnsupportedError(`${file}: quantization_config.group_size ${q.group_size ?? q.q_group_size} is not supported (lutra needs a positive group size)`);
  if (method === 'gptq' && q.desc_act === true) throw new UnsupportedError(`${file}: act-order GPTQ (desc_act: true) is not supported; lutra's blocks need contiguous groups`);
  if (method === 'awq' && q.version !== undefined && String(q.version).toLowerCase() !== 'gemm') throw new UnsupportedError(`${file}: AWQ version ${q.version} is not supported (GEMM only)`);
  return { method, bits, group };
}

function int32Of(t: SafetensorsTensor, what: string): Int32Array {
  if (t.dtype !== 'I32') throw new FormatError(what, `${t.name} should be I32, file has ${t.dtype}`);
  const b = t.data.byteOffset % 4 === 0 ? t.data : t.data.slice();
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function importPacked(base: string, parts: Partial<Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', SafetensorsTensor>>, q: QuantConfig, file: string): { type: number; data: Uint8Array; inF: number; outF: number } {
  const { qweight, qzeros, scales } = parts;
  if (!qweight || !qzeros || !scales) throw new ModelError(`${file}: packed layer ${base} needs qweight, qzeros and scales (${Object.keys(parts).filter((k) => k !== 'file').join(', ')} found)`);
  if (scales.dtype !== 'F16') throw new FormatError(file, `${base}.scales should be F16, file has ${scales.dtype}`);
  const [r0, c0] = qweight.shape as [number, number];
  const inF = q.method === 'gptq' ? (r0 * 32) / q.bits : r0;
  const outF = q.method === 'gptq' ? c0 : (c0 * 32) / q.bits;
  const shape = { inF, outF, bits: q.bits, group: q.group };
  const sb = scales.data.byteOffset % 2 === 0 ? scales.data : scales.data.slice();
  const t = { qweight: int32Of(qweight, file), qzeros: int32Of(qzeros, file), scales: new Uint16Array(sb.buffer, sb.byteOffset, sb.byteLength / 2), gIdx: parts.g_idx ? int32Of(parts.g_idx, file) : undefined };
  try {
    const data = q.method === 'gptq' ? importGptq(t, shape) : importAwq(t, shape);
    return { type: gptqLutraType(shape), data, inF, outF };
  } catch (e) {
    throw new ModelError(`${file}: layer ${base}: ${(e as Error).message}`);
  }
}
