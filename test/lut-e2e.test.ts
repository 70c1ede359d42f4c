// Table-lookup kernels end to end, through the CLI: a 2-bit model (stories260K with GPTQ INT2 FFN
// and INT4 attention) gives the dequantize path's greedy text for 32 tokens and its perplexity
// within 0.5%, with int8 and with exact tables; `--kernels` reports where tensors went.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LUTRA_BIN, STORIES_GGUF, DATA } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lutra-lut-e2e-'));
const TEXT = join(DATA, 'text/tinystories/tinystories_val.txt');

function lutra(args: string[]) {
  const r = spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const model = join(dir, 'stories-2bit.gguf');
const q = lutra(['quantize', STORIES_GGUF, model, '--type', 'int2-asym', '--keep', 'attn|output=int4-asym', '--method', 'gptq', '--calib', TEXT]);

function ppl(kernels: string[]): number {
  const r = lutra(['eval', 'ppl', model, '--file', TEXT, '--ctx', '128', '--chunks', '60', '--json', ...kernels]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!).ppl;
}

test('a 2-bit model on the LUT kernels: same greedy text and perplexity within 0.5% of the dequantize path', () => {
  assert.equal(q.code, 0, q.stderr);
  const gen = (kernels: string[]) => {
    const r = lutra(['run', model, '-p', 'Once upon a time', '--temp', '0', '-n', '32', '-v', ...kernels]);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  const deq = gen(['--kernels', 'dequant']);
  assert.match(deq.stderr, /matmul: dequantize kernels/);
  const base = ppl(['--kernels', 'dequant']);
  for (const tables of ['int8', 'exact']) {
    const lut = gen(['--kernels', 'lut', '--lut-tables', tables]);
    assert.match(lut.stderr, new RegExp(`table lookup for 21 INT4_ASYM_G32_F16, 10 INT2_ASYM_G32_F16 \\(${tables} tables\\)`));
    assert.equal(lut.stdout, deq.stdout, `${tables} tables: greedy text differs`);
    const p = ppl(['--kernels', 'lut', '--lut-tables', tables]);
    assert.ok(Math.abs(p / base - 1) < 0.005, `${tables} tables: ppl ${p} vs ${base}`);
  }
});

test('--kernels and --lut-tables name a bad value', () => {
  const r = lutra(['run', model, '-p', 'x', '--kernels', 'fast']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--kernels .*fast.*(auto|lut|dequant)/s);
  const b = lutra(['bench', model, '--kernels', 'lut,nope', '-p', '8', '-n', '4']);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /--kernels: unknown kernels "nope"/);
});
