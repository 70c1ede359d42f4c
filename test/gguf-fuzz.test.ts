// Hundreds of random truncations and byte flips of a valid GGUF: each must end in a clean
// FormatError (or a valid parse and model load), quickly, never a hang or a huge allocation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseGGUF } from '../src/formats/gguf.js';
import { loadModel } from '../src/runtime/model.js';
import { LutraError } from '../src/core/errors.js';
import { STORIES } from './helpers.js';
import { resolve } from 'node:path';

const file = resolve(STORIES, 'quantized/stories260K-q4_0-mix.gguf');
const original = new Uint8Array(readFileSync(file));

function rng(seed: number) {
  let x = seed;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

async function check(bytes: Uint8Array, what: string): Promise<void> {
  const t0 = performance.now();
  try {
    parseGGUF(bytes, what);
    const m = await loadModel(bytes);
    m.dispose();
  } catch (e) {
    assert.ok(e instanceof LutraError, `${what}: expected a LutraError, got ${(e as Error)?.stack ?? e}`);
    assert.ok(!/\n/.test((e as Error).message), `${what}: message must be one line: ${JSON.stringify((e as Error).message)}`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `${what}: took ${ms.toFixed(0)} ms`);
}

test('random truncations end in a clean error', async () => {
  const r = rng(12345);
  const header = 14240;
  for (let i = 0; i < 200; i++) {
    // Half inside the header (where parsing happens), half anywhere.
    const n = i % 2 ? Math.floor(r() * header) : Math.floor(r() * original.byteLength);
    await check(original.slice(0, n), `truncated to ${n}`);
  }
});

test('random byte flips end in a clean error or a valid load', async () => {
  const r = rng(777);
  for (let i = 0; i < 300; i++) {
    const bytes = original.slice();
    const flips = 1 + Math.floor(r() * 4);
    for (let f = 0; f < flips; f++) {
      const at = Math.floor(r() * 14240);
      bytes[at] = Math.floor(r() * 256);
    }
    await check(bytes, `flip #${i}`);
  }
});
