// `lutra quantize` end to end: the command, its overrides and summary, and that what it writes runs
// in lutra: stories260K Q8_0 keeps llama.cpp's greedy text, and a 256-wide synthetic model in every
// K-quant and ternary type (the Q8_K dot path) gives the logits of its weights dequantized to F32.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LUTRA_BIN, STORIES, STORIES_GGUF } from './helpers.js';
import { synthGGUF } from './synth.js';
import { loadModel, type Model } from '../src/runtime/model.js';
import { quantizeFile } from '../src/ptq/quantize-model.js';
import { parseGGUF, writeGGUF, concatChunks } from '../src/formats/gguf.js';
import { ggmlTypeName, quantFormat } from '../src/quant/table.js';

const dir = mkdtempSync(join(tmpdir(), 'lutra-quant-cli-'));

function lutra(args: string[]) {
  const r = spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('lutra quantize: --keep overrides, JSON summary, and the file runs with llama.cpp\'s greedy text', () => {
  const out = join(dir, 'stories-q8.gguf');
  const r = lutra(['quantize', STORIES_GGUF, out, '--type', 'Q8_0', '--keep', 'output|token_embd=q4_0', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const byName = new Map<string, { to: string; reason: string; relRmse: number }>(s.tensors.map((t: { name: string }) => [t.name, t]));
  assert.equal(byName.get('output.weight')!.to, 'Q4_0');
  assert.equal(byName.get('token_embd.weight')!.reason, 'override');
  assert.equal(byName.get('blk.0.attn_q.weight')!.to, 'Q8_0');
  assert.equal(byName.get('blk.0.ffn_down.weight')!.to, 'F16', '172-wide rows cannot hold Q8_0 blocks');
  assert.equal(byName.get('blk.0.attn_norm.weight')!.reason, 'copy');
  assert.ok(byName.get('blk.0.attn_q.weight')!.relRmse < 0.01);
  assert.ok(s.bitsPerWeight > 4 && s.bitsPerWeight < 12, String(s.bitsPerWeight));
  const g = parseGGUF(new Uint8Array(readFileSync(out)), out);
  assert.equal(Number(g.metadata.get('general.file_type')!.value), 7);
  const run = lutra(['run', out, '-p', 'Once upon a time', '--temp', '0', '-n', '40']);
  assert.equal(run.code, 0, run.stderr);
  const want = readFileSync(resolve(STORIES, 'expected-greedy-n200.txt'), 'utf8').slice(0, 60);
  assert.ok(run.stdout.startsWith(want), run.stdout);
});

test('lutra quantize: the text summary names each tensor\'s type and the bits per weight', () => {
  const r = lutra(['quantize', STORIES_GGUF, join(dir, 'stories-q4km.gguf'), '-t', 'Q4_K_M']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /blk\.0\.attn_q\.weight\s+64x64\s+F32->Q5_0 .* mixture \+ fallback/);
  assert.match(r.stdout, /Q4_K_M: [\d.]+ MiB -> [\d.]+ MiB, [\d.]+ bits per weight/);
});

test('lutra quantize: bad arguments are named', () => {
  assert.match(lutra(['quantize', STORIES_GGUF, join(dir, 'x.gguf'), '-t', 'Q9_9']).stderr, /unknown file type "Q9_9"/);
  assert.match(lutra(['quantize', STORIES_GGUF, join(dir, 'x.gguf'), '-t', 'IQ2_XXS']).stderr, /needs an importance matrix/);
  assert.match(lutra(['quantize', STORIES_GGUF, join(dir, 'x.gguf'), '-t', 'Q8_0', '--keep', 'output']).stderr, /--keep expects REGEX=TYPE/);
  assert.match(lutra(['quantize', STORIES_GGUF, join(dir, 'x.gguf'), '-t', 'Q8_0', '--keep', 'out=Q7']).stderr, /unknown tensor type "Q7"/);
});

const prompt = [1, 17, 300, 42, 99, 7, 250, 3, 400, 12];

function logitsOf(m: Model): Float32Array {
  const ctx = m.createContext({ ctx: 64, batch: 64, kvType: 'f32' });
  return ctx.decode(prompt, { logits: 'last' })!.slice();
}

/** F32 copy of a GGUF with every tensor dequantized: the same weights, without the quantized kernels. */
function dequantizedCopy(file: string, out: string): void {
  const g = parseGGUF(new Uint8Array(readFileSync(file)), file);
  const tensors = g.tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const y = new Float32Array(n);
    quantFormat(t.type, t.name).dequantize(t.data, 0, y, 0, n);
    return { name: t.name, shape: t.shape, type: 0, data: new Uint8Array(y.buffer) };
  });
  writeFileSync(out, concatChunks(writeGGUF(g.metadata, tensors)));
}

function relRms(got: Float32Array, ref: Float32Array): number {
  let se = 0, sr = 0;
  for (let i = 0; i < ref.length; i++) { se += (got[i]! - ref[i]!) ** 2; sr += ref[i]! ** 2; }
  return Math.sqrt(se / sr);
}

/**
 * A model's logits with quantized weights against the same weights dequantized to F32: only the
 * 8-bit activations (Q8_K blocks for these types, Q8_0 for Q8_0) separate them. The random model
 * amplifies that noise (measured 0.015 for Q8_0 up to 0.075 for Q2_K); a misread block or a wrong
 * activation kind gives ~1.
 */
const ACT_RTOL = 0.12;

test('K-quants and ternary types run in lutra: logits match the dequantized weights run in F32', async () => {
  const f32 = join(dir, 'synth-f32.gguf');
  writeFileSync(f32, synthGGUF({ arch: 'llama', shape: { nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 512 }, seed: 3 }));
  for (const type of ['Q8_0', 'Q6_K', 'Q5_K', 'Q4_K', 'Q3_K', 'Q2_K', 'TQ2_0', 'TQ1_0']) {
    const out = join(dir, `synth-${type}.gguf`), deq = join(dir, `synth-${type}-deq.gguf`);
    await quantizeFile(f32, out, { type, pure: true });
    const g = parseGGUF(new Uint8Array(readFileSync(out)), out);
    assert.equal(ggmlTypeName(g.tensors.find((t) => t.name === 'blk.0.ffn_up.weight')!.type), type);
    dequantizedCopy(out, deq);
    const rel = relRms(logitsOf(await loadModel(out)), logitsOf(await loadModel(deq)));
    assert.ok(rel <= ACT_RTOL, `${type}: logits differ from its dequantized F32 twin by ${rel.toFixed(4)} (relative RMS), above ${ACT_RTOL}`);
  }
});
