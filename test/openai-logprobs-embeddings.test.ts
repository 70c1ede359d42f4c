// logprobs (chat: content[] with token, logprob, bytes, top_logprobs; completions: the legacy
// parallel arrays) and embeddings (engine.embeddings.create and POST /v1/embeddings), in-process and
// through the openai npm client. Log-probabilities are checked against an independent log-softmax of
// the model's logits (temperature 1, logit bias added) recomputed by a plain forward pass.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { createEngine, loadModel, GGUFType, InvalidRequestError, type Engine, type Model } from '../src/index.js';
import { STORIES_GGUF } from './helpers.js';
import { chatModelBytes, CHATML } from './openai-helpers.js';
import { startServer, type Served } from './server-helpers.js';
import { synthGGUF } from './synth.js';

/** |a - b| allowed between two computations of one log-probability (f32 logits, f64 sums). */
const LOGPROB_ATOL = 1e-4;
/** How far from 1 a unit vector's length may be (f32 components). */
const NORM_ATOL = 1e-5;

let engine: Engine;
let model: Model;

before(async () => {
  model = await loadModel(STORIES_GGUF);
  engine = await createEngine({ model: STORIES_GGUF });
});
after(async () => { await engine.dispose(); model.dispose(); });

/** log softmax(logits + bias) of each generated token, from a fresh forward pass over prompt + output. */
function referenceLogprobs(prompt: number[], output: number[], bias: Record<number, number> = {}): number[][] {
  const ctx = model.createContext();
  const rows: number[][] = [];
  const all = [...prompt, ...output];
  ctx.decode(all, {
    onLogits: (i, logits) => {
      if (i < prompt.length - 1 || i >= all.length - 1) return;
      const l = Array.from(logits, (v, id) => v + (bias[id] ?? 0));
      const max = Math.max(...l);
      const lse = max + Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0));
      rows.push(l.map((v) => v - lse));
    },
  });
  ctx.dispose();
  return rows;
}

test('completions logprobs: the model\'s distribution at temperature 1 plus logit_bias, whatever the sampling; legacy shape; streamed equal', async () => {
  const prompt = model.tokenize('Once upon a time');
  const bias = { 13: 2.5, 100: -1 };
  const r = await engine.completions.create({ prompt, max_tokens: 12, temperature: 1.5, top_k: 5, seed: 3, logprobs: 3, logit_bias: bias });
  const lp = r.choices[0]!.logprobs!;
  assert.equal(lp.tokens.length, r.usage!.completion_tokens);
  assert.equal(lp.tokens.join(''), r.choices[0]!.text);
  // The same sampling through Model.generate gives the token ids (seed + choice index 0).
  let ids: number[] = [];
  for await (const c of model.generate(prompt, { temperature: 1.5, topK: 5, seed: 3, maxTokens: 12, logitBias: bias, logprobs: 3 })) {
    if (c.done) ids = c.tokens;
    else assert.equal(c.logprob!.token, c.token);
  }
  assert.equal(ids.length, lp.tokens.length);
  assert.deepEqual(ids.map((id) => engine.tokenString(id)), lp.tokens);
  const ref = referenceLogprobs(prompt, ids, bias);
  let offset = 0;
  lp.tokens.forEach((t, i) => {
    assert.ok(Math.abs(lp.token_logprobs[i]! - ref[i]![ids[i]!]!) < LOGPROB_ATOL, `token ${i}: ${lp.token_logprobs[i]} vs ${ref[i]![ids[i]!]}`);
    const top = Object.entries(lp.top_logprobs[i]!);
    assert.ok(top.length >= 1 && top.length <= 3);
    const best = Math.max(...ref[i]!);
    assert.ok(Math.abs(Math.max(...top.map(([, v]) => v)) - best) < LOGPROB_ATOL);
    assert.equal(lp.text_offset[i], offset);
    offset += t.length;
  });
  // Greedy: the chosen token is the most likely one, and a stream gives the same numbers.
  const g = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 2 });
  const gl = g.choices[0]!.logprobs!;
  gl.tokens.forEach((t, i) => assert.equal(Object.values(gl.top_logprobs[i]!)[0], gl.token_logprobs[i]));
  const streamed = { tokens: [] as string[], token_logprobs: [] as number[], top_logprobs: [] as Record<string, number>[], text_offset: [] as number[] };
  for await (const c of await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 2, stream: true })) {
    const l = c.choices[0]?.logprobs;
    if (l) for (const k of ['tokens', 'token_logprobs', 'top_logprobs', 'text_offset'] as const) (streamed[k] as unknown[]).push(...l[k]);
  }
  assert.deepEqual(streamed, gl);
  // Without logprobs nothing is computed; with echo it is refused rather than half-answered.
  assert.equal((await engine.completions.create({ prompt: 'Once', max_tokens: 2 })).choices[0]!.logprobs, null);
  await assert.rejects(engine.completions.create({ prompt: 'Once', echo: true, logprobs: 1 }), (e: unknown) => e instanceof InvalidRequestError && e.param === 'logprobs');
  await assert.rejects(engine.completions.create({ prompt: 'Once', logprobs: 21 }), (e: unknown) => e instanceof InvalidRequestError && e.param === 'logprobs');
});

test('chat logprobs: content[] with token, logprob, bytes and top_logprobs; streamed equal; top_logprobs needs logprobs', async () => {
  await using chat = await createEngine({ model: chatModelBytes(), ctx: 256 });
  const messages = [{ role: 'user' as const, content: 'Hello there' }];
  const r = await chat.chat.completions.create({ messages, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 4 });
  const content = r.choices[0]!.logprobs!.content!;
  assert.equal(r.choices[0]!.logprobs!.refusal, null);
  assert.ok(content.length >= 1 && content.length <= 10);
  assert.equal(content.map((c) => c.token).join(''), r.choices[0]!.message.content);
  for (const c of content) {
    assert.deepEqual(Buffer.from(c.bytes!).toString('utf8'), c.token);
    assert.equal(c.top_logprobs.length, 4);
    assert.equal(c.top_logprobs[0]!.logprob, c.logprob, 'greedy picks the most likely token');
    for (let k = 1; k < 4; k++) assert.ok(c.top_logprobs[k]!.logprob <= c.top_logprobs[k - 1]!.logprob);
    assert.ok(c.logprob <= 0);
  }
  const streamed = [];
  for await (const ch of await chat.chat.completions.create({ messages, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 4, stream: true })) {
    streamed.push(...(ch.choices[0]?.logprobs?.content ?? []));
  }
  assert.deepEqual(streamed, content);
  const plain = await chat.chat.completions.create({ messages, max_tokens: 2, temperature: 0 });
  assert.equal(plain.choices[0]!.logprobs, null);
  await assert.rejects(chat.chat.completions.create({ messages, top_logprobs: 2 }), (e: unknown) => e instanceof InvalidRequestError && e.param === 'top_logprobs');
});

test('embeddings: unit vectors of the model\'s width; strings equal their token ids; base64 is the float32 bytes; dimensions checked', async () => {
  const d = model.hparams.nEmbd;
  const r = await engine.embeddings.create({ input: ['Once upon a time', 'The dog ran'] });
  assert.equal(r.object, 'list');
  assert.equal(r.model, 'stories260K');
  assert.equal(r.data.length, 2);
  const vecs = r.data.map((x) => x.embedding as number[]);
  for (const [i, v] of vecs.entries()) {
    assert.equal(r.data[i]!.index, i);
    assert.equal(v.length, d);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < NORM_ATOL);
  }
  assert.notDeepEqual(vecs[0], vecs[1]);
  assert.equal(r.usage.prompt_tokens, model.tokenize('Once upon a time').length + model.tokenize('The dog ran').length);
  const byIds = await engine.embeddings.create({ input: model.tokenize('Once upon a time') });
  assert.deepEqual(byIds.data[0]!.embedding, vecs[0]);
  const b64 = await engine.embeddings.create({ input: 'Once upon a time', encoding_format: 'base64' });
  const buf = Buffer.from(b64.data[0]!.embedding as string, 'base64');
  assert.deepEqual(Array.from(new Float32Array(buf.buffer, buf.byteOffset, d)), vecs[0]);
  // Model.embed is the same vector (mean pooling: stories260K says none).
  assert.equal(model.pooling, 'mean');
  assert.deepEqual(Array.from(await model.embed('Once upon a time')), vecs[0]);
  await assert.rejects(engine.embeddings.create({ input: 'x', dimensions: d + 1 }), (e: unknown) => e instanceof InvalidRequestError && e.param === 'dimensions');
  assert.equal((await engine.embeddings.create({ input: 'x', dimensions: d })).data[0]!.embedding.length, d);
  await assert.rejects(engine.embeddings.create({ input: [] } as never), (e: unknown) => e instanceof InvalidRequestError && e.param === 'input');
  // A slot used for embeddings still continues a generation exactly.
  const after = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  const fresh = await model.complete('Once upon a time', { temperature: 0, maxTokens: 8 });
  assert.equal(after.choices[0]!.text, fresh);
});

test('embeddings pool as {arch}.pooling_type says: last and cls differ from mean; one token is the same under each', async () => {
  const shape = { nEmbd: 32, nLayer: 1, nHead: 4, nHeadKv: 2, nFF: 48 };
  const last = await loadModel(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.pooling_type', { type: GGUFType.UINT32, value: 3 }]] }));
  assert.equal(last.pooling, 'last');
  const ids = last.tokenize('Once upon a time');
  const v = await last.embed(ids);
  assert.deepEqual(v, await last.embed(ids, { pooling: 'last' }));
  assert.notDeepEqual(v, await last.embed(ids, { pooling: 'mean' }));
  assert.notDeepEqual(v, await last.embed(ids, { pooling: 'cls' }));
  // Causal attention: the last state of a prefix does not see what follows it.
  const prefix = ids.slice(0, 3);
  const one = await last.embed(prefix, { pooling: 'last' });
  const ctx = last.createContext();
  let h: Float32Array | undefined;
  ctx.decode(ids, { onHidden: (i, row) => { if (i === 2) h = row.slice(); } });
  const n = Math.hypot(...h!);
  one.forEach((x, j) => assert.ok(Math.abs(x - h![j]! / n) < NORM_ATOL));
  ctx.dispose();
  const single = [ids[0]!];
  assert.deepEqual(await last.embed(single, { pooling: 'mean' }), await last.embed(single, { pooling: 'cls' }));
  last.dispose();
  const rank = await loadModel(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.pooling_type', { type: GGUFType.UINT32, value: 4 }]] }));
  assert.throws(() => rank.pooling, /pooling_type = 4/);
  rank.dispose();
});

test('over HTTP with the openai client: embeddings (its default base64 transfer), logprobs shapes, streamed logprobs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-lp-'));
  const chatFile = join(dir, 'tiny-chat.gguf');
  writeFileSync(chatFile, chatModelBytes());
  assert.ok(CHATML.length > 0);
  let served: Served | undefined;
  try {
    served = await startServer(chatFile, ['--ctx', '256']);
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${served.url}/v1` });
    const e = await client.embeddings.create({ model: 'tiny-chat', input: ['hello', 'world'] });
    assert.equal(e.data.length, 2);
    for (const x of e.data) {
      assert.equal(x.embedding.length, 32);
      assert.ok(Math.abs(Math.hypot(...x.embedding) - 1) < NORM_ATOL);
    }
    const f = await client.embeddings.create({ model: 'tiny-chat', input: 'hello', encoding_format: 'float' });
    assert.deepEqual(f.data[0]!.embedding, e.data[0]!.embedding);
    await assert.rejects(client.embeddings.create({ model: 'tiny-chat', input: 'hello', dimensions: 8 }), (err: unknown) => err instanceof OpenAI.BadRequestError && /dimensions/.test(err.message));

    const messages = [{ role: 'user' as const, content: 'Hello there' }];
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0]!.logprobs!.content!;
    assert.ok(content.length > 0);
    assert.deepEqual(Object.keys(content[0]!).sort(), ['bytes', 'logprob', 'token', 'top_logprobs']);
    assert.equal(content[0]!.top_logprobs.length, 2);
    const streamed = [];
    for await (const c of await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2, stream: true })) {
      streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
    }
    assert.deepEqual(streamed, content);

    const c = await client.completions.create({ model: 'tiny-chat', prompt: 'Hello', max_tokens: 5, temperature: 0, logprobs: 2 });
    const l = c.choices[0]!.logprobs!;
    assert.equal(l.tokens!.length, l.token_logprobs!.length);
    assert.equal(l.top_logprobs!.length, l.tokens!.length);
    assert.equal(l.text_offset![0], 0);
  } finally {
    await served?.stop('SIGKILL');
  }
});
