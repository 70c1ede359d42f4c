// The greedy-text cases test/vision-greedy.test.ts holds lutra to: each tiny synth vision pair
// (test/vision-models.ts) on a real photo and a synthetic pattern, the prompt and the token budget
// llama-mtmd-cli ran with (test/golden/vision/make-greedy.sh). Run as a script
// (`node dist/test/vision-greedy-cases.js DIR`) it writes the pairs and DIR/pattern-320x200.png.

import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import { DATA } from './helpers.js';
import { patternImage } from './vision-cases.js';
import { TINY_VISION, writeVisionFixtures } from './vision-models.js';

export const GREEDY_PROMPT = 'Describe the picture.';
export const GREEDY_TOKENS = 32;
export const PATTERN_PNG = 'pattern-320x200.png';

/** The images by the name their golden carries, and where they are (`dir`: where the pattern was written). */
export function greedyImages(dir: string): { name: string; path: string }[] {
  return [
    { name: 'chelsea', path: resolve(DATA, 'images/chelsea.png') },
    { name: 'rocket', path: resolve(DATA, 'images/rocket.jpg') },
    { name: 'pattern', path: join(dir, PATTERN_PNG) },
  ];
}

export const GREEDY_PRESETS = TINY_VISION;

/** The tiny pairs (F16) and the pattern picture: gradients and noise, 320x200 (every model slices it). */
export async function writeGreedyFixtures(dir: string): Promise<void> {
  await writeVisionFixtures(dir);
  writeFileSync(join(dir, PATTERN_PNG), encodePng({ width: 320, height: 200, data: patternImage(320, 200).data, channels: 3, depth: 8 }));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2]) await writeGreedyFixtures(process.argv[2]);
