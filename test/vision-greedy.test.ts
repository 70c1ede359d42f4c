// `lutra run --mmproj --image` against llama-mtmd-cli's greedy text on the tiny synth vision pairs,
// a real photo (PNG and JPEG) and a synthetic pattern each (goldens: test/golden/vision/greedy,
// made by make-greedy.sh with llama-mtmd-cli -n 32 --temp 0 --top-k 1). llama-mtmd-cli prints a
// newline once the prompt is decoded, then the pieces, then a newline at an end-of-generation token
// and two at exit; its log thread may drop the last of those, so they are matched as a prefix.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LUTRA_BIN, REPO } from './helpers.js';
import { GREEDY_PRESETS, GREEDY_PROMPT, GREEDY_TOKENS, greedyImages, writeGreedyFixtures } from './vision-greedy-cases.js';

const GOLDEN = resolve(REPO, 'test/golden/vision/greedy');
let dir: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lutra-vision-greedy-'));
  await writeGreedyFixtures(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const preset of GREEDY_PRESETS) {
  for (const name of ['chelsea', 'rocket', 'pattern']) {
    const golden = join(GOLDEN, `${preset}-${name}.txt`);
    test(`${preset} on ${name}: lutra run's greedy text is llama-mtmd-cli's`, { skip: !existsSync(golden) && 'no golden' }, () => {
      const image = greedyImages(dir).find((i) => i.name === name)!.path;
      const r = spawnSync(process.execPath, [LUTRA_BIN, 'run', join(dir, `${preset}.gguf`), '--mmproj', join(dir, `${preset}.mmproj.gguf`), '--image', image,
        '-p', GREEDY_PROMPT, '-n', String(GREEDY_TOKENS), '--temp', '0', '--no-display-prompt'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const stop = /stop: (\w+)/.exec(r.stderr)?.[1];
      assert.ok(stop === 'eos' || stop === 'length', r.stderr);
      assert.ok(r.stdout.endsWith('\n'));
      const text = r.stdout.slice(0, -1);
      const ref = new TextDecoder().decode(readFileSync(golden));
      assert.ok(ref.startsWith('\n' + text), `lutra: ${JSON.stringify(text)}\nllama-mtmd-cli: ${JSON.stringify(ref)}`);
      const tail = ref.slice(1 + text.length);
      assert.ok((stop === 'eos' ? '\n\n\n' : '\n\n').startsWith(tail), `after the text llama-mtmd-cli printed ${JSON.stringify(tail)} (lutra stopped by ${stop}): it generated more`);
    });
  }
}
