// The quality cost of a KV cache type, measured as `lutra eval kld MODEL --cache-type-k T` does: the
// same model with an f32 cache as the base. f32 against f32 is exactly 0; q8_0 on lutra's bundled
// model (head size 32) stays within the bounds (ΔPPL <= 0.5%, KLD <= 0.002) and is not 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadModel } from '../src/runtime/model.js';
import { kldEval } from '../src/eval/kld.js';
import { DATA, LUTRA_BIN, REPO } from './helpers.js';

const MODEL = resolve(REPO, 'models/lutra-default.gguf');
const text = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8').slice(0, 40000);

test('KLD of a cache type against the f32 cache: 0 for f32 itself, small and not 0 for q8_0', async () => {
  const model = await loadModel(MODEL);
  try {
    const same = await kldEval(model, model, text, { ctx: 128, chunks: 8, baseCache: 'f32', quantCache: 'f32' });
    assert.equal(same.kld, 0);
    assert.equal(same.pplQuant, same.pplBase);
    const q8 = await kldEval(model, model, text, { ctx: 128, chunks: 8, baseCache: 'f32', quantCache: { k: 'q8_0', v: 'q8_0' } });
    assert.ok(q8.kld > 0 && q8.kld <= 0.002, `q8_0 KLD ${q8.kld}`);
    assert.ok(Math.abs(q8.pplQuant - q8.pplBase) / q8.pplBase <= 0.005, `q8_0 PPL ${q8.pplQuant} vs f32 ${q8.pplBase}`);
    const q4 = await kldEval(model, model, text, { ctx: 128, chunks: 8, baseCache: 'f32', quantCache: 'q4_0' });
    assert.ok(q4.kld > q8.kld, `q4_0 KLD ${q4.kld} should exceed q8_0's ${q8.kld}`);
  } finally {
    model.dispose();
  }
});

test('lutra eval kld MODEL --cache-type-k: one model, its cache settings against f32', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-kvq-'));
  const file = join(dir, 'text.txt');
  writeFileSync(file, text.slice(0, 8000));
  const run = (...a: string[]) => spawnSync(process.execPath, [LUTRA_BIN, 'eval', 'kld', MODEL, '--file', file, '-c', '128', '--chunks', '2', '--json', ...a], { encoding: 'utf8' });
  const r = run('--cache-type-k', 'q8_0', '--cache-type-v', 'f16');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(j.kld > 0 && j.kld < 0.002, `kld ${j.kld}`);
  const f32 = JSON.parse(run('--cache-type-k', 'f32').stdout.trim().split('\n').pop()!);
  assert.equal(f32.kld, 0);
  const bad = run('--cache-type-k', 'q4_0', '--base-cache-type', 'q9');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--base-cache-type/);
});
