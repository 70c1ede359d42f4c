// The vision parity fixtures: the tiny synth pairs (lutra synth's vision presets) and deterministic
// slices to encode, as files llama.cpp's libmtmd can read. `node dist/test/vision-models.js DIR`
// writes them; test/golden/vision/make-encode.sh runs llama.cpp on them.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { synthesizeVision, VISION_PRESETS } from '../src/tools/synth-vision.js';

export const TINY_VISION = ['tiny-minicpmv', 'tiny-llava', 'tiny-smolvlm'] as const;

/** Slices encoded per preset: the square slice, and for the resampler a wide and a tall one (its bucketed positions and 2D keys). */
export function sliceSizes(preset: string): [number, number][] {
  const s = VISION_PRESETS[preset]!.clip.imageSize;
  return preset === 'tiny-minicpmv' ? [[s, s], [84, 42], [28, 70]] : [[s, s]];
}

/** A deterministic normalized slice: smooth ramps and a checker, in [-1, 1] as mean/std 0.5 gives. */
export function slicePattern(width: number, height: number): Float32Array {
  const plane = width * height, out = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x, check = ((x >> 3) + (y >> 3)) & 1;
      out[i] = Math.fround((2 * x) / Math.max(1, width - 1) - 1);
      out[plane + i] = Math.fround((2 * y) / Math.max(1, height - 1) - 1);
      out[2 * plane + i] = Math.fround(check ? 0.75 : -0.5 + 0.25 * Math.sin(x * 0.3 + y * 0.2));
    }
  }
  return out;
}

export async function writeVisionFixtures(dir: string, type = 'F16'): Promise<void> {
  for (const p of TINY_VISION) {
    await synthesizeVision(p, type, { mmproj: resolve(dir, `${p}.mmproj.gguf`), llm: resolve(dir, `${p}.gguf`) });
    for (const [w, h] of sliceSizes(p)) {
      const s = slicePattern(w, h);
      writeFileSync(resolve(dir, `slice-${w}x${h}.f32`), new Uint8Array(s.buffer));
    }
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/')) && process.argv[2]) {
  await writeVisionFixtures(process.argv[2]);
}
