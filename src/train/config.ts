// The `lutra train` JSON config, validated with zod so an error names the field. Paths are
// relative to the config file. See models/lutra-default.json for a complete example.

import { z } from 'zod';

const schedule = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('wsd'), warmup: z.number().int().min(0),
    /** fraction of all steps spent decaying (MiniCPM: ~10%) */ decayFraction: z.number().min(0).max(1).default(0.1),
    decay: z.enum(['exp', 'linear', 'cosine']).default('exp'), minRatio: z.number().min(0).max(1).default(0.1),
  }).strict(),
  z.object({ type: z.literal('cosine'), warmup: z.number().int().min(0), minRatio: z.number().min(0).max(1).default(0.1) }).strict(),
  z.object({ type: z.literal('constant'), warmup: z.number().int().min(0) }).strict(),
]);

export const TrainConfigSchema = z.object({
  name: z.string().default('lutra-model'),
  arch: z.enum(['llama', 'minicpm']).default('llama'),
  model: z.object({
    dim: z.number().int().positive(), layers: z.number().int().positive(), heads: z.number().int().positive(),
    kvHeads: z.number().int().positive().optional(), ffn: z.number().int().positive(), ctx: z.number().int().min(4),
    ropeBase: z.number().positive().default(10000), eps: z.number().positive().default(1e-5), tieEmbeddings: z.boolean().default(true),
  }).strict(),
  mup: z.object({
    scaleEmb: z.number().default(12), scaleDepth: z.number().default(1.4), dimModelBase: z.number().int().positive().default(256),
  }).strict().default({ scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 256 }),
  /** a GGUF whose tokenizer.* metadata is used (e.g. the output of `lutra train-tokenizer`) */
  tokenizer: z.string(),
  data: z.object({ text: z.string(), heldOutFraction: z.number().min(0).max(0.5).default(0.1) }).strict(),
  train: z.object({
    steps: z.number().int().positive(), batch: z.number().int().positive(), accum: z.number().int().positive().default(1),
    lr: z.number().positive(), initStd: z.number().positive().default(0.02), weightDecay: z.number().min(0).default(0.1),
    beta1: z.number().default(0.9), beta2: z.number().default(0.95), eps: z.number().default(1e-8), clip: z.number().min(0).default(1),
    seed: z.number().int().default(1), evalEvery: z.number().int().positive().default(100), evalWindows: z.number().int().positive().default(32),
    checkpointEvery: z.number().int().min(0).default(0), logEvery: z.number().int().positive().default(10),
    /** bf16 weights and matmul inputs, f32 master weights and accumulation */ bf16: z.boolean().default(false),
    /** gradient checkpointing: recompute each layer's activations in the backward */ checkpointing: z.boolean().default(false),
  }).strict(),
  /** a GGUF (a `lutra train` model or checkpoint) whose weights start the run instead of the random init: BitCPM's QAT continues a float model */
  init: z.string().optional(),
  /** BitCPM ternary QAT: the blocks' matrices are absmean-ternary in the forward (straight-through backward); the model is also exported as these GGUF types */
  ternary: z.object({
    /** elements per scale along a row; 0 = one per tensor (BitNet b1.58). TQ1_0 / TQ2_0 keep one per 256, so groups must tile 256 to export exactly */
    group: z.number().int().min(0).default(256),
    export: z.array(z.enum(['TQ1_0', 'TQ2_0'])).default(['TQ2_0', 'TQ1_0']),
    /** 'int8': BitNet b1.58's per-token absmax int8 inputs to the ternary matrices in the forward (straight-through backward) */
    activations: z.enum(['float', 'int8']).default('float'),
  }).strict().optional(),
  schedule,
  /** output folder for the model, checkpoints, log and plot */
  out: z.string(),
}).strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

export function parseTrainConfig(json: unknown, file: string): TrainConfig {
  const r = TrainConfigSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}
