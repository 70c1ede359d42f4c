// KV stores by cache settings. A cache is a K type and a V type (llama.cpp's --cache-type-k/-v:
// f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl), optionally wrapped: MiniCache merges
// the middle-to-deep layer pairs, InfLLM v2 attends a selection of blocks. f32/f32 and f16/f16
// without wrappers are the dense stores (values as f32 in the kernels' memory, attended by
// Kernels.attention); every other setting holds rows in their cache format (packed.ts).

import { ArgumentError } from '../../core/errors.js';
import type { Kernels } from '../../kernels/types.js';
import type { KVShape, KVStore } from '../../models/kv-store.js';
import { kvCacheFormat, KV_CACHE_TYPES, type KVCacheType } from './cache-types.js';
import { F16KVStore } from './f16.js';
import { F32KVStore } from './f32.js';
import { InfLLMv2KVStore, type InfLLMv2Options, type SpanKVStore } from './infllm2.js';
import { MiniCacheKVStore, type MiniCacheOptions } from './minicache.js';
import { PackedKVStore } from './packed.js';

export type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';
export { KV_CACHE_TYPES, type KVCacheType } from './cache-types.js';
export { MiniCacheKVStore, type MiniCacheOptions } from './minicache.js';
export { InfLLMv2KVStore, INFLLM2_DEFAULTS, infllm2FromMetadata, type InfLLMv2Options } from './infllm2.js';

export interface KVCacheOptions {
  /** K cache type (default f16, as llama.cpp). */
  k?: KVCacheType;
  /** V cache type (default: the K type). */
  v?: KVCacheType;
  /** Hadamard-rotate Q/K/V around a quantized cache as llama.cpp does (default true). */
  rotation?: boolean;
  /** Multi-head latent attention models: cache the compressed latent (see ContextOptions.mlaCache). */
  mla?: 'expanded' | 'latent';
  /**
   * MiniCache: merge the KV states of adjacent layer pairs from the middle down (true: the paper's
   * defaults; see MiniCacheOptions). The merged directions are held in the K/V cache types.
   */
  miniCache?: boolean | MiniCacheOptions;
  /**
   * InfLLM v2 sparse attention (MiniCPM4's): past denseLen keys a query attends the init blocks, its
   * local window and the top-k blocks by compressed-key score (true: MiniCPM4's sparse_config; see
   * InfLLMv2Options; a model's declared sparse_config, when it has one, under the given settings).
   * An approximation on models not trained for it.
   */
  infllm2?: boolean | InfLLMv2Options;
}

/** A cache type for both K and V, or the full settings. */
export type KVCacheSpec = KVCacheType | KVCacheOptions;

export function normalizeKVCache(spec: KVCacheSpec | undefined): Required<Pick<KVCacheOptions, 'k' | 'v'>> & KVCacheOptions {
  const o: KVCacheOptions = typeof spec === 'string' ? { k: spec } : { ...(spec ?? {}) };
  const k = o.k ?? 'f16', v = o.v ?? o.k ?? 'f16';
  kvCacheFormat(k); kvCacheFormat(v);
  return { ...o, k, v };
}

export function createKVStore(spec: KVCacheSpec, kernels: Kernels, shape: KVShape): KVStore {
  if (spec === null || (typeof spec !== 'string' && typeof spec !== 'object')) throw new ArgumentError(`KV cache settings must be a type name or { k, v, ... }, got ${String(spec)}`);
  const o = normalizeKVCache(spec);
  if (o.infllm2) {
    if (o.miniCache) throw new ArgumentError('InfLLM v2 sparse attention and MiniCache do not combine: pick one');
    const { infllm2, ...inner } = o;
    return new InfLLMv2KVStore(kernels, shape, createKVStore(inner, kernels, shape) as SpanKVStore, infllm2 === true ? {} : infllm2);
  }
  if (o.miniCache) {
    const { miniCache, ...inner } = o;
    return new MiniCacheKVStore(kernels, shape, (nLayer) => createKVStore(inner, kernels, { ...shape, nLayer }), kvCacheFormat(o.k), kvCacheFormat(o.v), miniCache === true ? {} : miniCache);
  }
  if (o.k === o.v && o.k === 'f32') return new F32KVStore(kernels, shape);
  if (o.k === o.v && o.k === 'f16') return new F16KVStore(kernels, shape);
  return new PackedKVStore(kernels, shape, kvCacheFormat(o.k), kvCacheFormat(o.v), { rotation: o.rotation });
}

/** The cache types as a sentence, for help texts. */
export const KV_CACHE_TYPE_LIST = KV_CACHE_TYPES.join(', ');
