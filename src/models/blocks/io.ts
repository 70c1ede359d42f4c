// The two ends of a decoder: the input embeddings (token rows, with any extra input embeddings put
// in their place) into the residual stream, and the output head (final norm, projection to logits;
// or the final norm alone, for embeddings).

import { ModelError } from '../../core/errors.js';
import { TENSOR } from '../../formats/gguf-names.js';
import type { WeightMatrix } from '../../kernels/types.js';
import { layerNorm } from './act.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { TensorTable } from '../tensors.js';

export interface OutputWeights {
  norm: Float32Array;
  /** The final norm is a LayerNorm with this bias (Phi-2), not an RMSNorm. */
  normBias?: Float32Array;
  /** The output projection; the token embedding itself when the model ties them. */
  output: WeightMatrix;
  /** One bias per vocabulary id, added to the logits (Phi-2). */
  outputBias?: Float32Array;
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

/**
 * s.x = the embeddings of f.tokens times `factor` (Gemma's sqrt(width), MiniCPM's scale_emb), rows of
 * f.embeddings in place of the tokens they cover. Nothing when the pass starts past layer 0 (f.layer0):
 * s.x holds kept hidden states then, so every architecture can continue a forward from a layer.
 */
export function embedInputs(f: ForwardPass, tokEmbd: WeightMatrix, factor = 1): void {
  if (f.layer0 > 0) return;
  const { s, nTok } = f;
  const n = f.hp.nEmbd;
  f.kernels.embed(tokEmbd, f.tokens, nTok, s.x);
  for (let e = 0; e < f.embeddings.length; e++) {
    const { start, data } = f.embeddings[e]!;
    const from = Math.max(start, f.offset), to = Math.min(start + data.length / n, f.offset + nTok);
    if (from < to) s.x.set(data.subarray((from - start) * n, (to - start) * n), (from - f.offset) * n);
  }
  scale(s.x, factor, nTok * n);
}

/** x[0..n) *= scale. */
export function scale(x: Float32Array, scale: number, n: number): void {
  if (scale !== 1) for (let i = 0; i < n; i++) x[i] *= scale;
}

/** Values in one logits row: the vocabulary, or the rows of a restricted (FR-Spec) head. */
export function logitsPerRow(f: ForwardPass): number {
  return f.head?.rows ?? f.hp.nVocab;
}

/**
 * Logits of every token or of the last into s.logits (rows of f.head's size when set), as f.logits
 * asks; returns the rows written. Every architecture ends here, so a layer-skip draft (f.nLayer)
 * and an FR-Spec head (f.head, f.headIds) work for all of them.
 */
export function outputHead(f: ForwardPass, w: OutputWeights): number {
  if (f.logits === 'none') return 0;
  const { kernels, s, hp } = f;
  const n = hp.nEmbd;
  const norm = (src: Float32Array, rows: number) => {
    if (w.normBias) layerNorm(src, w.norm, w.normBias, hp.eps, n, rows, s.xn);
    else kernels.rmsNorm(src, w.norm, hp.eps, n, rows, s.xn);
  };
  // Embeddings: the final norm alone, every token's row into s.xn.
  if (f.logits === 'hidden') {
    norm(s.x, f.nTok);
    return 0;
  }
  let rows = f.nTok;
  let src = s.x;
  if (f.logits === 'last') {
    rows = 1;
    s.xn.set(s.x.subarray((f.nTok - 1) * n, f.nTok * n));
    src = s.xn;
  }
  norm(src, rows);
  kernels.matmul(f.head ?? w.output, s.xn, rows, s.logits);
  if (w.outputBias) {
    const b = w.outputBias, ids = f.head ? f.headIds : null, m = logitsPerRow(f);
    if (f.head && !ids) throw new ModelError(`${f.hp.arch}: the restricted head ${f.head.name} has no vocabulary ids, which its output bias needs`);
    for (let r = 0; r < rows; r++) {
      const o = r * m;
      if (ids) for (let j = 0; j < m; j++) s.logits[o + j] += b[ids[j]!]!;
      else for (let j = 0; j < m; j++) s.logits[o + j] += b[j]!;
    }
  }
  return rows;
}
