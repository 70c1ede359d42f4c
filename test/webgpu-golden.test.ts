// The WebGPU backend end to end in Node (Dawn on SwiftShader where there is no GPU): stories260K F32
// and its quantized files give llama.cpp's greedy text, as the WebAssembly backend does; weights
// split into shards give the same text; a device destroyed mid-generation moves the context to
// WebAssembly and the text goes on unchanged; auto's choice comes with its reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { GpuContext } from '../src/runtime/gpu-context.js';
import { bench } from '../src/tools/bench.js';
import { STORIES, STORIES_GGUF, QUANTIZED } from './helpers.js';
import { gpuUnavailable } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();
const CASES = [{ q: 'f32', file: STORIES_GGUF }, ...QUANTIZED];
const golden = (q: string) => readFileSync(resolve(STORIES, `golden/greedy-n64-stories260K${q === 'f32' ? '' : `-${q}-mix`}.txt`), 'utf8');

for (const { q, file } of CASES) {
  const n = 64 - 5;
  test(`webgpu ${q}: greedy ${n} tokens equal llama.cpp's golden text`, { skip: SKIP ?? false }, async () => {
    const model = await loadModel(file, { backend: 'webgpu' });
    try {
      assert.match(model.kernelNote, /WebGPU/);
      assert.ok(model.gpuForward, 'the forward runs on the GPU');
      let text = ' Once upon a time';
      for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: n })) text += c.text;
      const want = golden(q);
      assert.ok(want.startsWith(text) || text.startsWith(want), `webgpu:\n${text}\nllama.cpp:\n${want}`);
      assert.ok(text.length >= want.length * 0.9, `${text.length} characters`);
    } finally {
      model.dispose();
    }
  });
}

test('webgpu: weights split into shards by a 4 KiB binding limit give the same greedy text', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(QUANTIZED[2]!.file, { backend: 'webgpu', gpu: { maxBindingBytes: 4096 } });
  try {
    // The 64x512 Q8_0 output matrix is 68 bytes a row: 60 rows a shard, 9 shards.
    assert.equal(model.gpuForward!.maxShards, 9);
    let text = ' Once upon a time';
    for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 16 })) text += c.text;
    const want = golden('q4_0');
    assert.ok(want.startsWith(text) || text.startsWith(want), `webgpu sharded:\n${text}\nllama.cpp:\n${want}`);
  } finally {
    model.dispose();
  }
});

test('webgpu: the device destroyed mid-generation moves the context to WebAssembly; the greedy text goes on unchanged, no hang', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(STORIES_GGUF, { backend: 'webgpu' });
  try {
    const ctx = model.createContext();
    assert.ok(ctx instanceof GpuContext && ctx.onGpu);
    let text = ' Once upon a time', n = 0;
    for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 59, context: ctx })) {
      text += c.text;
      if (++n === 10) model.gpuForward!.gpu.destroy();
    }
    assert.equal(ctx.onGpu, false);
    assert.match(ctx.cpuReason ?? '', /destroyed|lost/);
    const want = golden('f32');
    assert.ok(want.startsWith(text) || text.startsWith(want), `after the loss:\n${text}\nllama.cpp:\n${want}`);
    ctx.dispose();
  } finally {
    model.dispose();
  }
});

test('webgpu sampling on the device: greedy and seeded top-k read back k (value, id) pairs, not the logits row, and pick the tokens the full row gives', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(QUANTIZED[2]!.file, { backend: 'webgpu' });
  try {
    const ops = model.gpuForward!.ops;
    const nVocab = model.hparams.nVocab;
    const run = async (opts: Record<string, unknown>) => {
      const before = ops.bytesRead;
      const ids: number[] = [];
      for await (const c of model.generate('Once upon a time', { maxTokens: 12, ...opts })) if (!c.done) ids.push(c.token);
      return { ids, perToken: (ops.bytesRead - before) / ids.length };
    };
    for (const opts of [{ temperature: 0 }, { temperature: 1.5, topK: 20, topP: 1, minP: 0, seed: 7 }]) {
      const k = opts.temperature ? 20 : 1;
      const device = await run(opts);
      // logprobs need the whole row: the same chain then samples from the full logits.
      const full = await run({ ...opts, logprobs: 0 });
      assert.deepEqual(device.ids, full.ids, `${JSON.stringify(opts)}: the same tokens`);
      assert.ok(device.perToken <= 8 * k + 8, `${JSON.stringify(opts)}: ${device.perToken} bytes read a token, want ${8 * k}`);
      assert.ok(full.perToken >= 4 * nVocab, `full rows: ${full.perToken} bytes a token`);
    }
  } finally {
    model.dispose();
  }
});

test('lutra bench --backend webgpu: pp and tg run on the GPU forward (tokens/s reported, the adapter named, software flagged)', { skip: SKIP ?? false }, async () => {
  const { results, profiles } = await bench(QUANTIZED[2]!.file, { pp: [8], tg: [4], reps: 1, threads: [1], backend: 'webgpu' });
  assert.deepEqual(results.map((r) => [r.test, r.backend]), [['pp8', 'webgpu'], ['tg4', 'webgpu']]);
  for (const r of results) {
    assert.ok(r.tps > 0 && Number.isFinite(r.tps), `${r.test}: ${r.tps} t/s`);
    assert.match(r.gpu ?? '', /^WebGPU .*binding \d+ MiB/);
  }
  assert.equal(profiles.length, 0, 'no CPU-kernel profile of a GPU step');
});

test('webgpu: auto leaves a CPU-emulated adapter to WebAssembly and says why', { skip: SKIP ?? false }, async () => {
  const prev = process.env.LUTRA_WEBGPU;
  process.env.LUTRA_WEBGPU = 'auto';
  try {
    const model = await loadModel(STORIES_GGUF, { backend: 'auto' });
    assert.equal(model.gpuForward, null);
    assert.match(model.kernelNote, /backend auto: WebAssembly \(.*(CPU emulation|no WebGPU adapter)/);
    model.dispose();
  } finally {
    if (prev === undefined) delete process.env.LUTRA_WEBGPU; else process.env.LUTRA_WEBGPU = prev;
  }
});
