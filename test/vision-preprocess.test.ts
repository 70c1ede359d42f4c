// Image preprocessing against llama.cpp's own preprocessors (test/golden/vision/, made by
// make-preprocess.sh): for each case of test/vision-cases.ts the slice instructions and every
// normalized float32 image bit for bit (FNV-1a of the bytes); stb_image's decoding of the shared
// PNG; the token layout per projector and minicpmv_version; geometry of images too large to make.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../src/vision/image.js';
import { imageLayout, normalize, sliceImage, sliceInstructions, sliceTokens } from '../src/vision/slicing.js';
import type { LayoutItem } from '../src/vision/types.js';
import { CASES, caseHparams, caseName, fnv1a, patternImage } from './vision-cases.js';
import { DATA, REPO } from './helpers.js';

const GOLDEN = join(REPO, 'test/golden/vision');

interface RefImage { kind: string; width: number; height: number; fnv: number; first: number[] }
interface Ref { overview?: number[]; refined?: number[]; grid?: number[]; slices?: number[][]; gridX: number; gridY: number; images: RefImage[] }

const refs = new Map<string, Ref>(readFileSync(join(GOLDEN, 'preprocess.jsonl'), 'utf8').trim().split('\n').slice(1)
  .map((l) => JSON.parse(l) as { case: string; ref: Ref }).map((r) => [r.case, r.ref]));

test('every case has a llama.cpp reference and every reference a case', () => {
  assert.deepEqual([...refs.keys()].sort(), CASES.map(caseName).sort());
});

for (const c of CASES) {
  test(`preprocess ${caseName(c)} equals llama.cpp bit for bit`, () => {
    const ref = refs.get(caseName(c))!;
    const hp = caseHparams(c);
    const image = c.file ? decodeImage(readFileSync(join(DATA, c.file)), c.file) : patternImage(c.width, c.height);
    const { inst, images } = sliceImage(image, hp);
    if (ref.overview) {
      assert.deepEqual([inst.overview.width, inst.overview.height], ref.overview, 'overview size');
      assert.deepEqual([inst.refined.width, inst.refined.height], ref.refined, 'refined size');
      assert.deepEqual([inst.gridCols, inst.gridRows], ref.grid, 'grid');
      assert.deepEqual(inst.slices.map((s) => [s.x, s.y, s.width, s.height]), ref.slices, 'slice rectangles');
    }
    assert.deepEqual([inst.gridCols, inst.gridRows], [ref.gridX, ref.gridY], 'grid');
    assert.equal(images.length, ref.images.length, 'image count');
    images.forEach((img, i) => {
      const p = normalize(img, hp.imageMean, hp.imageStd);
      const r = ref.images[i]!;
      assert.deepEqual([p.width, p.height], [r.width, r.height], `image ${i} size`);
      // The harness hashes mtmd's HWC floats: interleave the CHW planes back.
      const plane = p.width * p.height, hwc = new Float32Array(plane * 3);
      for (let k = 0; k < plane; k++) for (let ch = 0; ch < 3; ch++) hwc[k * 3 + ch] = p.data[ch * plane + k]!;
      assert.equal(fnv1a(new Uint8Array(hwc.buffer)), r.fnv, `image ${i} (${r.kind} ${r.width}x${r.height}) pixels differ; first ${[...hwc.subarray(0, 3)]} vs ${r.first}`);
    });
  });
}

test('PNG decoding equals stb_image (what llama.cpp uses) bit for bit', () => {
  const lines = readFileSync(join(GOLDEN, 'decode.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; ref: { width: number; height: number; fnv: number } });
  const png = lines.filter((l) => l.file.endsWith('.png'));
  assert.ok(png.length > 0);
  for (const { file, ref } of png) {
    const img = decodeImage(readFileSync(join(DATA, file)), file);
    assert.deepEqual([img.width, img.height, fnv1a(img.data)], [ref.width, ref.height, ref.fnv], file);
  }
  // JPEG: jpeg-js upsamples chroma by replication where stb_image interpolates, so only the size is equal.
  for (const { file, ref } of lines.filter((l) => l.file.endsWith('.jpg'))) {
    const img = decodeImage(readFileSync(join(DATA, file)), file);
    assert.deepEqual([img.width, img.height], [ref.width, ref.height], file);
  }
});

const text = (items: LayoutItem[]) => items.map((i) => i.kind === 'slice' ? `[${i.index}]` : i.kind === 'token' ? i.text.replace(/\n/g, '\\n') : `{${i.text}}`).join('');

test('MiniCPM-V layout: 2.5 wraps the slices in <slice>..</slice> with <image> each, 2.6+ puts <slice> around each; rows end in \\n', () => {
  const size = { width: 1344, height: 900 };
  const v25 = caseHparams({ projector: 'resampler', version: 2, imageSize: 448, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: 0, height: 0 });
  const inst = sliceInstructions(size, v25);
  assert.deepEqual([inst.gridCols, inst.gridRows], [3, 2]);
  assert.equal(text(imageLayout(inst, v25).items),
    '<image>[0]</image><slice><image>[1]</image><image>[2]</image><image>[3]</image>\\n<image>[4]</image><image>[5]</image><image>[6]</image></slice>');
  const v26 = { ...v25, minicpmvVersion: 3, queryNum: 64 };
  assert.equal(text(imageLayout(inst, v26).items),
    '<image>[0]</image><slice>[1]</slice><slice>[2]</slice><slice>[3]</slice>\\n<slice>[4]</slice><slice>[5]</slice><slice>[6]</slice>');
  // one slice only: the overview alone
  assert.equal(text(imageLayout(sliceInstructions({ width: 1, height: 1 }, v26), v26).items), '<image>[0]</image>');
  // tokens: 7 images x 64 queries + 16 specials + 1 newline
  const n = imageLayout(inst, v26).items.reduce((s, i) => s + (i.kind === 'slice' ? sliceTokens(v26, { width: 448, height: 448 }) : 1), 0);
  assert.equal(n, 7 * 64 + 14 + 1);
});

test('idefics3 layout: tiles row by row with <row_r_col_c>, \\n between rows, the global image last', () => {
  const hp = caseHparams({ projector: 'idefics3', version: 0, imageSize: 512, patchSize: 16, preprocSize: 1536, scaleFactor: 4, width: 0, height: 0 });
  const inst = sliceInstructions({ width: 1000, height: 300 }, hp);
  assert.deepEqual([inst.gridCols, inst.gridRows, inst.refined.width, inst.refined.height], [3, 1, 1536, 512]);
  assert.equal(text(imageLayout(inst, hp).items),
    '{<fake_token_around_image><row_1_col_1>}[1]{<fake_token_around_image><row_1_col_2>}[2]{<fake_token_around_image><row_1_col_3>}[3]' +
    '\\n\\n<fake_token_around_image><global-img>[0]<fake_token_around_image>');
  assert.equal(sliceTokens(hp, { width: 512, height: 512 }), 64);
});

test('LLaVA (mlp): one square image, no special tokens; pinpoints and unknown versions are refused by name', () => {
  const hp = caseHparams({ projector: 'mlp', version: 0, imageSize: 336, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: 0, height: 0 });
  assert.equal(text(imageLayout(sliceInstructions({ width: 4000, height: 50 }, hp), hp).items), '[0]');
  assert.equal(sliceTokens(hp, { width: 336, height: 336 }), 576);
  assert.throws(() => sliceInstructions({ width: 9, height: 9 }, { ...hp, gridPinpoints: [[672, 336]] }), /image_grid_pinpoints/);
  const r = caseHparams({ projector: 'resampler', version: 7, imageSize: 448, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: 0, height: 0 });
  assert.throws(() => sliceInstructions({ width: 9, height: 9 }, r), /minicpmv_version 7/);
});

test('geometry for sizes too large to build here: at most 9 slices, each a multiple of the patch', () => {
  const hp = caseHparams({ projector: 'resampler', version: 3, imageSize: 448, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: 0, height: 0 });
  for (const [w, h] of [[20000, 20000], [30000, 7], [7, 30000], [4032, 3024]] as const) {
    const inst = sliceInstructions({ width: w, height: h }, hp);
    assert.ok(inst.slices.length >= 2 && inst.slices.length <= 9, `${w}x${h}: ${inst.slices.length} slices`);
    for (const s of inst.slices) assert.ok(s.width % 14 === 0 && s.height % 14 === 0 && s.width * s.height <= 448 * 448 * 1.6, `${w}x${h}: slice ${s.width}x${s.height}`);
  }
});
