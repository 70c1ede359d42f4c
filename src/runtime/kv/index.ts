// KV stores by cache type. Adding one (quantized, merged) is a class implementing models/kv-store's
// KVStore and a line here; an unknown type is an error naming it.

import { ArgumentError } from '../../core/errors.js';
import type { Kernels } from '../../kernels/types.js';
import type { KVShape, KVStore } from '../../models/kv-store.js';
import { F16KVStore } from './f16.js';
import { F32KVStore } from './f32.js';

export type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';

const stores = {
  f16: (kernels: Kernels, shape: KVShape): KVStore => new F16KVStore(kernels, shape),
  f32: (kernels: Kernels, shape: KVShape): KVStore => new F32KVStore(kernels, shape),
};

export type KVCacheType = keyof typeof stores;

export function createKVStore(type: KVCacheType, kernels: Kernels, shape: KVShape): KVStore {
  const make = Object.hasOwn(stores, type) ? stores[type] : undefined;
  if (!make) throw new ArgumentError(`unknown KV cache type ${JSON.stringify(type)} (lutra knows ${Object.keys(stores).join(', ')})`);
  return make(kernels, shape);
}
