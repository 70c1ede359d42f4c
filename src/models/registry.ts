// Architecture registry keyed by GGUF's general.architecture. Each architecture file registers one
// entry; an unknown key is an error naming it and listing the known ones.

import { UnsupportedError } from '../core/errors.js';
import type { ModelSource } from '../formats/source.js';
import type { DecoderHParams, DecoderWeights } from './layers.js';

export interface Architecture {
  readonly name: string;
  /** `alloc` places small per-model vectors (norms, biases) where the kernels compute. */
  load(src: ModelSource, alloc?: (n: number) => Float32Array): { hp: DecoderHParams; w: DecoderWeights };
}

const archs = new Map<string, Architecture>();

export function registerArchitecture(a: Architecture): void {
  archs.set(a.name, a);
}

export function getArchitecture(name: string, file: string): Architecture {
  const a = archs.get(name);
  if (!a) throw new UnsupportedError(`${file}: unknown architecture ${JSON.stringify(name)} (lutra knows ${[...archs.keys()].join(', ')})`);
  return a;
}

export function architectures(): string[] {
  return [...archs.keys()];
}
