// `lutra chat --mmproj` with /image on a tiny synthetic MiniCPM-V pair, through pipes: a picture
// goes with the next message, a follow-up question encodes no slice again (one "encoded" count in
// --verbose), and bad pictures (corrupt, a 20000x20000 header, a missing file, no projector) are
// one-line errors naming the file while the chat goes on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { LUTRA_BIN } from './helpers.js';
import { patternImage } from './vision-cases.js';

let dir: string, llm: string, mmproj: string;

function lutra(args: string[], input = '') {
  const r = spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', input, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lutra-vision-cli-'));
  llm = join(dir, 'llm.gguf'); mmproj = join(dir, 'mmproj.gguf');
  execFileSync(process.execPath, [LUTRA_BIN, 'synth', '--preset', 'tiny-minicpmv', '--type', 'F32', '-o', llm, '--mmproj', mmproj]);
  writeFileSync(join(dir, 'pic.png'), encodePng({ width: 120, height: 60, data: patternImage(120, 60).data, channels: 3, depth: 8 }));
  const huge = encodePng({ width: 4, height: 4, data: patternImage(4, 4).data, channels: 3, depth: 8 });
  new DataView(huge.buffer, huge.byteOffset).setUint32(16, 20000);
  new DataView(huge.buffer, huge.byteOffset).setUint32(20, 20000);
  writeFileSync(join(dir, 'huge.png'), huge);
  writeFileSync(join(dir, 'broken.png'), encodePng({ width: 64, height: 64, data: patternImage(64, 64).data, channels: 3, depth: 8 }).subarray(0, 70));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('lutra chat --mmproj: /image FILE goes with the next message; the chat answers and goes on', () => {
  const pic = join(dir, 'pic.png');
  const r = lutra(['chat', llm, '--mmproj', mmproj, '--ctx', '1024', '-n', '6', '--temp', '0', '--verbose'],
    [`/image ${pic}`, 'What is this?', 'And now?', '/exit'].join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`\\(${pic.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 3 slices, goes with your next message\\)`));
  assert.equal((r.stderr.match(/\[\d+ cached, /g) ?? []).length, 2, 'two replies');
  const images = [...r.stderr.matchAll(/\[images: (\d+) slices encoded, (\d+) reused/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(images, [[3, 0], [0, 3]], 'the follow-up question reuses the three slices');
  assert.match(r.stderr, /\[images: 3 slices encoded, 0 reused, \d+ ms; image 1: 3 slices, 12 embeddings, \d+ ms\]/, 'per-image encode time');
  // The follow-up decodes only its new turn: the first turn's prompt and its picture's rows stay cached.
  const cached = [...r.stderr.matchAll(/\[(\d+) cached, (\d+) new prompt tokens/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(cached[0]![0], 0);
  assert.ok(cached[1]![0] >= cached[0]![1], `second turn: ${cached[1]} (first: ${cached[0]})`);
});

test('bad pictures are one-line errors naming the file and the chat goes on; /image without --mmproj says what is missing', () => {
  const r = lutra(['chat', llm, '--mmproj', mmproj, '--ctx', '512', '-n', '4', '--temp', '0', '--verbose'],
    [`/image ${join(dir, 'broken.png')}`, `/image ${join(dir, 'huge.png')}`, `/image ${join(dir, 'missing.png')}`, 'Hello', '/exit'].join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /lutra: .*broken\.png: PNG 64x64 is truncated or corrupt/);
  assert.match(r.stderr, /lutra: .*huge\.png: image is 20000x20000/);
  assert.match(r.stderr, /lutra: .*missing\.png: /);
  assert.equal((r.stderr.match(/\[\d+ cached, /g) ?? []).length, 1, 'Hello was answered');
  const plain = lutra(['chat', llm, '--ctx', '256', '-n', '2', '--temp', '0'], `/image ${join(dir, 'pic.png')}\n/exit\n`);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /\/image needs a projector: start lutra chat with --mmproj FILE/);
});
