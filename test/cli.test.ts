// End-to-end tests of the lutra CLI, spawned as a user would run it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LUTRA_BIN, STORIES, STORIES_GGUF, DATA } from './helpers.js';
import { synthGGUF } from './synth.js';
import { GGUFType } from '../src/formats/gguf.js';

function lutra(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('lutra run: greedy stories260K prints llama.cpp\'s text and tokens/s on stderr', () => {
  const r = lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0', '-n', '256']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith(readFileSync(resolve(STORIES, 'expected-greedy-n200.txt'), 'utf8')), r.stdout);
  assert.match(r.stderr, /generated 256 tokens, [\d.]+ tokens\/s/);
});

test('lutra run: seeded sampling is repeatable; stop strings cut the text', () => {
  const a = lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0.9', '--seed', '42', '-n', '40']);
  const b = lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0.9', '--seed', '42', '-n', '40']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  const s = lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0', '-n', '100', '--stop', 'Lily']);
  assert.equal(s.stdout, 'Once upon a time, there was a little girl named \n');
  assert.match(s.stderr, /stop: stop/);
});

test('lutra tokenize: --text, --jsonl, --no-bos', () => {
  const t = lutra(['tokenize', STORIES_GGUF, '--text', 'Once upon a time']);
  assert.equal(t.code, 0, t.stderr);
  assert.deepEqual(JSON.parse(t.stdout), [1, 403, 407, 261, 378]);
  const dir = mkdtempSync(join(tmpdir(), 'lutra-'));
  const f = join(dir, 'in.jsonl');
  writeFileSync(f, [JSON.stringify('Once upon a time'), JSON.stringify(' Hello\nworld')].join('\n') + '\n');
  const j = lutra(['tokenize', STORIES_GGUF, '--jsonl', f, '--no-bos']);
  assert.equal(j.code, 0, j.stderr);
  const lines = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], [403, 407, 261, 378]);
  assert.equal(lines.length, 2);
});

test('lutra inspect prints metadata and the tensor table', () => {
  const r = lutra(['inspect', STORIES_GGUF]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /general\.architecture = "llama"/);
  assert.match(r.stdout, /tensor blk\.4\.ffn_down\.weight\s+F32\s+172x64/);
  assert.match(r.stdout, /architecture llama: 5 layers, embedding 64, heads 8\/4/);
});

test('lutra eval ppl --json ends with a JSON line', () => {
  const r = lutra(['eval', 'ppl', STORIES_GGUF, '--file', resolve(DATA, 'text/tinystories/tinystories_val.txt'), '--ctx', '256', '--chunks', '3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(last.tokens, 3 * 127);
  assert.ok(Math.abs(last.ppl - 3.5392) / 3.5392 < 0.005, String(last.ppl));
  assert.equal(typeof last.seconds, 'number');
});

test('bad input: one-line errors naming the thing, exit code 1, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-'));
  const cut = join(dir, 'cut.gguf');
  writeFileSync(cut, readFileSync(STORIES_GGUF).subarray(0, 5000));
  for (const [args, re] of [
    [['run', cut, '-p', 'x'], /cut\.gguf: truncated.*at byte offset \d+/],
    [['run', join(dir, 'missing.gguf'), '-p', 'x'], /missing\.gguf: no such file or directory/],
    [['run', STORIES_GGUF, '-p', 'x', '--temp', 'hot'], /--temp must be a number, got "hot"/],
    [['run', STORIES_GGUF], /run needs a prompt/],
    [['tokenize', STORIES_GGUF], /exactly one of --text, --file, --jsonl/],
    [['run', STORIES_GGUF, '-p', 'x', '--logit-bias', '9999=1'], /logit bias token id 9999 is outside the vocabulary/],
  ] as [string[], RegExp][]) {
    const r = lutra(args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('--help works on every command', () => {
  for (const args of [['--help'], ['run', '--help'], ['chat', '--help'], ['tokenize', '--help'], ['inspect', '--help'], ['eval', 'ppl', '--help']]) {
    const r = lutra(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Usage: lutra/);
  }
});

test('lutra chat: answers piped messages with the template; a model without one chats in ChatML, saying so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-'));
  const file = join(dir, 'chat.gguf');
  const chatml = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  writeFileSync(file, synthGGUF({ arch: 'llama', shape: { nEmbd: 32, nLayer: 1, nHead: 4, nHeadKv: 2, nFF: 48 }, extraMeta: [['tokenizer.chat_template', { type: GGUFType.STRING, value: chatml }]] }));
  const r = lutra(['chat', file, '--temp', '0', '-n', '8', '--verbose'], 'Hello there\nAnd again\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').filter((l) => l.length).length >= 1, true);
  // The second turn reuses the first turn's cache.
  assert.match(r.stderr, /\[(\d+) cached[\s\S]*\[([1-9]\d*) cached/);
  const none = lutra(['chat', STORIES_GGUF, '-n', '4'], 'hi\n');
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /has no chat template; using chatml/);
});
