// Architecture registry keyed by GGUF's general.architecture. Each architecture file registers one
// entry: how it loads its weights, which matrices its forward multiplies by, and the forward
// itself, composed of the shared blocks (blocks/*). An unknown key is an error naming it and
// listing the known ones.

import { UnsupportedError } from '../core/errors.js';
import type { ModelSource } from '../formats/source.js';
import type { WeightMatrix } from '../kernels/types.js';
import type { DecoderHParams, ForwardPass } from './decoder.js';

/** W is the architecture's own weights type; nothing outside its file looks inside it. */
export interface Architecture<W = unknown> {
  readonly name: string;
  /** `alloc` places small per-model vectors (norms, biases) where the kernels compute. */
  load(src: ModelSource, alloc?: (n: number) => Float32Array): { hp: DecoderHParams; w: W };
  /**
   * Every weight matrix the forward multiplies by (a tied output counts; the embedding lookup
   * alone does not), for the kernels to lay out at load.
   */
  matmulWeights(w: W): WeightMatrix[];
  /** The output projection (the token embedding when tied), for a draft head over part of the vocabulary. */
  output(w: W): WeightMatrix;
  /** One forward pass over f.nTok tokens through f.nLayer layers: fills s.logits (or s.xn, for `hidden`) as f.logits asks, returns the logit rows written. */
  forward(f: ForwardPass, w: W): number;
}

const archs = new Map<string, Architecture>();

export function registerArchitecture<W>(a: Architecture<W>): void {
  archs.set(a.name, a as Architecture);
}

export function getArchitecture(name: string, file: string): Architecture {
  const a = archs.get(name);
  if (!a) throw new UnsupportedError(`${file}: unknown architecture ${JSON.stringify(name)} (lutra knows ${[...archs.keys()].join(', ')})`);
  return a;
}

export function architectures(): string[] {
  return [...archs.keys()];
}
