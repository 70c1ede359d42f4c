// The dense SwiGLU feed-forward block: down(silu(gate(x)) * up(x)). Reads s.xn, leaves the branch
// output in s.xn. A mixture-of-experts FFN is another block beside this one.

import { blk } from '../../formats/gguf-names.js';
import type { WeightMatrix } from '../../kernels/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { TensorTable } from '../tensors.js';

export interface DenseFfnWeights {
  wGate: WeightMatrix; wUp: WeightMatrix; wDown: WeightMatrix;
}

export function loadDenseFfn(t: TensorTable, hp: DecoderHParams, layer: number): DenseFfnWeights {
  return {
    wGate: t.matrix(blk(layer, 'ffnGate'), hp.nEmbd, hp.nFF),
    wUp: t.matrix(blk(layer, 'ffnUp'), hp.nEmbd, hp.nFF),
    wDown: t.matrix(blk(layer, 'ffnDown'), hp.nFF, hp.nEmbd),
  };
}

export function denseFfnMatrices(w: DenseFfnWeights): WeightMatrix[] {
  return [w.wGate, w.wUp, w.wDown];
}

/** s.xn -> s.xn. */
export function denseFfn(f: ForwardPass, w: DenseFfnWeights): void {
  const { kernels, s, nTok } = f;
  kernels.matmulMany([w.wGate, w.wUp], s.xn, nTok, [s.gate, s.up]);
  kernels.swiglu(s.gate, s.up, nTok * f.hp.nFF);
  kernels.matmul(w.wDown, s.gate, nTok, s.xn);
}
