// The KV store as the attention block sees it: a context's cache of keys and values, which owns its
// layout and the attention over it. The interface lives here, where attention calls it; the stores
// (f32, f16; later quantized or merged ones) live in runtime/kv/. Which positions to keep is the
// context's business, not the store's.

import type { AttentionParams } from '../kernels/types.js';

/** Attention as the model defines it; how the cached keys and values are held is the store's. */
export interface AttentionShape extends Omit<AttentionParams, 'f16' | 'spans' | 'spanCount' | 'spanStride'> {
  /**
   * Sliding-window attention (llama.cpp's standard SWA, Gemma 3's local layers): a query at
   * position p sees keys p-window+1..p only. 0 or absent: every earlier position.
   */
  window?: number;
}

/** What a store holds per position and layer: nHeadKv heads of headDim keys and headDimV values. */
export interface KVShape {
  nLayer: number;
  /** Positions the store can hold. */
  nCtx: number;
  nHeadKv: number;
  headDim: number;
  headDimV: number;
}

export interface KVStore extends Readonly<KVShape> {
  /** Positions 0..length-1 hold keys and values. */
  readonly length: number;
  /**
   * Store the keys (nTok, nHeadKv * headDim) and values (nTok, nHeadKv * headDimV) of positions
   * pos0..pos0+nTok-1 of one layer. pos0 is at most length: a store has no holes.
   */
  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void;
  /**
   * Causal attention of nTok queries (nTok, nHead * headDim) at positions pos0.. over the stored
   * positions 0..pos0+nTok-1 of one layer (the last shape.window of them, when set), into out
   * (nTok, nHead * headDimV).
   */
  attend(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array): void;
  /** Forget positions n and after. */
  truncate(n: number): void;
  /** Take positions 0..n-1 of every layer from another store of the same kind and shape. */
  copyPrefix(from: KVStore, n: number): void;
  /** Bytes the store holds for all nCtx positions, and those of the positions 0..length-1. */
  readonly bytes: number;
  bytesUsed(): number;
  /** Give the buffers back to the kernels' memory; the store is unusable after. */
  dispose(): void;
}
