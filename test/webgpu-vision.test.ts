// Images with a WebGPU-backed LLM (Dawn on SwiftShader where there is no GPU; tiny-llava's llama LLM):
// the picture's rows never go to the GPU. A context holding a text prefix on the GPU leaves it when
// the image rows come (replaying the prefix's token ids on WebAssembly) and answers as the
// WebAssembly backend does. Should a context ever leave the GPU holding image rows (device loss),
// it keeps the tokens before them and says what it could not replay, rather than answering without
// the picture.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type Model } from '../src/runtime/model.js';
import { GpuContext } from '../src/runtime/gpu-context.js';
import { encodePrompt, generateWithImages, IMAGE_ROW, loadProjector, type EncodedPrompt } from '../src/runtime/vision.js';
import { preprocessImage } from '../src/vision/slicing.js';
import { LUTRA_BIN } from './helpers.js';
import { patternImage } from './vision-cases.js';
import { gpuUnavailable } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();
let dir: string, llm: string, mmproj: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lutra-webgpu-vision-'));
  llm = join(dir, 'llm.gguf'); mmproj = join(dir, 'mmproj.gguf');
  execFileSync(process.execPath, [LUTRA_BIN, 'synth', '--preset', 'tiny-llava', '--type', 'F32', '-o', llm, '--mmproj', mmproj]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A question around a 64x48 pattern picture, encoded for `model` (its projector on the model's CPU kernels). */
async function imagePrompt(model: Model): Promise<EncodedPrompt> {
  const p = await loadProjector(mmproj, { kernels: model.kernels, model });
  try {
    return encodePrompt(model, p, ['USER: look at this ', { image: preprocessImage(patternImage(64, 48), p.hparams) }, ' what is it? ASSISTANT:']);
  } finally { p.dispose(); }
}

async function answer(model: Model, ctx: Parameters<typeof generateWithImages>[1], enc: EncodedPrompt): Promise<number[]> {
  let tokens: number[] = [];
  for await (const c of generateWithImages(model, ctx, enc, { temperature: 0, maxTokens: 8, stopAtEog: false })) if (c.done) tokens = c.tokens;
  return tokens;
}

test('webgpu: a text prefix held on the GPU, then an image prompt: the context leaves the GPU before the image rows and answers as WebAssembly does', { skip: SKIP ?? false }, async () => {
  const cpu = await loadModel(llm);
  const gpu = await loadModel(llm, { backend: 'webgpu' });
  try {
    const enc = await imagePrompt(cpu);
    const first = enc.embeddings[0]!.start;
    assert.ok(first > 2, 'text before the picture');
    const want = await answer(cpu, cpu.createContext(), enc);

    const ctx = gpu.createContext();
    assert.ok(ctx instanceof GpuContext && ctx.onGpu);
    await ctx.decodeAsync(enc.ids.slice(0, first), { logits: 'none' });
    assert.equal(ctx.nPast, first);
    assert.equal(ctx.onGpu, true, 'the text prefix ran on the GPU');
    const got = await answer(gpu, ctx, enc);
    assert.equal(ctx.onGpu, false);
    assert.match(ctx.cpuReason ?? '', /CPU cache/);
    assert.deepEqual(got, want);
    ctx.dispose();
  } finally {
    cpu.dispose(); gpu.dispose();
  }
});

test('webgpu: a context that loses its device while holding image rows keeps the tokens before them and names what it could not replay', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(llm, { backend: 'webgpu' });
  try {
    const ctx = model.createContext();
    assert.ok(ctx instanceof GpuContext && ctx.onGpu);
    await ctx.decodeAsync([1, 5, 6, 7, 8, 9, 10], { logits: 'none' });
    // The GPU is never given image rows (the test above): mark positions 3..4 as generateWithImages
    // marks a picture's rows, standing for a future GPU path that takes them.
    ctx.tokens[3] = IMAGE_ROW; ctx.tokens[4] = IMAGE_ROW;
    model.gpuForward!.gpu.destroy();
    await assert.rejects(ctx.decodeAsync([11]), (e: Error) => {
      assert.match(e.message, /left the GPU \(.*(destroyed|lost).*\) holding input-embedding rows \(an image's\) at positions 3\.\.4/);
      assert.match(e.message, /holds the 3 tokens before them; send the image again/);
      return true;
    });
    assert.equal(ctx.onGpu, false);
    assert.equal(ctx.nPast, 3);
    assert.deepEqual(ctx.tokens, [1, 5, 6]);
    // What it holds is usable: the next token decodes on WebAssembly.
    assert.ok(ctx.decode([11]) instanceof Float32Array);
    ctx.dispose();
  } finally {
    model.dispose();
  }
});
