// KV cache flags shared by run, chat, serve, bench and eval: --cache-type-k/-v as llama.cpp's
// (-ctk/-ctv there), --no-kv-rotation (llama.cpp's LLAMA_ATTN_ROT_DISABLE=1), --mla-cache, --minicache,
// --sparse-attn infllm2[:key=value,...] (InfLLM v2).

import { InvalidArgumentError, Option, type Command } from 'commander';
import { INFLLM2_DEFAULTS, KV_CACHE_TYPES, type InfLLMv2Options, type KVCacheOptions, type KVCacheType } from '../runtime/kv/index.js';

export interface CacheFlags { cacheTypeK?: string; cacheTypeV?: string; kvRotation?: boolean; mlaCache?: 'expanded' | 'latent'; minicache?: boolean; sparseAttn?: InfLLMv2Options }

/** --sparse-attn's short keys for InfLLMv2Options. */
const SPARSE_KEYS: Record<string, keyof InfLLMv2Options> = {
  block: 'blockSize', kernel: 'kernelSize', stride: 'kernelStride', init: 'initBlocks', topk: 'topk', window: 'windowSize', dense: 'denseLen',
};

/** "infllm2" or "infllm2:topk=16,window=512,...". */
export function parseSparseAttn(v: string): InfLLMv2Options {
  const [kind, rest] = v.split(':', 2) as [string, string | undefined];
  if (kind !== 'infllm2') throw new InvalidArgumentError(`--sparse-attn ${JSON.stringify(v)}: the one kind is infllm2 (optionally infllm2:topk=N,window=N,block=N,kernel=N,stride=N,init=N,dense=N)`);
  const o: InfLLMv2Options = {};
  for (const kv of rest ? rest.split(',') : []) {
    const [k, n] = kv.split('=') as [string, string | undefined];
    const key = SPARSE_KEYS[k];
    if (!key || n === undefined || !/^\d+$/.test(n)) throw new InvalidArgumentError(`--sparse-attn: ${JSON.stringify(kv)} is not one of ${Object.keys(SPARSE_KEYS).map((x) => `${x}=N`).join(', ')}`);
    o[key] = Number(n);
  }
  return o;
}

function cacheType(flag: string) {
  return (v: string): KVCacheType => {
    const t = v.toLowerCase();
    if (!(KV_CACHE_TYPES as string[]).includes(t)) throw new InvalidArgumentError(`${flag} ${JSON.stringify(v)}: use one of ${KV_CACHE_TYPES.join(', ')}`);
    return t as KVCacheType;
  };
}

export function addCacheFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--cache-type-k <type>', `KV cache type for K (${KV_CACHE_TYPES.join(', ')}; default f16)`).argParser(cacheType('--cache-type-k')))
    .addOption(new Option('--cache-type-v <type>', 'KV cache type for V (default: the K type)').argParser(cacheType('--cache-type-v')))
    .option('--no-kv-rotation', 'do not Hadamard-rotate Q/K/V around a quantized cache (llama.cpp\'s LLAMA_ATTN_ROT_DISABLE=1)')
    .addOption(new Option('--mla-cache <kind>', 'multi-head latent attention models (MiniCPM3): cache every head\'s K/V as llama.cpp (expanded) or the compressed latent').choices(['expanded', 'latent']))
    .option('--minicache', 'MiniCache: merge the KV states of adjacent layer pairs in the deeper half (SLERP, t 0.6, 5% of tokens kept unmerged)')
    .addOption(new Option('--sparse-attn <spec>', `InfLLM v2 sparse attention: infllm2[:topk=N,window=N,block=N,kernel=N,stride=N,init=N,dense=N] (defaults: the model's sparse_config where it declares one, else MiniCPM4's: ${Object.entries(SPARSE_KEYS).map(([k, o]) => `${k} ${INFLLM2_DEFAULTS[o]}`).join(', ')}); an approximation on models not trained for it`).argParser(parseSparseAttn));
}

/** The cache settings the flags ask for, or undefined when none was given (the model's default). */
export function cacheSpec(o: CacheFlags): KVCacheOptions | undefined {
  if (o.cacheTypeK === undefined && o.cacheTypeV === undefined && o.kvRotation !== false && o.mlaCache === undefined && !o.minicache && !o.sparseAttn) return undefined;
  const k = (o.cacheTypeK ?? 'f16') as KVCacheType;
  return {
    k, v: (o.cacheTypeV ?? k) as KVCacheType, rotation: o.kvRotation !== false, ...(o.mlaCache ? { mla: o.mlaCache } : {}), ...(o.minicache ? { miniCache: true } : {}),
    ...(o.sparseAttn ? { infllm2: o.sparseAttn } : {}),
  };
}
