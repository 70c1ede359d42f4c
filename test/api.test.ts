// The TypeScript API: streaming chunks, stop strings, AbortSignal, prefix reuse, chat templates,
// bytes and progress, dispose; and peak memory of a load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, AbortError, GGUFType, parseGGUF, writeGGUF } from '../src/index.js';
import { concatChunks } from '../src/formats/gguf.js';
import { STORIES_GGUF } from './helpers.js';
import { synthGGUF } from './synth.js';

test('loadModel from bytes reports progress phases; generate streams chunks and ends with timings', async () => {
  const phases: string[] = [];
  const model = await loadModel(STORIES_GGUF, { onProgress: (p) => phases.push(p.phase) });
  assert.ok(phases.includes('read') && phases.at(-1) === 'ready');
  const fromBytes = await loadModel(new Uint8Array(readFileSync(STORIES_GGUF)));
  assert.equal(fromBytes.hparams.nVocab, 512);
  const chunks = [];
  for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 10 })) chunks.push(c);
  assert.equal(chunks.length, 11);
  const last = chunks.at(-1)!;
  assert.ok(last.done);
  if (last.done) {
    assert.equal(last.stopReason, 'length');
    assert.equal(last.timings.promptTokens, 5);
    assert.equal(last.tokens.length, 10);
    assert.ok(last.timings.tokensPerSecond > 0);
  }
  for (const c of chunks.slice(0, -1)) assert.ok(!c.done && Number.isInteger(c.token));
});

test('AbortSignal stops generation and loading', async () => {
  const model = await loadModel(STORIES_GGUF);
  const ac = new AbortController();
  let n = 0;
  await assert.rejects(async () => {
    for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 200, signal: ac.signal })) {
      if (!c.done && ++n === 3) ac.abort();
    }
  }, AbortError);
  assert.equal(n, 3);
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(loadModel(STORIES_GGUF, { signal: pre.signal }), AbortError);
});

test('a kept context reuses the common prefix of the next prompt', async () => {
  const model = await loadModel(STORIES_GGUF);
  const ctx = model.createContext({ ctx: 256 });
  let first = '';
  for await (const c of model.generate('Once upon a time, there was a dog.', { temperature: 0, maxTokens: 8, context: ctx })) first += c.text;
  let cached = -1, second = '';
  for await (const c of model.generate('Once upon a time, there was a dog. The dog', { temperature: 0, maxTokens: 8, context: ctx })) {
    second += c.text;
    if (c.done) cached = c.timings.cachedTokens;
  }
  const promptLen = model.tokenize('Once upon a time, there was a dog.').length;
  assert.ok(cached >= promptLen - 1, `cached ${cached} of ${promptLen}`);
  // The same continuation as a fresh context gives.
  const fresh = await model.complete('Once upon a time, there was a dog. The dog', { temperature: 0, maxTokens: 8 });
  assert.equal(second, fresh);
  assert.ok(first.length > 0);
});

test('chat templates render with @huggingface/jinja; a model without one falls back to ChatML, a chosen one wins', async () => {
  const model = await loadModel(STORIES_GGUF);
  assert.equal(model.chatTemplate.source, 'fallback');
  assert.equal(model.applyChatTemplate([{ role: 'user', content: 'hi' }]), '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  const chosen = await loadModel(STORIES_GGUF, { chatTemplate: 'llama-3' });
  assert.equal(chosen.chatTemplate.source, 'builtin');
  assert.match(chosen.applyChatTemplate([{ role: 'user', content: 'hi' }]), /<\|start_header_id\|>user<\|end_header_id\|>\n\nhi<\|eot_id\|>/);
  await assert.rejects(loadModel(STORIES_GGUF, { chatTemplate: 'no-such-template' }), /unknown chat template "no-such-template"/);
  model.dispose(); chosen.dispose();
  const chatml = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const bytes = synthGGUF({ arch: 'llama', shape: { nEmbd: 32, nLayer: 1, nHead: 4, nHeadKv: 2, nFF: 48 }, extraMeta: [['tokenizer.chat_template', { type: GGUFType.STRING, value: chatml }]] });
  const m2 = await loadModel(bytes);
  assert.equal(m2.applyChatTemplate([{ role: 'user', content: 'hi' }]), '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
});

test('dispose makes further use a clear error', async () => {
  const model = await loadModel(STORIES_GGUF);
  model.dispose();
  assert.throws(() => model.createContext(), /has been disposed/);
});

test('peak memory of a load stays under file size + 10% (weights are views, not copies)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-mem-'));
  const file = join(dir, 'big.gguf');
  const bytes = synthGGUF({ arch: 'llama', shape: { nEmbd: 512, nLayer: 4, nHead: 8, nHeadKv: 4, nFF: 1536 } });
  writeFileSync(file, bytes);
  const size = bytes.byteLength;
  global.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const model = await loadModel(file, { onProgress: () => { peak = Math.max(peak, process.memoryUsage().arrayBuffers - before); } });
  peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
  assert.ok(size > 30e6);
  assert.ok(peak < size * 1.1, `peak ${peak} bytes for a ${size}-byte file`);
  model.dispose();
  // The writer round trip of what we loaded stays byte-identical.
  const g = parseGGUF(new Uint8Array(readFileSync(file)), file);
  assert.ok(Buffer.from(concatChunks(writeGGUF(g.metadata, g.tensors))).equals(Buffer.from(bytes)));
});

test('concurrent generate() calls on one Model are queued first in, first out: equal to the same calls in sequence', async () => {
  const prompts = ['Once upon a time', 'The little dog'];
  const opts = (i: number) => ({ temperature: 0.8, seed: 7 + i, maxTokens: 24 });
  const seqModel = await loadModel(STORIES_GGUF);
  const sequential: string[] = [];
  for (let i = 0; i < prompts.length; i++) sequential.push(await seqModel.complete(prompts[i]!, opts(i)));
  seqModel.dispose();

  const model = await loadModel(STORIES_GGUF);
  const events: string[] = [];
  const run = async (i: number) => {
    let s = '';
    for await (const c of model.generate(prompts[i]!, opts(i))) {
      s += c.text;
      events.push(`${i}${c.done ? '.' : ''}`);
      await new Promise((r) => setImmediate(r)); // give the other caller every chance to interleave
    }
    return s;
  };
  const concurrent = await Promise.all([run(0), run(1)]);
  assert.deepEqual(concurrent, sequential);
  // Never interleaved: every event of call 0 (through its done chunk) comes before any of call 1.
  const firstOf1 = events.indexOf('1');
  assert.equal(events.lastIndexOf('0.'), firstOf1 - 1, events.join(' '));
  // A consumer that stops early releases the queue; a call never read holds nobody up.
  model.generate('never read');
  for await (const _ of model.generate('Once', { maxTokens: 50 })) break;
  assert.ok((await model.complete('Once', { temperature: 0, maxTokens: 4 })).length > 0);
  model.dispose();
});

test('a model URL that fails names the request and its cause, not just "fetch failed"', async () => {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => res.writeHead(404, 'Not Found').end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/m.gguf`;
  await assert.rejects(loadModel(url), (e: Error) => e.message === `GET ${url}: HTTP 404 Not Found`);
  await new Promise((r) => server.close(r));
  await assert.rejects(loadModel(url), (e: Error) => e.message.startsWith(`GET ${url}: ECONNREFUSED`));
  await assert.rejects(loadModel('http://no-such-host.invalid/m.gguf'), (e: Error) => /^GET http:\/\/no-such-host\.invalid\/m\.gguf: (ENOTFOUND|EAI_AGAIN)/.test(e.message));
});
