// KV cache flags shared by run, chat, serve, bench and eval: --cache-type-k/-v as llama.cpp's
// (-ctk/-ctv there), --no-kv-rotation (llama.cpp's LLAMA_ATTN_ROT_DISABLE=1), --mla-cache, --minicache.

import { InvalidArgumentError, Option, type Command } from 'commander';
import { KV_CACHE_TYPES, type KVCacheOptions, type KVCacheType } from '../runtime/kv/index.js';

export interface CacheFlags { cacheTypeK?: string; cacheTypeV?: string; kvRotation?: boolean; mlaCache?: 'expanded' | 'latent'; minicache?: boolean }

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
    .option('--minicache', 'MiniCache: merge the KV states of adjacent layer pairs in the deeper half (SLERP, t 0.6, 5% of tokens kept unmerged)');
}

/** The cache settings the flags ask for, or undefined when none was given (the model's default). */
export function cacheSpec(o: CacheFlags): KVCacheOptions | undefined {
  if (o.cacheTypeK === undefined && o.cacheTypeV === undefined && o.kvRotation !== false && o.mlaCache === undefined && !o.minicache) return undefined;
  const k = (o.cacheTypeK ?? 'f16') as KVCacheType;
  return { k, v: (o.cacheTypeV ?? k) as KVCacheType, rotation: o.kvRotation !== false, ...(o.mlaCache ? { mla: o.mlaCache } : {}), ...(o.minicache ? { miniCache: true } : {}) };
}
