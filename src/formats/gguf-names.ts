// GGUF metadata keys and tensor names, spelled once (llama.cpp's llama-arch tables, gguf-py's
// constants.py and tensor_mapping.py), and the writer of an architecture's hyper-parameters as
// metadata. Here in formats/ rather than models/ because the Hugging Face import and export below
// models/ write and read these names too; models/hparams.ts reads them back for the loader.

import { GGUFType, type GGUFValue } from './gguf.js';

/** Keys outside any architecture's namespace. */
export const GENERAL = {
  architecture: 'general.architecture',
  name: 'general.name',
  fileType: 'general.file_type',
  quantizationVersion: 'general.quantization_version',
} as const;

/** llama.cpp's gguf-split keys (LLM_KV_SPLIT_*): which shard of how many, and the model's tensor total. */
export const SPLIT = {
  no: 'split.no',
  count: 'split.count',
  tensorsCount: 'split.tensors.count',
} as const;

/** Hyper-parameter keys, each `{arch}.` + the suffix (llama.cpp's LLM_KV_*). */
export const HPARAM = {
  vocabSize: 'vocab_size',
  contextLength: 'context_length',
  embeddingLength: 'embedding_length',
  blockCount: 'block_count',
  feedForwardLength: 'feed_forward_length',
  expertCount: 'expert_count',
  expertUsedCount: 'expert_used_count',
  expertFeedForwardLength: 'expert_feed_forward_length',
  expertSharedFeedForwardLength: 'expert_shared_feed_forward_length',
  expertSharedCount: 'expert_shared_count',
  expertWeightsScale: 'expert_weights_scale',
  expertWeightsNorm: 'expert_weights_norm',
  expertGatingFunc: 'expert_gating_func',
  expertGroupCount: 'expert_group_count',
  headCount: 'attention.head_count',
  headCountKv: 'attention.head_count_kv',
  keyLength: 'attention.key_length',
  valueLength: 'attention.value_length',
  rmsEps: 'attention.layer_norm_rms_epsilon',
  normEps: 'attention.layer_norm_epsilon',
  qLoraRank: 'attention.q_lora_rank',
  kvLoraRank: 'attention.kv_lora_rank',
  slidingWindow: 'attention.sliding_window',
  slidingWindowPattern: 'attention.sliding_window_pattern',
  attnLogitSoftcapping: 'attn_logit_softcapping',
  finalLogitSoftcapping: 'final_logit_softcapping',
  ropeFreqBaseSwa: 'rope.freq_base_swa',
  ropeDimensionCount: 'rope.dimension_count',
  ropeFreqBase: 'rope.freq_base',
  ropeScalingType: 'rope.scaling.type',
  ropeScalingFactor: 'rope.scaling.factor',
  ropeScaleLinear: 'rope.scale_linear',
  ropeScalingAttnFactor: 'rope.scaling.attn_factor',
  ropeScalingOrigCtx: 'rope.scaling.original_context_length',
  embeddingScale: 'embedding_scale',
  residualScale: 'residual_scale',
  logitScale: 'logit_scale',
  /** The FFN activation where an architecture lets the file choose it (BitNet: silu or relu2). */
  hiddenActivation: 'hidden_activation',
  /** How embeddings pool token states: llama.cpp's enum (0 none, 1 mean, 2 cls, 3 last, 4 rank). */
  poolingType: 'pooling_type',
  /**
   * InfLLM v2 sparse attention (MiniCPM4's config.json sparse_config): lutra's own keys, llama.cpp
   * has none (it runs MiniCPM4 dense).
   */
  sparseBlockSize: 'attention.sparse.block_size',
  sparseKernelSize: 'attention.sparse.kernel_size',
  sparseKernelStride: 'attention.sparse.kernel_stride',
  sparseInitBlocks: 'attention.sparse.init_blocks',
  sparseTopk: 'attention.sparse.topk',
  sparseWindowSize: 'attention.sparse.window_size',
  sparseDenseLen: 'attention.sparse.dense_len',
} as const;

export type HParamKey = keyof typeof HPARAM;

/** The full key of a hyper-parameter: hpKey('qwen2', 'blockCount') is 'qwen2.block_count'. */
export function hpKey(arch: string, k: HParamKey): string {
  return `${arch}.${HPARAM[k]}`;
}

// ---------------------------------------------------------------- tensor names

/** Whole-model tensors. */
export const TENSOR = {
  tokenEmbd: 'token_embd.weight',
  outputNorm: 'output_norm.weight',
  output: 'output.weight',
  ropeFreqs: 'rope_freqs.weight',
  ropeFactorsLong: 'rope_factors_long.weight',
  ropeFactorsShort: 'rope_factors_short.weight',
} as const;

/** Per-block tensors, without the `blk.{i}.` prefix and the `.weight`/`.bias` suffix. */
export const BLOCK = {
  attnNorm: 'attn_norm',
  attnQ: 'attn_q',
  attnK: 'attn_k',
  attnV: 'attn_v',
  attnOutput: 'attn_output',
  attnQNorm: 'attn_q_norm',
  attnKNorm: 'attn_k_norm',
  ffnNorm: 'ffn_norm',
  ffnGate: 'ffn_gate',
  ffnUp: 'ffn_up',
  ffnDown: 'ffn_down',
  // fused projections (Phi-2/3)
  attnQkv: 'attn_qkv',
  // mixture of experts: the router, the stacked experts [nExpert, rows, cols], the shared expert
  ffnGateInp: 'ffn_gate_inp',
  ffnGateExps: 'ffn_gate_exps',
  ffnUpExps: 'ffn_up_exps',
  ffnDownExps: 'ffn_down_exps',
  ffnGateInpShexp: 'ffn_gate_inp_shexp',
  ffnGateShexp: 'ffn_gate_shexp',
  ffnUpShexp: 'ffn_up_shexp',
  ffnDownShexp: 'ffn_down_shexp',
  // multi-head latent attention (MiniCPM3, DeepSeek-V2)
  attnQA: 'attn_q_a',
  attnQB: 'attn_q_b',
  attnQANorm: 'attn_q_a_norm',
  attnKvAMqa: 'attn_kv_a_mqa',
  attnKvB: 'attn_kv_b',
  attnKvANorm: 'attn_kv_a_norm',
  // Gemma's norms after each branch, BitNet's norms inside them
  attnPostNorm: 'post_attention_norm',
  ffnPostNorm: 'post_ffw_norm',
  attnSubNorm: 'attn_sub_norm',
  ffnSubNorm: 'ffn_sub_norm',
} as const;

export type BlockTensor = keyof typeof BLOCK;

/** blk(3, 'attnQ') is 'blk.3.attn_q.weight'; blk(3, 'attnQ', 'bias') is 'blk.3.attn_q.bias'. */
export function blk(layer: number, t: BlockTensor, kind: 'weight' | 'bias' | 'scale' = 'weight'): string {
  return blockName(layer, `${BLOCK[t]}.${kind}`);
}

/** `blk.{layer}.` + rest. */
export function blockName(layer: number, rest: string): string {
  return `blk.${layer}.${rest}`;
}

/** `blk.{i}.` + rest, split; undefined for whole-model tensors. */
export function splitBlockName(name: string): { layer: number; rest: string } | undefined {
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  return m ? { layer: Number(m[1]), rest: m[2]! } : undefined;
}

export interface ArchTensors {
  /** Block tensors every layer has, in llama.cpp's order. */
  block: readonly BlockTensor[];
  /** Projections whose bias is part of the architecture (Qwen2), not only tolerated. */
  qkvBias: boolean;
  qkNorm: boolean;
}

const LLAMA_BLOCK: readonly BlockTensor[] = ['attnNorm', 'attnQ', 'attnK', 'attnV', 'attnOutput', 'ffnNorm', 'ffnGate', 'ffnUp', 'ffnDown'];

/** Which tensors each architecture's blocks have (llama.cpp's LLM_TENSOR_NAMES, for the ones lutra loads). */
export const ARCH_TENSORS: Readonly<Record<'llama' | 'qwen2' | 'qwen3' | 'minicpm', ArchTensors>> = {
  llama: { block: LLAMA_BLOCK, qkvBias: false, qkNorm: false },
  qwen2: { block: LLAMA_BLOCK, qkvBias: true, qkNorm: false },
  qwen3: { block: LLAMA_BLOCK, qkvBias: false, qkNorm: true },
  minicpm: { block: LLAMA_BLOCK, qkvBias: false, qkNorm: false },
};

// ---------------------------------------------------------------- Hugging Face names

/** Hugging Face checkpoint name <-> GGUF name (convert_hf_to_gguf.py's tensor_mapping.py, llama family). */
export const HF_GLOBAL_NAMES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['model.embed_tokens.weight', TENSOR.tokenEmbd],
  ['model.norm.weight', TENSOR.outputNorm],
  ['lm_head.weight', TENSOR.output],
];

/** The same for block tensors, after `model.layers.{i}.` / `blk.{i}.`. */
export const HF_BLOCK_NAMES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['input_layernorm.weight', `${BLOCK.attnNorm}.weight`],
  ['self_attn.q_proj.weight', `${BLOCK.attnQ}.weight`],
  ['self_attn.k_proj.weight', `${BLOCK.attnK}.weight`],
  ['self_attn.v_proj.weight', `${BLOCK.attnV}.weight`],
  ['self_attn.o_proj.weight', `${BLOCK.attnOutput}.weight`],
  ['self_attn.q_proj.bias', `${BLOCK.attnQ}.bias`],
  ['self_attn.k_proj.bias', `${BLOCK.attnK}.bias`],
  ['self_attn.v_proj.bias', `${BLOCK.attnV}.bias`],
  ['self_attn.o_proj.bias', `${BLOCK.attnOutput}.bias`],
  ['self_attn.q_norm.weight', `${BLOCK.attnQNorm}.weight`],
  ['self_attn.k_norm.weight', `${BLOCK.attnKNorm}.weight`],
  ['post_attention_layernorm.weight', `${BLOCK.ffnNorm}.weight`],
  ['mlp.gate_proj.weight', `${BLOCK.ffnGate}.weight`],
  ['mlp.up_proj.weight', `${BLOCK.ffnUp}.weight`],
  ['mlp.down_proj.weight', `${BLOCK.ffnDown}.weight`],
];

/**
 * Block names that differ by family, over HF_BLOCK_NAMES (an entry here replaces the one of the
 * same GGUF or HF name there): Qwen MoE's router and shared expert, Phi-3's fused projections
 * (stored fused in the checkpoint too), Gemma 3's four norms per layer, MiniCPM3's latent attention,
 * BitNet's sub-norms (transformers' names; 1bitLLM's inner_attn_ln / ffn_layernorm in HF_BITNET_ALIASES).
 */
export const HF_FAMILY_BLOCK_NAMES: Readonly<Record<'moe' | 'phi2' | 'phi3' | 'gemma3' | 'mla' | 'bitnet', ReadonlyArray<readonly [hf: string, gguf: string]>>> = {
  moe: [
    ['mlp.gate.weight', `${BLOCK.ffnGateInp}.weight`],
    ['mlp.shared_expert.gate_proj.weight', `${BLOCK.ffnGateShexp}.weight`],
    ['mlp.shared_expert.up_proj.weight', `${BLOCK.ffnUpShexp}.weight`],
    ['mlp.shared_expert.down_proj.weight', `${BLOCK.ffnDownShexp}.weight`],
    // HF [1, nEmbd]; llama.cpp's {nEmbd}
    ['mlp.shared_expert_gate.weight', `${BLOCK.ffnGateInpShexp}.weight`],
  ],
  // Phi-2 (PhiForCausalLM): LayerNorms with biases, every projection biased, q/k/v apart as the converter writes them.
  phi2: [
    ['input_layernorm.weight', `${BLOCK.attnNorm}.weight`],
    ['input_layernorm.bias', `${BLOCK.attnNorm}.bias`],
    ['self_attn.dense.weight', `${BLOCK.attnOutput}.weight`],
    ['self_attn.dense.bias', `${BLOCK.attnOutput}.bias`],
    ['mlp.fc1.weight', `${BLOCK.ffnUp}.weight`],
    ['mlp.fc1.bias', `${BLOCK.ffnUp}.bias`],
    ['mlp.fc2.weight', `${BLOCK.ffnDown}.weight`],
    ['mlp.fc2.bias', `${BLOCK.ffnDown}.bias`],
  ],
  phi3: [
    ['self_attn.qkv_proj.weight', `${BLOCK.attnQkv}.weight`],
    ['mlp.gate_up_proj.weight', `${BLOCK.ffnUp}.weight`],
  ],
  bitnet: [
    ['self_attn.attn_sub_norm.weight', `${BLOCK.attnSubNorm}.weight`],
    ['mlp.ffn_sub_norm.weight', `${BLOCK.ffnSubNorm}.weight`],
  ],
  mla: [
    ['self_attn.q_a_proj.weight', `${BLOCK.attnQA}.weight`],
    ['self_attn.q_a_layernorm.weight', `${BLOCK.attnQANorm}.weight`],
    ['self_attn.q_b_proj.weight', `${BLOCK.attnQB}.weight`],
    ['self_attn.kv_a_proj_with_mqa.weight', `${BLOCK.attnKvAMqa}.weight`],
    ['self_attn.kv_a_layernorm.weight', `${BLOCK.attnKvANorm}.weight`],
    ['self_attn.kv_b_proj.weight', `${BLOCK.attnKvB}.weight`],
  ],
  gemma3: [
    ['post_attention_layernorm.weight', `${BLOCK.attnPostNorm}.weight`],
    ['pre_feedforward_layernorm.weight', `${BLOCK.ffnNorm}.weight`],
    ['post_feedforward_layernorm.weight', `${BLOCK.ffnPostNorm}.weight`],
  ],
};

/** Phi-2's whole-model tensors beside HF_GLOBAL_NAMES: its final LayerNorm and the output bias. */
export const HF_PHI2_GLOBAL_NAMES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['model.final_layernorm.weight', `${TENSOR.outputNorm}`],
  ['model.final_layernorm.bias', 'output_norm.bias'],
  ['lm_head.bias', 'output.bias'],
];

/** Older BitNet b1.58 checkpoints (1bitLLM, llama.cpp's tensor_mapping): other names of the sub-norms, read on import. */
export const HF_BITNET_ALIASES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['self_attn.inner_attn_ln.weight', `${BLOCK.attnSubNorm}.weight`],
  ['mlp.ffn_layernorm.weight', `${BLOCK.ffnSubNorm}.weight`],
];

/**
 * One expert's projection in a checkpoint (`mlp.experts.{e}.` + the HF name) <-> the GGUF tensor
 * that stacks all experts of the layer ([cols, rows, nExpert]), as convert_hf_to_gguf merges them.
 */
export const HF_EXPERT_NAMES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ['gate_proj.weight', `${BLOCK.ffnGateExps}.weight`],
  ['up_proj.weight', `${BLOCK.ffnUpExps}.weight`],
  ['down_proj.weight', `${BLOCK.ffnDownExps}.weight`],
];

// ---------------------------------------------------------------- hparams -> metadata

export const u32 = (value: number): GGUFValue => ({ type: GGUFType.UINT32, value });
export const f32 = (value: number): GGUFValue => ({ type: GGUFType.FLOAT32, value: Math.fround(value) });
export const str = (value: string): GGUFValue => ({ type: GGUFType.STRING, value });

/** An architecture's hyper-parameters as GGUF states them; optional ones are written only when set. */
export interface GGUFHParams {
  arch: string;
  nCtxTrain: number;
  nEmbd: number;
  nFF: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  /** attention.key_length and value_length (when not nEmbd / nHead). */
  headDim?: number;
  nRot?: number;
  ropeBase?: number;
  eps: number;
  nVocab?: number;
  ropeScaling?: { type: string; factor?: number; origCtx?: number };
  /** MiniCPM's muP scalings. */
  scales?: { emb: number; residual: number; logit: number };
}

/** The metadata entries of `hp`, after general.architecture: one order for every writer. */
export function hparamsMetadata(hp: GGUFHParams): [string, GGUFValue][] {
  const k = (name: HParamKey) => hpKey(hp.arch, name);
  const md: [string, GGUFValue][] = [
    [k('contextLength'), u32(hp.nCtxTrain)],
    [k('embeddingLength'), u32(hp.nEmbd)],
    [k('feedForwardLength'), u32(hp.nFF)],
    [k('blockCount'), u32(hp.nLayer)],
    [k('headCount'), u32(hp.nHead)],
    [k('headCountKv'), u32(hp.nHeadKv)],
  ];
  if (hp.headDim !== undefined) md.push([k('keyLength'), u32(hp.headDim)], [k('valueLength'), u32(hp.headDim)]);
  if (hp.nRot !== undefined) md.push([k('ropeDimensionCount'), u32(hp.nRot)]);
  if (hp.ropeBase !== undefined) md.push([k('ropeFreqBase'), f32(hp.ropeBase)]);
  md.push([k('rmsEps'), f32(hp.eps)]);
  if (hp.nVocab !== undefined) md.push([k('vocabSize'), u32(hp.nVocab)]);
  const rs = hp.ropeScaling;
  if (rs) {
    md.push([k('ropeScalingType'), str(rs.type)]);
    if (rs.factor !== undefined) md.push([k('ropeScalingFactor'), f32(rs.factor)]);
    if (rs.origCtx !== undefined) md.push([k('ropeScalingOrigCtx'), u32(rs.origCtx)]);
  }
  if (hp.scales) md.push([k('embeddingScale'), f32(hp.scales.emb)], [k('residualScale'), f32(hp.scales.residual)], [k('logitScale'), f32(hp.scales.logit)]);
  return md;
}

/** general.architecture and general.name, then `hparamsMetadata`: the head of a model's metadata. */
export function modelMetadata(hp: GGUFHParams, o: { name?: string; fileType?: number; quantizationVersion?: number } = {}): [string, GGUFValue][] {
  const md: [string, GGUFValue][] = [[GENERAL.architecture, str(hp.arch)]];
  if (o.name !== undefined) md.push([GENERAL.name, str(o.name)]);
  if (o.fileType !== undefined) md.push([GENERAL.fileType, u32(o.fileType)]);
  if (o.quantizationVersion !== undefined) md.push([GENERAL.quantizationVersion, u32(o.quantizationVersion)]);
  return [...md, ...hparamsMetadata(hp)];
}
