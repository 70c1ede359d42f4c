// The WebGPU backend: device setup (device.ts), weights in adapter-sized shards (weights.ts), the
// per-format matrix-vector shaders (formats.ts) and the other ops (wgsl.ts), dispatched by ops.ts.
// Unlike the Kernels interface it is asynchronous: a model's GPU forward (models/gpu-llama.ts)
// records a whole step and reads back only the logits it needs.

export { GpuError, openGpu, probeGpu, type Gpu, type GpuOptions } from './device.js';
export { GpuOps, ropeTable, activationScaleFloats, topKCandidateWords, TILED_MIN_TOKENS } from './ops.js';
export { TOPK_MAX } from './wgsl.js';
export { gpuFormat, gpuMatrixRefusal, type GpuActKind } from './formats.js';
export { uploadMatrix, destroyMatrix, shardRows, type GpuMatrix, type GpuShard } from './weights.js';
export { GPU_KV_QUANT, KV_BLOCK_BYTES, KV_QUANT_FORMAT, isGpuKVQuant, kvBlockQuant, type GpuKVQuant } from './kv-quant.js';
