// `lutra quantize --method gptq` is never silent: calibration reports each window and GPTQ each
// tensor on stderr (one line each without a terminal), and --quiet silences both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA, LUTRA_BIN, STORIES_GGUF } from './helpers.js';

const TEXT = join(DATA, 'text/tinystories/tinystories_val.txt');

test('quantize --method gptq: a line per calibration window and per tensor on stderr; --quiet prints none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-qp-'));
  try {
    const run = (extra: string[]) => spawnSync(process.execPath, [LUTRA_BIN, 'quantize', STORIES_GGUF, join(dir, 'q.gguf'), '--type', 'int4-g32', '--method', 'gptq', '--calib', TEXT, '--calib-tokens', '1024', ...extra], { encoding: 'utf8' });
    const r = run([]);
    assert.equal(r.status, 0, r.stderr);
    const windows = [...r.stderr.matchAll(/^lutra: calibrating \(gptq\): window (\d+)\/(\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.ok(windows.length >= 2, r.stderr);
    assert.deepEqual(windows.map((w) => w[0]), windows.map((_, i) => i + 1));
    assert.ok(windows.every((w) => w[1] === windows.length));
    const tensors = [...r.stderr.matchAll(/^lutra: quantizing (\S+) \((\d+)\/(\d+)\)$/gm)];
    assert.ok(tensors.some((m) => m[1] === 'blk.0.attn_q.weight'), r.stderr);
    assert.equal(Number(tensors.at(-1)![2]), Number(tensors.at(-1)![3]));
    // The calibration lines come before the tensors'.
    assert.ok(r.stderr.indexOf('calibrating') < r.stderr.indexOf('quantizing '));
    const quiet = run(['--quiet']);
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /calibrating|quantizing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
