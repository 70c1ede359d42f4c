// The command line refuses bad input before doing any work or printing anything: out-of-range
// sampling flags, more threads than cores, files that are not UTF-8 (named, with the offset).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';
import { firstInvalidUtf8 } from '../src/cli/common.js';

const run = promisify(execFile);
async function lutra(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [LUTRA_BIN, ...args], { timeout: 60_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('sampling flags out of range are refused before the prompt is printed', async () => {
  for (const [flag, value, msg] of [['--top-p', '2', /--top-p must be in \(0, 1\]/], ['--repeat-penalty', '0', /--repeat-penalty must be positive/], ['--min-p', '1.5', /--min-p/], ['--repeat-last-n', '-2', /--repeat-last-n/]] as const) {
    const r = await lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '-n', '4', flag, value]);
    assert.equal(r.code, 1, flag);
    assert.equal(r.stdout, '', `${flag}: nothing printed before the refusal`);
    assert.match(r.stderr, msg);
  }
});

test('--threads beyond the cores is refused naming the core count', async () => {
  const cores = os.availableParallelism();
  const r = await lutra(['run', STORIES_GGUF, '-p', 'Once', '-n', '1', '-t', String(cores + 1)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`--threads ${cores + 1}: this machine has ${cores} core`));
});

test('tokenize --file and run -f refuse bytes that are not UTF-8, naming the file and offset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-utf8-'));
  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, Buffer.from([0x6f, 0x6b, 0x20, 0xe2, 0x82, 0x41, 0x20]));
  for (const args of [['tokenize', STORIES_GGUF, '--file', bad], ['run', STORIES_GGUF, '-f', bad, '-n', '1']]) {
    const r = await lutra(args);
    assert.equal(r.code, 1, args[0]);
    assert.ok(r.stderr.includes(`${bad}: not valid UTF-8 (first bad byte at offset 3)`), r.stderr);
  }
  const r = await lutra(['tokenize', STORIES_GGUF, '--file', dir]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(dir) && /directory/.test(r.stderr), r.stderr);
  // The offset finder on each kind of bad sequence.
  const cases: [number[], number][] = [[[0x41, 0x80], 1], [[0xc0, 0x80], 0], [[0x41, 0xed, 0xa0, 0x80], 1], [[0x41, 0x42, 0xf0, 0x9f, 0x98], 2], [[0xf5, 0x80, 0x80, 0x80], 0], [[0x41, 0xe2, 0x82, 0xac], 4]];
  for (const [bytes, at] of cases) assert.equal(firstInvalidUtf8(new Uint8Array(bytes)), at, bytes.join(','));
});
