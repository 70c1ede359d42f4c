// The two ends of a decoder: the input embeddings (token rows, with any extra input embeddings put
// in their place) into the residual stream, and the output head (final norm, projection to logits;
// or the final norm alone, for embeddings).

import { TENSOR } from '../../formats/gguf-names.js';
import type { WeightMatrix } from '../../kernels/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { TensorTable } from '../tensors.js';

export interface OutputWeights {
  norm: Float32Array;
  /** The output projection; the token embedding itself when the model ties them. */
  output: WeightMatrix;
}

export function loadTokenEmbedding(t: TensorTable, hp: DecoderHParams): WeightMatrix {
  return t.matrix(TENSOR.tokenEmbd, hp.nEmbd, hp.nVocab);
}

export function loadOutput(t: TensorTable, hp: DecoderHParams, tokEmbd: WeightMatrix): OutputWeights {
  return {
    norm: t.vector(TENSOR.outputNorm, hp.nEmbd),
    output: t.has(TENSOR.output) ? t.matrix(TENSOR.output, hp.nEmbd, hp.nVocab) : tokEmbd,
  };
}

/** s.x = the embeddings of f.tokens, rows of f.embeddings in place of the tokens they cover. */
export function embedInputs(f: ForwardPass, tokEmbd: WeightMatrix): void {
  const { s, nTok } = f;
  const n = f.hp.nEmbd;
  f.kernels.embed(tokEmbd, f.tokens, nTok, s.x);
  for (let e = 0; e < f.embeddings.length; e++) {
    const { start, data } = f.embeddings[e]!;
    const from = Math.max(start, f.offset), to = Math.min(start + data.length / n, f.offset + nTok);
    if (from < to) s.x.set(data.subarray((from - start) * n, (to - start) * n), (from - f.offset) * n);
  }
}

/** x[0..n) *= scale. */
export function scale(x: Float32Array, scale: number, n: number): void {
  if (scale !== 1) for (let i = 0; i < n; i++) x[i] *= scale;
}

/** Logits of every token or of the last into s.logits (rows of f.head's size when set), as f.logits asks; returns the rows written. */
export function outputHead(f: ForwardPass, w: OutputWeights): number {
  if (f.logits === 'none') return 0;
  const { kernels, s, hp } = f;
  const n = hp.nEmbd;
  // Embeddings: the final norm alone, every token's row into s.xn.
  if (f.logits === 'hidden') {
    kernels.rmsNorm(s.x, w.norm, hp.eps, n, f.nTok, s.xn);
    return 0;
  }
  let rows = f.nTok;
  let src = s.x;
  if (f.logits === 'last') {
    rows = 1;
    s.xn.set(s.x.subarray((f.nTok - 1) * n, f.nTok * n));
    src = s.xn;
  }
  kernels.rmsNorm(src, w.norm, hp.eps, n, rows, s.xn);
  kernels.matmul(f.head ?? w.output, s.xn, rows, s.logits);
  return rows;
}
