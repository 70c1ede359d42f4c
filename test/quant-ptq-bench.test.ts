// ptq-bench and eval kld: a tiny grid on stories260K writes its tables and Vega-Lite spec, caches
// its cells and resumes from them; KLD of a model against itself is zero with full top-1 agreement;
// the MAC cost model orders formats as documented.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runPtqBench } from '../src/eval/ptq-bench.js';
import { kldEval } from '../src/eval/kld.js';
import { elementFormat, macCost } from '../src/eval/hw-cost.js';
import { loadModel } from '../src/runtime/model.js';
import { DATA, STORIES_GGUF } from './helpers.js';

const text = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8');
const calibText = text.slice(0, 20000), evalText = text.slice(-20000);

test('KLD of a model against itself is 0 and the top token always agrees', async () => {
  const m = await loadModel(STORIES_GGUF, { backend: 'ref' });
  const r = await kldEval(m, m, evalText, { ctx: 64, chunks: 2 });
  m.dispose();
  assert.ok(r.kld < 1e-9, String(r.kld));
  assert.equal(r.top1, 1);
  assert.equal(r.tokens, 2 * 31);
  assert.ok(Math.abs(r.pplBase - r.pplQuant) < 1e-9);
});

test('ptq-bench: tables, Pareto flags, Vega-Lite spec, cached cells on a second run, skipped impossible cells', async () => {
  const out = mkdtempSync(join(tmpdir(), 'lutra-ptq-bench-'));
  const opts = { formats: ['int4-ch', 'Q8_0'], methods: ['rtn', 'gptq'], acts: ['none'], calibText, evalText, out, ctx: 64, chunks: 2, calibTokens: 256, speedTokens: 0 };
  const skipped: string[] = [];
  const cells = await runPtqBench(STORIES_GGUF, { ...opts, onSkip: (f, m) => skipped.push(`${f} ${m}`) });
  assert.deepEqual(skipped, ['Q8_0 gptq'], 'gptq does not write ggml types');
  assert.equal(cells.length, 3);
  for (const f of ['results.csv', 'results.md', 'pareto.vl.json']) assert.ok(existsSync(join(out, f)), f);
  assert.equal(readdirSync(join(out, 'cells')).length, 3);
  const q8 = cells.find((c) => c.format === 'Q8_0')!;
  const int4 = cells.find((c) => c.format === 'int4-ch' && c.method === 'rtn')!;
  assert.ok(q8.kld < int4.kld && q8.matrixBpw > int4.matrixBpw);
  assert.ok(cells.some((c) => c.pareto!.bpw));
  const spec = JSON.parse(readFileSync(join(out, 'pareto.vl.json'), 'utf8'));
  assert.equal(spec.data.values.length, 3);
  assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /\| int4-ch \| gptq \| none \| 4\.\d\d \|/);
  const seen: boolean[] = [];
  const again = await runPtqBench(STORIES_GGUF, { ...opts, onCell: (_c, _i, _n, cached) => seen.push(cached) });
  assert.deepEqual(seen, [true, true, true]);
  assert.deepEqual(again.map((c) => c.kld), cells.map((c) => c.kld));
});

test('MAC cost model: integers cheaper than minifloats at 8-bit weights and activations', () => {
  const cost = (w: string, a: string) => macCost(elementFormat(w), elementFormat(a));
  assert.equal(cost('int8', 'int8'), 8 * 8 + 8 + 8 + 12);
  assert.ok(cost('int8', 'int8') < cost('e4m3', 'e4m3'));
  assert.ok(cost('int4', 'int8') < cost('int8', 'int8'));
  assert.ok(cost('e2m1', 'e4m3') < cost('e4m3', 'e4m3'));
  assert.deepEqual(elementFormat('mxfp8'), { kind: 'fp', bits: 8, e: 4, m: 3 });
});
