// `lutra bench --draft/--lookup/--draft-layers` and `lutra spec-bench`: speculative decoding against
// plain decoding, spawned as a user runs it. Speed varies; what must hold is the bookkeeping (a draft
// equal to the target keeps every drafted token, acceptance is kept / drafted, greedy output is plain
// decoding's) and clear refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';

function lutra(args: string[]) {
  const r = spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface SpecResult { drafter: string; tokens: number; steps: number; drafted: number; accepted: number; acceptance: number; meanAcceptedPerStep: number; speedup: number; expectedSpeedup: number; greedyIdentical: boolean }

function run(args: string[]): SpecResult {
  const r = lutra(args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as SpecResult;
}

test('lutra bench --draft: a draft equal to the target keeps every drafted token; the fields add up', () => {
  const r = run(['bench', STORIES_GGUF, '--draft', STORIES_GGUF, '--draft-n', '4', '-n', '40', '-r', '1', '-t', '1', '--json']);
  assert.equal(r.tokens, 40);
  assert.ok(r.drafted > 0);
  assert.equal(r.accepted, r.drafted);
  assert.equal(r.acceptance, 1);
  assert.ok(Math.abs(r.meanAcceptedPerStep - r.accepted / r.steps) < 1e-12);
  assert.equal(r.greedyIdentical, true);
  assert.ok(r.speedup > 0 && Number.isFinite(r.expectedSpeedup) && r.expectedSpeedup > 0);
});

test('lutra bench --lookup and --draft-layers: greedy output equals plain decoding; the table form prints acceptance and speedup', () => {
  const l = run(['bench', STORIES_GGUF, '--lookup', '-n', '60', '-r', '1', '-t', '1', '--json', '--spec-prompt', 'Once upon a time, there was a little girl named Lily. Lily']);
  assert.equal(l.drafter, 'lookup');
  assert.equal(l.greedyIdentical, true);
  assert.ok(l.accepted <= l.drafted);
  const s = lutra(['bench', STORIES_GGUF, '--draft-layers', '2', '-n', '30', '-r', '1', '-t', '1']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /drafted \d+, accepted \d+ \([\d.]+%\), [\d.]+ accepted per step/);
  assert.match(s.stdout, /speedup [\d.]+x \(expected from costs [\d.]+x/);
  assert.match(s.stdout, /greedy output identical/);
});

test('lutra bench: draft options without a drafter, two drafters, and lists with a drafter are refused by name', () => {
  const a = lutra(['bench', STORIES_GGUF, '--draft-n', '3']);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /--draft-n.*need a drafter/);
  const b = lutra(['bench', STORIES_GGUF, '--lookup', '--draft-layers', '2']);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /choose one drafter/);
  const c = lutra(['bench', STORIES_GGUF, '--lookup', '-t', '1,2']);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /one --threads/);
});
