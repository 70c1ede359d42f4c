// Split GGUFs (llama.cpp's gguf-split): lutra writes the shards llama-gguf-split writes, byte for
// byte (sha256 in test/golden/split/, made with llama.cpp); every way of giving a model loads a split
// set as the one model (any shard's path, a URL, all shards as bytes / Blobs in any order, `lutra run`,
// `tokenize`, `quantize` with and without a PTQ method), with the unsplit model's greedy text; missing or mismatched shards are
// errors that name the shard.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LUTRA_BIN, REPO, STORIES_GGUF } from './helpers.js';
import { concatChunks, parseGGUF } from '../src/formats/gguf.js';
import { shardSuffix, splitGGUF, type SplitOptions } from '../src/formats/gguf-split.js';
import { loadModel, type ModelInput } from '../src/runtime/model.js';

const GGUF = new Uint8Array(readFileSync(STORIES_GGUF));
const MODEL = parseGGUF(GGUF, STORIES_GGUF);
const GOLDEN = JSON.parse(readFileSync(resolve(REPO, 'test/golden/split/llama-gguf-split.json'), 'utf8')) as {
  cases: { options: string; lutra: SplitOptions; shards: { name: string; bytes: number; sha256: string }[] }[];
};
const dir = mkdtempSync(join(tmpdir(), 'lutra-split-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The model split by lutra into `dir/NAME-0000i-of-0000n.gguf`; returns the shards' bytes. */
function writeSplit(name: string, o: SplitOptions): Uint8Array[] {
  const shards = splitGGUF(MODEL.metadata, MODEL.tensors, o).map(concatChunks);
  shards.forEach((b, i) => writeFileSync(join(dir, `${name}${shardSuffix(i, shards.length)}`), b));
  return shards;
}
const three = writeSplit('st', { maxTensors: 20 });
const shardPath = (name: string, i: number, n = 3) => join(dir, `${name}${shardSuffix(i, n)}`);

async function greedy(input: ModelInput, n = 40): Promise<string> {
  const model = await loadModel(input, { backend: 'ref' });
  try {
    assert.equal(model.source.tensors.length, MODEL.tensors.length);
    return await model.complete('Once upon a time', { temperature: 0, maxTokens: n });
  } finally {
    model.dispose();
  }
}
const whole = await greedy(STORIES_GGUF);

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
}

test('splitGGUF writes the shards llama-gguf-split writes, byte for byte (tensor count, size, metadata-only first shard)', () => {
  for (const c of GOLDEN.cases) {
    const shards = splitGGUF(MODEL.metadata, MODEL.tensors, c.lutra).map(concatChunks);
    assert.deepEqual(shards.map((b, i) => ({ name: `st${shardSuffix(i, shards.length)}`, bytes: b.byteLength, sha256: sha256(b) })), c.shards, `llama-gguf-split --split ${c.options}`);
  }
  assert.throws(() => splitGGUF(MODEL.metadata, MODEL.tensors, { maxBytes: 1000 }), /a shard would hold no tensors: the size limit 1000 is too small/);
});

test('lutra split writes the same files; --split-max-size takes llama-gguf-split units', () => {
  const r = cli(['split', STORIES_GGUF, join(dir, 'cli'), '--split-max-size', '1M']);
  assert.equal(r.status, 0, r.stderr);
  const want = GOLDEN.cases.find((c) => c.options === '--split-max-size 1M')!.shards;
  assert.deepEqual(want.map((s, i) => sha256(new Uint8Array(readFileSync(shardPath('cli', i, 2))))), want.map((s) => s.sha256));
  assert.match(cli(['split', STORIES_GGUF, join(dir, 'x')]).stderr, /exactly one of --split-max-tensors and --split-max-size/);
});

test('loadModel: any shard\'s path, all shards as bytes or Blobs in any order: the unsplit model\'s greedy text', async () => {
  assert.ok(whole.length > 40, whole);
  for (let i = 0; i < 3; i++) assert.equal(await greedy(shardPath('st', i)), whole, `from shard ${i + 1}`);
  assert.equal(await greedy([three[2]!, three[0]!, three[1]!]), whole);
  assert.equal(await greedy(three.map((b, i) => new File([b as BlobPart], `st${shardSuffix(i, 3)}`)).reverse()), whole);
  assert.equal(await greedy([shardPath('st', 1), shardPath('st', 0), shardPath('st', 2)]), whole);
  const reads: [number, number][] = [];
  const m = await loadModel(shardPath('st', 2), { backend: 'ref', onProgress: (p) => { if (p.phase === 'read') reads.push([p.loaded, p.total]); } });
  assert.equal(m.file, shardPath('st', 0), 'the model is named by its first shard');
  m.dispose();
  // One progress count over all shards: never going back, ending at their sum.
  const sum = three.reduce((a, b) => a + b.length, 0);
  assert.ok(reads.every(([l], i) => i === 0 || l >= reads[i - 1]![0]), JSON.stringify(reads));
  assert.deepEqual(reads.at(-1), [sum, sum]);
  // A metadata-only first shard (--no-tensor-first-split) and a two-way size split.
  writeSplit('meta', { maxTensors: 30, noTensorFirst: true });
  assert.equal(await greedy(shardPath('meta', 1)), whole);
});

test('the CLI runs, tokenizes and quantizes a split model from any shard', () => {
  const run = (model: string) => cli(['run', model, '-p', 'Once upon a time', '-n', '24', '--temp', '0', '--backend', 'ref']);
  const a = run(STORIES_GGUF), b = run(shardPath('st', 1));
  assert.equal(b.status, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  assert.equal(cli(['tokenize', shardPath('st', 2), '--text', 'Once upon a time']).stdout, cli(['tokenize', STORIES_GGUF, '--text', 'Once upon a time']).stdout);
  const q = (input: string, out: string) => cli(['quantize', input, out, '-t', 'Q8_0', '-q']);
  const qa = q(STORIES_GGUF, join(dir, 'q-whole.gguf')), qb = q(shardPath('st', 0), join(dir, 'q-split.gguf'));
  assert.equal(qb.status, 0, qb.stderr);
  assert.equal(qa.status, 0, qa.stderr);
  assert.deepEqual(readFileSync(join(dir, 'q-split.gguf')), readFileSync(join(dir, 'q-whole.gguf')), 'a split input quantizes to the same file (split keys dropped)');
  // Through the PTQ pipeline too (a method that rewrites the f32 weights first).
  const rot = (input: string, out: string) => cli(['quantize', input, out, '-t', 'Q8_0', '--method', 'rotate', '-q']);
  const ra = rot(STORIES_GGUF, join(dir, 'r-whole.gguf')), rb = rot(shardPath('st', 2), join(dir, 'r-split.gguf'));
  assert.equal(rb.status, 0, rb.stderr);
  assert.equal(ra.status, 0, ra.stderr);
  assert.deepEqual(readFileSync(join(dir, 'r-split.gguf')), readFileSync(join(dir, 'r-whole.gguf')));
});

test('a split model over HTTP: the other shards are fetched beside the URL given (or the one it redirected to); a missing one is named', async () => {
  const files = new Map(three.map((b, i) => [`/m/st${shardSuffix(i, 3)}`, b]));
  const server = http.createServer((req, res) => {
    // A plain name that redirects to the first shard, as lutra serve's /model.gguf does for a split model.
    if (req.url === '/m/model.gguf') { res.writeHead(302, { location: `/m/st${shardSuffix(0, 3)}` }).end(); return; }
    const b = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!b) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-length': String(b.length) }).end(b);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/st`;
  try {
    assert.equal(await greedy(`${base}${shardSuffix(1, 3)}?download=true`), whole);
    assert.equal(await greedy(base.replace(/st$/, 'model.gguf')), whole);
    files.delete(`/m/st${shardSuffix(2, 3)}`);
    await assert.rejects(loadModel(`${base}${shardSuffix(0, 3)}`, { backend: 'ref' }),
      (e: Error) => e.message === `split GGUF ${base}-00001-of-00003.gguf: cannot read shard 3 of 3: GET ${base}-00003-of-00003.gguf: HTTP 404 Not Found`);
  } finally {
    server.close();
  }
});

test('missing, renamed, mismatched and doubled shards are refused naming the shard', async () => {
  const other = writeSplit('other', { maxTensors: 16 });
  copyFileSync(shardPath('st', 0), join(dir, 'gap-00001-of-00003.gguf'));
  copyFileSync(shardPath('st', 1), join(dir, 'gap-00002-of-00003.gguf'));
  await assert.rejects(loadModel(join(dir, 'gap-00002-of-00003.gguf')), (e: Error) => e.message.startsWith(`split GGUF ${join(dir, 'gap-00001-of-00003.gguf')}: cannot read shard 3 of 3: ${join(dir, 'gap-00003-of-00003.gguf')}: no such file`));
  copyFileSync(shardPath('other', 2), join(dir, 'gap-00003-of-00003.gguf'));
  // Another split of the same model: its third shard repeats tensors the second already holds.
  await assert.rejects(loadModel(join(dir, 'gap-00001-of-00003.gguf')), (e: Error) => e.message.startsWith(`${join(dir, 'gap-00003-of-00003.gguf')}: tensor `) && e.message.endsWith(` is also in ${join(dir, 'gap-00002-of-00003.gguf')}`));
  copyFileSync(shardPath('st', 1), join(dir, 'renamed.gguf'));
  await assert.rejects(loadModel(join(dir, 'renamed.gguf')), /renamed\.gguf: is shard 2 of 3 of a split model .* its name does not end in -00002-of-00003\.gguf/);
  await assert.rejects(loadModel(three[1]!), /<bytes>: is shard 2 of 3 of a split GGUF; pass all its shards together/);
  await assert.rejects(loadModel([three[0]!, three[2]!]), /split model of 3 shards: shard 2 missing; given <bytes> \(1 of 3\), <bytes> \(3 of 3\)/);
  await assert.rejects(loadModel([three[0]!, three[1]!, three[1]!]), /is shard 2, and so is/);
  await assert.rejects(loadModel([three[0]!, three[1]!, other[2]!]), /^Error: <bytes>: tensor \S+ is also in <bytes>$|^FormatError: <bytes>: tensor \S+ is also in <bytes>$/);
  await assert.rejects(loadModel([GGUF, three[1]!]), /is a whole model, not a shard of a split GGUF/);
});
