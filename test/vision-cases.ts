// The preprocessing cases test/vision-preprocess.test.ts checks against llama.cpp's own
// preprocessors (test/golden/vision/make-preprocess.sh runs them through preproc-harness.cpp): a
// deterministic RGB pattern per size, the projector settings, and the FNV-1a hash both sides print.
// Run as a script (`node dist/test/vision-cases.js DIR`) it writes each pattern as DIR/WxH.rgb and
// the case list as DIR/cases.tsv.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage, type RgbImage } from '../src/vision/image.js';
import { DATA } from './helpers.js';
import type { ClipHparams, ProjectorType } from '../src/vision/types.js';

export interface PreprocCase {
  projector: ProjectorType;
  version: number;
  imageSize: number;
  patchSize: number;
  preprocSize: number;
  scaleFactor: number;
  width: number;
  height: number;
  /** A file under ../shared/data instead of the pattern. */
  file?: string;
}

const SIZES: [number, number][] = [[1, 1], [448, 448], [1344, 1344], [1000, 300], [300, 1000], [2000, 100], [4000, 50], [50, 4000], [600, 500], [900, 460]];

export const CASES: PreprocCase[] = [
  ...SIZES.flatMap(([width, height]) => [2, 3].map((version): PreprocCase => ({ projector: 'resampler', version, imageSize: 448, patchSize: 14, preprocSize: 0, scaleFactor: 1, width, height }))),
  { projector: 'resampler', version: 3, imageSize: 448, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: 451, height: 300, file: 'images/chelsea.png' },
  ...[[1, 1], [1000, 300], [300, 1000], [336, 336]].map(([width, height]): PreprocCase => ({ projector: 'mlp', version: 0, imageSize: 336, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: width!, height: height! })),
  { projector: 'mlp', version: 0, imageSize: 336, patchSize: 14, preprocSize: 0, scaleFactor: 1, width: 451, height: 300, file: 'images/chelsea.png' },
  ...[[1, 1], [1000, 300], [300, 1000], [4000, 50], [448, 448]].map(([width, height]): PreprocCase => ({ projector: 'idefics3', version: 0, imageSize: 512, patchSize: 16, preprocSize: 1536, scaleFactor: 4, width: width!, height: height! })),
  ...[[1000, 300], [700, 1300]].map(([width, height]): PreprocCase => ({ projector: 'idefics3', version: 0, imageSize: 512, patchSize: 16, preprocSize: 0, scaleFactor: 4, width: width!, height: height! })),
];

export function caseName(c: PreprocCase): string {
  return `${c.projector}-v${c.version}-${c.imageSize}-p${c.preprocSize}-${c.file ? c.file.replace(/\W/g, '_') : `${c.width}x${c.height}`}`;
}

/** Hyperparameters of a case, as the harness sets them (CLIP's mean/std for mlp, 0.5 otherwise). */
export function caseHparams(c: PreprocCase): ClipHparams {
  const clip = c.projector === 'mlp';
  return {
    projectorType: c.projector, minicpmvVersion: c.version, queryNum: c.version === 2 ? 96 : 64,
    imageSize: c.imageSize, patchSize: c.patchSize,
    imageMean: clip ? [0.48145466, 0.4578275, 0.40821073] : [0.5, 0.5, 0.5],
    imageStd: clip ? [0.26862954, 0.26130258, 0.27577711] : [0.5, 0.5, 0.5],
    nEmbd: 32, nFf: 64, nLayer: 1, nHead: 2, eps: 1e-6, ffnOp: 'gelu', nEmbdOut: 32,
    scaleFactor: c.scaleFactor, preprocImageSize: c.preprocSize, gridPinpoints: [],
  };
}

/** Gradients (so resizing has something to smooth) plus xorshift noise (so every pixel matters). */
export function patternImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let s = 0x9e3779b9;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
        const grad = c === 0 ? (x * 255) / Math.max(1, width - 1) : c === 1 ? (y * 255) / Math.max(1, height - 1) : ((x + y) * 4) & 255;
        data[(y * width + x) * 3 + c] = (Math.trunc(grad * 0.75) + ((s >>> 0) & 63)) & 255;
      }
    }
  }
  return { width, height, data };
}

/** FNV-1a over bytes (the harness hashes the float32 pixels' bytes the same way). */
export function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 16777619) >>> 0;
  return h;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2]!;
  mkdirSync(dir, { recursive: true });
  const written = new Set<string>();
  const rows: string[] = [];
  for (const c of CASES) {
    const key = `${c.width}x${c.height}`;
    const raw = c.file ? `${c.file.replace(/\W/g, '_')}.rgb` : `${key}.rgb`;
    if (!written.has(raw)) {
      // Files are decoded by lutra; the harness checks that stb_image decodes them alike (PNG).
      writeFileSync(join(dir, raw), c.file ? decodeImage(readFileSync(join(DATA, c.file)), c.file).data : patternImage(c.width, c.height).data);
      written.add(raw);
    }
    rows.push([caseName(c), c.projector, c.version, c.imageSize, c.patchSize, c.preprocSize, c.scaleFactor, raw, c.width, c.height].join('\t'));
  }
  writeFileSync(join(dir, 'cases.tsv'), rows.join('\n') + '\n');
}
