// The vision encoder and projectors: llama.cpp parity of the image embeddings on lutra synth's tiny
// pairs (goldens from test/golden/vision/make-encode.sh: libmtmd with flash attention off, slices of
// test/vision-models.ts's pattern), on every kernel backend and 1 and 2 threads; refusals by name.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GGUFType, concatChunks, parseGGUF, writeGGUF } from '../src/formats/gguf.js';
import { createKernels, type BackendName } from '../src/kernels/index.js';
import { loadProjector } from '../src/runtime/vision.js';
import type { Model } from '../src/runtime/model.js';
import { readClipHparams } from '../src/vision/hparams.js';
import { CLIP } from '../src/vision/names.js';
import { REPO } from './helpers.js';
import { TINY_VISION, sliceSizes, slicePattern, writeVisionFixtures } from './vision-models.js';

const GOLDEN = resolve(REPO, 'test/golden/vision');
/** The bound: embeddings within 1e-3 of llama.cpp's, relative to the largest value. */
const REL_TOL = 1e-3;

const dir = mkdtempSync(join(tmpdir(), 'lutra-vision-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const ready = writeVisionFixtures(dir);

function readEmbd(path: string): { nTok: number; nEmbd: number; data: Float32Array } {
  const b = readFileSync(path);
  const hdr = new Int32Array(b.buffer, b.byteOffset, 2);
  return { nTok: hdr[0]!, nEmbd: hdr[1]!, data: new Float32Array(b.buffer.slice(b.byteOffset + 8, b.byteOffset + b.byteLength)) };
}

/** max |a - b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
}

const RUNS: [BackendName, number][] = [['ref', 1], ['wasm', 1], ['wasm', 2]];

for (const preset of TINY_VISION) {
  for (const [w, h] of sliceSizes(preset)) {
    const golden = join(GOLDEN, 'encode', `${preset}-${w}x${h}.f32`);
    test(`${preset}: a ${w}x${h} slice encodes as llama.cpp's mtmd does (rel. ${REL_TOL})`, { skip: !existsSync(golden) && 'no golden' }, async () => {
      await ready;
      const ref = readEmbd(golden);
      for (const [backend, threads] of RUNS) {
        const { kernels } = await createKernels({ backend, threads });
        try {
          const p = await loadProjector(join(dir, `${preset}.mmproj.gguf`), { kernels });
          assert.equal(p.nTokens({ width: w, height: h }), ref.nTok);
          assert.equal(p.hparams.nEmbdOut, ref.nEmbd);
          const out = p.encode({ data: slicePattern(w, h), width: w, height: h });
          assert.equal(out.length, ref.data.length);
          const e = relErr(out, ref.data);
          assert.ok(e <= REL_TOL, `${backend} x${threads}: max error ${e.toExponential(2)} of the largest value`);
          p.dispose();
        } finally {
          kernels.dispose?.();
        }
      }
    });
  }
}

function meta(edit: (m: Map<string, import('../src/formats/gguf.js').GGUFValue>) => void) {
  const g = parseGGUF(new Uint8Array(readFileSync(join(dir, 'tiny-minicpmv.mmproj.gguf'))), 'x');
  edit(g.metadata);
  return g.metadata;
}

test('unknown projector types and MiniCPM-V versions are refused by name', async () => {
  await ready;
  assert.throws(() => readClipHparams(meta((m) => m.set(CLIP.projectorType, { type: GGUFType.STRING, value: 'qwen2vl' })), 'p.gguf'), /p\.gguf: projector type "qwen2vl" is not supported/);
  assert.throws(() => readClipHparams(meta((m) => m.set(CLIP.minicpmvVersion, { type: GGUFType.INT32, value: 7 })), 'p.gguf'), /clip\.minicpmv_version = 7 is not a MiniCPM-V version/);
  assert.throws(() => readClipHparams(meta((m) => m.delete(CLIP.projectorType)), 'p.gguf'), /missing metadata key clip\.projector_type/);
  // Defaults as mtmd: version 0 is V2.5 (96 queries); a version without query_num takes its default.
  const v = readClipHparams(meta((m) => { m.delete(CLIP.minicpmvVersion); m.delete(CLIP.minicpmvQueryNum); }), 'p.gguf');
  assert.deepEqual([v.minicpmvVersion, v.queryNum], [2, 96]);
  assert.equal(readClipHparams(meta((m) => m.delete(CLIP.minicpmvQueryNum)), 'p.gguf').queryNum, 64);
});

test('a projector whose output width is not the LLM\'s is a clear error naming both files', async () => {
  await ready;
  const { kernels } = await createKernels({ backend: 'ref' });
  const model = { file: 'small.gguf', hparams: { nEmbd: 96 } } as unknown as Model;
  await assert.rejects(loadProjector(join(dir, 'tiny-llava.mmproj.gguf'), { kernels, model }), /tiny-llava\.mmproj\.gguf: the projector emits 128-wide embeddings but the model small\.gguf has n_embd 96/);
});

test('a truncated projector file and a resampler without its key tensor are errors naming the file', async () => {
  await ready;
  const { kernels } = await createKernels({ backend: 'ref' });
  const bytes = new Uint8Array(readFileSync(join(dir, 'tiny-smolvlm.mmproj.gguf')));
  await assert.rejects(loadProjector(bytes.subarray(0, bytes.length - 1000), { kernels }), /<bytes>/);
  const g = parseGGUF(new Uint8Array(readFileSync(join(dir, 'tiny-minicpmv.mmproj.gguf'))), 'x');
  const tensors = g.tensors.filter((t) => t.name !== 'resampler.kv.weight').map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: t.data }));
  await assert.rejects(loadProjector(concatChunks(writeGGUF(g.metadata, tensors)), { kernels }), /missing tensor resampler\.kv\.weight/);
});

/**
 * The whole path on a photo (decode, slice, encode, lay out; vision/ preprocessing and this
 * encoder) against mtmd's chunks for the same prompt: the same text tokens around the same number
 * of image embeddings, each image chunk within the bound.
 */
for (const preset of TINY_VISION) {
  const listing = join(GOLDEN, 'mtmd', `${preset}-chelsea.txt`);
  test(`${preset}: chelsea.png through the whole path matches mtmd's chunks and embeddings`, { skip: !existsSync(listing) && 'no golden' }, async () => {
    await ready;
    const { loadModel } = await import('../src/runtime/model.js');
    const { encodePrompt } = await import('../src/runtime/vision.js');
    const { decodeImage } = await import('../src/vision/image.js');
    const { preprocessImage } = await import('../src/vision/slicing.js');
    const model = await loadModel(join(dir, `${preset}.gguf`), { backend: 'wasm', threads: 2 });
    try {
      const p = await loadProjector(join(dir, `${preset}.mmproj.gguf`), { kernels: model.kernels, model });
      const img = resolve(REPO, '../shared/data/images/chelsea.png');
      const image = preprocessImage(decodeImage(new Uint8Array(readFileSync(img)), img), p.hparams);
      const enc = encodePrompt(model, p, ['', { image }, 'Describe the picture.']);
      // lutra's prompt as mtmd's chunk list: runs of text ids and image embedding counts.
      const got: string[] = [];
      let at = 0, text: number[] = [];
      const flush = () => { if (text.length) got.push(`text ${text.join(' ')}`); text = []; };
      for (const e of enc.embeddings) {
        text.push(...enc.ids.slice(at, e.start));
        flush();
        const rows = e.data.length / p.hparams.nEmbdOut;
        got.push(`image ${rows}`);
        at = e.start + rows;
      }
      text.push(...enc.ids.slice(at));
      flush();
      const lines = readFileSync(listing, 'utf8').trim().split('\n');
      assert.deepEqual(got, lines.filter((l) => /^(text|image) \d/.test(l) && !/^image \d+ \d+$/.test(l)));
      enc.embeddings.forEach((e, i) => {
        const ref = readEmbd(join(GOLDEN, 'mtmd', `${preset}-chelsea.${i}.f32`));
        const err = relErr(e.data, ref.data);
        assert.ok(err <= REL_TOL, `image chunk ${i}: max error ${err.toExponential(2)} of the largest value`);
      });
      // The same 16 greedy tokens after it (mtmd-dump decodes with flash attention off).
      const greedy = lines.find((l) => l.startsWith('greedy '));
      if (greedy) {
        const ctx = model.createContext({ ctx: 2048 });
        const { generateWithImages } = await import('../src/runtime/vision.js');
        let tokens: number[] = [];
        for await (const c of generateWithImages(model, ctx, enc, { maxTokens: 16, temperature: 0, stopAtEog: false })) if (c.done) tokens = c.tokens;
        assert.deepEqual(tokens, greedy.split(' ').slice(1).map(Number));
        ctx.dispose();
      }
      p.dispose();
    } finally {
      model.dispose();
    }
  });
}
