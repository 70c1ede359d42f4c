// Backend selection. Only the reference backend exists so far; the WebAssembly SIMD backend will
// register here and be chosen by feature detection, delegating ops it lacks to the reference.

import type { Kernels } from './types.js';
import { RefKernels } from './ref/index.js';

export type { Kernels, WeightMatrix, RopeParams, AttentionParams } from './types.js';

export type BackendName = 'auto' | 'ref';

export function createKernels(name: BackendName = 'auto'): Kernels {
  switch (name) {
    case 'auto':
    case 'ref':
      return new RefKernels();
  }
}
