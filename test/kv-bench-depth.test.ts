// `lutra bench -d N` (tools/bench.ts): the depth is in the cache when the timed test starts, by a
// prefill (llama-bench's way) or synthetically (random keys and values appended to every layer);
// both leave the same number of positions and bytes in the store of each cache type.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { bench } from '../src/tools/bench.js';
import { STORIES } from './helpers.js';

test('bench -d: prefill and synthetic depth fills leave the same cache; the test is labelled with its depth', async () => {
  for (const cacheType of ['f16', 'f32'] as const) {
    const bytes: number[] = [];
    for (const depthFill of ['prefill', 'synthetic'] as const) {
      const { results } = await bench(resolve(STORIES, 'stories260K.gguf'), { pp: [], tg: [3], reps: 1, threads: [1], backend: 'ref', depth: [40], depthFill, cacheType });
      assert.equal(results.length, 1);
      const r = results[0]!;
      assert.equal(r.test, 'tg3 @ d40');
      assert.ok(r.tps > 0);
      bytes.push(r.kvBytes);
    }
    // 43 positions (40 + 3 decoded) x 5 layers x K and V x 4 KV heads x 8 x element size.
    const el = cacheType === 'f16' ? 2 : 4;
    assert.deepEqual(bytes, [43 * 5 * 2 * 4 * 8 * el, 43 * 5 * 2 * 4 * 8 * el], `${cacheType}: ${bytes}`);
  }
});
