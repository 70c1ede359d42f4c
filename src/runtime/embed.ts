// Embeddings from a decoder: each token's final-normed hidden state (the output head's norm, no
// projection), pooled as the file's {arch}.pooling_type says (mean when it has none, as llama-server
// does for an /v1/embeddings request), then L2-normalized. Not a reranker (pooling rank is refused).

import { ArgumentError, UnsupportedError } from '../core/errors.js';
import { hpKey } from '../formats/gguf-names.js';
import type { ModelSource } from '../formats/source.js';
import type { Context } from './context.js';

export type Pooling = 'mean' | 'cls' | 'last';

/** llama.cpp's enum llama_pooling_type, by value. */
const POOLING_BY_ID: Record<number, Pooling | undefined> = { 1: 'mean', 2: 'cls', 3: 'last' };

/** The pooling a model's metadata asks for; mean when it says none (0) or nothing. */
export function modelPooling(src: ModelSource, arch: string): Pooling {
  const v = src.metadata.get(hpKey(arch, 'poolingType'));
  if (v === undefined || Number(v.value) === 0) return 'mean';
  const p = POOLING_BY_ID[Number(v.value)];
  if (!p) throw new UnsupportedError(`${src.file}: ${hpKey(arch, 'poolingType')} = ${Number(v.value)} (rank or unknown) cannot give embeddings`);
  return p;
}

/**
 * The embedding of `ids`: the context is cleared and refilled with them (so it can serve their
 * prefix to a later prompt), their hidden states pooled and scaled to unit length.
 */
export function embedTokens(ctx: Context, ids: ArrayLike<number>, pooling: Pooling): Float32Array {
  const n = ids.length;
  if (n === 0) throw new ArgumentError('embed: no tokens');
  if (n > ctx.nCtx) throw new ArgumentError(`embed: ${n} tokens do not fit the context size ${ctx.nCtx}`);
  const d = ctx.hp.nEmbd;
  const acc = new Float64Array(d);
  ctx.truncate(0);
  ctx.decode(ids, {
    onHidden: (i, h) => {
      if (pooling === 'mean' || (pooling === 'cls' && i === 0) || (pooling === 'last' && i === n - 1)) for (let j = 0; j < d; j++) acc[j] += h[j]!;
    },
  });
  let norm = 0;
  for (let j = 0; j < d; j++) norm += acc[j]! * acc[j]!;
  // Mean pooling divides by n first; the unit scaling makes that division moot.
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  const out = new Float32Array(d);
  for (let j = 0; j < d; j++) out[j] = acc[j]! * scale;
  return out;
}
