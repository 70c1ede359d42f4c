// A layer-skip draft's view of the target's KV cache (LayerSkip's and self-speculative decoding's
// shared cache): the draft runs the target's first L layers with the target's weights, so at every
// position the target has run, the keys and values of those layers are already in the target's
// store, and equal to what the draft would compute (the same tokens, positions and weights). The
// draft reads them there instead of keeping its own copy and running the prompt and every verified
// token a second time; it writes its drafted tokens' rows past the target's positions, where the
// target's next verify batch writes its own rows (all layers) before it attends, so the target never
// reads a row the draft wrote and greedy output stays exactly plain decoding's.
//
// Kept hidden states (speculative.keepHidden, the default): the draft also keeps the residual stream
// after its layer L-1 for the token after each verify and for every drafted token (running its last
// drafted token through its layers too, without a head), and the target's verify continues the
// forward from layer L with those rows (DecodeOptions.from; every architecture's forward starts at
// ForwardPass.layer0): layers 0..L-1 run once per token, in the draft, and their keys and values
// are the ones the draft wrote here. The target then writes only layers L.. for those positions.

import { ArgumentError } from '../../core/errors.js';
import type { AttentionShape, KVStore } from '../../models/kv-store.js';
import { KVStoreBase } from '../kv/base.js';
import { DenseKVStore } from '../kv/dense.js';
import { PackedKVStore } from '../kv/packed.js';

/** Whether a draft can share `store`: stores whose layers and positions are independent rows (not MiniCache's merged layer pairs). */
export function canShareKV(store: KVStore): boolean {
  return store instanceof DenseKVStore || store instanceof PackedKVStore;
}

/**
 * The first nLayer layers of `under` (the target's store), with a length of its own: the draft's
 * positions. It never shortens `under`, whose length is the target's business (the target cuts
 * its own rejected tail); rows past the target's positions are the draft's scratch.
 */
export class SharedPrefixKV extends KVStoreBase implements KVStore {
  constructor(private readonly under: KVStore, nLayer: number) {
    super({ nLayer, nCtx: under.nCtx, nHeadKv: under.nHeadKv, headDim: under.headDim, headDimV: under.headDimV });
    if (!canShareKV(under)) throw new ArgumentError(`a layer-skip draft cannot share a ${under.constructor.name}: only dense and packed stores keep layers apart`);
    if (!(Number.isInteger(nLayer) && nLayer >= 1 && nLayer <= under.nLayer)) throw new ArgumentError(`shared KV: ${nLayer} layers of a store of ${under.nLayer}`);
  }

  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    if (layer >= this.nLayer) throw new ArgumentError(`shared KV: layer ${layer} is past the draft's ${this.nLayer}`);
    this.checkAppend(pos0, nTok);
    this.under.append(layer, pos0, keys, values, nTok);
    if (pos0 + nTok > this.length) this.length = pos0 + nTok;
  }

  attend(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array): void {
    this.under.attend(layer, q, nTok, pos0, shape, out);
  }

  truncate(n: number): void {
    this.checkTruncate(n);
    this.length = n;
  }

  /** Positions up to n the target has run (n at most the target's store length) become the draft's too. */
  extendTo(n: number): void {
    if (n > this.under.length) throw new ArgumentError(`shared KV: the target's store holds ${this.under.length} positions, not ${n}`);
    if (n > this.length) this.length = n;
  }

  copyPrefix(): void {
    throw new ArgumentError('shared KV: a view of another store cannot copy one in');
  }

  /** The view holds nothing of its own. */
  readonly bytes = 0;
  bytesUsed(): number {
    return 0;
  }

  dispose(): void {}
}
