// lutra's WebAssembly kernels (AssemblyScript), the module's entry: it only names the exports.
// One source, three builds chosen at run time: SIMD128 + relaxed SIMD, SIMD128, and plain scalar
// WebAssembly (compile-time ASC_FEATURE_* flags). Every export works on raw pointers into the
// shared linear memory; nothing allocates, so the module can run with `--runtime stub` in several
// threads over the same memory. Each export has a TypeScript twin in src/kernels/ref with the same
// meaning; test/kernels-parity.test.ts holds them together. Weight formats use ggml's type ids
// (types.generated.ts, from the quant table) and block layouts.
//
// One file per kernel family:
//   f16.ts          f16 <-> f32, round_f16, f32_to_f16
//   act-quant.ts    activations to Q8 blocks of 32 and Q8_K super-blocks
//   dot.ts          one row . one token, per format
//   matmul.ts       matrix products: the tiled 32-element formats, everything else row by row
//   rows4.ts        the four-row decode layout built at load (Q4_0, Q4_1, Q8_0) and its products
//   rows4-band.ts   prefill in that layout (Q4_0, Q4_1; its two-token kernel also for biased Q8_0 and Q5_0): bands of 16 rows, two tokens per weight load
//   scratch.ts      each thread's own scratch (a module global per instance)
//   rows4-q8u.ts    Q8_0 in that layout with biased (unsigned) weights: one dot per 16 bytes where the engine's dot reads them exactly
//   rows4-f16.ts    the same layout for F16 rows: products in one float order for any batch
//   rows4-k.ts      the same for Q4_K, Q5_K, Q6_K and Q5_0
//   rows4-lowbit.ts the same for Q2_K and Q3_K
//   gemm.ts         F16/F32 products over many tokens (tiled GEMM)
//   encoder.ts      non-causal encoder ops: layer norm, softmax rows, f16-table activations, strided copies
//   attention.ts    causal attention over the KV cache
//   attention-quant.ts  the same over caches in ggml's cache formats (q8_0 .. iq4_nl, bf16)
//   elementwise.ts  RMS norm, SwiGLU, add_scaled, RoPE
//   get-rows.ts     embedding lookup
//   lut.ts          table-lookup (T-MAC) kernels and the re-layout of weights for them
//   ternary.ts      TQ2_0 (and TQ1_0 re-coded at load) as direct int8 dot products, four rows at once

export { round_f16, f32_to_f16 } from './f16';
export { expf_f32 } from './exp';
export { quantize_q8, quantize_q8_k } from './act-quant';
export { matmul } from './matmul';
export { gemm_pack_x } from './gemm';
export { layer_norm, softmax_rows, softmax_pack, map_half, add_rows, copy_rows, encoder_attention, encoder_attention_scratch } from './encoder';
export { rows4_pack, rows4_split_q8 } from './rows4';
export { thread_scratch, thread_scratch_bytes } from './scratch';
export { rows4_bias_q8 } from './rows4-q8u';
export { rows4k_pack } from './rows4-k';
export { rows4lo_pack } from './rows4-lowbit';
export { tq1_recode, tq2_pack4 } from './ternary';
export { attention, attention_scratch } from './attention';
export { attention_quant, attention_quant_scratch } from './attention-quant';
export { rms_norm, swiglu, add_scaled, rope } from './elementwise';
export { get_rows } from './get-rows';
export { lut_tables, lut_quantize_acts, lut_tables_exact, lut_matmul, lut_pack_tile } from './lut';
export { tr_matmul, tr_matmul_dx, tr_matmul_dw, tr_rms_norm, tr_rms_norm_bwd, tr_rope, tr_attention, tr_attention_bwd, tr_attention_scratch, tr_swiglu, tr_swiglu_bwd, tr_cross_entropy, tr_embed, tr_embed_bwd, tr_axpy, tr_scale, tr_act_quant8, tr_pack_bf16, tr_unpack_bf16, tr_sumsq, tr_adamw } from './train';
