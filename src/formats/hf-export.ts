// GGUF-style { metadata, tensors } -> a Hugging Face model folder: config.json, model.safetensors,
// tokenizer_config.json and, for SentencePiece ("llama") vocabularies, tokenizer.json. The exact
// reverse of hf-folder.ts for llama / qwen2 / qwen3 / minicpm / qwen2moe / qwen3moe / phi3 /
// gemma3 / minicpm3 / bitnet / phi2: names, shapes, q/k row order, experts one tensor each, Gemma's norms
// without their +1, BitNet's ternary projections as weights that quantize back to them.
// F32/F16/BF16 tensors only; dequantizing is not this file's job.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelError, UnsupportedError } from '../core/errors.js';
import { ggmlTypeName, quantFormat } from '../quant/table.js';
import { plainValue, type GGUFTensorInfo, type GGUFValue } from './gguf.js';
import { BLOCK, GENERAL, TENSOR, blk, hpKey } from './gguf-names.js';
import { archFromGGUF, bitnetUnquant, ggufExpertHFName, ggufToHFName, isBitnetTernary, isShiftedNorm, llama3RopeFreqs, permuteRows, qkHeads, shortestF32 } from './hf-arch.js';
import { writeSafetensors, type SafetensorsTensorToWrite } from './safetensors.js';
import { spmTokenizerJson } from './hf-tokenizer-json.js';

const DTYPE_OF_GGML: Record<number, [string, string]> = { 0: ['F32', 'float32'], 1: ['F16', 'float16'], 30: ['BF16', 'bfloat16'] };
/** Relative tolerance when recognising a rope_freqs tensor as llama3 scaling (float32 pow may differ by an ulp). */
const ROPE_FREQS_RTOL = 1e-6;
const NO_TOKEN = 0xffffffff;

type Json = Record<string, unknown>;

export async function exportHFFolder(src: { metadata: Map<string, GGUFValue>; tensors: GGUFTensorInfo[] }, dir: string): Promise<void> {
  const md = src.metadata;
  const raw = (k: string): unknown => {
    const v = md.get(k);
    return v === undefined ? undefined : plainValue(v);
  };
  const num = (k: string, dflt?: number): number => {
    let v = raw(k);
    if (ArrayBuffer.isView(v)) {
      const arr = Array.from(v as unknown as ArrayLike<number>, Number);
      if (arr.some((x) => x !== arr[0])) throw new UnsupportedError(`metadata ${k} varies per layer, which a Hugging Face config cannot express`);
      v = arr[0];
    }
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new ModelError(`cannot export: missing metadata key ${k}`);
    }
    if (typeof v !== 'number') throw new ModelError(`cannot export: metadata ${k} should be a number`);
    return v;
  };
  const archName = raw(GENERAL.architecture);
  if (typeof archName !== 'string') throw new ModelError('cannot export: missing metadata key general.architecture');
  const spec = archFromGGUF(archName, md.has(hpKey(archName, 'expertCount')));
  const a = spec.arch;
  const byName = new Map(src.tensors.map((t) => [t.name, t]));

  const nEmbd = num(hpKey(a, 'embeddingLength'));
  const nLayer = num(hpKey(a, 'blockCount'));
  const nHead = num(hpKey(a, 'headCount'));
  const nHeadKv = num(hpKey(a, 'headCountKv'), nHead);
  const keyLength = raw(hpKey(a, 'keyLength')) === undefined ? undefined : num(hpKey(a, 'keyLength'));
  const headDim = keyLength ?? Math.floor(nEmbd / nHead);
  if (a !== 'minicpm3' && num(hpKey(a, 'valueLength'), headDim) !== headDim) throw new UnsupportedError(`cannot export: key_length and value_length differ`);
  const ropeDim = num(hpKey(a, 'ropeDimensionCount'), headDim);
  const theta = num(hpKey(a, 'ropeFreqBase'), 10000);
  const tokens = raw('tokenizer.ggml.tokens');
  const embd = byName.get(TENSOR.tokenEmbd);
  const vocabSize = num(hpKey(a, 'vocabSize'), Array.isArray(tokens) ? tokens.length : embd?.shape[1]);
  const torchDtype = DTYPE_OF_GGML[embd?.type ?? 0]?.[1] ?? 'float32';

  const config: Json = {
    architectures: [spec.hfClass],
    model_type: spec.modelType,
    hidden_size: nEmbd,
    intermediate_size: num(hpKey(a, 'feedForwardLength')),
    num_hidden_layers: nLayer,
    num_attention_heads: nHead,
    num_key_value_heads: nHeadKv,
    max_position_embeddings: num(hpKey(a, 'contextLength')),
    ...(a === 'phi2' ? { layer_norm_eps: shortestF32(num(hpKey(a, 'normEps'))), qk_layernorm: false } : { rms_norm_eps: shortestF32(num(hpKey(a, 'rmsEps'))) }),
    rope_theta: shortestF32(theta),
    vocab_size: vocabSize,
    hidden_act: a === 'gemma3' ? 'gelu_pytorch_tanh' : a === 'phi2' ? 'gelu_new' : a === 'bitnet' ? (raw(hpKey(a, 'hiddenActivation')) ?? 'silu') : 'silu',
    tie_word_embeddings: !byName.has(TENSOR.output),
    torch_dtype: torchDtype,
  };
  const name = raw(GENERAL.name);
  if (typeof name === 'string' && name) config['_name_or_path'] = name;
  if (a === 'minicpm3') {
    // The key is the unrotated part and the rotated one; the value has its own size.
    Object.assign(config, {
      q_lora_rank: num(hpKey(a, 'qLoraRank')), kv_lora_rank: num(hpKey(a, 'kvLoraRank')),
      qk_nope_head_dim: headDim - ropeDim, qk_rope_head_dim: ropeDim, v_head_dim: num(hpKey(a, 'valueLength'), Math.floor(nEmbd / nHead)),
      scale_emb: 12, scale_depth: 1.4, dim_model_base: 256,
    });
  } else {
    if (keyLength !== undefined) config['head_dim'] = keyLength;
    if (ropeDim !== headDim) config['partial_rotary_factor'] = ropeDim / headDim;
  }
  if (a === 'llama') config['attention_bias'] = byName.has(blk(0, 'attnQ', 'bias'));
  for (const k of ['bos', 'eos'] as const) {
    const id = raw(`tokenizer.ggml.${k}_token_id`);
    if (typeof id === 'number' && id !== NO_TOKEN) config[`${k}_token_id`] = id;
  }
  const scaling = ropeScaling(a, md, byName, { theta, headDim, num });
  if (scaling) config['rope_scaling'] = scaling;
  if (a === 'minicpm') {
    const residual = num(hpKey(a, 'residualScale')), logit = num(hpKey(a, 'logitScale'));
    config['scale_emb'] = shortestF32(num(hpKey(a, 'embeddingScale')));
    config['scale_depth'] = nicest(residual * Math.sqrt(nLayer), (x) => Math.fround(x / Math.sqrt(nLayer)) === residual);
    config['dim_model_base'] = nicest(nEmbd / logit, (x) => Math.fround(nEmbd / x) === logit);
  }

  const k = (key: Parameters<typeof hpKey>[1]) => hpKey(a, key);
  if (spec.experts) {
    config['num_experts'] = num(k('expertCount'));
    config['num_experts_per_tok'] = num(k('expertUsedCount'));
    if (md.has(k('expertFeedForwardLength'))) config['moe_intermediate_size'] = num(k('expertFeedForwardLength'));
    if (md.has(k('expertSharedFeedForwardLength'))) config['shared_expert_intermediate_size'] = num(k('expertSharedFeedForwardLength'));
    if (a !== 'minicpm') {
      // What lutra's qwen2moe / qwen3moe compute: renormalized top-k for Qwen3-MoE only, experts in every layer.
      config['norm_topk_prob'] = a === 'qwen3moe';
      config['decoder_sparse_step'] = 1;
      config['mlp_only_layers'] = [];
      if (a === 'qwen2moe') config['qkv_bias'] = true;
    }
  }
  if (a === 'gemma3') {
    config['hidden_activation'] = 'gelu_pytorch_tanh';
    config['head_dim'] = headDim;
    config['query_pre_attn_scalar'] = headDim;
    const window = raw(k('slidingWindow'));
    config['sliding_window'] = window === undefined ? null : num(k('slidingWindow'));
    config['sliding_window_pattern'] = window === undefined ? 1 : num(k('slidingWindowPattern'), 6);
    if (md.has(k('ropeFreqBaseSwa'))) config['rope_local_base_freq'] = shortestF32(num(k('ropeFreqBaseSwa')));
    config['final_logit_softcapping'] = md.has(k('finalLogitSoftcapping')) ? shortestF32(num(k('finalLogitSoftcapping'))) : null;
    config['attn_logit_softcapping'] = null;
  }

  const out: SafetensorsTensorToWrite[] = [];
  for (const t of src.tensors) {
    if (t.name === TENSOR.ropeFreqs || t.name.startsWith('rope_factors_')) continue; // folded into rope_scaling
    const dtype = DTYPE_OF_GGML[t.type]?.[0];
    if (!dtype) throw new UnsupportedError(`tensor ${t.name}: type ${ggmlTypeName(t.type)} cannot be exported (lutra writes F32, F16 and BF16 safetensors and does not dequantize)`);
    const shape = [...t.shape].reverse();
    if (spec.experts && t.shape.length === 3 && ggufExpertHFName(t.name, 0)) {
      // A stacked [nExpert, rows, cols] tensor: one checkpoint tensor per expert, as transformers keeps them.
      const [nExpert, ...one] = shape as [number, number, number];
      const size = t.data.byteLength / nExpert;
      for (let e = 0; e < nExpert; e++) out.push({ name: ggufExpertHFName(t.name, e)!, dtype, shape: one, data: t.data.subarray(e * size, (e + 1) * size) });
      continue;
    }
    const fused = a === 'phi2' ? /^blk\.(\d+)\.attn_qkv\.(weight|bias)$/.exec(t.name) : null;
    if (fused) {
      // Phi-2's checkpoint keeps q, k and v apart: the fused rows (q, then k, then v) split back.
      const rows = [nHead * headDim, nHeadKv * headDim, nHeadKv * headDim];
      const rowBytes = t.data.byteLength / (rows[0]! + rows[1]! + rows[2]!);
      let r0 = 0;
      for (const [i, part] of (['q_proj', 'k_proj', 'v_proj'] as const).entries()) {
        const data = t.data.subarray(r0 * rowBytes, (r0 + rows[i]!) * rowBytes);
        r0 += rows[i]!;
        out.push({ name: `model.layers.${fused[1]}.self_attn.${part}.${fused[2]}`, dtype, shape: fused[2] === 'bias' ? [rows[i]!] : [rows[i]!, shape[1]!], data });
      }
      continue;
    }
    const hfName = ggufToHFName(t.name, spec);
    if (!hfName) throw new UnsupportedError(`tensor ${t.name} has no Hugging Face name in lutra's ${a} mapping`);
    if (t.name.endsWith(`${BLOCK.ffnGateInpShexp}.weight`) && shape.length === 1) shape.unshift(1); // HF's [1, nEmbd] gate
    if (a === 'bitnet' && isBitnetTernary(t.name)) {
      // Weights whose weight_quant (the converter's, BitNet's forward) gives back the GGUF's ternary ones.
      const fmt = quantFormat(t.type, t.name);
      const n = t.data.byteLength / (fmt.typeSize / fmt.blockSize);
      const v = new Float32Array(n);
      fmt.dequantize(t.data, 0, v, 0, n);
      const data = new Uint8Array(t.data.byteLength);
      fmt.quantize!(bitnetUnquant(v), 0, data, 0, n);
      out.push({ name: hfName, dtype, shape, data });
      continue;
    }
    if (spec.normShift && isShiftedNorm(t.name)) {
      // Gemma's checkpoint stores w where GGUF holds 1 + w (exact for weights within [0.5, 2]).
      const v = f32Values(t).map((x) => x - spec.normShift!);
      out.push({ name: hfName, dtype: 'F32', shape, data: new Uint8Array(v.buffer) });
      continue;
    }
    const heads = spec.permuteQK ? qkHeads(t.name, nHead, nHeadKv) : undefined;
    const data = heads === undefined ? t.data : permuteRows(t.data, shape[0] ?? 0, heads, true, `tensor ${t.name}`);
    out.push({ name: hfName, dtype, shape, data });
  }

  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writeFile(path.join(dir, 'model.safetensors'), writeSafetensors(out, { format: 'pt' }));
  await writeTokenizerFiles(dir, raw, config);
}

/** rope_scaling for config.json from the GGUF keys and rope tensors, or undefined for plain RoPE. */
function ropeScaling(
  a: string, md: Map<string, GGUFValue>, byName: Map<string, GGUFTensorInfo>,
  p: { theta: number; headDim: number; num: (k: string, d?: number) => number },
): Json | undefined {
  const typeV = md.get(hpKey(a, 'ropeScalingType'));
  const type = typeV ? String(plainValue(typeV)) : undefined;
  const freqs = byName.get(TENSOR.ropeFreqs);
  if (freqs) {
    const values = f32Values(freqs);
    const guess = { factor: values[values.length - 1]!, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const expect = llama3RopeFreqs({
      base: p.theta, dim: p.headDim, factor: guess.factor, lowFreqFactor: guess.low_freq_factor,
      highFreqFactor: guess.high_freq_factor, originalContext: guess.original_max_position_embeddings,
    });
    const same = expect.length === values.length && expect.every((e, i) => Math.abs(e - values[i]!) <= Math.abs(e) * ROPE_FREQS_RTOL);
    if (!same) throw new UnsupportedError('rope_freqs.weight does not match llama3 rope scaling with the Llama 3 constants; it cannot be expressed in config.json');
    return { rope_type: 'llama3', ...guess };
  }
  if (type === undefined || type === 'none') return undefined;
  if (type === 'linear') return { type, rope_type: type, factor: shortestF32(p.num(hpKey(a, 'ropeScalingFactor'))) };
  if (type === 'yarn') {
    return {
      type, rope_type: type, factor: shortestF32(p.num(hpKey(a, 'ropeScalingFactor'))),
      original_max_position_embeddings: p.num(hpKey(a, 'ropeScalingOrigCtx')),
    };
  }
  if (type === 'longrope') {
    const long = byName.get(TENSOR.ropeFactorsLong), short = byName.get(TENSOR.ropeFactorsShort);
    if (!long || !short) throw new ModelError('longrope scaling without rope_factors_long.weight / rope_factors_short.weight');
    const out: Json = { type, rope_type: type, long_factor: Array.from(f32Values(long), shortestF32), short_factor: Array.from(f32Values(short), shortestF32) };
    if (md.has(hpKey(a, 'ropeScalingOrigCtx'))) out['original_max_position_embeddings'] = p.num(hpKey(a, 'ropeScalingOrigCtx'));
    return out;
  }
  throw new UnsupportedError(`rope scaling type ${type} cannot be exported`);
}

async function writeTokenizerFiles(dir: string, raw: (k: string) => unknown, config: Json): Promise<void> {
  const tokens = raw('tokenizer.ggml.tokens');
  const id = (k: string): number | undefined => {
    const v = raw(`tokenizer.ggml.${k}_token_id`);
    return typeof v === 'number' && v !== NO_TOKEN && Array.isArray(tokens) && v < tokens.length ? v : undefined;
  };
  const flag = (k: string): boolean | undefined => {
    const v = raw(`tokenizer.ggml.${k}`);
    return typeof v === 'boolean' ? v : undefined;
  };
  const tc: Json = {};
  const isSpm = raw('tokenizer.ggml.model') === 'llama' && Array.isArray(tokens);
  if (isSpm) {
    const t = tokens as string[];
    const scores = raw('tokenizer.ggml.scores');
    const types = raw('tokenizer.ggml.token_type');
    const json = spmTokenizerJson({
      tokens: t,
      scores: ArrayBuffer.isView(scores) ? (scores as unknown as ArrayLike<number>) : new Float32Array(t.length),
      types: ArrayBuffer.isView(types) ? (types as unknown as ArrayLike<number>) : undefined,
      unkId: id('unknown') ?? 0, bosId: id('bos'), eosId: id('eos'),
      addBos: flag('add_bos_token'), addEos: flag('add_eos_token'), addSpacePrefix: flag('add_space_prefix'),
    });
    await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(json, null, 2) + '\n');
    tc['add_bos_token'] = flag('add_bos_token') ?? true;
    tc['add_eos_token'] = flag('add_eos_token') ?? false;
  }
  if (Array.isArray(tokens)) {
    const t = tokens as string[];
    for (const [key, k] of [['bos_token', 'bos'], ['eos_token', 'eos'], ['unk_token', 'unknown'], ['pad_token', 'padding']] as const) {
      const i = id(k);
      if (i !== undefined) tc[key] = t[i];
    }
  }
  const tmpl = raw('tokenizer.chat_template');
  if (typeof tmpl === 'string') tc['chat_template'] = tmpl;
  tc['clean_up_tokenization_spaces'] = false;
  tc['model_max_length'] = config['max_position_embeddings'];
  if (isSpm) {
    tc['legacy'] = true;
    tc['tokenizer_class'] = 'LlamaTokenizer';
  }
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc, null, 2) + '\n');
}

function f32Values(t: GGUFTensorInfo): Float32Array {
  if (t.type !== 0) throw new UnsupportedError(`tensor ${t.name}: expected F32, file has ${ggmlTypeName(t.type)}`);
  return new Float32Array(t.data.slice().buffer);
}

/** The shortest decimal form of `x` that still passes `ok` (so config.json says 1.4, not 1.3999999761581423). */
function nicest(x: number, ok: (y: number) => boolean): number {
  for (let p = 1; p <= 17; p++) {
    const y = Number(x.toPrecision(p));
    if (ok(y)) return y;
  }
  return x;
}
